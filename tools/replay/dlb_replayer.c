/*  dlb_replayer: replays a CPU-utilisation trace on pinned CPUs, in one of
    two modes: own (the default of dlb-replay) or total.

    Own mode: interval i (of seconds_per_sample T, on a fixed monotonic grid
    from the start) prescribes that each load thread's own CPU time
    (CLOCK_THREAD_CPUTIME_ID) be u*T, u = trace[i] %. It behaves like an owner's
    process: other processes on the CPU do not make it back off; when they
    contend, it gets what the scheduler gives and the report shows the
    shortfall. Each slice first spins until the thread clock has advanced by
    the slice's share of what the interval still needs,

        spin_cpu = (u*T - own CPU so far this interval) * (slice left) / R

    (R: secs left in the interval; stopping early at the slice end if the
    scheduler gives less), then sleeps to the slice end. Falling behind raises
    the later slices' shares, up to the whole slice. Achieved = own CPU / T.

    Total mode (the seed's rule). Interval i (of seconds_per_sample T, on a fixed
   monotonic grid from the start, so nothing drifts) prescribes the target u = trace[i] %
   busy on every chosen CPU, as /proc/stat counts busy (dlb_sampler's rule). One load
    thread per CPU, pinned with sched_setaffinity, follows the seed's rule: "if
    historical load is bigger than actual load, then we do hard work; if not,
    we just wait". It controls in slices (DLB_REPLAYER_SLICE_MSECS, on a grid
    inside the interval). At each slice start it plans how much busy work the
    rest of the interval still needs, from its CPU's busy jiffies (so other
    processes' load counts):

        need  = u*T - busy so far this interval          (secs)
        work  = (need - o*R) / (1 - o), clamped to 0..R  (R: secs left)
        spin  = work * (slice left) / R                  (this slice's share)

    where o is the others' load: the fraction of our idle time in which the
    CPU was busy anyway, an exponential average over the last
    DLB_REPLAYER_OTHERS_TAU_SECS (while we spin the CPU is busy whoever runs,
    so others only add during our idle time). A slice idles first and spins
    last: it sleeps to (slice end - spin), wakes, reads /proc/stat, corrects
    the spin by what others did while it slept beyond the estimate, then spins
    on arithmetic (xorshift: nothing to cache or optimise away) to the slice
    end, where the next slice starts without a wake-up. When the target is
    already met it sleeps to the interval end. So a slice costs at most one
    wake-up and one read, the load is spread over the interval at any T, and a
    step from 5 % to 90 % is reached in the interval where it happens.

    Threads. The load threads share no mutable memory with each other or the
    main thread: they read the trace and their s_load_t (written before they
    start, read-only after), and each owns a PUSH socket handed over before it
    starts. They report to the main thread over inproc ZeroMQ, one message per
    closed interval and one at the end, each a picture "s48888":

        "INTERVAL" cpu index busy_jiffies total_jiffies spun_nsecs own_nsecs
                   (deltas over the interval; own: the thread's CPU clock)
        "DONE"     cpu spin_cpu_nsecs failed(0/1) 0 0 0

    Stop: dlb_pace_stop (called from a signal handler, where no ZeroMQ call
    is safe) sets an atomic flag, which the threads poll between spin
    batches, and writes to an eventfd, on which they sleep, so a sleep of a
    whole interval ends at once (dlb_pace.h). These are the only state the
    threads share; the main thread sums the CPUs of each interval into the
    report row.

    Overhead: process CPU time (getrusage) minus the CPU time spent spinning
    (CLOCK_THREAD_CPUTIME_ID around each spin), as % of one core's wall time:
    it counts the reads, wake-ups, messages and report writing.           */
#include "dlb_replayer.h"

#include "dlb_config.h"
#include "dlb_kernel.h"
#include "dlb_log.h"
#include "dlb_pace.h"
#include "dlb_sampler.h"

#include <assert.h>
#include <ctype.h>
#include <czmq.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define S_ENDPOINT        "inproc://dlb-replayer"
#define S_ENDPOINT_MAX    64
#define S_SPIN_BATCH      1000  //  xorshift rounds between clock reads (~2 usecs)
#define S_OTHERS_MIN_IDLE 0.25  //  secs of (decayed) idle time to trust the estimate
#define S_MIN_SLEEP       0.001 //  secs; a shorter idle part is spun through instead
#define S_NSECS_PER_SEC   1e9
#define S_MSECS_PER_SEC   1e3
#define S_PERCENT         100.0
#define S_SPIN_SEED       0x9E3779B97F4A7C15ULL

static atomic_uint s_runs = 0; //  names each run's endpoint

//  What a load thread needs; written by the main thread before the thread
//  starts and not touched by it again until after the join.
typedef struct {
    int cpu;
    const dlb_replayer_config_t *config;
    double start;  //  secs, monotonic: the start of interval 0
    zsock_t *push; //  owned by the thread while it runs
    pthread_t thread;
    bool started;
} s_load_t;

//  One report row being assembled from the CPUs' messages.
typedef struct {
    size_t index;
    size_t reports;      //  CPUs heard from; 0 = slot free
    uint64_t busy;       //  jiffies
    uint64_t total;      //  jiffies
    uint64_t spun_nsecs; //  wall time the load threads spun
    uint64_t own_nsecs;  //  the load threads' own CPU time
} s_row_t;

//  Busy work until the monotonic time `until`, a stop, or (if cpu_budget >= 0)
//  once the thread's CPU clock has advanced by cpu_budget secs: returns the
//  wall secs spun and adds the thread CPU time spent to *spin_nsecs.
static double s_spin_until (double until, double cpu_budget, uint64_t *state,
                            uint64_t *spin_nsecs)
{
    volatile uint64_t sink; //  makes the arithmetic observable
    int64_t cpu_before = dlb_thread_cpu_ns ();
    int64_t cpu_until = cpu_budget >= 0
                            ? cpu_before + (int64_t) (cpu_budget * S_NSECS_PER_SEC)
                            : INT64_MAX;
    double begin = dlb_pace_now (), now = begin;
    uint64_t x = *state;
    while (now < until && !dlb_pace_stopping () &&
           (cpu_budget < 0 || dlb_thread_cpu_ns () < cpu_until)) {
        for (int round = 0; round < S_SPIN_BATCH; round++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        sink = x;
        now = dlb_pace_now ();
    }
    (void) sink;
    *state = x;
    *spin_nsecs += (uint64_t) (dlb_thread_cpu_ns () - cpu_before);
    return now - begin;
}

static double s_clamp (double value, double low, double high)
{
    return value < low ? low : value > high ? high : value;
}

//  The control period: the configured slice, at most one interval.
static double s_slice_secs (const dlb_replayer_config_t *config)
{
    return fmin (config->slice_secs > 0 ? config->slice_secs
                                        : DLB_REPLAYER_SLICE_MSECS / S_MSECS_PER_SEC,
                 config->seconds_per_sample);
}

//  The end of the slice that contains now, in the interval ending at
//  interval_end: slices lie on a grid from the interval start, and a sliver
//  of less than half a slice joins the last one.
static double s_slice_end (double now, double interval_end, double length, double slice)
{
    double interval_start = interval_end - length;
    double slice_end =
        interval_start + (floor ((now - interval_start) / slice) + 1) * slice;
    return slice_end > interval_end - slice / 2 ? interval_end : slice_end;
}

//  An interval's counters, for the load loops.
typedef struct {
    uint64_t busy, total; //  jiffies of the CPU at the interval start
    int64_t own;          //  nsecs of the thread's CPU clock at the interval start
    double spun;          //  wall secs spun in this interval
} s_base_t;

//  Reads the CPU's jiffies. Returns 0, or -1 after logging.
static int s_read_jiffies (const s_load_t *load, uint64_t *busy, uint64_t *total)
{
    if (dlb_sampler_cpu_jiffies (&load->cpu, 1, busy, total) == 0)
        return 0;
    dlb_error ("CPU %d: cannot read /proc/stat", load->cpu);
    return -1;
}

//  Closes interval *index: sends its deltas, starts the next from now and
//  moves *index on. Returns 1 if the replay goes on, 0 if the trace is over,
//  or -1 after logging.
static int s_close_interval (const s_load_t *load, size_t *index, s_base_t *base)
{
    uint64_t busy, total;
    if (s_read_jiffies (load, &busy, &total) != 0)
        return -1;
    int64_t own = dlb_thread_cpu_ns ();
    zsock_send (load->push, "s488888", "INTERVAL", (uint32_t) load->cpu,
                (uint64_t) *index, busy - base->busy, total - base->total,
                (uint64_t) (base->spun * S_NSECS_PER_SEC), (uint64_t) (own - base->own));
    *base = (s_base_t){.busy = busy, .total = total, .own = own, .spun = 0};
    (*index)++;
    return load->config->loop || *index < load->config->count ? 1 : 0;
}

//  A load thread's running state, both modes.
typedef struct {
    const s_load_t *load;
    s_base_t base;        //  counters at the start of the current interval
    uint64_t state;       //  the spin's xorshift state
    uint64_t *spin_nsecs; //  thread CPU time spent spinning, in all
    double now;           //  secs, monotonic
    double hz;            //  jiffies per sec
    double busy_secs;     //  total mode: the CPU's busy counter now, estimated
    double others;        //  total mode: fraction of our idle time others kept
    double others_busy;   //  the CPU busy, and its parts, decayed:
    double others_idle;   //  secs
} s_thread_t;

//  Own mode, one slice (see the file header). Cannot fail.
static void s_slice_own (s_thread_t *self, double target, double interval_end)
{
    const double length = self->load->config->seconds_per_sample;
    double own = (double) (dlb_thread_cpu_ns () - self->base.own) / S_NSECS_PER_SEC;
    double need = target * length - own;
    double slice_end =
        s_slice_end (self->now, interval_end, length, s_slice_secs (self->load->config));
    if (need > 0) {
        double budget = need * (slice_end - self->now) / (interval_end - self->now);
        self->base.spun +=
            s_spin_until (slice_end, budget, &self->state, self->spin_nsecs);
    }
    dlb_pace_sleep_until (need > 0 ? slice_end : interval_end);
    self->now = dlb_pace_now ();
}

//  Total mode, one slice (see the file header). Returns 0, or -1 after
//  logging why.
static int s_slice_total (s_thread_t *self, double target, double interval_end)
{
    const double length = self->load->config->seconds_per_sample;
    const double hz = self->hz;
    double now = self->now;
    double remaining = interval_end - now;
    double need = target * length - (self->busy_secs - (double) self->base.busy / hz);
    double slice_end = need <= 0 ? interval_end //  nothing left to do
                                 : s_slice_end (now, interval_end, length,
                                                s_slice_secs (self->load->config));
    double spin = 0;
    if (need > 0) {
        double work = s_clamp ((need - self->others * remaining) / (1 - self->others), 0,
                               remaining);
        spin = work * (slice_end - now) / remaining;
    }
    //  Idle first; on waking, learn what others did meanwhile and correct.
    double idle_from = now;
    if (slice_end - spin - now >= S_MIN_SLEEP) {
        dlb_pace_sleep_until (slice_end - spin);
        if (dlb_pace_stopping ())
            return 0;
        uint64_t busy, total;
        if (s_read_jiffies (self->load, &busy, &total) != 0)
            return -1;
        now = dlb_pace_now ();
        double idle = now - idle_from;
        double foreign = (double) busy / hz - self->busy_secs;
        self->busy_secs = (double) busy / hz;
        spin -= foreign - self->others * idle; //  others' surprise
        double decay = exp (-idle / DLB_REPLAYER_OTHERS_TAU_SECS);
        self->others_busy = self->others_busy * decay + foreign;
        self->others_idle = self->others_idle * decay + idle;
        if (self->others_idle > S_OTHERS_MIN_IDLE)
            self->others = s_clamp (self->others_busy / self->others_idle, 0,
                                    DLB_REPLAYER_OTHERS_MAX);
        spin = s_clamp (spin, 0, slice_end - now);
    }
    if (spin > 0) {
        double spun_now = s_spin_until (now + spin, -1, &self->state, self->spin_nsecs);
        self->busy_secs += spun_now;
        self->base.spun += spun_now;
        now = dlb_pace_now ();
    }
    else if (now < slice_end && slice_end == interval_end) {
        //  Nothing to spin and the interval ends with this slice.
        dlb_pace_sleep_until (interval_end);
        now = dlb_pace_now ();
    }
    self->now = now;
    return 0;
}

//  Runs the mode's slices on the interval grid until the trace ends or a
//  stop. Returns 0, or -1 after logging why.
static int s_load_run (const s_load_t *load, uint64_t *spin_nsecs)
{
    const dlb_replayer_config_t *config = load->config;
    s_thread_t self = {.load = load,
                       .state = S_SPIN_SEED ^ (uint64_t) load->cpu,
                       .spin_nsecs = spin_nsecs,
                       .hz = (double) sysconf (_SC_CLK_TCK)};
    dlb_pace_sleep_until (load->start);
    self.base = (s_base_t){.own = dlb_thread_cpu_ns ()};
    if (s_read_jiffies (load, &self.base.busy, &self.base.total) != 0)
        return -1;
    self.busy_secs = (double) self.base.busy / self.hz;
    self.now = dlb_pace_now ();
    size_t index = 0;
    while (!dlb_pace_stopping ()) {
        double interval_end =
            load->start + (double) (index + 1) * config->seconds_per_sample;
        if (self.now >= interval_end) {
            int going = s_close_interval (load, &index, &self.base);
            if (going <= 0)
                return going;
            self.busy_secs = (double) self.base.busy / self.hz;
            continue;
        }
        double target = config->values[index % config->count] / S_PERCENT;
        if (config->mode == DLB_REPLAYER_OWN)
            s_slice_own (&self, target, interval_end);
        else if (s_slice_total (&self, target, interval_end) != 0)
            return -1;
    }
    return 0;
}

//  The load thread: pins itself, then runs the mode's slices until the trace
//  ends or a stop.
static void *s_load_thread (void *arg)
{
    s_load_t *load = arg;
    uint64_t spin_nsecs = 0;
    int rc = -1;
    cpu_set_t set;
    CPU_ZERO (&set);
    CPU_SET (load->cpu, &set);
    if (sched_setaffinity (0, sizeof set, &set) != 0)
        dlb_error ("CPU %d: cannot pin the load thread: %s", load->cpu, strerror (errno));
    else
        rc = s_load_run (load, &spin_nsecs);
    zsock_send (load->push, "s488888", "DONE", (uint32_t) load->cpu, spin_nsecs,
                (uint64_t) (rc != 0), (uint64_t) 0, (uint64_t) 0, (uint64_t) 0);
    return NULL;
}

//  Running sums behind the result's means.
typedef struct {
    double deviation;       //  points, over scored intervals
    double shortfall;       //  points, over scored intervals
    double others;          //  points, over scored intervals
    double quiet_deviation; //  points, over quiet intervals
} s_sums_t;

//  Writes a complete row to the report and the figures. Returns 0, or -1 if
//  the report cannot be written.
static int s_emit_row (const dlb_replayer_config_t *config, const s_row_t *row,
                       dlb_replayer_result_t *result, s_sums_t *sums)
{
    double target = config->values[row->index % config->count];
    double hz = (double) sysconf (_SC_CLK_TCK);
    //  The CPUs' busy %, and the part of it that was our load.
    double busy = row->total ? S_PERCENT * (double) row->busy / (double) row->total : 0;
    double ours;
    if (config->mode == DLB_REPLAYER_OWN)
        ours = S_PERCENT * (double) row->own_nsecs / S_NSECS_PER_SEC /
               ((double) row->reports * config->seconds_per_sample);
    else
        ours = row->total ? S_PERCENT * (double) row->spun_nsecs / S_NSECS_PER_SEC * hz /
                                (double) row->total
                          : 0;
    double achieved = config->mode == DLB_REPLAYER_OWN ? ours : busy;
    double deviation = fabs (achieved - target);
    result->intervals++;
    if (row->index > 0) {
        result->scored++;
        sums->deviation += deviation;
        sums->shortfall += fmax (target - achieved, 0);
        if (deviation > result->max_deviation)
            result->max_deviation = deviation;
        double others = fmax (busy - ours, 0);
        sums->others += others;
        if (others <= DLB_REPLAYER_QUIET_POINTS) {
            result->quiet++;
            sums->quiet_deviation += deviation;
            if (deviation > result->quiet_max_deviation)
                result->quiet_max_deviation = deviation;
        }
    }
    if (config->report) {
        fprintf (config->report, "%zu,%.2f,%.2f\n", row->index, target, achieved);
        if (fflush (config->report) != 0 || ferror (config->report)) {
            dlb_error ("cannot write the report: %s", strerror (errno));
            return -1;
        }
    }
    return 0;
}

//  Checks that the process may run on each CPU and /proc/stat shows it.
//  Returns 0, or -1 after logging which CPU is unusable.
static int s_check_cpus (const dlb_replayer_config_t *config)
{
    cpu_set_t allowed;
    if (sched_getaffinity (0, sizeof allowed, &allowed) != 0) {
        dlb_error ("cannot read this process's CPU affinity: %s", strerror (errno));
        return -1;
    }
    for (size_t index = 0; index < config->ncpus; index++) {
        int cpu = config->cpus[index];
        uint64_t busy, total;
        if (!CPU_ISSET (cpu, &allowed) ||
            dlb_sampler_cpu_jiffies (&cpu, 1, &busy, &total) != 0) {
            dlb_error ("CPU %d is offline, absent or not allowed for this process", cpu);
            return -1;
        }
    }
    return 0;
}

static double s_rusage_secs (void)
{
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    return (double) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           (double) (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

int dlb_replayer_run (const dlb_replayer_config_t *config, dlb_replayer_result_t *result)
{
    assert (config && result);
    assert (config->values && config->count > 0);
    assert (config->cpus && config->ncpus > 0);
    assert (config->seconds_per_sample > 0);
    memset (result, 0, sizeof *result);
    if (s_check_cpus (config) != 0)
        return -1;

    int rc = -1;
    size_t started = 0;
    s_row_t pending[DLB_REPLAYER_PENDING];
    memset (pending, 0, sizeof pending);
    s_sums_t sums = {0, 0, 0, 0};
    uint64_t spin_nsecs = 0;
    bool failed = false;
    s_load_t *loads = calloc (config->ncpus, sizeof *loads);
    //  A fresh endpoint per run: a closed one may linger while the last run's
    //  sockets are reaped.
    char endpoint[S_ENDPOINT_MAX];
    snprintf (endpoint, sizeof endpoint, "@" S_ENDPOINT "-%u",
              atomic_fetch_add (&s_runs, 1));
    zsock_t *pull = loads ? zsock_new_pull (endpoint) : NULL;
    endpoint[0] = '>';
    if (!loads || !pull || dlb_pace_init () != 0) {
        dlb_error ("cannot set up the report socket or the stop eventfd");
        goto cleanup;
    }
    double cpu_before = s_rusage_secs ();
    double wall_before = dlb_pace_now ();
    double start = config->start > 0
                       ? config->start
                       : wall_before + DLB_REPLAYER_START_MSECS / S_MSECS_PER_SEC;
    for (size_t index = 0; index < config->ncpus; index++) {
        loads[index].cpu = config->cpus[index];
        loads[index].config = config;
        loads[index].start = start;
        loads[index].push = zsock_new_push (endpoint);
        if (!loads[index].push) {
            dlb_error ("cannot set up a load thread's socket");
            goto cleanup;
        }
        //  The main thread waits on DONE messages, so a message must not be
        //  dropped when its sender closes before the read.
        zsock_set_linger (loads[index].push, DLB_REPLAYER_LINGER_MSECS);
    }
    //  The load threads start with every signal blocked; signals go to the
    //  main thread (whose handler calls dlb_pace_stop).
    sigset_t all, previous;
    sigfillset (&all);
    pthread_sigmask (SIG_BLOCK, &all, &previous);
    for (size_t index = 0; index < config->ncpus; index++) {
        if (pthread_create (&loads[index].thread, NULL, s_load_thread, &loads[index]) !=
            0) {
            dlb_error ("cannot start a load thread");
            failed = true;
            dlb_pace_stop ();
            break;
        }
        loads[index].started = true;
        started++;
    }
    pthread_sigmask (SIG_SETMASK, &previous, NULL);

    size_t done = 0;
    while (done < started) {
        char *kind = NULL;
        uint32_t cpu;
        uint64_t first, second, third, fourth, fifth;
        if (zsock_recv (pull, "s488888", &kind, &cpu, &first, &second, &third, &fourth,
                        &fifth) != 0) {
            free (kind);
            if (errno == EINTR)
                continue; //  a signal: the threads see the flag and finish
            dlb_error ("cannot read the load threads' reports");
            failed = true;
            dlb_pace_stop ();
            break;
        }
        if (streq (kind, "DONE")) {
            done++;
            spin_nsecs += first;
            if (second) {
                failed = true; //  logged by the thread; stop the others too
                dlb_pace_stop ();
            }
        }
        else if (streq (kind, "INTERVAL")) {
            s_row_t *row = &pending[first % DLB_REPLAYER_PENDING];
            if (row->reports && row->index != first) {
                dlb_warn ("interval %zu: a CPU fell %d intervals behind; reported "
                          "from %zu of %zu CPUs",
                          row->index, DLB_REPLAYER_PENDING, row->reports, config->ncpus);
                if (s_emit_row (config, row, result, &sums) != 0) {
                    failed = true;
                    dlb_pace_stop ();
                }
                memset (row, 0, sizeof *row);
            }
            row->index = first;
            row->reports++;
            row->busy += second;
            row->total += third;
            row->spun_nsecs += fourth;
            row->own_nsecs += fifth;
            if (row->reports == config->ncpus) {
                if (s_emit_row (config, row, result, &sums) != 0) {
                    failed = true;
                    dlb_pace_stop ();
                }
                memset (row, 0, sizeof *row);
            }
        }
        free (kind);
    }
    for (size_t index = 0; index < config->ncpus; index++)
        if (loads[index].started)
            pthread_join (loads[index].thread, NULL);
    //  Rows still pending belong to an interval cut short by the stop.
    result->wall_secs = dlb_pace_now () - wall_before;
    result->cpu_secs = s_rusage_secs () - cpu_before;
    result->load_secs = (double) spin_nsecs / S_NSECS_PER_SEC;
    if (result->wall_secs > 0)
        result->overhead =
            S_PERCENT * (result->cpu_secs - result->load_secs) / result->wall_secs;
    if (result->scored) {
        result->mean_deviation = sums.deviation / (double) result->scored;
        result->others = sums.others / (double) result->scored;
        result->shortfall = sums.shortfall / (double) result->scored;
    }
    if (result->quiet)
        result->quiet_mean_deviation = sums.quiet_deviation / (double) result->quiet;
    result->stopped = dlb_pace_stopping () && !failed;
    rc = failed ? -1 : 0;
cleanup:
    if (loads)
        for (size_t index = 0; index < config->ncpus; index++)
            zsock_destroy (&loads[index].push);
    free (loads);
    zsock_destroy (&pull);
    return rc;
}

int dlb_replayer_parse_cpus (const char *text, int *cpus, size_t size, int max_cpu)
{
    assert (text && cpus && max_cpu > 0 && max_cpu <= CPU_SETSIZE);
    //  Digits, and ',' or '-' each followed by a digit: dlb_config_cpus reads
    //  the numbers with strtol, which would also take spaces and signs.
    if (!isdigit ((unsigned char) *text))
        return -1;
    for (const char *p = text; *p; p++)
        if (!isdigit ((unsigned char) *p) &&
            ((*p != ',' && *p != '-') || !isdigit ((unsigned char) p[1])))
            return -1;
    cpu_set_t set;
    if (dlb_config_cpus (text, &set) <= 0)
        return -1;
    size_t count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET (cpu, &set)) {
            if (cpu >= max_cpu || count == size)
                return -1;
            cpus[count++] = cpu;
        }
    return (int) count;
}

//  --------------------------------------------------------------------------
//  Self-test

#define S_TEST_SECS         0.2 //  secs per sample: short, the figures are not checked
#define S_TEST_STOP_SECS    0.5 //  secs before the stop in the looping run
#define S_TEST_STOP_MAX     3.0 //  secs the looping run may take in all (busy machine)
#define S_TEST_SLACK_POINTS 5.0 //  points an own interval may exceed 100 (clock jitter)

static void *s_test_stopper (void *arg)
{
    (void) arg;
    struct timespec pause = {0, (long) (S_TEST_STOP_SECS * S_NSECS_PER_SEC)};
    nanosleep (&pause, NULL);
    dlb_pace_stop ();
    return NULL;
}

void dlb_replayer_test (bool verbose)
{
    int cpus[8];
    assert (dlb_replayer_parse_cpus ("0", cpus, 8, 4) == 1 && cpus[0] == 0);
    assert (dlb_replayer_parse_cpus ("3,1-2,1", cpus, 8, 4) == 3);
    assert (cpus[0] == 1 && cpus[1] == 2 && cpus[2] == 3);
    assert (dlb_replayer_parse_cpus ("0-3", cpus, 2, 4) == -1); //  too many
    assert (dlb_replayer_parse_cpus ("4", cpus, 8, 4) == -1);   //  no such CPU
    assert (dlb_replayer_parse_cpus ("2-1", cpus, 8, 4) == -1);
    assert (dlb_replayer_parse_cpus ("", cpus, 8, 4) == -1);
    assert (dlb_replayer_parse_cpus ("1,", cpus, 8, 4) == -1);
    assert (dlb_replayer_parse_cpus ("-1", cpus, 8, 4) == -1);
    assert (dlb_replayer_parse_cpus ("1x", cpus, 8, 4) == -1);

    //  A short run: every interval is reported, in order, and work was done.
    //  Fidelity is not asserted here (other tests may share the machine);
    //  tests/test_replay.sh and bench/replay-fidelity.sh measure it.
    const double values[] = {0, 50, 100, 20};
    int cpu0[] = {0};
    FILE *report = tmpfile ();
    assert (report);
    dlb_replayer_config_t config = {.values = values,
                                    .count = 4,
                                    .seconds_per_sample = S_TEST_SECS,
                                    .cpus = cpu0,
                                    .ncpus = 1,
                                    .report = report};
    //  Own mode's achieved figure comes from the thread's CPU clock, which
    //  may read a little over the interval.
    const dlb_replayer_mode_t modes[] = {DLB_REPLAYER_TOTAL, DLB_REPLAYER_OWN};
    const double most[] = {100, 100 + S_TEST_SLACK_POINTS};
    dlb_replayer_result_t result;
    for (size_t mode = 0; mode < 2; mode++) {
        config.mode = modes[mode];
        rewind (report);
        assert (dlb_replayer_run (&config, &result) == 0);
        assert (result.intervals == 4 && result.scored == 3 && !result.stopped);
        assert (result.load_secs > 0 && result.cpu_secs >= result.load_secs);
        assert (result.wall_secs >= 4 * S_TEST_SECS && result.shortfall >= 0);
        rewind (report);
        char line[64];
        for (size_t index = 0; index < 4; index++) {
            assert (fgets (line, sizeof line, report));
            size_t read_index;
            double target, achieved;
            assert (sscanf (line, "%zu,%lf,%lf", &read_index, &target, &achieved) == 3);
            assert (read_index == index && target == values[index]);
            assert (achieved >= 0 && achieved <= most[mode]);
        }
        if (verbose)
            printf ("\n   %s: mean %.2f max %.2f short %.2f overhead %.3f%% load %.3f s",
                    mode ? "own" : "total", result.mean_deviation, result.max_deviation,
                    result.shortfall, result.overhead, result.load_secs);
    }
    if (verbose)
        printf ("\n");
    fclose (report);
    config.report = NULL;

    //  An unusable CPU fails cleanly.
    int absent[] = {CPU_SETSIZE - 1};
    config.cpus = absent;
    assert (dlb_replayer_run (&config, &result) == -1);

    //  A looping run stops promptly when asked (last: the stop is for good).
    config.cpus = cpu0;
    config.loop = true;
    config.report = NULL;
    pthread_t stopper;
    assert (pthread_create (&stopper, NULL, s_test_stopper, NULL) == 0);
    double begin = dlb_pace_now ();
    assert (dlb_replayer_run (&config, &result) == 0);
    assert (result.stopped);
    assert (dlb_pace_now () - begin < S_TEST_STOP_MAX);
    pthread_join (stopper, NULL);
}
