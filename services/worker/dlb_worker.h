/*  dlb_worker: the worker service. Owns the node's job queue, runs jobs on
    threads under the throttle, holds the workloads this node originated
    and assembles, writes and verifies their results.                    */
#ifndef DLB_WORKER_H_INCLUDED
#define DLB_WORKER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#define DLB_WORKER_SUMMARY                                                               \
    "The worker service of a dlb node: runs jobs on threads under the throttle and\n"    \
    "assembles the results of the workloads submitted to this node."

//  The actor; args is a dlb_config_t *, copied.
void dlb_worker_actor (zsock_t *pipe, void *args);
void dlb_worker_test (bool verbose);

#endif
