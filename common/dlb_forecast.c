/*  dlb_forecast: online forecasts of a load series from a battery of simple
    predictors, with the NWS choice and an adaptive combination on top.

    Invariants, after n = self->samples samples:
    - history holds the last min (n, DLB_FORECAST_HISTORY) samples, newest
      at (n - 1) % DLB_FORECAST_HISTORY;
    - the forecast slot n % (max_horizon + 1) holds, for every predictor and
      every h in 1..max_horizon, the forecast of sample n + h; the slots of
      n - 1 .. n - max_horizon hold the forecasts still waiting for their
      sample, which is why there are max_horizon + 1 slots;
    - scores[i][h] hold predictor i's errors on every sample it forecast h
      steps ahead;
    - nothing is allocated after dlb_forecast_new;
    - cumulative is the sum of all n samples, prefix[m % (HISTORY + 1)] the
      sum of the first m, for m in n - min (n, HISTORY)..n;
    - on rung j of length L and stride s (DLB_FORECAST_INTERVAL_ORIGINS
      origins in flight), origin[j][(m / s) % ORIGIN_SLOTS] holds the
      interval forecasts made after m samples, for every multiple m of s
      in n - L + 1..n; interval_score[j][i] holds interval predictor i's
      errors on every realized L-sample mean so far.

    Feeding sample n + 1: score the waiting forecasts on it, store it, refit
    AR if due, compute the battery's forecasts, then nws_all's, nws's and
    adaptive's; then, on every rung whose stride divides n + 1, score the
    origin whose interval this sample ends and record a new one.            */
#include "dlb_forecast.h"

#include <assert.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    KIND_LAST,
    KIND_MEAN,
    KIND_MEDIAN,
    KIND_EXP,
    KIND_AR,
    KIND_TRIMMED,
    KIND_HUBER,
    KIND_HOLT,
    KIND_ANALOG,
    KIND_BLEND,
    KIND_ADAPTIVE_REAL,
    KIND_NWS,
    KIND_NWS_ALL,
    KIND_ADAPTIVE
} kind_t;

//  The AR fits: Yule-Walker on the last DLB_FORECAST_AR_WINDOW samples (the
//  classic AR), on their first differences (ARI), and on the last
//  DLB_FORECAST_HISTORY samples (long AR, centred on a short-window level).
typedef enum { FIT_SHORT, FIT_DIFF, FIT_LONG, FITS } fit_id_t;

typedef struct {
    double mean; //  of the fitted series
    int fitted;  //  orders 1..fitted usable
    double coef[DLB_FORECAST_AR_ORDER_MAX + 1][DLB_FORECAST_AR_ORDER_MAX]; //  [p][lag]
} ar_fit_t;

#define NAME_SIZE 16
//  Forgetting timescales of the adaptive blends (DLB_FORECAST_ADAPTIVE_DECAYS)
#define TIMESCALES 2

typedef struct {
    kind_t kind;
    bool classic;   //  in the NWS battery
    int window;     //  mean, median, trimmed: samples; AR: order; analog: pattern
    int neighbours; //  analog: patterns whose sequels are used
    int anchor;     //  analog: DLB_FORECAST_ANALOG_LEVEL, _SHAPE or _CENTRED
    double gain;    //  smoothing: weight of the newest sample in the level
    double gain2;   //  Holt: weight of the newest slope in the trend
    double damping; //  Holt: trend kept per step ahead
    fit_id_t fit;   //  AR: which fit
    double level;   //  smoothing: current level
    double trend;   //  Holt: current trend
    double scale;   //  Huber: discounted mean absolute deviation
    char name[NAME_SIZE];
} predictor_t;

typedef struct {
    double abs_sum;                   //  all history
    size_t count;                     //  all history
    double recent_abs[TIMESCALES];    //  discounted sums of |error|
    double recent_weight[TIMESCALES]; //  discounted counts
} score_t;

static const int s_mean_windows[] = DLB_FORECAST_MEAN_WINDOWS;
static const int s_median_windows[] = DLB_FORECAST_MEDIAN_WINDOWS;
static const double s_exp_gains[] = DLB_FORECAST_EXP_GAINS;
static const int s_ar_orders[] = DLB_FORECAST_AR_ORDERS;
static const int s_wide_median_windows[] = DLB_FORECAST_WIDE_MEDIAN_WINDOWS;
static const int s_trimmed_windows[] = DLB_FORECAST_TRIMMED_WINDOWS;
static const double s_huber_gains[] = DLB_FORECAST_HUBER_GAINS;
static const double s_holt_gains[][3] = DLB_FORECAST_HOLT_GAINS;
static const int s_ari_orders[] = DLB_FORECAST_ARI_ORDERS;
static const int s_long_ar_orders[] = DLB_FORECAST_LONG_AR_ORDERS;
static const int s_analogs[][3] = DLB_FORECAST_ANALOGS;
static const double s_decays[] = DLB_FORECAST_ADAPTIVE_DECAYS;
_Static_assert(sizeof s_decays / sizeof s_decays[0] == TIMESCALES,
               "one blend per adaptive timescale");

static const size_t s_ladder[] = DLB_FORECAST_INTERVAL_LADDER;
static const double s_interval_windows[] = DLB_FORECAST_INTERVAL_WINDOWS;
static const double s_interval_decays[] = DLB_FORECAST_INTERVAL_DECAYS;
_Static_assert(sizeof s_interval_decays / sizeof s_interval_decays[0] == TIMESCALES,
               "one interval blend per timescale");

#define COUNT_OF(array) (sizeof (array) / sizeof ((array)[0]))
#define CLASSIC                                                                          \
    (1 + COUNT_OF (s_mean_windows) + COUNT_OF (s_median_windows) +                       \
     COUNT_OF (s_exp_gains) + COUNT_OF (s_ar_orders))
#define BATTERY                                                                          \
    (CLASSIC + COUNT_OF (s_wide_median_windows) + COUNT_OF (s_trimmed_windows) +         \
     COUNT_OF (s_huber_gains) + COUNT_OF (s_holt_gains) + COUNT_OF (s_ari_orders) +      \
     COUNT_OF (s_long_ar_orders) + COUNT_OF (s_analogs))
#define BLENDS        BATTERY //  one per timescale
#define ADAPTIVE_REAL (BLENDS + TIMESCALES)
#define NWS_ALL       (ADAPTIVE_REAL + 1)
#define NWS           (ADAPTIVE_REAL + 2)
#define ADAPTIVE      (ADAPTIVE_REAL + 3)
#define PREDICTORS    (ADAPTIVE_REAL + 4)
//  Interval predictors: the per-sample ones averaged over the interval, then
//  the window means, the long-run mean, AR(1) reversion, and the metas.
#define IV_WINDOWS    PREDICTORS
#define IV_KEPT       (IV_WINDOWS + COUNT_OF (s_interval_windows))
#define IV_REVERT     (IV_KEPT + 1)
#define IV_BATTERY    (IV_REVERT + 1) //  what the interval metas choose from
#define IV_NWS        IV_BATTERY
#define IV_BLENDS     (IV_NWS + 1) //  one per timescale
#define IV_INTERVAL   (IV_BLENDS + TIMESCALES)
#define IV_PREDICTORS (IV_INTERVAL + 1)
#define IV_EXTRA      (IV_PREDICTORS - PREDICTORS)
#define RUNGS         COUNT_OF (s_ladder)
#define ORIGIN_SLOTS  (DLB_FORECAST_INTERVAL_ORIGINS + 1)
//  A soft-min weight below exp (-NEGLIGIBLE) is left out.
#define NEGLIGIBLE 40

//  Interval forecasts recorded on one rung at one origin, waiting for the
//  interval to pass.
typedef struct {
    size_t made;       //  samples fed when recorded; 0: slot empty
    double cumulative; //  sum of those samples
    double forecast[IV_PREDICTORS];
} origin_t;

//  Nearest patterns an analog search keeps: enough for the neighbours of
//  every horizon, since at most max_horizon - 1 of them end too recently.
#define ANALOG_NEAR (DLB_FORECAST_ANALOG_NEIGHBOURS_MAX + DLB_FORECAST_HORIZON_MAX - 1)

struct _dlb_forecast_t {
    int max_horizon;
    size_t samples;
    size_t ignored;
    bool integer; //  every sample so far an integer (within
                  //  DLB_FORECAST_INTEGER_TOLERANCE)
    double history[DLB_FORECAST_HISTORY];
    predictor_t predictor[PREDICTORS];
    ar_fit_t fit[FITS];
    //  The samples kept, newest first: refreshed on every feed for the
    //  battery (windows, AR fits, analog searches)
    double recent[DLB_FORECAST_HISTORY];
    //  Scratch for medians, differenced AR fits and AR iteration, sized once
    double sorted[DLB_FORECAST_HISTORY];
    double series[DLB_FORECAST_HISTORY];
    double ar_path[DLB_FORECAST_AR_ORDER_MAX + DLB_FORECAST_HORIZON_MAX];
    //  Analog: the nearest past patterns, nearest first, and their sequels
    double near_distance[ANALOG_NEAR];
    size_t near_lag[ANALOG_NEAR];
    double near_anchor[ANALOG_NEAR];
    double sequel[DLB_FORECAST_ANALOG_NEIGHBOURS_MAX];
    //  Intervals: the running sum of all samples and its value after each
    //  of the last HISTORY + 1 counts (window means in O(1)); every rung's
    //  waiting forecasts and the scores of every interval predictor there.
    double cumulative;
    double prefix[DLB_FORECAST_HISTORY + 1];
    origin_t origin[RUNGS][ORIGIN_SLOTS];
    score_t interval_score[RUNGS][IV_PREDICTORS];
    char interval_name[IV_EXTRA][NAME_SIZE];
    //  The only buffers sized by max_horizon, allocated in new ()
    double *forecasts; //  [max_horizon + 1][PREDICTORS][max_horizon]
    score_t *scores;   //  [PREDICTORS][max_horizon]
    double *path_sum;  //  [PREDICTORS][max_horizon]: current forecasts summed
                       //  over horizons 1..h
};

//  Address of the forecast made after `made` samples by predictor i for h.
static double *s_forecast (dlb_forecast_t *self, size_t made, size_t i, int h)
{
    size_t slot = made % (size_t) (self->max_horizon + 1);
    return &self->forecasts[(slot * PREDICTORS + i) * (size_t) self->max_horizon +
                            (size_t) (h - 1)];
}

static score_t *s_score (dlb_forecast_t *self, size_t i, int h)
{
    return &self->scores[i * (size_t) self->max_horizon + (size_t) (h - 1)];
}

//  Sample `lag` steps before the newest (lag 0); lag < min (n, HISTORY).
static double s_lagged (dlb_forecast_t *self, size_t lag)
{
    return self->history[(self->samples - 1 - lag) % DLB_FORECAST_HISTORY];
}

//  Samples kept, at most limit.
static size_t s_kept (dlb_forecast_t *self, size_t limit)
{
    return self->samples < limit ? self->samples : limit;
}

static double s_clamp (double value)
{
    if (value < DLB_FORECAST_MIN)
        return DLB_FORECAST_MIN;
    if (value > DLB_FORECAST_MAX)
        return DLB_FORECAST_MAX;
    return value;
}

//  Samples between two origins recorded on rung k.
static size_t s_stride (size_t k)
{
    size_t stride = s_ladder[k] / DLB_FORECAST_INTERVAL_ORIGINS;
    return stride ? stride : 1;
}

//  Next free predictor: kind, name, in the NWS battery or not.
static predictor_t *s_add (dlb_forecast_t *self, size_t *i, kind_t kind, bool classic,
                           const char *name)
{
    assert (*i < PREDICTORS);
    predictor_t *predictor = &self->predictor[(*i)++];
    predictor->kind = kind;
    predictor->classic = classic;
    snprintf (predictor->name, NAME_SIZE, "%s", name);
    return predictor;
}

dlb_forecast_t *dlb_forecast_new (int max_horizon)
{
    if (max_horizon < 1 || max_horizon > DLB_FORECAST_HORIZON_MAX)
        return NULL;
    dlb_forecast_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_horizon = max_horizon;
    self->integer = true;
    size_t h = (size_t) max_horizon;
    self->forecasts = calloc ((h + 1) * PREDICTORS * h, sizeof *self->forecasts);
    self->scores = calloc (PREDICTORS * h, sizeof *self->scores);
    self->path_sum = calloc (PREDICTORS * h, sizeof *self->path_sum);
    if (!self->forecasts || !self->scores || !self->path_sum) {
        dlb_forecast_destroy (&self);
        return NULL;
    }
    char name[NAME_SIZE];
    size_t i = 0;
    s_add (self, &i, KIND_LAST, true, "last");
    for (size_t k = 0; k < COUNT_OF (s_mean_windows); k++) {
        assert (s_mean_windows[k] >= 1 && s_mean_windows[k] <= DLB_FORECAST_HISTORY);
        snprintf (name, NAME_SIZE, "mean_%d", s_mean_windows[k]);
        s_add (self, &i, KIND_MEAN, true, name)->window = s_mean_windows[k];
    }
    for (size_t k = 0; k < COUNT_OF (s_median_windows); k++) {
        assert (s_median_windows[k] >= 1 && s_median_windows[k] <= DLB_FORECAST_HISTORY);
        snprintf (name, NAME_SIZE, "median_%d", s_median_windows[k]);
        s_add (self, &i, KIND_MEDIAN, true, name)->window = s_median_windows[k];
    }
    for (size_t k = 0; k < COUNT_OF (s_exp_gains); k++) {
        snprintf (name, NAME_SIZE, "exp_%.2f", s_exp_gains[k]);
        s_add (self, &i, KIND_EXP, true, name)->gain = s_exp_gains[k];
    }
    for (size_t k = 0; k < COUNT_OF (s_ar_orders); k++) {
        assert (s_ar_orders[k] >= 1 && s_ar_orders[k] <= DLB_FORECAST_AR_ORDER_MAX);
        snprintf (name, NAME_SIZE, "ar_%d", s_ar_orders[k]);
        predictor_t *predictor = s_add (self, &i, KIND_AR, true, name);
        predictor->window = s_ar_orders[k];
        predictor->fit = FIT_SHORT;
    }
    assert (i == CLASSIC);
    for (size_t k = 0; k < COUNT_OF (s_wide_median_windows); k++) {
        int window = s_wide_median_windows[k];
        assert (window >= 1 && window <= DLB_FORECAST_HISTORY);
        snprintf (name, NAME_SIZE, "median_%d", window);
        s_add (self, &i, KIND_MEDIAN, false, name)->window = window;
    }
    for (size_t k = 0; k < COUNT_OF (s_trimmed_windows); k++) {
        int window = s_trimmed_windows[k];
        assert (window >= 1 && window <= DLB_FORECAST_HISTORY);
        snprintf (name, NAME_SIZE, "trimmed_%d", window);
        s_add (self, &i, KIND_TRIMMED, false, name)->window = window;
    }
    for (size_t k = 0; k < COUNT_OF (s_huber_gains); k++) {
        snprintf (name, NAME_SIZE, "huber_%.2f", s_huber_gains[k]);
        s_add (self, &i, KIND_HUBER, false, name)->gain = s_huber_gains[k];
    }
    for (size_t k = 0; k < COUNT_OF (s_holt_gains); k++) {
        snprintf (name, NAME_SIZE, "holt_%.2f_%.2f", s_holt_gains[k][0],
                  s_holt_gains[k][1]);
        predictor_t *predictor = s_add (self, &i, KIND_HOLT, false, name);
        predictor->gain = s_holt_gains[k][0];
        predictor->gain2 = s_holt_gains[k][1];
        predictor->damping = s_holt_gains[k][2];
    }
    for (size_t k = 0; k < COUNT_OF (s_ari_orders); k++) {
        assert (s_ari_orders[k] >= 1 && s_ari_orders[k] <= DLB_FORECAST_AR_ORDER_MAX);
        snprintf (name, NAME_SIZE, "ari_%d", s_ari_orders[k]);
        predictor_t *predictor = s_add (self, &i, KIND_AR, false, name);
        predictor->window = s_ari_orders[k];
        predictor->fit = FIT_DIFF;
    }
    for (size_t k = 0; k < COUNT_OF (s_long_ar_orders); k++) {
        assert (s_long_ar_orders[k] >= 1 &&
                s_long_ar_orders[k] <= DLB_FORECAST_AR_ORDER_MAX);
        snprintf (name, NAME_SIZE, "long_ar_%d", s_long_ar_orders[k]);
        predictor_t *predictor = s_add (self, &i, KIND_AR, false, name);
        predictor->window = s_long_ar_orders[k];
        predictor->fit = FIT_LONG;
    }
    for (size_t k = 0; k < COUNT_OF (s_analogs); k++) {
        int pattern = s_analogs[k][0], neighbours = s_analogs[k][1];
        assert (pattern >= 1 && pattern < DLB_FORECAST_HISTORY);
        assert (neighbours >= 1 && neighbours <= DLB_FORECAST_ANALOG_NEIGHBOURS_MAX);
        predictor_t *predictor = s_add (self, &i, KIND_ANALOG, false, "");
        predictor->window = pattern;
        predictor->neighbours = neighbours;
        predictor->anchor = s_analogs[k][2];
        assert (predictor->anchor == DLB_FORECAST_ANALOG_LEVEL ||
                predictor->anchor == DLB_FORECAST_ANALOG_SHAPE ||
                predictor->anchor == DLB_FORECAST_ANALOG_CENTRED);
        const char *family = predictor->anchor == DLB_FORECAST_ANALOG_LEVEL   ? "analog"
                             : predictor->anchor == DLB_FORECAST_ANALOG_SHAPE ? "shape"
                                                                              : "centred";
        snprintf (predictor->name, NAME_SIZE, "%s_%d_%d", family, pattern, neighbours);
    }
    assert (i == BATTERY);
    for (size_t k = 0; k < TIMESCALES; k++) {
        snprintf (name, NAME_SIZE, "blend_%.3f", s_decays[k]);
        s_add (self, &i, KIND_BLEND, false, name);
    }
    s_add (self, &i, KIND_ADAPTIVE_REAL, false, "adaptive_real");
    s_add (self, &i, KIND_NWS_ALL, false, "nws_all");
    s_add (self, &i, KIND_NWS, false, "nws");
    s_add (self, &i, KIND_ADAPTIVE, false, "adaptive");
    assert (i == PREDICTORS);
    for (size_t k = 0; k < RUNGS; k++) {
        size_t stride = s_stride (k);
        //  An origin's interval ends on a sample that records another.
        assert (s_ladder[k] >= 1 && s_ladder[k] % stride == 0);
        assert (k == 0 ? s_ladder[k] == 1 : s_ladder[k] > s_ladder[k - 1]);
    }
    for (size_t k = 0; k < COUNT_OF (s_interval_windows); k++)
        snprintf (self->interval_name[IV_WINDOWS - PREDICTORS + k], NAME_SIZE,
                  "window_%gk", s_interval_windows[k]);
    snprintf (self->interval_name[IV_KEPT - PREDICTORS], NAME_SIZE, "kept_mean");
    snprintf (self->interval_name[IV_REVERT - PREDICTORS], NAME_SIZE, "revert");
    snprintf (self->interval_name[IV_NWS - PREDICTORS], NAME_SIZE, "interval_nws");
    for (size_t k = 0; k < TIMESCALES; k++)
        snprintf (self->interval_name[IV_BLENDS + k - PREDICTORS], NAME_SIZE,
                  "interval_%.3f", s_interval_decays[k]);
    snprintf (self->interval_name[IV_INTERVAL - PREDICTORS], NAME_SIZE, "interval");
    return self;
}

void dlb_forecast_destroy (dlb_forecast_t **self_p)
{
    assert (self_p);
    dlb_forecast_t *self = *self_p;
    if (!self)
        return;
    free (self->forecasts);
    free (self->scores);
    free (self->path_sum);
    free (self);
    *self_p = NULL;
}

//  Yule-Walker fit of every AR order up to order_max on series[0..n-1]
//  (newest first), by Levinson-Durbin, into fit. Order p is usable once
//  n >= DLB_FORECAST_AR_MIN_PER_LAG * p. A flat series fits all coefficients
//  to zero, so AR then forecasts its mean. Cannot fail.
static void s_levinson (const double *series, size_t n, int order_max, ar_fit_t *fit)
{
    double mean = 0;
    for (size_t j = 0; j < n; j++)
        mean += series[j];
    mean /= (double) n;
    fit->mean = mean;
    if ((size_t) order_max >= n)
        order_max = (int) n - 1;

    //  Biased autocovariances keep the fit stationary.
    double r[DLB_FORECAST_AR_ORDER_MAX + 1] = {0};
    for (int lag = 0; lag <= order_max; lag++) {
        double sum = 0;
        for (size_t j = 0; j + (size_t) lag < n; j++)
            sum += (series[j] - mean) * (series[j + (size_t) lag] - mean);
        r[lag] = sum / (double) n;
    }
    double a[DLB_FORECAST_AR_ORDER_MAX + 1] = {0};
    double previous[DLB_FORECAST_AR_ORDER_MAX + 1];
    double error = r[0];
    bool flat = r[0] <= DLB_FORECAST_VARIANCE_MIN;
    for (int p = 1; p <= order_max; p++) {
        if (!flat && error > DLB_FORECAST_VARIANCE_MIN * r[0]) {
            double acc = r[p];
            for (int j = 1; j < p; j++)
                acc -= a[j] * r[p - j];
            double reflection = acc / error;
            memcpy (previous, a, sizeof a);
            a[p] = reflection;
            for (int j = 1; j < p; j++)
                a[j] = previous[j] - reflection * previous[p - j];
            error *= 1 - reflection * reflection;
        }
        //  Else the series is exactly predictable by lower orders: keep them.
        if (n < (size_t) (DLB_FORECAST_AR_MIN_PER_LAG * p))
            break;
        for (int j = 0; j < p; j++)
            fit->coef[p][j] = a[j + 1];
        fit->fitted = p;
    }
}

//  Refits the three AR fits on the samples kept. Cannot fail.
static void s_ar_fit (dlb_forecast_t *self)
{
    size_t n = s_kept (self, DLB_FORECAST_AR_WINDOW);
    s_levinson (self->recent, n, DLB_FORECAST_AR_ORDER_MAX, &self->fit[FIT_SHORT]);
    for (size_t j = 0; j + 1 < n; j++)
        self->series[j] = self->recent[j] - self->recent[j + 1];
    if (n >= 3)
        s_levinson (self->series, n - 1, DLB_FORECAST_AR_ORDER_MAX, &self->fit[FIT_DIFF]);
    s_levinson (self->recent, s_kept (self, DLB_FORECAST_HISTORY),
                DLB_FORECAST_AR_ORDER_MAX, &self->fit[FIT_LONG]);
}

//  Sorts values[0..count-1] in place (insertion sort: at most a few
//  hundred values here).
static void s_sort (double *values, size_t count)
{
    for (size_t j = 1; j < count; j++) {
        double value = values[j];
        size_t at = j;
        while (at > 0 && values[at - 1] > value) {
            values[at] = values[at - 1];
            at--;
        }
        values[at] = value;
    }
}

double dlb_forecast_median (double *values, size_t count)
{
    assert (values);
    assert (count > 0);
    s_sort (values, count);
    return count % 2 ? values[count / 2]
                     : (values[count / 2 - 1] + values[count / 2]) / 2;
}

//  Copies the last window samples (fewer if fewer are kept) into
//  self->sorted, unsorted. Returns how many.
static size_t s_copy_window (dlb_forecast_t *self, int window)
{
    size_t kept = s_kept (self, DLB_FORECAST_HISTORY);
    size_t used = (size_t) window < kept ? (size_t) window : kept;
    memcpy (self->sorted, self->recent, used * sizeof *self->sorted);
    return used;
}

static double s_mean_of (dlb_forecast_t *self, int window)
{
    size_t kept = s_kept (self, DLB_FORECAST_HISTORY);
    size_t used = (size_t) window < kept ? (size_t) window : kept;
    double sum = 0;
    for (size_t j = 0; j < used; j++)
        sum += s_lagged (self, j);
    return sum / (double) used;
}

//  Iterates AR(order) of fit on deviations from centre for 1..max_horizon;
//  differenced fits are integrated from the last sample.
static void s_ar_iterate (dlb_forecast_t *self, const ar_fit_t *fit, int order,
                          bool differenced, double centre, double *out)
{
    double *path = self->ar_path;
    for (int j = 0; j < order; j++) {
        size_t lag = (size_t) (order - 1 - j);
        path[j] = differenced ? s_lagged (self, lag) - s_lagged (self, lag + 1) - centre
                              : s_lagged (self, lag) - centre;
    }
    double level = s_lagged (self, 0);
    for (int h = 0; h < self->max_horizon; h++) {
        double next = 0;
        for (int j = 0; j < order; j++)
            next += fit->coef[order][j] * path[order + h - 1 - j];
        path[order + h] = next;
        if (differenced) {
            level += centre + next;
            out[h] = s_clamp (level);
        }
        else
            out[h] = s_clamp (centre + next);
    }
}

//  Analog forecast (the method of analogues): find the `neighbours` past
//  patterns nearest (sum of absolute differences) to the newest `pattern`
//  samples and forecast the newest anchor plus the median of where each
//  pattern's sequel went h samples later, relative to that pattern's anchor.
//  Level analogs compare raw values; shape and centred analogs first shift
//  each past pattern so that its anchor meets the newest one, so that a
//  rise from 30 matches a rise from 70. A pattern ending `lag` samples ago
//  has a sequel h ahead only if lag >= h; ties go to the more recent
//  pattern. Answers the last value while fewer patterns qualify.
static void s_analog (dlb_forecast_t *self, const predictor_t *predictor, double *out)
{
    const double *recent = self->recent; //  newest first
    size_t kept = s_kept (self, DLB_FORECAST_HISTORY);
    size_t pattern = (size_t) predictor->window;
    size_t neighbours = (size_t) predictor->neighbours;
    size_t keep = neighbours + (size_t) self->max_horizon - 1;
    int anchor = predictor->anchor;
    if (kept < pattern + 1) {
        for (int h = 0; h < self->max_horizon; h++)
            out[h] = s_clamp (recent[0]);
        return;
    }
    //  The anchor of the pattern ending `lag` samples ago is
    //  recent[lag] or sum[lag] / pattern; sums slide one sample a lag.
    double sum = 0;
    for (size_t j = 0; j < pattern; j++)
        sum += recent[j];
    double newest =
        anchor == DLB_FORECAST_ANALOG_CENTRED ? sum / (double) pattern : recent[0];
    size_t near = 0;
    for (size_t lag = 1; lag + pattern <= kept; lag++) {
        sum += recent[lag + pattern - 1] - recent[lag - 1];
        double at_anchor =
            anchor == DLB_FORECAST_ANALOG_CENTRED ? sum / (double) pattern : recent[lag];
        double shift = anchor == DLB_FORECAST_ANALOG_LEVEL ? 0 : at_anchor - newest;
        //  Kept if nearer than the farthest kept. (Stopping the sum early
        //  at that bound measured slower: the branch costs more than the
        //  few additions it saves.)
        double bound = near == keep ? self->near_distance[near - 1] : INFINITY;
        double distance = 0;
        for (size_t j = 0; j < pattern; j++)
            distance += fabs (recent[lag + j] - recent[j] - shift);
        if (distance >= bound)
            continue;
        size_t at = near < keep ? near++ : near - 1;
        while (at > 0 && self->near_distance[at - 1] > distance) {
            self->near_distance[at] = self->near_distance[at - 1];
            self->near_lag[at] = self->near_lag[at - 1];
            self->near_anchor[at] = self->near_anchor[at - 1];
            at--;
        }
        self->near_distance[at] = distance;
        self->near_lag[at] = lag;
        self->near_anchor[at] = at_anchor;
    }
    for (int h = 1; h <= self->max_horizon; h++) {
        size_t found = 0;
        for (size_t j = 0; j < near && found < neighbours; j++) {
            size_t lag = self->near_lag[j];
            if (lag >= (size_t) h)
                self->sequel[found++] = recent[lag - (size_t) h] - self->near_anchor[j];
        }
        out[h - 1] = found < neighbours
                         ? s_clamp (recent[0])
                         : s_clamp (newest + dlb_forecast_median (self->sequel, found));
    }
}

//  Writes the forecasts of battery predictor i for 1..max_horizon into out.
static void s_battery_forecast (dlb_forecast_t *self, size_t i, double *out)
{
    predictor_t *predictor = &self->predictor[i];
    int horizons = self->max_horizon;
    double flat = s_lagged (self, 0);
    switch (predictor->kind) {
    case KIND_LAST:
        break;
    case KIND_MEAN:
        flat = s_mean_of (self, predictor->window);
        break;
    case KIND_MEDIAN: {
        flat =
            dlb_forecast_median (self->sorted, s_copy_window (self, predictor->window));
        break;
    }
    case KIND_TRIMMED: {
        size_t window = s_copy_window (self, predictor->window);
        s_sort (self->sorted, window);
        size_t cut = window / DLB_FORECAST_TRIM_DIVISOR;
        double sum = 0;
        for (size_t j = cut; j < window - cut; j++)
            sum += self->sorted[j];
        flat = sum / (double) (window - 2 * cut);
        break;
    }
    case KIND_EXP:
        if (self->samples == 1)
            predictor->level = flat;
        else
            predictor->level += predictor->gain * (flat - predictor->level);
        flat = predictor->level;
        break;
    case KIND_HUBER:
        if (self->samples == 1) {
            predictor->level = flat;
            predictor->scale = 0;
        }
        else {
            double step = flat - predictor->level;
            double bound = DLB_FORECAST_HUBER_BOUND * predictor->scale;
            predictor->scale +=
                DLB_FORECAST_HUBER_SCALE_GAIN * (fabs (step) - predictor->scale);
            if (self->samples > 2) {
                if (step > bound)
                    step = bound;
                else if (step < -bound)
                    step = -bound;
            }
            predictor->level += predictor->gain * step;
        }
        flat = predictor->level;
        break;
    case KIND_HOLT: {
        if (self->samples == 1) {
            predictor->level = flat;
            predictor->trend = 0;
        }
        else {
            double previous = predictor->level;
            double phi = predictor->damping;
            predictor->level =
                predictor->gain * flat +
                (1 - predictor->gain) * (previous + phi * predictor->trend);
            predictor->trend = predictor->gain2 * (predictor->level - previous) +
                               (1 - predictor->gain2) * phi * predictor->trend;
        }
        double ahead = 0, damped = 1;
        for (int h = 0; h < horizons; h++) {
            damped *= predictor->damping;
            ahead += damped;
            out[h] = s_clamp (predictor->level + ahead * predictor->trend);
        }
        return;
    }
    case KIND_AR: {
        const ar_fit_t *fit = &self->fit[predictor->fit];
        if (fit->fitted < predictor->window)
            break; //  last value until fitted
        double centre = fit->mean;
        if (predictor->fit == FIT_LONG)
            centre = s_mean_of (self, DLB_FORECAST_LONG_AR_LEVEL);
        s_ar_iterate (self, fit, predictor->window, predictor->fit == FIT_DIFF, centre,
                      out);
        return;
    }
    case KIND_ANALOG:
        s_analog (self, predictor, out);
        return;
    case KIND_BLEND:
    case KIND_ADAPTIVE_REAL:
    case KIND_NWS:
    case KIND_NWS_ALL:
    case KIND_ADAPTIVE:
        assert (false);
    }
    flat = s_clamp (flat);
    for (int h = 0; h < horizons; h++)
        out[h] = flat;
}

//  NWS over the first `battery` predictors: lowest accumulated absolute
//  1-step error over all history; ties and no history go to the lowest index
//  ("last").
static size_t s_nws_choice (dlb_forecast_t *self, size_t battery)
{
    size_t best = 0;
    for (size_t i = 1; i < battery; i++)
        if (s_score (self, i, 1)->abs_sum < s_score (self, best, 1)->abs_sum)
            best = i;
    return best;
}

//  Horizon whose scores rank forecasts h ahead: h itself once its first
//  errors are in, 1 before (the h-step errors arrive h - 1 samples later).
static int s_scored_horizon (dlb_forecast_t *self, int h)
{
    return s_score (self, 0, h)->count ? h : 1;
}

//  Soft-min of predictors first..first + count - 1 at horizon h on
//  timescale k: weights exp (-ETA * excess), see the header. Before any
//  error every weight is 1: their mean.
static double s_blend (dlb_forecast_t *self, size_t first, size_t count, size_t k, int h)
{
    int scored = s_scored_horizon (self, h);
    double lowest = s_score (self, first, scored)->recent_abs[k];
    for (size_t i = first + 1; i < first + count; i++)
        if (s_score (self, i, scored)->recent_abs[k] < lowest)
            lowest = s_score (self, i, scored)->recent_abs[k];
    double samples = s_score (self, first, scored)->recent_weight[k];
    double unit = (samples > 0 ? lowest / samples : 0) + DLB_FORECAST_ADAPTIVE_UNIT_MIN;
    double sum = 0, weights = 0;
    for (size_t i = first; i < first + count; i++) {
        double excess = (s_score (self, i, scored)->recent_abs[k] - lowest) / unit;
        double weight = exp (-DLB_FORECAST_ADAPTIVE_ETA * excess);
        sum += weight * *s_forecast (self, self->samples, i, h);
        weights += weight;
    }
    //  weights >= 1: the best predictor's own weight is exp (0).
    return s_clamp (sum / weights);
}

//  Mean of the last window samples, at most the kept ones, in O(1) from the
//  running sums. Needs at least one sample.
static double s_window_mean (dlb_forecast_t *self, size_t window)
{
    size_t kept = s_kept (self, DLB_FORECAST_HISTORY);
    if (window > kept)
        window = kept;
    if (window < 1)
        window = 1;
    double before = self->prefix[(self->samples - window) % (DLB_FORECAST_HISTORY + 1)];
    return (self->cumulative - before) / (double) window;
}

//  Forecast of the mean of the next k samples by interval battery predictor
//  i (below IV_BATTERY), in O(1). A per-sample predictor's is the mean of
//  its h-step forecasts, its max_horizon one standing for every step beyond.
static double s_interval_battery (dlb_forecast_t *self, size_t i, size_t k)
{
    if (i < PREDICTORS) {
        size_t horizons = (size_t) self->max_horizon;
        size_t resolved = k < horizons ? k : horizons;
        double sum = self->path_sum[i * horizons + resolved - 1];
        if (k > resolved)
            sum += (double) (k - resolved) *
                   *s_forecast (self, self->samples, i, self->max_horizon);
        return s_clamp (sum / (double) k);
    }
    if (i < IV_KEPT) {
        double window = ceil (s_interval_windows[i - IV_WINDOWS] * (double) k);
        return s_clamp (s_window_mean (self, window < DLB_FORECAST_HISTORY
                                                 ? (size_t) window
                                                 : DLB_FORECAST_HISTORY));
    }
    if (i == IV_KEPT)
        return s_clamp (s_window_mean (self, DLB_FORECAST_HISTORY));
    assert (i == IV_REVERT);
    //  AR(1) of the long fit from the last sample: the mean over h = 1..k of
    //  mean + phi^h (last - mean).
    const ar_fit_t *fit = &self->fit[FIT_LONG];
    double last = s_lagged (self, 0);
    if (fit->fitted < 1)
        return s_clamp (last);
    double phi = fit->coef[1][0];
    double gain = fabs (1 - phi) < DLB_FORECAST_VARIANCE_MIN
                      ? 1
                      : phi * (1 - pow (phi, (double) k)) / ((double) k * (1 - phi));
    return s_clamp (fit->mean + gain * (last - fit->mean));
}

//  Scores of interval predictor i on rung j.
static score_t *s_interval_score (dlb_forecast_t *self, size_t j, size_t i)
{
    return &self->interval_score[j][i];
}

//  The rungs whose scores rank forecasts of k samples: lower and upper, and
//  upper's weight (k's place between them in log). Only scored rungs: a
//  rung has scores only once the shorter ones have. Returns false if no
//  rung at or below k is scored yet.
static bool s_rungs (dlb_forecast_t *self, size_t k, size_t *lower, size_t *upper,
                     double *weight)
{
    size_t j = 0;
    while (j + 1 < RUNGS && s_ladder[j + 1] <= k)
        j++;
    while (s_interval_score (self, j, 0)->count == 0) {
        if (j == 0)
            return false;
        j--;
    }
    *lower = *upper = j;
    *weight = 0;
    if (j + 1 < RUNGS && k > s_ladder[j] && k < s_ladder[j + 1] &&
        s_interval_score (self, j + 1, 0)->count) {
        *upper = j + 1;
        *weight = log ((double) k / (double) s_ladder[j]) /
                  log ((double) s_ladder[j + 1] / (double) s_ladder[j]);
    }
    return true;
}

//  Every interval predictor's mean absolute error between the rungs, on
//  each timescale t (t == TIMESCALES: all history, undiscounted), into
//  error[t][i], and how many intervals' worth of evidence each timescale
//  rests on (the same for every predictor) into evidence[t].
static void s_interval_errors (dlb_forecast_t *self, size_t lower, size_t upper,
                               double weight, double error[][IV_PREDICTORS],
                               double *evidence)
{
    for (size_t t = 0; t <= TIMESCALES; t++) {
        evidence[t] = 0;
        for (size_t i = 0; i < IV_PREDICTORS; i++)
            error[t][i] = 0;
    }
    for (int side = 0; side < 2; side++) {
        double share = side ? weight : 1 - weight;
        if (share == 0)
            continue;
        const score_t *score = self->interval_score[side ? upper : lower];
        for (size_t t = 0; t <= TIMESCALES; t++) {
            double n =
                t < TIMESCALES ? score[0].recent_weight[t] : (double) score[0].count;
            evidence[t] += share * n;
            if (n <= 0)
                continue;
            for (size_t i = 0; i < IV_PREDICTORS; i++)
                error[t][i] +=
                    share * (t < TIMESCALES ? score[i].recent_abs[t] : score[i].abs_sum) /
                    n;
        }
    }
}

//  Soft-min of interval predictors first..first + count - 1 with errors
//  error[i] resting on evidence intervals, for intervals of k samples: as
//  s_blend, with the gain DLB_FORECAST_ADAPTIVE_ETA / sqrt (k). Successive
//  k-sample intervals overlap, so their errors are not independent
//  evidence; measured on the shared traces (README), 1 / sqrt (k) beats a
//  fixed gain (too sure of itself on long intervals) and 1 / k (too timid
//  on short ones).
static double s_interval_blend (size_t k, const double *error, double evidence,
                                size_t first, size_t count, const double *forecast)
{
    double eta = DLB_FORECAST_ADAPTIVE_ETA / sqrt ((double) k);
    double lowest = INFINITY;
    for (size_t i = first; i < first + count; i++)
        if (error[i] < lowest)
            lowest = error[i];
    double unit = lowest + DLB_FORECAST_ADAPTIVE_UNIT_MIN;
    double sum = 0, weights = 0;
    for (size_t i = first; i < first + count; i++) {
        double excess = eta * evidence * (error[i] - lowest) / unit;
        //  Below exp (-NEGLIGIBLE) a weight changes nothing: spare the exp.
        if (excess > NEGLIGIBLE)
            continue;
        double share = exp (-excess);
        sum += share * forecast[i];
        weights += share;
    }
    //  weights >= 1: the best predictor's own weight is exp (0).
    return s_clamp (sum / weights);
}

//  Every interval predictor's forecast of the mean of the next k samples,
//  into forecast[0..IV_PREDICTORS - 1]. Costs O(IV_PREDICTORS) exp ().
static void s_interval_all (dlb_forecast_t *self, size_t k, double *forecast)
{
    for (size_t i = 0; i < IV_BATTERY; i++)
        forecast[i] = s_interval_battery (self, i, k);
    size_t lower, upper;
    double weight;
    if (!s_rungs (self, k, &lower, &upper, &weight)) {
        //  No interval scored yet: the per-sample adaptive's path.
        for (size_t i = IV_BATTERY; i < IV_PREDICTORS; i++)
            forecast[i] = forecast[ADAPTIVE];
        return;
    }
    double error[TIMESCALES + 1][IV_PREDICTORS], evidence[TIMESCALES + 1];
    s_interval_errors (self, lower, upper, weight, error, evidence);
    size_t best = 0;
    for (size_t i = 1; i < IV_BATTERY; i++)
        if (error[TIMESCALES][i] < error[TIMESCALES][best])
            best = i;
    forecast[IV_NWS] = forecast[best];
    for (size_t t = 0; t < TIMESCALES; t++)
        forecast[IV_BLENDS + t] =
            s_interval_blend (k, error[t], evidence[t], 0, IV_BATTERY, forecast);
    forecast[IV_INTERVAL] =
        s_interval_blend (k, error[TIMESCALES - 1], evidence[TIMESCALES - 1], IV_BLENDS,
                          TIMESCALES, forecast);
}

//  After a feed: the path sums, then on every rung due, score the origin
//  whose interval ends with this sample and record a new one.
static void s_interval_feed (dlb_forecast_t *self)
{
    size_t horizons = (size_t) self->max_horizon;
    for (size_t i = 0; i < PREDICTORS; i++) {
        double sum = 0;
        for (size_t h = 1; h <= horizons; h++) {
            sum += *s_forecast (self, self->samples, i, (int) h);
            self->path_sum[i * horizons + h - 1] = sum;
        }
    }
    for (size_t j = 0; j < RUNGS; j++) {
        size_t stride = s_stride (j), length = s_ladder[j];
        if (self->samples % stride)
            continue;
        if (self->samples > length) {
            size_t made = self->samples - length;
            origin_t *origin = &self->origin[j][(made / stride) % ORIGIN_SLOTS];
            if (origin->made == made) {
                double realized =
                    (self->cumulative - origin->cumulative) / (double) length;
                for (size_t i = 0; i < IV_PREDICTORS; i++) {
                    double error = fabs (realized - origin->forecast[i]);
                    score_t *score = s_interval_score (self, j, i);
                    score->abs_sum += error;
                    score->count++;
                    for (size_t t = 0; t < TIMESCALES; t++) {
                        score->recent_abs[t] =
                            s_interval_decays[t] * score->recent_abs[t] + error;
                        score->recent_weight[t] =
                            s_interval_decays[t] * score->recent_weight[t] + 1;
                    }
                }
            }
        }
        origin_t *origin = &self->origin[j][(self->samples / stride) % ORIGIN_SLOTS];
        origin->made = self->samples;
        origin->cumulative = self->cumulative;
        s_interval_all (self, length, origin->forecast);
    }
}

void dlb_forecast_feed (dlb_forecast_t *self, double value)
{
    assert (self);
    if (!isfinite (value)) {
        self->ignored++;
        return;
    }
    //  Score the forecasts made 1..max_horizon samples ago on this sample.
    size_t made_last = self->samples;
    for (int h = 1; h <= self->max_horizon && (size_t) h <= made_last; h++) {
        size_t made = made_last + 1 - (size_t) h;
        for (size_t i = 0; i < PREDICTORS; i++) {
            double error = value - *s_forecast (self, made, i, h);
            score_t *score = s_score (self, i, h);
            score->abs_sum += fabs (error);
            score->count++;
            for (size_t k = 0; k < TIMESCALES; k++) {
                score->recent_abs[k] = s_decays[k] * score->recent_abs[k] + fabs (error);
                score->recent_weight[k] = s_decays[k] * score->recent_weight[k] + 1;
            }
        }
    }
    if (fabs (value - round (value)) > DLB_FORECAST_INTEGER_TOLERANCE)
        self->integer = false;
    self->history[self->samples % DLB_FORECAST_HISTORY] = value;
    self->samples++;
    self->cumulative += value;
    self->prefix[self->samples % (DLB_FORECAST_HISTORY + 1)] = self->cumulative;

    size_t history = s_kept (self, DLB_FORECAST_HISTORY);
    for (size_t j = 0; j < history; j++)
        self->recent[j] = s_lagged (self, j);

    size_t kept = s_kept (self, DLB_FORECAST_AR_WINDOW);
    if (kept >= 2 &&
        (self->samples % DLB_FORECAST_AR_REFIT == 0 ||
         kept < (size_t) (DLB_FORECAST_AR_MIN_PER_LAG * DLB_FORECAST_AR_ORDER_MAX)))
        s_ar_fit (self);
    for (size_t i = 0; i < BATTERY; i++)
        s_battery_forecast (self, i, s_forecast (self, self->samples, i, 1));

    size_t classic = s_nws_choice (self, CLASSIC);
    size_t any = s_nws_choice (self, BATTERY);
    for (int h = 1; h <= self->max_horizon; h++) {
        *s_forecast (self, self->samples, NWS, h) =
            *s_forecast (self, self->samples, classic, h);
        *s_forecast (self, self->samples, NWS_ALL, h) =
            *s_forecast (self, self->samples, any, h);
        for (size_t k = 0; k < TIMESCALES; k++)
            *s_forecast (self, self->samples, BLENDS + k, h) =
                s_blend (self, 0, BATTERY, k, h);
        //  The blends themselves are weighed on the slowest timescale.
        double blend = s_blend (self, BLENDS, TIMESCALES, TIMESCALES - 1, h);
        *s_forecast (self, self->samples, ADAPTIVE_REAL, h) = blend;
        //  The MAE-optimal forecast is a median of the predictive
        //  distribution; on an integer-valued series that is an integer.
        //  blend is within [MIN, MAX], so its rounding is too.
        *s_forecast (self, self->samples, ADAPTIVE, h) =
            self->integer ? round (blend) : blend;
    }
    s_interval_feed (self);
}

size_t dlb_forecast_samples (dlb_forecast_t *self)
{
    assert (self);
    return self->samples;
}

size_t dlb_forecast_ignored (dlb_forecast_t *self)
{
    assert (self);
    return self->ignored;
}

double dlb_forecast_predict_with (dlb_forecast_t *self, size_t index, int horizon)
{
    assert (self);
    assert (index < PREDICTORS);
    assert (horizon >= 1 && horizon <= self->max_horizon);
    if (self->samples == 0)
        return NAN;
    return *s_forecast (self, self->samples, index, horizon);
}

double dlb_forecast_predict (dlb_forecast_t *self, int horizon, double *expected_error)
{
    assert (self);
    assert (horizon >= 1 && horizon <= self->max_horizon);
    if (expected_error) {
        score_t *score = s_score (self, ADAPTIVE, horizon);
        *expected_error = score->recent_weight[0] > 0
                              ? score->recent_abs[0] / score->recent_weight[0]
                              : NAN;
    }
    return dlb_forecast_predict_with (self, ADAPTIVE, horizon);
}

double dlb_forecast_mean_with (dlb_forecast_t *self, size_t index, size_t k)
{
    assert (self);
    assert (index < IV_PREDICTORS);
    assert (k >= 1);
    if (self->samples == 0)
        return NAN;
    if (index < IV_BATTERY)
        return s_interval_battery (self, index, k);
    double forecast[IV_PREDICTORS];
    s_interval_all (self, k, forecast);
    return forecast[index];
}

double dlb_forecast_mean (dlb_forecast_t *self, size_t k, double *expected_error)
{
    assert (self);
    assert (k >= 1);
    if (expected_error) {
        size_t lower, upper;
        double weight;
        *expected_error = NAN;
        if (s_rungs (self, k, &lower, &upper, &weight)) {
            double error[TIMESCALES + 1][IV_PREDICTORS], evidence[TIMESCALES + 1];
            s_interval_errors (self, lower, upper, weight, error, evidence);
            *expected_error = error[0][IV_INTERVAL];
        }
    }
    return dlb_forecast_mean_with (self, IV_INTERVAL, k);
}

size_t dlb_forecast_mean_predictors (dlb_forecast_t *self)
{
    assert (self);
    return IV_PREDICTORS;
}

const char *dlb_forecast_mean_name (dlb_forecast_t *self, size_t index)
{
    assert (self);
    if (index < PREDICTORS)
        return self->predictor[index].name;
    return index < IV_PREDICTORS ? self->interval_name[index - PREDICTORS] : NULL;
}

size_t dlb_forecast_classic (dlb_forecast_t *self)
{
    assert (self);
    return CLASSIC;
}

size_t dlb_forecast_predictors (dlb_forecast_t *self)
{
    assert (self);
    return PREDICTORS;
}

const char *dlb_forecast_name (dlb_forecast_t *self, size_t index)
{
    assert (self);
    return index < PREDICTORS ? self->predictor[index].name : NULL;
}

int dlb_forecast_index (dlb_forecast_t *self, const char *name)
{
    assert (self);
    assert (name);
    for (size_t i = 0; i < PREDICTORS; i++)
        if (strcmp (self->predictor[i].name, name) == 0)
            return (int) i;
    return -1;
}

size_t dlb_forecast_best (dlb_forecast_t *self, int horizon)
{
    assert (self);
    assert (horizon >= 1 && horizon <= self->max_horizon);
    int scored = s_scored_horizon (self, horizon);
    size_t best = 0;
    for (size_t i = 1; i < BATTERY; i++)
        if (s_score (self, i, scored)->recent_abs[0] <
            s_score (self, best, scored)->recent_abs[0])
            best = i;
    return best;
}

int dlb_forecast_ar_coefficients (dlb_forecast_t *self, int order, double *coef)
{
    assert (self);
    assert (coef);
    const ar_fit_t *fit = &self->fit[FIT_SHORT];
    for (size_t k = 0; k < COUNT_OF (s_ar_orders); k++)
        if (s_ar_orders[k] == order) {
            if (fit->fitted < order)
                return -1;
            memcpy (coef, fit->coef[order], (size_t) order * sizeof *coef);
            return 0;
        }
    return -1;
}

static bool s_streq (const char *a, const char *b)
{
    return a && b && strcmp (a, b) == 0;
}

//  Self-test helpers: a deterministic generator (xorshift64*) and normal
//  noise by Box-Muller, so the test series are the same on every run.
static double s_test_uniform (uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    uint64_t bits = (*state * 0x2545f4914f6cdd1dULL) >> 11;
    return ((double) bits + 0.5) / (double) (1ULL << 53);
}

static double s_test_normal (uint64_t *state)
{
    double u = s_test_uniform (state), v = s_test_uniform (state);
    return sqrt (-2 * log (u)) * cos (2 * M_PI * v);
}

static bool s_test_is_analog (dlb_forecast_t *self, size_t index)
{
    return self->predictor[index].kind == KIND_ANALOG;
}

static size_t s_test_index (dlb_forecast_t *self, const char *name)
{
    int index = dlb_forecast_index (self, name);
    assert (index >= 0);
    return (size_t) index;
}

//  Feeds count samples of x_t = mean + phi (x_{t-1} - mean) + noise * N(0,1)
//  and returns the MAE of predictor index at horizon 1 over them.
static double s_test_ar1 (dlb_forecast_t *self, uint64_t *state, size_t index,
                          double mean, double phi, double noise, int count)
{
    double x = mean, error = 0;
    for (int t = 0; t < count; t++) {
        double forecast = dlb_forecast_predict_with (self, index, 1);
        x = mean + phi * (x - mean) + noise * s_test_normal (state);
        if (t > 0)
            error += fabs (x - forecast);
        dlb_forecast_feed (self, x);
    }
    return error / (count - 1);
}

//  Feeds count samples of series (called with the sample index) and scores
//  the interval forecast of the mean of the next k samples made before each
//  of them: returns its MAE and the last value's over the forecasts whose
//  interval ends within the run, made after skip samples of it; stores the
//  mean stated expected error and the share of errors at most the stated
//  one in *stated and *under (when not NULL).
typedef double (*s_test_series_fn) (uint64_t *state, size_t t);
#define TEST_INTERVAL_MAX 64
static double s_test_interval_run (dlb_forecast_t *self, uint64_t *state,
                                   s_test_series_fn series, size_t count, size_t skip,
                                   size_t k, double *last_mae, double *stated,
                                   double *under)
{
    assert (k <= TEST_INTERVAL_MAX && count > skip + k);
    double made[TEST_INTERVAL_MAX + 1], last[TEST_INTERVAL_MAX + 1];
    double expected[TEST_INTERVAL_MAX + 1], window[TEST_INTERVAL_MAX + 1];
    double error = 0, last_error = 0, stated_sum = 0;
    size_t points = 0, within = 0;
    for (size_t t = 0; t < count; t++) {
        size_t slot = t % (k + 1);
        made[slot] = dlb_forecast_mean (self, k, &expected[slot]);
        last[slot] = self->samples ? s_lagged (self, 0) : NAN;
        window[slot] = series (state, t);
        dlb_forecast_feed (self, window[slot]);
        //  The forecast made k samples back has seen its interval pass.
        if (t >= skip + k) {
            size_t origin = (t + 1 - k) % (k + 1);
            double realized = 0;
            for (size_t j = 0; j < k; j++)
                realized += window[(t + 1 - k + j) % (k + 1)];
            realized /= (double) k;
            double miss = fabs (realized - made[origin]);
            error += miss;
            last_error += fabs (realized - last[origin]);
            stated_sum += expected[origin];
            within += miss <= expected[origin];
            points++;
        }
    }
    if (last_mae)
        *last_mae = last_error / (double) points;
    if (stated)
        *stated = stated_sum / (double) points;
    if (under)
        *under = (double) within / (double) points;
    return error / (double) points;
}

static double s_test_constant (uint64_t *state, size_t t)
{
    (void) state;
    (void) t;
    return 42;
}

static double s_test_step (uint64_t *state, size_t t)
{
    return (t < 300 ? 20 : 60) + s_test_normal (state);
}

//  A daily-like cycle of 48 samples with noise.
static double s_test_periodic (uint64_t *state, size_t t)
{
    return 50 + 30 * sin (2 * M_PI * (double) t / 48) + 3 * s_test_normal (state);
}

//  AR(1) around 50, phi 0.9, innovations N(0, 5^2).
static double s_test_ar1_series (uint64_t *state, size_t t)
{
    static double x = 50;
    if (t == 0)
        x = 50;
    x = 50 + 0.9 * (x - 50) + 5 * s_test_normal (state);
    return x;
}

//  Interval forecasts (dlb_forecast_mean).
static void s_test_interval (bool verbose, uint64_t *state)
{
    //  Nothing to say before the first sample; names and indexes.
    dlb_forecast_t *forecast = dlb_forecast_new (5);
    double expected, last_mae, stated, under;
    assert (isnan (dlb_forecast_mean (forecast, 6, &expected)));
    assert (isnan (expected));
    size_t count = dlb_forecast_mean_predictors (forecast);
    assert (count == IV_PREDICTORS && count > PREDICTORS);
    assert (dlb_forecast_classic (forecast) == CLASSIC);
    assert (s_streq (dlb_forecast_mean_name (forecast, 0), "last"));
    assert (s_streq (dlb_forecast_mean_name (forecast, ADAPTIVE), "adaptive"));
    assert (s_streq (dlb_forecast_mean_name (forecast, IV_WINDOWS), "window_0.5k"));
    assert (s_streq (dlb_forecast_mean_name (forecast, count - 1), "interval"));
    assert (dlb_forecast_mean_name (forecast, count) == NULL);

    //  A constant: every interval predictor exact at any length, the error
    //  learnt goes to 0; past the longest rung scored, the nearest below
    //  answers for the error.
    double error = s_test_interval_run (forecast, state, s_test_constant, 200, 0, 6,
                                        &last_mae, NULL, NULL);
    assert (error < 1e-9 && last_mae < 1e-9);
    for (size_t i = 0; i < count; i++)
        for (size_t k = 1; k <= 4096; k *= 4)
            assert (fabs (dlb_forecast_mean_with (forecast, i, k) - 42) < 1e-9);
    for (size_t k = 1; k <= 100000; k *= 10) {
        assert (fabs (dlb_forecast_mean (forecast, k, &expected) - 42) < 1e-9);
        assert (expected < 1e-9);
    }
    dlb_forecast_destroy (&forecast);

    //  A step from 20 to 60 (noise 1): before, the forecasts sit at 20; 30
    //  samples after it, at 60 for every length up to 24 (the longest rungs
    //  still weigh the long windows), and the expected error, which grew
    //  with the misses, comes back down.
    forecast = dlb_forecast_new (5);
    s_test_interval_run (forecast, state, s_test_step, 300, 0, 6, NULL, NULL, NULL);
    for (size_t k = 1; k <= 24; k *= 2)
        assert (fabs (dlb_forecast_mean (forecast, k, NULL) - 20) < 1.5);
    double before_step;
    dlb_forecast_mean (forecast, 6, &before_step);
    double worst = 0;
    for (size_t t = 300; t < 330; t++) {
        dlb_forecast_feed (forecast, s_test_step (state, t));
        dlb_forecast_mean (forecast, 6, &expected);
        worst = expected > worst ? expected : worst;
    }
    for (size_t k = 1; k <= 24; k *= 2)
        assert (fabs (dlb_forecast_mean (forecast, k, NULL) - 60) < 2);
    for (size_t t = 330; t < 600; t++)
        dlb_forecast_feed (forecast, s_test_step (state, t));
    dlb_forecast_mean (forecast, 6, &expected);
    if (verbose)
        printf ("interval step: expected error at 6 before %.3f, worst %.3f, after %.3f; "
                "forecast at 72 %.3f\n",
                before_step, worst, expected, dlb_forecast_mean (forecast, 72, NULL));
    assert (worst > 2 * before_step && expected < worst / 2);
    assert (fabs (dlb_forecast_mean (forecast, 72, NULL) - 60) < 2);
    dlb_forecast_destroy (&forecast);

    //  A cycle of 48 samples: the mean of the next 12 is far from the last
    //  sample (a quarter of a cycle ahead); the interval forecast, which
    //  follows the cycle, beats the last value by far.
    forecast = dlb_forecast_new (5);
    error = s_test_interval_run (forecast, state, s_test_periodic, 1500, 500, 12,
                                 &last_mae, NULL, NULL);
    if (verbose)
        printf ("interval periodic, 12 ahead: last %.3f interval %.3f\n", last_mae,
                error);
    assert (error < 0.6 * last_mae);
    dlb_forecast_destroy (&forecast);

    //  Calibration, on AR(1): the stated expected error is a mean absolute
    //  error, so the realized errors average about it; with errors about
    //  normal, some 58 % fall at or under it (P(|Z| <= E|Z|)). Loose bounds:
    //  the claim, not the forecaster, is under test here.
    size_t lengths[] = {1, 6, 40};
    for (size_t n = 0; n < COUNT_OF (lengths); n++) {
        forecast = dlb_forecast_new (5);
        error = s_test_interval_run (forecast, state, s_test_ar1_series, 4000, 500,
                                     lengths[n], &last_mae, &stated, &under);
        if (verbose)
            printf ("interval calibration, %zu ahead: mae %.3f (last %.3f), stated "
                    "%.3f, under it %.0f %%\n",
                    lengths[n], error, last_mae, stated, 100 * under);
        assert (error <= last_mae);
        assert (error > 0.75 * stated && error < 1.33 * stated);
        assert (under > 0.45 && under < 0.75);
        dlb_forecast_destroy (&forecast);
    }
}

void dlb_forecast_test (bool verbose)
{
    if (verbose) {
        printf ("\n");
        setvbuf (stdout, NULL, _IONBF, 0);
    }
    uint64_t state = 0x5eed;
    assert (!dlb_forecast_new (0));
    assert (!dlb_forecast_new (DLB_FORECAST_HORIZON_MAX + 1));

    //  Names and indexes; nothing to say before the first sample.
    dlb_forecast_t *forecast = dlb_forecast_new (5);
    assert (forecast);
    size_t predictors = dlb_forecast_predictors (forecast);
    assert (predictors == PREDICTORS);
    assert (s_streq (dlb_forecast_name (forecast, 0), "last"));
    assert (s_streq (dlb_forecast_name (forecast, predictors - 2), "nws"));
    assert (s_streq (dlb_forecast_name (forecast, predictors - 1), "adaptive"));
    assert (dlb_forecast_name (forecast, predictors) == NULL);
    for (size_t i = 0; i < predictors; i++)
        assert (s_test_index (forecast, dlb_forecast_name (forecast, i)) == i);
    assert (dlb_forecast_index (forecast, "ar_3") == -1);
    double expected;
    assert (isnan (dlb_forecast_predict (forecast, 1, &expected)));
    assert (isnan (expected));
    double coef[DLB_FORECAST_AR_ORDER_MAX];
    assert (dlb_forecast_ar_coefficients (forecast, 1, coef) == -1);
    assert (dlb_forecast_ar_coefficients (forecast, 3, coef) == -1);

    //  A constant: every predictor exact at every horizon, no error expected;
    //  non-finite samples ignored and counted.
    for (int t = 0; t < 100; t++)
        dlb_forecast_feed (forecast, 42);
    dlb_forecast_feed (forecast, NAN);
    dlb_forecast_feed (forecast, INFINITY);
    assert (dlb_forecast_samples (forecast) == 100);
    assert (dlb_forecast_ignored (forecast) == 2);
    for (size_t i = 0; i < predictors; i++)
        for (int h = 1; h <= 5; h++)
            assert (fabs (dlb_forecast_predict_with (forecast, i, h) - 42) < 1e-9);
    assert (fabs (dlb_forecast_predict (forecast, 5, &expected) - 42) < 1e-9);
    assert (expected < 1e-9);
    assert (dlb_forecast_ar_coefficients (forecast, 1, coef) == 0);
    assert (coef[0] == 0);
    dlb_forecast_destroy (&forecast);
    assert (forecast == NULL);
    dlb_forecast_destroy (&forecast);

    //  A step from 20 to 60: last value, short windows and fast smoothing
    //  converge to the new level; so do nws and adaptive.
    forecast = dlb_forecast_new (5);
    for (int t = 0; t < 100; t++)
        dlb_forecast_feed (forecast, t < 40 ? 20 : 60);
    for (int h = 1; h <= 5; h++) {
        assert (dlb_forecast_predict_with (forecast, s_test_index (forecast, "last"),
                                           h) == 60);
        assert (dlb_forecast_predict_with (forecast, s_test_index (forecast, "mean_3"),
                                           h) == 60);
        assert (dlb_forecast_predict_with (forecast, s_test_index (forecast, "median_5"),
                                           h) == 60);
        double smooth =
            dlb_forecast_predict_with (forecast, s_test_index (forecast, "exp_0.20"), h);
        assert (fabs (smooth - 60) < 1e-3);
        smooth =
            dlb_forecast_predict_with (forecast, s_test_index (forecast, "exp_0.05"), h);
        assert (smooth > 55 && smooth < 60);
        assert (fabs (dlb_forecast_predict_with (forecast, NWS, h) - 60) < 1);
        assert (fabs (dlb_forecast_predict (forecast, h, NULL) - 60) < 1);
    }
    dlb_forecast_destroy (&forecast);

    //  Forecasts stay in [0, 100] whatever comes in (far ahead AR reverts
    //  towards its window mean, so only the range is checked there). The
    //  classic battery is at the bound after 30 samples beyond it; the wide
    //  one has slower members (median_96, huber_0.05), so adaptive is only
    //  near it.
    forecast = dlb_forecast_new (DLB_FORECAST_HORIZON_MAX);
    for (int round = 0; round < 2; round++) {
        double bound = round == 0 ? DLB_FORECAST_MAX : DLB_FORECAST_MIN;
        for (int t = 0; t < 60; t++)
            dlb_forecast_feed (forecast, t < 30 ? 50 : bound == 0 ? -50 : 150);
        for (size_t i = 0; i < predictors; i++) {
            if (i < CLASSIC || i == NWS)
                assert (dlb_forecast_predict_with (forecast, i, 1) == bound);
            for (int h = 1; h <= DLB_FORECAST_HORIZON_MAX; h++) {
                double value = dlb_forecast_predict_with (forecast, i, h);
                assert (value >= DLB_FORECAST_MIN && value <= DLB_FORECAST_MAX);
            }
        }
        assert (fabs (dlb_forecast_predict (forecast, 1, NULL) - bound) < 1);
    }
    dlb_forecast_destroy (&forecast);

    //  AR(1) x_t = 50 + 0.8 (x_{t-1} - 50) + N(0, 3^2): the coefficient is
    //  recovered. One window of DLB_FORECAST_AR_WINDOW samples has a standard
    //  error of sqrt ((1 - 0.8^2) / 256) ~ 0.04 and a bias of ~ -0.013,
    //  so the test averages the fits of 40 disjoint windows and bounds each.
    forecast = dlb_forecast_new (5);
    s_test_ar1 (forecast, &state, 0, 50, 0.8, 3, DLB_FORECAST_AR_WINDOW);
    double sum1 = 0, sum2[2] = {0, 0};
    int fits = 40;
    for (int k = 0; k < fits; k++) {
        s_test_ar1 (forecast, &state, 0, 50, 0.8, 3, DLB_FORECAST_AR_WINDOW);
        assert (dlb_forecast_ar_coefficients (forecast, 1, coef) == 0);
        assert (fabs (coef[0] - 0.8) < 0.2);
        sum1 += coef[0];
        assert (dlb_forecast_ar_coefficients (forecast, 2, coef) == 0);
        sum2[0] += coef[0];
        sum2[1] += coef[1];
    }
    if (verbose)
        printf ("AR(1) %.3f, AR(2) %.3f %.3f\n", sum1 / fits, sum2[0] / fits,
                sum2[1] / fits);
    assert (fabs (sum1 / fits - 0.8) < 0.05);
    assert (fabs (sum2[0] / fits - 0.8) < 0.05);
    assert (fabs (sum2[1] / fits) < 0.05);
    //  The expected error is the adaptive's recent MAE: for this series
    //  about E|N(0, 9)| = 3 * sqrt (2 / pi) ~ 2.4 one step ahead.
    dlb_forecast_predict (forecast, 1, &expected);
    assert (expected > 1.5 && expected < 4);
    dlb_forecast_destroy (&forecast);

    //  Adaptive selection: where one family is clearly best, adaptive finds
    //  it and nearly matches it. An oscillating AR(1): AR wins by far.
    forecast = dlb_forecast_new (5);
    s_test_ar1 (forecast, &state, 0, 50, -0.9, 2, 200);
    double last = s_test_ar1 (forecast, &state, 0, 50, -0.9, 2, 500);
    //  Odd horizons only: two steps ahead the oscillation is back on the
    //  same side, and the last value is nearly as good as AR there.
    for (int h = 1; h <= 5; h += 2)
        assert (strncmp (dlb_forecast_name (forecast, dlb_forecast_best (forecast, h)),
                         "ar_", 3) == 0);
    double adaptive = s_test_ar1 (forecast, &state, ADAPTIVE, 50, -0.9, 2, 500);
    double nws = s_test_ar1 (forecast, &state, NWS, 50, -0.9, 2, 500);
    double ar1 =
        s_test_ar1 (forecast, &state, s_test_index (forecast, "ar_1"), 50, -0.9, 2, 500);
    if (verbose)
        printf ("oscillating: last %.3f ar_1 %.3f nws %.3f adaptive %.3f\n", last, ar1,
                nws, adaptive);
    assert (adaptive < last / 3);
    assert (adaptive < ar1 * 1.1);
    assert (nws < last / 3);
    dlb_forecast_destroy (&forecast);

    //  A flat load with one sample in five spiking to 100: under absolute
    //  error the medians win (they ignore the spikes), or an analog (the
    //  median of what followed patterns like the newest: mostly 30 too).
    forecast = dlb_forecast_new (5);
    double errors[2] = {0, 0};
    size_t compared[2] = {s_test_index (forecast, "last"), ADAPTIVE};
    for (int t = 0; t < 1000; t++) {
        double value = s_test_uniform (&state) < 0.2 ? 100 : 30;
        if (t >= 200)
            for (int k = 0; k < 2; k++)
                errors[k] +=
                    fabs (value - dlb_forecast_predict_with (forecast, compared[k], 1));
        dlb_forecast_feed (forecast, value);
    }
    for (int h = 1; h <= 5; h++) {
        size_t best = dlb_forecast_best (forecast, h);
        assert (strncmp (dlb_forecast_name (forecast, best), "median_", 7) == 0 ||
                s_test_is_analog (forecast, best));
    }
    if (verbose)
        printf ("spiky: last %.3f adaptive %.3f\n", errors[0] / 800, errors[1] / 800);
    assert (errors[1] < errors[0] * 0.7);
    dlb_forecast_destroy (&forecast);

    //  nws answers from the classic battery only, nws_all from the wide one:
    //  on the spiky series above, nws copies a classic predictor.
    forecast = dlb_forecast_new (5);
    for (int t = 0; t < 300; t++)
        dlb_forecast_feed (forecast, s_test_uniform (&state) < 0.2 ? 100 : 30);
    bool copied = false;
    for (size_t i = 0; i < CLASSIC; i++)
        copied |= dlb_forecast_predict_with (forecast, i, 3) ==
                  dlb_forecast_predict_with (forecast, NWS, 3);
    assert (copied);
    assert (s_streq (dlb_forecast_name (forecast, NWS_ALL), "nws_all"));
    dlb_forecast_destroy (&forecast);

    //  ARIMA(1,1,0) with drift: differences d_t = 0.3 + 0.5 (d_{t-1} - 0.3)
    //  + N(0, 0.3^2) from 10 upwards. The difference fit recovers the drift
    //  (standard error of a window mean ~ 0.3 * 2 / 16 ~ 0.04) and the
    //  coefficient (~ 0.05), and ari_1 forecasts the climb: 5 steps ahead
    //  about 5 * 0.3 above the last sample.
    forecast = dlb_forecast_new (5);
    double level = 10, step = 0.3;
    for (int t = 0; t < DLB_FORECAST_AR_WINDOW; t++) {
        step = 0.3 + 0.5 * (step - 0.3) + 0.3 * s_test_normal (&state);
        level += step;
        dlb_forecast_feed (forecast, level);
    }
    const ar_fit_t *fit = &forecast->fit[FIT_DIFF];
    if (verbose)
        printf ("ARI(1): drift %.3f, coefficient %.3f\n", fit->mean, fit->coef[1][0]);
    assert (fabs (fit->mean - 0.3) < 0.12);
    assert (fabs (fit->coef[1][0] - 0.5) < 0.2);
    double climb =
        dlb_forecast_predict_with (forecast, s_test_index (forecast, "ari_1"), 5) - level;
    assert (fabs (climb - 5 * 0.3) < 1);
    dlb_forecast_destroy (&forecast);

    //  A linear ramp from 20 by 0.2 a sample: damped Holt sees the trend
    //  (it forecasts higher 5 steps ahead than 1) and lags less than
    //  exponential smoothing of the same gain (which lags 0.2 * 0.8 / 0.2).
    forecast = dlb_forecast_new (5);
    for (level = 20; level < 50; level += 0.2)
        dlb_forecast_feed (forecast, level);
    level -= 0.2;
    size_t holt = s_test_index (forecast, "holt_0.20_0.05");
    if (verbose)
        printf (
            "ramp: last %.3f holt_0.20_0.05 %.3f 1 ahead, %.3f 5 ahead, exp %.3f\n",
            level, dlb_forecast_predict_with (forecast, holt, 1),
            dlb_forecast_predict_with (forecast, holt, 5),
            dlb_forecast_predict_with (forecast, s_test_index (forecast, "exp_0.20"), 5));
    double smooth =
        dlb_forecast_predict_with (forecast, s_test_index (forecast, "exp_0.20"), 5);
    assert (dlb_forecast_predict_with (forecast, holt, 5) >
            dlb_forecast_predict_with (forecast, holt, 1) + 0.1);
    assert (dlb_forecast_predict_with (forecast, holt, 5) > smooth + 0.3);
    assert (dlb_forecast_predict_with (forecast, holt, 5) < level + 5 * 0.2);
    dlb_forecast_destroy (&forecast);

    //  Robust levels: on 10s broken by one spike to 90 every 8 samples, the
    //  trimmed means and medians stay at 10 and Huber smoothing barely
    //  moves, where the mean of the same window does.
    forecast = dlb_forecast_new (1);
    for (int t = 0; t < 200; t++)
        dlb_forecast_feed (forecast, t % 8 == 7 ? 90 : 10);
    assert (dlb_forecast_predict_with (forecast, s_test_index (forecast, "trimmed_7"),
                                       1) == 10);
    assert (dlb_forecast_predict_with (forecast, s_test_index (forecast, "trimmed_63"),
                                       1) == 10);
    assert (dlb_forecast_predict_with (forecast, s_test_index (forecast, "median_48"),
                                       1) == 10);
    double huber =
        dlb_forecast_predict_with (forecast, s_test_index (forecast, "huber_0.10"), 1);
    double mean =
        dlb_forecast_predict_with (forecast, s_test_index (forecast, "mean_48"), 1);
    if (verbose)
        printf ("spikes every 8: huber_0.10 %.3f mean_48 %.3f\n", huber, mean);
    assert (huber >= 10 && huber < 15);
    assert (mean > 19);
    dlb_forecast_destroy (&forecast);

    //  Integer rule: on 1s with random 2s, never two within three samples
    //  (the median is 1),
    //  the weighted mean lies between 1 and 2 but adaptive answers exactly
    //  1 at every horizon, and so beats the unrounded mean. The same series
    //  plus 0.5 is not integer: adaptive is the unrounded mean there.
    for (int round = 0; round < 2; round++) {
        double offset = round == 0 ? 0 : 0.5;
        forecast = dlb_forecast_new (5);
        size_t real = s_test_index (forecast, "adaptive_real");
        double integer_error = 0, real_error = 0;
        bool fractional = false;
        int since_spike = 2;
        for (int t = 0; t < 500; t++) {
            //  At most one 2 in any three samples: every window median is 1.
            bool spike = since_spike >= 2 && s_test_uniform (&state) < 0.25;
            since_spike = spike ? 0 : since_spike + 1;
            double value = (spike ? 2 : 1) + offset;
            if (t >= 50) {
                integer_error += fabs (value - dlb_forecast_predict (forecast, 1, NULL));
                real_error +=
                    fabs (value - dlb_forecast_predict_with (forecast, real, 1));
                for (int h = 1; h <= 5; h++) {
                    double blend = dlb_forecast_predict_with (forecast, real, h);
                    fractional |= blend != floor (blend);
                    if (round == 0)
                        assert (dlb_forecast_predict (forecast, h, NULL) == 1);
                    else
                        assert (dlb_forecast_predict (forecast, h, NULL) == blend);
                }
            }
            dlb_forecast_feed (forecast, value);
        }
        if (verbose)
            printf ("integer rule %s: adaptive %.3f adaptive_real %.3f\n",
                    round == 0 ? "on" : "off", integer_error / 450, real_error / 450);
        assert (fractional);
        if (round == 0)
            assert (integer_error < real_error);
        dlb_forecast_destroy (&forecast);
    }

    //  One non-integer sample turns the rule off for good.
    forecast = dlb_forecast_new (1);
    for (int t = 0; t < 100; t++)
        dlb_forecast_feed (forecast, t == 10 ? 1.25 : t % 5 == 4 ? 2 : 1);
    assert (dlb_forecast_predict (forecast, 1, NULL) ==
            dlb_forecast_predict_with (forecast, s_test_index (forecast, "adaptive_real"),
                                       1));
    assert (dlb_forecast_predict (forecast, 1, NULL) != 1);
    dlb_forecast_destroy (&forecast);

    //  Analogs: on a repeating pattern riding a slow ramp, every past period
    //  holds exact copies of the newest pattern's shape, so shape and
    //  centred analogs are exact at every horizon; level analogs too, since
    //  they add the change that followed (the ramp's step is the same each
    //  time). Before enough patterns qualify they answer the last value.
    //  adaptive finds them: everything else errs by whole points.
    static const double pattern[] = {10, 40, 35, 80, 20, 5, 60, 60, 15, 90, 30, 50};
    size_t period = COUNT_OF (pattern);
    forecast = dlb_forecast_new (5);
    for (size_t t = 0; t < 400; t++) {
        double value = pattern[t % period] + 0.02 * (double) t;
        for (size_t i = BATTERY - COUNT_OF (s_analogs); i < BATTERY; i++) {
            assert (s_test_is_analog (forecast, i));
            for (int h = 1; h <= 5; h++) {
                double made = dlb_forecast_predict_with (forecast, i, h);
                if (t > 0 && t < 4)
                    assert (made == pattern[(t - 1) % period] + 0.02 * (double) (t - 1));
                if (t >= 360) {
                    double truth = pattern[(t - 1 + (size_t) h) % period] +
                                   0.02 * (double) (t - 1 + (size_t) h);
                    assert (fabs (made - truth) < 1e-9);
                }
            }
        }
        if (t >= 360)
            assert (fabs (dlb_forecast_predict (forecast, 1, NULL) - value) < 0.01);
        dlb_forecast_feed (forecast, value);
    }
    dlb_forecast_destroy (&forecast);

    s_test_interval (verbose, &state);

    //  No allocation after new: the heap does not move while feeding.
    forecast = dlb_forecast_new (DLB_FORECAST_HORIZON_MAX);
    struct mallinfo2 before = mallinfo2 ();
    for (int t = 0; t < 10000; t++) {
        dlb_forecast_feed (forecast, 50 + 20 * s_test_normal (&state));
        dlb_forecast_predict (forecast, 1 + t % DLB_FORECAST_HORIZON_MAX, &expected);
        dlb_forecast_mean (forecast, 1 + (size_t) t % 2000, &expected);
    }
    struct mallinfo2 after = mallinfo2 ();
    assert (after.uordblks == before.uordblks);
    assert (after.hblkhd == before.hblkhd);
    dlb_forecast_destroy (&forecast);
}
