/*  dlb_kernel: the job computation and the CPU throttle that bounds it.

    The kernel adds DLB_KERNEL_ADDEND to every element, reps times (the
    seed's workload). It runs in slices of about DLB_KERNEL_SLICE_ADDS
    additions; between slices the throttle decides whether the thread may go
    on: within every DLB_THROTTLE_WINDOW of wall time a thread computes for
    at most throttle x window of its own CPU time (CLOCK_THREAD_CPUTIME_ID)
    and sleeps to the end of the window once that budget is spent. A long job
    is thus paused, not merely spaced out, and time the thread lost to other
    processes does not count against its budget.                          */
#ifndef DLB_KERNEL_H_INCLUDED
#define DLB_KERNEL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLB_KERNEL_ADDEND     1.111111
#define DLB_KERNEL_INITIAL    1.111111  //  value of a generated workload's elements
#define DLB_KERNEL_SLICE_ADDS 1000000   //  additions between throttle checks (~0.26 ms)
#define DLB_THROTTLE_WINDOW   100000000 //  nsecs, the duty-cycle window
#define DLB_DEFAULT_ELEMENTS  1048576
#define DLB_DEFAULT_JOBS      1024
#define DLB_DEFAULT_REPS      50000 //  ~13 ms a job of 1,024 elements here

typedef struct {
    double throttle;     //  0 < throttle <= 1
    int64_t window_wall; //  nsecs (CLOCK_MONOTONIC) the window began
    int64_t window_cpu;  //  nsecs of thread CPU time when it began
    int64_t slept;       //  nsecs slept by the gate, in total
} dlb_throttle_t;

//  Starts a throttle. Cannot fail; throttle is clamped to (0, 1].
void dlb_throttle_init (dlb_throttle_t *self, double throttle);
void dlb_throttle_set (dlb_throttle_t *self, double throttle);
//  Called between slices of work by the thread being throttled: sleeps to
//  the end of the window if its budget is spent. Cannot fail.
void dlb_throttle_gate (dlb_throttle_t *self);

//  Thread CPU time and monotonic wall time in nsecs. Cannot fail.
int64_t dlb_thread_cpu_ns (void);
int64_t dlb_wall_ns (void);

//  Applies the kernel to x[0..n) without pauses. Cannot fail.
void dlb_kernel_apply (double *x, size_t n, uint32_t reps);

//  Applies the kernel under the throttle. Before each slice, poll (if not
//  NULL) is called with arg; it may change the throttle; if it returns
//  false the job is abandoned. Returns 0 when done, -1 if abandoned.
int dlb_kernel_run (double *x, size_t n, uint32_t reps, dlb_throttle_t *throttle,
                    bool (*poll) (void *arg), void *arg);

//  The value an element starting at `initial` holds after the kernel.
double dlb_kernel_expected (double initial, uint32_t reps);

void dlb_kernel_test (bool verbose);

#endif
