/*  dlbctl: the command-line client of a dlb node's control socket.

    Every command is one request and one answer: a fresh REQ socket
    connects to the node's control endpoint (the ROUTER that dlb-monitor
    binds at BASE+0), sends a COMMAND {cmd, ...} and waits at most --timeout
    for the REPLY {ok, error?, ...}; the socket is then closed with linger 0,
    so that a node that never answers leaves nothing behind. `wait` repeats
    `status` every DLBCTL_POLL_PERIOD until the workload ends.

    Exit status: 0 done; 1 the node did not answer, refused the request, or
    the workload failed or did not verify; 2 bad usage (message and usage on
    stderr). --help anywhere prints the usage on stdout and exits 0. The
    client itself (node files, keys, requests, JSON) is common/dlb_client. */
#include "dlb_client.h"
#include "dlb_command.h"
#include "dlb_config.h"
#include "dlb_event.h"
#include "dlb_eventring.h"
#include "dlb_kernel.h"
#include "dlb_keys.h"
#include "dlb_policy.h"
#include "dlb_proto.h"
#include "dlb_service.h"
#include "dlb_status.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DLBCTL_DEFAULT_ENDPOINT DLB_CLIENT_DEFAULT_ENDPOINT
#define DLBCTL_DEFAULT_TIMEOUT                                                           \
    15.0                          //  secs to wait for each answer (the
                                  //  monitor gives relayed commands 10)
#define DLBCTL_MAX_TIMEOUT  86400 //  secs, upper bound of --timeout
#define DLBCTL_POLL_PERIOD  500   //  msecs between status polls in wait
#define DLBCTL_PLAIN_PERIOD 10000 //  msecs between progress lines off a terminal
#define DLBCTL_UNKNOWN_GRACE                                                             \
    10000                         //  msecs a workload may be missing from status
                                  //  (new, or the node's services restarting)
#define DLBCTL_RIDE_OVER   120000 //  msecs wait retries a node that does not answer
#define DLBCTL_WAIT_ASK    3000   //  msecs wait and events --follow give one request
#define DLBCTL_BAR_WIDTH   30     //  characters of the progress bar
#define DLBCTL_LIST_MAX    1024   //  bytes, joined peer and ran lists with NUL
#define DLBCTL_EVENTS_POLL 500    //  msecs between requests of events --follow

#define EXIT_USAGE 2

//  The node and keys a command talks to (dlb_client.h).
typedef dlb_client_t client_t;

typedef struct command_s command_t;
struct command_s {
    const char *name;
    const char *synopsis;         //  arguments after the name
    const char *help;             //  what it does and its options
    void (*defaults) (FILE *out); //  prints the options' defaults, or NULL
    int (*run) (client_t *client, const command_t *command, int argc, char **argv);
    bool local; //  works on this machine only: no node, no keys
};

//  A command's option: a flag (flag set) or an option with a value.
typedef struct {
    const char *name; //  "--json"
    const char **value;
    bool *flag;
} option_t;

static const command_t s_commands[];

//  ---------------------------------------------------------------------
//  Usage

static void s_usage (FILE *out);

static void s_command_usage (FILE *out, const command_t *command)
{
    fprintf (out, "Usage: dlbctl [--node ENDPOINT] [--timeout SECS] %s %s\n%s",
             command->name, command->synopsis, command->help);
    if (command->defaults)
        command->defaults (out);
}

//  Prints "error: ..." and the usage on stderr; returns EXIT_USAGE.
static int s_usage_error (const command_t *command, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static int s_usage_error (const command_t *command, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "error: ");
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n\n");
    va_end (args);
    if (command)
        s_command_usage (stderr, command);
    else
        s_usage (stderr);
    return EXIT_USAGE;
}

//  ---------------------------------------------------------------------
//  Argument parsing

//  Parses a decimal unsigned integer in [low, high]. Returns 0, or -1 if
//  text is not one (signs, spaces and trailing characters are refused).
static int s_parse_u64 (const char *text, uint64_t low, uint64_t high, uint64_t *value)
{
    if (!text || *text < '0' || *text > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long parsed = strtoull (text, &end, 10);
    if (errno || *end || parsed < low || parsed > high)
        return -1;
    *value = parsed;
    return 0;
}

//  Checks and normalises the client options once all are known. Returns
//  0, or EXIT_USAGE with a message and the usage printed (or 1 if the
//  keys cannot be used).
static int s_client_ready (client_t *client, const command_t *command)
{
    char err[DLB_CLIENT_ERROR_MAX];
    int rc = dlb_client_ready (client, err, sizeof err);
    if (rc == -1)
        return s_usage_error (command, "%s", err);
    if (rc == -2) {
        fprintf (stderr, "error: %s\n", err);
        return EXIT_FAILURE;
    }
    if (client->timeout_text) {
        double secs;
        if (dlb_config_number (client->timeout_text, 0, DLBCTL_MAX_TIMEOUT, &secs) ||
            secs <= 0)
            return s_usage_error (command, "--timeout '%s': seconds, > 0 and <= %d",
                                  client->timeout_text, DLBCTL_MAX_TIMEOUT);
        client->timeout = secs;
    }
    return 0;
}

//  True if arg is an option rather than a value: "-x", "--x", but not "-",
//  nor a negative number (so that `throttle -1` gets a range error).
static bool s_is_option (const char *arg)
{
    if (arg[0] != '-' || arg[1] == 0)
        return false;
    return !((arg[1] >= '0' && arg[1] <= '9') || arg[1] == '.');
}

//  Parses a command's arguments (argv[0] is the command's name): its own
//  options, then --node and --timeout (a command's own option of the same
//  name wins), then exactly `count` positional arguments named by names.
//  Returns 0 to go on, 1 if --help was printed, EXIT_USAGE if the input
//  was wrong (message and usage printed).
static int s_parse_command (client_t *client, const command_t *command, int argc,
                            char **argv, const option_t *options, const char **positional,
                            const char *const *names, int count)
{
    const option_t common[] = {{"--node", &client->endpoint_text, NULL},
                               {"--timeout", &client->timeout_text, NULL},
                               {"--key", &client->key_text, NULL},
                               {"--node-key", &client->node_key_text, NULL},
                               {NULL, NULL, NULL}};
    const char *node_given = NULL;
    int seen = 0;
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || !s_is_option (arg)) {
            if (seen == count)
                return s_usage_error (command, "%s: unexpected argument '%s'",
                                      command->name, arg);
            positional[seen++] = arg;
            continue;
        }
        if (streq (arg, "--")) {
            options_done = true;
            continue;
        }
        if (streq (arg, "--help") || streq (arg, "-h")) {
            s_command_usage (stdout, command);
            return 1;
        }
        const char *eq = strchr (arg, '=');
        size_t name_len = eq ? (size_t) (eq - arg) : strlen (arg);
        const option_t *option = NULL;
        for (const option_t *o = options; o && o->name && !option; o++)
            if (strlen (o->name) == name_len && memcmp (o->name, arg, name_len) == 0)
                option = o;
        for (const option_t *o = common; o->name && !option; o++)
            if (strlen (o->name) == name_len && memcmp (o->name, arg, name_len) == 0)
                option = o;
        if (!option)
            return s_usage_error (command, "%s: unknown option '%.*s'", command->name,
                                  (int) name_len, arg);
        if (option->flag) {
            if (eq)
                return s_usage_error (command, "%s: option '%s' takes no value",
                                      command->name, option->name);
            *option->flag = true;
            continue;
        }
        const char *value = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!value)
            return s_usage_error (command, "%s: option '%s' needs a value", command->name,
                                  option->name);
        *option->value = value;
        if (option->value == &client->endpoint_text)
            node_given = value;
    }
    if (seen < count)
        return s_usage_error (command, "%s: missing %s", command->name, names[seen]);
    if (node_given)
        client->endpoint_source = "--node";
    return command->local ? 0 : s_client_ready (client, command);
}

//  ---------------------------------------------------------------------
//  Requests

//  Sends the request (consumed in every case) and waits for the answer.
//  Returns 0 with a REPLY whose ok is true in *reply (release it with
//  dlb_msg_release), or -1 with the reason printed on stderr (nothing to
//  release): no answer in time, a malformed answer, or the node's own error.
//  On conn, if not NULL: the connection that earlier requests left open.
static int s_request_on (const client_t *client, dlb_client_conn_t *conn,
                         dlb_writer_t *request, dlb_msg_t *reply)
{
    char err[DLB_CLIENT_ERROR_MAX];
    if (dlb_client_request_on (client, conn, request, reply, err, sizeof err, NULL, 0) ==
        0)
        return 0;
    fprintf (stderr, "error: %s\n", err);
    return -1;
}

//  The client as a poll loop (wait, events --follow) uses it: each request
//  gets at most DLBCTL_WAIT_ASK, since one that a restarting monitor took
//  with it is never answered, and the loop asks again on a new connection.
static client_t s_poller (const client_t *client)
{
    client_t poller = *client;
    if (poller.timeout > DLBCTL_WAIT_ASK / 1000.0)
        poller.timeout = DLBCTL_WAIT_ASK / 1000.0;
    return poller;
}

static int s_request (const client_t *client, dlb_writer_t *request, dlb_msg_t *reply)
{
    return s_request_on (client, NULL, request, reply);
}

//  ---------------------------------------------------------------------
//  Reading a reply for display

//  Copies a string field for display, control characters replaced by '?'
//  and truncated to fit; "-" if missing or not a string. Cannot fail.
static void s_text_of (const msgpack_object *o, char *buf, size_t size)
{
    if (!o || o->type != MSGPACK_OBJECT_STR) {
        snprintf (buf, size, "-");
        return;
    }
    size_t len = o->via.str.size < size - 1 ? o->via.str.size : size - 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) o->via.str.ptr[i];
        buf[i] = c < 0x20 || c == 0x7f ? '?' : (char) c;
    }
    buf[len] = 0;
}

static void s_text (const msgpack_object *map, const char *key, char *buf, size_t size)
{
    s_text_of (dlb_obj_get (map, key), buf, size);
}

//  Replaces control characters in text by '?', for display. Cannot fail.
static void s_clean (char *text)
{
    for (; *text; text++)
        if ((unsigned char) *text < 0x20 || *text == 0x7f)
            *text = '?';
}

//  Decodes a status reply's node or workload record for display: its
//  strings cleaned. 0, or -2 with the reason printed. Cannot fail.
static int s_node_record (const msgpack_object *o, dlb_status_node_t *node)
{
    char reason[DLB_CLIENT_ERROR_MAX];
    if (dlb_status_node_decode (o, node, reason, sizeof reason)) {
        printf ("(a malformed node record: %s)\n", reason);
        return -2;
    }
    s_clean (node->node);
    s_clean (node->policy);
    for (uint32_t i = 0; i < node->peer_count; i++)
        s_clean (node->peers[i]);
    return 0;
}

static int s_workload_record (const msgpack_object *o, dlb_status_workload_t *wl)
{
    char reason[DLB_CLIENT_ERROR_MAX];
    if (dlb_status_workload_decode (o, wl, reason, sizeof reason)) {
        printf ("(a malformed workload record: %s)\n", reason);
        return -2;
    }
    s_clean (wl->id);
    s_clean (wl->output);
    s_clean (wl->error);
    for (size_t i = 0; i < wl->ran_count; i++)
        s_clean (wl->ran[i].node);
    return 0;
}

//  A number field, or NAN if missing or not a number. Cannot fail.
static double s_number (const msgpack_object *map, const char *key)
{
    double value;
    return dlb_obj_double (map, key, &value) ? NAN : value;
}

//  Formats a number with the given decimals, "-" if unknown.
static const char *s_fmt (char *buf, size_t size, double value, int decimals)
{
    if (isnan (value))
        snprintf (buf, size, "-");
    else if (fabs (value) >= 1e9) //  keeps absurd values from wrecking the table
        snprintf (buf, size, "%.3g", value);
    else
        snprintf (buf, size, "%.*f", decimals, value);
    return buf;
}

//  Formats seconds as 4.1s, 2m05s or 1h02m. Cannot fail.
static const char *s_duration (char *buf, size_t size, double secs)
{
    if (isnan (secs) || secs < 0)
        snprintf (buf, size, "-");
    else if (secs < 60)
        snprintf (buf, size, "%.1fs", secs);
    else if (secs < 3600)
        snprintf (buf, size, "%dm%02ds", (int) (secs / 60), (int) fmod (secs, 60));
    else
        snprintf (buf, size, "%dh%02dm", (int) (secs / 3600), (int) fmod (secs / 60, 60));
    return buf;
}

//  Formats a byte count with a binary unit. Cannot fail.
static const char *s_bytes (char *buf, size_t size, double bytes)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (isnan (bytes)) {
        snprintf (buf, size, "-");
        return buf;
    }
    size_t unit = 0;
    while (bytes >= 1024 && unit + 1 < sizeof units / sizeof units[0]) {
        bytes /= 1024;
        unit++;
    }
    snprintf (buf, size, unit ? "%.1f %s" : "%.0f %s", bytes, units[unit]);
    return buf;
}

//  Appends text to a bounded list, with a separator when not empty.
static void s_append (char *list, size_t size, const char *separator, const char *text)
{
    size_t len = strlen (list);
    if (len + 1 >= size)
        return;
    snprintf (list + len, size - len, "%s%s", len ? separator : "", text);
}

//  Joins the strings of an array field with ",". "-" if none.
static void s_join_peers (const dlb_status_node_t *node, char *buf, size_t size)
{
    buf[0] = 0;
    for (uint32_t i = 0; i < node->peer_count; i++)
        s_append (buf, size, ",", node->peers[i]);
    if (!buf[0])
        snprintf (buf, size, "-");
}

//  Formats a workload's ran map {node: jobs} as "a:600 b:424".
static void s_join_ran (const dlb_status_workload_t *wl, char *buf, size_t size)
{
    buf[0] = 0;
    for (size_t i = 0; i < wl->ran_count; i++) {
        char item[DLB_NAME_MAX + 32];
        snprintf (item, sizeof item, "%s:%" PRIu64, wl->ran[i].node, wl->ran[i].jobs);
        s_append (buf, size, " ", item);
    }
    if (!buf[0])
        snprintf (buf, size, "-");
}

//  The element of array `key` of the reply that is a map, or NULL.
static const msgpack_object *s_item (const msgpack_object_array *array, uint32_t i)
{
    const msgpack_object *item = &array->ptr[i];
    return item->type == MSGPACK_OBJECT_MAP ? item : NULL;
}

//  Finds workload id in a status reply. NULL if it is not listed.
static const msgpack_object *s_find_workload (const msgpack_object *body, const char *id)
{
    const msgpack_object_array *workloads;
    if (dlb_obj_array (body, "workloads", &workloads))
        return NULL;
    for (uint32_t i = 0; i < workloads->size; i++) {
        const msgpack_object *workload = s_item (workloads, i);
        char wid[DLB_NAME_MAX];
        if (workload && dlb_obj_str (workload, "id", wid, sizeof wid) == 0 &&
            streq (wid, id))
            return workload;
    }
    return NULL;
}

//  ---------------------------------------------------------------------
//  status

static void s_print_nodes (const msgpack_object *body)
{
    const msgpack_object_array *nodes;
    if (dlb_obj_array (body, "nodes", &nodes) || nodes->size == 0) {
        printf ("no nodes reported\n");
        return;
    }
    int width = (int) strlen ("NODE");
    for (uint32_t i = 0; i < nodes->size; i++) {
        char name[DLB_NAME_MAX];
        s_text (s_item (nodes, i), "node", name, sizeof name);
        int len = (int) strlen (name) + 1; //  "*" marks the local node
        if (len > width)
            width = len;
    }
    printf ("%-*s %6s %7s %8s %8s %-10s %6s %8s %7s %5s %6s %7s  %s\n", width, "NODE",
            "QUEUE", "RUNNING", "DONE", "THROTTLE", "POLICY", "SENT", "RECEIVED",
            "RATE/S", "CPU%", "OWNER%", "CAP/S", "PEERS");
    for (uint32_t i = 0; i < nodes->size; i++) {
        dlb_status_node_t node;
        if (s_node_record (s_item (nodes, i), &node))
            continue;
        char name[DLB_NAME_MAX + 1], peers[DLBCTL_LIST_MAX];
        char queue[32], running[32], done[32], throttle[32], sent[32], received[32],
            rate[32], cpu[32], owner[32], capacity[32];
        snprintf (name, sizeof name, "%s%s", node.node, node.local ? "*" : "");
        s_join_peers (&node, peers, sizeof peers);
        if (node.stale) {
            char age[32], note[64];
            snprintf (note, sizeof note, "  STALE (last heard %s ago)",
                      s_duration (age, sizeof age, node.age));
            s_append (peers, sizeof peers, "", note);
        }
        printf (
            "%-*s %6s %7s %8s %8s %-10s %6s %8s %7s %5s %6s %7s  %s\n", width, name,
            s_fmt (queue, sizeof queue, node.queue, 0),
            s_fmt (running, sizeof running, node.running, 0),
            s_fmt (done, sizeof done, node.done, 0),
            s_fmt (throttle, sizeof throttle, node.throttle, 2), node.policy,
            s_fmt (sent, sizeof sent, node.sent, 0),
            s_fmt (received, sizeof received, node.received, 0),
            s_fmt (rate, sizeof rate, node.rate, 1), s_fmt (cpu, sizeof cpu, node.cpu, 0),
            s_fmt (owner, sizeof owner, node.owner, 0),
            //  capacity 0: no rate measured yet
            s_fmt (capacity, sizeof capacity, node.capacity > 0 ? node.capacity : NAN, 1),
            peers);
    }
}

static void s_print_workloads (const msgpack_object *body)
{
    const msgpack_object_array *workloads;
    if (dlb_obj_array (body, "workloads", &workloads) || workloads->size == 0) {
        printf ("no workloads\n");
        return;
    }
    int width = (int) strlen ("WORKLOAD");
    for (uint32_t i = 0; i < workloads->size; i++) {
        char id[DLB_NAME_MAX];
        s_text (s_item (workloads, i), "id", id, sizeof id);
        if ((int) strlen (id) > width)
            width = (int) strlen (id);
    }
    printf ("%-*s %-9s %15s %8s %-8s  %s\n", width, "WORKLOAD", "STATE", "COMPLETED",
            "ELAPSED", "VERIFIED", "RAN");
    for (uint32_t i = 0; i < workloads->size; i++) {
        dlb_status_workload_t wl;
        if (s_workload_record (s_item (workloads, i), &wl))
            continue;
        char completed[64], elapsed[32], ran[DLBCTL_LIST_MAX], done[32], jobs[32];
        snprintf (completed, sizeof completed, "%s/%s",
                  s_fmt (done, sizeof done, (double) wl.completed, 0),
                  s_fmt (jobs, sizeof jobs, (double) wl.jobs, 0));
        s_duration (elapsed, sizeof elapsed, wl.elapsed_s);
        s_join_ran (&wl, ran, sizeof ran);
        const char *verified = !streq (wl.state, "complete") ? "-"
                               : wl.verified                 ? "yes"
                                                             : "NO";
        printf ("%-*s %-9s %15s %8s %-8s  %s\n", width, wl.id, wl.state, completed,
                elapsed, verified, ran);
        if (*wl.error)
            printf ("%*s error: %s\n", width, "", wl.error);
    }
}

static void s_print_transfer (const msgpack_object *body)
{
    const msgpack_object *transfer = dlb_obj_get (body, "transfer");
    if (!transfer || transfer->type != MSGPACK_OBJECT_MAP)
        return;
    char a[32], b[32], c[32], d[32], raw[32], wire[32], resends[32], dropped[32];
    printf ("transfer: jobs sent %s, received %s; results sent %s, received %s; "
            "%s raw, %s on the wire; %s resends, %s dropped\n",
            s_fmt (a, sizeof a, s_number (transfer, "jobs_sent"), 0),
            s_fmt (b, sizeof b, s_number (transfer, "jobs_received"), 0),
            s_fmt (c, sizeof c, s_number (transfer, "results_sent"), 0),
            s_fmt (d, sizeof d, s_number (transfer, "results_received"), 0),
            s_bytes (raw, sizeof raw, s_number (transfer, "raw_bytes")),
            s_bytes (wire, sizeof wire, s_number (transfer, "wire_bytes")),
            s_fmt (resends, sizeof resends, s_number (transfer, "resends"), 0),
            s_fmt (dropped, sizeof dropped, s_number (transfer, "dropped"), 0));
}

static int s_cmd_status (client_t *client, const command_t *command, int argc,
                         char **argv)
{
    bool json = false;
    const option_t options[] = {{"--json", NULL, &json}, {NULL, NULL, NULL}};
    int rc = s_parse_command (client, command, argc, argv, options, NULL, NULL, 0);
    if (rc)
        return rc == 1 ? EXIT_SUCCESS : rc;

    dlb_writer_t request;
    dlb_msg_t reply;
    dlb_command_start (&request, "status", 0);
    if (s_request (client, &request, &reply))
        return EXIT_FAILURE;
    if (json) {
        dlb_client_json (stdout, reply.body);
        putchar ('\n');
    }
    else {
        char node[DLB_NAME_MAX];
        s_text (reply.body, "node", node, sizeof node);
        printf ("node %s at %s (* marks it)\n\n", node, client->endpoint);
        s_print_nodes (reply.body);
        printf ("\n");
        s_print_workloads (reply.body);
        printf ("\n");
        s_print_transfer (reply.body);
    }
    dlb_msg_release (&reply);
    return fflush (stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

//  ---------------------------------------------------------------------
//  throttle, policy, each on one node or on all (--all)

//  A setting to send: throttle (value) or policy (name).
typedef struct {
    const char *cmd;
    double value;
    const char *name;
} setting_t;

//  Sends the setting to one node and prints what it answered, after
//  prefix. Returns 0, or -1 with the reason printed.
static int s_set (const client_t *client, const setting_t *setting, const char *prefix)
{
    dlb_writer_t request;
    dlb_msg_t reply;
    dlb_command_start (&request, setting->cmd, 1);
    if (setting->name)
        dlb_writer_str (&request, "name", setting->name);
    else
        dlb_writer_double (&request, "value", setting->value);
    if (s_request (client, &request, &reply))
        return -1;
    char now[32];
    if (setting->name) {
        s_text (reply.body, "policy", now, sizeof now);
        printf ("%spolicy %s\n", prefix, streq (now, "-") ? setting->name : now);
    }
    else {
        double value = s_number (reply.body, "throttle");
        printf ("%sthrottle %g\n", prefix, isnan (value) ? setting->value : value);
    }
    dlb_msg_release (&reply);
    return 0;
}

//  --all: the setting goes to the node asked and to every node it knows
//  (its status), each reached through the node file NAME.node beside the
//  one --node named (dlb-cluster writes one per node, with its endpoint
//  and keys). A node that fails is reported and the others are still
//  done. Returns EXIT_SUCCESS if every node took it, else EXIT_FAILURE.
static int s_set_all (client_t *client, const command_t *command,
                      const setting_t *setting)
{
    if (!*client->node_file) {
        fprintf (stderr,
                 "error: %s --all: --node must be a node file (NAME.node, as "
                 "dlb-cluster writes), so that the others' files are beside it\n",
                 command->name);
        return EXIT_FAILURE;
    }
    dlb_writer_t request;
    dlb_msg_t reply;
    dlb_command_start (&request, "status", 0);
    if (s_request (client, &request, &reply))
        return EXIT_FAILURE;
    const msgpack_object_array *nodes;
    int failed = 0, done = 0;
    char asked[DLB_NAME_MAX];
    s_text (reply.body, "node", asked, sizeof asked);
    if (dlb_obj_array (reply.body, "nodes", &nodes))
        nodes = NULL;
    for (uint32_t i = 0; nodes && i < nodes->size; i++) {
        char name[DLB_NAME_MAX], prefix[DLB_NAME_MAX + 8], file[DLB_TEXT_MAX * 2];
        s_text (s_item (nodes, i), "node", name, sizeof name);
        snprintf (prefix, sizeof prefix, "%s: ", name);
        client_t peer = {.endpoint_source = "--all", .timeout = client->timeout};
        if (streq (name, asked))
            peer = *client;
        else {
            if (!*name || strpbrk (name, "/ ") || streq (name, "-")) {
                fprintf (stderr, "error: %s lists a node without a usable name\n",
                         client->endpoint);
                failed++;
                continue;
            }
            dlb_client_path_beside (client->node_file, name, file, sizeof file);
            strncat (file, ".node", sizeof file - strlen (file) - 1);
            peer.endpoint_text = file;
            if (access (file, R_OK)) {
                fprintf (stderr, "error: %s: no node file %s\n", name, file);
                failed++;
                continue;
            }
            if (s_client_ready (&peer, command)) {
                failed++;
                continue;
            }
        }
        if (s_set (&peer, setting, prefix))
            failed++;
        else
            done++;
    }
    dlb_msg_release (&reply);
    if (failed)
        fprintf (stderr, "error: %s set on %d node(s), failed on %d\n", command->name,
                 done, failed);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int s_cmd_throttle (client_t *client, const command_t *command, int argc,
                           char **argv)
{
    const char *value_text;
    const char *names[] = {"VALUE"};
    bool all = false;
    const option_t options[] = {{"--all", NULL, &all}, {NULL, NULL, NULL}};
    int rc =
        s_parse_command (client, command, argc, argv, options, &value_text, names, 1);
    if (rc)
        return rc == 1 ? EXIT_SUCCESS : rc;
    setting_t setting = {.cmd = "throttle"};
    if (dlb_config_number (value_text, 0, 1, &setting.value) || setting.value <= 0)
        return s_usage_error (command, "throttle '%s': a number in (0, 1]", value_text);
    if (all)
        return s_set_all (client, command, &setting);
    return s_set (client, &setting, "") ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int s_cmd_policy (client_t *client, const command_t *command, int argc,
                         char **argv)
{
    const char *name;
    const char *names[] = {"NAME"};
    bool all = false;
    const option_t options[] = {{"--all", NULL, &all}, {NULL, NULL, NULL}};
    int rc = s_parse_command (client, command, argc, argv, options, &name, names, 1);
    if (rc)
        return rc == 1 ? EXIT_SUCCESS : rc;
    dlb_policy_t policy;
    if (dlb_policy_parse (name, &policy))
        return s_usage_error (command, "policy '%s': one of " DLB_POLICY_NAMES, name);
    setting_t setting = {.cmd = "policy", .name = dlb_policy_name (policy)};
    if (all)
        return s_set_all (client, command, &setting);
    return s_set (client, &setting, "") ? EXIT_FAILURE : EXIT_SUCCESS;
}

//  ---------------------------------------------------------------------
//  submit

static int s_cmd_submit (client_t *client, const command_t *command, int argc,
                         char **argv)
{
    const char *elements_text = NULL, *jobs_text = NULL, *reps_text = NULL;
    const char *input_text = NULL, *output_text = NULL;
    const option_t options[] = {
        {"--elements", &elements_text, NULL}, {"--jobs", &jobs_text, NULL},
        {"--reps", &reps_text, NULL},         {"--input", &input_text, NULL},
        {"--output", &output_text, NULL},     {NULL, NULL, NULL}};
    int rc = s_parse_command (client, command, argc, argv, options, NULL, NULL, 0);
    if (rc)
        return rc == 1 ? EXIT_SUCCESS : rc;

    uint64_t elements = DLB_DEFAULT_ELEMENTS, jobs = DLB_DEFAULT_JOBS,
             reps = DLB_DEFAULT_REPS;
    if (!output_text)
        return s_usage_error (command, "submit: --output FILE is required");
    if (input_text && elements_text)
        return s_usage_error (command,
                              "submit: --elements and --input exclude each other (the "
                              "input file sets the element count)");
    if (elements_text && s_parse_u64 (elements_text, 1, UINT64_MAX, &elements))
        return s_usage_error (command, "--elements '%s': an integer >= 1", elements_text);
    if (jobs_text && s_parse_u64 (jobs_text, 1, UINT64_MAX, &jobs))
        return s_usage_error (command, "--jobs '%s': an integer >= 1", jobs_text);
    if (reps_text && s_parse_u64 (reps_text, 1, UINT32_MAX, &reps))
        return s_usage_error (command, "--reps '%s': an integer 1..%" PRIu32, reps_text,
                              UINT32_MAX);
    if (!input_text && jobs > elements)
        return s_usage_error (command,
                              "submit: --jobs %" PRIu64
                              " is more than --elements %" PRIu64
                              " (every job needs at least one element)",
                              jobs, elements);
    if (!input_text && (elements + jobs - 1) / jobs > DLB_JOB_MAX_ELEMS)
        return s_usage_error (command,
                              "submit: %" PRIu64 " elements in %" PRIu64
                              " jobs is more than %d elements a job; use more --jobs",
                              elements, jobs, DLB_JOB_MAX_ELEMS);

    //  Paths are sent as given: they name files in the node's data directory,
    //  which nothing here can resolve (the node may be remote or in a container).
    const char *paths[][2] = {{"--output", output_text}, {"--input", input_text}};
    for (int k = 0; k < 2; k++)
        if (paths[k][1] && (!*paths[k][1] || strlen (paths[k][1]) >= DLB_TEXT_MAX))
            return s_usage_error (command, "%s '%s': a path of 1 to %d bytes",
                                  paths[k][0], paths[k][1], DLB_TEXT_MAX - 1);

    //  With --input the node takes the element count from the file.
    dlb_writer_t request;
    dlb_msg_t reply;
    dlb_command_start (&request, "submit", 4);
    if (input_text)
        dlb_writer_str (&request, "input", input_text);
    else
        dlb_writer_u64 (&request, "elements", elements);
    dlb_writer_u64 (&request, "jobs", jobs);
    dlb_writer_u64 (&request, "reps", reps);
    dlb_writer_str (&request, "output", output_text);
    if (s_request (client, &request, &reply))
        return EXIT_FAILURE;
    char id[DLB_NAME_MAX];
    rc = EXIT_SUCCESS;
    if (dlb_obj_str (reply.body, "id", id, sizeof id) || !*id) {
        fprintf (stderr, "error: %s accepted the workload but sent no id\n",
                 client->endpoint);
        rc = EXIT_FAILURE;
    }
    else
        printf ("%s\n", id);
    dlb_msg_release (&reply);
    return rc;
}

//  ---------------------------------------------------------------------
//  wait

typedef struct {
    bool terminal;      //  stderr is a terminal: redraw one line
    bool drawn;         //  a bar is on the current line
    int64_t last_plain; //  msecs (zclock_mono) of the last plain line
    char last_state[16];
} progress_t;

static void s_progress (progress_t *self, const char *id, const char *state, double done,
                        double jobs, double elapsed)
{
    char done_text[32], jobs_text[32];
    s_fmt (done_text, sizeof done_text, done, 0);
    s_fmt (jobs_text, sizeof jobs_text, jobs, 0);
    if (self->terminal) {
        char bar[DLBCTL_BAR_WIDTH + 1];
        int filled = jobs > 0 && done >= 0 ? (int) (DLBCTL_BAR_WIDTH * done / jobs) : 0;
        if (filled > DLBCTL_BAR_WIDTH)
            filled = DLBCTL_BAR_WIDTH;
        for (int i = 0; i < DLBCTL_BAR_WIDTH; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[DLBCTL_BAR_WIDTH] = 0;
        //  \033[K clears what a longer previous line left behind
        fprintf (stderr, "\r[%s] %s/%s jobs %.1fs\033[K", bar, done_text, jobs_text,
                 isnan (elapsed) ? 0.0 : elapsed);
        self->drawn = true;
        return;
    }
    int64_t now = zclock_mono ();
    if (now - self->last_plain < DLBCTL_PLAIN_PERIOD && streq (state, self->last_state))
        return;
    self->last_plain = now;
    snprintf (self->last_state, sizeof self->last_state, "%s", state);
    fprintf (stderr, "%s: %s %s/%s jobs %.1fs\n", id, state, done_text, jobs_text,
             isnan (elapsed) ? 0.0 : elapsed);
}

//  Ends the progress line so that what follows starts on its own line.
static void s_progress_end (progress_t *self)
{
    if (self->drawn)
        fputc ('\n', stderr);
    self->drawn = false;
}

//  Polls the node's status until workload id ends, limit secs (0: no
//  limit) pass, or stall secs (0: no limit) pass without a job done,
//  drawing its progress. Returns dlbctl's exit code.
static int s_wait (const client_t *client, dlb_client_conn_t *conn, const char *id,
                   double limit, double stall)
{
    int64_t start = zclock_mono ();
    int64_t deadline = limit > 0 ? start + (int64_t) (limit * 1000) : 0;
    int64_t moved_at = start; //  when the count of jobs done last moved
    uint64_t done_before = 0;
    int64_t silent_since = 0, missing_since = start; //  0: answered / seen
    progress_t progress = {.terminal = isatty (STDERR_FILENO) == 1};
    while (true) {
        //  A request may not outlive the deadline by more than a poll period;
        //  a node restarting its monitor is asked again soon.
        client_t poll = s_poller (client);
        if (deadline) {
            double left = (double) (deadline - zclock_mono ()) / 1000;
            double least = (double) DLBCTL_POLL_PERIOD / 1000;
            if (left < poll.timeout)
                poll.timeout = left > least ? left : least;
        }
        dlb_writer_t request;
        dlb_msg_t reply;
        dlb_command_start (&request, "status", 0);
        int64_t now;
        if (s_request_on (&poll, conn, &request, &reply)) {
            //  The monitor may be restarting: ride over it for a while.
            now = zclock_mono ();
            s_progress_end (&progress);
            if (!silent_since) {
                silent_since = now;
                fprintf (stderr, "%s: asking again (the node may be restarting)\n", id);
            }
            if (now - silent_since >= DLBCTL_RIDE_OVER || (deadline && now >= deadline)) {
                fprintf (stderr,
                         "error: lost track of workload %s: no answer for %.0f s\n", id,
                         (now - silent_since) / 1000.0);
                return EXIT_FAILURE;
            }
            zclock_sleep (DLBCTL_POLL_PERIOD);
            continue;
        }
        silent_since = 0;
        const msgpack_object *workload = s_find_workload (reply.body, id);
        now = zclock_mono ();
        if (workload)
            missing_since = 0;
        else if (!missing_since)
            missing_since = now;
        if (!workload) {
            dlb_msg_release (&reply);
            if (now - missing_since >= DLBCTL_UNKNOWN_GRACE) {
                s_progress_end (&progress);
                fprintf (stderr, "error: %s has no workload '%s'\n", client->endpoint,
                         id);
                return EXIT_FAILURE;
            }
        }
        else {
            dlb_status_workload_t wl;
            int bad = s_workload_record (workload, &wl);
            dlb_msg_release (&reply);
            if (bad) {
                s_progress_end (&progress);
                fprintf (stderr, "error: %s answered with a malformed record of '%s'\n",
                         client->endpoint, id);
                return EXIT_FAILURE;
            }
            char ran[DLBCTL_LIST_MAX], elapsed_text[32];
            const char *state = wl.state, *output = wl.output, *error = wl.error;
            double done = (double) wl.completed, jobs = (double) wl.jobs;
            double elapsed = wl.elapsed_s;
            bool verified = wl.verified;
            if (wl.completed != done_before) {
                done_before = wl.completed;
                moved_at = now;
            }
            s_join_ran (&wl, ran, sizeof ran);
            s_progress (&progress, id, state, done, jobs, elapsed);
            s_duration (elapsed_text, sizeof elapsed_text, elapsed);
            if (streq (state, "complete")) {
                s_progress_end (&progress);
                if (!verified) {
                    fprintf (stderr,
                             "error: workload %s completed in %s but its results did not "
                             "verify%s%s\n",
                             id, elapsed_text, *error ? ": " : "", error);
                    return EXIT_FAILURE;
                }
                printf ("%s complete: %.0f jobs in %s, verified; ran %s; output %s\n", id,
                        jobs, elapsed_text, ran, output);
                return EXIT_SUCCESS;
            }
            if (streq (state, "cancelled")) {
                s_progress_end (&progress);
                fprintf (stderr, "error: workload %s was cancelled after %s\n", id,
                         elapsed_text);
                return EXIT_FAILURE;
            }
            if (streq (state, "failed")) {
                s_progress_end (&progress);
                fprintf (stderr, "error: workload %s failed after %s: %s\n", id,
                         elapsed_text, *error ? error : "(no reason given)");
                return EXIT_FAILURE;
            }
            if (stall > 0 && now - moved_at >= (int64_t) (stall * 1000)) {
                s_progress_end (&progress);
                fprintf (stderr,
                         "error: workload %s made no progress for %g s (%.0f of %.0f "
                         "jobs done)\n",
                         id, stall, done, jobs);
                return EXIT_FAILURE;
            }
        }
        if (deadline && now >= deadline) {
            s_progress_end (&progress);
            fprintf (stderr, "error: workload %s did not complete within %g s\n", id,
                     limit);
            return EXIT_FAILURE;
        }
        int64_t pause = DLBCTL_POLL_PERIOD;
        if (deadline && deadline - now < pause)
            pause = deadline - now;
        zclock_sleep ((int) pause);
    }
}

static int s_cmd_wait (client_t *client, const command_t *command, int argc, char **argv)
{
    const char *id, *deadline_text = NULL, *stall_text = NULL;
    const char *names[] = {"workload ID"};
    const option_t options[] = {{"--timeout", &deadline_text, NULL},
                                {"--stall", &stall_text, NULL},
                                {NULL, NULL, NULL}};
    int rc = s_parse_command (client, command, argc, argv, options, &id, names, 1);
    if (rc)
        return rc == 1 ? EXIT_SUCCESS : rc;
    double limit = 0; //  secs, 0: no deadline
    if (deadline_text &&
        (dlb_config_number (deadline_text, 0, INFINITY, &limit) || limit <= 0))
        return s_usage_error (command, "wait: --timeout '%s': seconds, > 0",
                              deadline_text);
    double stall = 0; //  secs, 0: no limit
    if (stall_text && (dlb_config_number (stall_text, 0, INFINITY, &stall) || stall <= 0))
        return s_usage_error (command, "wait: --stall '%s': seconds, > 0", stall_text);
    if (!*id || strlen (id) >= DLB_NAME_MAX)
        return s_usage_error (command, "wait: '%s' is not a workload id", id);
    //  One connection for every poll: the node's monitor does one CURVE
    //  handshake, not one every DLBCTL_POLL_PERIOD.
    dlb_client_conn_t conn = {NULL, NULL};
    rc = s_wait (client, &conn, id, limit, stall);
    dlb_client_close (&conn);
    return rc;
}

//  ---------------------------------------------------------------------
//  events, cancel

//  Prints one event on a line: its time (local), seq, node/service, kind,
//  workload if any, and its text (control characters as '?').
static void s_print_event (const dlb_event_t *event)
{
    time_t secs = (time_t) (event->time / 1000000);
    struct tm tm;
    char when[32] = "?";
    if (localtime_r (&secs, &tm))
        strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    char text[DLB_EVENT_TEXT_MAX];
    snprintf (text, sizeof text, "%s", event->text);
    for (char *c = text; *c; c++)
        if ((unsigned char) *c < 0x20 || *c == 0x7f)
            *c = '?';
    printf ("%s.%03u %6" PRIu64 " %s/%s %s%s%s: %s\n", when,
            (unsigned) (event->time / 1000 % 1000), event->seq, event->node,
            event->service, event->kind, *event->workload ? " " : "", event->workload,
            text);
}

//  Prints the node's events from since on; with follow, asks again every
//  DLBCTL_EVENTS_POLL on conn. Returns dlbctl's exit code.
static int s_events (const client_t *client, dlb_client_conn_t *conn, bool json,
                     bool follow, uint64_t since)
{
    uint64_t epoch = 0;
    bool failing = false;
    client_t ask = follow ? s_poller (client) : *client;
    while (true) {
        dlb_writer_t request;
        dlb_msg_t reply;
        dlb_command_start (&request, "events", 2);
        dlb_writer_u64 (&request, "since", since);
        dlb_writer_u64 (&request, "max", DLB_EVENTS_REPLY_MAX);
        if (s_request_on (&ask, conn, &request, &reply)) {
            if (!follow)
                return EXIT_FAILURE;
            if (!failing)
                fprintf (stderr, "(asking again until the node answers)\n");
            failing = true;
            zclock_sleep (DLBCTL_EVENTS_POLL);
            continue;
        }
        failing = false;
        uint64_t reply_epoch = 0, next = 0, missed = 0, first = 0;
        bool more = false;
        const msgpack_object_array *events;
        if (dlb_obj_u64 (reply.body, "epoch", &reply_epoch) ||
            dlb_obj_u64 (reply.body, "next", &next) ||
            dlb_obj_array (reply.body, "events", &events)) {
            fprintf (stderr,
                     "error: malformed answer from %s: no epoch, next or events\n",
                     client->endpoint);
            dlb_msg_release (&reply);
            return EXIT_FAILURE;
        }
        dlb_obj_u64 (reply.body, "missed", &missed);
        dlb_obj_u64 (reply.body, "first", &first);
        dlb_obj_bool (reply.body, "more", &more);
        if (epoch && reply_epoch != epoch) {
            //  The monitor restarted: its events are numbered anew.
            fprintf (stderr,
                     "(the node's monitor restarted: its events from the start)\n");
            epoch = reply_epoch;
            since = 0;
            dlb_msg_release (&reply);
            continue;
        }
        epoch = reply_epoch;
        if (missed)
            fprintf (stderr,
                     "(missed %" PRIu64 " events: the node keeps the last ones only; "
                     "the oldest it has is %" PRIu64 ")\n",
                     missed, first);
        for (uint32_t i = 0; i < events->size; i++) {
            dlb_event_t event;
            char reason[DLB_CLIENT_ERROR_MAX];
            if (dlb_event_decode (&events->ptr[i], &event, reason, sizeof reason)) {
                fprintf (stderr, "(skipped a malformed event: %s)\n", reason);
                continue;
            }
            if (json) {
                dlb_client_json (stdout, &events->ptr[i]);
                putchar ('\n');
            }
            else
                s_print_event (&event);
        }
        dlb_msg_release (&reply);
        since = next;
        if (fflush (stdout))
            return EXIT_FAILURE;
        if (more)
            continue;
        if (!follow)
            return EXIT_SUCCESS;
        zclock_sleep (DLBCTL_EVENTS_POLL);
    }
}

static int s_cmd_events (client_t *client, const command_t *command, int argc,
                         char **argv)
{
    bool json = false, follow = false;
    const char *since_text = NULL;
    const option_t options[] = {{"--json", NULL, &json},
                                {"--follow", NULL, &follow},
                                {"--since", &since_text, NULL},
                                {NULL, NULL, NULL}};
    int rc = s_parse_command (client, command, argc, argv, options, NULL, NULL, 0);
    if (rc)
        return rc == 1 ? EXIT_SUCCESS : rc;
    uint64_t since = 0;
    if (since_text && s_parse_u64 (since_text, 0, UINT64_MAX, &since))
        return s_usage_error (command, "--since '%s': a sequence number, >= 0",
                              since_text);
    dlb_client_conn_t conn = {NULL, NULL};
    rc = s_events (client, &conn, json, follow, since);
    dlb_client_close (&conn);
    return rc;
}

static int s_cmd_cancel (client_t *client, const command_t *command, int argc,
                         char **argv)
{
    const char *id;
    const char *names[] = {"workload ID"};
    int rc = s_parse_command (client, command, argc, argv, NULL, &id, names, 1);
    if (rc)
        return rc == 1 ? EXIT_SUCCESS : rc;
    if (!*id || strlen (id) >= DLB_NAME_MAX)
        return s_usage_error (command, "cancel: a workload id of 1..%d bytes",
                              DLB_NAME_MAX - 1);
    dlb_writer_t request;
    dlb_msg_t reply;
    dlb_command_start (&request, "cancel", 1);
    dlb_writer_str (&request, "id", id);
    if (s_request (client, &request, &reply))
        return EXIT_FAILURE;
    printf ("%s cancelled\n", id);
    dlb_msg_release (&reply);
    return fflush (stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

//  ---------------------------------------------------------------------
//  help, the command table and main

static int s_cmd_help (client_t *client, const command_t *command, int argc, char **argv)
{
    (void) client;
    if (argc > 2)
        return s_usage_error (command, "help: unexpected argument '%s'", argv[2]);
    if (argc == 1) {
        s_usage (stdout);
        return EXIT_SUCCESS;
    }
    if (streq (argv[1], "--help") || streq (argv[1], "-h")) {
        s_command_usage (stdout, command);
        return EXIT_SUCCESS;
    }
    for (const command_t *c = s_commands; c->name; c++)
        if (streq (c->name, argv[1])) {
            s_command_usage (stdout, c);
            return EXIT_SUCCESS;
        }
    return s_usage_error (NULL, "help: unknown command '%s'", argv[1]);
}

//  Copies the public cert FROM to TO (made 0644). Returns 0, or -1.
static int s_copy_cert (const char *from, const char *to)
{
    zconfig_t *root = zconfig_load (from);
    int rc = root ? zconfig_save (root, to) : -1;
    zconfig_destroy (&root);
    return rc == 0 ? chmod (to, 0644) : -1;
}

static int s_keygen_pair (const char *path, const char *name, const char *role,
                          const char *address)
{
    char err[DLB_TEXT_MAX * 2], secret[DLB_TEXT_MAX + 16];
    snprintf (secret, sizeof secret, "%s_secret", path);
    if (access (secret, F_OK) == 0) {
        printf ("kept the existing %s key pair %s\n", role, path);
        return 0;
    }
    if (dlb_keys_generate (path, name, role, address, err, sizeof err)) {
        if (errno == EEXIST) { //  made meanwhile by another keygen
            printf ("kept the existing %s key pair %s\n", role, path);
            return 0;
        }
        fprintf (stderr, "error: %s\n", err);
        return -1;
    }
    printf ("made the %s key pair %s (secret: %s, mode 600)\n", role, path, secret);
    return 0;
}

static int s_cmd_keygen (client_t *client, const command_t *command, int argc,
                         char **argv)
{
    const char *node = NULL, *address = NULL, *keys = getenv ("DLB_KEYS"), *name = NULL,
               *out = NULL;
    bool as_client = false;
    const option_t options[] = {{"--node", &node, NULL}, {"--address", &address, NULL},
                                {"--keys", &keys, NULL}, {"--client", NULL, &as_client},
                                {"--name", &name, NULL}, {"--out", &out, NULL},
                                {NULL, NULL, NULL}};
    int rc = s_parse_command (client, command, argc, argv, options, NULL, NULL, 0);
    if (rc)
        return rc == 1 ? EXIT_SUCCESS : rc;
    if (as_client == (node != NULL))
        return s_usage_error (command, "keygen: give either --node NAME or --client");
    if (node && (!*node || strlen (node) >= DLB_NODE_NAME_MAX || strpbrk (node, ". /:")))
        return s_usage_error (command, "keygen: --node '%s': a node name", node);
    if (as_client) {
        char path[DLB_TEXT_MAX], host[64] = "", user[128];
        if (out)
            snprintf (path, sizeof path, "%s", out);
        else
            dlb_client_default_key (path, sizeof path);
        gethostname (host, sizeof host);
        snprintf (user, sizeof user, "%s@%s", getenv ("USER") ? getenv ("USER") : "user",
                  host);
        char dir[DLB_TEXT_MAX];
        snprintf (dir, sizeof dir, "%s", path);
        if (strrchr (dir, '/')) {
            *strrchr (dir, '/') = 0;
            if (*dir)
                dlb_service_mkdirs (dir);
        }
        if (s_keygen_pair (path, name ? name : user, "client", NULL))
            return EXIT_FAILURE;
        printf ("to control a node, add %s to the trusted/ directory of its keys\n",
                path);
        return EXIT_SUCCESS;
    }
    if (!keys || !*keys)
        return s_usage_error (command, "keygen: --keys DIR (or DLB_KEYS) is needed with "
                                       "--node");
    char path[DLB_TEXT_MAX + 64], admin[DLB_TEXT_MAX + 64], trusted[DLB_TEXT_MAX + 64];
    snprintf (trusted, sizeof trusted, "%s/%s", keys, DLB_KEYS_TRUSTED);
    if (dlb_service_mkdirs (trusted)) {
        fprintf (stderr, "error: cannot make %s: %s\n", trusted, strerror (errno));
        return EXIT_FAILURE;
    }
    snprintf (path, sizeof path, "%s/%s", keys, DLB_KEYS_NODE);
    snprintf (admin, sizeof admin, "%s/%s", keys, DLB_KEYS_ADMIN);
    if (s_keygen_pair (path, node, "node", address) ||
        s_keygen_pair (admin, "admin", "client", NULL))
        return EXIT_FAILURE;
    snprintf (trusted, sizeof trusted, "%s/%s/admin.cert", keys, DLB_KEYS_TRUSTED);
    if (access (trusted, F_OK) && s_copy_cert (admin, trusted)) {
        fprintf (stderr, "error: cannot write %s: %s\n", trusted, strerror (errno));
        return EXIT_FAILURE;
    }
    printf ("node %s: give %s to every peer (into its keys' trusted/ directory), and put "
            "theirs in %s/%s/\n",
            node, path, keys, DLB_KEYS_TRUSTED);
    return EXIT_SUCCESS;
}

static void s_submit_defaults (FILE *out)
{
    fprintf (out, "Defaults: --elements %d --jobs %d --reps %d\n", DLB_DEFAULT_ELEMENTS,
             DLB_DEFAULT_JOBS, DLB_DEFAULT_REPS);
}

static const command_t s_commands[] = {
    {"status", "[--json]",
     "Shows the nodes, workloads and transfer counters this node knows.\n"
     "One row per node (the node answering is marked *): queue, throughput,\n"
     "throttle, policy, peers; one row per workload; then the transfer counters.\n"
     "  --json   one JSON object instead of the tables, for scripts\n",
     NULL, s_cmd_status, false},
    {"throttle", "VALUE [--all]",
     "Sets the node's duty cycle, 0 < VALUE <= 1.\n"
     "Its workers then compute at most VALUE of the time.\n"
     "  --all   on every node the node knows too: --node must be a node file, and\n"
     "          each other node is reached through NAME.node beside it\n",
     NULL, s_cmd_throttle, false},
    {"policy", "NAME [--all]",
     "Sets the node's transfer policy (--all: on every node it knows, as for\n"
     "throttle).\n"
     "NAME: none (initial split only), sender, receiver, symmetric or\n"
     "predictive (on forecast capacities).\n",
     NULL, s_cmd_policy, false},
    {"submit", "[--elements N --jobs J --reps R | --input FILE] --output FILE",
     "Starts a workload on the node and prints its id alone on stdout.\n"
     "  --elements N  float64 elements of a generated vector\n"
     "  --jobs J      jobs to split it into, 1 <= J <= N\n"
     "  --reps R      kernel repetitions per element\n"
     "  --input FILE  a .npy or raw float64 file to process instead of --elements\n"
     "  --output FILE where the node writes the result (.npy)\n"
     "FILE is a path in the node's data directory (its --data-dir; /data in the\n"
     "containers), relative to it, and is sent as given. The node refuses a path\n"
     "that leads outside that directory or into its .dlb.\n",
     s_submit_defaults, s_cmd_submit, false},
    {"wait", "ID [--timeout SECS] [--stall SECS]",
     "Waits until workload ID ends, showing its progress on stderr: a bar on a\n"
     "terminal; elsewhere (a log) a line when its state changes and every 10 s.\n"
     "  --timeout SECS  give up after SECS (default: no limit)\n"
     "  --stall SECS    give up if no job is done for SECS (default: no limit):\n"
     "                  a deadline for progress, not for the whole, on a machine\n"
     "                  whose speed you do not know\n"
     "Exits 0 only if it completed and its results verified; 1 if it failed, did\n"
     "not verify, the node stopped answering, or a limit passed.\n",
     NULL, s_cmd_wait, false},
    {"events", "[--follow] [--json] [--since N]",
     "Prints the node's recent events, oldest first: workloads submitted, split,\n"
     "moved (and why), transfers, peers lost and back, throttle and policy\n"
     "changes, faults and recoveries, workload ends. Each has a sequence number.\n"
     "  --since N  only the events after number N\n"
     "  --follow   keep printing new events as they come (until Ctrl-C)\n"
     "  --json     one JSON object per event and line\n"
     "The node keeps its last events only: dlbctl says on stderr how many were\n"
     "missed, and when the node's monitor restarted (numbers start again).\n",
     NULL, s_cmd_events, false},
    {"cancel", "ID",
     "Cancels workload ID, which this node originated: its jobs are dropped here\n"
     "and on its peers, its state becomes cancelled, and it is not resumed after a\n"
     "restart. A workload that has ended, or is unknown here, is an error.\n",
     NULL, s_cmd_cancel, false},
    {"keygen", "--node NAME --keys DIR [--address HOST:PORT] | --client [--out FILE]",
     "Makes a key pair (CURVE), unless one is there already.\n"
     "  --node NAME     a node's pair, DIR/node.cert and DIR/node.cert_secret, and an\n"
     "                  admin pair for dlbctl on that machine (DIR/admin.cert, trusted\n"
     "                  by the node). Peers trust the node by its node.cert.\n"
     "  --keys DIR      the node's --keys directory (environment DLB_KEYS)\n"
     "  --address H:P   how peers list the node in --peers (goes in node.cert)\n"
     "  --client        your own pair, ~/.config/dlb/client.cert (or --out FILE),\n"
     "                  which dlbctl uses by default; a node takes your commands once\n"
     "                  that .cert is in its trusted/ directory\n"
     "  --name NAME     the client key's name in the nodes' logs (USER@HOST)\n"
     "The _secret file gets mode 600 and never leaves its machine.\n",
     NULL, s_cmd_keygen, true},
    {"help", "[COMMAND]", "Describes dlbctl or one of its commands.\n", NULL, s_cmd_help,
     true},
    {NULL, NULL, NULL, NULL, NULL, false}};

static void s_usage (FILE *out)
{
    fprintf (out, "Usage: dlbctl [--node ENDPOINT|FILE] [--node-key FILE] [--key FILE]\n"
                  "              [--timeout SECS] COMMAND [ARGS]\n"
                  "Talks to a dlb node's control socket (served by dlb-monitor).\n\n"
                  "Commands:\n");
    for (const command_t *c = s_commands; c->name; c++) {
        //  the synopsis, then the first line of the help
        int summary = (int) strcspn (c->help, "\n");
        fprintf (out, "  %s %s\n      %.*s\n", c->name, c->synopsis, summary, c->help);
    }
    fprintf (
        out,
        "\nOptions (also accepted after the command):\n"
        "  --node ENDPOINT  the node's control endpoint, tcp://HOST:PORT or HOST:PORT,\n"
        "                   or a node file (dlb-cluster writes DIR/NODE.node) naming "
        "the\n"
        "                   endpoint and keys (environment DLB_CONTROL, default %s)\n"
        "  --node-key FILE  the node's public cert (its keys' node.cert): talk to it\n"
        "                   over CURVE (environment DLB_NODE_KEY)\n"
        "  --key FILE       your key pair's cert, FILE_secret beside it (environment\n"
        "                   DLB_KEY, default ~/.config/dlb/client.cert)\n"
        "  --timeout SECS   how long to wait for each answer (default %g); after\n"
        "                   `wait`, how long to wait for the workload instead\n"
        "  --help           this text; COMMAND --help describes a command\n"
        "  --version        dlbctl's version\n"
        "Exit: 0 done, 1 the node did not answer or refused or the workload failed,\n"
        "2 bad usage.\n",
        DLBCTL_DEFAULT_ENDPOINT, DLBCTL_DEFAULT_TIMEOUT);
}

int main (int argc, char *argv[])
{
    client_t client = {.endpoint_text = DLBCTL_DEFAULT_ENDPOINT,
                       .endpoint_source = "default endpoint",
                       .timeout = DLBCTL_DEFAULT_TIMEOUT};
    const char *env = getenv ("DLB_CONTROL");
    if (env && *env) {
        client.endpoint_text = env;
        client.endpoint_source = "DLB_CONTROL";
    }
    env = getenv ("DLB_KEY");
    client.key_text = env && *env ? env : NULL;
    env = getenv ("DLB_NODE_KEY");
    client.node_key_text = env && *env ? env : NULL;
    int i = 1;
    for (; i < argc && s_is_option (argv[i]); i++) {
        const char *arg = argv[i];
        if (streq (arg, "--help") || streq (arg, "-h")) {
            s_usage (stdout);
            return EXIT_SUCCESS;
        }
        if (streq (arg, "--version")) {
            printf ("dlbctl %s\n", DLB_VERSION);
            return EXIT_SUCCESS;
        }
        if (streq (arg, "--")) {
            i++;
            break;
        }
        const char **field = NULL;
        const char *value = NULL;
        if (strncmp (arg, "--node", 6) == 0 && (arg[6] == 0 || arg[6] == '='))
            field = &client.endpoint_text;
        else if (strncmp (arg, "--timeout", 9) == 0 && (arg[9] == 0 || arg[9] == '='))
            field = &client.timeout_text;
        else if (strncmp (arg, "--key", 5) == 0 && (arg[5] == 0 || arg[5] == '='))
            field = &client.key_text;
        else if (strncmp (arg, "--node-key", 10) == 0 && (arg[10] == 0 || arg[10] == '='))
            field = &client.node_key_text;
        else
            return s_usage_error (NULL, "unknown option '%s'", arg);
        const char *eq = strchr (arg, '=');
        value = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!value)
            return s_usage_error (NULL, "option '%.*s' needs a value",
                                  (int) (eq ? eq - arg : (long) strlen (arg)), arg);
        *field = value;
        if (field == &client.endpoint_text)
            client.endpoint_source = "--node";
    }
    if (i == argc)
        return s_usage_error (NULL, "no command given");
    const command_t *command = NULL;
    for (const command_t *c = s_commands; c->name && !command; c++)
        if (streq (c->name, argv[i]))
            command = c;
    if (!command)
        return s_usage_error (NULL, "unknown command '%s'", argv[i]);

    //  Ctrl-C ends dlbctl at once: there is nothing to clean up but a
    //  socket with linger 0, so CZMQ's interrupt handler is not needed.
    zsys_handler_set (NULL);
    return command->run (&client, command, argc - i, argv + i);
}
