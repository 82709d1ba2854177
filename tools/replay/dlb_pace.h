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

//  Monotonic time in secs. Cannot fail.
double dlb_pace_now (void);

//  Makes the stop eventfd. Call before any sleep (the run functions do).
//  Returns 0, or -1 if no eventfd can be made (logged; sleeps then only see
//  the flag, at the end of each sleep).
int dlb_pace_init (void);

//  Sleeps until the monotonic time `when` or a stop. Cannot fail.
void dlb_pace_sleep_until (double when);

//  Waits until fd is ready for events (POLLIN/POLLOUT), the monotonic time
//  `until`, or a stop. Returns 1 if fd is ready, 0 at `until`, -1 on a stop.
int dlb_pace_wait_fd (int fd, short events, double until);

//  Asks every replay in this process to stop. Async-signal-safe. Cannot fail.
void dlb_pace_stop (void);

//  True once a stop was asked. Cannot fail.
bool dlb_pace_stopping (void);

//  Self-test (it does not stop: the replayer's test does, last).
void dlb_pace_test (bool verbose);

#endif
