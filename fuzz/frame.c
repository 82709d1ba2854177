/*  fuzz_frame: any bytes as a received frame (dlb_msg_decode: signature,
    version, type, the object-count scan, msgpack, one map), then the body
    read as its receivers read each type: STATE, JOBS/RESULTS and COMMAND
    through their decoders, the others field by field through the typed
    accessors (proto/README.md 5 and 7), HOLD's ranges and STATUS's nested
    maps included.                                                        */
#include "dlb_command.h"
#include "dlb_fuzz.h"

//  A field of a message and how its receiver reads it.
typedef struct {
    int type;
    const char *key;
    char kind; //  's' str, 'u' uint, 'f' float, 'b' bool, 'c' counts map, 'a' array
} s_field_t;

static const s_field_t s_fields[] = {
    {DLB_MSG_ACK, "from", 's'},         {DLB_MSG_ACK, "batch", 'u'},
    {DLB_MSG_ACK, "count", 'u'},        {DLB_MSG_ACK, "to", 's'},
    {DLB_MSG_STEAL, "from", 's'},       {DLB_MSG_STEAL, "to", 's'},
    {DLB_MSG_STEAL, "want", 'u'},       {DLB_MSG_STEAL, "queue", 'u'},
    {DLB_MSG_STEAL, "running", 'u'},    {DLB_MSG_STEAL, "rate", 'f'},
    {DLB_MSG_STEAL, "received", 'u'},   {DLB_MSG_HOLD, "from", 's'},
    {DLB_MSG_HOLD, "to", 's'},          {DLB_MSG_TAKE, "to", 's'},
    {DLB_MSG_TAKE, "count", 'u'},       {DLB_MSG_TAKE, "why", 's'},
    {DLB_MSG_STATUS, "service", 's'},   {DLB_MSG_STATUS, "node", 's'},
    {DLB_MSG_STATUS, "throttle", 'f'},  {DLB_MSG_STATUS, "cpu", 'f'},
    {DLB_MSG_STATUS, "cpu_s", 'f'},     {DLB_MSG_STATUS, "queue", 'f'},
    {DLB_MSG_STATUS, "rate", 'f'},      {DLB_MSG_STATUS, "policy", 's'},
    {DLB_MSG_STATUS, "sent_to", 'c'},   {DLB_MSG_STATUS, "recv_from", 'c'},
    {DLB_MSG_STATUS, "workloads", 'a'}, {DLB_MSG_STATUS, "peers", 'a'},
    {DLB_MSG_REPLY, "ok", 'b'},         {DLB_MSG_REPLY, "error", 's'},
    {DLB_MSG_REPLY, "req", 'u'},        {DLB_MSG_REPLY, "id", 's'},
    {DLB_MSG_REPLY, "throttle", 'f'},   {DLB_MSG_REPLY, "boot", 'u'},
    {DLB_MSG_REPLY, "status_seq", 'u'}, {DLB_MSG_STATUS, "seq", 'u'},
    {DLB_MSG_STATUS, "compute_s", 'f'},
};

//  Reads every map of an array as a STATE (a state service's peers) and
//  as a workload's status (a worker's workloads). Cannot fail.
static void s_read_maps (const msgpack_object_array *array)
{
    for (uint32_t i = 0; i < array->size; i++) {
        const msgpack_object *map = &array->ptr[i];
        dlb_state_t state;
        char reason[DLB_FUZZ_REASON], text[DLB_TEXT_MAX];
        uint64_t number;
        dlb_count_t ran[DLB_PEERS_MAX];
        dlb_state_decode (map, &state, reason, sizeof reason);
        dlb_obj_str (map, "id", text, sizeof text);
        dlb_obj_u64 (map, "completed", &number);
        dlb_obj_counts (map, "ran", ran, DLB_PEERS_MAX);
    }
}

//  HOLD: workload id -> half-open ranges [lo, hi, ...] of uints, as the
//  worker reads them (dlb_worker.c s_hold). Cannot fail.
static void s_read_held (const msgpack_object *body)
{
    const msgpack_object *held = dlb_obj_get (body, "held");
    uint64_t span = 0;
    for (uint32_t i = 0;
         held && held->type == MSGPACK_OBJECT_MAP && i < held->via.map.size; i++) {
        const msgpack_object_kv *entry = &held->via.map.ptr[i];
        if (entry->key.type == MSGPACK_OBJECT_STR &&
            entry->val.type == MSGPACK_OBJECT_ARRAY)
            for (uint32_t k = 0; k + 1 < entry->val.via.array.size; k += 2)
                span += entry->val.via.array.ptr[k + 1].via.u64 -
                        entry->val.via.array.ptr[k].via.u64;
    }
    (void) span;
}

static void s_read_body (const dlb_msg_t *msg)
{
    char reason[DLB_FUZZ_REASON], text[DLB_TEXT_MAX], from[DLB_NAME_MAX],
        to[DLB_NAME_MAX];
    if (msg->type == DLB_MSG_STATE) {
        dlb_state_t state;
        dlb_state_decode (msg->body, &state, reason, sizeof reason);
    }
    else if (msg->type == DLB_MSG_JOBS || msg->type == DLB_MSG_RESULTS) {
        dlb_job_t **jobs;
        size_t count;
        uint64_t batch;
        if (dlb_batch_decode (msg, from, to, &batch, &jobs, &count, reason,
                              sizeof reason) == 0)
            dlb_batch_free (&jobs, count);
    }
    else if (msg->type == DLB_MSG_COMMAND) {
        dlb_command_t command;
        dlb_command_decode (msg, &command, reason, sizeof reason);
    }
    else if (msg->type == DLB_MSG_HOLD)
        s_read_held (msg->body);
    for (size_t i = 0; i < sizeof s_fields / sizeof s_fields[0]; i++) {
        const s_field_t *field = &s_fields[i];
        uint64_t number;
        double real;
        bool flag;
        dlb_count_t counts[DLB_PEERS_MAX];
        const msgpack_object_array *array;
        if (field->type != msg->type)
            continue;
        if (field->kind == 's')
            dlb_obj_str (msg->body, field->key, text, sizeof text);
        else if (field->kind == 'u')
            dlb_obj_u64 (msg->body, field->key, &number);
        else if (field->kind == 'f')
            dlb_obj_double (msg->body, field->key, &real);
        else if (field->kind == 'b')
            dlb_obj_bool (msg->body, field->key, &flag);
        else if (field->kind == 'c')
            dlb_obj_counts (msg->body, field->key, counts, DLB_PEERS_MAX);
        else if (dlb_obj_array (msg->body, field->key, &array) == 0)
            s_read_maps (array);
    }
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    dlb_msg_t msg;
    char reason[DLB_FUZZ_REASON];
    if (dlb_msg_decode (data, size, &msg, reason, sizeof reason) != 0)
        return 0;
    s_read_body (&msg);
    dlb_msg_release (&msg);
    return 0;
}
