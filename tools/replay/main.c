/*  dlb-replay: replays a recorded trace's CPU utilisation on the given CPUs,
    one sample per interval, as its own CPU time (--mode own, the default) or
    as the CPUs' total busy time (--mode total), until the trace ends or
    SIGINT/SIGTERM; then prints the fidelity (mean and max absolute deviation,
    percentage points, first interval excluded) and its own overhead (% of
    one core).                                                             */
#include "dlb_config.h"
#include "dlb_log.h"
#include "dlb_pace.h"
#include "dlb_replayer.h"
#include "dlb_trace.h"

#include <czmq.h>
#include <errno.h>
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
#define MSECS_PER_SEC     1000.0

static void s_on_signal (int signum)
{
    (void) signum;
    dlb_pace_stop ();
}

static void s_usage_to (FILE *out)
{
    fprintf (
        out,
        "usage: dlb-replay TRACE [--mode own|total]\n"
        "          [--format auto|planetlab|google|bitbrains|csv]\n"
        "          [--column NAME] [--seconds-per-sample S] [--cpus LIST] [--loop]\n"
        "          [--report FILE] [--skip-bad]\n"
        "  --mode own              each load thread's own CPU time follows the trace,\n"
        "                          whatever else runs on the CPU (default: background\n"
        "                          load that behaves like an owner's process)\n"
        "  --mode total            each CPU's busy time (/proc/stat) follows the trace:\n"
        "                          adds only what other processes leave missing\n"
        "  --format F              trace format (default auto: guessed from line 1)\n"
        "  --column NAME           csv column to replay (default: the second, "
        "cpu_total)\n"
        "  --seconds-per-sample S  interval each sample is replayed over (default 1,\n"
        "                          at least %g)\n"
        "  --cpus LIST             CPUs to load, e.g. 0 or 0,1 or 0-3 (default 0)\n"
        "  --loop                  repeat the trace until SIGINT/SIGTERM\n"
        "  --report FILE           write index,target,achieved per interval (%% busy)\n"
        "  --skip-bad              skip malformed trace lines instead of failing\n"
        "  --slice-msecs MS        control period within an interval (default %d):\n"
        "                          shorter is smoother and costs more wake-ups\n"
        "Prints: mode=M intervals=N mean_dev=POINTS max_dev=POINTS short=POINTS\n"
        "        (mean shortfall below the target) overhead=%%_OF_ONE_CORE\n"
        "        others=POINTS (mean busy %% of the CPUs that was not our load)\n"
        "        quiet=N quiet_mean_dev=POINTS quiet_max_dev=POINTS (over the intervals\n"
        "        whose others' load was at most %g points: the idle-CPU figures)\n",
        DLB_REPLAYER_MIN_SECS, DLB_REPLAYER_SLICE_MSECS, DLB_REPLAYER_QUIET_POINTS);
}

int main (int argc, char *argv[])
{
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            s_usage_to (stdout); //  asked for: not an error
            return 0;
        }
    char host[REPLAY_HOST_MAX] = "-";
    gethostname (host, sizeof host - 1);
    dlb_log_init (host, "replay");

    const char *path = NULL, *column = NULL, *report_path = NULL;
    const char *cpu_list = "0";
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
        else if (strcmp (option, "--help") == 0)
            usage = true;
        else if (option[0] != '-' && !path)
            path = option, takes_value = false;
        else if (!value)
            usage = true;
        else if (strcmp (option, "--format") == 0)
            usage = dlb_trace_format_parse (value, &format) != 0;
        else if (strcmp (option, "--mode") == 0 && strcmp (value, "own") == 0)
            mode = DLB_REPLAYER_OWN;
        else if (strcmp (option, "--mode") == 0 && strcmp (value, "total") == 0)
            mode = DLB_REPLAYER_TOTAL;
        else if (strcmp (option, "--column") == 0)
            column = value;
        else if (strcmp (option, "--report") == 0)
            report_path = value;
        else if (strcmp (option, "--cpus") == 0)
            cpu_list = value;
        else if (strcmp (option, "--slice-msecs") == 0)
            usage = dlb_config_number (value, DLB_REPLAYER_SLICE_MIN_MSECS,
                                       DLB_REPLAYER_MAX_SECS * MSECS_PER_SEC,
                                       &slice_msecs) != 0;
        else if (strcmp (option, "--seconds-per-sample") == 0)
            usage = dlb_config_number (value, DLB_REPLAYER_MIN_SECS,
                                       DLB_REPLAYER_MAX_SECS, &seconds) != 0;
        else
            usage = true;
        if (usage && strcmp (option, "--help") != 0)
            fprintf (stderr, "dlb-replay: bad or incomplete option '%s'\n", option);
        if (takes_value)
            arg++;
    }
    int cpus[CPU_SETSIZE];
    int ncpus =
        usage ? 0 : dlb_replayer_parse_cpus (cpu_list, cpus, CPU_SETSIZE, CPU_SETSIZE);
    if (!usage && ncpus <= 0) {
        fprintf (stderr, "dlb-replay: bad CPU list '%s'\n", cpu_list);
        usage = true;
    }
    if (!usage && !path) {
        fprintf (stderr, "dlb-replay: TRACE is required\n");
        usage = true;
    }
    if (usage) {
        s_usage_to (stderr);
        return REPLAY_EXIT_USAGE;
    }

    dlb_trace_t *trace = NULL;
    char err[REPLAY_ERR_MAX];
    if (dlb_trace_load (path, format, column, skip_bad, &trace, err, sizeof err) != 0) {
        dlb_error ("%s", err);
        return 1;
    }
    if (trace->skipped || trace->clamped)
        dlb_warn ("%s: %zu malformed lines skipped, %zu values above 100 clamped", path,
                  trace->skipped, trace->clamped);
    FILE *report = NULL;
    if (report_path) {
        report = fopen (report_path, "w");
        if (!report || fprintf (report, "index,target,achieved\n") < 0 ||
            fflush (report) != 0) {
            dlb_error ("%s: cannot write: %s", report_path, strerror (errno));
            if (report)
                fclose (report);
            dlb_trace_destroy (&trace);
            return 1;
        }
    }
    //  Our handler, not CZMQ's: it asks the replayer to stop.
    zsys_handler_set (NULL);
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);

    const char *mode_name = mode == DLB_REPLAYER_OWN ? "own" : "total";
    dlb_info ("replaying %s (%zu samples) at %g s per sample on CPUs %s, %s CPU time%s",
              path, trace->count, seconds, cpu_list, mode_name, loop ? ", looping" : "");
    dlb_replayer_config_t config = {.mode = mode,
                                    .values = trace->values,
                                    .count = trace->count,
                                    .seconds_per_sample = seconds,
                                    .cpus = cpus,
                                    .ncpus = (size_t) ncpus,
                                    .loop = loop,
                                    .report = report,
                                    .slice_secs = slice_msecs / MSECS_PER_SEC};
    dlb_replayer_result_t result;
    int rc = dlb_replayer_run (&config, &result) == 0 ? 0 : 1;
    if (report && fclose (report) != 0) {
        dlb_error ("%s: cannot write: %s", report_path, strerror (errno));
        rc = 1;
    }
    if (result.scored)
        printf ("mode=%s intervals=%zu mean_dev=%.2f max_dev=%.2f short=%.2f "
                "overhead=%.3f others=%.1f",
                mode_name, result.intervals, result.mean_deviation, result.max_deviation,
                result.shortfall, result.overhead, result.others);
    else
        printf ("mode=%s intervals=%zu mean_dev=- max_dev=- short=- overhead=%.3f "
                "others=-",
                mode_name, result.intervals, result.overhead);
    if (result.quiet)
        printf (" quiet=%zu quiet_mean_dev=%.2f quiet_max_dev=%.2f\n", result.quiet,
                result.quiet_mean_deviation, result.quiet_max_deviation);
    else
        printf (" quiet=0 quiet_mean_dev=- quiet_max_dev=-\n");
    dlb_info ("%s after %.1f s: CPU %.3f s, of which load %.3f s",
              result.stopped ? "stopped"
              : rc           ? "failed"
                             : "done",
              result.wall_secs, result.cpu_secs, result.load_secs);
    dlb_trace_destroy (&trace);
    return rc;
}
