/*  dlb_attack: hostile traffic at one dlb node, for tests/test_auth.sh and
    bench/flood.sh. Not installed. Every send is bounded (--count, and
    --duration for what waits), and the tool refuses any endpoint that is
    not on loopback.

    It speaks as an outsider (no key: plaintext; or a key the node does not
    trust) or as an insider (a trusted key, claiming any --from). It either
    connects to ENDPOINT (the node's control, state or transfer port) or,
    with --bind, binds it and publishes to whoever subscribes: a rogue
    state PUB in a dead peer's place. It reports what the node let through:

        dlb_attack: TYPE sent N (dropped D), replies R, sockets K,
                    accepted A, handshake failures F, subscriptions S

    (replies: control answers; sockets: connections it opened; accepted,
    failures, subscriptions: what a --bind socket saw.) Exit 0 once done, 1 if it could
   not set up, 2 on bad usage. */
#include "dlb_keys.h"
#include "dlb_proto.h"

#include <czmq.h>
#include <sys/mman.h>
#include <zlib.h>

#define S_SEND_WAIT  5000 //  msecs one blocking send may take
#define S_ROUND      50   //  msecs a round of --connections sockets lives
#define S_SHOWN      3    //  control replies printed
#define S_BURST      1000 //  messages a rogue publishes between polls
#define S_NAME       "dlb_attack"
#define S_HUGE_SEQ   (1ULL << 63)      //  a STATE seq no real node reaches
#define S_BOMB_ELEMS DLB_JOB_MAX_ELEMS //  elements each zlib-bomb item declares

typedef struct {
    const char *type, *endpoint, *key, *server_key, *from, *to, *workload, *value,
        *socket;
    uint64_t elements, jobs, reps, count, size, seq, connections;
    int duration;
    bool bind;
    //  Results
    uint64_t sent, dropped, replies, opened, accepted, failures, subscriptions;
} attack_t;

static const char *s_usage =
    "usage: dlb_attack --type TYPE --endpoint tcp://127.0.0.1:PORT [options]\n"
    "Sends hostile traffic to a dlb node (loopback only), for tests and benches.\n"
    "\n"
    "  --key CERT          our key pair (dlbctl keygen; CERT_secret is read);\n"
    "                      without it the tool speaks plaintext\n"
    "  --server-key CERT   the target's public node.cert (with --key, connecting)\n"
    "  --bind              bind ENDPOINT (a CURVE server with --key) and publish to\n"
    "                      subscribers, for --duration ms: a rogue state PUB\n"
    "  --from NAME         claimed sender (default mallory)\n"
    "  --to NAME           claimed receiver (default a)\n"
    "  --workload ID       workload id (jobs, results, hold)\n"
    "  --elements E --jobs J --reps R   its shape (default 262144, 256, 50000)\n"
    "  --count N           messages to send (default 1)\n"
    "  --connections C     for --duration ms, every 50 ms, C new sockets, each\n"
    "                      with one of the messages: a flood of handshakes\n"
    "  --size BYTES        frame size of junk, oversize, objects, subscribe\n"
    "  --seq N             STATE sequence number (default 2^63)\n"
    "  --value V           throttle value or policy name\n"
    "  --duration MS       how long --bind serves; connecting, how long a socket\n"
    "                      may take to flush (a refused one takes all of it) and\n"
    "                      control waits for replies (default 2000)\n"
    "  --socket KIND       push, dealer or xsub (default: dealer for control types,\n"
    "                      xsub for subscribe, push otherwise)\n"
    "\n"
    "Types, one message each unless --count:\n"
    "  jobs, results, steal, hold, ack   well-formed peer messages (transfer port);\n"
    "                      results: all --jobs results of --workload, all wrong\n"
    "  state               a STATE from --from with --seq\n"
    "  throttle, policy, submit, status  a control COMMAND (control port)\n"
    "  junk                random bytes, --size each (default 64)\n"
    "  oversize            one frame of --size bytes (zero pages: cheap to send\n"
    "                      plaintext, about 3 x --size with --key)\n"
    "  objects             a JOBS header and --size bytes of one-byte msgpack ints\n"
    "  zbomb               a RESULTS batch of 24 items, each zlib of zeros declaring\n"
    "                      4 Mi elements (768 MiB in all, from ~800 KiB)\n"
    "  subscribe           --count subscriptions, each a distinct --size-byte topic\n";

//  ---------------------------------------------------------------------
//  Messages

static zframe_t *s_junk (size_t size)
{
    zframe_t *frame = zframe_new (NULL, size);
    for (size_t i = 0; i < size; i++)
        zframe_data (frame)[i] = (byte) random ();
    return frame;
}

static void s_munmap (void *data, void *hint)
{
    munmap (data, (size_t) hint);
}

//  Sends one frame of size bytes that costs the sender no memory until
//  touched (zero pages, sent without a copy when plaintext). 0, or -1.
static int s_send_oversize (void *sock, size_t size, int flags)
{
    void *data =
        mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED)
        return -1;
    memcpy (data,
            (byte[]){DLB_PROTO_SIG0, DLB_PROTO_SIG1, DLB_PROTO_VERSION, DLB_MSG_JOBS},
            DLB_PROTO_HEADER);
    zmq_msg_t msg;
    zmq_msg_init_data (&msg, data, size, s_munmap, (void *) size);
    if (zmq_msg_send (&msg, sock, flags) < 0) {
        zmq_msg_close (&msg);
        return -1;
    }
    return 0;
}

//  A JOBS whose body is a map of one array of one-byte ints filling size
//  bytes: msgpack-c would build ~24 B per byte, if it were let to.
static zframe_t *s_objects (size_t size)
{
    size_t ints = size > 16 ? size - 16 : 1;
    zframe_t *frame = zframe_new (NULL, DLB_PROTO_HEADER + 16 + ints);
    byte *p = zframe_data (frame);
    memcpy (p, (byte[]){DLB_PROTO_SIG0, DLB_PROTO_SIG1, DLB_PROTO_VERSION, DLB_MSG_JOBS},
            DLB_PROTO_HEADER);
    p += DLB_PROTO_HEADER;
    *p++ = 0x81; //  map of 1
    *p++ = 0xa5; //  str 5
    memcpy (p, "items", 5);
    p += 5;
    *p++ = 0xdd; //  array 32
    for (int shift = 24; shift >= 0; shift -= 8)
        *p++ = (byte) (ints >> shift);
    memset (p, 0x01, ints);
    p += ints;
    zframe_t *exact =
        zframe_new (zframe_data (frame), (size_t) (p - zframe_data (frame)));
    zframe_destroy (&frame);
    return exact;
}

//  A RESULTS batch whose items are zlib streams of zeros that each
//  inflate to a whole job's DLB_JOB_MAX_ELEMS x 8 bytes.
static zframe_t *s_zbomb (const attack_t *self)
{
    size_t raw = (size_t) S_BOMB_ELEMS * sizeof (double);
    byte *zeros = calloc (1, raw);
    uLongf packed = compressBound (raw);
    byte *stream = malloc (packed);
    if (!zeros || !stream || compress2 (stream, &packed, zeros, raw, 9) != Z_OK) {
        free (zeros);
        free (stream);
        return NULL;
    }
    uint32_t crc = (uint32_t) crc32 (0, zeros, (uInt) raw);
    free (zeros);
    size_t items = DLB_BATCH_MAX_DECLARED / raw * 8; //  8 x what a batch may declare
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_RESULTS);
    msgpack_pack_map (&w.pk, 4);
    dlb_writer_str (&w, "from", self->from);
    dlb_writer_str (&w, "to", self->to);
    dlb_writer_u64 (&w, "batch", (uint64_t) zclock_time () << 16);
    dlb_writer_key (&w, "items");
    msgpack_pack_array (&w.pk, items);
    for (size_t i = 0; i < items; i++) {
        msgpack_pack_map (&w.pk, 10);
        dlb_writer_str (&w, "wl", self->workload);
        dlb_writer_u64 (&w, "id", i);
        dlb_writer_str (&w, "origin", self->to);
        dlb_writer_u64 (&w, "reps", self->reps);
        dlb_writer_u64 (&w, "n", S_BOMB_ELEMS);
        dlb_writer_u64 (&w, "offset", 0);
        dlb_writer_bool (&w, "z", true);
        dlb_writer_bin (&w, "data", stream, packed);
        dlb_writer_str (&w, "ran", self->from);
        dlb_writer_u64 (&w, "crc", crc);
    }
    free (stream);
    return dlb_writer_frame (&w);
}

//  Every result of the workload, with every value wrong (zero) and a
//  correct CRC, so that only the sender's identity can stop it.
static zframe_t *s_results (const attack_t *self)
{
    dlb_job_t **jobs = calloc (self->jobs, sizeof *jobs);
    for (uint64_t j = 0; j < self->jobs; j++) {
        uint64_t lo = j * self->elements / self->jobs,
                 hi = (j + 1) * self->elements / self->jobs;
        jobs[j] = dlb_job_new ((uint32_t) (hi - lo));
        snprintf (jobs[j]->workload, DLB_NAME_MAX, "%s", self->workload);
        snprintf (jobs[j]->origin, DLB_NAME_MAX, "%s", self->to);
        snprintf (jobs[j]->ran_on, DLB_NAME_MAX, "%s", self->from);
        jobs[j]->id = j;
        jobs[j]->offset = lo;
        jobs[j]->reps = (uint32_t) self->reps;
        jobs[j]->crc = dlb_job_crc (jobs[j]);
    }
    dlb_writer_t w;
    dlb_batch_stats_t stats;
    dlb_writer_init (&w, DLB_MSG_RESULTS);
    dlb_batch_encode (&w, DLB_MSG_RESULTS, self->from, self->to,
                      (uint64_t) zclock_time () << 16, jobs, self->jobs, &stats);
    dlb_batch_free (&jobs, self->jobs);
    return dlb_writer_frame (&w);
}

static zframe_t *s_jobs (const attack_t *self)
{
    dlb_job_t *job = dlb_job_new (1024);
    snprintf (job->workload, DLB_NAME_MAX, "%s", self->workload);
    snprintf (job->origin, DLB_NAME_MAX, "%s", self->from);
    job->reps = (uint32_t) self->reps;
    dlb_writer_t w;
    dlb_batch_stats_t stats;
    dlb_writer_init (&w, DLB_MSG_JOBS);
    dlb_batch_encode (&w, DLB_MSG_JOBS, self->from, self->to,
                      (uint64_t) zclock_time () << 16, &job, 1, &stats);
    dlb_job_destroy (&job);
    return dlb_writer_frame (&w);
}

static zframe_t *s_state (const attack_t *self)
{
    dlb_state_t state = {.seq = self->seq,
                         .time = zclock_time () / 1000.0,
                         .queue = 0,
                         .throttle = 1.0,
                         .threads = 64,
                         .rate = 1e6};
    snprintf (state.node, sizeof state.node, "%s", self->from);
    snprintf (state.transfer, sizeof state.transfer, "tcp://127.0.0.1:9");
    snprintf (state.policy, sizeof state.policy, "none");
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_STATE);
    dlb_state_pack (&w, &state, false);
    return dlb_writer_frame (&w);
}

//  A small message of the given type; NULL for a type it does not know.
static zframe_t *s_message (const attack_t *self, uint64_t index)
{
    const char *t = self->type;
    dlb_writer_t w;
    if (streq (t, "jobs"))
        return s_jobs (self);
    if (streq (t, "results"))
        return s_results (self);
    if (streq (t, "state"))
        return s_state (self);
    if (streq (t, "junk"))
        return s_junk (self->size ? self->size : 64);
    if (streq (t, "objects"))
        return s_objects (self->size);
    if (streq (t, "zbomb"))
        return s_zbomb (self);
    if (streq (t, "subscribe")) { //  1, then a distinct topic
        zframe_t *frame = s_junk (self->size ? self->size : 64);
        zframe_data (frame)[0] = 1;
        if (zframe_size (frame) > 8)
            memcpy (zframe_data (frame) + 1, &index, sizeof index);
        return frame;
    }
    if (streq (t, "steal")) {
        dlb_writer_init (&w, DLB_MSG_STEAL);
        msgpack_pack_map (&w.pk, 6);
        dlb_writer_str (&w, "from", self->from);
        dlb_writer_str (&w, "to", self->to);
        dlb_writer_u64 (&w, "want", 4096);
        dlb_writer_u64 (&w, "queue", 0);
        dlb_writer_u64 (&w, "running", 0);
        dlb_writer_double (&w, "rate", 1e6);
    }
    else if (streq (t, "hold")) { //  "I hold every job": nothing would be re-issued
        dlb_writer_init (&w, DLB_MSG_HOLD);
        msgpack_pack_map (&w.pk, 3);
        dlb_writer_str (&w, "from", self->from);
        dlb_writer_str (&w, "to", self->to);
        dlb_writer_key (&w, "held");
        msgpack_pack_map (&w.pk, 1);
        dlb_writer_key (&w, self->workload);
        msgpack_pack_array (&w.pk, 2);
        msgpack_pack_uint64 (&w.pk, 0);
        msgpack_pack_uint64 (&w.pk, self->jobs);
    }
    else if (streq (t, "ack")) {
        dlb_writer_init (&w, DLB_MSG_ACK);
        msgpack_pack_map (&w.pk, 2);
        dlb_writer_str (&w, "from", self->from);
        dlb_writer_u64 (&w, "batch", index);
    }
    else if (streq (t, "throttle") || streq (t, "policy") || streq (t, "status")) {
        dlb_writer_init (&w, DLB_MSG_COMMAND);
        msgpack_pack_map (&w.pk, streq (t, "status") ? 1 : 2);
        dlb_writer_str (&w, "cmd", t);
        if (streq (t, "throttle"))
            dlb_writer_double (&w, "value", atof (self->value ? self->value : "0.01"));
        else if (streq (t, "policy"))
            dlb_writer_str (&w, "name", self->value ? self->value : "none");
    }
    else if (streq (t, "submit")) {
        dlb_writer_init (&w, DLB_MSG_COMMAND);
        msgpack_pack_map (&w.pk, 5);
        dlb_writer_str (&w, "cmd", "submit");
        dlb_writer_str (&w, "output", "/tmp/dlb_attack.npy");
        dlb_writer_u64 (&w, "elements", 1 << 20);
        dlb_writer_u64 (&w, "jobs", 1 << 20);
        dlb_writer_u64 (&w, "reps", UINT32_MAX);
    }
    else
        return NULL;
    return dlb_writer_frame (&w);
}

//  ---------------------------------------------------------------------
//  Sockets

//  Applies the keys: ours (--key) and, connecting, the server's. -1 if a
//  key cannot be read (said why).
static int s_keys (const attack_t *self, zsock_t *sock)
{
    if (!self->key)
        return 0;
    char err[DLB_TEXT_MAX * 2];
    zcert_t *ours = dlb_keys_load_secret (self->key, err, sizeof err);
    if (!ours) {
        fprintf (stderr, "%s: %s\n", S_NAME, err);
        return -1;
    }
    zcert_apply (ours, sock);
    zcert_destroy (&ours);
    if (self->bind) {
        zsock_set_curve_server (sock, 1);
        return 0;
    }
    zcert_t *server = self->server_key ? zcert_load (self->server_key) : NULL;
    if (!server) {
        fprintf (stderr, "%s: --key needs --server-key, the target's public cert\n",
                 S_NAME);
        return -1;
    }
    zsock_set_curve_serverkey (sock, zcert_public_txt (server));
    zcert_destroy (&server);
    return 0;
}

static int s_socket_type (const attack_t *self)
{
    const char *kind = self->socket;
    if (!kind)
        kind = streq (self->type, "throttle") || streq (self->type, "policy") ||
                       streq (self->type, "submit") || streq (self->type, "status")
                   ? "dealer"
               : streq (self->type, "subscribe") ? "xsub"
                                                 : "push";
    return streq (kind, "dealer") ? ZMQ_DEALER
           : streq (kind, "xsub") ? ZMQ_XSUB
           : streq (kind, "push") ? ZMQ_PUSH
                                  : -1;
}

//  Reads what is waiting on sock for up to msecs: control replies.
static void s_drain (attack_t *self, zsock_t *sock, int msecs)
{
    int64_t deadline = zclock_mono () + msecs;
    zpoller_t *poller = zpoller_new (sock, NULL);
    while (zclock_mono () < deadline) {
        if (!zpoller_wait (poller, (int) (deadline - zclock_mono ())))
            break;
        zmsg_t *reply = zmsg_recv (sock);
        if (reply) {
            self->replies++;
            zframe_t *body = zmsg_last (reply);
            dlb_msg_t msg;
            char reason[256];
            if (body && self->replies <= 3 &&
                dlb_msg_decode (zframe_data (body), zframe_size (body), &msg, reason,
                                sizeof reason) == 0) {
                char error[DLB_TEXT_MAX] = "";
                bool ok = false;
                dlb_obj_bool (msg.body, "ok", &ok);
                dlb_obj_str (msg.body, "error", error, sizeof error);
                printf ("%s: reply ok=%s %s\n", S_NAME, ok ? "true" : "false", error);
                dlb_msg_release (&msg);
            }
        }
        zmsg_destroy (&reply);
    }
    zpoller_destroy (&poller);
}

//  Sends one message (index) on sock. 0, -1 if not taken, -2 if it cannot
//  be made.
static int s_send (attack_t *self, zsock_t *sock, int type, uint64_t index, bool wait)
{
    //  A DEALER sends the envelope REQ would: an empty delimiter first.
    if (type == ZMQ_DEALER && zmq_send (zsock_resolve (sock), "", 0,
                                        ZMQ_SNDMORE | (wait ? 0 : ZMQ_DONTWAIT)) < 0)
        return -1;
    if (streq (self->type, "oversize"))
        return s_send_oversize (zsock_resolve (sock), self->size,
                                wait ? 0 : ZMQ_DONTWAIT);
    zframe_t *frame = s_message (self, index);
    if (!frame)
        return -2;
    if (zframe_send (&frame, sock, wait ? 0 : ZFRAME_DONTWAIT) == 0)
        return 0;
    zframe_destroy (&frame);
    return -1;
}

//  A new socket of type, with our keys, connecting to ENDPOINT; NULL if a
//  key cannot be read.
static zsock_t *s_open (attack_t *self, int type, int linger)
{
    zsock_t *sock = zsock_new (type);
    zsock_set_linger (sock, linger);
    zsock_set_sndtimeo (sock, S_SEND_WAIT);
    if (s_keys (self, sock) || zsock_connect (sock, "%s", self->endpoint))
        zsock_destroy (&sock);
    return sock;
}

//  Sends message index, counting it. -1 if it cannot be made.
static int s_count (attack_t *self, zsock_t *sock, int type, uint64_t index, bool *wait)
{
    int rc = s_send (self, sock, type, index, *wait);
    if (rc == -2) {
        fprintf (stderr, "%s: cannot make a %s\n", S_NAME, self->type);
        return -1;
    }
    if (rc == -1) //  not taken in S_SEND_WAIT: the rest does not wait
        self->dropped++, *wait = false;
    else
        self->sent++;
    return 0;
}

//  One socket: sends count messages, blocking (up to S_SEND_WAIT each) so
//  that a flood arrives whole, then flushes for up to duration ms (a
//  refused socket takes all of it); a DEALER reads replies meanwhile.
//  --connections C: rounds of C new sockets, each with one message, every
//  S_ROUND ms for duration ms: a flood of handshakes.
static int s_connect (attack_t *self)
{
    int type = s_socket_type (self);
    if (type < 0) {
        fprintf (stderr, "%s: --socket push, dealer or xsub\n", S_NAME);
        return 2;
    }
    bool wait = true;
    if (self->connections <= 1) {
        zsock_t *sock = s_open (self, type, self->duration);
        if (!sock)
            return 1;
        self->opened++;
        int rc = 0;
        for (uint64_t index = 0; index < self->count && rc == 0; index++)
            rc = s_count (self, sock, type, index, &wait);
        if (rc == 0 && type == ZMQ_DEALER)
            s_drain (self, sock, self->duration);
        zsock_destroy (&sock);
        return rc ? 1 : 0;
    }
    wait = false;
    uint64_t index = 0;
    int64_t deadline = zclock_mono () + self->duration;
    zsock_t **socks = calloc (self->connections, sizeof *socks);
    int rc = 0;
    while (rc == 0 && zclock_mono () < deadline) {
        for (size_t c = 0; c < self->connections && rc == 0; c++) {
            socks[c] = s_open (self, type, 0);
            if (!socks[c])
                rc = 1;
            else if (self->opened++, index < self->count)
                rc = s_count (self, socks[c], type, index++, &wait) ? 1 : 0;
        }
        zclock_sleep (S_ROUND);
        for (size_t c = 0; c < self->connections; c++)
            zsock_destroy (&socks[c]);
    }
    free (socks);
    return rc;
}

//  Binds ENDPOINT as an XPUB and publishes count messages to every
//  subscriber that completes a handshake, for duration ms, logging what
//  its monitor saw.
static int s_bind (attack_t *self)
{
    zsock_t *xpub = zsock_new (ZMQ_XPUB);
    zsock_set_linger (xpub, 0);
    zactor_t *monitor = zactor_new (zmonitor, xpub);
    zstr_sendx (monitor, "LISTEN", "ACCEPTED", NULL);
    zstr_sendx (monitor, "LISTEN", "HANDSHAKE_FAILED_NO_DETAIL", NULL);
    zstr_sendx (monitor, "LISTEN", "HANDSHAKE_FAILED_PROTOCOL", NULL);
    zstr_sendx (monitor, "LISTEN", "HANDSHAKE_FAILED_AUTH", NULL);
    zstr_sendx (monitor, "START", NULL);
    zsock_wait (monitor);
    if (s_keys (self, xpub) || zsock_bind (xpub, "%s", self->endpoint) < 0) {
        fprintf (stderr, "%s: cannot bind %s: %s\n", S_NAME, self->endpoint,
                 zmq_strerror (zmq_errno ()));
        zactor_destroy (&monitor);
        zsock_destroy (&xpub);
        return 1;
    }
    zpoller_t *poller = zpoller_new (xpub, monitor, NULL);
    int64_t deadline = zclock_mono () + self->duration;
    while (zclock_mono () < deadline) {
        void *which = zpoller_wait (
            poller, self->sent < self->count && self->subscriptions ? 0 : 50);
        if (which == monitor) {
            zmsg_t *event = zmsg_recv (monitor);
            char *name = zmsg_popstr (event);
            if (name && streq (name, "ACCEPTED"))
                self->accepted++;
            else if (name)
                self->failures++;
            zstr_free (&name);
            zmsg_destroy (&event);
        }
        else if (which == xpub) {
            zframe_t *subscription = zframe_recv (xpub);
            if (subscription && zframe_size (subscription) > 0 &&
                zframe_data (subscription)[0] == 1)
                self->subscriptions++;
            zframe_destroy (&subscription);
        }
        //  Publishes to what subscribed (nothing, unless a handshake
        //  passed), up to S_BURST at a time.
        for (int burst = 0;
             self->subscriptions && self->sent < self->count && burst < S_BURST;
             burst++) {
            zframe_t *frame = s_message (self, self->sent);
            if (frame && zframe_send (&frame, xpub, ZFRAME_DONTWAIT) == 0)
                self->sent++;
            else
                self->dropped++;
            zframe_destroy (&frame);
        }
    }
    zpoller_destroy (&poller);
    zactor_destroy (&monitor);
    zsock_destroy (&xpub);
    return 0;
}

int main (int argc, char *argv[])
{
    attack_t self = {.from = "mallory",
                     .to = "a",
                     .workload = "a-1",
                     .elements = 262144,
                     .jobs = 256,
                     .reps = 50000,
                     .count = 1,
                     .seq = S_HUGE_SEQ,
                     .duration = 2000};
    //  Each option sets a text or a number.
    const struct {
        const char *name;
        const char **text;
        uint64_t *number;
    } options[] = {
        {"--type", &self.type, NULL},         {"--endpoint", &self.endpoint, NULL},
        {"--key", &self.key, NULL},           {"--server-key", &self.server_key, NULL},
        {"--from", &self.from, NULL},         {"--to", &self.to, NULL},
        {"--workload", &self.workload, NULL}, {"--value", &self.value, NULL},
        {"--socket", &self.socket, NULL},     {"--elements", NULL, &self.elements},
        {"--jobs", NULL, &self.jobs},         {"--reps", NULL, &self.reps},
        {"--count", NULL, &self.count},       {"--size", NULL, &self.size},
        {"--seq", NULL, &self.seq},           {"--connections", NULL, &self.connections},
    };
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;
        if (streq (opt, "--help") || streq (opt, "-h")) {
            fputs (s_usage, stdout);
            return 0;
        }
        if (streq (opt, "--bind")) {
            self.bind = true;
            continue;
        }
        if (!arg) {
            fprintf (stderr, "%s: %s needs a value\n%s", S_NAME, opt, s_usage);
            return 2;
        }
        i++;
        const char **text = NULL;
        uint64_t *number = NULL;
        for (size_t k = 0; k < sizeof options / sizeof options[0]; k++)
            if (streq (opt, options[k].name)) {
                text = options[k].text;
                number = options[k].number;
            }
        if (text)
            *text = arg;
        else if (number)
            *number = strtoull (arg, NULL, 0);
        else if (streq (opt, "--duration"))
            self.duration = atoi (arg);
        else {
            fprintf (stderr, "%s: unknown option %s\n%s", S_NAME, opt, s_usage);
            return 2;
        }
    }
    if (!self.type || !self.endpoint || self.jobs == 0 || self.jobs > self.elements ||
        self.elements / self.jobs > DLB_JOB_MAX_ELEMS || self.duration < 0) {
        fprintf (stderr,
                 "%s: --type and --endpoint are needed; sizes must make sense\n%s",
                 S_NAME, s_usage);
        return 2;
    }
    const char *types[] = {"jobs",  "results",  "steal",   "hold",   "ack",
                           "state", "throttle", "policy",  "submit", "status",
                           "junk",  "oversize", "objects", "zbomb",  "subscribe"};
    bool known = false;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
        known = known || streq (self.type, types[k]);
    if (!known) {
        fprintf (stderr, "%s: unknown --type %s\n%s", S_NAME, self.type, s_usage);
        return 2;
    }
    //  Loopback only: this tool is for the project's own nodes.
    if (strncmp (self.endpoint, "tcp://127.", 10) &&
        strncmp (self.endpoint, "tcp://[::1]", 11)) {
        fprintf (stderr, "%s: %s is not a loopback endpoint\n", S_NAME, self.endpoint);
        return 2;
    }
    int rc = self.bind ? s_bind (&self) : s_connect (&self);
    printf ("%s: %s sent %llu (dropped %llu), replies %llu, sockets %llu, accepted %llu, "
            "handshake failures %llu, subscriptions %llu\n",
            S_NAME, self.type, (unsigned long long) self.sent,
            (unsigned long long) self.dropped, (unsigned long long) self.replies,
            (unsigned long long) self.opened, (unsigned long long) self.accepted,
            (unsigned long long) self.failures, (unsigned long long) self.subscriptions);
    return rc;
}
