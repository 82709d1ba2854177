/*  dlb_replayer: replays a CPU-utilisation trace on pinned CPUs.

    Design. Interval i (of seconds_per_sample T, on a fixed monotonic grid from
    the start, so nothing drifts) prescribes the target u = trace[i] % busy on
    every chosen CPU, as /proc/stat counts busy (dlb_sampler's rule). One load
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

        "INTERVAL" cpu index busy_jiffies total_jiffies spun_nsecs  (deltas)
        "DONE"     cpu spin_cpu_nsecs failed(0/1) 0 0

    Stop: dlb_replayer_stop (called from a signal handler, where no ZeroMQ
    call is safe) sets an atomic flag, which the threads poll between spin
    batches, and writes to an eventfd, on which they sleep (ppoll), so a
    sleep of a whole interval ends at once. These two are the only state the
    threads share; the main thread sums the CPUs of each interval into the
    report row.

    Overhead: process CPU time (getrusage) minus the CPU time spent spinning
    (CLOCK_THREAD_CPUTIME_ID around each spin), as % of one core's wall time:
    it counts the reads, wake-ups, messages and report writing.           */
#include "dlb_replayer.h"

#include "dlb_config.h"
#include "dlb_kernel.h"
#include "dlb_log.h"
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
#include <poll.h>
#include <sys/eventfd.h>
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

static atomic_bool s_stop = false;
static atomic_int s_stop_fd = -1; //  eventfd the load threads sleep on, or -1
static atomic_uint s_runs = 0;    //  names each run's endpoint

//  What a load thread needs; written by the main thread before the thread
//  starts and not touched by it again until after the join.
typedef struct {
    int cpu;
    const dlb_replayer_config_t *config;
    double start;  //  secs, monotonic: the start of interval 0
    int stop_fd;   //  readable once a stop is asked
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
} s_row_t;

static double s_mono (void)
{
    return (double) dlb_wall_ns () / S_NSECS_PER_SEC;
}

static bool s_stopping (void)
{
    return atomic_load_explicit (&s_stop, memory_order_relaxed);
}

//  Sleeps until the monotonic time `when` or a stop. Cannot fail.
static void s_sleep_until (double when, int stop_fd)
{
    struct pollfd item = {.fd = stop_fd, .events = POLLIN};
    double now;
    while (!s_stopping () && (now = s_mono ()) < when) {
        double wait = when - now;
        struct timespec timeout = {.tv_sec = (time_t) floor (wait),
                                   .tv_nsec =
                                       (long) ((wait - floor (wait)) * S_NSECS_PER_SEC)};
        if (ppoll (&item, 1, &timeout, NULL) > 0)
            break; //  stop asked
    }
}

//  Busy work until the monotonic time `until` or a stop: returns the wall
//  secs spun and adds the thread CPU time spent to *spin_nsecs.
static double s_spin_until (double until, uint64_t *state, uint64_t *spin_nsecs)
{
    volatile uint64_t sink; //  makes the arithmetic observable
    int64_t cpu_before = dlb_thread_cpu_ns ();
    double begin = s_mono (), now = begin;
    uint64_t x = *state;
    while (now < until && !s_stopping ()) {
        for (int round = 0; round < S_SPIN_BATCH; round++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        sink = x;
        now = s_mono ();
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

//  The load thread's work: pins itself, then runs the slices until the trace
//  ends or a stop. Returns 0, or -1 after logging why.
static int s_load_run (const s_load_t *load, uint64_t *spin_nsecs)
{
    const dlb_replayer_config_t *config = load->config;
    cpu_set_t set;
    CPU_ZERO (&set);
    CPU_SET (load->cpu, &set);
    if (sched_setaffinity (0, sizeof set, &set) != 0) {
        dlb_error ("CPU %d: cannot pin the load thread: %s", load->cpu, strerror (errno));
        return -1;
    }
    const double hz = (double) sysconf (_SC_CLK_TCK);
    const double length = config->seconds_per_sample;
    const double slice =
        fmin (config->slice_secs > 0 ? config->slice_secs
                                     : DLB_REPLAYER_SLICE_MSECS / S_MSECS_PER_SEC,
              length);
    uint64_t state = S_SPIN_SEED ^ (uint64_t) load->cpu;

    s_sleep_until (load->start, load->stop_fd);
    uint64_t busy, total, base_busy, base_total;
    if (dlb_sampler_cpu_jiffies (&load->cpu, 1, &busy, &total) != 0) {
        dlb_error ("CPU %d: cannot read /proc/stat", load->cpu);
        return -1;
    }
    base_busy = busy;
    base_total = total;
    double busy_secs = (double) busy / hz; //  the CPU's busy counter now, estimated
    double now = s_mono ();
    double others = 0;      //  fraction of our idle time others kept the CPU busy
    double others_busy = 0; //  secs, decayed
    double others_idle = 0; //  secs, decayed
    double spun = 0;        //  wall secs spun in this interval
    size_t index = 0;
    while (!s_stopping ()) {
        double interval_end = load->start + (double) (index + 1) * length;
        if (now >= interval_end) {
            if (dlb_sampler_cpu_jiffies (&load->cpu, 1, &busy, &total) != 0) {
                dlb_error ("CPU %d: cannot read /proc/stat", load->cpu);
                return -1;
            }
            zsock_send (load->push, "s48888", "INTERVAL", (uint32_t) load->cpu,
                        (uint64_t) index, busy - base_busy, total - base_total,
                        (uint64_t) (spun * S_NSECS_PER_SEC));
            base_busy = busy;
            base_total = total;
            busy_secs = (double) busy / hz;
            spun = 0;
            index++;
            if (!config->loop && index >= config->count)
                break;
            continue;
        }
        //  Plan this slice (see the file header).
        double target = config->values[index % config->count] / S_PERCENT;
        double remaining = interval_end - now;
        double need = target * length - (busy_secs - (double) base_busy / hz);
        double interval_start = interval_end - length;
        double slice_end =
            interval_start + (floor ((now - interval_start) / slice) + 1) * slice;
        if (slice_end > interval_end - slice / 2 || need <= 0)
            slice_end = interval_end; //  no sliver of a slice; or nothing left to do
        double spin = 0;
        if (need > 0) {
            double work =
                s_clamp ((need - others * remaining) / (1 - others), 0, remaining);
            spin = work * (slice_end - now) / remaining;
        }
        //  Idle first; on waking, learn what others did meanwhile and correct.
        double idle_from = now;
        if (slice_end - spin - now >= S_MIN_SLEEP) {
            s_sleep_until (slice_end - spin, load->stop_fd);
            if (s_stopping ())
                break;
            if (dlb_sampler_cpu_jiffies (&load->cpu, 1, &busy, &total) != 0) {
                dlb_error ("CPU %d: cannot read /proc/stat", load->cpu);
                return -1;
            }
            now = s_mono ();
            double idle = now - idle_from;
            double foreign = (double) busy / hz - busy_secs;
            busy_secs = (double) busy / hz;
            spin -= foreign - others * idle; //  others' surprise
            double decay = exp (-idle / DLB_REPLAYER_OTHERS_TAU_SECS);
            others_busy = others_busy * decay + foreign;
            others_idle = others_idle * decay + idle;
            if (others_idle > S_OTHERS_MIN_IDLE)
                others = s_clamp (others_busy / others_idle, 0, DLB_REPLAYER_OTHERS_MAX);
            spin = s_clamp (spin, 0, slice_end - now);
        }
        if (spin > 0) {
            double spun_now = s_spin_until (now + spin, &state, spin_nsecs);
            busy_secs += spun_now;
            spun += spun_now;
            now = s_mono ();
        }
        else if (now < slice_end && slice_end == interval_end) {
            //  Nothing to spin and the interval ends with this slice.
            s_sleep_until (interval_end, load->stop_fd);
            now = s_mono ();
        }
    }
    return 0;
}

static void *s_load_thread (void *arg)
{
    s_load_t *load = arg;
    uint64_t spin_nsecs = 0;
    int rc = s_load_run (load, &spin_nsecs);
    zsock_send (load->push, "s48888", "DONE", (uint32_t) load->cpu, spin_nsecs,
                (uint64_t) (rc != 0), (uint64_t) 0, (uint64_t) 0);
    return NULL;
}

//  Running sums behind the result's means.
typedef struct {
    double deviation;       //  points, over scored intervals
    double others;          //  points, over scored intervals
    double quiet_deviation; //  points, over quiet intervals
} s_sums_t;

//  Writes a complete row to the report and the figures. Returns 0, or -1 if
//  the report cannot be written.
static int s_emit_row (const dlb_replayer_config_t *config, const s_row_t *row,
                       dlb_replayer_result_t *result, s_sums_t *sums)
{
    double target = config->values[row->index % config->count];
    double achieved =
        row->total ? S_PERCENT * (double) row->busy / (double) row->total : 0;
    double deviation = fabs (achieved - target);
    result->intervals++;
    if (row->index > 0) {
        result->scored++;
        sums->deviation += deviation;
        if (deviation > result->max_deviation)
            result->max_deviation = deviation;
        double hz = (double) sysconf (_SC_CLK_TCK);
        double own = row->total ? S_PERCENT * (double) row->spun_nsecs / S_NSECS_PER_SEC *
                                      hz / (double) row->total
                                : 0;
        double others = fmax (achieved - own, 0);
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
    int stop_fd = -1;
    size_t started = 0;
    s_row_t pending[DLB_REPLAYER_PENDING];
    memset (pending, 0, sizeof pending);
    s_sums_t sums = {0, 0, 0};
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
    stop_fd = eventfd (0, EFD_CLOEXEC);
    if (!loads || !pull || stop_fd < 0) {
        dlb_error ("cannot set up the report socket or the stop eventfd");
        goto cleanup;
    }
    atomic_store (&s_stop_fd, stop_fd);
    double cpu_before = s_rusage_secs ();
    double wall_before = s_mono ();
    double start = wall_before + DLB_REPLAYER_START_MSECS / S_MSECS_PER_SEC;
    for (size_t index = 0; index < config->ncpus; index++) {
        loads[index].cpu = config->cpus[index];
        loads[index].config = config;
        loads[index].start = start;
        loads[index].stop_fd = stop_fd;
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
    //  main thread (whose handler calls dlb_replayer_stop).
    sigset_t all, previous;
    sigfillset (&all);
    pthread_sigmask (SIG_BLOCK, &all, &previous);
    for (size_t index = 0; index < config->ncpus; index++) {
        if (pthread_create (&loads[index].thread, NULL, s_load_thread, &loads[index]) !=
            0) {
            dlb_error ("cannot start a load thread");
            failed = true;
            dlb_replayer_stop ();
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
        uint64_t first, second, third, fourth;
        if (zsock_recv (pull, "s48888", &kind, &cpu, &first, &second, &third, &fourth) !=
            0) {
            free (kind);
            if (errno == EINTR)
                continue; //  a signal: the threads see the flag and finish
            dlb_error ("cannot read the load threads' reports");
            failed = true;
            dlb_replayer_stop ();
            break;
        }
        if (streq (kind, "DONE")) {
            done++;
            spin_nsecs += first;
            if (second) {
                failed = true; //  logged by the thread; stop the others too
                dlb_replayer_stop ();
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
                    dlb_replayer_stop ();
                }
                memset (row, 0, sizeof *row);
            }
            row->index = first;
            row->reports++;
            row->busy += second;
            row->total += third;
            row->spun_nsecs += fourth;
            if (row->reports == config->ncpus) {
                if (s_emit_row (config, row, result, &sums) != 0) {
                    failed = true;
                    dlb_replayer_stop ();
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
    result->wall_secs = s_mono () - wall_before;
    result->cpu_secs = s_rusage_secs () - cpu_before;
    result->load_secs = (double) spin_nsecs / S_NSECS_PER_SEC;
    if (result->wall_secs > 0)
        result->overhead =
            S_PERCENT * (result->cpu_secs - result->load_secs) / result->wall_secs;
    if (result->scored) {
        result->mean_deviation = sums.deviation / (double) result->scored;
        result->others = sums.others / (double) result->scored;
    }
    if (result->quiet)
        result->quiet_mean_deviation = sums.quiet_deviation / (double) result->quiet;
    result->stopped = atomic_load (&s_stop) && !failed;
    rc = failed ? -1 : 0;
cleanup:
    if (loads)
        for (size_t index = 0; index < config->ncpus; index++)
            zsock_destroy (&loads[index].push);
    free (loads);
    zsock_destroy (&pull);
    atomic_store (&s_stop_fd, -1);
    if (stop_fd >= 0)
        close (stop_fd);
    return rc;
}

void dlb_replayer_stop (void)
{
    int saved_errno = errno; //  may run in a signal handler
    atomic_store (&s_stop, true);
    int stop_fd = atomic_load (&s_stop_fd);
    uint64_t one = 1;
    if (stop_fd >= 0 && write (stop_fd, &one, sizeof one) < 0) {
        //  Only fails when the counter is full: readable already.
    }
    errno = saved_errno;
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

#define S_TEST_SECS      0.2 //  secs per sample: short, the figures are not checked
#define S_TEST_STOP_SECS 0.5 //  secs before the stop in the looping run
#define S_TEST_STOP_MAX  3.0 //  secs the looping run may take in all (busy machine)

static void *s_test_stopper (void *arg)
{
    (void) arg;
    struct timespec pause = {0, (long) (S_TEST_STOP_SECS * S_NSECS_PER_SEC)};
    nanosleep (&pause, NULL);
    dlb_replayer_stop ();
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
    dlb_replayer_result_t result;
    assert (dlb_replayer_run (&config, &result) == 0);
    assert (result.intervals == 4 && result.scored == 3 && !result.stopped);
    assert (result.load_secs > 0 && result.cpu_secs >= result.load_secs);
    assert (result.wall_secs >= 4 * S_TEST_SECS);
    rewind (report);
    char line[64];
    for (size_t index = 0; index < 4; index++) {
        assert (fgets (line, sizeof line, report));
        size_t read_index;
        double target, achieved;
        assert (sscanf (line, "%zu,%lf,%lf", &read_index, &target, &achieved) == 3);
        assert (read_index == index && target == values[index]);
        assert (achieved >= 0 && achieved <= 100);
    }
    fclose (report);
    if (verbose)
        printf ("\n   mean %.2f max %.2f overhead %.3f%% load %.3f s\n",
                result.mean_deviation, result.max_deviation, result.overhead,
                result.load_secs);

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
    double begin = s_mono ();
    assert (dlb_replayer_run (&config, &result) == 0);
    assert (result.stopped);
    assert (s_mono () - begin < S_TEST_STOP_MAX);
    pthread_join (stopper, NULL);
}
