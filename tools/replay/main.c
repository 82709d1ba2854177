/*  dlb-replay: replays recorded load on this machine, one trace sample per
    interval, until the trace ends or SIGINT/SIGTERM:
    - CPU on the given CPUs, as the load threads' own CPU time (--mode own,
      the default) or as the CPUs' total busy time (--mode total);
    - disk reads and writes (--disk DIR) on a file under DIR, bypassing the
      page cache;
    - network traffic (--net HOST:PORT) to and from a sink, which
      `dlb-replay --sink [HOST:]PORT` runs.
    Each mode runs in its own thread on one interval grid; at the end each
    prints one line of fidelity figures (target against achieved).       */
#include "dlb_config.h"
#include "dlb_log.h"
#include "dlb_pace.h"
#include "dlb_replay_disk.h"
#include "dlb_replay_net.h"
#include "dlb_replayer.h"
#include "dlb_trace.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPLAY_EXIT_USAGE 2
#define REPLAY_HOST_MAX   64 //  bytes of the host name used in logs
#define REPLAY_ERR_MAX    512
#define REPLAY_NAME_MAX   256 //  bytes of a HOST:PORT or a column pair
#define MSECS_PER_SEC     1000.0
#define DISK_COLUMNS      "disk_read_bps,disk_write_bps"
#define NET_COLUMNS       "net_out_bps,net_in_bps"

static void s_usage_to (FILE *out)
{
    fprintf (
        out,
        "usage: dlb-replay TRACE [--mode own|total] [--cpus LIST]\n"
        "          [--format auto|planetlab|google|bitbrains|csv] [--column NAME]\n"
        "          [--disk DIR] [--disk-columns READ,WRITE] [--disk-report FILE]\n"
        "          [--net HOST:PORT] [--net-columns OUT[,IN]] [--net-report FILE]\n"
        "          [--seconds-per-sample S] [--loop] [--report FILE] [--skip-bad]\n"
        "       dlb-replay --sink [HOST:]PORT   (PORT 0: the OS picks; prints port=N)\n"
        "CPU (on when --cpus is given, or when neither --disk nor --net is):\n"
        "  --mode own              each load thread's own CPU time follows the trace,\n"
        "                          whatever else runs on the CPU (default: background\n"
        "                          load that behaves like an owner's process)\n"
        "  --mode total            each CPU's busy time (/proc/stat) follows the trace:\n"
        "                          adds only what other processes leave missing\n"
        "  --cpus LIST             CPUs to load, e.g. 0 or 0,1 or 0-3 (default 0)\n"
        "  --format F              trace format (default auto: guessed from line 1)\n"
        "  --column NAME           csv column to replay (default: the second, "
        "cpu_total)\n"
        "  --report FILE           write index,target,achieved per interval (%% CPU)\n"
        "  --slice-msecs MS        control period within an interval (default %d):\n"
        "                          shorter is smoother and costs more wake-ups\n"
        "Disk and network (TRACE must be a dlb-collect csv; bytes/s columns):\n"
        "  --disk DIR              reads and writes on a %u MiB file in DIR (removed at\n"
        "                          the end), O_DIRECT or, where refused, fdatasync +\n"
        "                          posix_fadvise DONTNEED\n"
        "  --disk-columns R,W      columns to replay (default " DISK_COLUMNS ")\n"
        "  --net HOST:PORT         UDP datagrams of %d bytes to a dlb-replay --sink\n"
        "  --net-columns OUT[,IN]  columns to replay (default " NET_COLUMNS "; IN is\n"
        "                          asked of the sink, which sends it back)\n"
        "  --disk-report FILE, --net-report FILE   per-interval target and achieved\n"
        "Both:\n"
        "  --seconds-per-sample S  interval each sample is replayed over (default 1,\n"
        "                          at least %g)\n"
        "  --loop                  repeat the trace until SIGINT/SIGTERM\n"
        "  --skip-bad              skip malformed trace lines instead of failing\n"
        "Prints a line per mode. CPU: mode=M intervals=N mean_dev=POINTS max_dev=POINTS\n"
        "  short=POINTS (mean shortfall) overhead=%%_OF_ONE_CORE others=POINTS (busy %%\n"
        "  of the CPUs not ours) quiet=N quiet_mean_dev= quiet_max_dev= (intervals\n"
        "  whose others' load was at most %g points). disk: and net: lines give, per\n"
        "  direction, the mean target and achieved rate and the mean and max absolute\n"
        "  deviation (bytes/s, and packets/s for the network).\n",
        DLB_REPLAYER_SLICE_MSECS, DLB_REPLAY_DISK_FILE_BYTES >> 20,
        DLB_REPLAY_NET_PACKET_BYTES, DLB_REPLAYER_MIN_SECS, DLB_REPLAYER_QUIET_POINTS);
}

//  Splits "A,B" (or "A" if optional_second) into first and second (NULL if
//  absent), copied into buffer. Returns 0, or -1 if malformed.
static int s_split (const char *text, char sep, bool optional_second, char *buffer,
                    size_t size, const char **first, const char **second)
{
    if (strlen (text) >= size)
        return -1;
    strcpy (buffer, text);
    char *at = strrchr (buffer, sep);
    *first = buffer;
    *second = NULL;
    if (!at)
        return optional_second && *buffer ? 0 : -1;
    *at = 0;
    *second = at + 1;
    return *buffer && at[1] ? 0 : -1;
}

//  Opens a report and writes its header. Returns the file or NULL after
//  logging (with *failed set); NULL without a path.
static FILE *s_open_report (const char *path, const char *header, bool *failed)
{
    if (!path)
        return NULL;
    FILE *report = fopen (path, "w");
    if (!report || fprintf (report, "%s\n", header) < 0 || fflush (report) != 0) {
        dlb_error ("%s: cannot write: %s", path, strerror (errno));
        if (report)
            fclose (report);
        *failed = true;
        return NULL;
    }
    return report;
}

//  Loads a rate column. Returns 0, or -1 after logging.
static int s_load_rate (const char *path, const char *column, bool skip_bad,
                        dlb_trace_t **trace_p)
{
    char err[REPLAY_ERR_MAX];
    if (dlb_trace_load_rate (path, column, skip_bad, trace_p, err, sizeof err) == 0)
        return 0;
    dlb_error ("%s", err);
    return -1;
}

typedef struct {
    dlb_replay_disk_t *disk;
    dlb_replay_disk_config_t config;
    dlb_replay_disk_result_t result;
    int rc;
} s_disk_job_t;

typedef struct {
    dlb_replay_net_t *net;
    dlb_replay_net_config_t config;
    dlb_replay_net_result_t result;
    int rc;
} s_net_job_t;

static void *s_disk_thread (void *arg)
{
    s_disk_job_t *job = arg;
    job->rc = dlb_replay_disk_run (job->disk, &job->config, &job->result);
    return NULL;
}

static void *s_net_thread (void *arg)
{
    s_net_job_t *job = arg;
    job->rc = dlb_replay_net_run (job->net, &job->config, &job->result);
    return NULL;
}

static void s_print_cpu (const char *mode_name, const dlb_replayer_result_t *result)
{
    if (result->scored)
        printf ("mode=%s intervals=%zu mean_dev=%.2f max_dev=%.2f short=%.2f "
                "overhead=%.3f others=%.1f",
                mode_name, result->intervals, result->mean_deviation,
                result->max_deviation, result->shortfall, result->overhead,
                result->others);
    else
        printf ("mode=%s intervals=%zu mean_dev=- max_dev=- short=- overhead=%.3f "
                "others=-",
                mode_name, result->intervals, result->overhead);
    if (result->quiet)
        printf (" quiet=%zu quiet_mean_dev=%.2f quiet_max_dev=%.2f\n", result->quiet,
                result->quiet_mean_deviation, result->quiet_max_deviation);
    else
        printf (" quiet=0 quiet_mean_dev=- quiet_max_dev=-\n");
}

static void s_print_disk (const s_disk_job_t *job)
{
    printf ("disk: intervals=%zu", job->result.read.intervals);
    dlb_pace_tally_print (&job->result.read, "read", stdout);
    dlb_pace_tally_print (&job->result.write, "write", stdout);
    printf (" page_cache=%s", dlb_replay_disk_direct (job->disk) ? "bypassed_odirect"
                                                                 : "fadvise_fdatasync");
    if (job->result.storage_known)
        printf (" storage_read=%llu storage_write=%llu\n",
                (unsigned long long) job->result.storage_read,
                (unsigned long long) job->result.storage_write);
    else
        printf (" storage_read=- storage_write=-\n");
}

static void s_print_net (const s_net_job_t *job)
{
    const dlb_replay_net_result_t *result = &job->result;
    printf ("net: intervals=%zu", result->out_bytes.intervals);
    dlb_pace_tally_print (&result->out_bytes, "out_bps", stdout);
    dlb_pace_tally_print (&result->out_packets, "out_pps", stdout);
    if (job->config.in_bps) {
        dlb_pace_tally_print (&result->in_bytes, "in_bps", stdout);
        dlb_pace_tally_print (&result->in_packets, "in_pps", stdout);
    }
    printf (" sent=%llu", (unsigned long long) result->sent_packets);
    if (result->sink_known)
        printf (" sink_received=%llu lost=%lld\n",
                (unsigned long long) result->sink_packets,
                (long long) result->sent_packets - (long long) result->sink_packets);
    else
        printf (" sink_received=- lost=-\n");
}

//  dlb-replay --sink [HOST:]PORT. Returns the exit code.
static int s_sink_main (const char *where)
{
    char buffer[REPLAY_NAME_MAX];
    const char *host, *port;
    if (s_split (where, ':', true, buffer, sizeof buffer, &host, &port) != 0) {
        fprintf (stderr, "dlb-replay: bad --sink '%s'\n", where);
        s_usage_to (stderr);
        return REPLAY_EXIT_USAGE;
    }
    if (!port) { //  PORT alone: loopback
        port = host;
        host = "127.0.0.1";
    }
    return dlb_replay_net_sink (host, port, stdout) == 0 ? 0 : 1;
}

int main (int argc, char *argv[])
{
    if (dlb_config_version (argc, argv, "dlb-replay"))
        return 0;
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            s_usage_to (stdout); //  asked for: not an error
            return 0;
        }
    char host[REPLAY_HOST_MAX] = "-";
    gethostname (host, sizeof host - 1);
    dlb_log_init (host, "replay");

    const char *path = NULL, *column = NULL, *report_path = NULL;
    const char *cpu_list = NULL, *disk_dir = NULL, *net_to = NULL, *sink = NULL;
    const char *disk_columns = DISK_COLUMNS, *net_columns = NET_COLUMNS;
    const char *disk_report_path = NULL, *net_report_path = NULL;
    dlb_trace_format_t format = DLB_TRACE_AUTO;
    dlb_replayer_mode_t mode = DLB_REPLAYER_OWN;
    double seconds = 1, slice_msecs = DLB_REPLAYER_SLICE_MSECS;
    bool loop = false, skip_bad = false, usage = false;
    for (int arg = 1; arg < argc && !usage; arg++) {
        const char *option = argv[arg];
        const char *value = arg + 1 < argc ? argv[arg + 1] : NULL;
        bool takes_value = true;
        if (strcmp (option, "--loop") == 0)
            loop = true, takes_value = false;
        else if (strcmp (option, "--skip-bad") == 0)
            skip_bad = true, takes_value = false;
        else if (option[0] != '-' && !path)
            path = option, takes_value = false;
        else if (!value)
            usage = true;
        else if (strcmp (option, "--mode") == 0 && strcmp (value, "own") == 0)
            mode = DLB_REPLAYER_OWN;
        else if (strcmp (option, "--mode") == 0 && strcmp (value, "total") == 0)
            mode = DLB_REPLAYER_TOTAL;
        else if (strcmp (option, "--format") == 0)
            usage = dlb_trace_format_parse (value, &format) != 0;
        else if (strcmp (option, "--column") == 0)
            column = value;
        else if (strcmp (option, "--report") == 0)
            report_path = value;
        else if (strcmp (option, "--cpus") == 0)
            cpu_list = value;
        else if (strcmp (option, "--disk") == 0)
            disk_dir = value;
        else if (strcmp (option, "--disk-columns") == 0)
            disk_columns = value;
        else if (strcmp (option, "--disk-report") == 0)
            disk_report_path = value;
        else if (strcmp (option, "--net") == 0)
            net_to = value;
        else if (strcmp (option, "--net-columns") == 0)
            net_columns = value;
        else if (strcmp (option, "--net-report") == 0)
            net_report_path = value;
        else if (strcmp (option, "--sink") == 0)
            sink = value;
        else if (strcmp (option, "--slice-msecs") == 0)
            usage = dlb_config_number (value, DLB_REPLAYER_SLICE_MIN_MSECS,
                                       DLB_REPLAYER_MAX_SECS * MSECS_PER_SEC,
                                       &slice_msecs) != 0;
        else if (strcmp (option, "--seconds-per-sample") == 0)
            usage = dlb_config_number (value, DLB_REPLAYER_MIN_SECS,
                                       DLB_REPLAYER_MAX_SECS, &seconds) != 0;
        else
            usage = true;
        if (usage)
            fprintf (stderr, "dlb-replay: bad or incomplete option '%s'\n", option);
        if (takes_value)
            arg++;
    }
    dlb_pace_on_signals (); //  a signal stops every replay (or the sink)
    if (!usage && sink && !path)
        return s_sink_main (sink);

    bool cpu_on = cpu_list || (!disk_dir && !net_to);
    int cpus[CPU_SETSIZE];
    int ncpus = usage || !cpu_on
                    ? 0
                    : dlb_replayer_parse_cpus (cpu_list ? cpu_list : "0", cpus,
                                               CPU_SETSIZE, CPU_SETSIZE);
    char disk_buffer[REPLAY_NAME_MAX], net_buffer[REPLAY_NAME_MAX],
        to_buffer[REPLAY_NAME_MAX];
    const char *read_column = NULL, *write_column = NULL, *out_column = NULL;
    const char *in_column = NULL, *net_host = NULL, *net_port = NULL;
    if (!usage && cpu_on && ncpus <= 0) {
        fprintf (stderr, "dlb-replay: bad CPU list '%s'\n", cpu_list);
        usage = true;
    }
    if (!usage && disk_dir &&
        s_split (disk_columns, ',', false, disk_buffer, sizeof disk_buffer, &read_column,
                 &write_column) != 0) {
        fprintf (stderr, "dlb-replay: --disk-columns wants READ,WRITE\n");
        usage = true;
    }
    if (!usage && net_to &&
        (s_split (net_columns, ',', true, net_buffer, sizeof net_buffer, &out_column,
                  &in_column) != 0 ||
         s_split (net_to, ':', false, to_buffer, sizeof to_buffer, &net_host,
                  &net_port) != 0)) {
        fprintf (stderr, "dlb-replay: --net wants HOST:PORT, --net-columns OUT[,IN]\n");
        usage = true;
    }
    if (!usage && (!path || sink)) {
        fprintf (stderr, "dlb-replay: %s\n",
                 sink ? "--sink takes no TRACE" : "TRACE is required");
        usage = true;
    }
    if (usage) {
        s_usage_to (stderr);
        return REPLAY_EXIT_USAGE;
    }

    int rc = 1;
    bool failed = false;
    dlb_trace_t *trace = NULL, *reads = NULL, *writes = NULL, *outs = NULL, *ins = NULL;
    FILE *report = NULL, *disk_report = NULL, *net_report = NULL;
    s_disk_job_t disk_job = {0};
    s_net_job_t net_job = {0};
    char err[REPLAY_ERR_MAX];
    if (cpu_on) {
        if (dlb_trace_load (path, format, column, skip_bad, &trace, err, sizeof err) !=
            0) {
            dlb_error ("%s", err);
            goto cleanup;
        }
        if (trace->skipped || trace->clamped)
            dlb_warn ("%s: %zu malformed lines skipped, %zu values above 100 clamped",
                      path, trace->skipped, trace->clamped);
    }
    if (disk_dir && (s_load_rate (path, read_column, skip_bad, &reads) != 0 ||
                     s_load_rate (path, write_column, skip_bad, &writes) != 0))
        goto cleanup;
    if (net_to && (s_load_rate (path, out_column, skip_bad, &outs) != 0 ||
                   (in_column && s_load_rate (path, in_column, skip_bad, &ins) != 0)))
        goto cleanup;
    report = s_open_report (report_path, "index,target,achieved", &failed);
    disk_report = s_open_report (disk_report_path,
                                 "index,target_read_bps,achieved_read_bps,"
                                 "target_write_bps,achieved_write_bps",
                                 &failed);
    net_report = s_open_report (
        net_report_path,
        "index,target_out_bps,achieved_out_bps,target_out_pps,achieved_out_pps,"
        "target_in_bps,achieved_in_bps,target_in_pps,achieved_in_pps",
        &failed);
    if (failed)
        goto cleanup;
    if (disk_dir && !(disk_job.disk = dlb_replay_disk_new (disk_dir, true)))
        goto cleanup;
    if (net_to && !(net_job.net = dlb_replay_net_new (net_host, net_port)))
        goto cleanup;

    //  One grid for every mode, starting once the disk file is written.
    double start = dlb_pace_now () + DLB_REPLAYER_START_MSECS / MSECS_PER_SEC;
    const char *mode_name = mode == DLB_REPLAYER_OWN ? "own" : "total";
    dlb_info ("replaying %s at %g s per sample:%s%s%s%s%s%s%s%s", path, seconds,
              cpu_on ? " CPU (" : "", cpu_on ? mode_name : "", cpu_on ? ")" : "",
              disk_dir ? " disk in " : "", disk_dir ? disk_dir : "",
              net_to ? " network to " : "", net_to ? net_to : "",
              loop ? ", looping" : "");
    if (disk_dir)
        disk_job.config =
            (dlb_replay_disk_config_t){reads->values,
                                       writes->values,
                                       {reads->count, seconds, start, loop, disk_report}};
    if (net_to)
        net_job.config =
            (dlb_replay_net_config_t){outs->values,
                                      ins ? ins->values : NULL,
                                      {outs->count, seconds, start, loop, net_report}};
    //  The mode threads start with every signal blocked: signals go to this one.
    pthread_t disk_thread, net_thread;
    sigset_t all, previous;
    sigfillset (&all);
    pthread_sigmask (SIG_BLOCK, &all, &previous);
    bool disk_started =
        disk_dir && pthread_create (&disk_thread, NULL, s_disk_thread, &disk_job) == 0;
    bool net_started =
        net_to && pthread_create (&net_thread, NULL, s_net_thread, &net_job) == 0;
    pthread_sigmask (SIG_SETMASK, &previous, NULL);
    if ((disk_dir && !disk_started) || (net_to && !net_started)) {
        dlb_error ("cannot start a replay thread");
        failed = true;
        dlb_pace_stop ();
    }
    dlb_replayer_result_t cpu_result;
    if (cpu_on) {
        dlb_replayer_config_t config = {.mode = mode,
                                        .values = trace->values,
                                        .count = trace->count,
                                        .seconds_per_sample = seconds,
                                        .cpus = cpus,
                                        .ncpus = (size_t) ncpus,
                                        .loop = loop,
                                        .report = report,
                                        .slice_secs = slice_msecs / MSECS_PER_SEC,
                                        .start = start};
        failed |= dlb_replayer_run (&config, &cpu_result) != 0;
        s_print_cpu (mode_name, &cpu_result);
    }
    if (disk_started) {
        pthread_join (disk_thread, NULL);
        failed |= disk_job.rc != 0;
        s_print_disk (&disk_job);
    }
    if (net_started) {
        pthread_join (net_thread, NULL);
        failed |= net_job.rc != 0;
        s_print_net (&net_job);
    }
    fflush (stdout);
    dlb_info ("%s", dlb_pace_stopping () ? "stopped" : failed ? "failed" : "done");
    rc = failed ? 1 : 0;
cleanup:
    if (report && fclose (report) != 0)
        rc = 1;
    if (disk_report && fclose (disk_report) != 0)
        rc = 1;
    if (net_report && fclose (net_report) != 0)
        rc = 1;
    dlb_replay_disk_destroy (&disk_job.disk);
    dlb_replay_net_destroy (&net_job.net);
    dlb_trace_destroy (&trace);
    dlb_trace_destroy (&reads);
    dlb_trace_destroy (&writes);
    dlb_trace_destroy (&outs);
    dlb_trace_destroy (&ins);
    return rc;
}
