/*  dlb_state: the state manager. Builds this node's state from its
    services' reports, exchanges it with peers, and tells the node's other
    services what it knows of every peer and whether it is still alive. */
#ifndef DLB_STATE_H_INCLUDED
#define DLB_STATE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#define DLB_STATE_SUMMARY                                                                \
    "The state manager of a dlb node: exchanges node state with its peers\n"             \
    "(periodically and on significant change) and tracks which peers are alive."

void dlb_state_actor (zsock_t *pipe, void *args);
void dlb_state_test (bool verbose);

#endif
