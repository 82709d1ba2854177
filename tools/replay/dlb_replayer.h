/*  dlb_replayer: replays a trace's CPU utilisation on a set of CPUs, one trace
    sample per interval, with one pinned load thread per CPU: either as the
    thread's own CPU time (own mode: an owner's process, which does not back
    off for others) or as the CPU's total busy time (total mode: it only adds
    what others leave missing). See dlb_replayer.c for the control loops.  */
#ifndef DLB_REPLAYER_H_INCLUDED
#define DLB_REPLAYER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define DLB_REPLAYER_SLICE_MSECS     250 //  msecs; default control period in an interval
#define DLB_REPLAYER_SLICE_MIN_MSECS 10  //  msecs; shortest control period allowed
#define DLB_REPLAYER_MIN_SECS        0.1 //  secs; shortest interval per sample
#define DLB_REPLAYER_MAX_SECS        86400.0 //  secs; longest interval per sample
#define DLB_REPLAYER_START_MSECS     100     //  msecs; delay for the threads to settle
#define DLB_REPLAYER_OTHERS_TAU_SECS 2.0     //  secs; memory of the others-load estimate
#define DLB_REPLAYER_OTHERS_MAX      0.95    //  fraction; cap on the others-load estimate
#define DLB_REPLAYER_LINGER_MSECS    1000    //  msecs; load threads' last message
#define DLB_REPLAYER_PENDING         64      //  intervals the report waits on a slow CPU
#define DLB_REPLAYER_QUIET_POINTS    3.0     //  points; others' load of a quiet interval

typedef enum {
    DLB_REPLAYER_OWN,  //  each load thread's own CPU time follows the trace
    DLB_REPLAYER_TOTAL //  each CPU's busy time (/proc/stat) follows the trace
} dlb_replayer_mode_t;

typedef struct {
    dlb_replayer_mode_t mode;
    const double *values;      //  trace, CPU % 0..100; borrowed, read-only
    size_t count;              //  values in the trace, > 0
    double seconds_per_sample; //  interval length, secs
    const int *cpus;           //  CPUs to load; borrowed
    size_t ncpus;              //  > 0
    bool loop;                 //  repeat the trace until stopped
    FILE *report;              //  per-interval "index,target,achieved", or NULL
                               //  (achieved: own CPU % or the CPUs' busy %)
    double slice_secs;         //  control period, secs; 0 = DLB_REPLAYER_SLICE_MSECS
    double start;              //  monotonic secs (dlb_pace_now) of interval 0's
                               //  start; 0 = DLB_REPLAYER_START_MSECS from the call
} dlb_replayer_config_t;

typedef struct {
    size_t intervals;      //  intervals measured
    size_t scored;         //  intervals in the deviation figures (all but the first)
    double mean_deviation; //  points; mean |achieved - target|
    double max_deviation;  //  points
    double shortfall;      //  points; mean of (target - achieved) where positive
    double overhead;       //  % of one core: CPU spent that was not prescribed load
    double others;         //  points: mean busy % of the CPUs not from our load
    size_t quiet;          //  scored intervals with others <= DLB_REPLAYER_QUIET_POINTS
    double quiet_mean_deviation; //  points, over the quiet intervals: what an idle
    double quiet_max_deviation;  //  CPU would see, measured on a shared machine
    double cpu_secs;             //  whole-process CPU time during the replay
    double load_secs;            //  of which prescribed busy work
    double wall_secs;            //  length of the replay
    bool stopped;                //  ended by dlb_pace_stop, not the end of the trace
} dlb_replayer_result_t;

//  Replays the trace on the CPUs until it ends (never with loop) or until
//  dlb_pace_stop. The caller must block SIGINT and SIGTERM around the call
//  or not: the load threads block all signals themselves. Returns 0 with the
//  result filled in, or -1 if a CPU cannot be pinned or read, a thread cannot
//  start, or the report cannot be written (logged; result holds what was
//  measured until then).
int dlb_replayer_run (const dlb_replayer_config_t *config, dlb_replayer_result_t *result);

//  Parses a CPU list such as "0", "0,2" or "0-3,6" into cpus (sorted, without
//  duplicates), as dlb_config_cpus but digits only. Returns the number of
//  CPUs, or -1 if the text is malformed, names a CPU >= max_cpu (at most
//  CPU_SETSIZE), or there are more than size CPUs.
int dlb_replayer_parse_cpus (const char *text, int *cpus, size_t size, int max_cpu);

//  Self-test. It ends with a stop, after which this process cannot replay.
void dlb_replayer_test (bool verbose);

#endif
