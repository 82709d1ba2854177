/*  dlb_policy: the transfer and selection policies as pure functions.

    The adaptor calls these with what it knows of two nodes and acts on the
    answer; keeping them free of sockets lets them be tested on given states.

    Metrics:
      eta    expected finish time, work / rate (work = queued + running jobs,
             rate = jobs/s the node sustains while busy). Moving n jobs from
             F to T equalises them when (wF - n)/rF = (wT + n)/rT, that is
             n = (wF*rT - wT*rF) / (rF + rT). Moves when etaF - etaT exceeds
             both the threshold (secs) and DLB_POLICY_TOLERANCE of etaF (so
             that a few percent of noise in measured rates does not bounce
             jobs back and forth), and n >= 1.
      queue  the seed's rule: moves half the queue difference when the
             difference exceeds the threshold (jobs; 30 in the seed).

    Transfer policies: none (bootstrap split only), sender (the loaded node
    pushes), receiver (the idle node asks, the loaded node confirms),
    symmetric (both).                                                   */
#ifndef DLB_POLICY_H_INCLUDED
#define DLB_POLICY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLB_POLICY_TOLERANCE 0.05 //  relative eta difference ignored

typedef enum {
    DLB_POLICY_NONE,
    DLB_POLICY_SENDER,
    DLB_POLICY_RECEIVER,
    DLB_POLICY_SYMMETRIC
} dlb_policy_t;
typedef enum { DLB_METRIC_ETA, DLB_METRIC_QUEUE } dlb_metric_t;

//  What the policy needs to know of one node.
typedef struct {
    uint64_t queued;  //  jobs waiting (movable)
    uint64_t running; //  jobs on threads (not movable)
    double rate;      //  jobs/s while busy; > 0
} dlb_load_t;

//  Parse names; 0, or -1 if unknown.
int dlb_policy_parse (const char *name, dlb_policy_t *policy);
int dlb_metric_parse (const char *name, dlb_metric_t *metric);
const char *dlb_policy_name (dlb_policy_t policy);
const char *dlb_metric_name (dlb_metric_t metric);
//  True if the policy lets a loaded node push / an idle node ask.
bool dlb_policy_sends (dlb_policy_t policy);
bool dlb_policy_asks (dlb_policy_t policy);

//  Jobs `from` should move to `to` now (0: none). Writes the figures that
//  drove the decision into why (for the log). Cannot fail.
uint64_t dlb_policy_balance (dlb_metric_t metric, double threshold,
                             const dlb_load_t *from, const dlb_load_t *to, char *why,
                             size_t why_size);

//  Bootstrap: how many of `jobs` node i should get, given each node's
//  capacity (threads x throttle, or measured rate). With even=true (policy
//  none, the seed's static split) capacities are ignored. Shares add up to
//  jobs exactly (largest remainders). Cannot fail; count >= 1.
void dlb_policy_split (uint64_t jobs, const double *capacity, size_t count, bool even,
                       uint64_t *share);

void dlb_policy_test (bool verbose);

#endif
