/*  dlb_adaptor: bootstrap split and run-time balancing decisions.

    Sockets
        state    SUB   BASE+12  this node's and its peers' state
        workerbus SUB  BASE+11  new workloads, jobs sent to each peer
        inbox    PULL  BASE+24  STEAL from peers, COMMAND policy (monitor)
        worker   PUSH  BASE+21  TAKE: give N queued jobs to a peer
        transfer PUSH  BASE+23  STEAL: ask a peer for jobs
        reply    PUSH  BASE+20  REPLY to the monitor
        bus      PUB   BASE+14  STATUS {policy, metric, threshold, moves...}

    Bootstrap: a workload submitted here is split at once among this node
    and its live peers, in proportion to their capacity (measured job rate,
    or threads x throttle before any job has run); policy none splits
    evenly (the seed's static half split) and never moves jobs again.

    Processing (dlb_policy.h has the arithmetic): on every state update a
    sender looks for the live peer it should give the most jobs to; a
    receiver asks the peer it should take the most from (STEAL), and the
    peer confirms with its own, fresher figures before it gives any (two
    phases, so that a stale view cannot drain a node). Jobs in flight, sent
    but not yet counted by the peer, count as the peer's; a node waits for
    its worker to act on one TAKE before it decides again. Both counts are
    kept by the workers since they started, so when either worker restarts
    (its `boot` changes) the count in flight is rebuilt from zero rather
    than trusted: jobs lost with a worker are the origin's to re-issue.  */
#include "dlb_adaptor.h"
#include "dlb_policy.h"
#include "dlb_service.h"

#define DLB_TAKE_HOLD     200 //  msecs to wait for the worker to act on a TAKE
#define DLB_STEAL_HOLD    3   //  state periods between steals from one peer
#define DLB_WORKLOADS_MAX 256 //  workload ids remembered as bootstrapped

typedef struct {
    dlb_config_t cfg;
    zsock_t *state, *workerbus, *inbox, *worker, *transfer, *reply, *bus;
    zloop_t *loop;
    dlb_policy_t policy;
    dlb_metric_t metric;
    double threshold;
    dlb_state_t me;
    bool have_me;
    bool have_worker; //  me.queue and me.running come from the worker
    dlb_state_t peers[DLB_PEERS_MAX];
    size_t peer_count;
    uint64_t sent_to[DLB_PEERS_MAX];    //  by peer index, from the worker
    int64_t flight_base[DLB_PEERS_MAX]; //  sent minus counted when last rebuilt
    uint64_t boot;                      //  our worker's incarnation
    int64_t steal_at[DLB_PEERS_MAX];
    int64_t hold_until;
    char bootstrapped[DLB_WORKLOADS_MAX][DLB_NAME_MAX];
    size_t boot_next;
    uint64_t moves, jobs_moved, steals_sent, steals_granted, steals_declined;
    int64_t last_publish; //  zclock_mono
} adaptor_t;

static void s_publish (adaptor_t *self)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_STATUS);
    msgpack_pack_map (&w.pk, 10);
    dlb_writer_str (&w, "service", "adaptor");
    dlb_writer_str (&w, "node", self->cfg.node);
    dlb_writer_str (&w, "policy", dlb_policy_name (self->policy));
    dlb_writer_str (&w, "metric", dlb_metric_name (self->metric));
    dlb_writer_double (&w, "threshold", self->threshold);
    dlb_writer_u64 (&w, "moves", self->moves);
    dlb_writer_u64 (&w, "jobs_moved", self->jobs_moved);
    dlb_writer_u64 (&w, "steals_sent", self->steals_sent);
    dlb_writer_u64 (&w, "steals_granted", self->steals_granted);
    dlb_writer_u64 (&w, "steals_declined", self->steals_declined);
    dlb_writer_send (&w, self->bus);
    self->last_publish = zclock_mono ();
}

static int s_peer_index (adaptor_t *self, const char *node)
{
    for (size_t i = 0; i < self->peer_count; i++)
        if (streq (self->peers[i].node, node))
            return (int) i;
    return -1;
}

static double s_capacity (const dlb_state_t *s)
{
    return (s->threads ? (double) s->threads : 1.0) * s->throttle;
}

//  Jobs/s of a node while busy: measured if known, else scaled from the
//  other node's measured rate by capacity, else capacity itself.
static double s_rate (const dlb_state_t *s, const dlb_state_t *other)
{
    if (s->rate > 0)
        return s->rate;
    if (other->rate > 0)
        return other->rate * s_capacity (s) / s_capacity (other);
    return s_capacity (s);
}

//  Jobs sent to peer i that it has counted as received (since its start).
static uint64_t s_counted (adaptor_t *self, size_t i)
{
    const dlb_state_t *p = &self->peers[i];
    for (size_t k = 0; k < p->peers_known; k++)
        if (streq (p->recv_from[k].node, self->cfg.node))
            return p->recv_from[k].jobs;
    return 0;
}

//  Jobs sent to peer i that the peer has not yet counted as received.
static uint64_t s_in_flight (adaptor_t *self, size_t i)
{
    int64_t flight =
        (int64_t) self->sent_to[i] - (int64_t) s_counted (self, i) - self->flight_base[i];
    return flight > 0 ? (uint64_t) flight : 0;
}

//  A worker restarted: nothing is in flight to peer i from now on.
static void s_rebuild_flight (adaptor_t *self, size_t i, const char *why)
{
    uint64_t was = s_in_flight (self, i);
    self->flight_base[i] = (int64_t) self->sent_to[i] - (int64_t) s_counted (self, i);
    if (was)
        dlb_info ("%s: %llu jobs no longer counted in flight to %s", why,
                  (unsigned long long) was, self->peers[i].node);
}

//  Jobs to move now from a node with load `from` to one with load `to`:
//  the part of the balancing amount to move now (--fraction), at least one.
static uint64_t s_amount (const adaptor_t *self, const dlb_load_t *from,
                          const dlb_load_t *to, char *why, size_t why_size)
{
    uint64_t balance =
        dlb_policy_balance (self->metric, self->threshold, from, to, why, why_size);
    uint64_t n = (uint64_t) ((double) balance * self->cfg.fraction);
    return balance && n == 0 ? 1 : n;
}

static void s_take (adaptor_t *self, const char *to, uint64_t count, const char *why)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_TAKE);
    msgpack_pack_map (&w.pk, 3);
    dlb_writer_str (&w, "to", to);
    dlb_writer_u64 (&w, "count", count);
    dlb_writer_str (&w, "why", why);
    dlb_writer_send (&w, self->worker);
    self->moves++;
    self->jobs_moved += count;
    self->hold_until = zclock_mono () + DLB_TAKE_HOLD;
    s_publish (self);
}

static void s_load (const dlb_state_t *s, const dlb_state_t *other, uint64_t extra,
                    dlb_load_t *load)
{
    load->queued = s->queue + extra;
    load->running = s->running;
    load->rate = s_rate (s, other);
}

//  Splits a new workload among this node and its live peers.
static void s_bootstrap (adaptor_t *self, const char *id, uint64_t jobs)
{
    const char *names[DLB_PEERS_MAX + 1] = {self->cfg.node};
    double capacity[DLB_PEERS_MAX + 1] = {s_rate (&self->me, &self->me)};
    size_t count = 1;
    for (size_t i = 0; i < self->peer_count; i++)
        if (!self->peers[i].stale) {
            names[count] = self->peers[i].node;
            capacity[count++] = s_rate (&self->peers[i], &self->me);
        }
    bool even = self->policy == DLB_POLICY_NONE;
    uint64_t share[DLB_PEERS_MAX + 1];
    dlb_policy_split (jobs, capacity, count, even, share);
    char plan[512] = "";
    for (size_t i = 0; i < count; i++)
        snprintf (plan + strlen (plan), sizeof plan - strlen (plan), "%s%s %llu (%.2f)",
                  i ? ", " : "", names[i], (unsigned long long) share[i], capacity[i]);
    dlb_info ("bootstrap %s: %llu jobs split %s by %s: %s", id, (unsigned long long) jobs,
              even ? "evenly" : "by capacity", dlb_policy_name (self->policy), plan);
    for (size_t i = 1; i < count; i++)
        if (share[i]) {
            char why[128];
            snprintf (why, sizeof why, "bootstrap of %s", id);
            s_take (self, names[i], share[i], why);
        }
}

typedef struct {
    uint64_t jobs;
    int peer;  //  -1: none
    bool send; //  or ask the peer for them
    char why[512];
} move_t;

//  Makes the move from `from` to `to` the best so far if it moves more jobs.
static void s_consider (const adaptor_t *self, move_t *best, int peer, bool send,
                        const dlb_load_t *from, const dlb_load_t *to)
{
    char why[512];
    uint64_t n = s_amount (self, from, to, why, sizeof why);
    if (n > best->jobs) {
        best->jobs = n;
        best->peer = peer;
        best->send = send;
        snprintf (best->why, sizeof best->why, "%s", why);
    }
}

//  The processing phase: one decision per call.
static void s_balance (adaptor_t *self)
{
    if (!self->have_me || self->policy == DLB_POLICY_NONE ||
        zclock_mono () < self->hold_until)
        return;
    move_t best = {.peer = -1};
    for (size_t i = 0; i < self->peer_count; i++) {
        dlb_state_t *p = &self->peers[i];
        //  Until both have measured how fast they run jobs, the bootstrap's
        //  split by capacity stands: guesses would only bounce jobs around.
        if (p->stale ||
            (self->metric == DLB_METRIC_ETA && (p->rate <= 0 || self->me.rate <= 0)))
            continue;
        dlb_load_t local, peer;
        s_load (&self->me, p, 0, &local);
        s_load (p, &self->me, s_in_flight (self, i), &peer);
        if (dlb_policy_sends (self->policy))
            s_consider (self, &best, (int) i, true, &local, &peer);
        if (dlb_policy_asks (self->policy) &&
            zclock_mono () - self->steal_at[i] > DLB_STEAL_HOLD * self->cfg.state_period)
            s_consider (self, &best, (int) i, false, &peer, &local);
    }
    if (best.peer < 0)
        return;
    dlb_state_t *p = &self->peers[best.peer];
    if (best.send) {
        dlb_info ("%s: send %llu jobs to %s: %s", dlb_policy_name (self->policy),
                  (unsigned long long) best.jobs, p->node, best.why);
        s_take (self, p->node, best.jobs, best.why);
    }
    else {
        dlb_info ("%s: ask %s for %llu jobs: %s", dlb_policy_name (self->policy), p->node,
                  (unsigned long long) best.jobs, best.why);
        dlb_writer_t w;
        dlb_writer_init (&w, DLB_MSG_STEAL);
        msgpack_pack_map (&w.pk, 6);
        dlb_writer_str (&w, "from", self->cfg.node);
        dlb_writer_str (&w, "to", p->node);
        dlb_writer_u64 (&w, "want", best.jobs);
        dlb_writer_u64 (&w, "queue", self->me.queue);
        dlb_writer_u64 (&w, "running", self->me.running);
        dlb_writer_double (&w, "rate", s_rate (&self->me, p));
        dlb_writer_send (&w, self->transfer);
        self->steal_at[best.peer] = zclock_mono ();
        self->steals_sent++;
        s_publish (self);
    }
}

static void s_decline (adaptor_t *self, uint64_t want, const char *from, const char *why)
{
    dlb_info ("declined a request for %llu jobs from %s: %s", (unsigned long long) want,
              from, why);
    self->steals_declined++;
}

//  A peer asks for jobs: confirm with this node's own figures.
static void s_steal (adaptor_t *self, const msgpack_object *body)
{
    char from[DLB_NAME_MAX] = "";
    uint64_t want = 0, queue = 0, running = 0;
    double rate = 0;
    if (dlb_obj_str (body, "from", from, sizeof from) ||
        dlb_obj_u64 (body, "want", &want) || dlb_obj_u64 (body, "queue", &queue) ||
        dlb_obj_double (body, "rate", &rate) || rate <= 0) {
        dlb_warn ("dropped a malformed STEAL from %s", *from ? from : "?");
        return;
    }
    dlb_obj_u64 (body, "running", &running);
    char to[DLB_NAME_MAX] = "";
    if (dlb_obj_str (body, "to", to, sizeof to) == 0 && !streq (to, self->cfg.node)) {
        dlb_warn ("dropped a STEAL from %s addressed to %s, not to this node", from, to);
        return;
    }
    int i = s_peer_index (self, from);
    if (zclock_mono () < self->hold_until) {
        //  A move of ours is on its way and not yet counted as in flight:
        //  granting now would act twice on the same imbalance.
        s_decline (self, want, from, "a move is in progress");
        return;
    }
    if (i < 0 || self->policy == DLB_POLICY_NONE || !self->have_me ||
        (self->metric == DLB_METRIC_ETA && self->me.rate <= 0)) {
        s_decline (self, want, from,
                   i < 0                             ? "unknown peer"
                   : self->policy == DLB_POLICY_NONE ? "policy none"
                                                     : "no job rate measured here yet");
        return;
    }
    dlb_load_t local, peer = {.queued = queue + s_in_flight (self, (size_t) i),
                              .running = running,
                              .rate = rate};
    s_load (&self->me, &self->peers[i], 0, &local);
    char why[512];
    uint64_t n = s_amount (self, &local, &peer, why, sizeof why);
    if (n > want)
        n = want;
    if (n == 0) {
        s_decline (self, want, from, why);
        return;
    }
    dlb_info ("%s asked for %llu jobs: giving %llu: %s", from, (unsigned long long) want,
              (unsigned long long) n, why);
    self->steals_granted++;
    s_take (self, from, n, why);
}

static int s_state_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    adaptor_t *self = arg;
    dlb_msg_t msg;
    int rc = dlb_service_recv (reader, "the state bus", &msg);
    if (rc == -1)
        return -1;
    if (rc == -2)
        return 0;
    char reason[256];
    const msgpack_object_array *peers;
    dlb_state_t state;
    if (dlb_state_decode (dlb_obj_get (msg.body, "local"), &state, reason,
                          sizeof reason) == 0) {
        //  Queue and running come from the worker's own reports, which are
        //  fresher than the state service's copy of them.
        if (self->have_worker) {
            state.queue = self->me.queue;
            state.running = self->me.running;
        }
        self->me = state;
        self->have_me = true;
    }
    if (dlb_obj_array (msg.body, "peers", &peers) == 0)
        for (uint32_t k = 0; k < peers->size; k++) {
            if (dlb_state_decode (&peers->ptr[k], &state, reason, sizeof reason))
                continue;
            int i = s_peer_index (self, state.node);
            if (i < 0 && self->peer_count < DLB_PEERS_MAX)
                i = (int) self->peer_count++;
            if (i < 0)
                continue;
            bool restarted = self->peers[i].boot && state.boot != self->peers[i].boot;
            self->peers[i] = state;
            if (restarted)
                s_rebuild_flight (self, (size_t) i, "the peer's worker restarted");
        }
    dlb_msg_release (&msg);
    s_balance (self);
    return 0;
}

static bool s_bootstrapped (adaptor_t *self, const char *id)
{
    for (size_t i = 0; i < DLB_WORKLOADS_MAX; i++)
        if (streq (self->bootstrapped[i], id))
            return true;
    return false;
}

static int s_workerbus_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    adaptor_t *self = arg;
    dlb_msg_t msg;
    int rc = dlb_service_recv (reader, "the worker bus", &msg);
    if (rc == -1)
        return -1;
    if (rc == -2)
        return 0;
    dlb_count_t sent_to[DLB_PEERS_MAX];
    size_t counted = dlb_obj_counts (msg.body, "sent_to", sent_to, DLB_PEERS_MAX);
    uint64_t boot = 0;
    dlb_obj_u64 (msg.body, "boot", &boot);
    bool restarted = self->boot && boot != self->boot;
    self->boot = boot;
    if (restarted)
        memset (self->sent_to, 0, sizeof self->sent_to); //  its counts start anew
    for (size_t k = 0; k < counted; k++) {
        int i = s_peer_index (self, sent_to[k].node);
        if (i >= 0 && self->sent_to[i] != sent_to[k].jobs) {
            self->sent_to[i] = sent_to[k].jobs;
            self->hold_until = 0; //  the worker has acted on the TAKE
        }
    }
    for (size_t i = 0; restarted && i < self->peer_count; i++)
        s_rebuild_flight (self, i, "our worker restarted");
    //  Queue and running from the worker itself are fresher than the state
    //  service's copy.
    self->have_worker = true;
    dlb_obj_u64 (msg.body, "queue", &self->me.queue);
    dlb_obj_u64 (msg.body, "running", &self->me.running);
    const msgpack_object_array *workloads;
    if (dlb_obj_array (msg.body, "workloads", &workloads) == 0)
        for (uint32_t k = 0; k < workloads->size; k++) {
            char id[DLB_NAME_MAX] = "", state[16] = "";
            uint64_t jobs = 0;
            dlb_obj_str (&workloads->ptr[k], "id", id, sizeof id);
            dlb_obj_str (&workloads->ptr[k], "state", state, sizeof state);
            dlb_obj_u64 (&workloads->ptr[k], "jobs", &jobs);
            if (*id && streq (state, "running") && !s_bootstrapped (self, id)) {
                snprintf (self->bootstrapped[self->boot_next], DLB_NAME_MAX, "%s", id);
                self->boot_next = (self->boot_next + 1) % DLB_WORKLOADS_MAX;
                if (self->have_me)
                    s_bootstrap (self, id, jobs);
            }
        }
    dlb_msg_release (&msg);
    return 0;
}

static int s_inbox_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    adaptor_t *self = arg;
    dlb_msg_t msg;
    int rc = dlb_service_recv (reader, "the adaptor inbox", &msg);
    if (rc == -1)
        return -1;
    if (rc == -2)
        return 0;
    if (msg.type == DLB_MSG_STEAL)
        s_steal (self, msg.body);
    else if (msg.type == DLB_MSG_COMMAND) {
        char cmd[32] = "", name[32] = "";
        uint64_t req = 0;
        dlb_obj_str (msg.body, "cmd", cmd, sizeof cmd);
        dlb_obj_u64 (msg.body, "req", &req);
        dlb_obj_str (msg.body, "name", name, sizeof name);
        dlb_policy_t policy;
        bool ok = streq (cmd, "policy") && dlb_policy_parse (name, &policy) == 0;
        dlb_writer_t w;
        dlb_writer_init (&w, DLB_MSG_REPLY);
        msgpack_pack_map (&w.pk, 3);
        dlb_writer_u64 (&w, "req", req);
        dlb_writer_bool (&w, "ok", ok);
        if (ok) {
            dlb_info ("policy %s -> %s (through the control socket)",
                      dlb_policy_name (self->policy), name);
            self->policy = policy;
            dlb_service_setting_save (&self->cfg, "policy", name);
            dlb_writer_str (&w, "policy", name);
        }
        else
            dlb_writer_str (&w, "error",
                            "the adaptor takes: policy none|sender|receiver|symmetric");
        dlb_writer_send (&w, self->reply);
        s_publish (self);
    }
    else
        dlb_warn ("dropped an unexpected %s on the adaptor inbox",
                  dlb_msg_type_name (msg.type));
    dlb_msg_release (&msg);
    return 0;
}

static int s_publish_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    adaptor_t *self = arg;
    //  (a change of policy is published at once; the counts may wait)
    if (zclock_mono () - self->last_publish >=
        DLB_STATUS_KEEPALIVE - self->cfg.state_period / 2)
        s_publish (self);
    s_balance (self); //  also when no state arrives (e.g. after a hold)
    return 0;
}

void dlb_adaptor_actor (zsock_t *pipe, void *args)
{
    adaptor_t *self = calloc (1, sizeof *self);
    assert (self);
    self->cfg = *(dlb_config_t *) args;
    dlb_policy_parse (self->cfg.policy, &self->policy);
    char kept[16];
    if (dlb_service_setting_load (&self->cfg, "policy", kept, sizeof kept) == 0 &&
        dlb_policy_parse (kept, &self->policy) == 0)
        dlb_info ("policy %s, as set before this adaptor was restarted", kept);
    dlb_metric_parse (self->cfg.metric, &self->metric);
    self->threshold = self->cfg.threshold;
    self->state = dlb_service_sub (&self->cfg, DLB_SVC_STATE);
    self->workerbus = dlb_service_sub (&self->cfg, DLB_SVC_WORKER);
    self->inbox =
        dlb_service_bind (&self->cfg, ZMQ_PULL, DLB_PORT_INBOX (DLB_SVC_ADAPTOR));
    self->worker =
        dlb_service_connect (&self->cfg, ZMQ_PUSH, DLB_PORT_INBOX (DLB_SVC_WORKER));
    self->transfer =
        dlb_service_connect (&self->cfg, ZMQ_PUSH, DLB_PORT_INBOX (DLB_SVC_TRANSFER));
    self->reply =
        dlb_service_connect (&self->cfg, ZMQ_PUSH, DLB_PORT_INBOX (DLB_SVC_MONITOR));
    self->bus = dlb_service_bind (&self->cfg, ZMQ_PUB, DLB_PORT_BUS (DLB_SVC_ADAPTOR));
    if (!self->state || !self->workerbus || !self->inbox || !self->worker ||
        !self->transfer || !self->reply || !self->bus)
        goto cleanup;
    self->loop = zloop_new ();
    zloop_reader (self->loop, pipe, dlb_service_pipe, self);
    zloop_reader (self->loop, self->state, s_state_event, self);
    zloop_reader (self->loop, self->workerbus, s_workerbus_event, self);
    zloop_reader (self->loop, self->inbox, s_inbox_event, self);
    zloop_timer (self->loop, self->cfg.state_period, 0, s_publish_timer, self);
    dlb_info ("adaptor ready: policy %s, metric %s, threshold %g %s",
              dlb_policy_name (self->policy), dlb_metric_name (self->metric),
              self->threshold, self->metric == DLB_METRIC_ETA ? "s" : "jobs");
    zsock_signal (pipe, 0);
    zloop_start (self->loop);
    dlb_service_setting_clear (&self->cfg, "policy"); //  a clean stop

cleanup:
    zloop_destroy (&self->loop);
    zsock_destroy (&self->state);
    zsock_destroy (&self->workerbus);
    zsock_destroy (&self->inbox);
    zsock_destroy (&self->worker);
    zsock_destroy (&self->transfer);
    zsock_destroy (&self->reply);
    zsock_destroy (&self->bus);
    free (self);
}

//  ---------------------------------------------------------------------
//  Self-test: the adaptor in-process, fed states by a stand-in state
//  service; its TAKE and STEAL decisions are read off stand-in sockets.

static void s_feed (zsock_t *state_pub, uint64_t my_queue, double my_rate,
                    uint64_t peer_queue, double peer_rate)
{
    dlb_state_t me = {.node = "a",
                      .seq = 1,
                      .throttle = 1,
                      .threads = 1,
                      .queue = my_queue,
                      .rate = my_rate};
    dlb_state_t peer = {.node = "b",
                        .seq = 1,
                        .throttle = 0.5,
                        .threads = 1,
                        .queue = peer_queue,
                        .rate = peer_rate};
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_STATUS);
    msgpack_pack_map (&w.pk, 3);
    dlb_writer_str (&w, "service", "state");
    dlb_writer_key (&w, "local");
    dlb_state_pack (&w, &me, true);
    dlb_writer_key (&w, "peers");
    msgpack_pack_array (&w.pk, 1);
    dlb_state_pack (&w, &peer, true);
    dlb_writer_send (&w, state_pub);
}

//  Feeds states until a message of `type` comes out of `out`; returns its
//  count/want field, or -1 on timeout.
static int64_t s_decision (zsock_t *state_pub, zsock_t *out, int type, uint64_t q1,
                           double r1, uint64_t q2, double r2)
{
    int64_t deadline = zclock_mono () + 5000;
    zsock_set_rcvtimeo (out, 100);
    while (zclock_mono () < deadline) {
        s_feed (state_pub, q1, r1, q2, r2);
        dlb_msg_t msg;
        char reason[256];
        if (dlb_msg_recv (out, &msg, reason, sizeof reason) != 0)
            continue;
        uint64_t n = 0;
        if (msg.type == type)
            dlb_obj_u64 (msg.body, type == DLB_MSG_TAKE ? "count" : "want", &n);
        dlb_msg_release (&msg);
        if (n)
            return (int64_t) n;
    }
    return -1;
}

void dlb_adaptor_test (bool verbose)
{
    if (!verbose)
        dlb_log_set_level (DLB_LOG_ERROR);
    dlb_log_init ("a", "adaptor");
    int base = dlb_service_free_base (DLB_PORT_SPAN);
    assert (base > 0);
    char port[16];
    snprintf (port, sizeof port, "%d", base);
    dlb_config_t cfg;
    char data[] = "/tmp/dlb_adaptor_test_XXXXXX";
    assert (mkdtemp (data));
    char *args[] = {"t",      "--node",         "a",  "--port",     port, "--policy",
                    "sender", "--state-period", "50", "--data-dir", data};
    assert (dlb_config_parse (&cfg, 11, args, "t", "test") == 0);
    zsock_t *state_pub = dlb_service_bind (&cfg, ZMQ_PUB, DLB_PORT_BUS (DLB_SVC_STATE));
    zsock_t *worker = dlb_service_bind (&cfg, ZMQ_PULL, DLB_PORT_INBOX (DLB_SVC_WORKER));
    zsock_t *transfer =
        dlb_service_bind (&cfg, ZMQ_PULL, DLB_PORT_INBOX (DLB_SVC_TRANSFER));
    zactor_t *adaptor = dlb_service_start (dlb_adaptor_actor, &cfg);
    assert (state_pub && worker && transfer && adaptor);

    //  Sender: a (100 jobs at 90/s) vs b (0 jobs at 45/s): give b 33.
    assert (s_decision (state_pub, worker, DLB_MSG_TAKE, 100, 90, 0, 45) == 33);

    //  Garbage and a STEAL from a stranger on the inbox: no effect.
    zsock_t *inbox =
        dlb_service_connect (&cfg, ZMQ_PUSH, DLB_PORT_INBOX (DLB_SVC_ADAPTOR));
    zstr_send (inbox, "garbage");
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_STEAL);
    msgpack_pack_map (&w.pk, 4);
    dlb_writer_str (&w, "from", "mallory");
    dlb_writer_u64 (&w, "want", 10);
    dlb_writer_u64 (&w, "queue", 0);
    dlb_writer_double (&w, "rate", 10);
    dlb_writer_send (&w, inbox);

    //  Receiver, switched at run time: b is the loaded one, a asks it.
    dlb_writer_init (&w, DLB_MSG_COMMAND);
    msgpack_pack_map (&w.pk, 3);
    dlb_writer_str (&w, "cmd", "policy");
    dlb_writer_str (&w, "name", "receiver");
    dlb_writer_u64 (&w, "req", 1);
    dlb_writer_send (&w, inbox);
    //  (a: 0 jobs at 90/s, b: 90 at 45/s -> balance at 60 for a)
    assert (s_decision (state_pub, transfer, DLB_MSG_STEAL, 0, 90, 90, 45) == 60);

    //  The donor side: b asks a for 50 while a holds 100 at 90/s and b 0 at
    //  45/s; a confirms with its own figures and gives 33, not 50. (Asked
    //  again until a has read the state: before, it rightly declines.)
    uint64_t count = 0;
    int64_t deadline = zclock_mono () + 5000;
    zsock_set_rcvtimeo (worker, 200);
    while (count == 0 && zclock_mono () < deadline) {
        s_feed (state_pub, 100, 90, 0, 45);
        dlb_writer_init (&w, DLB_MSG_STEAL);
        msgpack_pack_map (&w.pk, 5);
        dlb_writer_str (&w, "from", "b");
        dlb_writer_u64 (&w, "want", 50);
        dlb_writer_u64 (&w, "queue", 0);
        dlb_writer_u64 (&w, "running", 0);
        dlb_writer_double (&w, "rate", 45);
        dlb_writer_send (&w, inbox);
        dlb_msg_t msg;
        char reason[256];
        if (dlb_msg_recv (worker, &msg, reason, sizeof reason) == 0) {
            if (msg.type == DLB_MSG_TAKE)
                dlb_obj_u64 (msg.body, "count", &count);
            dlb_msg_release (&msg);
        }
    }
    assert (count == 33);

    zsock_destroy (&inbox);
    zactor_destroy (&adaptor);
    zsock_destroy (&state_pub);
    zsock_destroy (&worker);
    zsock_destroy (&transfer);
    zdir_t *tree = zdir_new (data, NULL);
    zdir_remove (tree, true);
    zdir_destroy (&tree);
    dlb_log_set_level (DLB_LOG_INFO);
}
