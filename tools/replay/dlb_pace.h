/*  dlb_pace: the clock, the sleeps and the process-wide stop that the replay
    modes (CPU, disk, network) share, so that one SIGINT/SIGTERM ends all of
    them within milliseconds, however long they were about to sleep.

    Stop: dlb_pace_stop sets an atomic flag and writes to an eventfd that no
    one reads, so it stays readable: every sleep polls it and ends at once.
    The stop is for good (the process is ending); a process that stops
    cannot replay again.                                                   */
#ifndef DLB_PACE_H_INCLUDED
#define DLB_PACE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

//  Monotonic time in secs. Cannot fail.
double dlb_pace_now (void);

//  Makes the stop eventfd. Call before any sleep (the run functions do).
//  Returns 0, or -1 if no eventfd can be made (logged; sleeps then only see
//  the flag, at the end of each sleep).
int dlb_pace_init (void);

//  The stop eventfd (readable once a stop is asked), for callers that poll
//  other fds too, or -1 before dlb_pace_init. Cannot fail.
int dlb_pace_fd (void);

//  Sleeps until the monotonic time `when` or a stop. Cannot fail.
void dlb_pace_sleep_until (double when);

//  Waits until fd is ready for events (POLLIN/POLLOUT), the monotonic time
//  `until`, or a stop. Returns 1 if fd is ready, 0 at `until`, -1 on a stop.
int dlb_pace_wait_fd (int fd, short events, double until);

//  Asks every replay in this process to stop. Async-signal-safe. Cannot fail.
void dlb_pace_stop (void);

//  True once a stop was asked. Cannot fail.
bool dlb_pace_stopping (void);

//  Installs handlers that call dlb_pace_stop on SIGINT and SIGTERM (in place
//  of CZMQ's). Cannot fail.
void dlb_pace_on_signals (void);

//  The interval grid that a disk or network replay follows: sample i is
//  replayed over [start + i x seconds_per_sample, start + (i+1) x ...).
typedef struct {
    size_t count;              //  samples, > 0
    double seconds_per_sample; //  interval length, secs
    double start;              //  monotonic secs (dlb_pace_now) of interval 0's start
    bool loop;                 //  repeat the trace until stopped
    FILE *report;              //  per-interval rows, or NULL
} dlb_pace_grid_t;

//  The end (monotonic secs) of interval index. Cannot fail.
double dlb_pace_grid_end (const dlb_pace_grid_t *self, size_t index);

//  Moves *index past a closed interval. Returns true if the replay goes on
//  (more samples, or loop), false at the end of the trace. Cannot fail.
bool dlb_pace_grid_next (const dlb_pace_grid_t *self, size_t *index);

//  Per-interval fidelity of one rate (bytes/s, packets/s): what the disk and
//  network modes report for each direction.
typedef struct {
    size_t intervals;
    double target;    //  sum of the intervals' targets
    double achieved;  //  sum of the intervals' achieved rates
    double deviation; //  sum of |achieved - target|
    double max_deviation;
} dlb_pace_tally_t;

//  Adds one interval's target and achieved rate. Cannot fail.
void dlb_pace_tally_add (dlb_pace_tally_t *self, double target, double achieved);

//  Prints " NAME_target=MEAN NAME_achieved=MEAN NAME_mean_dev=MEAN
//  NAME_max_dev=MAX" (means over the intervals, "-" with none). Cannot fail.
void dlb_pace_tally_print (const dlb_pace_tally_t *self, const char *name, FILE *out);

//  Self-test (it does not stop: the replayer's test does, last).
void dlb_pace_test (bool verbose);

#endif
