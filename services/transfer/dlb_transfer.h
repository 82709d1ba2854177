/*  dlb_transfer: the transfer manager. Moves jobs to peers and results back
    to their origin; nothing sent is dropped before the peer acknowledges. */
#ifndef DLB_TRANSFER_H_INCLUDED
#define DLB_TRANSFER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#define DLB_TRANSFER_SUMMARY                                                             \
    "The transfer manager of a dlb node: moves jobs between nodes and results back\n"    \
    "to their origin, acknowledged and resent until acknowledged."

void dlb_transfer_actor (zsock_t *pipe, void *args);
void dlb_transfer_test (bool verbose);

#endif
