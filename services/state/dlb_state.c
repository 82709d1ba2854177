/*  dlb_state: node state exchange between peers (the information policy).

    Sockets
        out     PUB  BASE+1       STATE to peers                 external
        in[i]   SUB  peer i's +1  STATE from peer i (one socket per peer, so
                                  that a STATE is known to come from the
                                  key that peer i's address is trusted with)
        bus     PUB  BASE+12      STATUS {local, peers: [...]} for this node
        local   SUB  BASE+10,11,14  monitor, worker and adaptor STATUS

    Information policy: STATE goes out every state period, and at once
    (at most every DLB_STATE_MIN_GAP) on a significant change: the
    throttle or policy changed, the queue drained or filled from empty,
    or the queue or the predicted capacity moved by a quarter since the
    last publication. While the
    node is idle (no job queued or running) and nothing significant
    changes, it goes out only every --stale-after / DLB_IDLE_BEATS (or
    every state period, if that is longer): enough for the peers'
    liveness (DLB_IDLE_BEATS publications must be missed before a peer
    thinks this node stale), at a fraction of the wake-ups on every node
    that the periodic STATE and its bus publication cause.

    Liveness: a peer silent for --stale-after is marked stale (the adaptor
    sends it no work) until it is heard again; the check is a one-shot
    timer set for the moment the first live peer's silence would reach
    the limit (s_arm_liveness), not a poll. A subscription silent for
    DLB_RESUBSCRIBE x --stale-after is made anew: ZeroMQ never retries a
    connection whose handshake failed on a protocol error (whatever held
    a dead peer's address spoke plaintext, or CURVE to a plaintext node),
    so without this the peer, once back, would stay stale for good.

    STATE sequence numbers start at the wall-clock microsecond when the
    service starts, so a restarted peer's numbers still increase; an older
    or repeated one is dropped.                                           */
#include "dlb_state.h"
#include "dlb_event.h"
#include "dlb_service.h"

#define DLB_STATE_MIN_GAP 20   //  msecs between change-driven publications
#define DLB_TRUST_TICK    1000 //  msecs between looks for the keys of unheard peers
#define DLB_STATE_HWM     64   //  STATEs queued from one peer (x 64 KiB at most)
#define DLB_RESUBSCRIBE   2    //  x --stale-after of silence before subscribing anew
#define DLB_IDLE_BEATS                                                                   \
    3 //  STATEs an idle node sends per --stale-after (its peers' stale limit)

typedef struct {
    dlb_state_t state;
    int64_t heard; //  zclock_mono of the last STATE
} peer_t;

//  A subscription to one peer of --peers: its STATE must name the node
//  that the trusted key of its address belongs to.
typedef struct {
    struct _state_t *owner;
    zsock_t *sock;           //  NULL until a trusted key has the address
    char name[DLB_NAME_MAX]; //  "" under --insecure: any name
    char address[DLB_ADDR_MAX];
    bool warned;   //  that no trusted key has the address
    int64_t heard; //  zclock_mono of its last STATE, or of subscribing
    bool renewing; //  made anew since it was last heard (said once)
} subscription_t;

typedef struct _state_t {
    dlb_config_t cfg;
    dlb_keys_t *keys; //  NULL under --insecure
    zsock_t *out, *bus, *local;
    subscription_t in[DLB_PEERS_MAX];
    zloop_t *loop;
    dlb_state_t me;
    dlb_state_t last_sent;
    int64_t last_publish;
    int64_t last_bus;    //  of the last STATUS on this node's bus
    dlb_ticker_t ticker; //  the publication timer: asleep while the node is idle
    bool pending;
    peer_t peers[DLB_PEERS_MAX];
    size_t peer_count;
    uint64_t dropped;
    bool liveness_armed; //  the check for the next peer to go stale is set
} state_t;

//  Publishes an event of this service about a peer (printf-like text).
#define s_event(self, kind, peer, ...)                                                   \
    do {                                                                                 \
        dlb_event_t event_;                                                              \
        dlb_event_set (&event_, (self)->cfg.node, "state", kind, NULL, peer, 0,          \
                       __VA_ARGS__);                                                     \
        dlb_event_publish ((self)->bus, &event_);                                        \
    } while (0)

static void s_bus_publish (state_t *self)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_STATUS);
    msgpack_pack_map (&w.pk, 5);
    dlb_writer_str (&w, "service", "state");
    dlb_writer_str (&w, "node", self->cfg.node);
    dlb_writer_u64 (&w, "pid", (uint64_t) getpid ()); //  the monitor counts its CPU
    dlb_writer_key (&w, "local");
    dlb_state_pack (&w, &self->me, true);
    dlb_writer_key (&w, "peers");
    msgpack_pack_array (&w.pk, self->peer_count);
    int64_t now = zclock_mono ();
    for (size_t i = 0; i < self->peer_count; i++) {
        self->peers[i].state.age = (now - self->peers[i].heard) / 1000.0;
        dlb_state_pack (&w, &self->peers[i].state, true);
    }
    dlb_writer_send (&w, self->bus);
    self->last_bus = zclock_mono ();
}

static void s_publish (state_t *self)
{
    self->me.seq++;
    self->me.time = dlb_now ();
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_STATE);
    dlb_state_pack (&w, &self->me, false);
    dlb_writer_send (&w, self->out);
    self->last_sent = self->me;
    self->last_publish = zclock_mono ();
    self->pending = false;
    s_bus_publish (self);
}

static bool s_significant (const dlb_state_t *now, const dlb_state_t *then)
{
    uint64_t diff =
        now->queue > then->queue ? now->queue - then->queue : then->queue - now->queue;
    return now->throttle != then->throttle || strcmp (now->policy, then->policy) != 0 ||
           (now->queue == 0) != (then->queue == 0) ||
           (now->queue == 0 && now->running == 0) !=
               (then->queue == 0 && then->running == 0) ||
           diff * 4 > then->queue + 4 ||
           fabs (now->capacity - then->capacity) * 4 > then->capacity;
}

//  The period of STATE publication: the state period while jobs are
//  queued or running here, else --stale-after / DLB_IDLE_BEATS if that is
//  longer. Pure; cannot fail.
static int s_period (const dlb_config_t *cfg, const dlb_state_t *me)
{
    int idle = cfg->stale_after / DLB_IDLE_BEATS;
    return me->queue || me->running || idle < cfg->state_period ? cfg->state_period
                                                                : idle;
}

//  Fires every state period; publishes when the current period is up
//  (less half a tick, so that an idle period of 2 ticks is not 3). While
//  the node is idle the timer sleeps to the idle period.
static int s_publish_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    state_t *self = arg;
    int period = s_period (&self->cfg, &self->me);
    if (zclock_mono () - self->last_publish >= period - self->cfg.state_period / 2) {
        s_publish (self);
        if (period > self->cfg.state_period)
            dlb_ticker_sleep (&self->ticker); //  the next is an idle period away
    }
    return 0;
}

static int s_pending_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    state_t *self = arg;
    if (self->pending)
        s_publish (self);
    return 0;
}

static int s_liveness_timer (zloop_t *loop, int timer_id, void *arg);

//  Sets the liveness check for the moment the first live peer would have
//  been silent for --stale-after, unless it is set: one wake-up per peer
//  silence, not a poll (when it fires, it sets itself again for whoever
//  is next). No live peer: no check, until one is heard.
static void s_arm_liveness (state_t *self)
{
    if (self->liveness_armed || !self->loop)
        return;
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < self->peer_count; i++)
        if (!self->peers[i].state.stale &&
            self->peers[i].heard + self->cfg.stale_after < next)
            next = self->peers[i].heard + self->cfg.stale_after;
    if (next == INT64_MAX)
        return;
    int64_t delay = next - zclock_mono () + 1; //  1 ms past: then silent for longer
    zloop_timer (self->loop, delay > 1 ? (size_t) delay : 1, 1, s_liveness_timer, self);
    self->liveness_armed = true;
}

static int s_liveness_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    state_t *self = arg;
    self->liveness_armed = false;
    int64_t now = zclock_mono ();
    bool changed = false;
    for (size_t i = 0; i < self->peer_count; i++) {
        peer_t *p = &self->peers[i];
        if (!p->state.stale && now - p->heard > self->cfg.stale_after) {
            p->state.stale = true;
            changed = true;
            dlb_warn (
                "peer %s lost: silent for %.1f s; no work goes to it until it is back",
                p->state.node, (now - p->heard) / 1000.0);
            s_event (self, "peer_lost", p->state.node,
                     "peer %s lost: silent for %.1f s; no work goes to it until it is "
                     "back",
                     p->state.node, (now - p->heard) / 1000.0);
        }
    }
    if (changed)
        s_bus_publish (self);
    s_arm_liveness (self);
    return 0;
}

static int s_local_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    state_t *self = arg;
    dlb_msg_t msg;
    int rc = dlb_service_recv (reader, "the local bus", &msg);
    if (rc == -1)
        return -1;
    if (rc == -2)
        return 0;
    char service[16] = "";
    dlb_obj_str (msg.body, "service", service, sizeof service);
    dlb_state_t *me = &self->me;
    if (streq (service, "worker")) {
        dlb_obj_u64 (msg.body, "queue", &me->queue);
        dlb_obj_u64 (msg.body, "running", &me->running);
        dlb_obj_u64 (msg.body, "done", &me->done);
        dlb_obj_u64 (msg.body, "threads", &me->threads);
        dlb_obj_double (msg.body, "rate", &me->rate);
        dlb_obj_u64 (msg.body, "sent", &me->sent);
        dlb_obj_u64 (msg.body, "received", &me->received);
        dlb_obj_u64 (msg.body, "boot", &me->boot);
        if (dlb_obj_get (msg.body, "recv_from"))
            me->peers_known =
                dlb_obj_counts (msg.body, "recv_from", me->recv_from, DLB_PEERS_MAX);
    }
    else if (streq (service, "monitor")) {
        dlb_obj_double (msg.body, "throttle", &me->throttle);
        dlb_obj_double (msg.body, "cpu", &me->cpu);
        dlb_obj_double (msg.body, "owner", &me->owner);
        dlb_obj_double (msg.body, "owner_forecast", &me->owner_forecast);
        dlb_obj_double (msg.body, "avail", &me->avail);
        dlb_obj_double (msg.body, "capacity", &me->capacity);
        dlb_obj_double (msg.body, "capacity_doubt", &me->capacity_doubt);
    }
    else if (streq (service, "adaptor"))
        dlb_obj_str (msg.body, "policy", me->policy, sizeof me->policy);
    dlb_msg_release (&msg);
    if (me->queue || me->running)
        dlb_ticker_wake (&self->ticker);
    if (s_significant (me, &self->last_sent)) {
        if (zclock_mono () - self->last_publish >= DLB_STATE_MIN_GAP)
            s_publish (self);
        else if (!self->pending) { //  publish when the minimum gap has passed
            zloop_timer (self->loop, DLB_STATE_MIN_GAP, 1, s_pending_timer, self);
            self->pending = true;
        }
    }
    return 0;
}

static int s_peer_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    subscription_t *from = arg;
    state_t *self = from->owner;
    dlb_msg_t msg;
    int rc = dlb_service_recv (reader, "the peers' state", &msg);
    if (rc == -1)
        return -1;
    if (rc == -2)
        return 0;
    dlb_state_t state;
    char reason[256];
    if (msg.type != DLB_MSG_STATE)
        dlb_warn ("dropped a %s on the state subscription", dlb_msg_type_name (msg.type));
    else if (dlb_state_decode (msg.body, &state, reason, sizeof reason))
        dlb_warn ("dropped a malformed STATE: %s", reason);
    else if (*from->name && !streq (state.node, from->name))
        dlb_warn ("dropped a STATE from %s that claims to come from %s: the key of %s "
                  "is %s's",
                  from->address, state.node, from->address, from->name);
    else if (streq (state.node, self->cfg.node))
        dlb_warn (
            "dropped a STATE that claims to come from this node (%s): check the peer "
            "lists",
            state.node);
    else {
        from->heard = zclock_mono ();
        from->renewing = false;
        size_t i = 0;
        while (i < self->peer_count && !streq (self->peers[i].state.node, state.node))
            i++;
        if (i == self->peer_count && i == DLB_PEERS_MAX)
            dlb_warn ("dropped STATE from %s: already tracking %d peers", state.node,
                      DLB_PEERS_MAX);
        else if (i < self->peer_count && state.seq <= self->peers[i].state.seq)
            self->dropped++; //  old or repeated
        else {
            peer_t *p = &self->peers[i];
            bool joined = i == self->peer_count;
            if (joined) {
                self->peer_count++;
                dlb_info ("peer %s joined (jobs to %s, throttle %.2f, %llu threads)",
                          state.node, state.transfer, state.throttle,
                          (unsigned long long) state.threads);
                s_event (self, "peer_joined", state.node,
                         "peer %s joined (jobs to %s, throttle %.2f, %llu threads)",
                         state.node, state.transfer, state.throttle,
                         (unsigned long long) state.threads);
            }
            else if (p->state.stale) {
                dlb_info ("peer %s is back after %.1f s", state.node,
                          (zclock_mono () - p->heard) / 1000.0);
                s_event (self, "peer_back", state.node, "peer %s is back after %.1f s",
                         state.node, (zclock_mono () - p->heard) / 1000.0);
            }
            else if (p->state.throttle != state.throttle)
                dlb_info ("peer %s throttle %.2f -> %.2f", state.node, p->state.throttle,
                          state.throttle);
            if (p->heard)
                dlb_debug ("STATE from %s after %lld ms", state.node,
                           (long long) (zclock_mono () - p->heard));
            //  Relayed to this node's services at once if the peer is new
            //  or back or something significant changed; otherwise with
            //  the next publication, or now if a state period has passed
            //  since the last (a keepalive, if both nodes are idle). Each
            //  relay wakes three services; a periodic STATE of every peer
            //  would wake them once a period per peer.
            bool idle = !self->me.queue && !self->me.running && !state.queue &&
                        !state.running && !p->state.queue && !p->state.running;
            bool due = idle ? dlb_keepalive_due (self->last_bus, self->cfg.state_period)
                            : zclock_mono () - self->last_bus >= self->cfg.state_period;
            bool news =
                joined || p->state.stale || s_significant (&state, &p->state) || due;
            p->state = state;
            p->state.stale = false;
            p->heard = zclock_mono ();
            if (news)
                s_bus_publish (self);
            s_arm_liveness (self);
        }
    }
    dlb_msg_release (&msg);
    return 0;
}

//  Subscribes to peer i of --peers, under the key trusted for its address;
//  if no trusted key has that address yet, says so once and tries again
//  every DLB_TRUST_TICK (a key added to trusted/ takes effect then).
static void s_subscribe (state_t *self, size_t i)
{
    subscription_t *in = &self->in[i];
    in->owner = self;
    memcpy (in->address, self->cfg.peers[i], sizeof in->address); //  both DLB_ADDR_MAX
    const char *name = self->keys ? dlb_keys_name_at (self->keys, in->address) : "";
    if (!name) {
        if (!in->warned)
            dlb_warn ("no trusted key has the address %s (of --peers): listening to it "
                      "once its node.cert (address = \"%s\") is in the trusted keys",
                      in->address, in->address);
        in->warned = true;
        return;
    }
    char endpoint[DLB_ENDPOINT_MAX];
    dlb_config_peer (&self->cfg, i, DLB_PORT_STATE, endpoint, sizeof endpoint);
    in->sock = zsock_new (ZMQ_SUB);
    zsock_set_linger (in->sock, 0);
    zsock_set_maxmsgsize (in->sock, DLB_SMALL_MAX_SIZE); //  before connecting
    zsock_set_rcvhwm (in->sock, DLB_STATE_HWM);          //  only the newest STATE matters
    zsock_set_subscribe (in->sock, "");
    snprintf (in->name, sizeof in->name, "%s", name);
    if (self->keys)
        dlb_keys_client (self->keys, in->sock, name);
    if (zsock_connect (in->sock, "%s", endpoint)) {
        dlb_warn ("cannot subscribe to peer %s: %s", endpoint,
                  zmq_strerror (zmq_errno ()));
        zsock_destroy (&in->sock);
        return;
    }
    in->heard = zclock_mono ();
    if (!in->renewing)
        dlb_info ("subscribed to peer state at %s%s%s", endpoint,
                  *name ? ", the key of " : "", name);
    if (self->loop)
        zloop_reader (self->loop, in->sock, s_peer_event, in);
}

static int s_trust_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    state_t *self = arg;
    int64_t now = zclock_mono ();
    for (size_t i = 0; i < self->cfg.peer_count; i++) {
        subscription_t *in = &self->in[i];
        if (in->sock && now - in->heard > DLB_RESUBSCRIBE * self->cfg.stale_after) {
            if (!in->renewing)
                dlb_info ("no STATE from %s for %.1f s: subscribing anew every %.1f s "
                          "until it is heard",
                          in->address, (now - in->heard) / 1000.0,
                          DLB_RESUBSCRIBE * self->cfg.stale_after / 1000.0);
            in->renewing = true;
            zloop_reader_end (self->loop, in->sock);
            zsock_destroy (&in->sock);
        }
        if (!in->sock)
            s_subscribe (self, i);
    }
    return 0;
}

void dlb_state_actor (zsock_t *pipe, void *args)
{
    state_t *self = calloc (1, sizeof *self);
    assert (self);
    self->cfg = *(dlb_config_t *) args;
    dlb_state_t *me = &self->me;
    snprintf (me->node, sizeof me->node, "%s", self->cfg.node);
    dlb_config_advertised (&self->cfg, DLB_PORT_TRANSFER, me->transfer,
                           sizeof me->transfer);
    me->seq = (uint64_t) (dlb_now () * 1e6);
    me->throttle = self->cfg.throttle;
    me->threads = self->cfg.threads;
    snprintf (me->policy, sizeof me->policy, "%s", self->cfg.policy);
    bool failed;
    self->keys = dlb_service_keys (&self->cfg, &failed);
    if (failed)
        goto cleanup;
    self->out = dlb_service_listen (&self->cfg, self->keys, ZMQ_PUB, DLB_PORT_STATE);
    self->bus = dlb_service_bind (&self->cfg, ZMQ_PUB, DLB_PORT_BUS (DLB_SVC_STATE));
    self->local = dlb_service_sub (&self->cfg, DLB_SVC_WORKER);
    if (!self->out || !self->bus || !self->local)
        goto cleanup;
    int services[] = {DLB_SVC_MONITOR, DLB_SVC_ADAPTOR};
    for (int k = 0; k < 2; k++) {
        char endpoint[256];
        dlb_config_local (&self->cfg, DLB_PORT_BUS (services[k]), endpoint,
                          sizeof endpoint);
        zsock_connect (self->local, "%s", endpoint);
    }
    self->loop = zloop_new ();
    zloop_reader (self->loop, pipe, dlb_service_pipe, self);
    zloop_reader (self->loop, self->local, s_local_event, self);
    for (size_t i = 0; i < self->cfg.peer_count; i++)
        s_subscribe (self, i);
    zloop_timer (self->loop, DLB_TRUST_TICK, 0, s_trust_timer, self);
    dlb_ticker_start (&self->ticker, self->loop, (size_t) self->cfg.state_period,
                      (size_t) (self->cfg.stale_after / DLB_IDLE_BEATS), s_publish_timer,
                      self);
    dlb_info (
        "state ready: publishing every %d ms and on change, peers stale after %d ms",
        self->cfg.state_period, self->cfg.stale_after);
    zsock_signal (pipe, 0);
    zloop_start (self->loop);

cleanup:
    zloop_destroy (&self->loop);
    zsock_destroy (&self->out);
    for (size_t i = 0; i < DLB_PEERS_MAX; i++)
        zsock_destroy (&self->in[i].sock);
    dlb_keys_destroy (&self->keys);
    zsock_destroy (&self->bus);
    zsock_destroy (&self->local);
    free (self);
}

//  ---------------------------------------------------------------------
//  Self-test: two state services in-process see each other, drop garbage,
//  and mark a silent peer stale.

#include <netinet/in.h> //  the self-test's s_port_released
#include <sys/socket.h>

//  Whether ZeroMQ could bind port on 127.0.0.1 now: no socket listens there
//  (SO_REUSEADDR, as ZeroMQ sets it, lets connections in TIME_WAIT pass).
static bool s_port_released (int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons ((uint16_t) port),
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    int on = 1;
    bool released = fd >= 0 &&
                    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
                    bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0;
    if (fd >= 0)
        close (fd);
    return released;
}

//  Waits for a state STATUS whose first peer is `node` with the given
//  staleness.
static bool s_wait_peer (zsock_t *bus, const char *node, bool stale, int timeout)
{
    int64_t deadline = zclock_mono () + timeout;
    zsock_set_rcvtimeo (bus, 200);
    while (zclock_mono () < deadline) {
        dlb_msg_t msg;
        char reason[256];
        if (dlb_msg_recv (bus, &msg, reason, sizeof reason) != 0)
            continue;
        const msgpack_object_array *peers;
        bool found = false;
        if (dlb_obj_array (msg.body, "peers", &peers) == 0 && peers->size == 1) {
            dlb_state_t state;
            found =
                dlb_state_decode (&peers->ptr[0], &state, reason, sizeof reason) == 0 &&
                streq (state.node, node) && state.stale == stale;
        }
        dlb_msg_release (&msg);
        if (found)
            return true;
    }
    return false;
}

void dlb_state_test (bool verbose)
{
    if (!verbose)
        dlb_log_set_level (DLB_LOG_ERROR);
    dlb_log_init ("t", "state");
    //  An idle node publishes every stale-after / 3, never less often than
    //  every state period; a busy one every state period.
    dlb_config_t period = {.state_period = 250, .stale_after = 1500};
    dlb_state_t me = {0};
    assert (s_period (&period, &me) == 500);
    me.running = 1;
    assert (s_period (&period, &me) == 250);
    me.running = 0;
    me.queue = 7;
    assert (s_period (&period, &me) == 250);
    period.stale_after = 600;
    me.queue = 0;
    assert (s_period (&period, &me) == 250);
    //  One free span for both nodes, so that their ports cannot overlap.
    int base = dlb_service_free_base (2 * DLB_PORT_SPAN);
    assert (base > 0);
    char port_a[16], port_b[16], peer_a[32], peer_b[32];
    snprintf (port_a, sizeof port_a, "%d", base);
    snprintf (port_b, sizeof port_b, "%d", base + DLB_PORT_SPAN);
    snprintf (peer_a, sizeof peer_a, "127.0.0.1:%d", base);
    snprintf (peer_b, sizeof peer_b, "127.0.0.1:%d", base + DLB_PORT_SPAN);
    dlb_config_t a, b;
    char *args_a[] = {"t",    "--node",         "a",  "--port",        port_a, "--peers",
                      peer_b, "--state-period", "50", "--stale-after", "300"};
    char *args_b[] = {"t",    "--node",         "b",  "--port",        port_b, "--peers",
                      peer_a, "--state-period", "50", "--stale-after", "300"};
    assert (dlb_config_parse (&a, 11, args_a, "t", "test") == 0);
    assert (dlb_config_parse (&b, 11, args_b, "t", "test") == 0);
    zactor_t *state_a = dlb_service_start (dlb_state_actor, &a);
    zactor_t *state_b = dlb_service_start (dlb_state_actor, &b);
    assert (state_a && state_b);
    zsock_t *bus_a = dlb_service_sub (&a, DLB_SVC_STATE);
    assert (s_wait_peer (bus_a, "b", false, 5000));

    //  Garbage on a's state endpoint (a peer-facing socket): a goes on.
    //  A SUB cannot send, so the garbage comes from a rogue publisher that
    //  a subscribes to, standing in for a broken peer: b's endpoint itself.
    zsock_t *rogue = zsock_new (ZMQ_XPUB);
    zactor_destroy (&state_b); //  b goes silent: a marks it stale
    assert (s_wait_peer (bus_a, "b", true, 5000));
    char endpoint[256];
    dlb_config_bind (&b, DLB_PORT_STATE, endpoint, sizeof endpoint);
    assert (zsock_bind (rogue, "%s", endpoint) != -1);
    zsock_set_rcvtimeo (rogue, 5000);
    zframe_t *subscription = zframe_recv (rogue); //  a's SUB has reconnected
    assert (subscription);
    zframe_destroy (&subscription);
    zstr_send (rogue, "garbage");
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_STATE);
    msgpack_pack_map (&w.pk, 1);
    dlb_writer_str (&w, "node", "b"); //  lacks seq, time, ...
    dlb_writer_send (&w, rogue);
    zsock_destroy (&rogue);

    //  A rogue that speaks CURVE to a's plaintext SUB (or plaintext to a
    //  keyed one): the handshake fails on a protocol error, which ZeroMQ
    //  never retries. a must still hear b once b is back (below).
    int64_t deadline = zclock_mono () + 5000;
    while (!s_port_released (b.port + DLB_PORT_STATE) && zclock_mono () < deadline)
        zclock_sleep (20);
    rogue = zsock_new (ZMQ_XPUB);
    zsock_set_linger (rogue, 0);
    zactor_t *watch = zactor_new (zmonitor, rogue);
    zstr_sendx (watch, "LISTEN", "HANDSHAKE_FAILED_PROTOCOL", NULL);
    zstr_sendx (watch, "START", NULL);
    zsock_wait (watch);
    zcert_t *cert = zcert_new ();
    zcert_apply (cert, rogue);
    zsock_set_curve_server (rogue, 1);
    assert (zsock_bind (rogue, "%s", endpoint) != -1);
    zsock_set_rcvtimeo (watch, 5000);
    char *event = zstr_recv (watch);
    assert (event && streq (event, "HANDSHAKE_FAILED_PROTOCOL"));
    zstr_free (&event);
    zactor_destroy (&watch);
    zsock_destroy (&rogue);
    zcert_destroy (&cert);

    //  b comes back: a sees it alive again. ZeroMQ releases the rogue's
    //  port asynchronously, so wait (with a deadline) until it is, then start
    //  b once: a failed start is slow to report (dlb_service_start waits up
    //  to 5 s for the PONG of an actor that has gone) and would use up the
    //  deadline of a start-until-it-works loop on a busy machine.
    deadline = zclock_mono () + 5000;
    while (!s_port_released (b.port + DLB_PORT_STATE) && zclock_mono () < deadline)
        zclock_sleep (20);
    state_b = dlb_service_start (dlb_state_actor, &b);
    assert (state_b);
    assert (s_wait_peer (bus_a, "b", false, 5000));
    zsock_destroy (&bus_a);
    zactor_destroy (&state_a);
    zactor_destroy (&state_b);
    dlb_log_set_level (DLB_LOG_INFO);
}
