/*  dlb_sampler: samples this machine's load once per call (CPU, run queue, disk,
    network) from /proc and keeps a bounded history of the samples.

    What each quantity is, and the rules that decide what counts:

    - CPU (/proc/stat): busy = user + nice + system + irq + softirq + steal;
      total = busy + idle + iowait. guest and guest_nice are already included in
      user and nice, so they are not added again. Steal counts as busy: the
      CPU was not available to this machine. cpu[i] is indexed by the kernel's
      CPU number; ncpu is the highest online CPU number + 1 (at most
      DLB_SAMPLER_MAX_CPUS; higher CPUs are left out of cpu[] but not out of
      cpu_total). A CPU that is offline at either end of an interval reads 0.
    - Run queue (/proc/loadavg): runq is the number of runnable tasks now (the
      part before '/' in field 4; it includes the reader itself), load1 the
      1-minute load average.
    - Disk (/proc/diskstats): bytes = sectors x 512, read and written, summed
      over whole disks only. A device counts when /sys/block/NAME/device exists:
      that excludes partitions (not in /sys/block) and virtual devices stacked
      on or beside real disks (loop, ram, zram, dm-*, md*), which would count
      the same bytes twice or count memory. Where /sys/block is not readable
      (some containers), the fallback rule is by name: skip loop*, ram*, zram*,
      dm-*, md*, and any device whose name is another listed device's name
      followed by an optional 'p' and digits (sda1, nvme0n1p2, mmcblk0p1).
    - Network (/proc/net/dev): received and transmitted bytes summed over all
      interfaces except lo (virtual interfaces such as bridges do count).

    Rates are over the interval since the previous successful sample (the first
    sample after dlb_sampler_new measures since new). When a summed counter goes
    down (a device removed, a counter reset) its rate for that interval is 0.
    Intervals are measured on the monotonic clock; timestamps are wall time.

    Memory is fixed: the history ring of history_capacity samples is allocated
    once by dlb_sampler_new and never grows; when full, the oldest is dropped.
    A sampler is not thread-safe: use one per thread.                         */
#ifndef DLB_SAMPLER_H_INCLUDED
#define DLB_SAMPLER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _dlb_sampler_t dlb_sampler_t;

#define DLB_SAMPLER_MAX_CPUS       256 //  CPUs reported one by one in cpu[]
#define DLB_SAMPLER_SECTOR_BYTES   512 //  bytes per /proc/diskstats sector
#define DLB_SAMPLER_PROC_ROOT      "/proc"
#define DLB_SAMPLER_SYS_BLOCK_ROOT "/sys/block"

typedef struct {
    double timestamp;                     //  secs since the epoch
    double cpu_total;                     //  % busy of all CPUs over the interval, 0..100
    int ncpu;                             //  entries used in cpu[]
    double cpu[DLB_SAMPLER_MAX_CPUS];     //  % busy per CPU over the interval
    double runq;                          //  runnable tasks now (from /proc/loadavg)
    double load1;                         //  1-minute load average
    double disk_read_bps, disk_write_bps; //  bytes/s over the interval
    double net_in_bps, net_out_bps;       //  bytes/s over the interval
} dlb_sample_t;

//  Creates a sampler keeping the last history_capacity samples (0 keeps none)
//  and takes the baseline reading. Returns NULL if /proc/stat, /proc/loadavg,
//  /proc/diskstats or /proc/net/dev cannot be read or parsed, or if memory
//  runs out.
dlb_sampler_t *dlb_sampler_new (size_t history_capacity);

//  Destroys the sampler and nulls the caller's pointer. Cannot fail; accepts a
//  pointer to NULL.
void dlb_sampler_destroy (dlb_sampler_t **self_p);

//  Reads the counters, fills sample with the rates since the previous
//  successful call (or since new) and appends a copy to the history. Returns 0,
//  or -1 if a /proc file cannot be read or parsed; then sample and the
//  sampler's state are unchanged.
int dlb_sampler_sample (dlb_sampler_t *self, dlb_sample_t *sample);

//  Copies up to max of the newest samples in the history into out, oldest
//  first and newest last. Returns the number copied. Cannot fail.
size_t dlb_sampler_history (dlb_sampler_t *self, dlb_sample_t *out, size_t max);

//  The busy and total jiffies of the given CPUs, summed over them, as of the
//  last successful dlb_sampler_sample (or new): what dlb_sampler_cpu_jiffies
//  would have read then, without reading /proc/stat again. Returns 0, or -1
//  if one of the CPUs was not online in that reading.
int dlb_sampler_last_jiffies (dlb_sampler_t *self, const int *cpus, size_t count,
                              uint64_t *busy, uint64_t *total);

//  Reads the busy and total jiffies (USER_HZ ticks, see sysconf (_SC_CLK_TCK))
//  of the given CPUs from /proc/stat, summed over them, with busy and total as
//  defined above. The counters only grow while the CPUs stay online. Returns 0,
//  or -1 if /proc/stat cannot be read or parsed or one of the CPUs is not in it
//  (offline or no such CPU); then *busy and *total are unchanged. Needs no
//  sampler: the replayer calls it many times a second, so it does one read.
int dlb_sampler_cpu_jiffies (const int *cpus, size_t count, uint64_t *busy,
                             uint64_t *total);

//  Reads the CPU time a process has used, user + system, in USER_HZ ticks
//  (fields 14 and 15 of /proc/PID/stat). If comm is not NULL, the process
//  must have that name (its comm, field 2): a PID from another PID
//  namespace (a service in a container of its own) may name another
//  process here. Returns 0, or -1 if there is no such process, it has
//  another name, or its stat cannot be parsed; then *ticks is unchanged.
int dlb_sampler_process_ticks (int pid, const char *comm, uint64_t *ticks);

//  Self-test.
void dlb_sampler_test (bool verbose);

#endif
