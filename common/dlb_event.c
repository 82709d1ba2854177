/*  dlb_event: the event record, its codec and its publication (see
    dlb_event.h).                                                        */
#include "dlb_event.h"
#include "dlb_service.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *dlb_event_kinds[] = {
    "started",   "submitted", "bootstrap",   "moved",     "steal",     "transfer",
    "resent",    "returned",  "peer_joined", "peer_lost", "peer_back", "throttle",
    "policy",    "reissued",  "recovered",   "rejected",  "complete",  "failed",
    "cancelled", "dropped",   NULL};

void dlb_event_pack (dlb_writer_t *w, const dlb_event_t *event)
{
    msgpack_pack_map (&w->pk, 10);
    dlb_writer_u64 (w, "seq", event->seq);
    dlb_writer_u64 (w, "time", event->time);
    dlb_writer_str (w, "node", event->node);
    dlb_writer_str (w, "service", event->service);
    dlb_writer_str (w, "kind", event->kind);
    dlb_writer_str (w, "workload", event->workload);
    dlb_writer_str (w, "peer", event->peer);
    dlb_writer_u64 (w, "count", event->count);
    dlb_writer_double (w, "value", event->value);
    dlb_writer_str (w, "text", event->text);
}

//  A kind is 1..DLB_EVENT_KIND_MAX-1 characters of a-z and '_'.
static bool s_kind_ok (const char *kind)
{
    if (!*kind)
        return false;
    for (const char *c = kind; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
            return false;
    return true;
}

//  Copies a string field, cut to size (NUL bytes become '?'); "" if it is
//  missing or not a string. Cannot fail.
static void s_cut (const msgpack_object *map, const char *key, char *buf, size_t size)
{
    const msgpack_object *o = dlb_obj_get (map, key);
    *buf = 0;
    if (!o || o->type != MSGPACK_OBJECT_STR)
        return;
    size_t n = o->via.str.size < size - 1 ? o->via.str.size : size - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = o->via.str.ptr[i] ? o->via.str.ptr[i] : '?';
    buf[n] = 0;
}

int dlb_event_decode (const msgpack_object *map, dlb_event_t *event, char *reason,
                      size_t reason_size)
{
    memset (event, 0, sizeof *event);
    if (!map || map->type != MSGPACK_OBJECT_MAP) {
        snprintf (reason, reason_size, "an event is a map");
        return -2;
    }
    if (dlb_obj_u64 (map, "time", &event->time)) {
        snprintf (reason, reason_size, "an event needs a uint time");
        return -2;
    }
    if (dlb_obj_str (map, "node", event->node, sizeof event->node) || !*event->node ||
        dlb_obj_str (map, "service", event->service, sizeof event->service) ||
        !*event->service) {
        snprintf (reason, reason_size, "an event needs a node and a service");
        return -2;
    }
    if (dlb_obj_str (map, "kind", event->kind, sizeof event->kind) ||
        !s_kind_ok (event->kind)) {
        snprintf (reason, reason_size, "an event needs a kind (a-z and _, < %d bytes)",
                  DLB_EVENT_KIND_MAX);
        return -2;
    }
    //  Optional: a wrong type is the default.
    if (dlb_obj_u64 (map, "seq", &event->seq))
        event->seq = 0;
    if (dlb_obj_u64 (map, "count", &event->count))
        event->count = 0;
    if (dlb_obj_double (map, "value", &event->value) || !isfinite (event->value))
        event->value = 0;
    if (dlb_obj_str (map, "workload", event->workload, sizeof event->workload))
        *event->workload = 0;
    if (dlb_obj_str (map, "peer", event->peer, sizeof event->peer))
        *event->peer = 0;
    s_cut (map, "text", event->text, sizeof event->text);
    return 0;
}

void dlb_event_set (dlb_event_t *event, const char *node, const char *service,
                    const char *kind, const char *workload, const char *peer,
                    uint64_t count, const char *format, ...)
{
    memset (event, 0, sizeof *event);
    event->time = (uint64_t) (dlb_now () * 1e6);
    snprintf (event->node, sizeof event->node, "%s", node);
    snprintf (event->service, sizeof event->service, "%s", service);
    snprintf (event->kind, sizeof event->kind, "%s", kind);
    snprintf (event->workload, sizeof event->workload, "%s", workload ? workload : "");
    snprintf (event->peer, sizeof event->peer, "%s", peer ? peer : "");
    event->count = count;
    va_list args;
    va_start (args, format);
    vsnprintf (event->text, sizeof event->text, format, args);
    va_end (args);
}

void dlb_event_publish (void *bus, const dlb_event_t *event)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_EVENT);
    dlb_event_pack (&w, event);
    dlb_writer_send (&w, bus);
}

//  ---------------------------------------------------------------------
//  Self-test

//  Decodes the body of an EVENT the caller packed into w.
static int s_roundtrip (dlb_writer_t *w, dlb_event_t *event, char *reason, size_t size)
{
    zframe_t *frame = dlb_writer_frame (w);
    dlb_msg_t msg;
    int rc =
        dlb_msg_decode (zframe_data (frame), zframe_size (frame), &msg, reason, size);
    if (rc == 0) {
        assert (msg.type == DLB_MSG_EVENT);
        rc = dlb_event_decode (msg.body, event, reason, size);
        dlb_msg_release (&msg);
    }
    zframe_destroy (&frame);
    return rc;
}

void dlb_event_test (bool verbose)
{
    (void) verbose;
    char reason[256];
    dlb_writer_t w;
    dlb_event_t event, back;

    //  Bad records first: not a map, missing or bad required keys.
    dlb_writer_init (&w, DLB_MSG_EVENT);
    msgpack_pack_map (&w.pk, 0);
    assert (s_roundtrip (&w, &back, reason, sizeof reason) == -2);
    assert (strstr (reason, "time"));
    msgpack_object not_map = {.type = MSGPACK_OBJECT_NIL};
    assert (dlb_event_decode (&not_map, &back, reason, sizeof reason) == -2);
    assert (dlb_event_decode (NULL, &back, reason, sizeof reason) == -2);
    const char *kinds[] = {"", "Moved", "a-b", "waytoolongakindnameforthis"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        dlb_writer_init (&w, DLB_MSG_EVENT);
        msgpack_pack_map (&w.pk, 4);
        dlb_writer_u64 (&w, "time", 1);
        dlb_writer_str (&w, "node", "a");
        dlb_writer_str (&w, "service", "worker");
        dlb_writer_str (&w, "kind", kinds[i]);
        assert (s_roundtrip (&w, &back, reason, sizeof reason) == -2);
        assert (strstr (reason, "kind"));
    }

    //  A full record round-trips.
    dlb_event_set (&event, "a", "adaptor", "moved", "a-12001", "b", 33,
                   "symmetric: send %d jobs: %s", 33, "eta 1.1 s vs 0 s");
    event.seq = 7;
    event.value = 0.5;
    assert (event.time > 1600000000ull * 1000000);
    dlb_writer_init (&w, DLB_MSG_EVENT);
    dlb_event_pack (&w, &event);
    assert (s_roundtrip (&w, &back, reason, sizeof reason) == 0);
    assert (memcmp (&event, &back, sizeof event) == 0);

    //  Only the required keys: the rest default; wrong types of optional
    //  keys are defaults too; an over-long text is cut; NULs are replaced.
    dlb_writer_init (&w, DLB_MSG_EVENT);
    msgpack_pack_map (&w.pk, 8);
    dlb_writer_u64 (&w, "time", 5);
    dlb_writer_str (&w, "node", "b");
    dlb_writer_str (&w, "service", "state");
    dlb_writer_str (&w, "kind", "peer_lost");
    dlb_writer_str (&w, "count", "many");
    dlb_writer_double (&w, "value", NAN);
    dlb_writer_u64 (&w, "peer", 3);
    char text[DLB_EVENT_TEXT_MAX * 2];
    memset (text, 'x', sizeof text);
    text[3] = 0;
    dlb_writer_key (&w, "text");
    msgpack_pack_str (&w.pk, sizeof text);
    msgpack_pack_str_body (&w.pk, text, sizeof text);
    assert (s_roundtrip (&w, &back, reason, sizeof reason) == 0);
    assert (back.time == 5 && streq (back.kind, "peer_lost") && back.seq == 0);
    assert (back.count == 0 && back.value == 0 && streq (back.peer, ""));
    assert (strlen (back.text) == DLB_EVENT_TEXT_MAX - 1 && back.text[3] == '?');

    //  Every documented kind passes the decoder's check.
    for (size_t i = 0; dlb_event_kinds[i]; i++)
        assert (s_kind_ok (dlb_event_kinds[i]) &&
                strlen (dlb_event_kinds[i]) < DLB_EVENT_KIND_MAX);

    //  Published on a bus, read back as an EVENT by a subscriber to it.
    zsock_t *pub = zsock_new_pub ("inproc://dlb-event-test");
    zsock_t *sub = zsock_new_sub ("inproc://dlb-event-test", NULL);
    assert (pub && sub);
    dlb_service_subscribe (sub, DLB_MSG_EVENT);
    zsock_set_rcvtimeo (sub, 100);
    bool got = false;
    for (int tries = 0; tries < 100 && !got; tries++) { //  until subscribed
        dlb_event_publish (pub, &event);
        dlb_msg_t msg;
        if (dlb_msg_recv (sub, &msg, reason, sizeof reason) == 0) {
            assert (msg.type == DLB_MSG_EVENT);
            assert (dlb_event_decode (msg.body, &back, reason, sizeof reason) == 0);
            assert (streq (back.text, event.text));
            dlb_msg_release (&msg);
            got = true;
        }
    }
    assert (got);
    zsock_destroy (&sub);
    zsock_destroy (&pub);
}
