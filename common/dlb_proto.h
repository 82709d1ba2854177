/*  dlb_proto: the wire format of every dlb message, local and peer-facing.

    A message is one ZeroMQ frame:

        +------+------+---------+------+---------------------------+
        | 0xD1 | 0xB0 | version | type | msgpack map (the body)    |
        +------+------+---------+------+---------------------------+

    The signature and version are checked before the body is parsed; the
    body must be one msgpack map and nothing after it. Unknown keys are
    ignored, missing optional keys take their defaults, a missing required
    key or a value of the wrong type makes the message malformed. The
    documentation of every message and field is proto/README.md.

    Decoders return 0 on success and -2 on a malformed message, with the
    reason written into the caller's buffer; they never assert on input.

    Ownership: dlb_job_t owns its data (free with dlb_job_destroy); a
    decoded dlb_msg_t owns its body (free with dlb_msg_release); pointers
    into a body (strings, bins) are valid until the release.           */
#ifndef DLB_PROTO_H_INCLUDED
#define DLB_PROTO_H_INCLUDED

#include <czmq.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#define DLB_PROTO_SIG0     0xD1
#define DLB_PROTO_SIG1     0xB0
#define DLB_PROTO_VERSION  1
#define DLB_PROTO_HEADER   4         //  bytes before the body
#define DLB_NAME_MAX       64        //  bytes, node names and ids with NUL
#define DLB_NODE_NAME_MAX  40        //  bytes of a node name (ids add a suffix)
#define DLB_ENDPOINT_MAX   160       //  bytes, "tcp://" + host + ":" + port with NUL
#define DLB_TEXT_MAX       512       //  bytes, paths and error texts with NUL
#define DLB_JOB_MAX_ELEMS  (1 << 22) //  float64 elements in one job (32 MiB)
#define DLB_BATCH_MAX_JOBS 4096      //  jobs or results in one message
#define DLB_BATCH_FILL_BYTES                                                             \
    (512 * 1024) //  payload bytes under which a sender adds jobs to a batch beyond
                 //  --batch (up to DLB_BATCH_MAX_JOBS): small jobs, fewer messages
#define DLB_PEERS_MAX      16   //  peers a node tracks
#define DLB_COMPRESS_SMALL 4096 //  payload bytes compressed with zlib memLevel 1
#define DLB_COMPRESS_PROBE 1024 //  payload bytes from which the entropy is probed
#define DLB_COMPRESS_ENTROPY                                                             \
    7.0 //  bits a byte above which a payload is sent raw (deflate saves < 1/8)
#define DLB_BATCH_MAX_BYTES                                                              \
    (64 * 1024 * 1024)                       //  payload bytes a sender puts in one batch
#define DLB_MSG_MAX_SIZE (256 * 1024 * 1024) //  bytes, larger frames are dropped
#define DLB_SMALL_MAX_SIZE                                                               \
    (64 * 1024) //  bytes a control request, STATE or subscription may have
#define DLB_MSG_MAX_OBJECTS                                                              \
    (1 << 20) //  msgpack objects in one body: decoding costs ~24 B each
#define DLB_BATCH_MAX_DECLARED                                                           \
    (DLB_BATCH_MAX_BYTES + DLB_JOB_MAX_ELEMS * 8) //  payload bytes (n x 8 summed) a
                                                  //  batch may declare: what a sender
                                                  //  puts in one, at most

typedef enum {
    //  Peer-facing (cross the node boundary)
    DLB_MSG_STATE = 1,   //  node state, state PUB -> peers' state SUB
    DLB_MSG_JOBS = 2,    //  a batch of jobs, transfer -> peer transfer
    DLB_MSG_ACK = 3,     //  acknowledges a JOBS or RESULTS batch
    DLB_MSG_RESULTS = 4, //  a batch of results, transfer -> origin's transfer
    DLB_MSG_STEAL = 5,   //  an underloaded node asks a peer for jobs
    DLB_MSG_HOLD = 6,    //  a holder renews its leases on an origin's jobs
    DLB_MSG_CANCEL = 7,  //  an origin tells holders that workloads were cancelled
    //  Local to a node
    DLB_MSG_TAKE = 16,    //  adaptor -> worker: give up to N queued jobs for a peer
    DLB_MSG_STATUS = 17,  //  every service's periodic report on its PUB socket
    DLB_MSG_COMMAND = 18, //  control request (dlbctl -> monitor -> owner)
    DLB_MSG_REPLY = 19,   //  control answer
    DLB_MSG_EVENT = 20,   //  something happened (dlb_event), on a service's bus
} dlb_msg_type_t;

//  Name of a message type for logs ("STATE", ...), "?" if unknown.
const char *dlb_msg_type_name (int type);

//  ---------------------------------------------------------------------
//  Writing a message: a header, then a body built with msgpack's packer.

typedef struct {
    msgpack_sbuffer buffer;
    msgpack_packer pk;
} dlb_writer_t;

//  Starts a message of the given type; the caller then packs one map.
void dlb_writer_init (dlb_writer_t *self, int type);
//  Starts a bare msgpack value, with no message header (a record kept on
//  disk); the bytes are buffer.data, buffer.size.
void dlb_writer_init_bare (dlb_writer_t *self);
//  Packs a key and a value of the given kind. Cannot fail.
void dlb_writer_key (dlb_writer_t *self, const char *key);
void dlb_writer_str (dlb_writer_t *self, const char *key, const char *value);
void dlb_writer_u64 (dlb_writer_t *self, const char *key, uint64_t value);
void dlb_writer_i64 (dlb_writer_t *self, const char *key, int64_t value);
void dlb_writer_double (dlb_writer_t *self, const char *key, double value);
void dlb_writer_bool (dlb_writer_t *self, const char *key, bool value);
void dlb_writer_bin (dlb_writer_t *self, const char *key, const void *data, size_t size);
void dlb_writer_string (dlb_writer_t *self, const char *value); //  a bare string value
//  Sends the message as one frame and frees the buffer. Returns 0, or -1 if
//  the socket refused it (the message is dropped).
int dlb_writer_send (dlb_writer_t *self, void *socket);
//  Moves the encoded message into a new frame (for tests and relays).
zframe_t *dlb_writer_frame (dlb_writer_t *self);
void dlb_writer_destroy (dlb_writer_t *self);

//  ---------------------------------------------------------------------
//  Reading a message.

typedef struct {
    int type;
    const msgpack_object *body; //  a map
    msgpack_unpacked unpacked;
    bool has_body;
    zframe_t *frame; //  the received bytes, which body's strings and bins
                     //  point into (msgpack-c does not copy them); owned
} dlb_msg_t;

//  Checks the header and parses the body. Returns 0, or -2 with a reason
//  (bad signature, wrong version, unknown type, truncated body, trailing
//  bytes, body not a map). On -2 nothing needs releasing. The body points
//  into data, which must outlive msg.
int dlb_msg_decode (const void *data, size_t size, dlb_msg_t *msg, char *reason,
                    size_t reason_size);
//  Parses data as one msgpack map and nothing after it (a message body, or
//  a record kept on disk). Bodies of over DLB_MSG_MAX_OBJECTS objects are
//  refused by a byte scan before msgpack-c sees them: a few bytes that
//  declare a huge array would make it allocate ~24 bytes per declared
//  object. Returns 0 with the map in *unpacked (msgpack_unpacked_destroy
//  it), or -2 with a reason and nothing to destroy. Strings and bins of
//  the map point into data.
int dlb_map_unpack (const void *data, size_t size, msgpack_unpacked *unpacked,
                    char *reason, size_t reason_size);
//  Receives one message from a socket and decodes it; multi-frame messages
//  are malformed. Returns 0, -1 if interrupted, -2 if malformed (reason set).
//  The message keeps the received frame; dlb_msg_release frees both.
int dlb_msg_recv (void *socket, dlb_msg_t *msg, char *reason, size_t reason_size);
void dlb_msg_release (dlb_msg_t *msg);

//  Field access on a map object. Each returns 0, or -1 if the key is
//  missing or holds the wrong type (leaving *value unchanged).
const msgpack_object *dlb_obj_get (const msgpack_object *map, const char *key);
int dlb_obj_str (const msgpack_object *map, const char *key, char *buf, size_t size);
int dlb_obj_u64 (const msgpack_object *map, const char *key, uint64_t *value);
int dlb_obj_double (const msgpack_object *map, const char *key, double *value);
int dlb_obj_bool (const msgpack_object *map, const char *key, bool *value);
int dlb_obj_bin (const msgpack_object *map, const char *key, const char **data,
                 size_t *size);
int dlb_obj_array (const msgpack_object *map, const char *key,
                   const msgpack_object_array **array);

//  ---------------------------------------------------------------------
//  Jobs and results: the unit of work, carried by JOBS and RESULTS.

typedef struct {
    char workload[DLB_NAME_MAX]; //  workload id
    uint64_t id;                 //  job id within the workload
    char origin[DLB_NAME_MAX];   //  node that holds the workload
    uint32_t reps;               //  kernel repetitions
    uint32_t elems;              //  float64 elements in data
    uint64_t offset;             //  index of data[0] in the workload vector
    double *data;                //  elems values (owned)
    char ran_on[DLB_NAME_MAX];   //  results: node that ran the job
    uint32_t crc;                //  results: CRC-32 of data as computed
} dlb_job_t;

//  Allocates a job with room for elems values. NULL on allocation failure.
dlb_job_t *dlb_job_new (uint32_t elems);
void dlb_job_destroy (dlb_job_t **self_p);
//  CRC-32 (zlib) of the job's data. Cannot fail.
uint32_t dlb_job_crc (const dlb_job_t *self);

//  Batch statistics, filled by the encoder.
typedef struct {
    size_t raw_bytes;  //  payload bytes before compression
    size_t wire_bytes; //  payload bytes on the wire
    size_t compressed; //  payloads sent compressed
} dlb_batch_stats_t;

//  Encodes a JOBS or RESULTS message: {from, to, batch, items: [job...]}.
//  Each payload is zlib-compressed when that makes it smaller (flag "z").
void dlb_batch_encode (dlb_writer_t *writer, int type, const char *from, const char *to,
                       uint64_t batch, dlb_job_t **jobs, size_t count,
                       dlb_batch_stats_t *stats);
//  Decodes the body of a JOBS or RESULTS message. On success returns 0 and
//  a new array of *count jobs (free each with dlb_job_destroy, then the
//  array with free). Returns -2 with a reason on any malformed item; then
//  nothing is returned and nothing needs freeing.
int dlb_batch_decode (const dlb_msg_t *msg, char *from, char *to, uint64_t *batch,
                      dlb_job_t ***jobs, size_t *count, char *reason, size_t reason_size);
void dlb_batch_free (dlb_job_t ***jobs_p, size_t count);

//  ---------------------------------------------------------------------
//  Node state, exchanged between peers by the state services.

//  A count of jobs per node, as in the maps recv_from and sent_to.
typedef struct {
    char node[DLB_NAME_MAX];
    uint64_t jobs;
} dlb_count_t;

//  Reads the map {node: count} at key into counts (at most max entries;
//  entries with a wrong type or an over-long name are skipped). Returns
//  the number read, 0 if the key is missing or not a map. Cannot fail.
//  Packs key and a map node -> jobs of the first n counts. Cannot fail.
void dlb_writer_counts (dlb_writer_t *w, const char *key, const dlb_count_t *counts,
                        size_t n);
size_t dlb_obj_counts (const msgpack_object *map, const char *key, dlb_count_t *counts,
                       size_t max);

typedef struct {
    char node[DLB_NAME_MAX];
    char transfer[DLB_ENDPOINT_MAX]; //  endpoint where the node receives jobs
    uint64_t seq;                    //  monotonic per node
    double time;                     //  secs since the epoch when published
    uint64_t queue;                  //  queued jobs
    uint64_t running;                //  jobs on threads now
    uint64_t done;                   //  jobs completed since start
    uint64_t threads;
    double throttle;   //  0 < t <= 1
    double cpu;        //  machine CPU use, % of all CPUs
    double rate;       //  jobs/s the worker sustains while busy, 0 if unknown
    uint64_t sent;     //  jobs sent to peers
    uint64_t received; //  jobs received from peers
    char policy[16];
    uint64_t boot; //  the worker's start time, usecs: a change means a restart
    //  Forecasting (the monitor's): the owner's load on the CPUs the worker
    //  may use, % (machine use minus dlb's own processes), now and forecast
    //  over the node's remaining work; the CPUs the worker is predicted to
    //  get; its predicted jobs/s over that time (0: no rate measured yet).
    double owner;
    double owner_forecast;
    double avail;
    double capacity;
    //  The capacity's expected relative error, 0..1 (0: not known): the
    //  forecast's recent error over the share of the CPUs it leaves free.
    double capacity_doubt;
    //  Jobs received from each peer, so that a sender can tell how many of
    //  its jobs are still in flight (its own count minus the peer's).
    size_t peers_known;
    dlb_count_t recv_from[DLB_PEERS_MAX];
    bool stale; //  local only: set by the receiver when expired
    double age; //  local only: secs since last heard
} dlb_state_t;

//  Packs the state as a map: the body of a STATE message (after
//  dlb_writer_init), or embedded in another message. With liveness, the
//  local-only fields stale and age are included.
void dlb_state_pack (dlb_writer_t *writer, const dlb_state_t *state, bool liveness);
//  Reads a state from a map object. 0, or -2 with a reason.
int dlb_state_decode (const msgpack_object *map, dlb_state_t *state, char *reason,
                      size_t reason_size);

void dlb_proto_test (bool verbose);

#endif
