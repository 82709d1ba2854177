/*  dlb_forecast: online forecasts of a load series (CPU %), h samples ahead.

    Feed one sample at a time; ask for the forecast h samples ahead and its
    expected error. Two batteries of simple predictors run side by side,
    each predictor scored on its own h-step-ahead errors:

      classic   the NWS battery: last value, sliding means and medians,
                exponential smoothing, AR(p) refitted on a sliding window
                by Yule-Walker / Levinson-Durbin;
      wide      the classic battery plus longer medians, trimmed means,
                Huber (clipped-step) smoothing, damped Holt, ARI(p,1,0)
                (AR on first differences with drift), a long-window AR
                centred on a short-window mean, and analog forecasts (the
                method of analogues: where the past patterns most like the
                newest samples went next).

    Meta-predictors answer from them:

      nws       the Network Weather Service rule (Wolski et al.) on the
                classic battery: the predictor with the lowest accumulated
                absolute 1-step error over all history; the reference to beat.
      nws_all   the same rule on the wide battery, to tell how much of
                adaptive's gain comes from the predictors, how much from
                the combination.
      blend_D   per horizon h, a weighted mean of the wide battery's
                forecasts, each weighted by exp (-ETA * how far its recent
                h-step absolute error, discounted by D per sample, is behind
                the best one's): a soft, per-horizon, forgetting version of
                the NWS choice. One blend per timescale D.
      adaptive  the blends weighed against each other the same way, on the
                slowest timescale: short series and quick changes of leader
                favour the fast blend, long bursty ones the slow blend.
                While every sample so far is an integer (PlanetLab's CPU %
                are), the weighted mean is rounded to the nearest integer:
                the forecast minimising the expected absolute error is a
                median of the predictive distribution, and on an integer
                series that is an integer. One non-integer sample turns
                the rounding off for good.
      adaptive_real  the same, never rounded: shows what the integer rule
                gives.

    Interval forecasts (dlb_forecast_mean): the mean of the next k samples,
    for any k, the load a workload meets over the time it still needs. An
    interval battery (every predictor above averaged over the interval, the
    max_horizon forecast standing for the steps beyond it; window means of
    0.5..4 k samples; the long-run mean; AR(1) reversion to it) is scored on
    realized interval means on a ladder of lengths; the answer, "interval",
    is the two soft-min blends on interval errors (fast, slow) weighed on
    the slow timescale, as adaptive is, with a gain falling as 1 / sqrt (k).
    "interval_nws" is the NWS rule on interval errors, for comparison.

    Memory is constant: every buffer is sized in dlb_forecast_new, and
    dlb_forecast_feed never allocates. Forecasts are clamped to
    [DLB_FORECAST_MIN, DLB_FORECAST_MAX]; input values are used as given.

    Predictor indexes are stable for the life of the object: 0 is "last",
    the classic battery follows, then the rest of the wide one, then the
    blends, "adaptive_real", "nws_all", "nws" and "adaptive" last. */
#ifndef DLB_FORECAST_H_INCLUDED
#define DLB_FORECAST_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  Range forecasts are clamped to.
#define DLB_FORECAST_MIN 0.0   //  CPU %
#define DLB_FORECAST_MAX 100.0 //  CPU %

//  Largest horizon dlb_forecast_new accepts.
#define DLB_FORECAST_HORIZON_MAX 32 //  samples

//  Samples kept: the window of the long AR fit and the longest median.
#define DLB_FORECAST_HISTORY 1024 //  samples
//  Window of the classic AR fit (and of ARI's).
#define DLB_FORECAST_AR_WINDOW 256 //  samples

//  The classic battery. Windows are in samples; gains are the weight of the newest
//  sample in exponential smoothing; AR orders must be at most
//  DLB_FORECAST_AR_ORDER_MAX and the windows at most DLB_FORECAST_HISTORY.
#define DLB_FORECAST_MEAN_WINDOWS                                                        \
    {                                                                                    \
        3, 6, 12, 24, 48                                                                 \
    }
#define DLB_FORECAST_MEDIAN_WINDOWS                                                      \
    {                                                                                    \
        3, 5, 11, 21, 31                                                                 \
    }
#define DLB_FORECAST_EXP_GAINS                                                           \
    {                                                                                    \
        0.05, 0.1, 0.2, 0.3, 0.5, 0.75                                                   \
    }
#define DLB_FORECAST_AR_ORDERS                                                           \
    {                                                                                    \
        1, 2, 4, 8, 16                                                                   \
    }

//  The wider battery, for adaptive only (nws keeps the classic one above):
//  longer medians; trimmed means (the middle of the sorted window, cutting
//  window / TRIM_DIVISOR samples at each end); Huber smoothing (exponential
//  smoothing of steps clipped to HUBER_BOUND times the discounted mean
//  absolute step); damped Holt (level gain, trend gain, damping); ARI(p,1,0)
//  (AR on first differences, with their mean as drift, fitted on the
//  AR window); long AR (fitted on the whole history, applied around the
//  mean of the last LONG_AR_LEVEL samples).
#define DLB_FORECAST_WIDE_MEDIAN_WINDOWS                                                 \
    {                                                                                    \
        48, 96                                                                           \
    }
#define DLB_FORECAST_TRIMMED_WINDOWS                                                     \
    {                                                                                    \
        7, 15, 31, 63                                                                    \
    }
#define DLB_FORECAST_TRIM_DIVISOR 4
#define DLB_FORECAST_HUBER_GAINS                                                         \
    {                                                                                    \
        0.05, 0.1, 0.2, 0.4                                                              \
    }
#define DLB_FORECAST_HUBER_BOUND      1.5  //  discounted mean absolute steps
#define DLB_FORECAST_HUBER_SCALE_GAIN 0.05 //  per sample
#define DLB_FORECAST_HOLT_GAINS                                                          \
    {                                                                                    \
        {0.2, 0.05, 0.9},                                                                \
        {                                                                                \
            0.5, 0.1, 0.8                                                                \
        }                                                                                \
    }
#define DLB_FORECAST_ARI_ORDERS                                                          \
    {                                                                                    \
        1, 2, 4, 8                                                                       \
    }
#define DLB_FORECAST_LONG_AR_ORDERS                                                      \
    {                                                                                    \
        4, 16                                                                            \
    }
#define DLB_FORECAST_LONG_AR_LEVEL 32 //  samples
//  Analog forecasts (the method of analogues), {pattern, neighbours,
//  anchor}: the `neighbours` past patterns of `pattern` samples nearest to
//  the newest ones, searched over the whole history, and where each went
//  next. Anchors: LEVEL compares raw values and moves the newest sample by
//  the median change that followed; SHAPE shifts each past pattern so its
//  newest sample meets ours (a rise from 30 matches a rise from 70);
//  CENTRED shifts it so the pattern means meet, and moves our mean by the
//  median of the sequels' distances from theirs.
#define DLB_FORECAST_ANALOG_LEVEL   0
#define DLB_FORECAST_ANALOG_SHAPE   1
#define DLB_FORECAST_ANALOG_CENTRED 2
#define DLB_FORECAST_ANALOGS                                                             \
    {                                                                                    \
        {4, 10, DLB_FORECAST_ANALOG_LEVEL}, {6, 10, DLB_FORECAST_ANALOG_SHAPE},          \
            {12, 10, DLB_FORECAST_ANALOG_SHAPE}, {24, 25, DLB_FORECAST_ANALOG_SHAPE},    \
            {8, 5, DLB_FORECAST_ANALOG_SHAPE}, {6, 25, DLB_FORECAST_ANALOG_SHAPE},       \
            {6, 10, DLB_FORECAST_ANALOG_CENTRED}, {12, 10, DLB_FORECAST_ANALOG_CENTRED}, \
            {8, 5, DLB_FORECAST_ANALOG_CENTRED}, {6, 25, DLB_FORECAST_ANALOG_CENTRED},   \
        {                                                                                \
            4, 10, DLB_FORECAST_ANALOG_CENTRED                                           \
        }                                                                                \
    }
#define DLB_FORECAST_ANALOG_NEIGHBOURS_MAX 64 //  patterns

//  Highest AR order; one Levinson-Durbin pass fits every order up to it.
#define DLB_FORECAST_AR_ORDER_MAX 16 //  lags
//  Samples between two AR refits (the fit costs O(window * order)).
#define DLB_FORECAST_AR_REFIT 4 //  samples
//  An AR(p) predictor answers with the last value until it has this many
//  samples per coefficient.
#define DLB_FORECAST_AR_MIN_PER_LAG 2 //  samples

//  Adaptive: per horizon and per timescale, every battery predictor gets
//  the weight exp (-ETA * excess), where excess is its discounted sum of
//  absolute errors minus the lowest one, in units of the lowest discounted
//  mean absolute error (i.e. "how many samples' worth of error it is behind
//  the best"). DECAYS are the weights of past errors per sample, one blend
//  each (1 / (1 - DECAY) is the effective window: ~50 samples follows a
//  change of leader quickly, ~1000 judges bursty series on more evidence);
//  adaptive then weighs the blends the same way on the slowest timescale.
//  UNIT_MIN keeps the unit positive on exact series.
#define DLB_FORECAST_ADAPTIVE_DECAYS                                                     \
    {                                                                                    \
        0.98, 0.999                                                                      \
    }
#define DLB_FORECAST_ADAPTIVE_ETA      0.5  //  per sample's worth of error
#define DLB_FORECAST_ADAPTIVE_UNIT_MIN 1e-3 //  CPU %
//  A sample this close to an integer counts as one for adaptive's integer
//  rule (rounding while every sample so far is an integer).
#define DLB_FORECAST_INTEGER_TOLERANCE 1e-9 //  CPU %

//  Interval forecasts (dlb_forecast_mean): the mean of the next k samples,
//  for any k >= 1. Errors are learnt on a ladder of interval lengths (rungs,
//  powers of two): each rung records the interval forecasts every
//  max (1, rung / ORIGINS) samples and scores them on the realized mean when
//  the interval has passed, so at most ORIGINS forecasts per rung wait for
//  their interval. A query between two rungs interpolates their scores in
//  log k; beyond the top rung it uses the top rung's. DECAYS weigh past
//  interval errors per scored interval, one interval blend each.
#define DLB_FORECAST_INTERVAL_LADDER                                                     \
    {                                                                                    \
        1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024                                      \
    }
#define DLB_FORECAST_INTERVAL_ORIGINS 16 //  forecasts waiting per rung
//  Interval-only predictors: the mean of the last ratio * k samples (at most
//  DLB_FORECAST_HISTORY) for each ratio.
#define DLB_FORECAST_INTERVAL_WINDOWS                                                    \
    {                                                                                    \
        0.5, 1, 2, 4                                                                     \
    }
#define DLB_FORECAST_INTERVAL_DECAYS                                                     \
    {                                                                                    \
        0.98, 0.999                                                                      \
    }

//  Below this variance a window is flat and AR forecasts its mean.
#define DLB_FORECAST_VARIANCE_MIN 1e-12 //  CPU %^2

typedef struct _dlb_forecast_t dlb_forecast_t;

//  Creates a forecaster answering up to max_horizon samples ahead.
//  Returns NULL if max_horizon is outside 1..DLB_FORECAST_HORIZON_MAX or
//  memory runs out.
dlb_forecast_t *dlb_forecast_new (int max_horizon);

//  Destroys the forecaster and nulls the caller's pointer. Cannot fail;
//  does nothing if *self_p is NULL.
void dlb_forecast_destroy (dlb_forecast_t **self_p);

//  Adds the next sample, scores every predictor on it and computes the new
//  forecasts. Cannot fail: a non-finite value (NaN, infinity) is ignored and
//  counted (see dlb_forecast_ignored). Never allocates.
void dlb_forecast_feed (dlb_forecast_t *self, double value);

//  Samples fed and used so far; non-finite samples ignored so far.
size_t dlb_forecast_samples (dlb_forecast_t *self);
size_t dlb_forecast_ignored (dlb_forecast_t *self);

//  Returns the adaptive forecast of the sample horizon steps after the last
//  one fed (1 = the next sample). If expected_error is not NULL, stores the
//  adaptive's recent mean absolute error at that horizon there (CPU %
//  points), or NAN while none has been measured yet. Returns NAN before the
//  first sample. horizon must be in 1..max_horizon (asserted).
double dlb_forecast_predict (dlb_forecast_t *self, int horizon, double *expected_error);

//  Number of predictors, including "nws" and "adaptive".
size_t dlb_forecast_predictors (dlb_forecast_t *self);

//  Name of predictor index ("last", "mean_12", "median_5", "exp_0.20",
//  "ar_16", "trimmed_31", "huber_0.10", "holt_0.20_0.05", "ari_8",
//  "long_ar_16", "analog_4_10", "shape_6_10", "centred_6_10", "blend_0.980",
//  "adaptive_real", "nws_all", "nws", "adaptive"), owned by the forecaster;
//  NULL if index is out of range.
const char *dlb_forecast_name (dlb_forecast_t *self, size_t index);

//  Index of the predictor called name, or -1 if there is none.
int dlb_forecast_index (dlb_forecast_t *self, const char *name);

//  Forecast of predictor index, horizon steps ahead, as dlb_forecast_predict.
//  index must be below dlb_forecast_predictors and horizon in 1..max_horizon
//  (asserted). Returns NAN before the first sample.
double dlb_forecast_predict_with (dlb_forecast_t *self, size_t index, int horizon);

//  Returns the forecast of the mean of the next k samples (k >= 1, any
//  size; asserted). If expected_error is not NULL, stores there the recent
//  mean absolute error of this forecast on realized interval means (CPU %
//  points): interpolated between the rungs of DLB_FORECAST_INTERVAL_LADDER
//  around k, or the nearest scored rung below k; NAN while no interval
//  that long or shorter has been scored. Returns NAN before the first
//  sample. Cannot fail; never allocates. Costs O(predictors) (a few
//  microseconds), whatever k.
double dlb_forecast_mean (dlb_forecast_t *self, size_t k, double *expected_error);

//  Number of interval predictors; dlb_forecast_mean answers with the last.
//  Indexes below dlb_forecast_predictors are the per-sample predictors' own
//  forecasts averaged over the interval (their h-step forecasts up to
//  max_horizon, the max_horizon one beyond); then come interval-only ones:
//  window means, the long-run mean, AR(1) reversion to it, and the interval
//  meta-predictors.
size_t dlb_forecast_mean_predictors (dlb_forecast_t *self);

//  Name of interval predictor index ("last", ..., "adaptive", "window_0.5k",
//  "kept_mean", "revert", "interval_nws", "interval_0.980", "interval"), owned by
//  the forecaster; NULL if index is out of range.
const char *dlb_forecast_mean_name (dlb_forecast_t *self, size_t index);

//  Forecast of interval predictor index of the mean of the next k samples.
//  index must be below dlb_forecast_mean_predictors and k >= 1 (asserted).
//  Returns NAN before the first sample.
double dlb_forecast_mean_with (dlb_forecast_t *self, size_t index, size_t k);

//  Number of predictors in the classic (NWS) battery: indexes 0 up to it.
//  Cannot fail.
size_t dlb_forecast_classic (dlb_forecast_t *self);

//  Index of the wide battery's predictor with the lowest recent error at horizon,
//  the one adaptive weighs most; 0 ("last") before any error is measured.
//  horizon must be in 1..max_horizon (asserted).
size_t dlb_forecast_best (dlb_forecast_t *self, int horizon);

//  Copies the coefficients of the current AR(order) fit into coef[0..order-1]
//  (coef[0] weighs the newest sample, applied to deviations from the window
//  mean). Returns 0, or -1 and changes nothing if order is not one of
//  DLB_FORECAST_AR_ORDERS or no fit has been made yet.
int dlb_forecast_ar_coefficients (dlb_forecast_t *self, int order, double *coef);

//  Median of values[0..count-1]; sorts them in place. count must be at
//  least 1 (asserted).
double dlb_forecast_median (double *values, size_t count);

//  Scoring rule of dlb-forecast eval: forecasts made after fewer samples
//  than the warm-up are not scored; default horizon and pick seed.
#define DLB_FORECAST_EVAL_WARMUP  8 //  samples
#define DLB_FORECAST_EVAL_HORIZON 5 //  samples
#define DLB_FORECAST_EVAL_SEED    1

void dlb_forecast_test (bool verbose);

#endif
