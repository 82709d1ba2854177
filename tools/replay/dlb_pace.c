/*  dlb_pace: clock, sleeps and the process-wide stop of the replay modes.
    See dlb_pace.h.                                                       */
#include "dlb_pace.h"

#include "dlb_kernel.h"
#include "dlb_log.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <czmq.h>
#include <poll.h>
#include <signal.h>
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

int dlb_pace_fd (void)
{
    return atomic_load (&s_stop_fd);
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

static void s_on_signal (int signum)
{
    (void) signum;
    dlb_pace_stop ();
}

void dlb_pace_on_signals (void)
{
    zsys_handler_set (NULL);
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
}

double dlb_pace_grid_end (const dlb_pace_grid_t *self, size_t index)
{
    return self->start + (double) (index + 1) * self->seconds_per_sample;
}

bool dlb_pace_grid_next (const dlb_pace_grid_t *self, size_t *index)
{
    (*index)++;
    return self->loop || *index < self->count;
}

void dlb_pace_tally_add (dlb_pace_tally_t *self, double target, double achieved)
{
    double deviation = fabs (achieved - target);
    self->intervals++;
    self->target += target;
    self->achieved += achieved;
    self->deviation += deviation;
    self->max_deviation = fmax (self->max_deviation, deviation);
}

void dlb_pace_tally_print (const dlb_pace_tally_t *self, const char *name, FILE *out)
{
    if (self->intervals == 0) {
        fprintf (out, " %s_target=- %s_achieved=- %s_mean_dev=- %s_max_dev=-", name, name,
                 name, name);
        return;
    }
    double count = (double) self->intervals;
    fprintf (out, " %s_target=%.0f %s_achieved=%.0f %s_mean_dev=%.0f %s_max_dev=%.0f",
             name, self->target / count, name, self->achieved / count, name,
             self->deviation / count, name, self->max_deviation);
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

    dlb_pace_grid_t grid = {.count = 2, .seconds_per_sample = 0.5, .start = 10};
    size_t index = 0;
    assert (dlb_pace_grid_end (&grid, 1) == 11);
    assert (dlb_pace_grid_next (&grid, &index) && index == 1);
    assert (!dlb_pace_grid_next (&grid, &index) && index == 2);
    grid.loop = true;
    assert (dlb_pace_grid_next (&grid, &index) && index == 3);

    dlb_pace_tally_t tally = {0};
    dlb_pace_tally_add (&tally, 100, 90);
    dlb_pace_tally_add (&tally, 100, 130);
    assert (tally.intervals == 2 && tally.deviation == 40 && tally.max_deviation == 30);
    char text[256];
    FILE *out = fmemopen (text, sizeof text, "w");
    assert (out);
    dlb_pace_tally_print (&tally, "read", out);
    fclose (out);
    assert (strcmp (text, " read_target=100 read_achieved=110 read_mean_dev=20 "
                          "read_max_dev=30") == 0);
}
