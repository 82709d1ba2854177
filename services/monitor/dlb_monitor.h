/*  dlb_monitor: the hardware monitor. Samples the machine's CPU use and the
    worker's share, owns the throttle, and hosts the node's control socket. */
#ifndef DLB_MONITOR_H_INCLUDED
#define DLB_MONITOR_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#define DLB_MONITOR_SUMMARY                                                              \
    "The hardware monitor of a dlb node: samples CPU use, owns the throttle and\n"       \
    "hosts the node's control socket (dlbctl talks to it)."

void dlb_monitor_actor (zsock_t *pipe, void *args);
void dlb_monitor_test (bool verbose);

#endif
