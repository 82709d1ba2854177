/*  dlb_transfer: reliable delivery of job and result batches between nodes.

    Sockets
        ext     PULL  BASE+2    JOBS, RESULTS, ACK, STEAL, HOLD, CANCEL from peers
        peers   PUSH  one per peer, to its advertised transfer endpoint
        inbox   PULL  BASE+23   JOBS/RESULTS/HOLD/ACK/CANCEL from the worker,
                                STEAL from the adaptor
        worker  PUSH  BASE+21   received JOBS, RESULTS, HOLD and CANCEL,
                                returned JOBS
        adaptor PUSH  BASE+24   STEAL requests from peers
        state   SUB   BASE+12   who the peers are, where, and whether alive
        bus     PUB   BASE+13   STATUS (counts, bytes, link figures), every
                                DLB_STATUS_KEEPALIVE

    Delivery: a batch stays in `pending` until its receiver sends ACK, and
    is resent after --ack-timeout, doubling up to DLB_RESEND_CAP. The
    receiver checks a batch completely (signature, version, every payload's
    size, inflation and CRC) before it hands it on. JOBS are acknowledged
    here, once handed to the worker; it remembers the last DLB_SEEN_MAX
    batch ids (from all senders) so that a resent JOBS batch is
    acknowledged again but delivered once. RESULTS are acknowledged by the
    origin's worker, after it has written them to its journal: every copy
    goes to the worker, which answers each with an ACK that this service
    sends on. So a result acknowledged is a result kept, whatever dies.
    Jobs for a peer that is stale, or that has not acknowledged after
    DLB_JOB_ATTEMPTS tries, go back to the local queue; results wait for
    their origin indefinitely, since only the origin can use them. HOLD
    (lease renewals) and STEAL are best-effort, like heartbeats. Batches
    are only accepted from nodes the state service knows as peers.

    Link figures, for the predictive policy: for each JOBS batch
    acknowledged after its first send, t = ack delay and B = its bytes on
    the wire fit t = latency + B / bandwidth per peer: latency follows the
    smallest delays (min of the new delay and the old latency grown by
    DLB_LINK_LATENCY_DRIFT), bandwidth is an EWMA (DLB_LINK_GAIN) of
    B / (t - latency) over batches of at least DLB_LINK_MIN_BYTES.

    Events (dlb_event, on the bus), summarised rather than one a batch:
    `transfer` when the last pending batch is acknowledged (batches, jobs
    and results delivered, and resends, since the previous one), `resent`
    once per resend scan that resent any, `returned` for jobs sent home. */
#include "dlb_transfer.h"
#include "dlb_event.h"
#include "dlb_service.h"

#define DLB_RESEND_TICK        200   //  msecs between resend checks
#define DLB_RESEND_CAP         30000 //  msecs, longest wait between resends
#define DLB_JOB_ATTEMPTS       4     //  sends of a job batch before it comes home
#define DLB_SEEN_MAX           4096  //  batch ids remembered for de-duplication
#define DLB_LINK_GAIN          0.3   //  EWMA gain of a peer's bandwidth
#define DLB_LINK_LATENCY_DRIFT 1.05  //  the latency estimate grows by this per batch
#define DLB_LINK_MIN_BYTES     65536 //  bytes a batch needs to measure bandwidth
#define DLB_SUMMARY_GAP                                                                  \
    5000 //  msecs between `transfer` events: a busy node's deliveries are summed

typedef struct {
    char node[DLB_NAME_MAX];
    char endpoint[DLB_ENDPOINT_MAX];
    bool stale;
    bool warned; //  that no trusted key has its name
    zsock_t *push;
    double latency;   //  secs, the link's (0: not measured)
    double bandwidth; //  bytes/s (0: not measured)
    uint64_t timed;   //  batches measured
} peer_t;

typedef struct {
    char to[DLB_NAME_MAX];
    uint64_t batch;
    int type;
    size_t count, raw;
    zframe_t *frame;
    int64_t sent_at; //  0: not sent yet
    int attempts;
} pending_t;

typedef struct {
    uint64_t jobs_sent, jobs_received, results_sent, results_received;
    uint64_t raw_bytes, wire_bytes, raw_in, wire_in;
    uint64_t resends, dropped, duplicates, returned;
    uint64_t job_wire; //  wire bytes of JOBS batches sent
} stats_t;

typedef struct {
    dlb_config_t cfg;
    zsock_t *ext, *inbox, *worker, *adaptor, *state, *bus;
    dlb_keys_t *keys; //  NULL under --insecure
    zloop_t *loop;
    peer_t peers[DLB_PEERS_MAX];
    size_t peer_count;
    zlistx_t *pending;
    zhashx_t *seen;       //  "from/batch" -> non-NULL
    zlistx_t *seen_order; //  keys of seen, oldest first
    stats_t stats;
    bool resend_armed; //  the resend timer runs (only while batches are pending)
    //  Since the last `transfer` event: batches, jobs and results delivered
    //  (acknowledged), resends, and the peers they went to
    uint64_t summary_batches, summary_jobs, summary_results, summary_resends;
    char summary_peers[DLB_EVENT_TEXT_MAX / 2];
    int64_t summary_at; //  zclock_mono of the last `transfer` event
    bool summary_armed; //  a one-shot timer will publish the summary
} transfer_t;

//  Publishes an event of this service (dlb_event_set's arguments).
#define s_event(self, kind, peer, count, ...)                                            \
    do {                                                                                 \
        dlb_event_t event_;                                                              \
        dlb_event_set (&event_, (self)->cfg.node, "transfer", kind, NULL, peer, count,   \
                       __VA_ARGS__);                                                     \
        dlb_event_publish ((self)->bus, &event_);                                        \
    } while (0)

static void s_summary (transfer_t *self);

//  The summary that waited for DLB_SUMMARY_GAP (one-shot).
static int s_summary_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    transfer_t *self = arg;
    self->summary_armed = false;
    s_summary (self);
    return 0;
}

//  Publishes the deliveries since the last `transfer` event, now if
//  DLB_SUMMARY_GAP has passed since then, else once it has (a one-shot
//  timer: an idle node is not woken again).
static void s_summary (transfer_t *self)
{
    if (self->summary_batches == 0 || self->summary_armed)
        return;
    int64_t wait = self->summary_at + DLB_SUMMARY_GAP - zclock_mono ();
    if (self->summary_at && wait > 0) {
        zloop_timer (self->loop, (size_t) wait, 1, s_summary_timer, self);
        self->summary_armed = true;
        return;
    }
    s_event (self, "transfer", NULL, self->summary_batches,
             "delivered %llu batches (%llu jobs, %llu results) to %s, %llu resends",
             (unsigned long long) self->summary_batches,
             (unsigned long long) self->summary_jobs,
             (unsigned long long) self->summary_results, self->summary_peers,
             (unsigned long long) self->summary_resends);
    self->summary_batches = self->summary_jobs = 0;
    self->summary_results = self->summary_resends = 0;
    *self->summary_peers = 0;
    self->summary_at = zclock_mono ();
}

static peer_t *s_peer (transfer_t *self, const char *node)
{
    for (size_t i = 0; i < self->peer_count; i++)
        if (streq (self->peers[i].node, node))
            return &self->peers[i];
    return NULL;
}

static void s_publish (transfer_t *self)
{
    stats_t *s = &self->stats;
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_STATUS);
    msgpack_pack_map (&w.pk, 18);
    dlb_writer_str (&w, "service", "transfer");
    dlb_writer_str (&w, "node", self->cfg.node);
    dlb_writer_u64 (&w, "pid", (uint64_t) getpid ()); //  the monitor counts its CPU
    dlb_writer_u64 (&w, "jobs_sent", s->jobs_sent);
    dlb_writer_u64 (&w, "jobs_received", s->jobs_received);
    dlb_writer_u64 (&w, "results_sent", s->results_sent);
    dlb_writer_u64 (&w, "results_received", s->results_received);
    dlb_writer_u64 (&w, "raw_bytes", s->raw_bytes);
    dlb_writer_u64 (&w, "wire_bytes", s->wire_bytes);
    dlb_writer_u64 (&w, "raw_in", s->raw_in);
    dlb_writer_u64 (&w, "wire_in", s->wire_in);
    dlb_writer_u64 (&w, "resends", s->resends);
    dlb_writer_u64 (&w, "dropped", s->dropped);
    dlb_writer_u64 (&w, "duplicates", s->duplicates);
    dlb_writer_u64 (&w, "returned", s->returned);
    dlb_writer_u64 (&w, "pending", zlistx_size (self->pending));
    dlb_writer_u64 (&w, "job_wire", s->job_wire);
    dlb_writer_key (&w, "links");
    size_t timed = 0;
    for (size_t i = 0; i < self->peer_count; i++)
        timed += self->peers[i].timed > 0;
    msgpack_pack_map (&w.pk, timed);
    for (size_t i = 0; i < self->peer_count; i++) {
        peer_t *peer = &self->peers[i];
        if (!peer->timed)
            continue;
        dlb_writer_string (&w, peer->node);
        msgpack_pack_map (&w.pk, 3);
        dlb_writer_double (&w, "latency", peer->latency);
        dlb_writer_double (&w, "bandwidth", peer->bandwidth);
        dlb_writer_u64 (&w, "batches", peer->timed);
    }
    dlb_writer_send (&w, self->bus);
}

static int s_resend_timer (zloop_t *loop, int timer_id, void *arg);

//  Starts the resend checks, if they do not run: a batch is pending. They
//  stop when none is (an idle node has no timer to wake it for them).
static void s_arm_resend (transfer_t *self)
{
    if (!self->resend_armed) {
        zloop_timer (self->loop, DLB_RESEND_TICK, 0, s_resend_timer, self);
        self->resend_armed = true;
    }
}

//  Sends a pending batch to its peer if the peer is reachable. The frame
//  stays in pending for a resend. A try that could not be handed to the
//  peer's socket (no connection, queue full) counts as an attempt too, so
//  that jobs for a peer that cannot take them still come home in time.
static void s_send (transfer_t *self, pending_t *p)
{
    peer_t *peer = s_peer (self, p->to);
    if (!peer || peer->stale)
        return;
    if (p->attempts++ > 0)
        self->stats.resends++;
    p->sent_at = zclock_mono ();
    if (peer->push) //  not taken now (no connection, queue full): resent later
        zframe_send (&p->frame, peer->push, ZFRAME_DONTWAIT | ZFRAME_REUSE);
}

//  Gives the jobs of a pending batch back to the local worker.
static void s_return_jobs (transfer_t *self, pending_t *p, const char *why)
{
    dlb_warn ("%zu jobs of batch %llu for %s come back to the local queue: %s", p->count,
              (unsigned long long) p->batch, p->to, why);
    s_event (self, "returned", p->to, p->count,
             "%zu jobs of a batch for %s came back to the local queue: %s", p->count,
             p->to, why);
    self->stats.returned += p->count;
    zframe_send (&p->frame, self->worker, 0);
}

static void s_pending_destroy (pending_t **p_p)
{
    if (*p_p) {
        zframe_destroy (&(*p_p)->frame);
        free (*p_p);
        *p_p = NULL;
    }
}

//  A batch from the local worker for a peer (JOBS) or an origin (RESULTS).
//  The pending batch takes the message's frame (its body is not read after).
static void s_outgoing (transfer_t *self, dlb_msg_t *msg)
{
    pending_t *p = calloc (1, sizeof *p);
    const msgpack_object_array *items;
    if (dlb_obj_str (msg->body, "to", p->to, sizeof p->to) ||
        dlb_obj_u64 (msg->body, "batch", &p->batch) ||
        dlb_obj_array (msg->body, "items", &items)) {
        dlb_warn ("dropped a local %s without to/batch/items",
                  dlb_msg_type_name (msg->type));
        free (p);
        return;
    }
    p->type = msg->type;
    p->count = items->size;
    for (uint32_t i = 0; i < items->size; i++) {
        uint64_t n = 0;
        dlb_obj_u64 (&items->ptr[i], "n", &n);
        p->raw += n * sizeof (double);
    }
    p->frame = msg->frame;
    msg->frame = NULL;
    peer_t *peer = s_peer (self, p->to);
    if (p->type == DLB_MSG_JOBS && (!peer || peer->stale)) {
        s_return_jobs (self, p, peer ? "the peer is stale" : "no such peer");
        s_pending_destroy (&p);
        return;
    }
    size_t wire = zframe_size (p->frame);
    if (p->type == DLB_MSG_JOBS) {
        self->stats.jobs_sent += p->count;
        self->stats.job_wire += wire;
    }
    else
        self->stats.results_sent += p->count;
    self->stats.raw_bytes += p->raw;
    self->stats.wire_bytes += wire;
    dlb_info ("sending %zu %s to %s (batch %llu: %zu B of data, %zu B on the wire)",
              p->count, p->type == DLB_MSG_JOBS ? "jobs" : "results", p->to,
              (unsigned long long) p->batch, p->raw, wire);
    zlistx_add_end (self->pending, p);
    s_arm_resend (self);
    s_send (self, p);
}

//  A batch of `bytes` was acknowledged `delay` secs after it was sent.
static void s_link_measure (peer_t *peer, double delay, size_t bytes)
{
    double latency = peer->timed ? peer->latency * DLB_LINK_LATENCY_DRIFT : delay;
    peer->latency = delay < latency ? delay : latency;
    peer->timed++;
    if (bytes >= DLB_LINK_MIN_BYTES && delay > peer->latency) {
        double bandwidth = (double) bytes / (delay - peer->latency);
        peer->bandwidth =
            peer->bandwidth > 0
                ? peer->bandwidth + DLB_LINK_GAIN * (bandwidth - peer->bandwidth)
                : bandwidth;
    }
}

static void s_ack (transfer_t *self, peer_t *peer, uint64_t batch, size_t count)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_ACK);
    msgpack_pack_map (&w.pk, 3);
    dlb_writer_str (&w, "from", self->cfg.node);
    dlb_writer_u64 (&w, "batch", batch);
    dlb_writer_u64 (&w, "count", count);
    zframe_t *frame = dlb_writer_frame (&w);
    if (!peer->push || zframe_send (&frame, peer->push, ZFRAME_DONTWAIT) != 0)
        zframe_destroy (&frame); //  lost: the sender resends and we ack again
}

//  Remembers a batch id; true if it had been seen already.
static bool s_seen (transfer_t *self, const char *from, uint64_t batch)
{
    char key[DLB_NAME_MAX + 24];
    snprintf (key, sizeof key, "%s/%llu", from, (unsigned long long) batch);
    if (zhashx_lookup (self->seen, key))
        return true;
    zhashx_insert (self->seen, key, (void *) 1);
    zlistx_add_end (self->seen_order, strdup (key));
    if (zlistx_size (self->seen_order) > DLB_SEEN_MAX) {
        char *oldest = zlistx_detach (self->seen_order, NULL);
        zhashx_delete (self->seen, oldest);
        free (oldest);
    }
    return false;
}

static int s_ext_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    transfer_t *self = arg;
    dlb_msg_t msg;
    int rc = dlb_service_recv (reader, "the transfer endpoint", &msg);
    if (rc == -1)
        return -1;
    if (rc == -2) {
        self->stats.dropped++;
        return 0;
    }
    char from[DLB_NAME_MAX] = "", to[DLB_NAME_MAX] = "", reason[256];
    const char *address = zframe_meta (msg.frame, "Peer-Address");
    dlb_obj_str (msg.body, "from", from, sizeof from);
    peer_t *peer = s_peer (self, from);
    const char *sender = dlb_keys_sender (msg.frame);
    uint64_t batch = 0;
    if (self->keys && (!sender || !streq (sender, from))) {
        dlb_warn ("dropped a %s that claims to come from %s but came with the key of %s "
                  "(%s)",
                  dlb_msg_type_name (msg.type), *from ? from : "nobody",
                  sender ? sender : "nobody", address ? address : "?");
        self->stats.dropped++;
    }
    else if (!peer) {
        dlb_warn ("dropped a %s from %s (%s): not a known peer",
                  dlb_msg_type_name (msg.type), *from ? from : "an unnamed sender",
                  address ? address : "?");
        self->stats.dropped++;
    }
    else if (msg.type == DLB_MSG_ACK) {
        dlb_obj_u64 (msg.body, "batch", &batch);
        for (pending_t *p = zlistx_first (self->pending); p;
             p = zlistx_next (self->pending))
            if (p->batch == batch && streq (p->to, from)) {
                dlb_debug ("batch %llu acknowledged by %s after %lld ms",
                           (unsigned long long) batch, from,
                           (long long) (zclock_mono () - p->sent_at));
                if (p->type == DLB_MSG_JOBS && p->attempts == 1)
                    s_link_measure (peer, (zclock_mono () - p->sent_at) / 1000.0,
                                    zframe_size (p->frame));
                self->summary_batches++;
                if (p->type == DLB_MSG_JOBS)
                    self->summary_jobs += p->count;
                else
                    self->summary_results += p->count;
                self->summary_resends +=
                    (uint64_t) (p->attempts > 1 ? p->attempts - 1 : 0);
                if (!strstr (self->summary_peers, p->to) &&
                    strlen (self->summary_peers) + strlen (p->to) + 2 <
                        sizeof self->summary_peers)
                    snprintf (self->summary_peers + strlen (self->summary_peers),
                              sizeof self->summary_peers - strlen (self->summary_peers),
                              "%s%s", *self->summary_peers ? " " : "", p->to);
                zlistx_delete (self->pending, zlistx_cursor (self->pending));
                s_pending_destroy (&p);
                if (zlistx_size (self->pending) == 0)
                    s_summary (self);
                break;
            }
    }
    else if (msg.type == DLB_MSG_JOBS || msg.type == DLB_MSG_RESULTS) {
        dlb_job_t **jobs;
        size_t count;
        if (dlb_batch_decode (&msg, from, to, &batch, &jobs, &count, reason,
                              sizeof reason)) {
            dlb_warn ("dropped a %s from %s (%s): %s", dlb_msg_type_name (msg.type), from,
                      address ? address : "?", reason);
            self->stats.dropped++;
        }
        else if (!streq (to, self->cfg.node)) {
            dlb_warn ("dropped a %s from %s addressed to %s, not to this node",
                      dlb_msg_type_name (msg.type), from, to);
            self->stats.dropped++;
            dlb_batch_free (&jobs, count);
        }
        else {
            size_t raw = 0;
            for (size_t i = 0; i < count; i++)
                raw += jobs[i]->elems * sizeof (double);
            dlb_batch_free (&jobs, count);
            bool results = msg.type == DLB_MSG_RESULTS;
            if (s_seen (self, from, batch)) {
                self->stats.duplicates++;
                if (results) //  the worker acknowledges every copy it has kept
                    zframe_send (&msg.frame, self->worker, ZFRAME_REUSE);
            }
            else {
                if (msg.type == DLB_MSG_JOBS)
                    self->stats.jobs_received += count;
                else
                    self->stats.results_received += count;
                self->stats.raw_in += raw;
                self->stats.wire_in += zframe_size (msg.frame);
                dlb_info ("received %zu %s from %s (batch %llu, %zu B on the wire)",
                          count, msg.type == DLB_MSG_JOBS ? "jobs" : "results", from,
                          (unsigned long long) batch, zframe_size (msg.frame));
                zframe_send (&msg.frame, self->worker, ZFRAME_REUSE);
            }
            if (!results)
                s_ack (self, peer, batch, count);
        }
    }
    else if (msg.type == DLB_MSG_STEAL)
        zframe_send (&msg.frame, self->adaptor, ZFRAME_DONTWAIT | ZFRAME_REUSE);
    else if (msg.type == DLB_MSG_HOLD || msg.type == DLB_MSG_CANCEL)
        zframe_send (&msg.frame, self->worker, ZFRAME_DONTWAIT | ZFRAME_REUSE);
    else {
        dlb_warn ("dropped an unexpected %s from %s", dlb_msg_type_name (msg.type), from);
        self->stats.dropped++;
    }
    dlb_msg_release (&msg);
    return 0;
}

static int s_inbox_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    transfer_t *self = arg;
    dlb_msg_t msg;
    int rc = dlb_service_recv (reader, "the transfer inbox", &msg);
    if (rc == -1)
        return -1;
    if (rc == -2)
        return 0;
    if (msg.type == DLB_MSG_JOBS || msg.type == DLB_MSG_RESULTS)
        s_outgoing (self, &msg);
    else if (msg.type == DLB_MSG_STEAL || msg.type == DLB_MSG_HOLD ||
             msg.type == DLB_MSG_ACK || msg.type == DLB_MSG_CANCEL) {
        //  Best-effort, to a live peer: a lost one is made good by the next
        //  heartbeat, request or resend.
        char to[DLB_NAME_MAX] = "";
        dlb_obj_str (msg.body, "to", to, sizeof to);
        peer_t *peer = s_peer (self, to);
        if (peer && peer->push && (!peer->stale || msg.type == DLB_MSG_ACK))
            zframe_send (&msg.frame, peer->push, ZFRAME_DONTWAIT | ZFRAME_REUSE);
    }
    dlb_msg_release (&msg);
    return 0;
}

//  Learns peers, their endpoints and liveness from the state service.
static int s_state_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    transfer_t *self = arg;
    dlb_msg_t msg;
    int rc = dlb_service_recv (reader, "the state bus", &msg);
    if (rc == -1)
        return -1;
    if (rc == -2)
        return 0;
    const msgpack_object_array *peers;
    if (msg.type == DLB_MSG_STATUS && dlb_obj_array (msg.body, "peers", &peers) == 0)
        for (uint32_t i = 0; i < peers->size; i++) {
            dlb_state_t state;
            char reason[256];
            if (dlb_state_decode (&peers->ptr[i], &state, reason, sizeof reason))
                continue;
            peer_t *peer = s_peer (self, state.node);
            if (!peer && self->peer_count < DLB_PEERS_MAX) {
                peer = &self->peers[self->peer_count++];
                snprintf (peer->node, sizeof peer->node, "%s", state.node);
            }
            if (!peer)
                continue;
            bool back = peer->stale && !state.stale;
            peer->stale = state.stale;
            //  A new endpoint, one we could not reach before (its key was
            //  not trusted yet), or a peer back from silence: whatever held
            //  its address meanwhile may have failed our handshake on a
            //  protocol error, after which ZeroMQ never connects again.
            if (*state.transfer &&
                (!streq (peer->endpoint, state.transfer) || !peer->push || back)) {
                zsock_destroy (&peer->push);
                snprintf (peer->endpoint, sizeof peer->endpoint, "%s", state.transfer);
                peer->push = zsock_new (ZMQ_PUSH);
                zsock_set_linger (peer->push, 0);
                if (self->keys && dlb_keys_client (self->keys, peer->push, peer->node)) {
                    if (!peer->warned)
                        dlb_warn ("no trusted key of %s: sending it nothing until its "
                                  "node.cert is in the trusted keys",
                                  peer->node);
                    peer->warned = true;
                    zsock_destroy (&peer->push);
                }
                else if (zsock_connect (peer->push, "%s", peer->endpoint)) {
                    dlb_warn ("cannot connect to %s's transfer endpoint %s", peer->node,
                              peer->endpoint);
                    zsock_destroy (&peer->push);
                }
                else
                    dlb_info ("connected to %s at %s", peer->node, peer->endpoint);
            }
        }
    dlb_msg_release (&msg);
    return 0;
}

static int s_resend_timer (zloop_t *loop, int timer_id, void *arg)
{
    transfer_t *self = arg;
    if (zlistx_size (self->pending) == 0) {
        zloop_timer_end (loop, timer_id);
        self->resend_armed = false;
        return 0;
    }
    int64_t now = zclock_mono ();
    size_t resent = 0;
    char resent_to[DLB_NAME_MAX] = "";
    pending_t *p = zlistx_first (self->pending);
    while (p) {
        peer_t *peer = s_peer (self, p->to);
        bool unreachable = !peer || peer->stale;
        //  ack timeout after the first send, doubling after each resend
        int shift = p->attempts > 5 ? 4 : p->attempts > 0 ? p->attempts - 1 : 0;
        int64_t wait = (int64_t) self->cfg.ack_timeout << shift;
        if (wait > DLB_RESEND_CAP)
            wait = DLB_RESEND_CAP;
        bool remove = false;
        if (p->type == DLB_MSG_JOBS && (unreachable || (p->attempts >= DLB_JOB_ATTEMPTS &&
                                                        now - p->sent_at > wait))) {
            s_return_jobs (self, p,
                           unreachable ? "the peer is stale" : "never acknowledged");
            remove = true;
        }
        else if (!unreachable && (p->sent_at == 0 || now - p->sent_at > wait)) {
            if (p->sent_at)
                dlb_warn ("batch %llu (%zu %s) for %s not acknowledged after %lld ms: "
                          "resending",
                          (unsigned long long) p->batch, p->count,
                          p->type == DLB_MSG_JOBS ? "jobs" : "results", p->to,
                          (long long) (now - p->sent_at));
            if (p->sent_at && resent++ == 0)
                snprintf (resent_to, sizeof resent_to, "%s", p->to);
            s_send (self, p);
        }
        if (remove) {
            zlistx_delete (self->pending, zlistx_cursor (self->pending));
            s_pending_destroy (&p);
            p = zlistx_first (self->pending);
        }
        else
            p = zlistx_next (self->pending);
    }
    if (resent)
        s_event (self, "resent", resent_to, resent,
                 "%zu batches not acknowledged in time resent (the first to %s)", resent,
                 resent_to);
    return 0;
}

//  STATUS goes out every DLB_STATUS_KEEPALIVE, busy or not: its readers
//  (the monitor's counters, the adaptor's link figures) need no more, and
//  a STATUS at every batch woke both of them several times a second.
static int s_publish_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_publish (arg);
    return 0;
}

static void s_free_string (void **item)
{
    free (*item);
    *item = NULL;
}

void dlb_transfer_actor (zsock_t *pipe, void *args)
{
    transfer_t *self = calloc (1, sizeof *self);
    assert (self);
    self->cfg = *(dlb_config_t *) args;
    bool failed;
    self->keys = dlb_service_keys (&self->cfg, &failed);
    if (failed)
        goto cleanup;
    self->ext = dlb_service_listen (&self->cfg, self->keys, ZMQ_PULL, DLB_PORT_TRANSFER);
    self->inbox =
        dlb_service_bind (&self->cfg, ZMQ_PULL, DLB_PORT_INBOX (DLB_SVC_TRANSFER));
    self->bus = dlb_service_bind (&self->cfg, ZMQ_PUB, DLB_PORT_BUS (DLB_SVC_TRANSFER));
    self->worker =
        dlb_service_connect (&self->cfg, ZMQ_PUSH, DLB_PORT_INBOX (DLB_SVC_WORKER));
    self->adaptor =
        dlb_service_connect (&self->cfg, ZMQ_PUSH, DLB_PORT_INBOX (DLB_SVC_ADAPTOR));
    self->state = dlb_service_sub (&self->cfg, DLB_SVC_STATE);
    if (!self->ext || !self->inbox || !self->bus || !self->worker || !self->adaptor ||
        !self->state)
        goto cleanup;
    self->pending = zlistx_new ();
    self->seen = zhashx_new ();
    self->seen_order = zlistx_new ();
    zlistx_set_destructor (self->seen_order, s_free_string);
    self->loop = zloop_new ();
    zloop_reader (self->loop, pipe, dlb_service_pipe, self);
    zloop_reader (self->loop, self->ext, s_ext_event, self);
    zloop_reader (self->loop, self->inbox, s_inbox_event, self);
    zloop_reader (self->loop, self->state, s_state_event, self);
    zloop_timer (self->loop, DLB_STATUS_KEEPALIVE, 0, s_publish_timer, self);
    char endpoint[256];
    dlb_config_bind (&self->cfg, DLB_PORT_TRANSFER, endpoint, sizeof endpoint);
    dlb_info ("transfer ready: receiving on %s, resending after %d ms", endpoint,
              self->cfg.ack_timeout);
    zsock_signal (pipe, 0);
    zloop_start (self->loop);

cleanup:
    zloop_destroy (&self->loop);
    if (self->pending) {
        for (pending_t *p = zlistx_first (self->pending); p;
             p = zlistx_next (self->pending))
            s_pending_destroy (&p);
        zlistx_destroy (&self->pending);
    }
    zhashx_destroy (&self->seen);
    zlistx_destroy (&self->seen_order);
    for (size_t i = 0; i < self->peer_count; i++)
        zsock_destroy (&self->peers[i].push);
    zsock_destroy (&self->ext);
    zsock_destroy (&self->inbox);
    zsock_destroy (&self->bus);
    zsock_destroy (&self->worker);
    zsock_destroy (&self->adaptor);
    zsock_destroy (&self->state);
    dlb_keys_destroy (&self->keys);
    free (self);
}

//  ---------------------------------------------------------------------
//  Self-test: two transfer services in-process; raw sockets stand in for
//  each node's worker and state service.

typedef struct {
    dlb_config_t cfg;
    zactor_t *transfer;
    zsock_t *state_pub, *worker_pull, *worker_push, *bus;
} s_node_t;

static void s_node_start (s_node_t *n, const char *name, int port, int peer_port)
{
    char port_text[16], peers[64];
    snprintf (port_text, sizeof port_text, "%d", port);
    snprintf (peers, sizeof peers, "127.0.0.1:%d", peer_port);
    char *args[] = {"t",       "--node", (char *) name,   "--port", port_text,
                    "--peers", peers,    "--ack-timeout", "300"};
    assert (dlb_config_parse (&n->cfg, 9, args, "t", "test") == 0);
    n->state_pub = dlb_service_bind (&n->cfg, ZMQ_PUB, DLB_PORT_BUS (DLB_SVC_STATE));
    n->worker_pull =
        dlb_service_bind (&n->cfg, ZMQ_PULL, DLB_PORT_INBOX (DLB_SVC_WORKER));
    n->transfer = dlb_service_start (dlb_transfer_actor, &n->cfg);
    assert (n->state_pub && n->worker_pull && n->transfer);
    n->worker_push =
        dlb_service_connect (&n->cfg, ZMQ_PUSH, DLB_PORT_INBOX (DLB_SVC_TRANSFER));
    n->bus = dlb_service_sub (&n->cfg, DLB_SVC_TRANSFER);
    zsock_set_rcvtimeo (n->worker_pull, 5000);
}

static void s_node_stop (s_node_t *n)
{
    zactor_destroy (&n->transfer);
    zsock_destroy (&n->state_pub);
    zsock_destroy (&n->worker_pull);
    zsock_destroy (&n->worker_push);
    zsock_destroy (&n->bus);
}

//  Publishes, as node n's state service would, that `peer` is at port.
static void s_announce (s_node_t *n, const char *peer, int port, bool stale)
{
    dlb_state_t state = {.seq = 1, .throttle = 1, .stale = stale};
    snprintf (state.node, sizeof state.node, "%s", peer);
    snprintf (state.transfer, sizeof state.transfer, "tcp://127.0.0.1:%d",
              port + DLB_PORT_TRANSFER);
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_STATUS);
    msgpack_pack_map (&w.pk, 2);
    dlb_writer_str (&w, "service", "state");
    dlb_writer_key (&w, "peers");
    msgpack_pack_array (&w.pk, 1);
    dlb_state_pack (&w, &state, true);
    dlb_writer_send (&w, n->state_pub);
}

//  Waits until the transfer STATUS field `key` reaches value (for 0:
//  equals it).
static bool s_wait_stat (s_node_t *n, const char *key, uint64_t value)
{
    int64_t deadline = zclock_mono () + 5000;
    zsock_set_rcvtimeo (n->bus, 200);
    while (zclock_mono () < deadline) {
        dlb_msg_t msg;
        char reason[256];
        if (dlb_msg_recv (n->bus, &msg, reason, sizeof reason) != 0)
            continue;
        uint64_t found = UINT64_MAX;
        dlb_obj_u64 (msg.body, key, &found);
        dlb_msg_release (&msg);
        //  Counters only grow: at least value. Zero (pending) means exactly.
        if (found != UINT64_MAX && (value ? found >= value : found == 0))
            return true;
    }
    return false;
}

static void s_send_jobs (s_node_t *from, const char *to, uint64_t batch, size_t count)
{
    dlb_job_t *jobs[8];
    for (size_t i = 0; i < count; i++) {
        jobs[i] = dlb_job_new (16);
        assert (jobs[i]);
        snprintf (jobs[i]->workload, DLB_NAME_MAX, "w");
        snprintf (jobs[i]->origin, DLB_NAME_MAX, "%s", from->cfg.node);
        jobs[i]->id = i;
        jobs[i]->reps = 1;
    }
    dlb_writer_t w;
    dlb_batch_stats_t stats;
    dlb_writer_init (&w, DLB_MSG_JOBS);
    dlb_batch_encode (&w, DLB_MSG_JOBS, from->cfg.node, to, batch, jobs, count, &stats);
    dlb_writer_send (&w, from->worker_push);
    for (size_t i = 0; i < count; i++)
        dlb_job_destroy (&jobs[i]);
}

//  The latest value of a transfer STATUS field (waits up to 2 s for one).
static uint64_t s_stat (s_node_t *n, const char *key)
{
    zsock_set_rcvtimeo (n->bus, 2000);
    dlb_msg_t msg;
    char reason[256];
    uint64_t value = UINT64_MAX;
    if (dlb_msg_recv (n->bus, &msg, reason, sizeof reason) == 0) {
        dlb_obj_u64 (msg.body, key, &value);
        dlb_msg_release (&msg);
    }
    return value;
}

//  Announces b to a (alive or stale) and a to b, and sends probe batches
//  a -> b (ids from `first`) until one ends where expected: at b's worker
//  if alive, back at a's worker if stale. 0, or -1 after 5 s.
static int s_probe (s_node_t *a, s_node_t *b, bool stale, uint64_t first)
{
    int64_t deadline = zclock_mono () + 5000;
    zsock_t *expected = stale ? a->worker_pull : b->worker_pull;
    zsock_t *other = stale ? b->worker_pull : a->worker_pull;
    zpoller_t *poller = zpoller_new (expected, other, NULL);
    int rc = -1;
    for (uint64_t batch = first; rc == -1 && zclock_mono () < deadline; batch++) {
        s_announce (a, "b", b->cfg.port, stale);
        s_announce (b, "a", a->cfg.port, false);
        s_send_jobs (a, "b", batch, 2);
        void *which = zpoller_wait (poller, 200);
        if (which) {
            dlb_msg_t msg;
            char reason[256];
            if (dlb_msg_recv (which, &msg, reason, sizeof reason) == 0) {
                if (which == expected && msg.type == DLB_MSG_JOBS)
                    rc = 0;
                dlb_msg_release (&msg);
            }
        }
    }
    zpoller_destroy (&poller);
    return rc;
}

//  Receives until a message of the given type (late probe batches are
//  skipped). 0, or -1 on the socket's time-out.
static int s_recv_type (zsock_t *socket, int type)
{
    while (true) {
        dlb_msg_t msg;
        char reason[256];
        int rc = dlb_msg_recv (socket, &msg, reason, sizeof reason);
        if (rc == -1)
            return -1;
        if (rc == -2)
            continue;
        bool found = msg.type == type;
        dlb_msg_release (&msg);
        if (found)
            return 0;
    }
}

void dlb_transfer_test (bool verbose)
{
    if (!verbose)
        dlb_log_set_level (DLB_LOG_ERROR);
    dlb_log_init ("t", "transfer");
    //  One free span for both nodes, so that their ports cannot overlap.
    int base = dlb_service_free_base (2 * DLB_PORT_SPAN);
    assert (base > 0);
    s_node_t a, b;
    s_node_start (&a, "a", base, base + DLB_PORT_SPAN);
    s_node_start (&b, "b", base + DLB_PORT_SPAN, base);
    //  Each learns of the other: announce until a probe batch a -> b is
    //  delivered, which needs a to know b and b to know a.
    assert (s_probe (&a, &b, false, 1000) == 0);
    uint64_t dropped = s_stat (&b, "dropped"); //  probes b refused so far

    //  Garbage and a batch from a stranger at b's peer-facing endpoint.
    char endpoint[256];
    dlb_config_local (&b.cfg, DLB_PORT_TRANSFER, endpoint, sizeof endpoint);
    zsock_t *rogue = zsock_new_push (endpoint);
    zstr_send (rogue, "garbage");
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_ACK);
    msgpack_pack_map (&w.pk, 2);
    dlb_writer_str (&w, "from", "mallory");
    dlb_writer_u64 (&w, "batch", 1);
    dlb_writer_send (&w, rogue);
    assert (s_wait_stat (&b, "dropped", dropped + 2));
    zsock_destroy (&rogue);

    //  A batch a -> b arrives at b's worker, is acknowledged, and the same
    //  batch sent again (as after a lost ACK) is delivered once.
    s_send_jobs (&a, "b", 100, 3);
    dlb_msg_t msg;
    char reason[256];
    assert (dlb_msg_recv (b.worker_pull, &msg, reason, sizeof reason) == 0);
    assert (msg.type == DLB_MSG_JOBS);
    dlb_msg_release (&msg);
    assert (s_wait_stat (&a, "pending", 0));
    s_send_jobs (&a, "b", 100, 3);
    assert (s_wait_stat (&b, "duplicates", 1));
    assert (s_wait_stat (&a, "pending", 0));

    //  RESULTS a -> b reach b's worker, every copy, and stay pending at a
    //  until b's worker acknowledges them (after journaling them).
    dlb_job_t *result = dlb_job_new (16);
    snprintf (result->workload, DLB_NAME_MAX, "w");
    snprintf (result->origin, DLB_NAME_MAX, "b");
    snprintf (result->ran_on, DLB_NAME_MAX, "a");
    result->crc = dlb_job_crc (result);
    dlb_batch_stats_t stats;
    dlb_writer_init (&w, DLB_MSG_RESULTS);
    dlb_batch_encode (&w, DLB_MSG_RESULTS, "a", "b", 200, &result, 1, &stats);
    dlb_writer_send (&w, a.worker_push);
    dlb_job_destroy (&result);
    for (int copy = 0; copy < 2; copy++) //  the second: a resend (ack timeout)
        assert (s_recv_type (b.worker_pull, DLB_MSG_RESULTS) == 0);
    assert (s_wait_stat (&a, "pending", 1));
    dlb_writer_init (&w, DLB_MSG_ACK);
    msgpack_pack_map (&w.pk, 3);
    dlb_writer_str (&w, "from", "b");
    dlb_writer_str (&w, "to", "a");
    dlb_writer_u64 (&w, "batch", 200);
    dlb_writer_send (&w, b.worker_push);
    assert (s_wait_stat (&a, "pending", 0));

    //  A HOLD a -> b reaches b's worker.
    dlb_writer_init (&w, DLB_MSG_HOLD);
    msgpack_pack_map (&w.pk, 3);
    dlb_writer_str (&w, "from", "a");
    dlb_writer_str (&w, "to", "b");
    dlb_writer_key (&w, "held");
    msgpack_pack_map (&w.pk, 0);
    dlb_writer_send (&w, a.worker_push);
    assert (s_recv_type (b.worker_pull, DLB_MSG_HOLD) == 0);

    //  Jobs for a peer that went stale come back to the local worker.
    assert (s_probe (&a, &b, true, 2000) == 0);
    assert (s_wait_stat (&a, "returned", 2));

    s_node_stop (&a);
    s_node_stop (&b);
    dlb_log_set_level (DLB_LOG_INFO);
}
