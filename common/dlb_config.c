/*  dlb_config: shared options of the node services and the port map.     */
#include "dlb_config.h"
#include "dlb_npy.h"
#include "dlb_policy.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_PORT_SPAN    DLB_PORT_SPAN
#define S_IPC_PATH_MAX 108 //  sizeof (struct sockaddr_un).sun_path

static const char *s_usage =
    "Options (each also read from the environment variable shown):\n"
    "  --node NAME          DLB_NODE           node name (default: host name)\n"
    "  --port N             DLB_PORT           base port; the node uses N..N+2 (7100)\n"
    "  --bind ADDR          DLB_BIND           address for control, state and transfer\n"
    "                                          sockets (127.0.0.1; 0.0.0.0 for all)\n"
    "  --advertise HOST     DLB_ADVERTISE      address peers use to reach this node\n"
    "                                          (default: --bind, or the host name)\n"
    "  --peers H:P,...      DLB_PEERS          peers' addresses and base ports\n"
    "  --threads N          DLB_THREADS        worker threads (1)\n"
    "  --throttle T         DLB_THROTTLE       initial duty cycle, 0 < T <= 1 (1.0)\n"
    "  --policy NAME        DLB_POLICY         none|sender|receiver|symmetric|\n"
    "                                          predictive (receiver)\n"
    "  --metric NAME        DLB_METRIC         eta (expected finish) or queue (eta)\n"
    "  --threshold X        DLB_THRESHOLD      imbalance that triggers a move: secs for\n"
    "                                          eta (0.05), jobs for queue (30)\n"
    "  --fraction F         DLB_FRACTION       share of the balancing amount moved at\n"
    "                                          once, 0 < F <= 1 (1.0)\n"
    "  --batch N            DLB_BATCH          jobs per transfer message (64)\n"
    "  --cpus LIST          DLB_CPUS           pin the worker's threads to these CPUs,\n"
    "                                          e.g. 0 or 0,2 or 0-3 (default: any)\n"
    "  --priority P         DLB_PRIORITY       idle: compute threads at the lowest\n"
    "                                          priority (SCHED_IDLE, else nice 19), so\n"
    "                                          the owner's processes go first; or\n"
    "                                          normal (idle)\n"
    "  --state-period MS    DLB_STATE_PERIOD   state publication period (250)\n"
    "  --stale-after MS     DLB_STALE_AFTER    peer silence before it is stale (1500)\n"
    "  --sample-period MS   DLB_SAMPLE_PERIOD  hardware sampling period (500)\n"
    "  --ack-timeout MS     DLB_ACK_TIMEOUT    resend unacknowledged batches after "
    "(2000)\n"
    "  --heartbeat MS       DLB_HEARTBEAT      period of the HOLD reports that renew\n"
    "                                          the leases of jobs held here (1000)\n"
    "  --lease MS           DLB_LEASE          silence after which an origin re-issues\n"
    "                                          the jobs a holder had (6000)\n"
    "  --data-dir DIR       DLB_DATA_DIR       the node's data directory: workload\n"
    "                                          files, and in DIR/.dlb/NODE the node's\n"
    "                                          own state (~/.local/state/dlb/NODE)\n"
    "  --keys DIR           DLB_KEYS           the node's key pair and trusted/ keys\n"
    "                                          (DIR/.dlb/NODE/keys of the data dir)\n"
    "  --insecure           DLB_INSECURE=1     no keys: anyone who reaches the ports\n"
    "                                          controls the node; only with a\n"
    "                                          loopback --bind, for development\n"
    "  --max-elements N     DLB_MAX_ELEMENTS   float64 elements a submit may have\n"
    "                                          (16777216: 128 MiB)\n"
    "  --max-jobs N         DLB_MAX_JOBS       jobs a submit may be split into (65536)\n"
    "  --max-reps N         DLB_MAX_REPS       repetitions of a submit's or a peer's\n"
    "                                          job (10000000)\n"
    "  --max-job-work N     DLB_MAX_JOB_WORK   elements x repetitions of one job,\n"
    "                                          submitted or from a peer (68719476736)\n"
    "  --help                                  this text\n"
    "  --version                               the program's name and version\n";

static bool s_loopback (const char *host)
{
    return strncmp (host, "127.", 4) == 0 || streq (host, "localhost") ||
           streq (host, "::1");
}

static void s_print_usage (FILE *out, const char *program, const char *summary)
{
    fprintf (out, "Usage: %s [OPTIONS]\n%s\n\n%s", program, summary, s_usage);
}

int dlb_config_cpus (const char *list, cpu_set_t *set)
{
    CPU_ZERO (set);
    if (!*list)
        return 0;
    const char *p = list;
    while (*p) {
        char *end;
        errno = 0;
        long first = strtol (p, &end, 10), last = first;
        if (errno || end == p || first < 0 || first >= CPU_SETSIZE)
            return -1;
        p = end;
        if (*p == '-') {
            last = strtol (++p, &end, 10);
            if (errno || end == p || last < first || last >= CPU_SETSIZE)
                return -1;
            p = end;
        }
        for (long cpu = first; cpu <= last; cpu++)
            CPU_SET ((int) cpu, set);
        if (*p == ',' && p[1])
            p++;
        else if (*p)
            return -1;
    }
    return CPU_COUNT (set);
}

int dlb_config_split_addr (const char *addr, char *host, size_t host_size, int *port)
{
    const char *colon = strrchr (addr, ':');
    if (!colon || colon == addr || (size_t) (colon - addr) >= host_size)
        return -1;
    char *end;
    errno = 0;
    long value = strtol (colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || value < 1 || value > 65535 - S_PORT_SPAN)
        return -1;
    memcpy (host, addr, colon - addr);
    host[colon - addr] = 0;
    *port = (int) value;
    return 0;
}

int dlb_config_number (const char *text, double low, double high, double *value)
{
    char *end;
    errno = 0;
    double v = strtod (text, &end);
    if (errno || end == text || *end || !isfinite (v) || v < low || v > high)
        return -1;
    *value = v;
    return 0;
}

//  Applies one option. Returns 0, or -1 with a message on stderr.
static int s_apply (dlb_config_t *cfg, const char *name, const char *value)
{
    double v;
    if (streq (name, "node")) {
        if (!*value || strlen (value) > DLB_NODE_NAME_MAX || strpbrk (value, " \t/:")) {
            fprintf (stderr,
                     "error: --node '%s': 1-40 characters, no spaces, '/' or ':'\n",
                     value);
            return -1;
        }
        snprintf (cfg->node, sizeof cfg->node, "%s", value);
    }
    else if (streq (name, "bind") || streq (name, "advertise")) {
        char *field = streq (name, "bind") ? cfg->bind : cfg->advertise;
        if (!*value || strlen (value) >= DLB_ADDR_MAX || strpbrk (value, " \t/")) {
            fprintf (stderr, "error: --%s '%s': an address or host name\n", name, value);
            return -1;
        }
        snprintf (field, DLB_ADDR_MAX, "%s", value);
    }
    else if (streq (name, "peers")) {
        cfg->peer_count = 0;
        char list[DLB_PEERS_MAX * DLB_ADDR_MAX];
        snprintf (list, sizeof list, "%s", value);
        char *saveptr = NULL;
        for (char *item = strtok_r (list, ",", &saveptr); item;
             item = strtok_r (NULL, ",", &saveptr)) {
            char host[DLB_ADDR_MAX];
            int port;
            if (cfg->peer_count == DLB_PEERS_MAX ||
                dlb_config_split_addr (item, host, sizeof host, &port)) {
                fprintf (stderr,
                         "error: --peers: '%s' is not HOST:PORT (at most %d peers)\n",
                         item, DLB_PEERS_MAX);
                return -1;
            }
            snprintf (cfg->peers[cfg->peer_count++], DLB_ADDR_MAX, "%s", item);
        }
    }
    else if (streq (name, "throttle") || streq (name, "fraction")) {
        double *field = streq (name, "throttle") ? &cfg->throttle : &cfg->fraction;
        if (dlb_config_number (value, 0, 1, &v) || v <= 0) {
            fprintf (stderr, "error: --%s '%s': a number in (0, 1]\n", name, value);
            return -1;
        }
        *field = v;
    }
    else if (streq (name, "policy")) {
        dlb_policy_t policy;
        if (dlb_policy_parse (value, &policy)) {
            fprintf (stderr, "error: --policy '%s': one of " DLB_POLICY_NAMES "\n",
                     value);
            return -1;
        }
        snprintf (cfg->policy, sizeof cfg->policy, "%s", value);
    }
    else if (streq (name, "data-dir")) {
        if (!*value || strlen (value) >= sizeof cfg->data_dir) {
            fprintf (stderr, "error: --data-dir '%s': a directory path (< %d bytes)\n",
                     value, DLB_TEXT_MAX);
            return -1;
        }
        snprintf (cfg->data_dir, sizeof cfg->data_dir, "%s", value);
    }
    else if (streq (name, "keys")) {
        if (!*value || strlen (value) >= sizeof cfg->keys) {
            fprintf (stderr, "error: --keys '%s': a directory path (< %d bytes)\n", value,
                     DLB_TEXT_MAX);
            return -1;
        }
        snprintf (cfg->keys, sizeof cfg->keys, "%s", value);
    }
    else if (streq (name, "priority")) {
        if (!streq (value, "idle") && !streq (value, "normal")) {
            fprintf (stderr, "error: --priority '%s': idle or normal\n", value);
            return -1;
        }
        cfg->idle_priority = streq (value, "idle");
    }
    else if (streq (name, "metric")) {
        dlb_metric_t metric;
        if (dlb_metric_parse (value, &metric)) {
            fprintf (stderr, "error: --metric '%s': eta or queue\n", value);
            return -1;
        }
        snprintf (cfg->metric, sizeof cfg->metric, "%s", value);
    }
    else if (streq (name, "cpus")) {
        cpu_set_t set;
        if (strlen (value) >= sizeof cfg->cpus || dlb_config_cpus (value, &set) <= 0) {
            fprintf (stderr, "error: --cpus '%s': CPU numbers and ranges, e.g. 0,2-3\n",
                     value);
            return -1;
        }
        snprintf (cfg->cpus, sizeof cfg->cpus, "%s", value);
    }
    else if (streq (name, "threshold")) {
        if (dlb_config_number (value, 0, 1e9, &v)) {
            fprintf (stderr, "error: --threshold '%s': a number >= 0\n", value);
            return -1;
        }
        cfg->threshold = v;
    }
    else if (strncmp (name, "max-", 4) == 0) {
        uint64_t *field = streq (name, "max-elements") ? &cfg->max_elements
                          : streq (name, "max-jobs")   ? &cfg->max_jobs
                          : streq (name, "max-reps")   ? &cfg->max_reps
                                                       : &cfg->max_job_work;
        //  Up to what the node could ever take: a job's elements times
        //  2^32-1 repetitions; the largest vector it reads.
        double high = field == &cfg->max_reps ? UINT32_MAX
                      : field == &cfg->max_job_work
                          ? (double) DLB_JOB_MAX_ELEMS * UINT32_MAX
                          : (double) DLB_NPY_MAX_ELEMS;
        if (dlb_config_number (value, 1, high, &v) || v != floor (v)) {
            fprintf (stderr, "error: --%s '%s': an integer 1..%.0f\n", name, value, high);
            return -1;
        }
        *field = (uint64_t) v;
    }
    else {
        int *field = streq (name, "port")            ? &cfg->port
                     : streq (name, "threads")       ? &cfg->threads
                     : streq (name, "batch")         ? &cfg->batch
                     : streq (name, "state-period")  ? &cfg->state_period
                     : streq (name, "stale-after")   ? &cfg->stale_after
                     : streq (name, "sample-period") ? &cfg->sample_period
                     : streq (name, "ack-timeout")   ? &cfg->ack_timeout
                     : streq (name, "heartbeat")     ? &cfg->heartbeat
                     : streq (name, "lease")         ? &cfg->lease
                                                     : NULL;
        assert (field);
        double high = field == &cfg->port      ? 65535 - S_PORT_SPAN
                      : field == &cfg->threads ? 256
                      : field == &cfg->batch   ? DLB_BATCH_MAX_JOBS
                                               : 600000;
        if (dlb_config_number (value, 1, high, &v) || v != floor (v)) {
            fprintf (stderr, "error: --%s '%s': an integer 1..%.0f\n", name, value, high);
            return -1;
        }
        *field = (int) v;
    }
    return 0;
}

static const struct option s_options[] = {
    {"node", required_argument, 0, 0},          {"port", required_argument, 0, 0},
    {"bind", required_argument, 0, 0},          {"advertise", required_argument, 0, 0},
    {"peers", required_argument, 0, 0},         {"threads", required_argument, 0, 0},
    {"throttle", required_argument, 0, 0},      {"policy", required_argument, 0, 0},
    {"metric", required_argument, 0, 0},        {"cpus", required_argument, 0, 0},
    {"priority", required_argument, 0, 0},      {"fraction", required_argument, 0, 0},
    {"threshold", required_argument, 0, 0},     {"batch", required_argument, 0, 0},
    {"state-period", required_argument, 0, 0},  {"stale-after", required_argument, 0, 0},
    {"sample-period", required_argument, 0, 0}, {"ack-timeout", required_argument, 0, 0},
    {"heartbeat", required_argument, 0, 0},     {"lease", required_argument, 0, 0},
    {"data-dir", required_argument, 0, 0},      {"keys", required_argument, 0, 0},
    {"insecure", no_argument, 0, 'i'},          {"max-elements", required_argument, 0, 0},
    {"max-jobs", required_argument, 0, 0},      {"max-reps", required_argument, 0, 0},
    {"max-job-work", required_argument, 0, 0},  {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, 'V'},           {0, 0, 0, 0}};

bool dlb_config_version (int argc, char *argv[], const char *program)
{
    for (int i = 1; i < argc; i++)
        if (streq (argv[i], "--version")) {
            printf ("%s %s\n", program, DLB_VERSION);
            return true;
        }
    return false;
}

int dlb_config_parse (dlb_config_t *cfg, int argc, char *argv[], const char *program,
                      const char *summary)
{
    memset (cfg, 0, sizeof *cfg);
    if (gethostname (cfg->node, DLB_NODE_NAME_MAX + 1) || !*cfg->node)
        snprintf (cfg->node, sizeof cfg->node, "node");
    cfg->node[DLB_NODE_NAME_MAX] = 0;
    cfg->node[strcspn (cfg->node, ". /:")] = 0;
    cfg->port = DLB_DEFAULT_PORT;
    snprintf (cfg->bind, sizeof cfg->bind, "127.0.0.1");
    cfg->threads = 1;
    cfg->throttle = 1.0;
    snprintf (cfg->policy, sizeof cfg->policy, "receiver");
    snprintf (cfg->metric, sizeof cfg->metric, "eta");
    cfg->threshold = -1;
    cfg->fraction = 1.0;
    cfg->idle_priority = true;
    cfg->batch = DLB_DEFAULT_BATCH;
    cfg->state_period = DLB_DEFAULT_STATE_PERIOD;
    cfg->stale_after = DLB_DEFAULT_STALE_AFTER;
    cfg->sample_period = DLB_DEFAULT_SAMPLE_PERIOD;
    cfg->ack_timeout = DLB_DEFAULT_ACK_TIMEOUT;
    cfg->heartbeat = DLB_DEFAULT_HEARTBEAT;
    cfg->lease = DLB_DEFAULT_LEASE;
    cfg->max_elements = DLB_DEFAULT_MAX_ELEMENTS;
    cfg->max_jobs = DLB_DEFAULT_MAX_JOBS;
    cfg->max_reps = DLB_DEFAULT_MAX_REPS;
    cfg->max_job_work = DLB_DEFAULT_MAX_JOB_WORK;

    //  Environment first: DLB_STATE_PERIOD for --state-period, and so on.
    for (const struct option *o = s_options; o->name; o++) {
        if (o->has_arg != required_argument)
            continue;
        char env[64] = "DLB_";
        for (size_t i = 0; o->name[i] && i + 5 < sizeof env; i++)
            env[4 + i] = o->name[i] == '-' ? '_' : (char) toupper (o->name[i]);
        const char *value = getenv (env);
        if (value && *value && s_apply (cfg, o->name, value)) {
            fprintf (stderr, "(from the environment variable %s)\n", env);
            s_print_usage (stderr, program, summary);
            return 2;
        }
    }
    const char *insecure = getenv ("DLB_INSECURE");
    cfg->insecure = insecure && (streq (insecure, "1") || streq (insecure, "yes"));
    optind = 1;
    opterr = 0;
    int index = 0, c;
    while ((c = getopt_long (argc, argv, "h", s_options, &index)) != -1) {
        if (c == 'h') {
            s_print_usage (stdout, program, summary);
            return 1;
        }
        if (c == 'V') {
            printf ("%s %s\n", program, DLB_VERSION);
            return 1;
        }
        if (c == 'i') {
            cfg->insecure = true;
            continue;
        }
        if (c == '?') {
            fprintf (stderr, "error: unknown or incomplete option '%s'\n",
                     argv[optind - 1]);
            s_print_usage (stderr, program, summary);
            return 2;
        }
        if (s_apply (cfg, s_options[index].name, optarg)) {
            s_print_usage (stderr, program, summary);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "error: unexpected argument '%s'\n", argv[optind]);
        s_print_usage (stderr, program, summary);
        return 2;
    }
    if (!*cfg->advertise) {
        //  Bound to every interface: peers can reach us by the host name.
        if (streq (cfg->bind, "0.0.0.0") || streq (cfg->bind, "*")) {
            if (gethostname (cfg->advertise, sizeof cfg->advertise) || !*cfg->advertise)
                snprintf (cfg->advertise, sizeof cfg->advertise, "%s", cfg->node);
        }
        else
            snprintf (cfg->advertise, sizeof cfg->advertise, "%s", cfg->bind);
    }
    if (cfg->lease <= cfg->heartbeat) {
        fprintf (stderr, "error: --lease %d must be longer than --heartbeat %d\n",
                 cfg->lease, cfg->heartbeat);
        s_print_usage (stderr, program, summary);
        return 2;
    }
    if (!*cfg->data_dir) {
        const char *state = getenv ("XDG_STATE_HOME"), *home = getenv ("HOME");
        if (state && *state)
            snprintf (cfg->data_dir, sizeof cfg->data_dir, "%s/dlb/%s", state, cfg->node);
        else
            snprintf (cfg->data_dir, sizeof cfg->data_dir, "%s/.local/state/dlb/%s",
                      home && *home ? home : "/tmp", cfg->node);
    }
    if (snprintf (cfg->state_dir, sizeof cfg->state_dir, "%s/%s/%s", cfg->data_dir,
                  DLB_STATE_SUBDIR, cfg->node) >= (int) sizeof cfg->state_dir) {
        fprintf (stderr, "error: --data-dir '%s' is too long\n", cfg->data_dir);
        return 2;
    }
    char endpoint[DLB_TEXT_MAX + 64];
    dlb_config_bind (cfg, DLB_PORT_INBOX (DLB_SVC_TRANSFER), endpoint, sizeof endpoint);
    if (strlen (endpoint) - strlen ("ipc://") >= S_IPC_PATH_MAX) {
        fprintf (stderr,
                 "error: --data-dir '%s' is too long for the node's private sockets "
                 "(%s has more than %d bytes): give a shorter one\n",
                 cfg->data_dir, endpoint + strlen ("ipc://"), S_IPC_PATH_MAX - 1);
        return 2;
    }
    if (!*cfg->keys)
        snprintf (cfg->keys, sizeof cfg->keys, "%.*s/keys", DLB_TEXT_MAX - 8,
                  cfg->state_dir);
    if (cfg->insecure && !s_loopback (cfg->bind)) {
        fprintf (stderr,
                 "error: --insecure with --bind %s: a node without keys may only listen "
                 "on a loopback address (127.0.0.1)\n",
                 cfg->bind);
        return 2;
    }
    if (cfg->threshold < 0)
        cfg->threshold = streq (cfg->metric, "queue") ? DLB_DEFAULT_QUEUE_THRESHOLD
                                                      : DLB_DEFAULT_ETA_THRESHOLD;
    return 0;
}

static bool s_external (int offset)
{
    return offset == DLB_PORT_CONTROL || offset == DLB_PORT_STATE ||
           offset == DLB_PORT_TRANSFER;
}

void dlb_config_run_dir (const dlb_config_t *cfg, char *buf, size_t size)
{
    snprintf (buf, size, "%s/run", cfg->state_dir);
}

//  A private endpoint: ipc://RUN/BASE.bus.SERVICE or RUN/BASE.in.SERVICE.
static void s_private (const dlb_config_t *cfg, int offset, char *buf, size_t size)
{
    static const char *names[] = {"monitor", "worker", "state", "transfer", "adaptor"};
    bool bus = offset < DLB_PORT_INBOX (0);
    int k = offset - (bus ? DLB_PORT_BUS (0) : DLB_PORT_INBOX (0));
    assert (k >= 0 && k < 5);
    snprintf (buf, size, "ipc://%s/run/%d.%s.%s", cfg->state_dir, cfg->port,
              bus ? "bus" : "in", names[k]);
}

void dlb_config_bind (const dlb_config_t *cfg, int offset, char *buf, size_t size)
{
    if (!s_external (offset)) {
        s_private (cfg, offset, buf, size);
        return;
    }
    const char *host = cfg->bind;
    if (streq (host, "0.0.0.0"))
        host = "*";
    snprintf (buf, size, "tcp://%s:%d", host, cfg->port + offset);
}

void dlb_config_local (const dlb_config_t *cfg, int offset, char *buf, size_t size)
{
    if (!s_external (offset)) {
        s_private (cfg, offset, buf, size);
        return;
    }
    const char *host = cfg->bind;
    if (streq (host, "0.0.0.0") || streq (host, "*"))
        host = "127.0.0.1";
    snprintf (buf, size, "tcp://%s:%d", host, cfg->port + offset);
}

void dlb_config_advertised (const dlb_config_t *cfg, int offset, char *buf, size_t size)
{
    snprintf (buf, size, "tcp://%s:%d", cfg->advertise, cfg->port + offset);
}

int dlb_config_peer (const dlb_config_t *cfg, size_t i, int offset, char *buf,
                     size_t size)
{
    char host[DLB_ADDR_MAX];
    int port;
    if (i >= cfg->peer_count ||
        dlb_config_split_addr (cfg->peers[i], host, sizeof host, &port))
        return -1;
    snprintf (buf, size, "tcp://%s:%d", host, port + offset);
    return 0;
}

void dlb_config_test (bool verbose)
{
    (void) verbose;
    dlb_config_t cfg;
    //  Port numbers are only parsed and formatted here, never bound.
    const int base = DLB_DEFAULT_PORT + 100, peer = base + 100, other = base + 200;
    char port[16], peers[64], ep[DLB_TEXT_MAX + 64], expected[DLB_TEXT_MAX + 64];
    snprintf (port, sizeof port, "%d", base);
    snprintf (peers, sizeof peers, "127.0.0.1:%d,b:%d", peer, other);
    char *ok_args[] = {"x",       "--node",   "a",          "--port", port,
                       "--peers", peers,      "--throttle", "0.5",    "--policy",
                       "sender",  "--metric", "queue"};
    assert (dlb_config_parse (&cfg, 13, ok_args, "x", "test") == 0);
    assert (streq (cfg.node, "a") && cfg.port == base && cfg.peer_count == 2);
    assert (cfg.throttle == 0.5 && streq (cfg.policy, "sender"));
    assert (cfg.threshold == DLB_DEFAULT_QUEUE_THRESHOLD);
    dlb_config_bind (&cfg, DLB_PORT_STATE, ep, sizeof ep);
    snprintf (expected, sizeof expected, "tcp://127.0.0.1:%d", base + DLB_PORT_STATE);
    assert (streq (ep, expected));
    dlb_config_bind (&cfg, DLB_PORT_BUS (DLB_SVC_WORKER), ep, sizeof ep);
    snprintf (expected, sizeof expected, "ipc://%s/run/%d.bus.worker", cfg.state_dir,
              base);
    assert (streq (ep, expected));
    dlb_config_local (&cfg, DLB_PORT_INBOX (DLB_SVC_ADAPTOR), ep, sizeof ep);
    snprintf (expected, sizeof expected, "ipc://%s/run/%d.in.adaptor", cfg.state_dir,
              base);
    assert (streq (ep, expected));
    assert (strstr (cfg.keys, "/.dlb/a/keys"));
    assert (dlb_config_peer (&cfg, 1, DLB_PORT_STATE, ep, sizeof ep) == 0);
    snprintf (expected, sizeof expected, "tcp://b:%d", other + DLB_PORT_STATE);
    assert (streq (ep, expected));
    dlb_config_advertised (&cfg, DLB_PORT_TRANSFER, ep, sizeof ep);
    snprintf (expected, sizeof expected, "tcp://127.0.0.1:%d", base + DLB_PORT_TRANSFER);
    assert (streq (ep, expected));

    //  Bad values are refused (the messages go to stderr).
    FILE *saved = stderr;
    stderr = fopen ("/dev/null", "w");
    char over[16]; //  a port past the last one
    snprintf (over, sizeof over, "%d", UINT16_MAX + 1);
    char *bad[][3] = {{"x", "--throttle", "0"},   {"x", "--throttle", "1.5"},
                      {"x", "--port", over},      {"x", "--peers", "nohost"},
                      {"x", "--policy", "magic"}, {"x", "--threads", "2.5"},
                      {"x", "--node", "a b"},     {"x", "--bogus", "1"},
                      {"x", "--fraction", "0"},   {"x", "--max-reps", "0"},
                      {"x", "--max-jobs", "1.5"}, {"x", "--max-reps", "5e9"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert (dlb_config_parse (&cfg, 3, bad[i], "x", "test") == 2);
    //  Without keys only on loopback; private sockets need a short path.
    char *open_insecure[] = {"x", "--insecure", "--bind", "0.0.0.0"};
    assert (dlb_config_parse (&cfg, 4, open_insecure, "x", "test") == 2);
    char *local_insecure[] = {"x", "--insecure", "--bind", "127.0.0.1"};
    assert (dlb_config_parse (&cfg, 4, local_insecure, "x", "test") == 0 && cfg.insecure);
    char deep[300];
    memset (deep, 'd', sizeof deep - 1);
    deep[0] = '/';
    deep[sizeof deep - 1] = 0;
    char *long_dir[] = {"x", "--data-dir", deep};
    assert (dlb_config_parse (&cfg, 3, long_dir, "x", "test") == 2);
    fclose (stderr);
    stderr = saved;

    cpu_set_t set;
    assert (dlb_config_cpus ("0,2-3", &set) == 3 && CPU_ISSET (2, &set));
    assert (dlb_config_cpus ("", &set) == 0);
    assert (dlb_config_cpus ("1-", &set) == -1 && dlb_config_cpus ("a", &set) == -1);
    assert (dlb_config_cpus ("3-1", &set) == -1 && dlb_config_cpus ("0,", &set) == -1);
    char *priority[] = {"x", "--priority", "normal"};
    assert (dlb_config_parse (&cfg, 3, priority, "x", "test") == 0 && !cfg.idle_priority);
    char *bad_priority[] = {"x", "--priority", "low"};
    assert (dlb_config_parse (&cfg, 3, bad_priority, "x", "test") == 2);
    char *fraction[] = {"x", "--fraction", "0.5"};
    assert (dlb_config_parse (&cfg, 3, fraction, "x", "test") == 0 &&
            cfg.fraction == 0.5);
    setenv ("DLB_THROTTLE", "0.25", 1);
    char *none[] = {"x"};
    assert (dlb_config_parse (&cfg, 1, none, "x", "test") == 0);
    assert (cfg.throttle == 0.25);
    unsetenv ("DLB_THROTTLE");
    //  The caps on one request: defaults, and set.
    assert (cfg.max_elements == DLB_DEFAULT_MAX_ELEMENTS &&
            cfg.max_job_work == DLB_DEFAULT_MAX_JOB_WORK);
    setenv ("DLB_MAX_JOB_WORK", "1000000000000", 1);
    char *caps[] = {"x", "--max-elements", "1000", "--max-reps", "4294967295"};
    assert (dlb_config_parse (&cfg, 5, caps, "x", "test") == 0);
    assert (cfg.max_elements == 1000 && cfg.max_reps == UINT32_MAX &&
            cfg.max_job_work == 1000000000000ULL && cfg.max_jobs == DLB_DEFAULT_MAX_JOBS);
    unsetenv ("DLB_MAX_JOB_WORK");
}
