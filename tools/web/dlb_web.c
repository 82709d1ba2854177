/*  dlb_web: the dashboard server of dlb-web (see dlb_web.h).

    Shared state (guarded by self->lock):
      - per attached node (source): its last status REPLY (msgpack, owned),
        whether it answered, its error, whether it has `events`;
      - tick: a counter and the JSON of the latest round (every source's
        status as the node sent it, plus the sample of the history);
      - history: a ring of DLB_WEB_HISTORY samples (JSON texts);
      - events: a ring of DLB_WEB_EVENTS event JSON texts, numbered by
        events_total (the index a page asks from).
    Events come from the nodes' `events` command and, for what any node's
    status shows changing (a node going stale or live, a throttle or
    policy change, a workload starting or ending, a node dlb-web cannot
    reach), from dlb-web itself (service "dlb-web"), so that the list
    tells the story also of nodes without `events`.

    HTTP: GET / (index.html), /app.css, /app.js, /api/status, /api/events,
    /api/stream (text/event-stream: "history" and "events" at once, then
    "tick" and "events" as they come), /metrics; POST /api/throttle,
    /api/policy, /api/submit, /api/cancel with a form body. With a token,
    every request needs it (cookie dlb_token, set by /?token=..., or
    Authorization: Bearer). Every POST needs X-DLB-CSRF: 1 (a header a
    cross-origin page cannot send without a CORS preflight, which dlb-web
    never grants), and an Origin, if any, equal to http://HOST.          */
#include "dlb_web.h"

#include "dlb_command.h"
#include "dlb_policy.h"
#include "dlb_status.h"
#include "dlb_web_assets.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef struct {
    dlb_client_t client;
    dlb_client_conn_t conn;  //  kept across polls: one handshake, not one a poll
    char name[DLB_NAME_MAX]; //  from its status, "" until it answered
    bool ok;                 //  the last status request worked
    char error[DLB_CLIENT_ERROR_MAX];
    dlb_msg_t *status; //  last good status REPLY (owned; body points into it)
    bool has_status;
    int events;           //  1 answers `events`, 0 not yet known, -1 does not
    int64_t events_retry; //  zclock_mono when to ask again (events -1)
    uint64_t events_next, events_epoch;
    uint64_t polls, failures; //  status requests and failed ones
} source_t;

//  What dlb-web last saw of a node or workload, to tell changes as events.
typedef struct {
    char name[DLB_NAME_MAX];
    double throttle;
    char policy[32];
    int stale; //  -1 unknown
} seen_node_t;

struct dlb_web_t {
    dlb_web_options_t options;
    struct MHD_Daemon *daemon;
    char host[DLB_TEXT_MAX]; //  as listened on, for messages
    bool loopback;
    char token[DLB_WEB_TOKEN_MAX]; //  "" for none
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool stopping;
    source_t sources[DLB_WEB_SOURCES_MAX];
    size_t source_count;
    uint64_t tick;
    char *tick_json;
    char *history[DLB_WEB_HISTORY];
    uint64_t history_total;
    char *events[DLB_WEB_EVENTS];
    uint64_t events_total;
    uint64_t requests_total, commands_total, commands_failed;
    //  poller only
    seen_node_t seen[DLB_WEB_NODES_MAX];
    size_t seen_count;
    zhashx_t *seen_workloads; //  id -> "state/verified"
    bool seen_reachable[DLB_WEB_SOURCES_MAX];
};

//  ---------------------------------------------------------------------
//  Small helpers

//  A growable text (open_memstream). s_text_new cannot fail but on out
//  of memory, which asserts (like CZMQ's allocations).
typedef struct {
    char *data;
    size_t size;
    FILE *out;
} text_t;

static void s_text_new (text_t *t)
{
    t->data = NULL;
    t->size = 0;
    t->out = open_memstream (&t->data, &t->size);
    assert (t->out);
}

//  Ends the text; returns it (caller frees).
static char *s_text_end (text_t *t)
{
    fclose (t->out);
    return t->data;
}

static double s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static double s_num (const msgpack_object *map, const char *key)
{
    double value;
    return map && dlb_obj_double (map, key, &value) == 0 ? value : NAN;
}

static void s_str (const msgpack_object *map, const char *key, char *buf, size_t size)
{
    if (!map || dlb_obj_str (map, key, buf, size))
        snprintf (buf, size, "?");
}

static const msgpack_object *s_item (const msgpack_object *map, const char *key,
                                     uint32_t i)
{
    const msgpack_object_array *array;
    if (!map || dlb_obj_array (map, key, &array) || i >= array->size)
        return NULL;
    const msgpack_object *item = &array->ptr[i];
    return item->type == MSGPACK_OBJECT_MAP ? item : NULL;
}

static void s_json_str (FILE *out, const char *text)
{
    dlb_client_json_string (out, text, strlen (text));
}

bool dlb_web_token_equal (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char) a[i] ^ (unsigned char) b[i % (lb ? lb : 1)];
    return diff == 0 && lb > 0;
}

bool dlb_web_is_loopback (const char *host)
{
    if (streq (host, "localhost") || streq (host, "::1") || streq (host, "[::1]"))
        return true;
    struct in_addr addr;
    return inet_pton (AF_INET, host, &addr) == 1 && (ntohl (addr.s_addr) >> 24) == 127;
}

//  ---------------------------------------------------------------------
//  Events (poller, lock held)

//  Adds an event (JSON object text, taken) to the ring; the oldest goes.
static void s_event_add (dlb_web_t *self, char *json)
{
    char **slot = &self->events[self->events_total % DLB_WEB_EVENTS];
    free (*slot);
    *slot = json;
    self->events_total++;
}

//  An event of dlb-web's own, about node: kind and text.
static void s_event_own (dlb_web_t *self, const char *node, const char *kind,
                         const char *workload, const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));

static void s_event_own (dlb_web_t *self, const char *node, const char *kind,
                         const char *workload, const char *format, ...)
{
    char message[DLB_TEXT_MAX * 2];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    text_t t;
    s_text_new (&t);
    fprintf (t.out, "{\"time_us\":%.0f,\"node\":", s_now () * 1e6);
    s_json_str (t.out, node);
    fprintf (t.out, ",\"service\":\"dlb-web\",\"kind\":");
    s_json_str (t.out, kind);
    fprintf (t.out, ",\"workload\":");
    s_json_str (t.out, workload ? workload : "");
    fprintf (t.out, ",\"text\":");
    s_json_str (t.out, message);
    fprintf (t.out, "}");
    s_event_add (self, s_text_end (&t));
}

//  ---------------------------------------------------------------------
//  The view: one entry per node, the freshest the sources have.

typedef struct {
    const char *name; //  points into a status reply
    char name_buf[DLB_NAME_MAX];
    dlb_status_node_t st;   //  its record in a status reply
    const source_t *source; //  the attached node that is this node, or NULL
} view_node_t;

//  Fills view (at most DLB_WEB_NODES_MAX) from the sources' status
//  replies: a node's own answer first, else the attached node's view of
//  it, else any other's. Returns the count. Lock held. Cannot fail.
static size_t s_view (const dlb_web_t *self, view_node_t *view)
{
    size_t count = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t s = 0; s < self->source_count; s++) {
            const source_t *source = &self->sources[s];
            if (!source->has_status)
                continue;
            for (uint32_t i = 0;; i++) {
                const msgpack_object *entry = s_item (source->status->body, "nodes", i);
                if (!entry)
                    break;
                dlb_status_node_t st;
                char reason[DLB_CLIENT_ERROR_MAX];
                if (dlb_status_node_decode (entry, &st, reason, sizeof reason))
                    continue; //  a malformed record: left out of the view
                bool local = st.local;
                //  pass 0: each node's own entry, if that node answered
                //  this round; pass 1: the others' views, first come.
                if (pass == 0 && (!local || !source->ok))
                    continue;
                const char *name = st.node;
                bool known = false;
                for (size_t v = 0; v < count && !known; v++)
                    known = streq (view[v].name_buf, name);
                if (known || count == DLB_WEB_NODES_MAX)
                    continue;
                view_node_t *node = &view[count++];
                snprintf (node->name_buf, sizeof node->name_buf, "%s", name);
                node->name = node->name_buf;
                node->st = st;
                node->source = local ? source : NULL;
            }
        }
    return count;
}

//  Tells as events what changed in the view since the last round. Lock held.
static void s_observe (dlb_web_t *self, const view_node_t *view, size_t count)
{
    for (size_t v = 0; v < count; v++) {
        const dlb_status_node_t *e = &view[v].st;
        seen_node_t *seen = NULL;
        for (size_t i = 0; i < self->seen_count && !seen; i++)
            if (streq (self->seen[i].name, view[v].name))
                seen = &self->seen[i];
        double throttle = e->throttle;
        const char *policy = e->policy;
        int stale = e->stale;
        if (!seen) {
            if (self->seen_count == DLB_WEB_NODES_MAX)
                continue;
            seen = &self->seen[self->seen_count++];
            snprintf (seen->name, sizeof seen->name, "%s", view[v].name);
            s_event_own (self, view[v].name, "peer", NULL,
                         "node %s seen (throttle %.2f, policy %s%s)", view[v].name,
                         throttle, policy, stale ? ", stale" : "");
        }
        else {
            if (fabs (throttle - seen->throttle) > 1e-9)
                s_event_own (self, view[v].name, "throttle", NULL,
                             "throttle of %s: %.2f -> %.2f", view[v].name, seen->throttle,
                             throttle);
            if (!streq (policy, seen->policy))
                s_event_own (self, view[v].name, "policy", NULL, "policy of %s: %s -> %s",
                             view[v].name, seen->policy, policy);
            if (stale != seen->stale)
                s_event_own (self, view[v].name, "peer", NULL, "node %s is %s",
                             view[v].name, stale ? "stale (silent)" : "live again");
        }
        seen->throttle = throttle;
        snprintf (seen->policy, sizeof seen->policy, "%s", policy);
        seen->stale = stale;
    }
    for (size_t s = 0; s < self->source_count; s++) {
        const source_t *source = &self->sources[s];
        if (source->ok != self->seen_reachable[s] && (source->ok || source->polls > 1))
            s_event_own (
                self, *source->name ? source->name : source->client.endpoint, "web", NULL,
                source->ok ? "dlb-web reaches %s" : "dlb-web cannot reach %s: %s",
                source->client.endpoint, source->error);
        self->seen_reachable[s] = source->ok;
        if (!source->ok || !source->has_status)
            continue;
        for (uint32_t i = 0;; i++) {
            const msgpack_object *w = s_item (source->status->body, "workloads", i);
            if (!w)
                break;
            dlb_status_workload_t wl;
            char reason[DLB_CLIENT_ERROR_MAX], now[64];
            if (dlb_status_workload_decode (w, &wl, reason, sizeof reason))
                continue;
            const char *id = wl.id, *state = wl.state;
            bool verified = wl.verified;
            snprintf (now, sizeof now, "%s/%d", state, verified);
            const char *before = zhashx_lookup (self->seen_workloads, id);
            if (before && streq (before, now))
                continue;
            if (!before && !streq (state, "running") && self->tick == 0) {
                zhashx_update (self->seen_workloads, id, now); //  ended before we came
                continue;
            }
            if (streq (state, "running"))
                s_event_own (self, source->name, "workload", id,
                             "workload %s running: %" PRIu64 " jobs of %" PRIu64
                             " elements",
                             id, wl.jobs, wl.elements);
            else
                s_event_own (self, source->name, "workload", id,
                             "workload %s %s in %.2f s%s%s%s", id, state, wl.elapsed_s,
                             verified ? ", verified" : "", *wl.error ? ": " : "",
                             wl.error);
            zhashx_update (self->seen_workloads, id, now);
        }
    }
}

//  ---------------------------------------------------------------------
//  Polling

//  Asks a source for its status. Takes the lock only to store the answer.
static void s_poll_status (dlb_web_t *self, source_t *source)
{
    dlb_writer_t request;
    dlb_command_start (&request, "status", 0);
    //  On the heap: a dlb_msg_t's body points into the struct itself.
    dlb_msg_t *reply = malloc (sizeof *reply), *old = NULL;
    assert (reply);
    char err[DLB_CLIENT_ERROR_MAX];
    int rc = dlb_client_request_on (&source->client, &source->conn, &request, reply, err,
                                    sizeof err, NULL, 0);
    pthread_mutex_lock (&self->lock);
    source->polls++;
    if (rc == 0) {
        old = source->status;
        source->status = reply;
        reply = NULL;
        source->has_status = true;
        source->ok = true;
        source->error[0] = 0;
        s_str (source->status->body, "node", source->name, sizeof source->name);
    }
    else {
        source->ok = false;
        source->failures++;
        snprintf (source->error, sizeof source->error, "%s", err);
    }
    pthread_mutex_unlock (&self->lock);
    if (old)
        dlb_msg_release (old);
    free (old);
    free (reply);
}

//  Asks a source for the events after the last it gave, if it has the
//  command (an "unknown command 'events'" means it has not: asked again
//  after DLB_WEB_EVENTS_RETRY, in case it was upgraded).
static void s_poll_events (dlb_web_t *self, source_t *source)
{
    if (!source->ok || (source->events < 0 && zclock_mono () < source->events_retry))
        return;
    dlb_writer_t request;
    dlb_command_start (&request, "events", 2);
    dlb_writer_u64 (&request, "since", source->events_next);
    dlb_writer_u64 (&request, "max", DLB_WEB_EVENTS_ASK);
    dlb_msg_t reply;
    char err[DLB_CLIENT_ERROR_MAX], refusal[DLB_TEXT_MAX];
    int rc = dlb_client_request_on (&source->client, &source->conn, &request, &reply, err,
                                    sizeof err, refusal, sizeof refusal);
    if (rc == -2 && strstr (refusal, "unknown command")) {
        source->events = -1;
        source->events_retry = zclock_mono () + DLB_WEB_EVENTS_RETRY;
        return;
    }
    if (rc) {
        zsys_warning ("dlb-web: events of %s: %s", source->client.endpoint, err);
        return;
    }
    source->events = 1;
    uint64_t epoch = 0, next = source->events_next;
    dlb_obj_u64 (reply.body, "epoch", &epoch);
    if (epoch != source->events_epoch) {
        //  The node's stream began anew (it restarted): read it from the
        //  start next time, keeping what we have.
        source->events_epoch = epoch;
        source->events_next = 0;
        dlb_msg_release (&reply);
        return;
    }
    pthread_mutex_lock (&self->lock);
    for (uint32_t i = 0;; i++) {
        const msgpack_object *event = s_item (reply.body, "events", i);
        if (!event)
            break;
        text_t t;
        s_text_new (&t);
        dlb_client_json (t.out, event);
        s_event_add (self, s_text_end (&t));
    }
    uint64_t missed = 0;
    if (dlb_obj_u64 (reply.body, "missed", &missed) == 0 && missed)
        s_event_own (self, source->name, "web", NULL,
                     "%" PRIu64 " events of %s were gone before dlb-web asked", missed,
                     source->name);
    pthread_mutex_unlock (&self->lock);
    if (dlb_obj_u64 (reply.body, "next", &next) == 0)
        source->events_next = next;
    dlb_msg_release (&reply);
}

//  Builds the history sample and the tick of this round. Lock held.
static void s_publish (dlb_web_t *self)
{
    view_node_t view[DLB_WEB_NODES_MAX];
    size_t count = s_view (self, view);
    s_observe (self, view, count);
    double now = s_now ();

    text_t t;
    s_text_new (&t);
    fprintf (t.out, "{\"t\":%.3f,\"n\":{", now);
    for (size_t v = 0; v < count; v++) {
        if (v)
            fputc (',', t.out);
        s_json_str (t.out, view[v].name);
        fputc (':', t.out);
        fputc ('[', t.out);
        dlb_client_json_double (t.out, view[v].st.queue + view[v].st.running);
        fputc (',', t.out);
        dlb_client_json_double (t.out, view[v].st.owner);
        fputc (',', t.out);
        dlb_client_json_double (t.out, view[v].st.owner_forecast);
        fputc (']', t.out);
    }
    fprintf (t.out, "}}");
    char *sample = s_text_end (&t);
    char **slot = &self->history[self->history_total % DLB_WEB_HISTORY];
    free (*slot);
    *slot = sample;
    self->history_total++;

    s_text_new (&t);
    fprintf (t.out, "{\"tick\":%" PRIu64 ",\"time\":%.3f,\"version\":", self->tick + 1,
             now);
    s_json_str (t.out, DLB_WEB_VERSION);
    fprintf (t.out, ",\"attached\":");
    s_json_str (t.out, self->sources[0].name);
    fprintf (t.out, ",\"sources\":[");
    for (size_t s = 0; s < self->source_count; s++) {
        const source_t *source = &self->sources[s];
        fprintf (t.out, "%s{\"name\":", s ? "," : "");
        s_json_str (t.out, source->name);
        fprintf (t.out, ",\"endpoint\":");
        s_json_str (t.out, source->client.endpoint);
        fprintf (t.out, ",\"ok\":%s,\"error\":", source->ok ? "true" : "false");
        s_json_str (t.out, source->error);
        fprintf (t.out, ",\"events\":%d,\"status\":", source->events);
        if (source->has_status)
            dlb_client_json (t.out, source->status->body);
        else
            fputs ("null", t.out);
        fputc ('}', t.out);
    }
    fprintf (t.out, "],\"sample\":%s,\"events_total\":%" PRIu64 "}", sample,
             self->events_total);
    free (self->tick_json);
    self->tick_json = s_text_end (&t);
    self->tick++;
    pthread_cond_broadcast (&self->changed);
}

void dlb_web_run (dlb_web_t *self, volatile int *stop)
{
    while (!*stop) {
        int64_t start = zclock_mono ();
        for (size_t s = 0; s < self->source_count && !*stop; s++) {
            s_poll_status (self, &self->sources[s]);
            s_poll_events (self, &self->sources[s]);
        }
        pthread_mutex_lock (&self->lock);
        s_publish (self);
        pthread_mutex_unlock (&self->lock);
        int64_t rest = start + DLB_WEB_PERIOD - zclock_mono ();
        while (rest > 0 && !*stop) {
            zclock_sleep (rest > 100 ? 100 : (int) rest);
            rest = start + DLB_WEB_PERIOD - zclock_mono ();
        }
    }
}

//  ---------------------------------------------------------------------
//  /metrics (Prometheus text exposition 0.0.4). Lock held.

//  A label value, escaped.
static void s_label (FILE *out, const char *value)
{
    for (const char *c = value; *c; c++) {
        if (*c == '\\' || *c == '"')
            fputc ('\\', out);
        if (*c == '\n')
            fputs ("\\n", out);
        else
            fputc (*c, out);
    }
}

static void s_value (FILE *out, double value)
{
    if (isnan (value))
        fputs ("NaN", out);
    else if (isinf (value))
        fputs (value > 0 ? "+Inf" : "-Inf", out);
    else
        dlb_client_json_double (out, value);
    fputc ('\n', out);
}

static void s_family (FILE *out, const char *name, const char *type, const char *help)
{
    fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

//  Per node figures: the family, the record's field, its scale to base
//  units, and whether a peer's view of the node has it (else only the
//  node's own answer does).
typedef struct {
    const char *name, *type, *help;
    size_t field; //  offsetof a double in dlb_status_node_t
    double scale;
    bool own; //  only from the node itself
} node_metric_t;

#define S_FIELD(f) offsetof (dlb_status_node_t, f)

static const node_metric_t s_node_metrics[] = {
    {"dlb_jobs_done_total", "counter", "Jobs the node has run.", S_FIELD (done), 1,
     false},
    {"dlb_jobs_sent_total", "counter", "Jobs the node has moved to peers.",
     S_FIELD (sent), 1, false},
    {"dlb_jobs_received_total", "counter", "Jobs the node has received from peers.",
     S_FIELD (received), 1, false},
    {"dlb_queue_jobs", "gauge", "Jobs queued on the node.", S_FIELD (queue), 1, false},
    {"dlb_running_jobs", "gauge", "Jobs the node is running.", S_FIELD (running), 1,
     false},
    {"dlb_rate_jobs_per_second", "gauge", "The node's measured job rate.", S_FIELD (rate),
     1, false},
    {"dlb_throttle_ratio", "gauge", "The node's duty cycle, 0 < throttle <= 1.",
     S_FIELD (throttle), 1, false},
    {"dlb_cpu_ratio", "gauge", "Busy share of all the node's machine's CPUs, 0 to 1.",
     S_FIELD (cpu), 0.01, false},
    {"dlb_owner_load_ratio", "gauge",
     "Load of the machine's owner on the node's CPUs (busy share minus the node's own).",
     S_FIELD (owner), 0.01, false},
    {"dlb_owner_load_forecast_ratio", "gauge",
     "Forecast mean owner load over the node's remaining work.", S_FIELD (owner_forecast),
     0.01, false},
    {"dlb_available_cpus", "gauge", "CPUs the node's worker is predicted to get.",
     S_FIELD (avail), 1, false},
    {"dlb_capacity_jobs_per_second", "gauge",
     "The node's predicted capacity (0 before a rate is measured).", S_FIELD (capacity),
     1, false},
    {"dlb_age_seconds", "gauge", "Seconds since the node was last heard.", S_FIELD (age),
     1, false},
    {"dlb_service_restarts_total", "counter",
     "Services of the node its monitor saw start again (a new process) since it started.",
     S_FIELD (restarts), 1, true},
    {NULL, NULL, NULL, 0, 0, false}};

typedef struct {
    const char *name, *type, *help, *key;
} plain_metric_t;

//  Per workload figures: the family and the record's count (a uint64_t
//  field of dlb_status_workload_t); elapsed_s, a double, is written apart.
typedef struct {
    const char *name, *type, *help;
    size_t field;
} workload_metric_t;

#define S_WL(f) offsetof (dlb_status_workload_t, f)
static const workload_metric_t s_workload_metrics[] = {
    {"dlb_workload_jobs", "gauge", "Jobs the workload was split into.", S_WL (jobs)},
    {"dlb_workload_jobs_completed", "gauge", "Jobs of the workload with a result.",
     S_WL (completed)},
    {"dlb_workload_duplicates_total", "counter",
     "Results that arrived for a job already done.", S_WL (duplicates)},
    {"dlb_workload_elements", "gauge", "Elements of the workload's vector.",
     S_WL (elements)},
    {"dlb_workload_rejected_total", "counter",
     "Results dropped because their sender was never given the job.", S_WL (rejected)},
    {"dlb_workload_audited_total", "counter",
     "Peers' results the origin ran again to check.", S_WL (audited)},
    {NULL, NULL, NULL, 0}};

static const plain_metric_t s_transfer_metrics[] = {
    {"dlb_transfer_jobs_sent_total", "counter", "Jobs sent to peers.", "jobs_sent"},
    {"dlb_transfer_jobs_received_total", "counter", "Jobs received from peers.",
     "jobs_received"},
    {"dlb_transfer_results_sent_total", "counter", "Results sent back to origins.",
     "results_sent"},
    {"dlb_transfer_results_received_total", "counter", "Results received from peers.",
     "results_received"},
    {"dlb_transfer_sent_raw_bytes_total", "counter", "Bytes sent, before compression.",
     "raw_bytes"},
    {"dlb_transfer_sent_wire_bytes_total", "counter", "Bytes sent on the wire.",
     "wire_bytes"},
    {"dlb_transfer_received_raw_bytes_total", "counter", "Bytes received, decompressed.",
     "raw_in"},
    {"dlb_transfer_received_wire_bytes_total", "counter", "Bytes received on the wire.",
     "wire_in"},
    {"dlb_transfer_resends_total", "counter", "Batches sent again (no ACK in time).",
     "resends"},
    {"dlb_transfer_dropped_total", "counter",
     "Batches dropped (bad, or from a stranger).", "dropped"},
    {"dlb_transfer_duplicates_total", "counter", "Batches received twice.", "duplicates"},
    {"dlb_transfer_returned_total", "counter", "Jobs returned to their origin.",
     "returned"},
    {"dlb_transfer_pending_batches", "gauge", "Batches sent and not yet acknowledged.",
     "pending"},
    {NULL, NULL, NULL, NULL}};

//  Writes one sample of a per-workload family: NAME{node,workload} VALUE.
static void s_workload_sample (FILE *out, const char *name, const char *node,
                               const char *workload, double value)
{
    fprintf (out, "%s{node=\"", name);
    s_label (out, node);
    fputs ("\",workload=\"", out);
    s_label (out, workload);
    fputs ("\"} ", out);
    s_value (out, value);
}

static char *s_metrics (dlb_web_t *self)
{
    view_node_t view[DLB_WEB_NODES_MAX];
    size_t count = s_view (self, view);
    text_t t;
    s_text_new (&t);
    FILE *out = t.out;
    for (const node_metric_t *m = s_node_metrics; m->name; m++) {
        s_family (out, m->name, m->type, m->help);
        for (size_t v = 0; v < count; v++) {
            if (m->own && !view[v].source)
                continue;
            double value = *(const double *) ((const char *) &view[v].st + m->field);
            fprintf (out, "%s{node=\"", m->name);
            s_label (out, view[v].name);
            fputs ("\"} ", out);
            s_value (out, value * m->scale);
        }
    }
    s_family (out, "dlb_node_stale", "gauge",
              "1 if the node has gone silent (as the node that reports it last heard).");
    for (size_t v = 0; v < count; v++) {
        fputs ("dlb_node_stale{node=\"", out);
        s_label (out, view[v].name);
        fputs ("\"} ", out);
        s_value (out, view[v].st.stale);
    }
    s_family (out, "dlb_node_policy_info", "gauge",
              "The node's transfer policy (value 1).");
    for (size_t v = 0; v < count; v++) {
        fputs ("dlb_node_policy_info{node=\"", out);
        s_label (out, view[v].name);
        fputs ("\",policy=\"", out);
        s_label (out, view[v].st.policy);
        fputs ("\"} 1\n", out);
    }
    s_family (out, "dlb_up", "gauge",
              "1 if the node's control socket answered dlb-web's last status request.");
    for (size_t s = 0; s < self->source_count; s++) {
        const source_t *source = &self->sources[s];
        fputs ("dlb_up{node=\"", out);
        s_label (out, *source->name ? source->name : source->client.endpoint);
        fputs ("\"} ", out);
        s_value (out, source->ok);
    }
    s_family (out, "dlb_services_up", "gauge",
              "Services of the node heard from in the last 3 s (of 5).");
    for (size_t s = 0; s < self->source_count; s++) {
        const source_t *source = &self->sources[s];
        const msgpack_object_array *services;
        if (!source->ok || dlb_obj_array (source->status->body, "services", &services))
            continue;
        fputs ("dlb_services_up{node=\"", out);
        s_label (out, source->name);
        fputs ("\"} ", out);
        s_value (out, services->size);
    }
    //  Workloads, from each attached node (a workload's origin): labels
    //  node (origin) and workload.
    //  Every attached origin's workloads, decoded once.
    size_t total = 0;
    for (size_t s = 0; s < self->source_count; s++)
        for (uint32_t i = 0; self->sources[s].has_status; i++)
            if (!s_item (self->sources[s].status->body, "workloads", i))
                break;
            else
                total++;
    dlb_status_workload_t *wls = total ? calloc (total, sizeof *wls) : NULL;
    const char **origin = total ? calloc (total, sizeof *origin) : NULL;
    size_t n = 0;
    for (size_t s = 0; s < self->source_count && (wls && origin); s++)
        for (uint32_t i = 0; self->sources[s].has_status && n < total; i++) {
            const msgpack_object *w =
                s_item (self->sources[s].status->body, "workloads", i);
            char reason[DLB_CLIENT_ERROR_MAX];
            if (!w)
                break;
            if (dlb_status_workload_decode (w, &wls[n], reason, sizeof reason) == 0)
                origin[n++] = self->sources[s].name;
        }
    for (const workload_metric_t *m = s_workload_metrics; m->name; m++) {
        s_family (out, m->name, m->type, m->help);
        for (size_t k = 0; k < n; k++)
            s_workload_sample (
                out, m->name, origin[k], wls[k].id,
                (double) *(const uint64_t *) ((const char *) &wls[k] + m->field));
    }
    s_family (out, "dlb_workload_elapsed_seconds", "gauge",
              "Seconds since the workload started (or its makespan).");
    for (size_t k = 0; k < n; k++)
        s_workload_sample (out, "dlb_workload_elapsed_seconds", origin[k], wls[k].id,
                           wls[k].elapsed_s);
    const char *flags[][3] = {
        {"dlb_workload_verified", "verified", "1 if the workload's results verified."},
        {"dlb_workload_running", "running", "1 while the workload runs."},
        {"dlb_workload_failed", "failed", "1 if the workload failed."}};
    for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
        s_family (out, flags[f][0], "gauge", flags[f][2]);
        for (size_t k = 0; k < n; k++)
            s_workload_sample (out, flags[f][0], origin[k], wls[k].id,
                               f == 0 ? wls[k].verified
                                      : streq (wls[k].state, flags[f][1]));
    }
    s_family (out, "dlb_workload_jobs_ran_total", "counter",
              "Jobs of the workload each node ran (node: the node that ran them).");
    for (size_t k = 0; k < n; k++)
        for (size_t r = 0; r < wls[k].ran_count; r++)
            s_workload_sample (out, "dlb_workload_jobs_ran_total", wls[k].ran[r].node,
                               wls[k].id, (double) wls[k].ran[r].jobs);
    free (wls);
    free (origin);
    for (const plain_metric_t *m = s_transfer_metrics; m->name; m++) {
        s_family (out, m->name, m->type, m->help);
        for (size_t s = 0; s < self->source_count; s++) {
            const source_t *source = &self->sources[s];
            const msgpack_object *transfer =
                source->has_status ? dlb_obj_get (source->status->body, "transfer")
                                   : NULL;
            double value = s_num (transfer, m->key);
            if (isnan (value))
                continue;
            fprintf (out, "%s{node=\"", m->name);
            s_label (out, source->name);
            fputs ("\"} ", out);
            s_value (out, value);
        }
    }
    s_family (out, "dlb_web_status_requests_total", "counter",
              "Status requests dlb-web sent to the node.");
    for (size_t s = 0; s < self->source_count; s++) {
        fputs ("dlb_web_status_requests_total{node=\"", out);
        s_label (out, *self->sources[s].name ? self->sources[s].name
                                             : self->sources[s].client.endpoint);
        fputs ("\"} ", out);
        s_value (out, self->sources[s].polls);
    }
    s_family (out, "dlb_web_status_failures_total", "counter",
              "Status requests to the node that got no good answer.");
    for (size_t s = 0; s < self->source_count; s++) {
        fputs ("dlb_web_status_failures_total{node=\"", out);
        s_label (out, *self->sources[s].name ? self->sources[s].name
                                             : self->sources[s].client.endpoint);
        fputs ("\"} ", out);
        s_value (out, self->sources[s].failures);
    }
    s_family (out, "dlb_web_events_total", "counter", "Events dlb-web has collected.");
    fputs ("dlb_web_events_total ", out);
    s_value (out, self->events_total);
    s_family (out, "dlb_web_commands_total", "counter",
              "Commands sent to nodes from the dashboard.");
    fputs ("dlb_web_commands_total ", out);
    s_value (out, self->commands_total);
    s_family (out, "dlb_web_commands_failed_total", "counter",
              "Dashboard commands a node refused or did not answer.");
    fputs ("dlb_web_commands_failed_total ", out);
    s_value (out, self->commands_failed);
    return s_text_end (&t);
}

//  ---------------------------------------------------------------------
//  Commands from the page (POST, form body)

//  Decodes %XX and '+' in place. Returns 0, or -1 if malformed.
static int s_url_decode (char *text)
{
    char *out = text;
    for (char *in = text; *in; in++) {
        if (*in == '+')
            *out++ = ' ';
        else if (*in == '%') {
            unsigned value;
            if (!isxdigit ((unsigned char) in[1]) || !isxdigit ((unsigned char) in[2]) ||
                sscanf (in + 1, "%2x", &value) != 1 || value == 0)
                return -1;
            *out++ = (char) value;
            in += 2;
        }
        else
            *out++ = *in;
    }
    *out = 0;
    return 0;
}

//  The value of field name in a form body (a copy, decoded, in buf).
//  Returns 0, 1 if absent, -1 if malformed or too long.
static int s_form (const char *body, const char *name, char *buf, size_t size)
{
    size_t name_len = strlen (name);
    for (const char *p = body; p && *p;
         p = strchr (p, '&') ? strchr (p, '&') + 1 : NULL) {
        size_t len = strcspn (p, "&");
        if (len > name_len && p[name_len] == '=' && memcmp (p, name, name_len) == 0) {
            size_t value_len = len - name_len - 1;
            if (value_len >= size)
                return -1;
            memcpy (buf, p + name_len + 1, value_len);
            buf[value_len] = 0;
            return s_url_decode (buf);
        }
    }
    return 1;
}

//  A copy of the client of the attached node named node (lock taken
//  here). Returns 0, or -1 if no --node is that node.
static int s_client_of (dlb_web_t *self, const char *node, dlb_client_t *client)
{
    int rc = -1;
    pthread_mutex_lock (&self->lock);
    for (size_t s = 0; s < self->source_count && rc; s++)
        if (streq (self->sources[s].name, node)) {
            *client = self->sources[s].client;
            rc = 0;
        }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

//  Sends request to one node; writes {"node":..,"ok":..,"error"|"reply":..}
//  to out. Returns 0 if the node took it.
static int s_command (dlb_web_t *self, const char *node, dlb_writer_t *request, FILE *out)
{
    dlb_client_t client;
    fputs ("{\"node\":", out);
    s_json_str (out, node);
    int rc = -1;
    if (s_client_of (self, node, &client)) {
        dlb_writer_destroy (request);
        fputs (",\"ok\":false,\"error\":", out);
        char error[DLB_TEXT_MAX];
        snprintf (error, sizeof error,
                  "dlb-web has no control socket for node %s (start it with one more "
                  "--node, e.g. that node's node file)",
                  node);
        s_json_str (out, error);
    }
    else {
        dlb_msg_t reply;
        char err[DLB_CLIENT_ERROR_MAX], refusal[DLB_TEXT_MAX];
        rc = dlb_client_request (&client, request, &reply, err, sizeof err, refusal,
                                 sizeof refusal);
        if (rc == 0) {
            fputs (",\"ok\":true,\"reply\":", out);
            dlb_client_json (out, reply.body);
            dlb_msg_release (&reply);
        }
        else {
            fputs (",\"ok\":false,\"error\":", out);
            s_json_str (out, rc == -2 ? refusal : err);
        }
    }
    fputc ('}', out);
    pthread_mutex_lock (&self->lock);
    self->commands_total++;
    self->commands_failed += rc != 0;
    pthread_mutex_unlock (&self->lock);
    return rc;
}

//  Runs the command of a POST to url with the form body. Returns the HTTP
//  status and the JSON answer in *answer (caller frees).
static int s_post (dlb_web_t *self, const char *url, const char *body, char **answer)
{
    char node[DLB_NAME_MAX] = "", value[DLB_TEXT_MAX] = "", error[DLB_TEXT_MAX] = "";
    text_t t;
    s_text_new (&t);
    int status = MHD_HTTP_OK;
    int node_rc = s_form (body, "node", node, sizeof node);
    if (streq (url, "/api/throttle")) {
        double throttle = 0;
        char *end = NULL;
        if (s_form (body, "value", value, sizeof value) == 0)
            throttle = strtod (value, &end);
        if (node_rc || !*node)
            snprintf (error, sizeof error, "throttle needs a node");
        else if (!end || end == value || *end || !(throttle > 0 && throttle <= 1))
            snprintf (error, sizeof error, "throttle needs a value in (0, 1]");
        else {
            dlb_writer_t request;
            dlb_command_start (&request, "throttle", 1);
            dlb_writer_double (&request, "value", throttle);
            fputs ("{\"results\":[", t.out);
            int rc = s_command (self, node, &request, t.out);
            fprintf (t.out, "],\"ok\":%s}", rc ? "false" : "true");
        }
    }
    else if (streq (url, "/api/policy")) {
        dlb_policy_t policy;
        if (node_rc || !*node)
            snprintf (error, sizeof error, "policy needs a node (or * for all)");
        else if (s_form (body, "name", value, sizeof value) ||
                 dlb_policy_parse (value, &policy))
            snprintf (error, sizeof error, "policy needs a name: " DLB_POLICY_NAMES);
        else {
            //  "*": every node in the view, each through its own socket.
            char names[DLB_WEB_NODES_MAX][DLB_NAME_MAX];
            size_t count = 0;
            if (streq (node, "*")) {
                pthread_mutex_lock (&self->lock);
                view_node_t view[DLB_WEB_NODES_MAX];
                count = s_view (self, view);
                for (size_t v = 0; v < count; v++)
                    snprintf (names[v], sizeof names[v], "%s", view[v].name);
                pthread_mutex_unlock (&self->lock);
            }
            else
                snprintf (names[count++], sizeof names[0], "%s", node);
            int failed = 0;
            fputs ("{\"results\":[", t.out);
            for (size_t i = 0; i < count; i++) {
                if (i)
                    fputc (',', t.out);
                dlb_writer_t request;
                dlb_command_start (&request, "policy", 1);
                dlb_writer_str (&request, "name", dlb_policy_name (policy));
                failed += s_command (self, names[i], &request, t.out) != 0;
            }
            fprintf (t.out, "],\"ok\":%s}", failed || !count ? "false" : "true");
        }
    }
    else if (streq (url, "/api/submit")) {
        char input[DLB_TEXT_MAX] = "", output[DLB_TEXT_MAX] = "";
        const char *sizes[] = {"elements", "jobs", "reps"};
        uint64_t numbers[3] = {0, 0, 0};
        for (int i = 0; i < 3 && !*error; i++) {
            char text[32];
            int rc = s_form (body, sizes[i], text, sizeof text);
            char *end = NULL;
            if (rc == 0 && *text) {
                errno = 0;
                numbers[i] = strtoull (text, &end, 10);
                if (errno || *end || *text < '0' || *text > '9' || numbers[i] == 0)
                    snprintf (error, sizeof error,
                              "submit: %s must be a whole number >= 1", sizes[i]);
            }
            else if (rc < 0)
                snprintf (error, sizeof error, "submit: %s is malformed", sizes[i]);
        }
        if (!*error && (s_form (body, "output", output, sizeof output) < 0 ||
                        s_form (body, "input", input, sizeof input) < 0))
            snprintf (error, sizeof error, "submit: a path is malformed or too long");
        else if (!*error && !*output)
            snprintf (error, sizeof error, "submit needs an output file name");
        if (!*error) {
            if (node_rc || !*node)
                snprintf (node, sizeof node, "%s", self->sources[0].name);
            dlb_writer_t request;
            uint32_t fields = 1 + (*input != 0);
            for (int i = 0; i < 3; i++)
                fields += numbers[i] && !(i == 0 && *input);
            dlb_command_start (&request, "submit", fields);
            dlb_writer_str (&request, "output", output);
            if (*input)
                dlb_writer_str (&request, "input", input);
            for (int i = 0; i < 3; i++)
                if (numbers[i] && !(i == 0 && *input))
                    dlb_writer_u64 (&request, sizes[i], numbers[i]);
            fputs ("{\"results\":[", t.out);
            int rc = s_command (self, node, &request, t.out);
            fprintf (t.out, "],\"ok\":%s}", rc ? "false" : "true");
        }
    }
    else if (streq (url, "/api/cancel")) {
        char id[DLB_NAME_MAX];
        const char *dash = NULL;
        if (s_form (body, "id", id, sizeof id) || !*id || !(dash = strrchr (id, '-')))
            snprintf (error, sizeof error, "cancel needs a workload id (NODE-NUMBER)");
        else {
            //  The workload's origin is the node its id names.
            snprintf (node, sizeof node, "%.*s", (int) (dash - id), id);
            dlb_writer_t request;
            dlb_command_start (&request, "cancel", 1);
            dlb_writer_str (&request, "id", id);
            fputs ("{\"results\":[", t.out);
            int rc = s_command (self, node, &request, t.out);
            fprintf (t.out, "],\"ok\":%s}", rc ? "false" : "true");
        }
    }
    else {
        status = MHD_HTTP_NOT_FOUND;
        snprintf (error, sizeof error, "no such command: %s", url);
    }
    if (*error) {
        if (status == MHD_HTTP_OK)
            status = MHD_HTTP_BAD_REQUEST;
        fputs ("{\"ok\":false,\"error\":", t.out);
        s_json_str (t.out, error);
        fputs ("}", t.out);
    }
    *answer = s_text_end (&t);
    return status;
}

//  ---------------------------------------------------------------------
//  /api/stream: Server-Sent Events

typedef struct {
    dlb_web_t *web;
    bool started;
    uint64_t tick, events; //  the last tick sent, the next event to send
    char *pending;         //  text not yet given to libmicrohttpd
    size_t size, offset;
} stream_t;

//  Writes {"first":F,"next":N,"events":[...]}: the events from *next on
//  (at most limit, the newest), and moves *next past them. Lock held.
static void s_events_json (dlb_web_t *self, FILE *out, uint64_t *next, uint64_t limit)
{
    uint64_t first =
        self->events_total > DLB_WEB_EVENTS ? self->events_total - DLB_WEB_EVENTS : 0;
    if (self->events_total > limit && first < self->events_total - limit)
        first = self->events_total - limit;
    if (*next < first)
        *next = first;
    if (*next > self->events_total)
        *next = self->events_total;
    fprintf (out, "{\"first\":%" PRIu64 ",\"next\":%" PRIu64 ",\"events\":[", *next,
             self->events_total);
    for (uint64_t i = *next; i < self->events_total; i++)
        fprintf (out, "%s%s", i > *next ? "," : "", self->events[i % DLB_WEB_EVENTS]);
    fputs ("]}", out);
    *next = self->events_total;
}

//  The same as one SSE "events" message, if there are any. Lock held.
static void s_stream_events (dlb_web_t *self, FILE *out, uint64_t *next, uint64_t limit)
{
    if (*next >= self->events_total)
        return;
    fputs ("event: events\ndata: ", out);
    s_events_json (self, out, next, limit);
    fputs ("\n\n", out);
}

static ssize_t s_stream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    stream_t *stream = cls;
    dlb_web_t *self = stream->web;
    if (stream->offset == stream->size) {
        free (stream->pending);
        stream->pending = NULL;
        text_t t;
        s_text_new (&t);
        pthread_mutex_lock (&self->lock);
        if (!stream->started) {
            stream->started = true;
            fputs ("retry: 2000\n\nevent: history\ndata: {\"samples\":[", t.out);
            uint64_t first = self->history_total > DLB_WEB_HISTORY
                                 ? self->history_total - DLB_WEB_HISTORY
                                 : 0;
            for (uint64_t i = first; i < self->history_total; i++)
                fprintf (t.out, "%s%s", i > first ? "," : "",
                         self->history[i % DLB_WEB_HISTORY]);
            fputs ("]}\n\n", t.out);
            s_stream_events (self, t.out, &stream->events, DLB_WEB_EVENTS_PAGE);
        }
        else {
            struct timespec deadline;
            clock_gettime (CLOCK_REALTIME, &deadline);
            deadline.tv_sec += DLB_WEB_KEEPALIVE / 1000;
            while (!self->stopping && stream->tick == self->tick &&
                   pthread_cond_timedwait (&self->changed, &self->lock, &deadline) == 0)
                ;
        }
        bool stopping = self->stopping;
        if (!stopping && stream->tick != self->tick && self->tick_json) {
            fprintf (t.out, "event: tick\ndata: %s\n\n", self->tick_json);
            stream->tick = self->tick;
            s_stream_events (self, t.out, &stream->events, DLB_WEB_EVENTS_PAGE);
        }
        pthread_mutex_unlock (&self->lock);
        if (ftell (t.out) == 0)
            fputs (": nothing new\n\n", t.out);
        stream->pending = s_text_end (&t);
        stream->size = strlen (stream->pending);
        stream->offset = 0;
        if (stopping)
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = stream->size - stream->offset;
    if (n > max)
        n = max;
    memcpy (buf, stream->pending + stream->offset, n);
    stream->offset += n;
    return (ssize_t) n;
}

static void s_stream_free (void *cls)
{
    stream_t *stream = cls;
    free (stream->pending);
    free (stream);
}

//  ---------------------------------------------------------------------
//  HTTP

//  Per request: the POST body as it arrives.
typedef struct {
    char body[DLB_WEB_BODY_MAX + 1];
    size_t size;
    bool too_big;
} upload_t;

static enum MHD_Result s_send (struct MHD_Connection *connection, int status,
                               const char *type, char *text, size_t size, bool owned)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        size, text, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header (response, "Content-Type", type);
    MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header (response, "X-Frame-Options", "DENY");
    MHD_add_response_header (response, "Referrer-Policy", "no-referrer");
    MHD_add_response_header (response, "Cache-Control", "no-store");
    MHD_add_response_header (response, "Content-Security-Policy",
                             "default-src 'self'; img-src 'self' data:; "
                             "frame-ancestors 'none'; form-action 'self'");
    enum MHD_Result rc = MHD_queue_response (connection, (unsigned) status, response);
    MHD_destroy_response (response);
    return rc;
}

static enum MHD_Result s_error (struct MHD_Connection *connection, int status,
                                const char *message)
{
    text_t t;
    s_text_new (&t);
    fputs ("{\"ok\":false,\"error\":", t.out);
    s_json_str (t.out, message);
    fputs ("}\n", t.out);
    char *text = s_text_end (&t);
    return s_send (connection, status, "application/json", text, strlen (text), true);
}

//  The value of cookie name in the request, copied into buf; "" if none.
static void s_cookie (struct MHD_Connection *connection, const char *name, char *buf,
                      size_t size)
{
    buf[0] = 0;
    const char *cookie = MHD_lookup_connection_value (connection, MHD_COOKIE_KIND, name);
    if (cookie && strlen (cookie) < size)
        snprintf (buf, size, "%s", cookie);
}

//  True if the request may go on: with a token, it carries it; without,
//  its Host is a loopback name (so a DNS-rebinding page cannot reach a
//  dashboard bound to localhost).
static bool s_allowed (dlb_web_t *self, struct MHD_Connection *connection)
{
    if (*self->token) {
        char cookie[DLB_WEB_TOKEN_MAX];
        s_cookie (connection, "dlb_token", cookie, sizeof cookie);
        const char *auth =
            MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Authorization");
        bool bearer = auth && strncmp (auth, "Bearer ", 7) == 0 &&
                      dlb_web_token_equal (auth + 7, self->token);
        return bearer || (*cookie && dlb_web_token_equal (cookie, self->token));
    }
    const char *host = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Host");
    if (!host)
        return false;
    char name[DLB_TEXT_MAX];
    snprintf (name, sizeof name, "%s", host);
    char *colon = strrchr (name, ':');
    if (colon && !strchr (colon, ']'))
        *colon = 0; //  the port
    return dlb_web_is_loopback (name);
}

//  True if a POST comes from the page itself (see the top of the file).
static bool s_same_origin (struct MHD_Connection *connection)
{
    const char *csrf =
        MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "X-DLB-CSRF");
    if (!csrf || !streq (csrf, "1"))
        return false;
    const char *site =
        MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Sec-Fetch-Site");
    if (site && !streq (site, "same-origin") && !streq (site, "none"))
        return false;
    const char *origin =
        MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Host");
    if (origin) {
        const char *rest = strncmp (origin, "http://", 7) == 0    ? origin + 7
                           : strncmp (origin, "https://", 8) == 0 ? origin + 8
                                                                  : NULL;
        if (!rest || !host || !streq (rest, host))
            return false;
    }
    return true;
}

static enum MHD_Result s_handle (void *cls, struct MHD_Connection *connection,
                                 const char *url, const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **state)
{
    (void) version;
    dlb_web_t *self = cls;
    bool post = streq (method, "POST");
    if (post) {
        //  The body comes in pieces: gather it, answer once it is whole.
        upload_t *upload = *state;
        if (!upload) {
            upload = calloc (1, sizeof *upload);
            if (!upload)
                return MHD_NO;
            *state = upload;
            return MHD_YES;
        }
        if (*upload_data_size) {
            if (upload->size + *upload_data_size > DLB_WEB_BODY_MAX)
                upload->too_big = true;
            else {
                memcpy (upload->body + upload->size, upload_data, *upload_data_size);
                upload->size += *upload_data_size;
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
    }
    pthread_mutex_lock (&self->lock);
    self->requests_total++;
    pthread_mutex_unlock (&self->lock);

    //  /?token=T logs in: a cookie, and back to / without the token.
    const char *given =
        MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND, "token");
    if (*self->token && given && streq (url, "/") && !post) {
        if (!dlb_web_token_equal (given, self->token))
            return s_error (connection, MHD_HTTP_UNAUTHORIZED, "wrong token");
        char cookie[DLB_WEB_TOKEN_MAX + 64];
        snprintf (cookie, sizeof cookie,
                  "dlb_token=%s; Path=/; HttpOnly; SameSite=Strict", self->token);
        struct MHD_Response *response =
            MHD_create_response_from_buffer (0, "", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header (response, "Set-Cookie", cookie);
        MHD_add_response_header (response, "Location", "/");
        MHD_add_response_header (response, "Referrer-Policy", "no-referrer");
        enum MHD_Result rc =
            MHD_queue_response (connection, MHD_HTTP_SEE_OTHER, response);
        MHD_destroy_response (response);
        return rc;
    }
    if (!s_allowed (self, connection))
        return s_error (connection, MHD_HTTP_UNAUTHORIZED,
                        *self->token
                            ? "log in with the address dlb-web printed (/?token=...) "
                              "or send Authorization: Bearer TOKEN"
                            : "this dashboard answers only to a loopback Host");
    if (post) {
        upload_t *upload = *state;
        if (upload->too_big)
            return s_error (connection, MHD_HTTP_CONTENT_TOO_LARGE,
                            "request body too large");
        if (!s_same_origin (connection))
            return s_error (
                connection, MHD_HTTP_FORBIDDEN,
                "cross-site request refused (POST needs X-DLB-CSRF: 1 and the "
                "page's own origin)");
        upload->body[upload->size] = 0;
        if (strlen (upload->body) != upload->size)
            return s_error (connection, MHD_HTTP_BAD_REQUEST, "NUL byte in the body");
        char *answer;
        int status = s_post (self, url, upload->body, &answer);
        return s_send (connection, status, "application/json", answer, strlen (answer),
                       true);
    }
    if (!streq (method, "GET") && !streq (method, "HEAD"))
        return s_error (connection, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or POST only");
    if (streq (url, "/api/stream")) {
        stream_t *stream = calloc (1, sizeof *stream);
        if (!stream)
            return MHD_NO;
        stream->web = self;
        struct MHD_Response *response = MHD_create_response_from_callback (
            MHD_SIZE_UNKNOWN, 16384, s_stream_read, stream, s_stream_free);
        MHD_add_response_header (response, "Content-Type", "text/event-stream");
        MHD_add_response_header (response, "Cache-Control", "no-store");
        MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
        enum MHD_Result rc = MHD_queue_response (connection, MHD_HTTP_OK, response);
        MHD_destroy_response (response);
        return rc;
    }
    if (streq (url, "/api/status") || streq (url, "/metrics") ||
        streq (url, "/api/events")) {
        char *text = NULL;
        pthread_mutex_lock (&self->lock);
        if (streq (url, "/metrics"))
            text = s_metrics (self);
        else if (streq (url, "/api/status"))
            text = strdup (self->tick_json ? self->tick_json
                                           : "{\"tick\":0,\"sources\":[]}");
        else {
            const char *since =
                MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND, "since");
            uint64_t next = since ? strtoull (since, NULL, 10) : 0;
            text_t t;
            s_text_new (&t);
            s_events_json (self, t.out, &next, DLB_WEB_EVENTS);
            text = s_text_end (&t);
        }
        pthread_mutex_unlock (&self->lock);
        if (!text)
            return MHD_NO;
        return s_send (connection, MHD_HTTP_OK,
                       streq (url, "/metrics")
                           ? "text/plain; version=0.0.4; charset=utf-8"
                           : "application/json",
                       text, strlen (text), true);
    }
    const char *path = streq (url, "/") ? "/index.html" : url;
    for (const dlb_web_asset_t *asset = dlb_web_assets; asset->path; asset++)
        if (streq (asset->path, path))
            return s_send (connection, MHD_HTTP_OK, asset->type, (char *) asset->data,
                           asset->size, false);
    return s_error (connection, MHD_HTTP_NOT_FOUND, "not found");
}

static void s_completed (void *cls, struct MHD_Connection *connection, void **state,
                         enum MHD_RequestTerminationCode code)
{
    (void) cls;
    (void) connection;
    (void) code;
    free (*state);
    *state = NULL;
}

static void s_mhd_log (void *cls, const char *format, va_list args)
{
    (void) cls;
    char message[DLB_TEXT_MAX];
    vsnprintf (message, sizeof message, format, args);
    message[strcspn (message, "\n")] = 0;
    zsys_warning ("dlb-web: %s", message);
}

//  ---------------------------------------------------------------------
//  Life

dlb_web_t *dlb_web_new (const dlb_web_options_t *options, char *err, size_t size)
{
    assert (options->node_count >= 1 && options->node_count <= DLB_WEB_SOURCES_MAX);
    //  ADDR:PORT, [V6]:PORT
    char host[DLB_TEXT_MAX];
    const char *colon = strrchr (options->listen, ':');
    if (!colon || colon == options->listen || !colon[1] ||
        strspn (colon + 1, "0123456789") != strlen (colon + 1) ||
        strlen (colon + 1) > 5 || atoi (colon + 1) > 65535) {
        snprintf (err, size,
                  "--listen '%s': expected ADDR:PORT (PORT 0 picks a free one)",
                  options->listen);
        return NULL;
    }
    snprintf (host, sizeof host, "%.*s", (int) (colon - options->listen),
              options->listen);
    if (host[0] == '[' && host[strlen (host) - 1] == ']') {
        memmove (host, host + 1, strlen (host));
        host[strlen (host) - 1] = 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *found = NULL;
    int gai = getaddrinfo (host, colon + 1, &hints, &found);
    if (gai) {
        snprintf (err, size, "--listen '%s': %s", options->listen, gai_strerror (gai));
        return NULL;
    }
    dlb_web_t *self = calloc (1, sizeof *self);
    assert (self);
    self->options = *options;
    self->loopback = dlb_web_is_loopback (host);
    snprintf (self->host, sizeof self->host, "%s", host);
    if (options->token)
        snprintf (self->token, sizeof self->token, "%s", options->token);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->changed, NULL);
    self->seen_workloads = zhashx_new ();
    zhashx_set_destructor (self->seen_workloads, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (self->seen_workloads, (zhashx_duplicator_fn *) strdup);
    self->source_count = options->node_count;
    for (size_t s = 0; s < options->node_count; s++) {
        self->sources[s].client = options->nodes[s];
        //  The texts a node file gave point into the caller's copy: point
        //  them at ours.
        dlb_client_t *c = &self->sources[s].client;
        const dlb_client_t *from = &options->nodes[s];
        if (from->endpoint_text == from->file_endpoint)
            c->endpoint_text = c->file_endpoint;
        if (from->node_key_text == from->file_node_key)
            c->node_key_text = c->file_node_key;
        if (from->key_text == from->file_client_key)
            c->key_text = c->file_client_key;
        c->timeout = options->timeout;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG |
                     (found->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    self->daemon = MHD_start_daemon (
        flags, 0, NULL, NULL, s_handle, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
        MHD_OPTION_SOCK_ADDR, found->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned) DLB_WEB_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned) DLB_WEB_IDLE, MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_END);
    int family = found->ai_family;
    freeaddrinfo (found);
    if (!self->daemon) {
        snprintf (err, size,
                  "--listen '%s': cannot listen there (address taken or not this "
                  "machine's?)",
                  options->listen);
        dlb_web_destroy (&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    printf ("dlb-web: serving http://%s%s%s:%u/ for node %s (%zu node(s) attached)\n",
            family == AF_INET6 ? "[" : "", host, family == AF_INET6 ? "]" : "", port,
            self->sources[0].client.endpoint, self->source_count);
    if (*self->token)
        printf ("dlb-web: log in at http://%s%s%s:%u/?token=%s\n",
                family == AF_INET6 ? "[" : "", host, family == AF_INET6 ? "]" : "", port,
                self->token);
    fflush (stdout);
    return self;
}

void dlb_web_destroy (dlb_web_t **self_p)
{
    assert (self_p);
    dlb_web_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    for (size_t s = 0; s < self->source_count; s++) {
        dlb_client_close (&self->sources[s].conn);
        if (self->sources[s].has_status) {
            dlb_msg_release (self->sources[s].status);
            free (self->sources[s].status);
        }
    }
    for (size_t i = 0; i < DLB_WEB_HISTORY; i++)
        free (self->history[i]);
    for (size_t i = 0; i < DLB_WEB_EVENTS; i++)
        free (self->events[i]);
    free (self->tick_json);
    zhashx_destroy (&self->seen_workloads);
    pthread_cond_destroy (&self->changed);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}
