/*  dlb_eventring: numbered recent events in a bounded ring (see
    dlb_eventring.h).                                                    */
#include "dlb_eventring.h"
#include "dlb_service.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char *data; //  the packed record, NULL if it could not be kept
    size_t size;
} slot_t;

struct _dlb_eventring_t {
    size_t size;
    slot_t *slots; //  event seq lives in slots[(seq - 1) % size]
    uint64_t last; //  seq of the newest event, 0 if none
    uint64_t epoch;
};

dlb_eventring_t *dlb_eventring_new (size_t size)
{
    if (size < 1 || size > DLB_EVENTRING_MAX)
        return NULL;
    dlb_eventring_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->slots = calloc (size, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    self->size = size;
    self->epoch = (uint64_t) (dlb_now () * 1e6);
    return self;
}

void dlb_eventring_destroy (dlb_eventring_t **self_p)
{
    dlb_eventring_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->size; i++)
        free (self->slots[i].data);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

uint64_t dlb_eventring_add (dlb_eventring_t *self, dlb_event_t *event)
{
    event->seq = ++self->last;
    slot_t *slot = &self->slots[(event->seq - 1) % self->size];
    free (slot->data);
    dlb_writer_t w;
    dlb_writer_init_bare (&w);
    dlb_event_pack (&w, event);
    slot->data = malloc (w.buffer.size);
    slot->size = slot->data ? w.buffer.size : 0;
    if (slot->data)
        memcpy (slot->data, w.buffer.data, w.buffer.size);
    dlb_writer_destroy (&w);
    return event->seq;
}

uint64_t dlb_eventring_epoch (dlb_eventring_t *self)
{
    return self->epoch;
}

uint64_t dlb_eventring_last (dlb_eventring_t *self)
{
    return self->last;
}

uint64_t dlb_eventring_first (dlb_eventring_t *self)
{
    return self->last > self->size ? self->last - self->size + 1 : 1;
}

void dlb_eventring_reply (dlb_eventring_t *self, dlb_writer_t *w, const char *node,
                          uint64_t since, uint64_t max)
{
    uint64_t first = dlb_eventring_first (self), start = since, missed = 0;
    if (start > self->last)
        start = self->last;
    if (start + 1 < first) {
        missed = first - 1 - start;
        start = first - 1;
    }
    if (max > DLB_EVENTS_REPLY_MAX)
        max = DLB_EVENTS_REPLY_MAX;
    uint64_t end = self->last - start > max ? start + max : self->last;
    uint32_t kept = 0;
    for (uint64_t seq = start + 1; seq <= end; seq++)
        kept += self->slots[(seq - 1) % self->size].data != NULL;
    msgpack_pack_map (&w->pk, 9);
    dlb_writer_bool (w, "ok", true);
    dlb_writer_str (w, "node", node);
    dlb_writer_u64 (w, "epoch", self->epoch);
    dlb_writer_u64 (w, "first", first);
    dlb_writer_u64 (w, "last", self->last);
    dlb_writer_u64 (w, "next", end);
    dlb_writer_u64 (w, "missed", missed);
    dlb_writer_bool (w, "more", end < self->last);
    dlb_writer_key (w, "events");
    msgpack_pack_array (&w->pk, kept);
    for (uint64_t seq = start + 1; seq <= end; seq++) {
        slot_t *slot = &self->slots[(seq - 1) % self->size];
        if (slot->data) //  packed records go in as they are
            msgpack_sbuffer_write (&w->buffer, slot->data, slot->size);
    }
}

//  ---------------------------------------------------------------------
//  Self-test

typedef struct {
    uint64_t first, last, next, missed, epoch;
    bool more;
    uint32_t count;
    uint64_t seq[DLB_EVENTS_REPLY_MAX];
} s_answer_t;

//  Asks the ring and decodes its answer completely.
static void s_ask (dlb_eventring_t *ring, uint64_t since, uint64_t max, s_answer_t *a)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_REPLY);
    dlb_eventring_reply (ring, &w, "t", since, max);
    zframe_t *frame = dlb_writer_frame (&w);
    dlb_msg_t msg;
    char reason[256];
    assert (dlb_msg_decode (zframe_data (frame), zframe_size (frame), &msg, reason,
                            sizeof reason) == 0);
    bool ok = false;
    assert (dlb_obj_bool (msg.body, "ok", &ok) == 0 && ok);
    assert (dlb_obj_u64 (msg.body, "first", &a->first) == 0);
    assert (dlb_obj_u64 (msg.body, "last", &a->last) == 0);
    assert (dlb_obj_u64 (msg.body, "next", &a->next) == 0);
    assert (dlb_obj_u64 (msg.body, "missed", &a->missed) == 0);
    assert (dlb_obj_u64 (msg.body, "epoch", &a->epoch) == 0);
    assert (dlb_obj_bool (msg.body, "more", &a->more) == 0);
    const msgpack_object_array *events;
    assert (dlb_obj_array (msg.body, "events", &events) == 0);
    a->count = events->size;
    for (uint32_t i = 0; i < events->size; i++) {
        dlb_event_t event;
        assert (dlb_event_decode (&events->ptr[i], &event, reason, sizeof reason) == 0);
        assert (streq (event.kind, "moved"));
        a->seq[i] = event.seq;
    }
    dlb_msg_release (&msg);
    zframe_destroy (&frame);
}

void dlb_eventring_test (bool verbose)
{
    (void) verbose;
    assert (dlb_eventring_new (0) == NULL);
    assert (dlb_eventring_new (DLB_EVENTRING_MAX + 1) == NULL);
    dlb_eventring_t *ring = dlb_eventring_new (8);
    assert (ring);
    s_answer_t *a = malloc (sizeof *a);
    assert (a);

    //  Empty: nothing, nothing missed, next stays 0.
    s_ask (ring, 0, 100, a);
    assert (a->count == 0 && a->first == 1 && a->last == 0 && a->next == 0);
    assert (a->missed == 0 && !a->more && a->epoch == dlb_eventring_epoch (ring));

    dlb_event_t event;
    for (uint64_t i = 1; i <= 5; i++) {
        dlb_event_set (&event, "t", "adaptor", "moved", NULL, "b", i, "move %d", (int) i);
        assert (dlb_eventring_add (ring, &event) == i && event.seq == i);
    }
    //  All, then only the newer ones, then in pages of 2.
    s_ask (ring, 0, 100, a);
    assert (a->count == 5 && a->seq[0] == 1 && a->seq[4] == 5 && a->next == 5);
    s_ask (ring, 3, 100, a);
    assert (a->count == 2 && a->seq[0] == 4 && a->next == 5 && a->missed == 0);
    s_ask (ring, 0, 2, a);
    assert (a->count == 2 && a->seq[1] == 2 && a->next == 2 && a->more);
    s_ask (ring, 5, 100, a);
    assert (a->count == 0 && a->next == 5 && !a->more);
    s_ask (ring, 0, 0, a);
    assert (a->count == 0 && a->next == 0 && a->more);

    //  Overflow: 20 events in a ring of 8 keeps 13..20; a client at 3
    //  missed 4..12 (9 of them) and gets the 8 held.
    for (uint64_t i = 6; i <= 20; i++) {
        dlb_event_set (&event, "t", "adaptor", "moved", NULL, NULL, i, "move");
        dlb_eventring_add (ring, &event);
    }
    assert (dlb_eventring_first (ring) == 13 && dlb_eventring_last (ring) == 20);
    s_ask (ring, 3, 100, a);
    assert (a->missed == 9 && a->count == 8 && a->seq[0] == 13 && a->next == 20);
    s_ask (ring, 12, 100, a);
    assert (a->missed == 0 && a->count == 8);
    //  A since beyond the last (an earlier incarnation): nothing, next = last.
    s_ask (ring, 1000, 100, a);
    assert (a->count == 0 && a->next == 20 && a->missed == 0);
    //  max is bounded.
    dlb_eventring_t *big = dlb_eventring_new (DLB_EVENTS_REPLY_MAX + 10);
    for (int i = 0; i < DLB_EVENTS_REPLY_MAX + 10; i++) {
        dlb_event_set (&event, "t", "adaptor", "moved", NULL, NULL, 0, "move");
        dlb_eventring_add (big, &event);
    }
    s_ask (big, 0, UINT64_MAX, a);
    assert (a->count == DLB_EVENTS_REPLY_MAX && a->more &&
            a->next == DLB_EVENTS_REPLY_MAX);
    dlb_eventring_destroy (&big);
    free (a);
    dlb_eventring_destroy (&ring);
    assert (ring == NULL);
}
