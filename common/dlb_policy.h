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
    symmetric (both), predictive (both, on predicted figures, below).

    Predictive: every node's finish time is predicted from its predicted
    capacity (jobs/s over the time its work still needs, from the forecast
    of its owner's load) and its work, jobs in flight to it counted as its
    own. The nodes are sorted by predicted finish; the latest is paired
    with the earliest, the second latest with the second earliest, and so
    on (dlb_policy_pair). A node acts only in its own pair: on the late
    side it pushes to its partner, on the early side it asks its partner.
    A move of n jobs from F to T costs the link's latency plus n times the
    seconds a job's bytes take on it before T can start on them:
        F' = (wF - n) / rF,   T' = max (wT / rT, latency + n * per_job) + n / rT
    and n is the largest with T' <= F', which minimises max (F', T') to
    within a job (dlb_policy_move). It is made only if F - T exceeds the
    margin, max (threshold, DLB_POLICY_TOLERANCE x F, the predictions' own
    expected error hypot (F x dF / (1 + dF), T x dT / (1 - dT)): one-sided,
    what F is shorter and T longer if the rates are off by their doubts d),
    and if it shortens
    the pair's makespan by at least what a free move just over the margin
    would, margin x rT / (rF + rT), less one job's time at F for the
    rounding to whole jobs: with a free link and measured rates this makes
    the same decisions as the eta rule (the self-test checks 1,101 states). Hysteresis: no
   move against the direction of a move with the same peer within the last DLB_POLICY_HOLD
   seconds (the adaptor keeps the times), unless the late node would finish more than
   DLB_POLICY_HOLD_BREAK times later than the early one.              */
#ifndef DLB_POLICY_H_INCLUDED
#define DLB_POLICY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLB_POLICY_TOLERANCE 0.05 //  relative eta difference ignored
//  A push is sized as if the receiver ran slower than predicted by its
//  rate's doubt, and by at least this much: a push bets on another node's
//  rate (an asker bets on its own), and a push that overshoots leaves the
//  receiver a tail the giver cannot take back in time.
#define DLB_POLICY_PUSH_DOUBT 0.1
#define DLB_POLICY_HOLD       3.0 //  secs: no move back to/from a peer after a move
//  ... unless one finishes this many times later than the other: a step in
//  throttle or owner load, not the noise that hysteresis is against.
#define DLB_POLICY_HOLD_BREAK 2.0
#define DLB_POLICY_DOUBT_MAX  0.9 //  a receiver's doubt counts as at most this
#define DLB_POLICY_NAMES      "none, sender, receiver, symmetric, predictive"
#define DLB_POLICY_NODES_MAX  64 //  nodes one decision or split may weigh

typedef enum {
    DLB_POLICY_NONE,
    DLB_POLICY_SENDER,
    DLB_POLICY_RECEIVER,
    DLB_POLICY_SYMMETRIC,
    DLB_POLICY_PREDICTIVE
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

//  What the predictive policy knows of one node, from one node's view.
typedef struct {
    double work;      //  jobs queued + running (+ in flight to it)
    uint64_t movable; //  jobs queued (what it can give)
    double rate;      //  predicted jobs/s over its remaining time; > 0
    double doubt;     //  the rate's expected relative error, 0..1 (0: not known)
    double latency;   //  secs before moved jobs reach it (0: unknown or free)
    double per_job;   //  secs a moved job's bytes take on the link (0: free)
    bool hold_send;   //  hysteresis: this node may not push to it now
    bool hold_ask;    //  hysteresis: this node may not ask it now
} dlb_predict_t;

//  Predicted finish time of a node, secs. Cannot fail.
double dlb_policy_finish (const dlb_predict_t *node);

//  Jobs to move from `from` to `to` (cost of the link in `to`: latency,
//  per_job), 0 if the move does not pay (see above). Writes the figures
//  into why. Cannot fail.
uint64_t dlb_policy_move (double threshold, const dlb_predict_t *from,
                          const dlb_predict_t *to, char *why, size_t why_size);

//  A peer's ask for `want` jobs that crosses this node's push of `pushed`
//  to it (both made on the same change, before either was seen): the
//  jobs still to give, what the ask left beyond the push, at most as many
//  as make the two finish together (the push counted on both sides in
//  from and to). No margin: each side made its own decision to move, and
//  the push was sized short by the asker's doubt, which the asker's own
//  figures settle. Sets why. Cannot fail.
uint64_t dlb_policy_cross (const dlb_predict_t *from, const dlb_predict_t *to,
                           uint64_t want, uint64_t pushed, char *why, size_t why_size);

//  This node's partner in the pairing of latest with earliest finishers
//  among count nodes (node self among them). Returns its index and sets
//  *late (true if self is the late side, which gives), or -1 if self has
//  no partner (the middle of an odd count, or a single node). Ties are
//  broken by index. 1 <= count <= DLB_POLICY_NODES_MAX (asserted).
int dlb_policy_pair (const dlb_predict_t *nodes, size_t count, size_t self, bool *late);

//  Whether `late` would finish more than DLB_POLICY_HOLD_BREAK times later
//  than `early`: too far apart for hysteresis to hold a move back.
bool dlb_policy_lopsided (const dlb_predict_t *late, const dlb_predict_t *early);

//  One predictive decision of node self among count nodes: the jobs to
//  move (0: none), *peer the partner's index and *send whether self pushes
//  (true) or asks (false). sends / asks say which the caller may do. A
//  push is sized with the partner's rate less its doubt (at least
//  DLB_POLICY_PUSH_DOUBT).
//  Hysteresis (hold_send, hold_ask) does not hold back a move to or from
//  a partner that has nothing left to run (work < 1): it idles otherwise;
//  nor a lopsided pair (dlb_policy_lopsided).
//  Cannot fail.
uint64_t dlb_policy_predict (double threshold, const dlb_predict_t *nodes, size_t count,
                             size_t self, bool sends, bool asks, int *peer, bool *send,
                             char *why, size_t why_size);

//  Bootstrap by finish time: gives `jobs` new jobs to count nodes so that
//  their predicted finish times ((work + latency x rate + share) / rate)
//  are as equal as possible (water-filling), in whole jobs adding up to
//  jobs exactly. Cannot fail; 1 <= count <= DLB_POLICY_NODES_MAX.
void dlb_policy_fill (uint64_t jobs, const dlb_predict_t *nodes, size_t count,
                      uint64_t *share);

void dlb_policy_test (bool verbose);

#endif
