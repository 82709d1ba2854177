/*  dlb-kernel: measures the job kernel alone, outside any service.

    dlb-kernel cost [--elements N] [--reps R] [--repeat K] [--throttle T]
        runs K jobs back to back on one thread (under throttle T, default 1)
        and prints, in milliseconds: the median, min and max wall time of one
        job, the median thread CPU time of one job, and the mean wall time per
        job over the whole run (1 / the job rate, pauses included). The first
        is the c of the benchmark's ideal makespan.
    dlb-kernel throttle T [--seconds S]
        runs jobs under throttle T for S seconds and prints the thread's
        measured CPU share (thread CPU time / wall time).                   */
#include "dlb_config.h"
#include "dlb_kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_usage (FILE *out)
{
    fprintf (
        out,
        "Usage: dlb-kernel cost [--elements N] [--reps R] [--repeat K] [--throttle T]\n"
        "       dlb-kernel throttle T [--seconds S]\n"
        "Measures the job kernel alone: the median cost of one job, or the CPU\n"
        "share of a thread under throttle T. Defaults: %d elements, %d reps,\n"
        "K 41, S 3.\n",
        DLB_DEFAULT_ELEMENTS / DLB_DEFAULT_JOBS, DLB_DEFAULT_REPS);
}

//  Parses a positive number; exits 2 with a message if it is not one.
static double s_number (const char *name, const char *text, double high)
{
    double value;
    if (!text || dlb_config_number (text, 0, high, &value) || value <= 0) {
        fprintf (stderr, "dlb-kernel: %s needs a number in (0, %g], got '%s'\n", name,
                 high, text ? text : "");
        s_usage (stderr);
        exit (2);
    }
    return value;
}

static int s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main (int argc, char *argv[])
{
    if (dlb_config_version (argc, argv, "dlb-kernel"))
        return 0;
    if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
        s_usage (argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    double elements = DLB_DEFAULT_ELEMENTS / DLB_DEFAULT_JOBS, reps = DLB_DEFAULT_REPS;
    double repeat = 41, seconds = 3, throttle = 1;
    int first = 2;
    bool cost = strcmp (argv[1], "cost") == 0;
    if (!cost && strcmp (argv[1], "throttle") == 0) {
        throttle = s_number ("throttle", argc > 2 ? argv[2] : NULL, 1);
        first = 3;
    }
    else if (!cost) {
        fprintf (stderr, "dlb-kernel: unknown command '%s'\n", argv[1]);
        s_usage (stderr);
        return 2;
    }
    for (int i = first; i < argc; i += 2) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp (argv[i], "--elements") == 0 && cost)
            elements = s_number ("--elements", value, (1 << 22));
        else if (strcmp (argv[i], "--reps") == 0 && cost)
            reps = s_number ("--reps", value, 4e9);
        else if (strcmp (argv[i], "--repeat") == 0 && cost)
            repeat = s_number ("--repeat", value, 1e6);
        else if (strcmp (argv[i], "--throttle") == 0 && cost)
            throttle = s_number ("--throttle", value, 1);
        else if (strcmp (argv[i], "--seconds") == 0 && !cost)
            seconds = s_number ("--seconds", value, 3600);
        else {
            fprintf (stderr, "dlb-kernel: unknown option '%s'\n", argv[i]);
            s_usage (stderr);
            return 2;
        }
    }
    size_t n = (size_t) elements;
    double *x = malloc (n * sizeof (double));
    if (!x) {
        fprintf (stderr, "dlb-kernel: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = DLB_KERNEL_INITIAL;
    dlb_throttle_t gate;
    dlb_throttle_init (&gate, throttle);
    if (cost) {
        size_t k = (size_t) repeat;
        double *ms = malloc (k * sizeof (double));
        double *cpu_ms = malloc (k * sizeof (double));
        int64_t run_start = dlb_wall_ns ();
        for (size_t j = 0; j < k; j++) {
            int64_t start = dlb_wall_ns (), cpu_start = dlb_thread_cpu_ns ();
            dlb_kernel_run (x, n, (uint32_t) reps, &gate, NULL, NULL);
            ms[j] = (dlb_wall_ns () - start) / 1e6;
            cpu_ms[j] = (dlb_thread_cpu_ns () - cpu_start) / 1e6;
        }
        qsort (ms, k, sizeof (double), s_compare);
        qsort (cpu_ms, k, sizeof (double), s_compare);
        double mean_ms = (dlb_wall_ns () - run_start) / 1e6 / (double) k;
        printf ("%.3f %.3f %.3f %.3f %.3f\n", ms[k / 2], ms[0], ms[k - 1], cpu_ms[k / 2],
                mean_ms);
        free (ms);
        free (cpu_ms);
    }
    else {
        int64_t wall0 = dlb_wall_ns (), cpu0 = dlb_thread_cpu_ns ();
        while (dlb_wall_ns () - wall0 < (int64_t) (seconds * 1e9))
            dlb_kernel_run (x, n, DLB_DEFAULT_REPS / 10, &gate, NULL, NULL);
        printf ("%.4f\n",
                (double) (dlb_thread_cpu_ns () - cpu0) / (dlb_wall_ns () - wall0));
    }
    free (x);
    return 0;
}
