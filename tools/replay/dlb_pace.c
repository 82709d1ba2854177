/*  dlb_pace: clock, sleeps and the process-wide stop of the replay modes.
    See dlb_pace.h.                                                       */
#include "dlb_pace.h"

#include "dlb_kernel.h"
#include "dlb_log.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define S_NSECS_PER_SEC 1e9

static atomic_bool s_stop = false;
static atomic_int s_stop_fd = -1; //  never closed: the process may stop at any time
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void s_make_fd (void)
{
    int fd = eventfd (0, EFD_CLOEXEC);
    if (fd < 0)
        dlb_error ("cannot make the stop eventfd: %s", strerror (errno));
    atomic_store (&s_stop_fd, fd);
}

int dlb_pace_init (void)
{
    pthread_once (&s_once, s_make_fd);
    return atomic_load (&s_stop_fd) >= 0 ? 0 : -1;
}

double dlb_pace_now (void)
{
    return (double) dlb_wall_ns () / S_NSECS_PER_SEC;
}

bool dlb_pace_stopping (void)
{
    return atomic_load_explicit (&s_stop, memory_order_relaxed);
}

int dlb_pace_wait_fd (int fd, short events, double until)
{
    struct pollfd items[2] = {{.fd = atomic_load (&s_stop_fd), .events = POLLIN},
                              {.fd = fd, .events = events}};
    double now;
    while (!dlb_pace_stopping () && (now = dlb_pace_now ()) < until) {
        double wait = until - now;
        struct timespec timeout = {.tv_sec = (time_t) floor (wait),
                                   .tv_nsec =
                                       (long) ((wait - floor (wait)) * S_NSECS_PER_SEC)};
        int ready = ppoll (items, fd >= 0 ? 2 : 1, &timeout, NULL);
        if (ready > 0 && items[0].revents)
            break; //  stop asked
        if (ready > 0 && items[1].revents)
            return 1;
    }
    return dlb_pace_stopping () ? -1 : 0;
}

void dlb_pace_sleep_until (double when)
{
    dlb_pace_wait_fd (-1, 0, when);
}

void dlb_pace_stop (void)
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

void dlb_pace_test (bool verbose)
{
    (void) verbose;
    assert (dlb_pace_init () == 0);
    double begin = dlb_pace_now ();
    dlb_pace_sleep_until (begin + 0.02);
    double slept = dlb_pace_now () - begin;
    assert (slept >= 0.02 && slept < 2.0);
    //  A ready fd ends the wait; an idle one waits to the deadline.
    int pipe_fds[2];
    assert (pipe (pipe_fds) == 0);
    assert (dlb_pace_wait_fd (pipe_fds[0], POLLIN, dlb_pace_now () + 0.01) == 0);
    assert (write (pipe_fds[1], "x", 1) == 1);
    assert (dlb_pace_wait_fd (pipe_fds[0], POLLIN, dlb_pace_now () + 5) == 1);
    close (pipe_fds[0]);
    close (pipe_fds[1]);
    assert (!dlb_pace_stopping ());
}
