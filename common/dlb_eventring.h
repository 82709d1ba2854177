/*  dlb_eventring: a node's recent events, numbered, in a bounded ring,
    served to clients that ask for the events after the last one they
    saw (zguide's Clone pattern: a sequence number per node, and a client
    that falls behind is told how many it missed).

    Numbering: seq counts from 1 in each incarnation of the ring (the
    monitor's run), named by its epoch (usecs since the Unix epoch when
    it was made): a client that sees a new epoch starts again from 0.
    The ring holds the last `size` events; an older one is dropped when
    a new one comes. Each is kept packed (msgpack, dlb_event_pack), so an
    answer copies bytes and decodes nothing.

    An answer for `since` N and `max` M (proto/README.md 7.3, `events`):
    start = N, raised to first - 1 if events after N were dropped
    (missed = first - 1 - N of them), or lowered to last if N is beyond
    the last event (a client of an earlier incarnation); then the events
    start+1 .. min (last, start + M), oldest first, and next = the seq of
    the last one sent (or start): the `since` of the next request.      */
#ifndef DLB_EVENTRING_H_INCLUDED
#define DLB_EVENTRING_H_INCLUDED

#include "dlb_event.h"

#define DLB_EVENTRING_DEFAULT    4096    //  events a monitor keeps
#define DLB_EVENTRING_MAX        1000000 //  events a ring may be asked to keep
#define DLB_EVENTS_REPLY_MAX     1000    //  events in one answer at most
#define DLB_EVENTS_REPLY_DEFAULT 200     //  events in one answer when max is not given

typedef struct _dlb_eventring_t dlb_eventring_t;

//  A new empty ring of size (1..DLB_EVENTRING_MAX) events. NULL if size is
//  out of range or memory is short.
dlb_eventring_t *dlb_eventring_new (size_t size);
void dlb_eventring_destroy (dlb_eventring_t **self_p);

//  Numbers the event (sets event->seq) and keeps it, dropping the oldest
//  if the ring is full. Returns the seq. Cannot fail: if memory is short
//  the event keeps its number but is not kept (an answer skips it).
uint64_t dlb_eventring_add (dlb_eventring_t *self, dlb_event_t *event);

uint64_t dlb_eventring_epoch (dlb_eventring_t *self);
//  The seq of the newest event, 0 if none yet.
uint64_t dlb_eventring_last (dlb_eventring_t *self);
//  The seq of the oldest event held (last + 1 if none is held).
uint64_t dlb_eventring_first (dlb_eventring_t *self);

//  Packs the answer to `events` (a REPLY body of 9 keys: ok, node, epoch,
//  first, last, next, missed, more, events) for since and max (max is
//  bounded by DLB_EVENTS_REPLY_MAX). Cannot fail.
void dlb_eventring_reply (dlb_eventring_t *self, dlb_writer_t *writer, const char *node,
                          uint64_t since, uint64_t max);

void dlb_eventring_test (bool verbose);

#endif
