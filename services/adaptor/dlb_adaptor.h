/*  dlb_adaptor: applies the transfer and selection policies: decides how
    many jobs move where, and tells the worker to give them up.          */
#ifndef DLB_ADAPTOR_H_INCLUDED
#define DLB_ADAPTOR_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#define DLB_ADAPTOR_SUMMARY                                                              \
    "The adaptor of a dlb node: splits new workloads among the nodes (bootstrap)\n"      \
    "and moves jobs while they run, by the transfer policy (none, sender, receiver,\n"   \
    "symmetric, predictive) and the balance metric (eta or queue)."

void dlb_adaptor_actor (zsock_t *pipe, void *args);
void dlb_adaptor_test (bool verbose);

#endif
