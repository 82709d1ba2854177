/*  dlb-web: a dashboard for a dlb cluster in the browser, and its
    Prometheus metrics. A client of the nodes' control sockets, like
    dlbctl (common/dlb_client); the server is dlb_web.c.
    Exit status: 0 stopped by a signal; 1 cannot serve (address taken,
    keys unusable); 2 bad usage.                                          */
#include "dlb_config.h"
#include "dlb_web.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#define EXIT_USAGE 2

static volatile int s_stop;

static void s_on_signal (int signal)
{
    (void) signal;
    s_stop = 1;
}

static void s_usage (FILE *out)
{
    fprintf (
        out,
        "Usage: dlb-web [--node ENDPOINT|FILE]... [--key FILE] [--node-key FILE]\n"
        "               [--listen ADDR:PORT] [--token-file FILE] [--timeout SECS]\n"
        "Serves a live dashboard of a dlb cluster (one page, Server-Sent Events),\n"
        "its commands (throttle, policy, submit, cancel) and Prometheus metrics at\n"
        "/metrics, talking to the nodes only through their control sockets.\n\n"
        "  --node ENDPOINT  a node's control endpoint (tcp://HOST:PORT or HOST:PORT) or\n"
        "                   node file (what dlb-cluster up prints); the first is the\n"
        "                   node the dashboard is attached to (submit goes there);\n"
        "                   give one per node to steer every node (environment\n"
        "                   DLB_CONTROL, default %s)\n"
        "  --node-key FILE  the node's public cert, for a node given by endpoint\n"
        "                   (environment DLB_NODE_KEY)\n"
        "  --key FILE       your key pair's cert (environment DLB_KEY, default\n"
        "                   ~/.config/dlb/client.cert); a node file may name one\n"
        "  --listen A:P     where to serve (default %s; port 0 picks a free\n"
        "                   one; the address is printed). An address that is not\n"
        "                   loopback needs a login token (environment DLB_WEB_LISTEN)\n"
        "  --token-file F   the login token, first line of F; without it one is made\n"
        "                   and printed when the address is not loopback\n"
        "                   (environment DLB_WEB_TOKEN_FILE)\n"
        "  --timeout SECS   how long to wait for each node's answer (default %g)\n"
        "  --version        the version\n"
        "  --help           this text\n"
        "Exit: 0 stopped by SIGINT or SIGTERM, 1 cannot serve, 2 bad usage.\n",
        DLB_CLIENT_DEFAULT_ENDPOINT, DLB_WEB_DEFAULT_LISTEN, DLB_WEB_TIMEOUT);
}

static int s_usage_error (const char *format, const char *arg)
{
    fprintf (stderr, "dlb-web: ");
    fprintf (stderr, format, arg);
    fprintf (stderr, "\n\n");
    s_usage (stderr);
    return EXIT_USAGE;
}

//  Reads the token: the first line of file, at least 16 printable
//  characters. Returns 0, or -1 with the reason printed.
static int s_read_token (const char *file, char *token, size_t size)
{
    FILE *in = fopen (file, "r");
    if (!in) {
        fprintf (stderr, "dlb-web: --token-file '%s': %s\n", file, strerror (errno));
        return -1;
    }
    if (!fgets (token, (int) size, in))
        token[0] = 0;
    fclose (in);
    token[strcspn (token, "\r\n")] = 0;
    for (const char *c = token; *c; c++)
        if (*c <= ' ' || *c > '~' || *c == ';' || *c == ',') {
            fprintf (stderr,
                     "dlb-web: --token-file '%s': the token may hold only printable "
                     "characters other than space, ';' and ','\n",
                     file);
            return -1;
        }
    if (strlen (token) < 16) {
        fprintf (stderr,
                 "dlb-web: --token-file '%s': the token needs 16 characters or more\n",
                 file);
        return -1;
    }
    return 0;
}

int main (int argc, char *argv[])
{
    static dlb_client_t nodes[DLB_WEB_SOURCES_MAX];
    size_t node_count = 0;
    const char *listen = getenv ("DLB_WEB_LISTEN"),
               *token_file = getenv ("DLB_WEB_TOKEN_FILE");
    const char *key = getenv ("DLB_KEY"), *node_key = getenv ("DLB_NODE_KEY");
    const char *timeout_text = NULL;
    if (!listen || !*listen)
        listen = DLB_WEB_DEFAULT_LISTEN;
    if (token_file && !*token_file)
        token_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (streq (arg, "--help") || streq (arg, "-h")) {
            s_usage (stdout);
            return EXIT_SUCCESS;
        }
        if (streq (arg, "--version")) {
            printf ("dlb-web %s\n", DLB_WEB_VERSION);
            return EXIT_SUCCESS;
        }
        const char *names[] = {"--node",       "--key",     "--node-key", "--listen",
                               "--token-file", "--timeout", NULL};
        const char **fields[] = {NULL,    &key,        &node_key,
                                 &listen, &token_file, &timeout_text};
        int which = -1;
        size_t name_len = strcspn (arg, "=");
        for (int n = 0; names[n] && which < 0; n++)
            if (strlen (names[n]) == name_len && strncmp (arg, names[n], name_len) == 0)
                which = n;
        if (which < 0)
            return s_usage_error ("unknown option '%s'", arg);
        const char *value = arg[name_len] == '=' ? arg + name_len + 1
                            : i + 1 < argc       ? argv[++i]
                                                 : NULL;
        if (!value || !*value)
            return s_usage_error ("option '%s' needs a value", names[which]);
        if (which == 0) {
            if (node_count == DLB_WEB_SOURCES_MAX)
                return s_usage_error ("at most 32 --node options (%s)", value);
            nodes[node_count++] =
                (dlb_client_t){.endpoint_text = value, .endpoint_source = "--node"};
        }
        else
            *fields[which] = value;
    }
    if (node_count == 0) {
        const char *env = getenv ("DLB_CONTROL");
        bool given = env && *env;
        nodes[node_count++] =
            (dlb_client_t){.endpoint_text = given ? env : DLB_CLIENT_DEFAULT_ENDPOINT,
                           .endpoint_source = given ? "DLB_CONTROL" : "default endpoint"};
    }
    double timeout = DLB_WEB_TIMEOUT;
    if (timeout_text &&
        (dlb_config_number (timeout_text, 0, 3600, &timeout) || timeout <= 0))
        return s_usage_error ("--timeout '%s': seconds, > 0 and <= 3600", timeout_text);
    for (size_t n = 0; n < node_count; n++) {
        nodes[n].key_text = key && *key ? key : NULL;
        nodes[n].node_key_text = node_key && *node_key ? node_key : NULL;
        nodes[n].timeout = timeout;
        char err[DLB_CLIENT_ERROR_MAX];
        int rc = dlb_client_ready (&nodes[n], err, sizeof err);
        if (rc == -1)
            return s_usage_error ("%s", err);
        if (rc) {
            fprintf (stderr, "dlb-web: %s\n", err);
            return EXIT_FAILURE;
        }
    }

    //  A token: given, or made when the address is not loopback.
    char token[DLB_WEB_TOKEN_MAX] = "";
    if (token_file && s_read_token (token_file, token, sizeof token))
        return EXIT_FAILURE;
    char host[DLB_TEXT_MAX];
    snprintf (host, sizeof host, "%s", listen);
    char *colon = strrchr (host, ':');
    if (colon)
        *colon = 0;
    if (host[0] == '[') {
        memmove (host, host + 1, strlen (host));
        host[strcspn (host, "]")] = 0;
    }
    if (!*token && !dlb_web_is_loopback (host)) {
        unsigned char bytes[DLB_WEB_TOKEN_BYTES];
        if (getrandom (bytes, sizeof bytes, 0) != (ssize_t) sizeof bytes) {
            fprintf (stderr, "dlb-web: cannot make a token: %s\n", strerror (errno));
            return EXIT_FAILURE;
        }
        for (size_t i = 0; i < sizeof bytes; i++)
            snprintf (token + 2 * i, 3, "%02x", bytes[i]);
    }

    //  Signals end the poll loop; libmicrohttpd's threads ignore SIGPIPE.
    zsys_handler_set (NULL);
    signal (SIGPIPE, SIG_IGN);
    struct sigaction action = {.sa_handler = s_on_signal};
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);

    dlb_web_options_t options = {.nodes = nodes,
                                 .node_count = node_count,
                                 .listen = listen,
                                 .token = *token ? token : NULL,
                                 .timeout = timeout};
    char err[DLB_TEXT_MAX * 2];
    dlb_web_t *web = dlb_web_new (&options, err, sizeof err);
    if (!web) {
        fprintf (stderr, "dlb-web: %s\n", err);
        return colon ? EXIT_FAILURE : EXIT_USAGE;
    }
    dlb_web_run (web, &s_stop);
    dlb_web_destroy (&web);
    return EXIT_SUCCESS;
}
