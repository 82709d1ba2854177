/*  dlb_event: the typed record of something that happened on a node (a
    workload submitted, jobs moved and why, a peer lost, a throttle
    changed, ...), its encoder and decoder, and the way a service
    publishes one: an EVENT message on its bus (proto/README.md 7.4).

    The monitor gathers the node's events in a dlb_eventring, numbers
    them, and serves them to clients with the control command `events`.
    A record is a msgpack map:

        {seq, time, node, service, kind, workload, peer, count, value, text}

    seq is 0 on the bus (the monitor numbers them); kind is one of the
    short fixed names of dlb_event_kinds (a decoder accepts any short
    lower-case name, so that new kinds are additive).                    */
#ifndef DLB_EVENT_H_INCLUDED
#define DLB_EVENT_H_INCLUDED

#include "dlb_proto.h"

#define DLB_EVENT_KIND_MAX    24  //  bytes of a kind with NUL
#define DLB_EVENT_SERVICE_MAX 16  //  bytes of a service name with NUL
#define DLB_EVENT_TEXT_MAX    256 //  bytes of the text with NUL (longer is cut)

typedef struct {
    uint64_t seq;                        //  per node, from 1; 0 until numbered
    uint64_t time;                       //  usecs since the Unix epoch
    char node[DLB_NAME_MAX];             //  where it happened
    char service[DLB_EVENT_SERVICE_MAX]; //  which service saw it
    char kind[DLB_EVENT_KIND_MAX];       //  what: one of dlb_event_kinds
    char workload[DLB_NAME_MAX];         //  workload id, "" if none
    char peer[DLB_NAME_MAX];             //  the other node, "" if none
    uint64_t count;                      //  jobs, batches, ... (0 if none)
    double value;                        //  a figure (throttle), 0 if none
    char text[DLB_EVENT_TEXT_MAX];       //  for people
} dlb_event_t;

//  The documented kinds, NULL-terminated (proto/README.md 7.4).
extern const char *dlb_event_kinds[];

//  Packs the event as a map of 10 keys (after dlb_writer_init or
//  dlb_writer_init_bare, or inside another map). Cannot fail.
void dlb_event_pack (dlb_writer_t *writer, const dlb_event_t *event);
//  Reads an event from a map. Required: time, node, service, kind (a
//  name of 1..23 characters a-z and '_'); the others default to 0 or "".
//  Returns 0, or -2 with a reason (event undefined). Never asserts on
//  input.
int dlb_event_decode (const msgpack_object *map, dlb_event_t *event, char *reason,
                      size_t reason_size);

//  Fills an event stamped now, for node and service; text is printf-like
//  (cut to DLB_EVENT_TEXT_MAX). workload and peer may be NULL. Cannot fail.
void dlb_event_set (dlb_event_t *event, const char *node, const char *service,
                    const char *kind, const char *workload, const char *peer,
                    uint64_t count, const char *format, ...)
    __attribute__ ((format (printf, 8, 9)));
//  Publishes an EVENT on a service's bus (best effort: a PUB drops what
//  no one reads). Cannot fail.
void dlb_event_publish (void *bus, const dlb_event_t *event);

void dlb_event_test (bool verbose);

#endif
