/*  dlb_sampler: machine load (CPU, run queue, disk, network) from /proc, with a
    bounded history. The counting rules are in dlb_sampler.h.

    State: the counters of the previous successful reading (the baseline) and a
    ring of the last history_capacity samples. A sample is the difference of
    the current reading and the baseline over the monotonic time between them;
    a successful sample replaces the baseline, a failed one leaves it alone.  */
#include "dlb_sampler.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_LINE_MAX      1024 //  bytes; longest /proc line we parse (cpu, disk, iface)
#define S_NAME_MAX      64   //  bytes; device and interface names
#define S_DISKS_KNOWN   64   //  devices whose sysfs verdict is kept
#define S_PATH_MAX      512  //  bytes; paths under the proc and sysfs roots
#define S_NSECS_PER_SEC 1e9
#define S_PERCENT       100.0

//  One reading of every counter; samples are differences of two readings.
typedef struct {
    double mono;                              //  secs, monotonic clock
    uint64_t busy;                            //  jiffies, all CPUs
    uint64_t total;                           //  jiffies, all CPUs
    int ncpu;                                 //  highest CPU number seen + 1, capped
    uint64_t cpu_busy[DLB_SAMPLER_MAX_CPUS];  //  jiffies
    uint64_t cpu_total[DLB_SAMPLER_MAX_CPUS]; //  jiffies
    bool cpu_online[DLB_SAMPLER_MAX_CPUS];
    double runq;
    double load1;
    uint64_t disk_read;    //  bytes
    uint64_t disk_written; //  bytes
    uint64_t net_in;       //  bytes
    uint64_t net_out;      //  bytes
} s_counters_t;

struct _dlb_sampler_t {
    char proc_root[S_PATH_MAX];      //  normally /proc; a fake tree in the self-test
    char sys_block_root[S_PATH_MAX]; //  normally /sys/block
    s_counters_t baseline;           //  previous successful reading
    //  Which devices of diskstats are whole disks: each is looked up in
    //  sysfs once, not at every reading (a stat per device, 2 a second).
    char disk_names[S_DISKS_KNOWN][S_NAME_MAX];
    bool disk_counts[S_DISKS_KNOWN];
    size_t disks_known;
    dlb_sample_t *ring; //  history_capacity samples, allocated once
    size_t capacity;
    size_t next;  //  ring slot the next sample goes to
    size_t count; //  samples held, <= capacity
};

static double s_clock_secs (clockid_t clock)
{
    struct timespec ts;
    clock_gettime (clock, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / S_NSECS_PER_SEC;
}

//  Opens ROOT/NAME with fopen's mode. Returns the file, or NULL.
static FILE *s_open (const char *root, const char *name, const char *mode)
{
    char path[S_PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", root, name);
    return fopen (path, mode);
}

//  Parses one "cpu..." line of /proc/stat. Returns 0 and the CPU number (-1
//  for the aggregate line) with its busy and total jiffies, or -1 if the line
//  is not a CPU line or is malformed.
static int s_parse_cpu_line (const char *line, int *cpu, uint64_t *busy, uint64_t *total)
{
    if (strncmp (line, "cpu", 3) != 0)
        return -1;
    const char *cursor = line + 3;
    if (*cursor == ' ')
        *cpu = -1;
    else {
        if (!isdigit ((unsigned char) *cursor))
            return -1;
        char *end;
        errno = 0;
        long number = strtol (cursor, &end, 10);
        if (errno || number < 0 || number > INT_MAX || *end != ' ')
            return -1;
        *cpu = (int) number;
        cursor = end;
    }
    //  user nice system idle iowait irq softirq steal [guest guest_nice]
    uint64_t field[8];
    int fields = sscanf (cursor,
                         " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                         " %" SCNu64 " %" SCNu64 " %" SCNu64,
                         &field[0], &field[1], &field[2], &field[3], &field[4], &field[5],
                         &field[6], &field[7]);
    if (fields < 4)
        return -1;
    for (int index = fields; index < 8; index++)
        field[index] = 0; //  very old kernels have fewer fields
    *busy = field[0] + field[1] + field[2] + field[5] + field[6] + field[7];
    *total = *busy + field[3] + field[4];
    return 0;
}

//  Reads the CPU lines of PROC_ROOT/stat into counters. Returns 0, or -1 if
//  the file cannot be read or has no aggregate cpu line.
static int s_read_stat (const char *proc_root, s_counters_t *counters)
{
    FILE *file = s_open (proc_root, "stat", "r");
    if (!file)
        return -1;
    bool have_total = false;
    counters->ncpu = 0;
    memset (counters->cpu_online, 0, sizeof counters->cpu_online);
    char line[S_LINE_MAX];
    while (fgets (line, sizeof line, file)) {
        int cpu;
        uint64_t busy, total;
        if (s_parse_cpu_line (line, &cpu, &busy, &total) != 0)
            break; //  the CPU lines come first
        if (cpu < 0) {
            counters->busy = busy;
            counters->total = total;
            have_total = true;
        }
        else if (cpu < DLB_SAMPLER_MAX_CPUS) {
            counters->cpu_busy[cpu] = busy;
            counters->cpu_total[cpu] = total;
            counters->cpu_online[cpu] = true;
            if (cpu + 1 > counters->ncpu)
                counters->ncpu = cpu + 1;
        }
    }
    fclose (file);
    return have_total ? 0 : -1;
}

//  Reads run queue and load1 from PROC_ROOT/loadavg. Returns 0, or -1 if the
//  file cannot be read or parsed.
static int s_read_loadavg (const char *proc_root, s_counters_t *counters)
{
    FILE *file = s_open (proc_root, "loadavg", "r");
    if (!file)
        return -1;
    double load1, load5, load15;
    unsigned long running, tasks;
    int fields =
        fscanf (file, "%lf %lf %lf %lu/%lu", &load1, &load5, &load15, &running, &tasks);
    fclose (file);
    if (fields != 5 || !isfinite (load1) || load1 < 0)
        return -1;
    counters->load1 = load1;
    counters->runq = (double) running;
    return 0;
}

//  One /proc/diskstats device.
typedef struct {
    char name[S_NAME_MAX];
    uint64_t sectors_read;
    uint64_t sectors_written;
} s_disk_t;

//  True if name is one of the virtual block devices that the fallback rule
//  skips by name.
static bool s_disk_is_virtual (const char *name)
{
    static const char *prefixes[] = {"loop", "ram", "zram", "dm-", "md"};
    for (size_t index = 0; index < sizeof prefixes / sizeof prefixes[0]; index++)
        if (strncmp (name, prefixes[index], strlen (prefixes[index])) == 0)
            return true;
    return false;
}

//  True if name is parent's name followed by an optional 'p' and digits.
static bool s_disk_is_partition_of (const char *name, const char *parent)
{
    size_t length = strlen (parent);
    if (strncmp (name, parent, length) != 0 || name[length] == 0)
        return false;
    const char *rest = name + length;
    if (*rest == 'p')
        rest++;
    if (*rest == 0)
        return false;
    for (; *rest; rest++)
        if (!isdigit ((unsigned char) *rest))
            return false;
    return true;
}

//  True if the device counts as a whole disk by the sysfs rule.
static bool s_disk_counts_sysfs (const char *sys_block_root, const char *name)
{
    char sysname[S_NAME_MAX];
    snprintf (sysname, sizeof sysname, "%s", name);
    for (char *slash = strchr (sysname, '/'); slash; slash = strchr (slash, '/'))
        *slash = '!'; //  sysfs spells cciss/c0d0 as cciss!c0d0
    char path[S_PATH_MAX];
    snprintf (path, sizeof path, "%s/%s/device", sys_block_root, sysname);
    struct stat info;
    return stat (path, &info) == 0;
}

//  Whether the device counts as a whole disk by the sysfs rule, from the
//  sampler's memory or, the first time, from sysfs.
static bool s_disk_counts_known (dlb_sampler_t *self, const char *name)
{
    for (size_t index = 0; index < self->disks_known; index++)
        if (strcmp (self->disk_names[index], name) == 0)
            return self->disk_counts[index];
    bool counts = s_disk_counts_sysfs (self->sys_block_root, name);
    if (self->disks_known < S_DISKS_KNOWN) {
        snprintf (self->disk_names[self->disks_known], S_NAME_MAX, "%s", name);
        self->disk_counts[self->disks_known++] = counts;
    }
    return counts;
}

//  Reads PROC_ROOT/diskstats and sums bytes over whole disks. Returns 0, or -1
//  if the file cannot be read or a line is malformed, or memory runs out.
static int s_read_diskstats (dlb_sampler_t *self, s_counters_t *counters)
{
    const char *sys_block_root = self->sys_block_root;
    FILE *file = s_open (self->proc_root, "diskstats", "r");
    if (!file)
        return -1;
    int rc = -1;
    s_disk_t *disks = NULL;
    size_t count = 0, allocated = 0;
    char line[S_LINE_MAX];
    while (fgets (line, sizeof line, file)) {
        if (count == allocated) {
            size_t grown = allocated ? allocated * 2 : 16;
            s_disk_t *bigger = realloc (disks, grown * sizeof *disks);
            if (!bigger)
                goto cleanup;
            disks = bigger;
            allocated = grown;
        }
        s_disk_t *disk = &disks[count];
        //  major minor name reads merged SECTORS ms writes merged SECTORS ...
        if (sscanf (line, "%*u %*u %63s %*u %*u %" SCNu64 " %*u %*u %*u %" SCNu64,
                    disk->name, &disk->sectors_read, &disk->sectors_written) != 3)
            goto cleanup;
        count++;
    }
    struct stat info;
    bool use_sysfs = stat (sys_block_root, &info) == 0 && S_ISDIR (info.st_mode);
    counters->disk_read = counters->disk_written = 0;
    for (size_t index = 0; index < count; index++) {
        bool counts;
        if (use_sysfs)
            counts = s_disk_counts_known (self, disks[index].name);
        else {
            counts = !s_disk_is_virtual (disks[index].name);
            for (size_t other = 0; counts && other < count; other++)
                if (other != index &&
                    s_disk_is_partition_of (disks[index].name, disks[other].name))
                    counts = false;
        }
        if (counts) {
            counters->disk_read += disks[index].sectors_read * DLB_SAMPLER_SECTOR_BYTES;
            counters->disk_written +=
                disks[index].sectors_written * DLB_SAMPLER_SECTOR_BYTES;
        }
    }
    rc = 0;
cleanup:
    free (disks);
    fclose (file);
    return rc;
}

//  Reads PROC_ROOT/net/dev and sums bytes over every interface but lo.
//  Returns 0, or -1 if the file cannot be read or a line is malformed.
static int s_read_net_dev (const char *proc_root, s_counters_t *counters)
{
    FILE *file = s_open (proc_root, "net/dev", "r");
    if (!file)
        return -1;
    int rc = 0;
    counters->net_in = counters->net_out = 0;
    char line[S_LINE_MAX];
    while (fgets (line, sizeof line, file)) {
        char *colon = strchr (line, ':');
        if (!colon) {
            if (strchr (line, '|'))
                continue; //  one of the two header lines
            rc = -1;
            break;
        }
        *colon = 0;
        char *name = line;
        while (isspace ((unsigned char) *name))
            name++;
        //  rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes
        uint64_t received, transmitted;
        if (sscanf (colon + 1, "%" SCNu64 " %*u %*u %*u %*u %*u %*u %*u %" SCNu64,
                    &received, &transmitted) != 2) {
            rc = -1;
            break;
        }
        if (strcmp (name, "lo") != 0) {
            counters->net_in += received;
            counters->net_out += transmitted;
        }
    }
    fclose (file);
    return rc;
}

//  Takes one full reading. Returns 0, or -1 if any file fails.
static int s_read_counters (dlb_sampler_t *self, s_counters_t *counters)
{
    counters->mono = s_clock_secs (CLOCK_MONOTONIC);
    if (s_read_stat (self->proc_root, counters) ||
        s_read_loadavg (self->proc_root, counters) || s_read_diskstats (self, counters) ||
        s_read_net_dev (self->proc_root, counters))
        return -1;
    return 0;
}

//  Percentage of busy over total jiffies between two readings; 0 when no
//  time passed or a counter went backwards.
static double s_busy_percent (uint64_t busy0, uint64_t total0, uint64_t busy1,
                              uint64_t total1)
{
    if (total1 <= total0 || busy1 < busy0)
        return 0;
    double percent = S_PERCENT * (double) (busy1 - busy0) / (double) (total1 - total0);
    return percent > S_PERCENT ? S_PERCENT : percent;
}

//  Bytes per second between two counter values; 0 when the counter went down.
static double s_rate (uint64_t before, uint64_t after, double secs)
{
    if (after < before || secs <= 0)
        return 0;
    return (double) (after - before) / secs;
}

//  Creates a sampler reading from the given roots (the self-test uses fake
//  ones). Returns NULL on failure, as dlb_sampler_new.
static dlb_sampler_t *s_sampler_new_at (const char *proc_root, const char *sys_block_root,
                                        size_t history_capacity)
{
    dlb_sampler_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->proc_root, sizeof self->proc_root, "%s", proc_root);
    snprintf (self->sys_block_root, sizeof self->sys_block_root, "%s", sys_block_root);
    self->capacity = history_capacity;
    if (history_capacity) {
        self->ring = calloc (history_capacity, sizeof *self->ring);
        if (!self->ring) {
            free (self);
            return NULL;
        }
    }
    if (s_read_counters (self, &self->baseline) != 0) {
        free (self->ring);
        free (self);
        return NULL;
    }
    return self;
}

dlb_sampler_t *dlb_sampler_new (size_t history_capacity)
{
    return s_sampler_new_at (DLB_SAMPLER_PROC_ROOT, DLB_SAMPLER_SYS_BLOCK_ROOT,
                             history_capacity);
}

void dlb_sampler_destroy (dlb_sampler_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->ring);
        free (*self_p);
        *self_p = NULL;
    }
}

int dlb_sampler_sample (dlb_sampler_t *self, dlb_sample_t *sample)
{
    assert (self);
    assert (sample);
    s_counters_t now;
    if (s_read_counters (self, &now) != 0)
        return -1;
    const s_counters_t *then = &self->baseline;
    double secs = now.mono - then->mono;

    dlb_sample_t result;
    memset (&result, 0, sizeof result);
    result.timestamp = s_clock_secs (CLOCK_REALTIME);
    result.cpu_total = s_busy_percent (then->busy, then->total, now.busy, now.total);
    result.ncpu = now.ncpu;
    for (int cpu = 0; cpu < now.ncpu; cpu++)
        if (now.cpu_online[cpu] && then->cpu_online[cpu])
            result.cpu[cpu] = s_busy_percent (then->cpu_busy[cpu], then->cpu_total[cpu],
                                              now.cpu_busy[cpu], now.cpu_total[cpu]);
    result.runq = now.runq;
    result.load1 = now.load1;
    result.disk_read_bps = s_rate (then->disk_read, now.disk_read, secs);
    result.disk_write_bps = s_rate (then->disk_written, now.disk_written, secs);
    result.net_in_bps = s_rate (then->net_in, now.net_in, secs);
    result.net_out_bps = s_rate (then->net_out, now.net_out, secs);

    self->baseline = now;
    if (self->capacity) {
        self->ring[self->next] = result;
        self->next = (self->next + 1) % self->capacity;
        if (self->count < self->capacity)
            self->count++;
    }
    *sample = result;
    return 0;
}

int dlb_sampler_last_jiffies (dlb_sampler_t *self, const int *cpus, size_t count,
                              uint64_t *busy, uint64_t *total)
{
    assert (self);
    assert (cpus || count == 0);
    uint64_t busy_sum = 0, total_sum = 0;
    for (size_t index = 0; index < count; index++) {
        int cpu = cpus[index];
        if (cpu < 0 || cpu >= DLB_SAMPLER_MAX_CPUS || !self->baseline.cpu_online[cpu])
            return -1;
        busy_sum += self->baseline.cpu_busy[cpu];
        total_sum += self->baseline.cpu_total[cpu];
    }
    *busy = busy_sum;
    *total = total_sum;
    return 0;
}

size_t dlb_sampler_history (dlb_sampler_t *self, dlb_sample_t *out, size_t max)
{
    assert (self);
    assert (out || max == 0);
    size_t copied = max < self->count ? max : self->count;
    //  The oldest of the newest `copied` samples sits `copied` slots before next.
    size_t slot =
        (self->next + self->capacity - copied) % (self->capacity ? self->capacity : 1);
    for (size_t index = 0; index < copied; index++) {
        out[index] = self->ring[slot];
        slot = (slot + 1) % self->capacity;
    }
    return copied;
}

//  As dlb_sampler_cpu_jiffies, reading PROC_ROOT/stat.
static int s_cpu_jiffies_at (const char *proc_root, const int *cpus, size_t count,
                             uint64_t *busy, uint64_t *total)
{
    FILE *file = s_open (proc_root, "stat", "r");
    if (!file)
        return -1;
    uint64_t busy_sum = 0, total_sum = 0;
    size_t found = 0;
    char line[S_LINE_MAX];
    while (found < count && fgets (line, sizeof line, file)) {
        int cpu;
        uint64_t cpu_busy, cpu_total;
        if (s_parse_cpu_line (line, &cpu, &cpu_busy, &cpu_total) != 0)
            break;
        for (size_t index = 0; index < count; index++)
            if (cpus[index] == cpu) {
                busy_sum += cpu_busy;
                total_sum += cpu_total;
                found++;
            }
    }
    fclose (file);
    if (found != count)
        return -1;
    *busy = busy_sum;
    *total = total_sum;
    return 0;
}

int dlb_sampler_cpu_jiffies (const int *cpus, size_t count, uint64_t *busy,
                             uint64_t *total)
{
    assert (cpus || count == 0);
    assert (busy && total);
    return s_cpu_jiffies_at (DLB_SAMPLER_PROC_ROOT, cpus, count, busy, total);
}

int dlb_sampler_process_ticks (int pid, const char *comm, uint64_t *ticks)
{
    char name[32], line[S_LINE_MAX];
    snprintf (name, sizeof name, "%d/stat", pid);
    FILE *file = s_open (DLB_SAMPLER_PROC_ROOT, name, "r");
    if (!file)
        return -1;
    bool read = fgets (line, sizeof line, file) != NULL;
    fclose (file);
    //  "PID (COMM) STATE ..." where COMM may hold spaces and parentheses:
    //  the fields after the last ')' are 3, 4, ..., so utime is the 12th.
    const char *rest = read ? strrchr (line, ')') : NULL;
    const char *open = read ? strchr (line, '(') : NULL;
    if (comm && rest && open &&
        ((size_t) (rest - open - 1) != strlen (comm) ||
         strncmp (open + 1, comm, strlen (comm)) != 0))
        return -1; //  another process holds that PID here
    unsigned long long utime, stime;
    if (!rest ||
        sscanf (rest + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                &utime, &stime) != 2)
        return -1;
    *ticks = utime + stime;
    return 0;
}

//  --------------------------------------------------------------------------
//  Self-test

#define S_TEST_PAUSE_MSECS 100 //  between two fake readings
#define S_TEST_EPSILON     1e-9

//  Writes text to ROOT/NAME, creating the file. Asserts on failure: the
//  self-test owns its temporary directory.
static void s_test_write (const char *root, const char *name, const char *text)
{
    FILE *file = s_open (root, name, "w");
    assert (file);
    fputs (text, file);
    fclose (file);
}

static void s_test_fake_proc (const char *proc, int step)
{
    //  Step 1 adds: cpu0 30 busy 70 idle, cpu1 100 busy; vda 1000 sectors read
    //  and 2000 written; vda1 and loop0 large amounts (must not count); eth0
    //  1000 bytes in and 4000 out; lo a lot (must not count).
    if (step == 0) {
        s_test_write (proc, "stat",
                      "cpu  100 0 100 800 0 0 0 0 0 0\n"
                      "cpu0 50 0 50 400 0 0 0 0 0 0\n"
                      "cpu1 50 0 50 400 0 0 0 0 0 0\n"
                      "intr 1 2 3\nctxt 5\n");
        s_test_write (proc, "loadavg", "0.10 0.20 0.30 1/100 1234\n");
        s_test_write (proc, "diskstats",
                      "   8       0 vda 10 0 100 0 10 0 100 0 0 0 0\n"
                      "   8       1 vda1 10 0 100 0 10 0 100 0 0 0 0\n"
                      "   7       0 loop0 10 0 100 0 10 0 100 0 0 0 0\n");
        s_test_write (proc, "net/dev",
                      "Inter-|   Receive |  Transmit\n"
                      " face |bytes packets|bytes packets\n"
                      "    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n"
                      "  eth0: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n");
    }
    else {
        s_test_write (proc, "stat",
                      "cpu  210 0 120 870 0 5 5 0 0 0\n"
                      "cpu0 70 0 60 470 0 0 0 0 0 0\n"
                      "cpu1 140 0 60 400 0 5 5 0 7 0\n"
                      "intr 1 2 3\nctxt 5\n");
        s_test_write (proc, "loadavg", "0.50 0.40 0.30 3/101 1240\n");
        s_test_write (proc, "diskstats",
                      "   8       0 vda 20 0 1100 0 20 0 2100 0 0 0 0\n"
                      "   8       1 vda1 20 0 90100 0 20 0 90100 0 0 0 0\n"
                      "   7       0 loop0 20 0 90100 0 20 0 90100 0 0 0 0\n");
        s_test_write (proc, "net/dev",
                      "Inter-|   Receive |  Transmit\n"
                      " face |bytes packets|bytes packets\n"
                      "    lo: 900100 1 0 0 0 0 0 0 900100 1 0 0 0 0 0 0\n"
                      "  eth0:1100 1 0 0 0 0 0 0 4100 1 0 0 0 0 0 0\n");
    }
}

//  Takes the two fake readings with the given sysfs root and checks the rates.
static void s_test_fake (const char *root, const char *sys_block_root)
{
    char proc[S_PATH_MAX];
    snprintf (proc, sizeof proc, "%s/proc", root);
    s_test_fake_proc (proc, 0);
    double before = s_clock_secs (CLOCK_MONOTONIC);
    dlb_sampler_t *sampler = s_sampler_new_at (proc, sys_block_root, 2);
    assert (sampler);
    s_test_fake_proc (proc, 1);
    struct timespec pause = {0, S_TEST_PAUSE_MSECS * 1000000L};
    nanosleep (&pause, NULL);
    dlb_sample_t sample;
    assert (dlb_sampler_sample (sampler, &sample) == 0);
    double after = s_clock_secs (CLOCK_MONOTONIC);
    double shortest = S_TEST_PAUSE_MSECS / 1000.0, longest = after - before;

    assert (sample.ncpu == 2);
    //  cpu0: 30 of 100; cpu1: 110 of 110 (guest 7 is inside user, not added);
    //  all: 140 of 210
    assert (fabs (sample.cpu[0] - 30) < S_TEST_EPSILON);
    assert (fabs (sample.cpu[1] - 100) < S_TEST_EPSILON);
    assert (fabs (sample.cpu_total - 100.0 * 140 / 210) < S_TEST_EPSILON);
    assert (sample.runq == 3);
    assert (fabs (sample.load1 - 0.5) < S_TEST_EPSILON);
    //  Only vda counts: 1000 sectors read, 2000 written.
    assert (sample.disk_read_bps <= 1000 * 512 / shortest + S_TEST_EPSILON);
    assert (sample.disk_read_bps >= 1000 * 512 / longest - S_TEST_EPSILON);
    assert (sample.disk_write_bps <= 2000 * 512 / shortest + S_TEST_EPSILON);
    assert (sample.disk_write_bps >= 2000 * 512 / longest - S_TEST_EPSILON);
    assert (fabs (sample.disk_write_bps - 2 * sample.disk_read_bps) < 1e-6);
    //  Only eth0 counts: 1000 in, 4000 out.
    assert (sample.net_in_bps <= 1000 / shortest + S_TEST_EPSILON);
    assert (sample.net_in_bps >= 1000 / longest - S_TEST_EPSILON);
    assert (fabs (sample.net_out_bps - 4 * sample.net_in_bps) < 1e-6);
    assert (sample.timestamp > 0);

    //  Counters going backwards (a disk removed) give 0, not a huge rate; a CPU
    //  that went offline reads 0.
    s_test_write (proc, "diskstats", "   8       1 vda1 1 0 1 0 1 0 1 0 0 0 0\n");
    s_test_write (proc, "stat",
                  "cpu  310 0 120 870 0 5 5 0 0 0\n"
                  "cpu1 240 0 60 400 0 5 5 0 7 0\n");
    assert (dlb_sampler_sample (sampler, &sample) == 0);
    assert (sample.disk_read_bps == 0 && sample.disk_write_bps == 0);
    assert (sample.ncpu == 2);
    assert (sample.cpu[0] == 0);
    assert (fabs (sample.cpu[1] - 100) < S_TEST_EPSILON);

    //  A malformed file fails the sample and leaves the baseline alone.
    s_test_write (proc, "loadavg", "garbage\n");
    assert (dlb_sampler_sample (sampler, &sample) == -1);
    s_test_write (proc, "loadavg", "0.50 0.40 0.30 3/101 1240\n");
    assert (dlb_sampler_sample (sampler, &sample) == 0);
    assert (sample.cpu_total == 0); //  same stat file: no time passed

    //  The helper sums the requested CPUs and fails on an absent one.
    s_test_fake_proc (proc, 1);
    uint64_t busy = 0, total = 0;
    int both[] = {0, 1}, absent[] = {0, 7};
    assert (s_cpu_jiffies_at (proc, both, 2, &busy, &total) == 0);
    assert (busy == 130 + 210 && total == 600 + 610);
    assert (s_cpu_jiffies_at (proc, absent, 2, &busy, &total) == -1);
    assert (busy == 340); //  unchanged
    dlb_sampler_destroy (&sampler);
    assert (sampler == NULL);
}

void dlb_sampler_test (bool verbose)
{
    //  A process's own CPU ticks grow as it computes; no process, no ticks.
    uint64_t before = 0, after = 0;
    assert (dlb_sampler_process_ticks (getpid (), NULL, &before) == 0);
    struct timespec start, now;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &start);
    volatile double spin = 0;
    do { //  at least three ticks of CPU time
        for (int i = 0; i < 100000; i++)
            spin += i;
        clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &now);
    } while ((now.tv_sec - start.tv_sec) * 1e9 + (now.tv_nsec - start.tv_nsec) <
             3e9 / sysconf (_SC_CLK_TCK));
    assert (spin > 0); //  (read, so that the loop is not optimised away)
    assert (dlb_sampler_process_ticks (getpid (), NULL, &after) == 0 && after > before);
    assert (dlb_sampler_process_ticks (-1, NULL, &after) == -1);
    //  ... and none of a process that is not the one named.
    char comm[64] = "";
    FILE *own = fopen ("/proc/self/comm", "r");
    assert (own && fgets (comm, sizeof comm, own));
    fclose (own);
    comm[strcspn (comm, "\n")] = 0;
    assert (dlb_sampler_process_ticks (getpid (), comm, &after) == 0);
    assert (dlb_sampler_process_ticks (getpid (), "dlb-no-such", &after) == -1);

    //  Fake /proc and /sys/block trees: exact rules and arithmetic.
    char root[] = "/tmp/dlb_sampler_test_XXXXXX";
    assert (mkdtemp (root));
    char path[S_PATH_MAX], sys_block[S_PATH_MAX];
    snprintf (path, sizeof path, "%s/proc", root);
    assert (mkdir (path, 0700) == 0);
    snprintf (path, sizeof path, "%s/proc/net", root);
    assert (mkdir (path, 0700) == 0);
    snprintf (sys_block, sizeof sys_block, "%s/sys", root);
    assert (mkdir (sys_block, 0700) == 0);
    snprintf (path, sizeof path, "%s/sys/vda", root);
    assert (mkdir (path, 0700) == 0);
    snprintf (path, sizeof path, "%s/sys/vda/device", root);
    assert (mkdir (path, 0700) == 0);
    snprintf (path, sizeof path, "%s/sys/vda1", root); //  no device link
    assert (mkdir (path, 0700) == 0);
    s_test_fake (root, sys_block); //  the sysfs rule
    snprintf (path, sizeof path, "%s/absent", root);
    s_test_fake (root, path); //  the fallback rule by name
    //  A missing /proc/stat fails new.
    snprintf (path, sizeof path, "%s/proc/stat", root);
    assert (unlink (path) == 0);
    snprintf (path, sizeof path, "%s/proc", root);
    assert (s_sampler_new_at (path, sys_block, 1) == NULL);
    const char *cleanup[] = {"proc/loadavg", "proc/diskstats", "proc/net/dev",
                             "proc/net",     "proc",           "sys/vda/device",
                             "sys/vda",      "sys/vda1",       "sys"};
    for (size_t index = 0; index < sizeof cleanup / sizeof cleanup[0]; index++) {
        snprintf (path, sizeof path, "%s/%s", root, cleanup[index]);
        assert (remove (path) == 0);
    }
    assert (rmdir (root) == 0);

    //  The real machine: values in range, and the ring wraps without growing.
    const size_t capacity = 3, taken = 5;
    dlb_sampler_t *sampler = dlb_sampler_new (capacity);
    assert (sampler);
    dlb_sample_t *ring_before = sampler->ring;
    dlb_sample_t sample;
    for (size_t index = 0; index < taken; index++) {
        struct timespec pause = {0, S_TEST_PAUSE_MSECS * 1000000L / 2};
        nanosleep (&pause, NULL);
        assert (dlb_sampler_sample (sampler, &sample) == 0);
        assert (sample.cpu_total >= 0 && sample.cpu_total <= 100);
        assert (sample.ncpu >= 1 && sample.ncpu <= DLB_SAMPLER_MAX_CPUS);
        for (int cpu = 0; cpu < sample.ncpu; cpu++)
            assert (sample.cpu[cpu] >= 0 && sample.cpu[cpu] <= 100);
        assert (sample.runq >= 1); //  this process is running
        assert (sample.load1 >= 0);
        assert (sample.disk_read_bps >= 0 && sample.disk_write_bps >= 0);
        assert (sample.net_in_bps >= 0 && sample.net_out_bps >= 0);
        if (verbose)
            printf ("\n   cpu %.1f%% runq %.0f load1 %.2f disk r/w %.0f/%.0f B/s "
                    "net in/out %.0f/%.0f B/s",
                    sample.cpu_total, sample.runq, sample.load1, sample.disk_read_bps,
                    sample.disk_write_bps, sample.net_in_bps, sample.net_out_bps);
    }
    if (verbose)
        printf ("\n");
    assert (sampler->ring == ring_before && sampler->capacity == capacity);
    dlb_sample_t history[5];
    assert (dlb_sampler_history (sampler, history, 5) == capacity);
    for (size_t index = 1; index < capacity; index++)
        assert (history[index].timestamp >= history[index - 1].timestamp);
    assert (history[capacity - 1].timestamp == sample.timestamp);
    assert (dlb_sampler_history (sampler, history, 1) == 1);
    assert (history[0].timestamp == sample.timestamp);
    assert (dlb_sampler_history (sampler, history, 0) == 0);
    dlb_sampler_destroy (&sampler);
    dlb_sampler_destroy (&sampler); //  idempotent

    //  No history at all is allowed.
    sampler = dlb_sampler_new (0);
    assert (sampler);
    assert (dlb_sampler_sample (sampler, &sample) == 0);
    assert (dlb_sampler_history (sampler, history, 5) == 0);
    dlb_sampler_destroy (&sampler);

    //  The jiffies helper on the real machine.
    uint64_t busy = 0, total = 0;
    int cpu0[] = {0}, nonsense[] = {DLB_SAMPLER_MAX_CPUS * 1000};
    assert (dlb_sampler_cpu_jiffies (cpu0, 1, &busy, &total) == 0);
    assert (total > 0 && busy <= total);
    assert (dlb_sampler_cpu_jiffies (nonsense, 1, &busy, &total) == -1);
}
