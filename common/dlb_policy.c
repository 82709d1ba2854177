/*  dlb_policy: transfer and selection policies as pure functions.        */
#include "dlb_policy.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *s_policies[] = {"none", "sender", "receiver", "symmetric"};
static const char *s_metrics[] = {"eta", "queue"};

int dlb_policy_parse (const char *name, dlb_policy_t *policy)
{
    for (int i = 0; i < 4; i++)
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
    return policy == DLB_POLICY_SENDER || policy == DLB_POLICY_SYMMETRIC;
}

bool dlb_policy_asks (dlb_policy_t policy)
{
    return policy == DLB_POLICY_RECEIVER || policy == DLB_POLICY_SYMMETRIC;
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

void dlb_policy_split (uint64_t jobs, const double *capacity, size_t count, bool even,
                       uint64_t *share)
{
    assert (count >= 1);
    double total = 0;
    for (size_t i = 0; i < count; i++)
        total += even || capacity[i] <= 0 ? 1 : capacity[i];
    uint64_t given = 0;
    double remainder[64] = {0};
    assert (count <= 64);
    for (size_t i = 0; i < count; i++) {
        double c = even || capacity[i] <= 0 ? 1 : capacity[i];
        double exact = (double) jobs * c / total;
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

void dlb_policy_test (bool verbose)
{
    (void) verbose;
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
}
