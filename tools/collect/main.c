/*  dlb-collect: appends one line of this machine's load (dlb_sampler) per
    interval to a CSV file, flushed line by line, until the duration is over
    or SIGINT/SIGTERM arrives. The header is written only when the file is new
    or empty; an existing file must have the same header (same CPU count).  */
#include "dlb_config.h"
#include "dlb_log.h"
#include "dlb_sampler.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COLLECT_INTERVAL_DEFAULT 1.0     //  secs between samples
#define COLLECT_INTERVAL_MIN     0.01    //  secs; /proc/stat counts in 10 ms ticks
#define COLLECT_INTERVAL_MAX     86400.0 //  secs
#define COLLECT_EXIT_USAGE       2
#define COLLECT_HOST_MAX         64 //  bytes of the host name used in logs
#define NSECS_PER_SEC            1000000000L

static volatile sig_atomic_t s_stop = 0;

static void s_on_signal (int signum)
{
    (void) signum;
    s_stop = 1;
}

static void s_usage_to (FILE *out)
{
    fprintf (out,
             "usage: dlb-collect --out FILE [--interval S] [--duration S]\n"
             "  --out FILE      CSV file to append to (header written if new or empty)\n"
             "  --interval S    seconds between samples (default %g, at least %g)\n"
             "  --duration S    stop after S seconds (default: until SIGINT/SIGTERM)\n"
             "Columns: timestamp (secs since the epoch), cpu_total, cpu0..cpuN-1 (%% "
             "busy),\n"
             "runq, load1, disk_read_bps, disk_write_bps, net_in_bps, net_out_bps "
             "(bytes/s).\n",
             COLLECT_INTERVAL_DEFAULT, COLLECT_INTERVAL_MIN);
}

//  Writes the header for ncpu CPUs into buffer. Returns 0, or -1 if it does
//  not fit.
static int s_header (int ncpu, char *buffer, size_t size)
{
    size_t used = (size_t) snprintf (buffer, size, "timestamp,cpu_total");
    for (int cpu = 0; cpu < ncpu && used < size; cpu++)
        used += (size_t) snprintf (buffer + used, size - used, ",cpu%d", cpu);
    if (used < size)
        used += (size_t) snprintf (buffer + used, size - used,
                                   ",runq,load1,disk_read_bps,disk_write_bps,"
                                   "net_in_bps,net_out_bps\n");
    return used < size ? 0 : -1;
}

//  Opens path for appending and writes or checks the header. Returns the
//  file, or NULL after logging why.
static FILE *s_open_csv (const char *path, const char *header)
{
    FILE *file = fopen (path, "a+");
    if (!file) {
        dlb_error ("%s: cannot open: %s", path, strerror (errno));
        return NULL;
    }
    char *first = NULL;
    size_t first_size = 0;
    rewind (file);
    ssize_t length = getline (&first, &first_size, file);
    fseek (file, 0, SEEK_END); //  appends follow (and a read needs a seek before a write)
    bool ok = true;
    if (length <= 0) {
        //  A new or empty file: a write error shows at the flush.
        ok = fputs (header, file) >= 0 && fflush (file) == 0;
        if (!ok)
            dlb_error ("%s: cannot write: %s", path, strerror (errno));
    }
    else if (strcmp (first, header) != 0) {
        dlb_error ("%s:1: header differs from this machine's columns (another machine "
                   "or CPU count?); append to another file",
                   path);
        ok = false;
    }
    free (first);
    if (!ok) {
        fclose (file);
        return NULL;
    }
    return file;
}

//  Writes one sample as a CSV line with ncpu CPU columns and flushes it.
//  Returns 0, or -1 on a write error.
static int s_write_sample (FILE *file, const dlb_sample_t *sample, int ncpu)
{
    fprintf (file, "%.3f,%.2f", sample->timestamp, sample->cpu_total);
    for (int cpu = 0; cpu < ncpu; cpu++)
        fprintf (file, ",%.2f", cpu < sample->ncpu ? sample->cpu[cpu] : 0.0);
    fprintf (file, ",%.0f,%.2f,%.0f,%.0f,%.0f,%.0f\n", sample->runq, sample->load1,
             sample->disk_read_bps, sample->disk_write_bps, sample->net_in_bps,
             sample->net_out_bps);
    return fflush (file) == 0 && !ferror (file) ? 0 : -1;
}

static void s_add_secs (struct timespec *time, double secs)
{
    long nsecs = time->tv_nsec + (long) ((secs - floor (secs)) * NSECS_PER_SEC);
    time->tv_sec += (time_t) floor (secs) + nsecs / NSECS_PER_SEC;
    time->tv_nsec = nsecs % NSECS_PER_SEC;
}

int main (int argc, char *argv[])
{
    if (dlb_config_version (argc, argv, "dlb-collect"))
        return 0;
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            s_usage_to (stdout); //  asked for: not an error
            return 0;
        }
    char host[COLLECT_HOST_MAX] = "-";
    gethostname (host, sizeof host - 1);
    dlb_log_init (host, "collect");

    const char *out = NULL;
    double interval = COLLECT_INTERVAL_DEFAULT, duration = 0;
    for (int arg = 1; arg < argc; arg++) {
        const char *option = argv[arg];
        const char *value = arg + 1 < argc ? argv[arg + 1] : NULL;
        if (strcmp (option, "--out") == 0 && value)
            out = value;
        else if (strcmp (option, "--interval") == 0 && value &&
                 dlb_config_number (value, COLLECT_INTERVAL_MIN, COLLECT_INTERVAL_MAX,
                                    &interval) == 0)
            ;
        else if (strcmp (option, "--duration") == 0 && value &&
                 dlb_config_number (value, COLLECT_INTERVAL_MIN, INFINITY, &duration) ==
                     0)
            ;
        else {
            if (strcmp (option, "--help") != 0)
                fprintf (stderr, "dlb-collect: bad or incomplete option '%s'\n", option);
            s_usage_to (stderr);
            return COLLECT_EXIT_USAGE;
        }
        arg++;
    }
    if (!out) {
        fprintf (stderr, "dlb-collect: --out FILE is required\n");
        s_usage_to (stderr);
        return COLLECT_EXIT_USAGE;
    }

    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);

    int rc = 1;
    FILE *file = NULL;
    //  A first sample right away gives the CPU count for the header and makes
    //  the next one measure from now.
    dlb_sampler_t *sampler = dlb_sampler_new (1);
    dlb_sample_t sample;
    if (!sampler || dlb_sampler_sample (sampler, &sample) != 0) {
        dlb_error ("cannot read /proc (stat, loadavg, diskstats, net/dev)");
        goto cleanup;
    }
    int ncpu = sample.ncpu;
    char header[DLB_SAMPLER_MAX_CPUS * 8 + 256];
    if (s_header (ncpu, header, sizeof header) != 0)
        goto cleanup;
    file = s_open_csv (out, header);
    if (!file)
        goto cleanup;
    dlb_info ("sampling every %g s into %s (%d CPUs)", interval, out, ncpu);

    struct timespec start;
    clock_gettime (CLOCK_MONOTONIC, &start);
    long samples = duration > 0 ? (long) floor (duration / interval + 1e-9) : -1;
    rc = 0;
    for (long taken = 0; !s_stop && (samples < 0 || taken < samples); taken++) {
        struct timespec deadline = start;
        s_add_secs (&deadline, interval * (double) (taken + 1));
        while (!s_stop &&
               clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) == EINTR)
            ;
        if (s_stop)
            break;
        if (dlb_sampler_sample (sampler, &sample) != 0) {
            dlb_warn ("cannot read /proc this interval; the next sample covers it");
            continue;
        }
        if (s_write_sample (file, &sample, ncpu) != 0) {
            dlb_error ("%s: cannot write: %s", out, strerror (errno));
            rc = 1;
            break;
        }
    }
    dlb_info ("stopped");
cleanup:
    if (file && fclose (file) != 0 && rc == 0) {
        dlb_error ("%s: cannot write: %s", out, strerror (errno));
        rc = 1;
    }
    dlb_sampler_destroy (&sampler);
    return rc;
}
