/*  dlb-forecast: scores every load forecaster of dlb_forecast on directories
    of recorded CPU traces (mean absolute error, 1 and H samples ahead).

    For each trace, samples are fed one by one; before sample t is fed, the
    forecast each predictor made h samples earlier is compared with it. A
    forecast made after fewer than DLB_FORECAST_EVAL_WARMUP samples is not
    scored. The MAE is averaged over all scored points of all traces.

    With --interval K (one or several), every forecast of the mean of the
    next K samples made after n >= DLB_FORECAST_EVAL_WARMUP samples is also
    scored on the realized mean of samples n + 1..n + K (1-based), for
    every interval predictor of dlb_forecast and three references computed
    here: the last value, the mean of the last K samples, and NWS on
    interval means (of the classic battery's interval forecasts, the one
    with the lowest absolute error accumulated on the K-sample intervals
    that have passed, this trace only).

    For scale, the same 1-step points are also "predicted" by a yardstick
    that is not a forecaster: the median of the YARDSTICK_SIDE samples
    before and the YARDSTICK_SIDE samples after each one (fewer at the ends
    of a trace). It sees the future; where it is barely better than the
    forecasters, the rest of the error is noise no forecaster can remove. */
#include "dlb_config.h"
#include "dlb_forecast.h"
#include "dlb_log.h"
#include "dlb_trace.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EXIT_USAGE     2
#define YARDSTICK_SIDE 30     //  samples on each side of the point
#define INTERVALS_MAX  8      //  lengths one --interval takes
#define INTERVAL_MAX   100000 //  samples

//  The references scored beside dlb_forecast's interval predictors.
enum { REF_LAST, REF_NWS, REF_MEAN_K, REFS };
static const char *s_ref_names[REFS] = {"last", "nws", "mean_k"};

typedef struct {
    dlb_trace_format_t format;
    const char *column;
    int horizon;
    size_t max_traces; //  0: every trace
    uint64_t seed;
    bool json;
    bool skip_bad;
    size_t intervals[INTERVALS_MAX]; //  --interval lengths, samples
    size_t interval_count;
} options_t;

//  Scores of the forecasts of one interval length.
typedef struct {
    size_t length;        //  samples
    size_t points;        //  scored forecasts
    double *abs_sum;      //  [interval predictors + REFS]
    double *classic;      //  [length + 1][classic]: classic forecasts waiting
    double *nws_error;    //  [classic]: this trace's accumulated errors
    double stated_sum;    //  dlb_forecast_mean's expected errors
    size_t stated_points; //  forecasts that stated one
    size_t under;         //  ... whose error was at most the stated one
} interval_tally_t;

typedef struct {
    size_t predictors;
    double *abs_sum;  //  [2][predictors]: 1 step, then horizon steps
    size_t points[2]; //  scored points, 1 step and horizon steps
    double yardstick; //  sum of the yardstick's absolute errors, 1-step points
    double *made;     //  [horizon + 1][2][predictors]: forecasts waiting
    size_t traces;
    size_t traces_skipped;
    size_t lines_skipped;
    size_t clamped;
    size_t interval_predictors;
    size_t classic;
    interval_tally_t interval[INTERVALS_MAX];
} tally_t;

static void s_usage (FILE *out)
{
    fprintf (
        out,
        "Usage: dlb-forecast eval DIR... [--format F] [--column NAME] [--horizon H]\n"
        "                    [--max N] [--seed S] [--json] [--skip-bad]\n"
        "Scores each forecaster on every trace file in the directories: mean\n"
        "absolute error (CPU %% points) 1 and H samples ahead, and its ratio to\n"
        "the last value; then a non-causal yardstick for scale (the median of\n"
        "the %d samples on each side of each point, which sees the future).\n"
        "  --format F    auto (default), planetlab, google, bitbrains, csv\n"
        "  --column NAME csv column holding the value (default: the second)\n"
        "  --horizon H   1..%d samples ahead (default %d)\n"
        "  --max N       N traces per directory, picked pseudo-randomly\n"
        "  --seed S      seed of that pick (default %d)\n"
        "  --interval K[,K...]  also score forecasts of the mean of the next K\n"
        "                samples (1..%d, up to %d lengths) against the last value,\n"
        "                NWS on K-sample means and the mean of the last K\n"
        "  --json        one JSON object: traces, horizon, mae, mae1, yardstick1\n"
        "                (and intervals)\n"
        "  --skip-bad    skip malformed lines and traces instead of failing\n"
        "Exit: 0 done, 1 a trace or directory could not be read, 2 bad usage.\n",
        YARDSTICK_SIDE, DLB_FORECAST_HORIZON_MAX, DLB_FORECAST_EVAL_HORIZON,
        DLB_FORECAST_EVAL_SEED, INTERVAL_MAX, INTERVALS_MAX);
}

//  Parses a decimal integer in min..max. Returns 0, or -1 if text is not one.
static int s_parse_long (const char *text, long min, long max, long *value)
{
    if (!text || !*text)
        return -1;
    char *end;
    errno = 0;
    long parsed = strtol (text, &end, 10);
    if (errno || *end || parsed < min || parsed > max)
        return -1;
    *value = parsed;
    return 0;
}

//  splitmix64: a small, well-mixed generator, so that --seed picks the same
//  traces on every platform.
static uint64_t s_next_random (uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int s_compare_names (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

static void s_free_names (char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free (names[i]);
    free (names);
}

//  Lists the regular files of dir (not starting with '.'), sorted by name,
//  and keeps max_traces of them picked by seed if there are more. Returns 0
//  with a new array in *names_p, or -1 with a message logged.
static int s_list (const char *dir, const options_t *options, char ***names_p,
                   size_t *count_p)
{
    DIR *handle = opendir (dir);
    if (!handle) {
        dlb_error ("%s: %s", dir, strerror (errno));
        return -1;
    }
    char **names = NULL;
    size_t count = 0, size = 0;
    int rc = -1;
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        if (entry->d_name[0] == '.')
            continue;
        char *path;
        if (asprintf (&path, "%s/%s", dir, entry->d_name) < 0) {
            dlb_error ("%s: out of memory", dir);
            goto cleanup;
        }
        struct stat info;
        bool regular = stat (path, &info) == 0 && S_ISREG (info.st_mode);
        if (!regular) {
            free (path);
            continue;
        }
        if (count == size) {
            size = size ? 2 * size : 64;
            char **grown = realloc (names, size * sizeof *names);
            if (!grown) {
                dlb_error ("%s: out of memory", dir);
                free (path);
                goto cleanup;
            }
            names = grown;
        }
        names[count++] = path;
    }
    if (count == 0) {
        dlb_error ("%s: no trace files", dir);
        goto cleanup;
    }
    qsort (names, count, sizeof *names, s_compare_names);
    if (options->max_traces && count > options->max_traces) {
        //  Partial Fisher-Yates: the first max_traces become the pick.
        uint64_t state = options->seed;
        for (size_t i = 0; i < options->max_traces; i++) {
            size_t j = i + (size_t) (s_next_random (&state) % (count - i));
            char *swap = names[i];
            names[i] = names[j];
            names[j] = swap;
        }
        for (size_t i = options->max_traces; i < count; i++)
            free (names[i]);
        count = options->max_traces;
        qsort (names, count, sizeof *names, s_compare_names);
    }
    rc = 0;
cleanup:
    closedir (handle);
    if (rc == 0) {
        *names_p = names;
        *count_p = count;
    }
    else
        s_free_names (names, count);
    return rc;
}

//  The yardstick at sample t: median of the samples within YARDSTICK_SIDE
//  of t, t itself left out.
static double s_yardstick (const dlb_trace_t *trace, size_t t)
{
    double window[2 * YARDSTICK_SIDE];
    size_t count = 0;
    size_t first = t > YARDSTICK_SIDE ? t - YARDSTICK_SIDE : 0;
    for (size_t j = first; j < trace->count && j <= t + YARDSTICK_SIDE; j++)
        if (j != t)
            window[count++] = trace->values[j];
    return count ? dlb_forecast_median (window, count) : trace->values[t];
}

//  Scores the interval forecasts made after n samples of trace on the mean
//  of samples n..n + length - 1 (0-based), given prefix[m] = sum of the first
//  m samples; first lets NWS learn from the interval that ended at sample n.
static void s_score_intervals (const dlb_trace_t *trace, const double *prefix, size_t n,
                               dlb_forecast_t *forecast, tally_t *tally)
{
    size_t predictors = tally->interval_predictors, classic = tally->classic;
    for (size_t k = 0; k < INTERVALS_MAX && tally->interval[k].length; k++) {
        interval_tally_t *interval = &tally->interval[k];
        size_t length = interval->length;
        double *waiting = &interval->classic[(n % (length + 1)) * classic];
        //  The interval of the origin length samples back has passed: NWS
        //  learns from it before choosing now.
        if (n >= length + 1) {
            double realized = (prefix[n] - prefix[n - length]) / (double) length;
            double *made = &interval->classic[((n - length) % (length + 1)) * classic];
            for (size_t i = 0; i < classic; i++)
                interval->nws_error[i] += fabs (realized - made[i]);
        }
        size_t best = 0;
        for (size_t i = 0; i < classic; i++) {
            waiting[i] = dlb_forecast_mean_with (forecast, i, length);
            if (interval->nws_error[i] < interval->nws_error[best])
                best = i;
        }
        if (n < DLB_FORECAST_EVAL_WARMUP || n + length > trace->count)
            continue;
        double realized = (prefix[n + length] - prefix[n]) / (double) length;
        for (size_t i = 0; i + 1 < predictors; i++)
            interval->abs_sum[i] +=
                fabs (realized - dlb_forecast_mean_with (forecast, i, length));
        //  The last is dlb_forecast_mean's, with the error it expects.
        double expected;
        double miss = fabs (realized - dlb_forecast_mean (forecast, length, &expected));
        interval->abs_sum[predictors - 1] += miss;
        if (isfinite (expected)) {
            interval->stated_sum += expected;
            interval->stated_points++;
            interval->under += miss <= expected;
        }
        size_t window = n < length ? n : length;
        double ref[REFS] = {[REF_LAST] = trace->values[n - 1],
                            [REF_NWS] = waiting[best],
                            [REF_MEAN_K] =
                                (prefix[n] - prefix[n - window]) / (double) window};
        for (size_t r = 0; r < REFS; r++)
            interval->abs_sum[predictors + r] += fabs (realized - ref[r]);
        interval->points++;
    }
}

//  Feeds one trace and adds its errors to the tally. Returns 0, or -1 if
//  memory runs out.
static int s_score_trace (const dlb_trace_t *trace, const options_t *options,
                          tally_t *tally)
{
    int horizons[2] = {1, options->horizon};
    size_t predictors = tally->predictors;
    size_t slots = (size_t) options->horizon + 1;
    dlb_forecast_t *forecast = dlb_forecast_new (options->horizon);
    double *prefix = calloc (trace->count + 1, sizeof *prefix);
    if (!forecast || !prefix) {
        dlb_forecast_destroy (&forecast);
        free (prefix);
        return -1;
    }
    for (size_t t = 0; t < trace->count; t++)
        prefix[t + 1] = prefix[t] + trace->values[t];
    for (size_t k = 0; k < options->interval_count; k++)
        memset (tally->interval[k].nws_error, 0,
                tally->classic * sizeof *tally->interval[k].nws_error);
    for (size_t t = 0; t < trace->count; t++) {
        double value = trace->values[t];
        for (int k = 0; k < 2; k++) {
            //  The forecast of sample t made h samples earlier, after
            //  t + 1 - h samples had been fed.
            size_t h = (size_t) horizons[k];
            if (t + 1 < h + DLB_FORECAST_EVAL_WARMUP)
                continue;
            double *made =
                &tally->made[(((t + 1 - h) % slots) * 2 + (size_t) k) * predictors];
            for (size_t i = 0; i < predictors; i++)
                tally->abs_sum[(size_t) k * predictors + i] += fabs (value - made[i]);
            tally->points[k]++;
            if (k == 0)
                tally->yardstick += fabs (value - s_yardstick (trace, t));
        }
        dlb_forecast_feed (forecast, value);
        for (int k = 0; k < 2; k++) {
            double *made =
                &tally->made[(((t + 1) % slots) * 2 + (size_t) k) * predictors];
            for (size_t i = 0; i < predictors; i++)
                made[i] = dlb_forecast_predict_with (forecast, i, horizons[k]);
        }
        s_score_intervals (trace, prefix, t + 1, forecast, tally);
    }
    dlb_forecast_destroy (&forecast);
    free (prefix);
    return 0;
}

//  MAE of column i of an interval tally, NAN without points.
static double s_interval_mae (const interval_tally_t *interval, size_t i)
{
    return interval->points ? interval->abs_sum[i] / (double) interval->points : NAN;
}

//  Mean expected error dlb_forecast_mean stated, and the share of its
//  errors at or under the stated one; NAN if it never stated one.
static double s_stated (const interval_tally_t *interval)
{
    return interval->stated_points
               ? interval->stated_sum / (double) interval->stated_points
               : NAN;
}

static double s_under (const interval_tally_t *interval)
{
    return interval->stated_points
               ? (double) interval->under / (double) interval->stated_points
               : NAN;
}

static void s_print_intervals_text (const tally_t *tally, const options_t *options,
                                    dlb_forecast_t *names)
{
    size_t predictors = tally->interval_predictors;
    size_t count = options->interval_count;
    printf ("\ninterval means: MAE (CPU %% points) of forecasts of the mean of the "
            "next K samples\n%-8s %8s %9s %9s %9s %9s %8s %8s %8s %9s %6s\n",
            "K", "points", "last", "nws", "mean_k", "forecast", "/nws", "last/nws",
            "mean/nws", "expected", "under");
    for (size_t k = 0; k < count; k++) {
        const interval_tally_t *interval = &tally->interval[k];
        double last = s_interval_mae (interval, predictors + REF_LAST);
        double nws = s_interval_mae (interval, predictors + REF_NWS);
        double mean = s_interval_mae (interval, predictors + REF_MEAN_K);
        double forecast = s_interval_mae (interval, predictors - 1);
        printf ("%-8zu %8zu %9.4f %9.4f %9.4f %9.4f %8.3f %8.3f %8.3f %9.4f %5.1f%%\n",
                interval->length, interval->points, last, nws, mean, forecast,
                forecast / nws, last / nws, mean / nws, s_stated (interval),
                100 * s_under (interval));
    }
    printf ("(expected: the mean error dlb_forecast_mean expected; under: the share of "
            "errors at most that)\n");
    printf ("\nevery interval predictor (\"forecast\" above is \"interval\"), MAE "
            "by K:\n%-16s",
            "predictor");
    for (size_t k = 0; k < count; k++)
        printf (" %9zu", tally->interval[k].length);
    printf ("\n");
    for (size_t i = 0; i < predictors; i++) {
        printf ("%-16s", dlb_forecast_mean_name (names, i));
        for (size_t k = 0; k < count; k++)
            printf (" %9.4f", s_interval_mae (&tally->interval[k], i));
        printf ("\n");
    }
}

//  One JSON number, or null for NAN (JSON has no NaN).
static void s_print_json_number (double value)
{
    if (isfinite (value))
        printf ("%.6f", value);
    else
        printf ("null");
}

static void s_print_intervals_json (const tally_t *tally, const options_t *options,
                                    dlb_forecast_t *names)
{
    size_t predictors = tally->interval_predictors;
    printf (", \"intervals\": {");
    for (size_t k = 0; k < options->interval_count; k++) {
        const interval_tally_t *interval = &tally->interval[k];
        printf ("%s\"%zu\": {\"points\": %zu", k ? ", " : "", interval->length,
                interval->points);
        for (size_t r = 0; r < REFS; r++) {
            printf (", \"%s\": ", s_ref_names[r]);
            s_print_json_number (s_interval_mae (interval, predictors + r));
        }
        printf (", \"forecast\": ");
        s_print_json_number (s_interval_mae (interval, predictors - 1));
        printf (", \"expected\": ");
        s_print_json_number (s_stated (interval));
        printf (", \"under\": ");
        s_print_json_number (s_under (interval));
        printf (", \"all\": {");
        for (size_t i = 0; i < predictors; i++) {
            printf ("%s\"%s\": ", i ? ", " : "", dlb_forecast_mean_name (names, i));
            s_print_json_number (s_interval_mae (interval, i));
        }
        printf ("}}");
    }
    printf ("}");
}

static void s_print_text (const tally_t *tally, const options_t *options,
                          dlb_forecast_t *names)
{
    printf ("traces %zu (skipped %zu), points %zu at 1 step, %zu at %d steps\n",
            tally->traces, tally->traces_skipped, tally->points[0], tally->points[1],
            options->horizon);
    if (tally->lines_skipped || tally->clamped)
        printf ("lines skipped %zu, values clamped to 100 %zu\n", tally->lines_skipped,
                tally->clamped);
    printf ("%-12s %10s %8s %10s %8s\n", "predictor", "mae1", "/last", "mae", "/last");
    size_t predictors = tally->predictors;
    for (size_t i = 0; i < predictors; i++) {
        double mae[2], ratio[2];
        for (int k = 0; k < 2; k++) {
            double last = tally->abs_sum[(size_t) k * predictors];
            mae[k] = tally->points[k]
                         ? tally->abs_sum[(size_t) k * predictors + i] / tally->points[k]
                         : NAN;
            ratio[k] =
                last > 0 ? tally->abs_sum[(size_t) k * predictors + i] / last : NAN;
        }
        printf ("%-12s %10.4f %8.3f %10.4f %8.3f\n", dlb_forecast_name (names, i), mae[0],
                ratio[0], mae[1], ratio[1]);
    }
    double last = tally->abs_sum[0];
    if (tally->points[0])
        printf ("yardstick %13.4f %8.3f   (not a forecast: the median of the %d samples\n"
                "%36son each side of each 1-step point)\n",
                tally->yardstick / tally->points[0],
                last > 0 ? tally->yardstick / last : NAN, YARDSTICK_SIDE, "");
    if (options->interval_count)
        s_print_intervals_text (tally, options, names);
}

static void s_print_json_map (const tally_t *tally, int k, dlb_forecast_t *names)
{
    size_t predictors = tally->predictors;
    printf ("{");
    for (size_t i = 0; i < predictors; i++) {
        double mae = tally->points[k]
                         ? tally->abs_sum[(size_t) k * predictors + i] / tally->points[k]
                         : NAN;
        //  JSON has no NaN: no scored point gives null.
        if (isfinite (mae))
            printf ("%s\"%s\": %.6f", i ? ", " : "", dlb_forecast_name (names, i), mae);
        else
            printf ("%s\"%s\": null", i ? ", " : "", dlb_forecast_name (names, i));
    }
    printf ("}");
}

static void s_print_json (const tally_t *tally, const options_t *options,
                          dlb_forecast_t *names)
{
    printf ("{\"traces\": %zu, \"horizon\": %d, \"points\": %zu, \"points1\": %zu, "
            "\"skipped_traces\": %zu, \"skipped_lines\": %zu, \"clamped\": %zu, "
            "\"mae\": ",
            tally->traces, options->horizon, tally->points[1], tally->points[0],
            tally->traces_skipped, tally->lines_skipped, tally->clamped);
    s_print_json_map (tally, 1, names);
    printf (", \"mae1\": ");
    s_print_json_map (tally, 0, names);
    printf (", \"yardstick1\": ");
    s_print_json_number (tally->points[0] ? tally->yardstick / tally->points[0] : NAN);
    if (options->interval_count)
        s_print_intervals_json (tally, options, names);
    printf ("}\n");
}

//  Parses "K[,K...]" into options->intervals, after those already there.
//  Returns 0, or -1 if text is not such a list or has too many lengths.
static int s_parse_intervals (const char *text, options_t *options)
{
    if (!text)
        return -1;
    char copy[256];
    if (snprintf (copy, sizeof copy, "%s", text) >= (int) sizeof copy)
        return -1;
    char *rest = copy, *item;
    //  strsep keeps empty items ("6,,24"), so that they are refused.
    while ((item = strsep (&rest, ","))) {
        long number;
        if (options->interval_count == INTERVALS_MAX ||
            s_parse_long (item, 1, INTERVAL_MAX, &number))
            return -1;
        options->intervals[options->interval_count++] = (size_t) number;
    }
    return 0;
}

//  Parses the options after "eval"; directories are left in dirs. Returns 0,
//  or -1 after printing why.
static int s_parse_options (int argc, char *argv[], options_t *options, const char **dirs,
                            size_t *dir_count)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        long number;
        if (strcmp (arg, "--json") == 0)
            options->json = true;
        else if (strcmp (arg, "--skip-bad") == 0)
            options->skip_bad = true;
        else if (strcmp (arg, "--format") == 0) {
            if (!value || dlb_trace_format_parse (value, &options->format)) {
                fprintf (stderr, "dlb-forecast: --format needs a known format\n");
                return -1;
            }
            i++;
        }
        else if (strcmp (arg, "--column") == 0) {
            if (!value) {
                fprintf (stderr, "dlb-forecast: --column needs a name\n");
                return -1;
            }
            options->column = value;
            i++;
        }
        else if (strcmp (arg, "--horizon") == 0) {
            if (s_parse_long (value, 1, DLB_FORECAST_HORIZON_MAX, &number)) {
                fprintf (stderr, "dlb-forecast: --horizon needs 1..%d\n",
                         DLB_FORECAST_HORIZON_MAX);
                return -1;
            }
            options->horizon = (int) number;
            i++;
        }
        else if (strcmp (arg, "--interval") == 0) {
            if (s_parse_intervals (value, options)) {
                fprintf (stderr,
                         "dlb-forecast: --interval needs up to %d lengths 1..%d, "
                         "separated by commas\n",
                         INTERVALS_MAX, INTERVAL_MAX);
                return -1;
            }
            i++;
        }
        else if (strcmp (arg, "--max") == 0) {
            if (s_parse_long (value, 1, LONG_MAX, &number)) {
                fprintf (stderr, "dlb-forecast: --max needs a positive number\n");
                return -1;
            }
            options->max_traces = (size_t) number;
            i++;
        }
        else if (strcmp (arg, "--seed") == 0) {
            if (s_parse_long (value, 0, LONG_MAX, &number)) {
                fprintf (stderr, "dlb-forecast: --seed needs a number >= 0\n");
                return -1;
            }
            options->seed = (uint64_t) number;
            i++;
        }
        else if (arg[0] == '-' && arg[1] == '-') {
            fprintf (stderr, "dlb-forecast: unknown option %s\n", arg);
            return -1;
        }
        else
            dirs[(*dir_count)++] = arg;
    }
    if (*dir_count == 0) {
        fprintf (stderr, "dlb-forecast: eval needs at least one directory\n");
        return -1;
    }
    return 0;
}

int main (int argc, char *argv[])
{
    if (dlb_config_version (argc, argv, "dlb-forecast"))
        return 0;
    dlb_log_init ("-", "dlb-forecast");
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            s_usage (stdout);
            return 0;
        }
    if (argc < 2 || strcmp (argv[1], "eval") != 0) {
        s_usage (stderr);
        return EXIT_USAGE;
    }
    options_t options = {.format = DLB_TRACE_AUTO,
                         .horizon = DLB_FORECAST_EVAL_HORIZON,
                         .seed = DLB_FORECAST_EVAL_SEED};
    const char **dirs = calloc ((size_t) argc, sizeof *dirs);
    size_t dir_count = 0;
    if (!dirs)
        return EXIT_FAILURE;
    if (s_parse_options (argc, argv, &options, dirs, &dir_count)) {
        s_usage (stderr);
        free (dirs);
        return EXIT_USAGE;
    }

    int rc = EXIT_FAILURE;
    tally_t tally = {0};
    dlb_forecast_t *names = dlb_forecast_new (options.horizon);
    if (!names)
        goto cleanup;
    tally.predictors = dlb_forecast_predictors (names);
    tally.abs_sum = calloc (2 * tally.predictors, sizeof *tally.abs_sum);
    tally.made = calloc (((size_t) options.horizon + 1) * 2 * tally.predictors,
                         sizeof *tally.made);
    if (!tally.abs_sum || !tally.made) {
        dlb_error ("out of memory");
        goto cleanup;
    }
    tally.interval_predictors = dlb_forecast_mean_predictors (names);
    tally.classic = dlb_forecast_classic (names);
    for (size_t k = 0; k < options.interval_count; k++) {
        interval_tally_t *interval = &tally.interval[k];
        interval->length = options.intervals[k];
        interval->abs_sum =
            calloc (tally.interval_predictors + REFS, sizeof *interval->abs_sum);
        interval->classic =
            calloc ((interval->length + 1) * tally.classic, sizeof *interval->classic);
        interval->nws_error = calloc (tally.classic, sizeof *interval->nws_error);
        if (!interval->abs_sum || !interval->classic || !interval->nws_error) {
            dlb_error ("out of memory");
            goto cleanup;
        }
    }
    for (size_t d = 0; d < dir_count; d++) {
        char **paths;
        size_t count;
        if (s_list (dirs[d], &options, &paths, &count))
            goto cleanup;
        for (size_t i = 0; i < count; i++) {
            dlb_trace_t *trace = NULL;
            char err[512];
            if (dlb_trace_load (paths[i], options.format, options.column,
                                options.skip_bad, &trace, err, sizeof err)) {
                if (!options.skip_bad) {
                    dlb_error ("%s", err);
                    s_free_names (paths, count);
                    goto cleanup;
                }
                dlb_warn ("skipped: %s", err);
                tally.traces_skipped++;
                continue;
            }
            tally.lines_skipped += trace->skipped;
            tally.clamped += trace->clamped;
            int scored = s_score_trace (trace, &options, &tally);
            dlb_trace_destroy (&trace);
            if (scored) {
                dlb_error ("out of memory");
                s_free_names (paths, count);
                goto cleanup;
            }
            tally.traces++;
        }
        s_free_names (paths, count);
    }
    if (options.json)
        s_print_json (&tally, &options, names);
    else
        s_print_text (&tally, &options, names);
    rc = EXIT_SUCCESS;
cleanup:
    dlb_forecast_destroy (&names);
    free (tally.abs_sum);
    free (tally.made);
    for (size_t k = 0; k < INTERVALS_MAX; k++) {
        free (tally.interval[k].abs_sum);
        free (tally.interval[k].classic);
        free (tally.interval[k].nws_error);
    }
    free (dirs);
    return rc;
}
