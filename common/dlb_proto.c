/*  dlb_proto: encoding and strict decoding of dlb messages (see proto/README.md). */
#include "dlb_proto.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dlb payloads are little-endian float64; this host is not little-endian"
#endif

const char *dlb_msg_type_name (int type)
{
    switch (type) {
    case DLB_MSG_STATE:
        return "STATE";
    case DLB_MSG_JOBS:
        return "JOBS";
    case DLB_MSG_ACK:
        return "ACK";
    case DLB_MSG_RESULTS:
        return "RESULTS";
    case DLB_MSG_STEAL:
        return "STEAL";
    case DLB_MSG_HOLD:
        return "HOLD";
    case DLB_MSG_CANCEL:
        return "CANCEL";
    case DLB_MSG_TAKE:
        return "TAKE";
    case DLB_MSG_STATUS:
        return "STATUS";
    case DLB_MSG_COMMAND:
        return "COMMAND";
    case DLB_MSG_REPLY:
        return "REPLY";
    case DLB_MSG_EVENT:
        return "EVENT";
    default:
        return "?";
    }
}

//  ---------------------------------------------------------------------
//  Writer

void dlb_writer_init_bare (dlb_writer_t *self)
{
    msgpack_sbuffer_init (&self->buffer);
    msgpack_packer_init (&self->pk, &self->buffer, msgpack_sbuffer_write);
}

void dlb_writer_init (dlb_writer_t *self, int type)
{
    dlb_writer_init_bare (self);
    const char header[DLB_PROTO_HEADER] = {(char) DLB_PROTO_SIG0, (char) DLB_PROTO_SIG1,
                                           DLB_PROTO_VERSION, (char) type};
    msgpack_sbuffer_write (&self->buffer, header, sizeof header);
}

void dlb_writer_key (dlb_writer_t *self, const char *key)
{
    dlb_writer_string (self, key);
}

void dlb_writer_string (dlb_writer_t *self, const char *value)
{
    size_t len = strlen (value);
    msgpack_pack_str (&self->pk, len);
    msgpack_pack_str_body (&self->pk, value, len);
}

void dlb_writer_str (dlb_writer_t *self, const char *key, const char *value)
{
    dlb_writer_key (self, key);
    dlb_writer_string (self, value ? value : "");
}

void dlb_writer_u64 (dlb_writer_t *self, const char *key, uint64_t value)
{
    dlb_writer_key (self, key);
    msgpack_pack_uint64 (&self->pk, value);
}

void dlb_writer_i64 (dlb_writer_t *self, const char *key, int64_t value)
{
    dlb_writer_key (self, key);
    msgpack_pack_int64 (&self->pk, value);
}

void dlb_writer_double (dlb_writer_t *self, const char *key, double value)
{
    dlb_writer_key (self, key);
    msgpack_pack_double (&self->pk, value);
}

void dlb_writer_bool (dlb_writer_t *self, const char *key, bool value)
{
    dlb_writer_key (self, key);
    if (value)
        msgpack_pack_true (&self->pk);
    else
        msgpack_pack_false (&self->pk);
}

void dlb_writer_bin (dlb_writer_t *self, const char *key, const void *data, size_t size)
{
    dlb_writer_key (self, key);
    msgpack_pack_bin (&self->pk, size);
    msgpack_pack_bin_body (&self->pk, data, size);
}

zframe_t *dlb_writer_frame (dlb_writer_t *self)
{
    zframe_t *frame = zframe_new (self->buffer.data, self->buffer.size);
    msgpack_sbuffer_destroy (&self->buffer);
    return frame;
}

int dlb_writer_send (dlb_writer_t *self, void *socket)
{
    zframe_t *frame = dlb_writer_frame (self);
    int rc = zframe_send (&frame, socket, 0);
    zframe_destroy (&frame); //  in case the send failed
    return rc;
}

void dlb_writer_destroy (dlb_writer_t *self)
{
    msgpack_sbuffer_destroy (&self->buffer);
}

//  ---------------------------------------------------------------------
//  Reader

//  Reads a big-endian unsigned of width bytes. Cannot fail.
static uint64_t s_be (const unsigned char *p, int width)
{
    uint64_t value = 0;
    for (int i = 0; i < width; i++)
        value = value << 8 | p[i];
    return value;
}

//  Counts the msgpack objects of the first object in data, without building
//  anything, so that a body of millions of one-byte objects (which msgpack-c
//  would expand to ~24 bytes each) is refused before it is decoded. Returns
//  the count, or -1 if there are more than max or the bytes end first.
static long s_count_objects (const unsigned char *p, size_t size, long max)
{
    const unsigned char *end = p + size;
    uint64_t remaining = 1; //  objects still to read
    long count = 0;
    while (remaining > 0) {
        //  Every object takes at least one byte.
        if (p >= end || remaining > (uint64_t) (end - p) || ++count > max)
            return -1;
        remaining--;
        unsigned char b = *p;
        uint64_t skip = 1, children = 0; //  bytes of this object, objects inside
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
            skip = 1;
        else if (b <= 0x8f)
            children = 2 * (uint64_t) (b & 0x0f);
        else if (b <= 0x9f)
            children = b & 0x0f;
        else if (b <= 0xbf)
            skip = 1 + (uint64_t) (b & 0x1f);
        else {
            //  type byte -> width of its length or count field (0: fixed size)
            static const struct {
                unsigned char type;
                int width, extra; //  extra: fixed bytes after the field
                char kind;        //  'b' bytes follow, 'a' array, 'm' map, 'f' fixed
            } table[] = {{0xc4, 1, 0, 'b'}, {0xc5, 2, 0, 'b'}, {0xc6, 4, 0, 'b'},
                         {0xc7, 1, 1, 'b'}, {0xc8, 2, 1, 'b'}, {0xc9, 4, 1, 'b'},
                         {0xca, 0, 4, 'f'}, {0xcb, 0, 8, 'f'}, {0xcc, 0, 1, 'f'},
                         {0xcd, 0, 2, 'f'}, {0xce, 0, 4, 'f'}, {0xcf, 0, 8, 'f'},
                         {0xd0, 0, 1, 'f'}, {0xd1, 0, 2, 'f'}, {0xd2, 0, 4, 'f'},
                         {0xd3, 0, 8, 'f'}, {0xd4, 0, 2, 'f'}, {0xd5, 0, 3, 'f'},
                         {0xd6, 0, 5, 'f'}, {0xd7, 0, 9, 'f'}, {0xd8, 0, 17, 'f'},
                         {0xd9, 1, 0, 'b'}, {0xda, 2, 0, 'b'}, {0xdb, 4, 0, 'b'},
                         {0xdc, 2, 0, 'a'}, {0xdd, 4, 0, 'a'}, {0xde, 2, 0, 'm'},
                         {0xdf, 4, 0, 'm'}};
            size_t k = 0;
            while (k < sizeof table / sizeof table[0] && table[k].type != b)
                k++;
            if (k == sizeof table / sizeof table[0]) //  0xc1: never used
                return -1;
            int width = table[k].width;
            if ((uint64_t) (end - p) < 1 + (uint64_t) width)
                return -1;
            uint64_t field = width ? s_be (p + 1, width) : 0;
            skip = 1 + (uint64_t) width + (uint64_t) table[k].extra;
            if (table[k].kind == 'b')
                skip += field;
            else if (table[k].kind == 'a')
                children = field;
            else if (table[k].kind == 'm')
                children = 2 * field;
        }
        if (skip > (uint64_t) (end - p))
            return -1;
        p += skip;
        remaining += children;
    }
    return count;
}

int dlb_map_unpack (const void *data, size_t size, msgpack_unpacked *unpacked,
                    char *reason, size_t reason_size)
{
    if (s_count_objects (data, size, DLB_MSG_MAX_OBJECTS) < 0) {
        snprintf (reason, reason_size,
                  "body is truncated, not msgpack, or has over %d objects",
                  DLB_MSG_MAX_OBJECTS);
        return -2;
    }
    msgpack_unpacked_init (unpacked);
    size_t offset = 0;
    msgpack_unpack_return rc = msgpack_unpack_next (unpacked, data, size, &offset);
    const char *problem = NULL;
    if (rc == MSGPACK_UNPACK_CONTINUE)
        problem = "truncated body";
    else if (rc != MSGPACK_UNPACK_SUCCESS)
        problem = "body is not msgpack";
    else if (offset != size)
        problem = "trailing bytes after body";
    else if (unpacked->data.type != MSGPACK_OBJECT_MAP)
        problem = "body is not a map";
    if (problem) {
        snprintf (reason, reason_size, "%s", problem);
        msgpack_unpacked_destroy (unpacked);
        return -2;
    }
    return 0;
}

int dlb_msg_decode (const void *data, size_t size, dlb_msg_t *msg, char *reason,
                    size_t reason_size)
{
    const unsigned char *bytes = data;
    memset (msg, 0, sizeof *msg);
    if (size < DLB_PROTO_HEADER) {
        snprintf (reason, reason_size, "truncated header (%zu bytes)", size);
        return -2;
    }
    if (bytes[0] != DLB_PROTO_SIG0 || bytes[1] != DLB_PROTO_SIG1) {
        snprintf (reason, reason_size, "bad signature %02x%02x", bytes[0], bytes[1]);
        return -2;
    }
    if (bytes[2] != DLB_PROTO_VERSION) {
        snprintf (reason, reason_size, "unsupported version %d (expected %d)", bytes[2],
                  DLB_PROTO_VERSION);
        return -2;
    }
    if (strcmp (dlb_msg_type_name (bytes[3]), "?") == 0) {
        snprintf (reason, reason_size, "unknown message type %d", bytes[3]);
        return -2;
    }
    msg->type = bytes[3];
    char problem[128];
    if (dlb_map_unpack (bytes + DLB_PROTO_HEADER, size - DLB_PROTO_HEADER, &msg->unpacked,
                        problem, sizeof problem)) {
        snprintf (reason, reason_size, "%s %s", dlb_msg_type_name (msg->type), problem);
        memset (msg, 0, sizeof *msg);
        return -2;
    }
    msg->body = &msg->unpacked.data;
    msg->has_body = true;
    return 0;
}

int dlb_msg_recv (void *socket, dlb_msg_t *msg, char *reason, size_t reason_size)
{
    zmsg_t *zmsg = zmsg_recv (socket);
    if (!zmsg)
        return -1;
    int rc;
    if (zmsg_size (zmsg) != 1) {
        snprintf (reason, reason_size, "%zu frames, expected 1", zmsg_size (zmsg));
        memset (msg, 0, sizeof *msg);
        rc = -2;
    }
    else { //  the body points into the frame: the message keeps it
        zframe_t *frame = zmsg_pop (zmsg);
        rc = dlb_msg_decode (zframe_data (frame), zframe_size (frame), msg, reason,
                             reason_size);
        if (rc == 0)
            msg->frame = frame;
        else
            zframe_destroy (&frame);
    }
    zmsg_destroy (&zmsg);
    return rc;
}

void dlb_msg_release (dlb_msg_t *msg)
{
    if (msg->has_body)
        msgpack_unpacked_destroy (&msg->unpacked);
    zframe_destroy (&msg->frame);
    memset (msg, 0, sizeof *msg);
}

const msgpack_object *dlb_obj_get (const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t len = strlen (key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
            memcmp (k->via.str.ptr, key, len) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

int dlb_obj_str (const msgpack_object *map, const char *key, char *buf, size_t size)
{
    const msgpack_object *o = dlb_obj_get (map, key);
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= size)
        return -1;
    if (memchr (o->via.str.ptr, 0, o->via.str.size))
        return -1; //  embedded NUL
    memcpy (buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = 0;
    return 0;
}

int dlb_obj_u64 (const msgpack_object *map, const char *key, uint64_t *value)
{
    const msgpack_object *o = dlb_obj_get (map, key);
    if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    *value = o->via.u64;
    return 0;
}

int dlb_obj_double (const msgpack_object *map, const char *key, double *value)
{
    const msgpack_object *o = dlb_obj_get (map, key);
    if (!o)
        return -1;
    double v;
    if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32)
        v = o->via.f64;
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        v = (double) o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        v = (double) o->via.i64;
    else
        return -1;
    if (!isfinite (v))
        return -1;
    *value = v;
    return 0;
}

int dlb_obj_bool (const msgpack_object *map, const char *key, bool *value)
{
    const msgpack_object *o = dlb_obj_get (map, key);
    if (!o || o->type != MSGPACK_OBJECT_BOOLEAN)
        return -1;
    *value = o->via.boolean;
    return 0;
}

int dlb_obj_bin (const msgpack_object *map, const char *key, const char **data,
                 size_t *size)
{
    const msgpack_object *o = dlb_obj_get (map, key);
    if (!o || o->type != MSGPACK_OBJECT_BIN)
        return -1;
    *data = o->via.bin.ptr;
    *size = o->via.bin.size;
    return 0;
}

int dlb_obj_array (const msgpack_object *map, const char *key,
                   const msgpack_object_array **array)
{
    const msgpack_object *o = dlb_obj_get (map, key);
    if (!o || o->type != MSGPACK_OBJECT_ARRAY)
        return -1;
    *array = &o->via.array;
    return 0;
}

//  ---------------------------------------------------------------------
//  Jobs

dlb_job_t *dlb_job_new (uint32_t elems)
{
    dlb_job_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->elems = elems;
    self->data = calloc (elems ? elems : 1, sizeof (double));
    if (!self->data) {
        free (self);
        return NULL;
    }
    return self;
}

void dlb_job_destroy (dlb_job_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->data);
        free (*self_p);
        *self_p = NULL;
    }
}

uint32_t dlb_job_crc (const dlb_job_t *self)
{
    return (uint32_t) crc32 (0L, (const Bytef *) self->data,
                             (uInt) (self->elems * sizeof (double)));
}

//  One deflate stream per batch and memory level, made on first use and
//  reset for each payload: compress2 would set up (and clear) a new one
//  for each, which costs far more than compressing a small payload.
typedef struct {
    z_stream stream;
    bool ready;
} s_deflater_t;

//  The order-0 entropy of a payload in bits a byte, estimated from at most
//  S_PROBE_SAMPLES bytes spread over it at an odd stride (so that every
//  byte of a float64 is sampled, not one of its eight over and over).
#define S_PROBE_SAMPLES 2048
static double s_entropy (const unsigned char *data, size_t size)
{
    size_t stride = (size / S_PROBE_SAMPLES) | 1, n = 0;
    if (stride < 3)
        stride = 3;
    uint32_t counts[256] = {0};
    for (size_t i = 0; i < size; i += stride, n++)
        counts[data[i]]++;
    double sum = 0;
    for (int b = 0; b < 256; b++)
        if (counts[b])
            sum += counts[b] * log2 (counts[b]);
    return n ? log2 ((double) n) - sum / (double) n : 0;
}

//  Compresses raw_size bytes at raw into out (out_cap bytes) as one zlib
//  stream, with the smaller memory level for small payloads (its hash
//  table is cheaper to clear). Returns true with the size in *out_size if
//  the result is smaller than the input; false otherwise, and at once for
//  a payload of DLB_COMPRESS_PROBE bytes or more whose bytes are as varied
//  as random floats' (entropy above DLB_COMPRESS_ENTROPY): deflate would
//  spend about 0.1 ms on 8 KiB of them to save 2-6 %.
static bool s_compress (s_deflater_t deflaters[2], const void *raw, size_t raw_size,
                        unsigned char *out, size_t out_cap, size_t *out_size)
{
    if (raw_size >= DLB_COMPRESS_PROBE &&
        s_entropy (raw, raw_size) > DLB_COMPRESS_ENTROPY)
        return false;
    bool small = raw_size <= DLB_COMPRESS_SMALL;
    s_deflater_t *d = &deflaters[small];
    if (!d->ready) {
        memset (&d->stream, 0, sizeof d->stream);
        if (deflateInit2 (&d->stream, Z_BEST_SPEED, Z_DEFLATED, 15, small ? 1 : 8,
                          Z_DEFAULT_STRATEGY) != Z_OK)
            return false;
        d->ready = true;
    }
    else if (deflateReset (&d->stream) != Z_OK)
        return false;
    d->stream.next_in = (Bytef *) raw;
    d->stream.avail_in = (uInt) raw_size;
    d->stream.next_out = out;
    d->stream.avail_out = (uInt) out_cap;
    if (deflate (&d->stream, Z_FINISH) != Z_STREAM_END || d->stream.total_out >= raw_size)
        return false;
    *out_size = d->stream.total_out;
    return true;
}

void dlb_batch_encode (dlb_writer_t *writer, int type, const char *from, const char *to,
                       uint64_t batch, dlb_job_t **jobs, size_t count,
                       dlb_batch_stats_t *stats)
{
    s_deflater_t deflaters[2] = {{.ready = false}, {.ready = false}};
    assert (type == DLB_MSG_JOBS || type == DLB_MSG_RESULTS);
    memset (stats, 0, sizeof *stats);
    msgpack_pack_map (&writer->pk, 4);
    dlb_writer_str (writer, "from", from);
    dlb_writer_str (writer, "to", to);
    dlb_writer_u64 (writer, "batch", batch);
    dlb_writer_key (writer, "items");
    msgpack_pack_array (&writer->pk, count);
    unsigned char *packed = NULL;
    size_t packed_cap = 0;
    for (size_t i = 0; i < count; i++) {
        dlb_job_t *job = jobs[i];
        size_t raw = (size_t) job->elems * sizeof (double);
        uLongf bound = compressBound (raw);
        if (bound > packed_cap) {
            unsigned char *grown = realloc (packed, bound);
            if (grown) {
                packed = grown;
                packed_cap = bound;
            }
        }
        size_t zsize = 0;
        bool compressed =
            packed && bound <= packed_cap &&
            s_compress (deflaters, job->data, raw, packed, packed_cap, &zsize);
        bool result = type == DLB_MSG_RESULTS;
        msgpack_pack_map (&writer->pk, result ? 10 : 8);
        dlb_writer_str (writer, "wl", job->workload);
        dlb_writer_u64 (writer, "id", job->id);
        dlb_writer_str (writer, "origin", job->origin);
        dlb_writer_u64 (writer, "reps", job->reps);
        dlb_writer_u64 (writer, "n", job->elems);
        dlb_writer_u64 (writer, "offset", job->offset);
        dlb_writer_bool (writer, "z", compressed);
        if (compressed)
            dlb_writer_bin (writer, "data", packed, zsize);
        else
            dlb_writer_bin (writer, "data", job->data, raw);
        if (result) {
            dlb_writer_str (writer, "ran", job->ran_on);
            dlb_writer_u64 (writer, "crc", job->crc);
        }
        stats->raw_bytes += raw;
        stats->wire_bytes += compressed ? zsize : raw;
        stats->compressed += compressed;
    }
    free (packed);
    for (int k = 0; k < 2; k++)
        if (deflaters[k].ready)
            deflateEnd (&deflaters[k].stream);
}

void dlb_batch_free (dlb_job_t ***jobs_p, size_t count)
{
    if (*jobs_p) {
        for (size_t i = 0; i < count; i++)
            dlb_job_destroy (&(*jobs_p)[i]);
        free (*jobs_p);
        *jobs_p = NULL;
    }
}

//  Decodes one item of a batch into a new job. 0, or -2 with a reason.
static int s_item_decode (const msgpack_object *item, bool result, dlb_job_t **job_p,
                          char *reason, size_t reason_size)
{
    uint64_t elems = 0, reps = 0, id = 0, offset = 0, crc = 0;
    bool compressed = false;
    const char *data = NULL;
    size_t size = 0;
    char workload[DLB_NAME_MAX], origin[DLB_NAME_MAX], ran_on[DLB_NAME_MAX] = "";
    if (item->type != MSGPACK_OBJECT_MAP ||
        dlb_obj_str (item, "wl", workload, sizeof workload) ||
        dlb_obj_u64 (item, "id", &id) ||
        dlb_obj_str (item, "origin", origin, sizeof origin) ||
        dlb_obj_u64 (item, "reps", &reps) || dlb_obj_u64 (item, "n", &elems) ||
        dlb_obj_bool (item, "z", &compressed) ||
        dlb_obj_bin (item, "data", &data, &size)) {
        snprintf (reason, reason_size, "item lacks a required field or has a wrong type");
        return -2;
    }
    dlb_obj_u64 (item, "offset", &offset);
    if (result && (dlb_obj_str (item, "ran", ran_on, sizeof ran_on) ||
                   dlb_obj_u64 (item, "crc", &crc) || crc > UINT32_MAX)) {
        snprintf (reason, reason_size, "result lacks ran/crc");
        return -2;
    }
    if (elems == 0 || elems > DLB_JOB_MAX_ELEMS || reps > UINT32_MAX) {
        snprintf (reason, reason_size, "job %s/%llu: bad size n=%llu reps=%llu", workload,
                  (unsigned long long) id, (unsigned long long) elems,
                  (unsigned long long) reps);
        return -2;
    }
    dlb_job_t *job = dlb_job_new ((uint32_t) elems);
    if (!job) {
        snprintf (reason, reason_size, "out of memory for %llu elements",
                  (unsigned long long) elems);
        return -2;
    }
    size_t raw = elems * sizeof (double);
    if (compressed) {
        uLongf out = raw;
        if (uncompress ((Bytef *) job->data, &out, (const Bytef *) data, size) != Z_OK ||
            out != raw) {
            snprintf (reason, reason_size,
                      "job %s/%llu: payload does not inflate to %zu bytes", workload,
                      (unsigned long long) id, raw);
            dlb_job_destroy (&job);
            return -2;
        }
    }
    else {
        if (size != raw) {
            snprintf (reason, reason_size,
                      "job %s/%llu: payload is %zu bytes, expected %zu", workload,
                      (unsigned long long) id, size, raw);
            dlb_job_destroy (&job);
            return -2;
        }
        memcpy (job->data, data, raw);
    }
    memcpy (job->workload, workload, sizeof workload);
    memcpy (job->origin, origin, sizeof origin);
    memcpy (job->ran_on, ran_on, sizeof ran_on);
    job->id = id;
    job->reps = (uint32_t) reps;
    job->offset = offset;
    job->crc = (uint32_t) crc;
    if (result && dlb_job_crc (job) != job->crc) {
        snprintf (reason, reason_size, "result %s/%llu: CRC mismatch", workload,
                  (unsigned long long) id);
        dlb_job_destroy (&job);
        return -2;
    }
    *job_p = job;
    return 0;
}

int dlb_batch_decode (const dlb_msg_t *msg, char *from, char *to, uint64_t *batch,
                      dlb_job_t ***jobs_p, size_t *count, char *reason,
                      size_t reason_size)
{
    const msgpack_object_array *items;
    if (msg->type != DLB_MSG_JOBS && msg->type != DLB_MSG_RESULTS) {
        snprintf (reason, reason_size, "not a batch");
        return -2;
    }
    if (dlb_obj_str (msg->body, "from", from, DLB_NAME_MAX) ||
        dlb_obj_str (msg->body, "to", to, DLB_NAME_MAX) ||
        dlb_obj_u64 (msg->body, "batch", batch) ||
        dlb_obj_array (msg->body, "items", &items)) {
        snprintf (reason, reason_size, "%s lacks from/to/batch/items",
                  dlb_msg_type_name (msg->type));
        return -2;
    }
    if (items->size > DLB_BATCH_MAX_JOBS) {
        snprintf (reason, reason_size, "batch of %u items exceeds %d", items->size,
                  DLB_BATCH_MAX_JOBS);
        return -2;
    }
    //  What the items declare, before anything is inflated: a small batch of
    //  compressed zeros must not make the receiver allocate gigabytes.
    uint64_t declared = 0;
    for (uint32_t i = 0; i < items->size; i++) {
        uint64_t n = 0;
        if (dlb_obj_u64 (&items->ptr[i], "n", &n) == 0 && n <= DLB_JOB_MAX_ELEMS)
            declared += n * sizeof (double);
    }
    if (declared > DLB_BATCH_MAX_DECLARED) {
        snprintf (reason, reason_size, "batch declares %llu payload bytes, over %llu",
                  (unsigned long long) declared,
                  (unsigned long long) DLB_BATCH_MAX_DECLARED);
        return -2;
    }
    dlb_job_t **jobs = calloc (items->size ? items->size : 1, sizeof *jobs);
    if (!jobs) {
        snprintf (reason, reason_size, "out of memory");
        return -2;
    }
    for (uint32_t i = 0; i < items->size; i++) {
        if (s_item_decode (&items->ptr[i], msg->type == DLB_MSG_RESULTS, &jobs[i], reason,
                           reason_size)) {
            dlb_batch_free (&jobs, i);
            return -2;
        }
    }
    *jobs_p = jobs;
    *count = items->size;
    return 0;
}

//  ---------------------------------------------------------------------
//  State

void dlb_state_pack (dlb_writer_t *w, const dlb_state_t *s, bool liveness)
{
    msgpack_pack_map (&w->pk, liveness ? 23 : 21);
    if (liveness) {
        dlb_writer_bool (w, "stale", s->stale);
        dlb_writer_double (w, "age", s->age);
    }
    dlb_writer_str (w, "node", s->node);
    dlb_writer_str (w, "transfer", s->transfer);
    dlb_writer_u64 (w, "seq", s->seq);
    dlb_writer_double (w, "time", s->time);
    dlb_writer_u64 (w, "queue", s->queue);
    dlb_writer_u64 (w, "running", s->running);
    dlb_writer_u64 (w, "done", s->done);
    dlb_writer_u64 (w, "threads", s->threads);
    dlb_writer_double (w, "throttle", s->throttle);
    dlb_writer_double (w, "cpu", s->cpu);
    dlb_writer_double (w, "rate", s->rate);
    dlb_writer_u64 (w, "sent", s->sent);
    dlb_writer_u64 (w, "received", s->received);
    dlb_writer_str (w, "policy", s->policy);
    dlb_writer_u64 (w, "boot", s->boot);
    dlb_writer_double (w, "owner", s->owner);
    dlb_writer_double (w, "owner_forecast", s->owner_forecast);
    dlb_writer_double (w, "avail", s->avail);
    dlb_writer_double (w, "capacity", s->capacity);
    dlb_writer_double (w, "capacity_doubt", s->capacity_doubt);
    dlb_writer_counts (w, "recv_from", s->recv_from, s->peers_known);
}

void dlb_writer_counts (dlb_writer_t *w, const char *key, const dlb_count_t *counts,
                        size_t n)
{
    dlb_writer_key (w, key);
    msgpack_pack_map (&w->pk, n);
    for (size_t i = 0; i < n; i++) {
        dlb_writer_string (w, counts[i].node);
        msgpack_pack_uint64 (&w->pk, counts[i].jobs);
    }
}

int dlb_state_decode (const msgpack_object *map, dlb_state_t *s, char *reason,
                      size_t reason_size)
{
    memset (s, 0, sizeof *s);
    if (!map || map->type != MSGPACK_OBJECT_MAP ||
        dlb_obj_str (map, "node", s->node, sizeof s->node) || !*s->node ||
        dlb_obj_u64 (map, "seq", &s->seq) || dlb_obj_double (map, "time", &s->time) ||
        dlb_obj_u64 (map, "queue", &s->queue) ||
        dlb_obj_double (map, "throttle", &s->throttle)) {
        snprintf (reason, reason_size, "STATE lacks node/seq/time/queue/throttle");
        return -2;
    }
    if (s->throttle <= 0 || s->throttle > 1) {
        snprintf (reason, reason_size, "STATE throttle %g out of (0, 1]", s->throttle);
        return -2;
    }
    //  Optional fields keep their zero defaults when absent.
    dlb_obj_str (map, "transfer", s->transfer, sizeof s->transfer);
    dlb_obj_u64 (map, "running", &s->running);
    dlb_obj_u64 (map, "done", &s->done);
    dlb_obj_u64 (map, "threads", &s->threads);
    dlb_obj_double (map, "cpu", &s->cpu);
    dlb_obj_double (map, "rate", &s->rate);
    dlb_obj_u64 (map, "sent", &s->sent);
    dlb_obj_u64 (map, "received", &s->received);
    dlb_obj_str (map, "policy", s->policy, sizeof s->policy);
    dlb_obj_u64 (map, "boot", &s->boot);
    dlb_obj_bool (map, "stale", &s->stale);
    dlb_obj_double (map, "age", &s->age);
    dlb_obj_double (map, "owner", &s->owner);
    dlb_obj_double (map, "owner_forecast", &s->owner_forecast);
    dlb_obj_double (map, "avail", &s->avail);
    dlb_obj_double (map, "capacity", &s->capacity);
    dlb_obj_double (map, "capacity_doubt", &s->capacity_doubt);
    //  Out of range or not a number: the value a node without it sends.
    double *non_negative[] = {&s->rate, &s->avail, &s->capacity, &s->capacity_doubt};
    for (size_t i = 0; i < sizeof non_negative / sizeof non_negative[0]; i++)
        if (!(*non_negative[i] >= 0) || !isfinite (*non_negative[i]))
            *non_negative[i] = 0;
    if (s->capacity_doubt > 1)
        s->capacity_doubt = 1; //  a fraction
    double *percent[] = {&s->owner, &s->owner_forecast};
    for (size_t i = 0; i < 2; i++)
        *percent[i] = !(*percent[i] >= 0) ? 0 : *percent[i] > 100 ? 100 : *percent[i];
    s->peers_known = dlb_obj_counts (map, "recv_from", s->recv_from, DLB_PEERS_MAX);
    return 0;
}

size_t dlb_obj_counts (const msgpack_object *map, const char *key, dlb_count_t *counts,
                       size_t max)
{
    const msgpack_object *o = dlb_obj_get (map, key);
    size_t n = 0;
    if (o && o->type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < o->via.map.size && n < max; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR ||
                kv->key.via.str.size >= DLB_NAME_MAX ||
                kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                continue;
            memcpy (counts[n].node, kv->key.via.str.ptr, kv->key.via.str.size);
            counts[n].node[kv->key.via.str.size] = 0;
            counts[n++].jobs = kv->val.via.u64;
        }
    return n;
}

//  ---------------------------------------------------------------------
//  Self-test

//  Encodes with a writer, decodes the frame; asserts the decode succeeds.
static zframe_t *s_roundtrip (dlb_writer_t *w, dlb_msg_t *msg)
{
    zframe_t *frame = dlb_writer_frame (w);
    char reason[256];
    int rc = dlb_msg_decode (zframe_data (frame), zframe_size (frame), msg, reason,
                             sizeof reason);
    assert (rc == 0);
    return frame;
}

//  Starts a JOBS batch a -> b of `items` items; the caller packs them.
static void s_test_batch (dlb_writer_t *w, uint32_t items)
{
    dlb_writer_init (w, DLB_MSG_JOBS);
    msgpack_pack_map (&w->pk, 4);
    dlb_writer_str (w, "from", "a");
    dlb_writer_str (w, "to", "b");
    dlb_writer_u64 (w, "batch", 1);
    dlb_writer_key (w, "items");
    msgpack_pack_array (&w->pk, items);
}

void dlb_proto_test (bool verbose)
{
    (void) verbose;
    char reason[256];
    dlb_msg_t msg;

    //  Garbage, truncation, wrong version and wrong signature are rejected.
    assert (dlb_msg_decode ("", 0, &msg, reason, sizeof reason) == -2);
    assert (dlb_msg_decode ("hello world", 11, &msg, reason, sizeof reason) == -2);
    assert (strstr (reason, "signature"));
    unsigned char bad_version[] = {DLB_PROTO_SIG0, DLB_PROTO_SIG1, 9, DLB_MSG_ACK, 0x80};
    assert (dlb_msg_decode (bad_version, sizeof bad_version, &msg, reason,
                            sizeof reason) == -2);
    assert (strstr (reason, "version"));
    unsigned char bad_type[] = {DLB_PROTO_SIG0, DLB_PROTO_SIG1, DLB_PROTO_VERSION, 99,
                                0x80};
    assert (dlb_msg_decode (bad_type, sizeof bad_type, &msg, reason, sizeof reason) ==
            -2);
    unsigned char not_map[] = {DLB_PROTO_SIG0, DLB_PROTO_SIG1, DLB_PROTO_VERSION,
                               DLB_MSG_ACK, 0x01};
    assert (dlb_msg_decode (not_map, sizeof not_map, &msg, reason, sizeof reason) == -2);
    assert (strstr (reason, "not a map"));

    //  ACK round trip, then every truncation of it is rejected.
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_ACK);
    msgpack_pack_map (&w.pk, 3);
    dlb_writer_str (&w, "from", "b");
    dlb_writer_u64 (&w, "batch", 7);
    dlb_writer_u64 (&w, "count", 64);
    zframe_t *frame = s_roundtrip (&w, &msg);
    uint64_t batch = 0;
    char from[DLB_NAME_MAX];
    assert (msg.type == DLB_MSG_ACK);
    assert (dlb_obj_u64 (msg.body, "batch", &batch) == 0 && batch == 7);
    assert (dlb_obj_str (msg.body, "from", from, sizeof from) == 0 && streq (from, "b"));
    assert (dlb_obj_str (msg.body, "batch", from, sizeof from) == -1); //  wrong type
    assert (dlb_obj_u64 (msg.body, "missing", &batch) == -1);
    dlb_msg_release (&msg);
    for (size_t cut = 0; cut < zframe_size (frame); cut++)
        assert (dlb_msg_decode (zframe_data (frame), cut, &msg, reason, sizeof reason) ==
                -2);
    zframe_destroy (&frame);

    //  JOBS and RESULTS round trip, compressible and incompressible payloads,
    //  large and small (each kind of deflate stream used twice: reset
    //  between payloads). Random floats in [1, 2) go raw though zlib would
    //  shave a few percent off them; small integers are compressed.
    enum { S_JOBS = 6 };
    const uint32_t elems[S_JOBS] = {1024, 1024, 16, 16, 1024, 1024};
    for (int type = DLB_MSG_JOBS; type <= DLB_MSG_RESULTS; type += 2) {
        dlb_job_t *jobs[S_JOBS];
        size_t raw = 0;
        for (int j = 0; j < S_JOBS; j++) {
            jobs[j] = dlb_job_new (elems[j]);
            assert (jobs[j]);
            raw += elems[j] * sizeof (double);
            snprintf (jobs[j]->workload, DLB_NAME_MAX, "a-0001");
            snprintf (jobs[j]->origin, DLB_NAME_MAX, "a");
            snprintf (jobs[j]->ran_on, DLB_NAME_MAX, "b");
            jobs[j]->id = 10 + j;
            jobs[j]->reps = 30000;
            jobs[j]->offset = 1024 * (10 + j);
            for (uint32_t i = 0; i < elems[j]; i++)
                jobs[j]->data[i] = 1.111111 * (j + 1);
            if (j == 1) //  random bytes: incompressible
                for (size_t b = 0; b < 8192; b++)
                    ((unsigned char *) jobs[j]->data)[b] = (unsigned char) (rand () >> 7);
            for (uint32_t i = 0; j >= 4 && i < elems[j]; i++)
                jobs[j]->data[i] = j == 4
                                       ? 1 + ldexp (rand (), -31) + ldexp (rand (), -62)
                                       : rand () % 1000;
            jobs[j]->crc = dlb_job_crc (jobs[j]);
        }
        unsigned char shrunk[9000];
        uLongf shrunk_size = sizeof shrunk;
        assert (compress2 (shrunk, &shrunk_size, (const Bytef *) jobs[4]->data, 8192,
                           Z_BEST_SPEED) == Z_OK &&
                shrunk_size < 8192);
        dlb_batch_stats_t stats;
        dlb_writer_init (&w, type);
        dlb_batch_encode (&w, type, "a", "b", 42, jobs, S_JOBS, &stats);
        assert (stats.raw_bytes == raw);
        assert (stats.compressed == S_JOBS - 2); //  not the random ones
        assert (stats.wire_bytes < stats.raw_bytes);
        frame = s_roundtrip (&w, &msg);
        dlb_job_t **decoded;
        size_t count;
        char to[DLB_NAME_MAX];
        assert (dlb_batch_decode (&msg, from, to, &batch, &decoded, &count, reason,
                                  sizeof reason) == 0);
        assert (count == S_JOBS && batch == 42 && streq (from, "a") && streq (to, "b"));
        for (int j = 0; j < S_JOBS; j++) {
            assert (decoded[j]->id == jobs[j]->id && decoded[j]->reps == 30000);
            assert (decoded[j]->offset == jobs[j]->offset);
            assert (decoded[j]->elems == elems[j]);
            assert (memcmp (decoded[j]->data, jobs[j]->data, elems[j] * 8) == 0);
            assert (streq (decoded[j]->workload, "a-0001") &&
                    streq (decoded[j]->origin, "a"));
        }
        dlb_batch_free (&decoded, count);
        dlb_msg_release (&msg);
        //  A corrupted payload byte is caught (zlib or CRC), never crashes.
        for (size_t at = DLB_PROTO_HEADER; at < zframe_size (frame); at += 97) {
            zframe_t *copy = zframe_dup (frame);
            zframe_data (copy)[at] ^= 0x5a;
            if (dlb_msg_decode (zframe_data (copy), zframe_size (copy), &msg, reason,
                                sizeof reason) == 0) {
                if (dlb_batch_decode (&msg, from, to, &batch, &decoded, &count, reason,
                                      sizeof reason) == 0)
                    dlb_batch_free (&decoded, count);
                dlb_msg_release (&msg);
            }
            zframe_destroy (&copy);
        }
        zframe_destroy (&frame);
        for (int j = 0; j < S_JOBS; j++)
            dlb_job_destroy (&jobs[j]);
    }

    //  A job whose payload size disagrees with n is rejected.
    s_test_batch (&w, 1);
    msgpack_pack_map (&w.pk, 7);
    dlb_writer_str (&w, "wl", "x");
    dlb_writer_u64 (&w, "id", 1);
    dlb_writer_str (&w, "origin", "a");
    dlb_writer_u64 (&w, "reps", 1);
    dlb_writer_u64 (&w, "n", 4);
    dlb_writer_bool (&w, "z", false);
    dlb_writer_bin (&w, "data", "short", 5);
    frame = s_roundtrip (&w, &msg);
    dlb_job_t **decoded;
    size_t count;
    char to[DLB_NAME_MAX];
    assert (dlb_batch_decode (&msg, from, to, &batch, &decoded, &count, reason,
                              sizeof reason) == -2);
    assert (strstr (reason, "payload"));
    dlb_msg_release (&msg);
    zframe_destroy (&frame);

    //  STATE round trip; out-of-range throttle is rejected.
    dlb_state_t state = {.node = "a",
                         .transfer = "ipc:///run/dlb-a/transfer",
                         .seq = 5,
                         .time = 1.5,
                         .queue = 100,
                         .running = 1,
                         .done = 3,
                         .threads = 1,
                         .throttle = 0.5,
                         .cpu = 40,
                         .rate = 45.5,
                         .sent = 9,
                         .received = 2,
                         .policy = "symmetric",
                         .owner = 37.5,
                         .owner_forecast = 250, //  out of range: read as 100
                         .capacity = 40.25,
                         .avail = -1, //  read as 0
                         .peers_known = 1};
    snprintf (state.recv_from[0].node, DLB_NAME_MAX, "b");
    state.recv_from[0].jobs = 2;
    dlb_writer_init (&w, DLB_MSG_STATE);
    dlb_state_pack (&w, &state, false);
    frame = s_roundtrip (&w, &msg);
    dlb_state_t back;
    assert (dlb_state_decode (msg.body, &back, reason, sizeof reason) == 0);
    assert (streq (back.node, "a") && back.seq == 5 && back.queue == 100);
    assert (back.throttle == 0.5 && back.rate == 45.5 &&
            streq (back.policy, "symmetric"));
    assert (back.peers_known == 1 && back.recv_from[0].jobs == 2);
    assert (back.owner == 37.5 && back.owner_forecast == 100 && back.capacity == 40.25 &&
            back.avail == 0);
    assert (streq (back.transfer, "ipc:///run/dlb-a/transfer"));
    dlb_msg_release (&msg);
    zframe_destroy (&frame);
    //  A STATE from a node that predates the forecast fields (only the
    //  required keys) decodes, with them 0.
    dlb_writer_init (&w, DLB_MSG_STATE);
    msgpack_pack_map (&w.pk, 5);
    dlb_writer_str (&w, "node", "old");
    const char *whole[] = {"seq", "queue"}, *real[] = {"time", "throttle"};
    for (size_t i = 0; i < 2; i++) {
        dlb_writer_u64 (&w, whole[i], 3);
        dlb_writer_double (&w, real[i], 1);
    }
    frame = s_roundtrip (&w, &msg);
    assert (dlb_state_decode (msg.body, &back, reason, sizeof reason) == 0);
    assert (back.queue == 3 && back.owner == 0 && back.capacity == 0 && back.avail == 0);
    dlb_msg_release (&msg);
    zframe_destroy (&frame);
    state.throttle = 1.5;
    dlb_writer_init (&w, DLB_MSG_STATE);
    dlb_state_pack (&w, &state, false);
    frame = s_roundtrip (&w, &msg);
    assert (dlb_state_decode (msg.body, &back, reason, sizeof reason) == -2);
    dlb_msg_release (&msg);
    zframe_destroy (&frame);

    //  STEAL, TAKE, COMMAND, REPLY, STATUS: plain maps through the same reader.
    int plain[] = {DLB_MSG_STEAL,   DLB_MSG_HOLD,  DLB_MSG_TAKE,
                   DLB_MSG_COMMAND, DLB_MSG_REPLY, DLB_MSG_STATUS};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        dlb_writer_init (&w, plain[i]);
        msgpack_pack_map (&w.pk, 3);
        dlb_writer_str (&w, "cmd", "throttle");
        dlb_writer_double (&w, "value", 0.25);
        dlb_writer_bool (&w, "ok", true);
        frame = s_roundtrip (&w, &msg);
        double value = 0;
        bool ok = false;
        assert (msg.type == plain[i]);
        assert (dlb_obj_double (msg.body, "value", &value) == 0 && value == 0.25);
        assert (dlb_obj_bool (msg.body, "ok", &ok) == 0 && ok);
        dlb_msg_release (&msg);
        zframe_destroy (&frame);
    }

    //  Amplification: two million one-byte objects (2 MB that msgpack-c
    //  would expand to ~48 MB) are refused before they are decoded, and so
    //  is a container that declares more elements than there are bytes.
    dlb_writer_init (&w, DLB_MSG_STATUS);
    msgpack_pack_map (&w.pk, 1);
    dlb_writer_key (&w, "x");
    msgpack_pack_array (&w.pk, 2 * DLB_MSG_MAX_OBJECTS);
    for (int i = 0; i < 2 * DLB_MSG_MAX_OBJECTS; i++)
        msgpack_pack_fix_uint8 (&w.pk, 1);
    frame = dlb_writer_frame (&w);
    assert (dlb_msg_decode (zframe_data (frame), zframe_size (frame), &msg, reason,
                            sizeof reason) == -2);
    assert (strstr (reason, "objects"));
    zframe_destroy (&frame);
    const unsigned char liar[] = {DLB_PROTO_SIG0,
                                  DLB_PROTO_SIG1,
                                  DLB_PROTO_VERSION,
                                  DLB_MSG_STATUS,
                                  0x81,
                                  0xa1,
                                  'x',
                                  0xdd,
                                  0xff,
                                  0xff,
                                  0xff,
                                  0xff,
                                  0x01};
    assert (dlb_msg_decode (liar, sizeof liar, &msg, reason, sizeof reason) == -2);

    //  A decompression bomb: a small batch whose items declare 32 MiB each
    //  is refused on what it declares, before anything is inflated.
    s_test_batch (&w, 4);
    for (int i = 0; i < 4; i++) {
        msgpack_pack_map (&w.pk, 8);
        dlb_writer_str (&w, "wl", "a-1");
        dlb_writer_u64 (&w, "id", (uint64_t) i);
        dlb_writer_str (&w, "origin", "a");
        dlb_writer_u64 (&w, "reps", 1);
        dlb_writer_u64 (&w, "n", DLB_JOB_MAX_ELEMS);
        dlb_writer_u64 (&w, "offset", 0);
        dlb_writer_bool (&w, "z", true);
        dlb_writer_bin (&w, "data", "x", 1);
    }
    frame = s_roundtrip (&w, &msg);
    dlb_job_t **bomb = NULL;
    assert (dlb_batch_decode (&msg, from, to, &batch, &bomb, &count, reason,
                              sizeof reason) == -2);
    assert (strstr (reason, "declares") && !bomb);
    dlb_msg_release (&msg);
    zframe_destroy (&frame);
}
