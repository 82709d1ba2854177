/*  dlb_policy: transfer and selection policies as pure functions.        */
#include "dlb_policy.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *s_policies[] = {"none", "sender", "receiver", "symmetric",
                                   "predictive"};
#define S_POLICIES (sizeof s_policies / sizeof s_policies[0])
static const char *s_metrics[] = {"eta", "queue"};

int dlb_policy_parse (const char *name, dlb_policy_t *policy)
{
    for (size_t i = 0; i < S_POLICIES; i++)
        if (strcmp (name, s_policies[i]) == 0) {
            *policy = (dlb_policy_t) i;
            return 0;
        }
    return -1;
}

int dlb_metric_parse (const char *name, dlb_metric_t *metric)
{
    for (int i = 0; i < 2; i++)
        if (strcmp (name, s_metrics[i]) == 0) {
            *metric = (dlb_metric_t) i;
            return 0;
        }
    return -1;
}

const char *dlb_policy_name (dlb_policy_t policy)
{
    return s_policies[policy];
}

const char *dlb_metric_name (dlb_metric_t metric)
{
    return s_metrics[metric];
}

bool dlb_policy_sends (dlb_policy_t policy)
{
    return policy == DLB_POLICY_SENDER || policy == DLB_POLICY_SYMMETRIC ||
           policy == DLB_POLICY_PREDICTIVE;
}

bool dlb_policy_asks (dlb_policy_t policy)
{
    return policy == DLB_POLICY_RECEIVER || policy == DLB_POLICY_SYMMETRIC ||
           policy == DLB_POLICY_PREDICTIVE;
}

uint64_t dlb_policy_balance (dlb_metric_t metric, double threshold,
                             const dlb_load_t *from, const dlb_load_t *to, char *why,
                             size_t why_size)
{
    if (metric == DLB_METRIC_QUEUE) {
        double diff = (double) from->queued - (double) to->queued;
        uint64_t n = diff > threshold ? (uint64_t) (diff / 2) : 0;
        snprintf (why, why_size, "queue %llu vs %llu, difference %.0f %s threshold %.0f",
                  (unsigned long long) from->queued, (unsigned long long) to->queued,
                  diff, n ? ">" : "<=", threshold);
        return n;
    }
    assert (from->rate > 0 && to->rate > 0);
    double work_from = (double) (from->queued + from->running);
    double work_to = (double) (to->queued + to->running);
    double eta_from = work_from / from->rate;
    double eta_to = work_to / to->rate;
    double ideal =
        (work_from * to->rate - work_to * from->rate) / (from->rate + to->rate);
    uint64_t n = 0;
    double margin = DLB_POLICY_TOLERANCE * eta_from;
    if (margin < threshold)
        margin = threshold;
    if (eta_from - eta_to > margin && ideal >= 1) {
        n = (uint64_t) floor (ideal);
        if (n > from->queued)
            n = from->queued;
    }
    snprintf (why, why_size,
              "eta %.3fs (%llu jobs at %.1f/s) vs %.3fs (%llu jobs at %.1f/s), "
              "balance at %.1f jobs, threshold %.3fs",
              eta_from, (unsigned long long) (from->queued + from->running), from->rate,
              eta_to, (unsigned long long) (to->queued + to->running), to->rate, ideal,
              threshold);
    return n;
}

//  Shares of jobs in proportion to weights (>= 0; all 0: even), in whole
//  jobs adding up to jobs exactly: floors, then the largest remainders.
static void s_apportion (uint64_t jobs, const double *weight, size_t count,
                         uint64_t *share)
{
    assert (count >= 1 && count <= DLB_POLICY_NODES_MAX);
    double total = 0;
    for (size_t i = 0; i < count; i++)
        total += weight[i];
    uint64_t given = 0;
    double remainder[DLB_POLICY_NODES_MAX];
    for (size_t i = 0; i < count; i++) {
        double exact = total > 0 ? (double) jobs * weight[i] / total
                                 : (double) jobs / (double) count;
        share[i] = (uint64_t) floor (exact);
        remainder[i] = exact - (double) share[i];
        given += share[i];
    }
    while (given < jobs) { //  largest remainders get the leftovers
        size_t best = 0;
        for (size_t i = 1; i < count; i++)
            if (remainder[i] > remainder[best])
                best = i;
        share[best]++;
        remainder[best] = -1;
        given++;
    }
}

void dlb_policy_split (uint64_t jobs, const double *capacity, size_t count, bool even,
                       uint64_t *share)
{
    assert (count >= 1 && count <= DLB_POLICY_NODES_MAX);
    double weight[DLB_POLICY_NODES_MAX];
    for (size_t i = 0; i < count; i++)
        weight[i] = even || capacity[i] <= 0 ? 1 : capacity[i];
    s_apportion (jobs, weight, count, share);
}

//  ---------------------------------------------------------------------
//  Predictive

#define S_RATE_MIN       1e-9 //  jobs/s: a rate at or below 0 is taken as this
#define S_FINISH_EPSILON 1e-9 //  secs: finish times this close are equal

static double s_rate_of (const dlb_predict_t *node)
{
    return node->rate > S_RATE_MIN ? node->rate : S_RATE_MIN;
}

double dlb_policy_finish (const dlb_predict_t *node)
{
    return node->work / s_rate_of (node);
}

//  Finish times of the pair after n jobs moved from `from` to `to`.
static double s_after_from (const dlb_predict_t *from, double n)
{
    return (from->work - n) / s_rate_of (from);
}

static double s_after_to (const dlb_predict_t *to, double n)
{
    double own = dlb_policy_finish (to);
    double arrive = to->latency + n * to->per_job;
    return (own > arrive ? own : arrive) + n / s_rate_of (to);
}

//  The largest n for which `to` still finishes no later than `from`: the
//  difference of the two is increasing in n, so bisect.
static uint64_t s_equalize (const dlb_predict_t *from, const dlb_predict_t *to)
{
    uint64_t low = 0, high = from->movable;
    while (low < high) {
        uint64_t mid = low + (high - low + 1) / 2;
        if (s_after_to (to, (double) mid) <=
            s_after_from (from, (double) mid) + S_FINISH_EPSILON)
            low = mid;
        else
            high = mid - 1;
    }
    return low;
}

uint64_t dlb_policy_cross (const dlb_predict_t *from, const dlb_predict_t *to,
                           uint64_t want, uint64_t pushed, char *why, size_t why_size)
{
    uint64_t left = want > pushed ? want - pushed : 0;
    uint64_t n = s_equalize (from, to);
    if (n > left)
        n = left;
    snprintf (why, why_size,
              "its ask of %llu crosses our push of %llu, which leaves %llu; finish "
              "%.3fs (%.0f jobs at %.1f/s) vs %.3fs (%.0f jobs at %.1f/s): %llu jobs "
              "make them equal at most",
              (unsigned long long) want, (unsigned long long) pushed,
              (unsigned long long) left, dlb_policy_finish (from), from->work, from->rate,
              dlb_policy_finish (to), to->work, to->rate, (unsigned long long) n);
    return n;
}

uint64_t dlb_policy_move (double threshold, const dlb_predict_t *from,
                          const dlb_predict_t *to, char *why, size_t why_size)
{
    double finish_from = dlb_policy_finish (from), finish_to = dlb_policy_finish (to);
    double margin = DLB_POLICY_TOLERANCE * finish_from;
    if (margin < threshold)
        margin = threshold;
    //  Differences within the predictions' own expected error are noise:
    //  a rate in doubt by d makes F as short as F / (1 + d), T as long as
    //  T / (1 - d); one-sided, so that a late node whose capacity has just
    //  fallen (its doubt high) still gives work to a sure, early one.
    double doubt_to = to->doubt < DLB_POLICY_DOUBT_MAX ? to->doubt : DLB_POLICY_DOUBT_MAX;
    double doubt = hypot (finish_from * from->doubt / (1 + from->doubt),
                          finish_to * doubt_to / (1 - doubt_to));
    const char *bound = margin > threshold ? "tolerance" : "threshold";
    if (margin < doubt) {
        margin = doubt;
        bound = "doubt";
    }
    uint64_t n = finish_from - finish_to > margin ? s_equalize (from, to) : 0;
    double after_from = s_after_from (from, (double) n),
           after_to = s_after_to (to, (double) n);
    double after = after_from > after_to ? after_from : after_to;
    double gain = finish_from - after;
    //  What a free move just over the margin would gain, less one job's
    //  worth for the rounding to whole jobs.
    double required = margin * s_rate_of (to) / (s_rate_of (from) + s_rate_of (to)) -
                      1 / s_rate_of (from);
    bool pays = n >= 1 && gain > required;
    snprintf (why, why_size,
              "finish %.3fs (%.0f jobs at %.1f/s) vs %.3fs (%.0f jobs at %.1f/s), "
              "link %.3fs + %.4fs/job: %llu jobs make it %.3fs, gain %.3fs %s %.3fs "
              "(margin %.3fs by %s; rates in doubt by %.0f %% and %.0f %%)",
              finish_from, from->work, from->rate, finish_to, to->work, to->rate,
              to->latency, to->per_job, (unsigned long long) n, after, gain,
              pays ? ">" : "<=", required > 0 ? required : 0, margin, bound,
              100 * from->doubt, 100 * to->doubt);
    return pays ? n : 0;
}

bool dlb_policy_lopsided (const dlb_predict_t *late, const dlb_predict_t *early)
{
    return dlb_policy_finish (late) > DLB_POLICY_HOLD_BREAK * dlb_policy_finish (early);
}

int dlb_policy_pair (const dlb_predict_t *nodes, size_t count, size_t self, bool *late)
{
    assert (count >= 1 && count <= DLB_POLICY_NODES_MAX && self < count);
    size_t order[DLB_POLICY_NODES_MAX] = {0};
    for (size_t i = 0; i < count; i++) { //  insertion sort by finish, then index
        size_t k = i;
        double finish = dlb_policy_finish (&nodes[i]);
        while (k > 0 && dlb_policy_finish (&nodes[order[k - 1]]) > finish) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }
    size_t position = 0;
    while (order[position] != self)
        position++;
    size_t partner = count - 1 - position;
    if (partner == position)
        return -1;
    *late = position > partner;
    return (int) order[partner];
}

uint64_t dlb_policy_predict (double threshold, const dlb_predict_t *nodes, size_t count,
                             size_t self, bool sends, bool asks, int *peer, bool *send,
                             char *why, size_t why_size)
{
    bool late = false;
    int partner = dlb_policy_pair (nodes, count, self, &late);
    *peer = partner;
    *send = late;
    if (partner < 0) {
        snprintf (why, why_size, "no partner: this node is in the middle");
        return 0;
    }
    const dlb_predict_t *other = &nodes[partner];
    bool idle = other->work < 1;
    bool lopsided = late ? dlb_policy_lopsided (&nodes[self], other)
                         : dlb_policy_lopsided (other, &nodes[self]);
    if (late && (!sends || (other->hold_send && !idle && !lopsided))) {
        snprintf (why, why_size, "%s",
                  sends ? "hysteresis: received from it lately"
                        : "this policy does not push");
        return 0;
    }
    if (!late && (!asks || (other->hold_ask && nodes[self].work >= 1 && !lopsided))) {
        snprintf (why, why_size, "%s",
                  asks ? "hysteresis: sent to it lately" : "this policy does not ask");
        return 0;
    }
    if (late) {
        dlb_predict_t to = *other;
        to.rate *=
            1 - fmin (fmax (to.doubt, DLB_POLICY_PUSH_DOUBT), DLB_POLICY_DOUBT_MAX);
        return dlb_policy_move (threshold, &nodes[self], &to, why, why_size);
    }
    //  Asking: the jobs cross the same link the other way.
    dlb_predict_t me = nodes[self];
    me.latency = other->latency;
    me.per_job = other->per_job;
    return dlb_policy_move (threshold, other, &me, why, why_size);
}

void dlb_policy_fill (uint64_t jobs, const dlb_predict_t *nodes, size_t count,
                      uint64_t *share)
{
    assert (count >= 1 && count <= DLB_POLICY_NODES_MAX);
    //  Each node's work in jobs, latency counted as work it must wait out;
    //  the level L with sum of max (0, L x rate - start) = jobs.
    double start[DLB_POLICY_NODES_MAX], rate[DLB_POLICY_NODES_MAX];
    for (size_t i = 0; i < count; i++) {
        rate[i] = s_rate_of (&nodes[i]);
        start[i] = nodes[i].work + nodes[i].latency * rate[i];
    }
    double low = 0, high, total_rate = 0, most = 0;
    for (size_t i = 0; i < count; i++) {
        total_rate += rate[i];
        if (start[i] / rate[i] > most)
            most = start[i] / rate[i];
    }
    high = most + (double) jobs / total_rate; //  every node busy until then
    for (int step = 0; step < 100; step++) {
        double level = (low + high) / 2, given = 0;
        for (size_t i = 0; i < count; i++)
            if (level * rate[i] > start[i])
                given += level * rate[i] - start[i];
        if (given < (double) jobs)
            low = level;
        else
            high = level;
    }
    double exact[DLB_POLICY_NODES_MAX];
    for (size_t i = 0; i < count; i++) {
        double x = high * rate[i] - start[i];
        exact[i] = x > 0 ? x : 0;
    }
    s_apportion (jobs, exact, count, share);
}

//  Crossing moves: figures from a step run (b's throttle to 0.3; b pushed
//  480 jobs sized with a's rate less its doubt, a asked for 522 with its
//  own). What the push left, 42, is granted, and the pair finishes
//  together; as a fresh decision it was within the doubt margin.
static void s_test_cross (void)
{
    char why[512];
    dlb_predict_t b = {.work = 442, .movable = 441, .rate = 24.6, .doubt = 0.09},
                  a = {.work = 1180, .rate = 75.3, .doubt = 0.12};
    assert (dlb_policy_move (0.05, &b, &a, why, sizeof why) == 0);
    assert (strstr (why, "by doubt"));
    assert (dlb_policy_cross (&b, &a, 522, 480, why, sizeof why) == 42);
    assert (strstr (why, "leaves 42"));
    //  Never more than equal finish times, nor than the ask left.
    assert (dlb_policy_cross (&b, &a, 600, 480, why, sizeof why) == 42);
    assert (dlb_policy_cross (&b, &a, 500, 480, why, sizeof why) == 20);
    assert (dlb_policy_cross (&b, &a, 400, 480, why, sizeof why) == 0);
    dlb_predict_t done = {.work = 1, .movable = 0, .rate = 24.6};
    assert (dlb_policy_cross (&done, &a, 522, 480, why, sizeof why) == 0);
}

void dlb_policy_test (bool verbose)
{
    (void) verbose;
    s_test_cross ();
    char why[256];
    dlb_policy_t p;
    assert (dlb_policy_parse ("receiver", &p) == 0 && p == DLB_POLICY_RECEIVER);
    assert (dlb_policy_parse ("bogus", &p) == -1);
    assert (dlb_policy_sends (DLB_POLICY_SYMMETRIC) &&
            !dlb_policy_sends (DLB_POLICY_RECEIVER));
    assert (dlb_policy_asks (DLB_POLICY_RECEIVER) && !dlb_policy_asks (DLB_POLICY_NONE));

    //  Equal queues, but the receiver is twice as fast: eta moves work there;
    //  the seed's queue rule sees no imbalance at all.
    dlb_load_t slow = {.queued = 300, .running = 1, .rate = 45};
    dlb_load_t fast = {.queued = 300, .running = 1, .rate = 90};
    uint64_t n = dlb_policy_balance (DLB_METRIC_ETA, 0.05, &slow, &fast, why, sizeof why);
    //  (301*90 - 301*45) / 135 = 100.3
    assert (n == 100);
    assert (dlb_policy_balance (DLB_METRIC_QUEUE, 30, &slow, &fast, why, sizeof why) ==
            0);
    //  Never from the faster to the slower when they finish together.
    assert (dlb_policy_balance (DLB_METRIC_ETA, 0.05, &fast, &slow, why, sizeof why) ==
            0);
    //  Balanced (etas equal): nothing moves.
    dlb_load_t a = {.queued = 199, .running = 1, .rate = 90};
    dlb_load_t b = {.queued = 99, .running = 1, .rate = 45};
    assert (dlb_policy_balance (DLB_METRIC_ETA, 0.05, &a, &b, why, sizeof why) == 0);
    //  Under the threshold: nothing moves even if one job would help.
    dlb_load_t c = {.queued = 2, .running = 1, .rate = 45}; //  eta 67 ms
    dlb_load_t idle = {.queued = 0, .running = 0, .rate = 90};
    assert (dlb_policy_balance (DLB_METRIC_ETA, 0.1, &c, &idle, why, sizeof why) == 0);
    assert (dlb_policy_balance (DLB_METRIC_ETA, 0.05, &c, &idle, why, sizeof why) == 2);
    //  Within the relative tolerance (3 % apart at etas of ~7 s): no move,
    //  though the absolute threshold alone would have moved some.
    dlb_load_t near_a = {.queued = 515, .running = 1, .rate = 75};
    dlb_load_t near_b = {.queued = 242, .running = 1, .rate = 36};
    assert (dlb_policy_balance (DLB_METRIC_ETA, 0.05, &near_a, &near_b, why,
                                sizeof why) == 0);
    //  Never more than is queued.
    dlb_load_t busy = {.queued = 1, .running = 4, .rate = 10};
    assert (dlb_policy_balance (DLB_METRIC_ETA, 0.05, &busy, &idle, why, sizeof why) ==
            1);
    //  The seed's rule: half the difference over 30.
    dlb_load_t q1 = {.queued = 100, .rate = 1}, q2 = {.queued = 20, .rate = 1};
    assert (dlb_policy_balance (DLB_METRIC_QUEUE, 30, &q1, &q2, why, sizeof why) == 40);
    assert (strstr (why, "difference 80"));

    //  Bootstrap: capacity-proportional and even splits add up exactly.
    double capacity[] = {1.0, 0.5};
    uint64_t share[2];
    dlb_policy_split (1024, capacity, 2, false, share);
    assert (share[0] == 683 && share[1] == 341);
    dlb_policy_split (1024, capacity, 2, true, share);
    assert (share[0] == 512 && share[1] == 512);
    double three[] = {1, 1, 1};
    uint64_t share3[3];
    dlb_policy_split (10, three, 3, false, share3);
    assert (share3[0] + share3[1] + share3[2] == 10);

    //  Predictive, steady loads and a free link: the same decisions as eta
    //  on every pair of a grid of states far enough from the margin that
    //  rounding cannot tell them apart.
    assert (dlb_policy_parse ("predictive", &p) == 0 && p == DLB_POLICY_PREDICTIVE);
    assert (dlb_policy_sends (p) && dlb_policy_asks (p));
    uint64_t queues[] = {0, 1, 3, 20, 99, 300, 515};
    double rates[] = {10, 36, 45, 75, 90};
    size_t same = 0, compared = 0;
    for (size_t qf = 0; qf < 7; qf++)
        for (size_t qt = 0; qt < 7; qt++)
            for (size_t rf = 0; rf < 5; rf++)
                for (size_t rt = 0; rt < 5; rt++) {
                    dlb_load_t from = {
                        .queued = queues[qf], .running = 1, .rate = rates[rf]};
                    dlb_load_t to = {
                        .queued = queues[qt], .running = 0, .rate = rates[rt]};
                    dlb_predict_t pf = {.work = (double) from.queued + 1,
                                        .movable = from.queued,
                                        .rate = from.rate};
                    dlb_predict_t pt = {.work = (double) to.queued, .rate = to.rate};
                    double ff = dlb_policy_finish (&pf), ft = dlb_policy_finish (&pt);
                    double margin = fmax (0.05, DLB_POLICY_TOLERANCE * ff);
                    if (fabs (ff - ft - margin) < 0.1 * margin + 2 / from.rate)
                        continue;
                    compared++;
                    uint64_t eta = dlb_policy_balance (DLB_METRIC_ETA, 0.05, &from, &to,
                                                       why, sizeof why);
                    uint64_t predicted =
                        dlb_policy_move (0.05, &pf, &pt, why, sizeof why);
                    same += eta == predicted;
                    if (eta != predicted && verbose)
                        fprintf (stderr, "eta %llu, predictive %llu: %s\n",
                                 (unsigned long long) eta, (unsigned long long) predicted,
                                 why);
                }
    if (verbose)
        fprintf (stderr, "predictive = eta on %zu of %zu states\n", same, compared);
    assert (compared > 400 && same == compared);

    //  Three nodes, steady: a finishes latest, c earliest. c asks a for
    //  what eta would move between them; a pushes less (c's rate in doubt:
    //  (1 + n) / 54 <= (601 - n) / 60); b, in the middle, has no partner.
    dlb_predict_t abc[3] = {{.work = 601, .movable = 600, .rate = 60},
                            {.work = 300, .movable = 299, .rate = 60},
                            {.work = 1, .movable = 0, .rate = 60}};
    int peer;
    bool send;
    n = dlb_policy_predict (0.05, abc, 3, 0, true, true, &peer, &send, why, sizeof why);
    assert (n == 284 && peer == 2 && send);
    n = dlb_policy_predict (0.05, abc, 3, 2, true, true, &peer, &send, why, sizeof why);
    assert (n == 300 && peer == 0 && !send);
    n = dlb_policy_predict (0.05, abc, 3, 1, true, true, &peer, &send, why, sizeof why);
    assert (n == 0 && peer == -1);
    //  Four nodes: latest with earliest, second latest with second earliest.
    dlb_predict_t four[4] = {{.work = 10, .movable = 9, .rate = 10},
                             {.work = 400, .movable = 399, .rate = 10},
                             {.work = 100, .movable = 99, .rate = 10},
                             {.work = 0, .rate = 10}};
    bool late;
    assert (dlb_policy_pair (four, 4, 1, &late) == 3 && late);
    assert (dlb_policy_pair (four, 4, 3, &late) == 1 && !late);
    assert (dlb_policy_pair (four, 4, 2, &late) == 0 && late);
    assert (dlb_policy_pair (four, 4, 0, &late) == 2 && !late);
    assert (dlb_policy_pair (four, 1, 0, &late) == -1);

    //  A rise of b's owner load that its history predicts: both run 90
    //  jobs/s now with 300 jobs each, so eta sees no imbalance, but b's
    //  predicted capacity over its remaining time is 30 jobs/s. Work moves
    //  from b to a before the rise: a asks for 150, b pushes 137 (a's rate
    //  in doubt by at least 10 %: (300 + n) / 81 <= (300 - n) / 30), or
    //  115 if a's own doubt is 25 % ((300 + n) / 67.5 <= (300 - n) / 30).
    dlb_load_t now_a = {.queued = 299, .running = 1, .rate = 90};
    dlb_load_t now_b = {.queued = 299, .running = 1, .rate = 90};
    assert (dlb_policy_balance (DLB_METRIC_ETA, 0.05, &now_b, &now_a, why, sizeof why) ==
            0);
    dlb_predict_t rise[2] = {{.work = 300, .movable = 299, .rate = 90},
                             {.work = 300, .movable = 299, .rate = 30}};
    n = dlb_policy_predict (0.05, rise, 2, 1, true, true, &peer, &send, why, sizeof why);
    assert (n == 137 && peer == 0 && send);
    rise[0].doubt = 0.25;
    n = dlb_policy_predict (0.05, rise, 2, 1, true, true, &peer, &send, why, sizeof why);
    assert (n == 115 && peer == 0 && send);
    rise[0].doubt = 0;
    assert (dlb_policy_predict (0.05, rise, 2, 0, true, true, &peer, &send, why,
                                sizeof why) == 150 &&
            peer == 1 && !send);

    //  After that move neither side moves anything back (no ping-pong even
    //  before hysteresis).
    rise[0].work += 150;
    rise[0].movable += 150;
    rise[1].work -= 150;
    rise[1].movable -= 150;
    assert (dlb_policy_predict (0.05, rise, 2, 0, true, true, &peer, &send, why,
                                sizeof why) == 0);
    assert (dlb_policy_predict (0.05, rise, 2, 1, true, true, &peer, &send, why,
                                sizeof why) == 0);

    //  Doubt: finish times of 10 s and 8 s differ by more than 5 %, but not
    //  by more than predictions 30 % in doubt can tell apart (the margin is
    //  hypot (3, 2.4) = 3.84 s); 10 s against 2 s they can.
    dlb_predict_t sure[2] = {{.work = 100, .movable = 99, .rate = 10},
                             {.work = 80, .movable = 79, .rate = 10}};
    assert (dlb_policy_move (0.05, &sure[0], &sure[1], why, sizeof why) == 10);
    sure[0].doubt = sure[1].doubt = 0.3;
    assert (dlb_policy_move (0.05, &sure[0], &sure[1], why, sizeof why) == 0);
    sure[1].work = 20;
    assert (dlb_policy_move (0.05, &sure[0], &sure[1], why, sizeof why) == 40);
    //  One-sided: a node whose owner load just stepped up (476 jobs at a
    //  predicted 6.8/s, 70 s, the rate in full doubt: it may be 13.6/s, 35
    //  s) still gives to a sure node finishing in 1.5 s; a node in full
    //  doubt is not given work on a difference that small.
    dlb_predict_t step[2] = {{.work = 476, .movable = 475, .rate = 6.8, .doubt = 1},
                             {.work = 44, .movable = 43, .rate = 29, .doubt = 0.05}};
    assert (dlb_policy_move (0.05, &step[0], &step[1], why, sizeof why) > 300);
    dlb_predict_t unsure[2] = {{.work = 30, .movable = 29, .rate = 10},
                               {.work = 10, .movable = 9, .rate = 10, .doubt = 1}};
    assert (dlb_policy_move (0.05, &unsure[0], &unsure[1], why, sizeof why) == 0);

    //  A costly link: fewer jobs move, and none when the latency alone
    //  outlasts the gain.
    dlb_predict_t costly[2] = {{.work = 301, .movable = 300, .rate = 45},
                               {.work = 0, .rate = 45, .latency = 0.5, .per_job = 0.02}};
    uint64_t free_n = dlb_policy_balance (
        DLB_METRIC_ETA, 0.05, &(dlb_load_t){.queued = 300, .running = 1, .rate = 45},
        &(dlb_load_t){.rate = 45}, why, sizeof why);
    uint64_t costly_n = dlb_policy_move (0.05, &costly[0], &costly[1], why, sizeof why);
    assert (free_n == 150 && costly_n > 0 && costly_n < free_n);
    //  It pays exactly: the receiver's start waits for the batch.
    assert (costly_n == 96); //  0.5 + n * 0.02 + n / 45 <= (301 - n) / 45
    costly[1].latency = 10;  //  the sender finishes in 6.7 s anyway
    assert (dlb_policy_move (0.05, &costly[0], &costly[1], why, sizeof why) == 0);
    //  Asking over a costly link pays the same cost (as seen from the asker,
    //  the link's figures are on the peer's entry).
    dlb_predict_t asker[2] = {
        {.work = 301, .movable = 300, .rate = 45, .latency = 0.5, .per_job = 0.02},
        {.work = 0, .rate = 45}};
    assert (dlb_policy_predict (0.05, asker, 2, 1, true, true, &peer, &send, why,
                                sizeof why) == costly_n &&
            peer == 0 && !send);

    //  Hysteresis: after a move a -> c, c may not push back to a and a may
    //  not ask c, even when the figures say so (10 s against 6.7 s; b in
    //  the middle at 8.3 s).
    abc[1].work = 500;
    abc[2].work = 400;
    abc[2].movable = 399;
    abc[0].hold_ask = true; //  (as seen from c: it sent to a lately)
    assert (dlb_policy_predict (0.05, abc, 3, 2, true, true, &peer, &send, why,
                                sizeof why) == 0 &&
            strstr (why, "hysteresis"));
    abc[2].hold_send = true;
    assert (dlb_policy_predict (0.05, abc, 3, 0, true, true, &peer, &send, why,
                                sizeof why) == 0 &&
            strstr (why, "hysteresis"));
    //  ... unless the late one finishes more than DLB_POLICY_HOLD_BREAK
    //  times later: a step, not noise (a's finish time x 3: 30 s).
    abc[0].work = 1803;
    assert (dlb_policy_predict (0.05, abc, 3, 0, true, true, &peer, &send, why,
                                sizeof why) > 0 &&
            peer == 2 && send);
    abc[0].work = 601;
    //  ... or c has nothing left to run: then it would idle.
    abc[2].work = 0;
    assert (dlb_policy_predict (0.05, abc, 3, 0, true, true, &peer, &send, why,
                                sizeof why) > 0 &&
            peer == 2 && send);
    assert (dlb_policy_predict (0.05, abc, 3, 2, true, true, &peer, &send, why,
                                sizeof why) > 0 &&
            peer == 0 && !send);

    //  Bootstrap by finish time: idle equal nodes share evenly; a node
    //  with work already, or far away, gets less, and the shares add up.
    dlb_predict_t fill[3] = {{.rate = 10}, {.rate = 10}, {.rate = 10}};
    dlb_policy_fill (99, fill, 3, share3);
    assert (share3[0] == 33 && share3[1] == 33 && share3[2] == 33);
    fill[0].work = 30; //  3 s of work already
    fill[2].rate = 20;
    dlb_policy_fill (100, fill, 3, share3);
    //  level L: (10L - 30) + 10L + 20L = 100 -> L = 3.25
    assert (share3[0] == 3 && share3[1] == 32 && share3[2] == 65);
    fill[0].work = 1000; //  finishes after everything: gets nothing
    dlb_policy_fill (100, fill, 3, share3);
    assert (share3[0] == 0 && share3[1] + share3[2] == 100);
    fill[1].latency = 2; //  b starts 2 s later: 20 of its jobs' worth
    dlb_policy_fill (100, fill, 3, share3);
    //  (10L - 20) + 20L = 100 -> L = 4
    assert (share3[1] == 20 && share3[2] == 80);
}
