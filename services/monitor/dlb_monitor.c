/*  dlb_monitor: hardware sampling, the throttle, and the control socket.

    Sockets
        control ROUTER BASE+0   COMMAND from dlbctl, REPLY back
        bus     PUB    BASE+10  STATUS {throttle, cpu, worker_cpu, ...}
        inbox   PULL   BASE+20  REPLY from the worker and adaptor
        buses   SUB    BASE+11..14  the other services' STATUS (cached)
        buses   SUB    BASE+11..14  the other services' EVENTs (numbered, kept)
        worker  PUSH   BASE+21  COMMAND submit, cancel
        adaptor PUSH   BASE+24  COMMAND policy

    Commands, decoded and checked by dlb_command: status, throttle and
    events are answered here; submit, cancel and policy are relayed to
    their owners with a request number, and their REPLY is
    routed back to the client that asked: the worker's once the worker
    STATUS it names (published just before it) is in, or after
    DLB_REPLY_HOLD, so that the client's next status shows what the
    command did. A request whose owner does not answer within
    DLB_RELAY_TIMEOUT gets an error reply.

    Owner load and capacity, every --sample-period: the busy share of the
    CPUs the worker may use (--cpus; else the worker's CPU affinity, as
    taskset or a container's cpuset left it; else all) minus dlb's own share (the CPU
    time of this node's services over the interval, on their processes' CPU
    clocks: the monitor's own and those of the PIDs the other services put
    in their STATUS, if those PIDs are theirs here; a worker out of sight,
    its process CPU time, cpu_s in its STATUS), clamped to
    0..100 %: HTCondor's LoadAvg - CondorLoadAvg. It feeds a dlb_forecast;
    the horizon is the node's remaining work, (queue + running) / rate, in
    samples (at least DLB_OWNER_HORIZON_MIN), and dlb_forecast_mean gives
    the owner's mean load over it. The CPUs the worker gets at owner load
    L are avail (L) = min (threads x throttle, cpus x (1 - L / 100) -
    control) (its threads run at idle priority, so they get what the owner
    and dlb's own services leave, and the throttle bounds them on top of
    that; control is the CPUs dlb's services take besides the jobs: dlb's
    CPU time less the compute threads', compute_s in the worker's
    STATUS, an EWMA of gain DLB_CONTROL_GAIN), and the predicted capacity
    is avail (forecast) / the CPU time a job takes (job_cpu, timed on the
    compute threads' own clocks, so that neither the owner nor the
    throttle changes it), or, if less, the jobs/s the worker's own thread
    can take in (store_rate). A worker that does not report job_cpu gets
    its measured rate x avail (forecast) / avail (recent), the ratio bounded
    to [DLB_CAPACITY_RATIO_MIN, DLB_CAPACITY_RATIO_MAX]; 0 until the worker
    has measured a rate (the adaptor then uses avail).                   */
#include "dlb_monitor.h"
#include "dlb_command.h"
#include "dlb_eventring.h"
#include "dlb_forecast.h"
#include "dlb_sampler.h"
#include "dlb_service.h"
#include "dlb_status.h"

#include <sys/prctl.h>

#define DLB_RELAY_TIMEOUT      10000 //  msecs an owner has to answer a relayed command
#define DLB_RELAY_RETRY        3000  //  msecs a command waits for its owner's inbox
#define DLB_REPLY_HOLD         500   //  msecs a reply waits for the STATUS before it
#define DLB_PENDING_TICK       100   //  msecs between checks of relayed commands
#define DLB_HISTORY            3600  //  samples kept in memory
#define S_SERVICES             5
#define DLB_SERVICE_QUIET      3000 //  msecs without a STATUS before a service is not listed
#define DLB_OWNER_HORIZON      5    //  samples: the forecaster's per-sample horizon
#define DLB_OWNER_HORIZON_MIN  4    //  samples: shortest interval forecast
#define DLB_OWNER_HORIZON_MAX  1000000 //  samples: longest interval forecast
#define DLB_OWNER_RECENT       4       //  samples the current owner load is the mean of
#define DLB_SHIFT_SAMPLES      2       //  samples beyond the forecast that make a step
#define DLB_SHIFT_POINTS       10.0    //  ... by at least this many points of load
#define DLB_LEVEL_SPAN         32      //  samples a new level is the plain mean of
#define DLB_LEVEL_ERROR_MIN    1.0     //  points: least error stated for a new level
#define DLB_CATCH_UP           0.02    //  of the free share: a forecast caught up
#define DLB_AVAIL_MIN          0.01    //  CPUs: least a worker is predicted to get
#define DLB_CONTROL_GAIN       0.03125 //  EWMA gain of the control plane's CPUs
#define DLB_CAPACITY_RATIO_MIN 0.1     //  bounds of predicted / measured rate
#define DLB_CAPACITY_RATIO_MAX 10.0

typedef struct {
    uint64_t req;
    zframe_t *identity;
    bool delimiter;    //  the client sent an empty frame (REQ)
    int64_t deadline;  //  for the owner's answer
    zsock_t *owner;    //  while unsent: where the command goes
    zframe_t *command; //  while unsent: the command, retried until retry_until
    int64_t retry_until;
    zframe_t *reply;    //  held until the worker's STATUS of (boot, seq) is in
    uint64_t boot, seq; //  ... or hold_until
    int64_t hold_until;
} pending_t;

typedef struct {
    dlb_config_t cfg;
    zsock_t *control, *bus, *inbox, *buses, *worker, *adaptor;
    dlb_keys_t *keys; //  NULL under --insecure
    zloop_t *loop;
    dlb_sampler_t *sampler;
    double online; //  CPUs online at the start (sysconf reads sysfs at each call)
    zframe_t *cache[S_SERVICES];  //  latest STATUS of each service
    int64_t heard[S_SERVICES];    //  zclock_mono when it arrived
    uint64_t started[S_SERVICES]; //  its pid, or the worker's boot: which run
    uint64_t restarts;            //  services seen to start again (status)
    uint64_t worker_seq;          //  of the worker's latest STATUS (its boot: started)
    zlistx_t *pending;
    uint64_t req_seq;
    uint64_t malformed; //  control requests answered "malformed", for the log
    double throttle, cpu, worker_cpu, runq, load1;
    double last_cpu_s, last_cpu_wall;
    //  Owner load (see the top of the file)
    dlb_forecast_t *forecast;
    int cpus[CPU_SETSIZE];        //  the CPUs the worker may use
    size_t cpu_count;             //  0: all (online)
    uint64_t cpu_busy, cpu_total; //  jiffies of those CPUs at the last sample
    int pid[S_SERVICES];          //  from their STATUS (the monitor: its own)
    bool worker_seen;             //  its PID is the worker's here (s_dlb_cpu)
    double cpu_s[S_SERVICES];     //  their CPU secs at the last sample
    double worker_cpu_s;          //  the worker's latest cpu_s
    double worker_cpu_s_sampled;  //  ... at the last sample
    double compute_s;             //  the worker's latest compute_s (< 0: not reported)
    double compute_s_sampled;     //  ... at the last sample
    double control_plane;         //  CPUs dlb's services take but for its jobs, EWMA
    int64_t sampled_at;           //  zclock_mono of the last sample, 0: none
    double recent[DLB_OWNER_RECENT];
    int side[DLB_OWNER_RECENT]; //  each beyond the forecast before it: -1, 0, 1
    size_t recent_count;
    double owner, owner_forecast, owner_error, dlb_cpu, avail, capacity;
    double capacity_doubt;   //  its expected relative error (0: not known)
    bool shifted;            //  the forecast is a step's new level (s_level_shift)
    double level, level_var; //  the new level's mean and variance, points
    size_t level_count;      //  samples since the step
    uint64_t horizon;
    bool busy;               //  the worker has jobs (its last STATUS)
    int64_t last_publish;    //  zclock_mono of our last STATUS
    bool expire_armed;       //  the relay checks run (only while commands are pending)
    dlb_eventring_t *events; //  the node's recent events (DLB_EVENT_RING_ENV)
} monitor_t;

#define DLB_EVENT_RING_ENV "DLB_EVENT_RING" //  events the ring keeps (tests: small)

static const char *s_service_names[S_SERVICES] = {"monitor", "worker", "state",
                                                  "transfer", "adaptor"};

static void s_publish (monitor_t *self)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_STATUS);
    msgpack_pack_map (&w.pk, 15);
    dlb_writer_str (&w, "service", "monitor");
    dlb_writer_str (&w, "node", self->cfg.node);
    dlb_writer_double (&w, "throttle", self->throttle);
    dlb_writer_double (&w, "cpu", self->cpu);
    dlb_writer_double (&w, "worker_cpu", self->worker_cpu);
    dlb_writer_double (&w, "runq", self->runq);
    dlb_writer_double (&w, "load1", self->load1);
    dlb_writer_double (&w, "owner", self->owner);
    dlb_writer_double (&w, "owner_forecast", self->owner_forecast);
    //  NaN until an interval that long has been scored: -1 on the wire
    dlb_writer_double (&w, "owner_error",
                       isnan (self->owner_error) ? -1 : self->owner_error);
    dlb_writer_u64 (&w, "horizon", self->horizon);
    dlb_writer_double (&w, "dlb_cpu", self->dlb_cpu);
    dlb_writer_double (&w, "avail", self->avail);
    dlb_writer_double (&w, "capacity", self->capacity);
    dlb_writer_double (&w, "capacity_doubt", self->capacity_doubt);
    dlb_writer_send (&w, self->bus);
    self->last_publish = zclock_mono ();
}

static bool s_cached (monitor_t *self, int service, dlb_msg_t *msg);

//  CPUs the worker gets when the owner's load on its CPUs is load %.
static double s_avail (monitor_t *self, double threads, double load)
{
    double cpus = self->cpu_count ? (double) self->cpu_count : self->online;
    double free = cpus * (1 - load / 100) - self->control_plane,
           most = threads * self->throttle;
    double avail = free < most ? free : most;
    return avail > DLB_AVAIL_MIN ? avail : DLB_AVAIL_MIN;
}

//  The CPU secs service k's process has used, if this monitor can see it:
//  the PID its STATUS gave, under the service's process name (a service in
//  a container of its own has a PID of another namespace). Read on the
//  process's CPU clock, in nanoseconds; where that is refused, in the
//  clock ticks of /proc/PID/stat. Ticks were too coarse: a worker that
//  gets a fifth of one CPU gets 10 of the 50 ticks of a half-second
//  sample, and a tick more or less read as 2 points of owner load, a
//  tenth of what the worker gets. Returns 0 or -1.
static int s_service_cpu (monitor_t *self, int k, double *secs)
{
    char comm[32];
    snprintf (comm, sizeof comm, "dlb-%s", s_service_names[k]);
    uint64_t ticks;
    if (!self->pid[k] || dlb_sampler_process_ticks (self->pid[k], comm, &ticks))
        return -1;
    clockid_t clock;
    struct timespec ts;
    if (clock_getcpuclockid (self->pid[k], &clock) == 0 &&
        clock_gettime (clock, &ts) == 0)
        *secs = (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
    else
        *secs = (double) ticks / (double) sysconf (_SC_CLK_TCK);
    return 0;
}

//  dlb's own CPU secs since the last sample (every service of this node
//  that the monitor can see). Only a worker out of sight (its own
//  container) is counted by the cpu_s of its latest STATUS, which may be
//  up to a state period older than the sample.
static double s_dlb_cpu (monitor_t *self)
{
    double secs = 0;
    self->worker_seen = false;
    for (int k = 0; k < S_SERVICES; k++) {
        double now;
        if (s_service_cpu (self, k, &now))
            continue;
        if (now >= self->cpu_s[k])
            secs += now - self->cpu_s[k];
        self->cpu_s[k] = now;
        self->worker_seen |= k == DLB_SVC_WORKER;
    }
    double worker = self->worker_cpu_s - self->worker_cpu_s_sampled;
    if (worker < 0) //  the worker restarted
        worker = self->worker_cpu_s;
    self->worker_cpu_s_sampled = self->worker_cpu_s;
    return self->worker_seen ? secs : secs + worker;
}

//  Without --cpus, the CPUs the worker may use are its affinity (or,
//  before its first STATUS, ours): a node pinned by taskset or a cpuset
//  must not count the rest of the machine as its owner's load. Returns
//  true if they changed (the sample's baselines are then stale).
static bool s_track_cpus (monitor_t *self)
{
    cpu_set_t set;
    int worker = self->worker_seen ? self->pid[DLB_SVC_WORKER] : 0;
    if (*self->cfg.cpus || (sched_getaffinity (worker, sizeof set, &set) != 0 &&
                            sched_getaffinity (0, sizeof set, &set) != 0))
        return false;
    int cpus[CPU_SETSIZE];
    size_t count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET (cpu, &set))
            cpus[count++] = cpu;
    if ((double) count >= self->online)
        count = 0; //  all of them
    if (count == self->cpu_count &&
        memcmp (cpus, self->cpus, count * sizeof cpus[0]) == 0)
        return false;
    char list[256] = "";
    for (size_t i = 0; i < count && strlen (list) < sizeof list - 12; i++)
        snprintf (list + strlen (list), sizeof list - strlen (list), "%s%d", i ? "," : "",
                  cpus[i]);
    dlb_info ("owner load measured on %s%s", count ? "CPUs " : "all CPUs",
              count ? list : "");
    memcpy (self->cpus, cpus, count * sizeof cpus[0]);
    self->cpu_count = count;
    return true;
}

//  Keeps an owner-load sample with its side of the forecast made before
//  it: beyond it by more than twice its expected error and
//  DLB_SHIFT_POINTS, above (1) or below (-1), or within (0). Judged
//  against the forecast after it, a step's first samples had already
//  pulled it (and swelled its error) their way, and the step was seen a
//  sample late.
static void s_record (monitor_t *self, double sample)
{
    double center = self->owner_forecast,
           band = fmax (DLB_SHIFT_POINTS,
                        isnan (self->owner_error) ? 0 : 2 * self->owner_error);
    size_t k = self->recent_count++ % DLB_OWNER_RECENT;
    self->recent[k] = sample;
    self->side[k] = sample > center + band ? 1 : sample < center - band ? -1 : 0;
    dlb_debug ("owner load %.1f %% against the forecast %.1f +- %.1f: %s", sample, center,
               band,
               self->side[k] > 0   ? "above"
               : self->side[k] < 0 ? "below"
                                   : "within");
}

//  How many of the newest samples (up to DLB_OWNER_RECENT) lie beyond
//  their forecasts, all on one side. In *mean, the mean of all of them
//  but the oldest, which may straddle the step (a step halfway through a
//  sample reads as half of it; taken into the new level, it biased the
//  level by as much over the number of samples since the step and
//  swelled the level's variance, and so the capacity's doubt, for seconds
//  after a step).
static size_t s_beyond (const monitor_t *self, double *mean)
{
    size_t kept =
        self->recent_count < DLB_OWNER_RECENT ? self->recent_count : DLB_OWNER_RECENT;
    size_t beyond = 0;
    int side = 0;
    double sum = 0, oldest = 0;
    for (size_t j = 0; j < kept; j++) { //  newest first
        size_t k = (self->recent_count - 1 - j) % DLB_OWNER_RECENT;
        if (self->side[k] == 0 || (side && self->side[k] != side))
            break;
        side = self->side[k];
        sum += self->recent[k];
        oldest = self->recent[k];
        beyond++;
    }
    *mean = beyond > 1 ? (sum - oldest) / (double) (beyond - 1) : sum;
    return beyond;
}

//  A new level from the `count` samples since a step: the samples so far
//  are its own, not beyond it.
_Static_assert(DLB_SHIFT_SAMPLES >= 2, "the first sample of a step is left out");
static void s_new_level (monitor_t *self, double mean, size_t count)
{
    self->level = mean;
    self->level_var = 0;
    self->level_count = count - 1;
    memset (self->side, 0, sizeof self->side);
}

//  A step in the owner's load: the newest DLB_SHIFT_SAMPLES samples (or
//  more, up to DLB_OWNER_RECENT) all lie beyond their forecasts, on one
//  side (s_record). The forecaster weighs a long history and takes many
//  samples to follow a step (and its error swells with the miss), so from
//  the step on the forecast is the new level: the mean of the samples
//  since the step but the first, which may straddle it (an exponential
//  mean once there are DLB_LEVEL_SPAN of them), its error their standard
//  deviation, until the forecaster's own forecast is back within
//  DLB_CATCH_UP of the share the level leaves free (a fixed 5 points was a
//  quarter of the worker's CPUs beside an owner at 80 %, and its capacity
//  jumped by that when the forecast took over); a further step starts a
//  new level.
static void s_level_shift (monitor_t *self)
{
    double forecast = self->owner_forecast, error = self->owner_error;
    double sample = self->recent[(self->recent_count - 1) % DLB_OWNER_RECENT];
    double mean;
    if (self->shifted) {
        size_t beyond = s_beyond (self, &mean);
        if (beyond >= DLB_SHIFT_SAMPLES) { //  a further step
            dlb_info ("owner load stepped again, from %.1f %% to %.1f %%", self->level,
                      mean);
            s_new_level (self, mean, beyond);
        }
        else {
            self->level_count++;
            double w =
                1.0 / (double) (self->level_count < DLB_LEVEL_SPAN ? self->level_count
                                                                   : DLB_LEVEL_SPAN);
            double d = sample - self->level;
            self->level += w * d;
            self->level_var = (1 - w) * (self->level_var + w * d * d);
        }
        if (fabs (forecast - self->level) <= DLB_CATCH_UP * (100 - self->level)) {
            dlb_info ("owner load forecast %.1f %% has caught up with the step "
                      "(level %.1f %%)",
                      forecast, self->level);
            self->shifted = false;
            return;
        }
    }
    else {
        size_t beyond = s_beyond (self, &mean);
        if (beyond < DLB_SHIFT_SAMPLES)
            return;
        dlb_info ("owner load stepped to %.1f %% (forecast %.1f +- %.1f): "
                  "the forecast follows the new level until it catches up",
                  mean, forecast, isnan (error) ? 0 : error);
        self->shifted = true;
        s_new_level (self, mean, beyond);
    }
    self->owner_forecast = self->level;
    self->owner_error = fmax (DLB_LEVEL_ERROR_MIN, sqrt (self->level_var));
}

//  What the worker's latest STATUS says (0 for what it does not; its
//  threads: --threads until it has said).
typedef struct {
    double queue, running, rate, job_cpu, store_rate, threads;
} worker_figures_t;

static void s_worker_figures (monitor_t *self, worker_figures_t *figures)
{
    *figures = (worker_figures_t){.threads = self->cfg.threads};
    dlb_msg_t worker;
    if (s_cached (self, DLB_SVC_WORKER, &worker)) {
        dlb_obj_double (worker.body, "queue", &figures->queue);
        dlb_obj_double (worker.body, "running", &figures->running);
        dlb_obj_double (worker.body, "rate", &figures->rate);
        dlb_obj_double (worker.body, "job_cpu", &figures->job_cpu);
        dlb_obj_double (worker.body, "store_rate", &figures->store_rate);
        dlb_obj_double (worker.body, "threads", &figures->threads);
        dlb_msg_release (&worker);
    }
}

//  Avail, predicted capacity and its doubt from the owner-load forecast,
//  the throttle and the worker's figures (see the top of the file).
static void s_capacity (monitor_t *self, const worker_figures_t *worker)
{
    self->avail = s_avail (self, worker->threads, self->owner_forecast);
    if (worker->job_cpu > 0) { //  the CPUs it will get over the CPU time a job takes
        self->capacity = self->avail / worker->job_cpu;
        if (worker->store_rate > 0 && worker->store_rate < self->capacity)
            self->capacity = worker->store_rate;
    }
    else { //  a worker without job_cpu: its rate, scaled from the recent owner load
        size_t kept =
            self->recent_count < DLB_OWNER_RECENT ? self->recent_count : DLB_OWNER_RECENT;
        double recent = 0;
        for (size_t i = 0; i < kept; i++)
            recent += self->recent[i] / (double) kept;
        double ratio = self->avail / s_avail (self, worker->threads, recent);
        ratio = ratio < DLB_CAPACITY_RATIO_MIN   ? DLB_CAPACITY_RATIO_MIN
                : ratio > DLB_CAPACITY_RATIO_MAX ? DLB_CAPACITY_RATIO_MAX
                                                 : ratio;
        self->capacity = worker->rate > 0 ? worker->rate * ratio : 0;
    }
    //  What the worker would lose if the owner took E points more than
    //  forecast: E / (100 - F) of it where the owner's share bounds it,
    //  nothing where the throttle does with E points to spare.
    double free_share = 100 - self->owner_forecast;
    self->capacity_doubt =
        isnan (self->owner_error) ? 0
        : free_share < 1
            ? 1
            : fmin (1, 1 - s_avail (self, worker->threads,
                                    self->owner_forecast + self->owner_error) /
                               self->avail);
}

//  Owner load of the last interval, its forecast over the node's remaining
//  work and the predicted capacity (see the top of the file).
static void s_owner_load (monitor_t *self, const dlb_sample_t *sample)
{
    if (s_track_cpus (self))
        self->sampled_at = 0; //  a new set of CPUs: this sample is its baseline
    int64_t now = zclock_mono ();
    double busy = sample->cpu_total;
    uint64_t cpu_busy = 0, cpu_total = 0;
    if (self->cpu_count &&
        dlb_sampler_last_jiffies (self->sampler, self->cpus, self->cpu_count, &cpu_busy,
                                  &cpu_total) == 0) {
        busy = cpu_total > self->cpu_total
                   ? 100.0 * (double) (cpu_busy - self->cpu_busy) /
                         (double) (cpu_total - self->cpu_total)
                   : 0;
        self->cpu_busy = cpu_busy;
        self->cpu_total = cpu_total;
    }
    double dlb_s = s_dlb_cpu (self);
    double compute = self->compute_s - self->compute_s_sampled;
    if (compute < 0) //  the worker restarted
        compute = self->compute_s;
    bool compute_known = self->compute_s >= 0 && self->compute_s_sampled >= 0;
    self->compute_s_sampled = self->compute_s;
    bool first = self->sampled_at == 0;
    double interval = (now - self->sampled_at) / 1000.0;
    self->sampled_at = now;
    if (first || interval <= 0)
        return; //  the baselines are set
    double cpus = self->cpu_count ? (double) self->cpu_count : self->online;
    self->dlb_cpu = 100 * dlb_s / (interval * cpus);
    if (compute_known) { //  what the compute threads do not get (slowly: a
                         //  move's burst of work must not read as lasting)
        double control = (dlb_s - compute) / interval;
        self->control_plane +=
            DLB_CONTROL_GAIN * (fmax (0, control) - self->control_plane);
    }
    double owner = busy - self->dlb_cpu;
    dlb_debug ("sample over %.0f ms: busy %.1f %%, dlb %.1f %%", interval * 1000, busy,
               self->dlb_cpu);
    self->owner = owner < 0 ? 0 : owner > 100 ? 100 : owner;
    if (self->forecast)
        dlb_forecast_feed (self->forecast, self->owner);
    s_record (self, self->owner);

    //  The horizon: the node's remaining work at its measured rate.
    worker_figures_t worker;
    s_worker_figures (self, &worker);
    double work = worker.queue + worker.running;
    self->busy = work > 0;
    double samples =
        worker.rate > 0 ? work / worker.rate * 1000 / self->cfg.sample_period : 0;
    self->horizon = samples < DLB_OWNER_HORIZON_MIN   ? DLB_OWNER_HORIZON_MIN
                    : samples > DLB_OWNER_HORIZON_MAX ? DLB_OWNER_HORIZON_MAX
                                                      : (uint64_t) ceil (samples);
    self->owner_error = NAN;
    double forecast = self->forecast ? dlb_forecast_mean (self->forecast, self->horizon,
                                                          &self->owner_error)
                                     : NAN;
    self->owner_forecast = isnan (forecast) ? self->owner : forecast;
    s_level_shift (self);
    s_capacity (self, &worker);
}

static int s_sample_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    monitor_t *self = arg;
    dlb_sample_t sample;
    if (self->sampler && dlb_sampler_sample (self->sampler, &sample) == 0) {
        self->cpu = sample.cpu_total;
        self->runq = sample.runq;
        self->load1 = sample.load1;
        s_owner_load (self, &sample);
    }
    //  Every sample while the worker has jobs; idle, every keepalive: the
    //  history is kept here, and every STATUS wakes three services.
    if (self->busy || dlb_keepalive_due (self->last_publish, self->cfg.sample_period))
        s_publish (self);
    return 0;
}

//  Sends a reply frame to a client (identity, optional delimiter, body).
static void s_answer (monitor_t *self, zframe_t *identity, bool delimiter,
                      zframe_t **body)
{
    zframe_t *id = zframe_dup (identity);
    zframe_send (&id, self->control, ZFRAME_MORE);
    if (delimiter) {
        zframe_t *empty = zframe_new_empty ();
        zframe_send (&empty, self->control, ZFRAME_MORE);
    }
    zframe_send (body, self->control, 0);
}

static void s_answer_error (monitor_t *self, zframe_t *identity, bool delimiter,
                            const char *error)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_REPLY);
    msgpack_pack_map (&w.pk, 2);
    dlb_writer_bool (&w, "ok", false);
    dlb_writer_str (&w, "error", error);
    zframe_t *body = dlb_writer_frame (&w);
    s_answer (self, identity, delimiter, &body);
}

//  Decodes the cached STATUS of a service; false if there is none yet.
static bool s_cached (monitor_t *self, int service, dlb_msg_t *msg)
{
    char reason[256];
    zframe_t *frame = self->cache[service];
    return frame && dlb_msg_decode (zframe_data (frame), zframe_size (frame), msg, reason,
                                    sizeof reason) == 0;
}

//  Reads a number of a map, 0 if it has none. Cannot fail.
static double s_number (const msgpack_object *map, const char *key)
{
    double value = 0;
    if (map)
        dlb_obj_double (map, key, &value);
    return value;
}

//  Fills the worker figures of a status record from a map (a worker
//  STATUS, or a peer's state; NULL: none). Cannot fail.
static void s_counts (dlb_status_node_t *node, const msgpack_object *counts)
{
    node->queue = s_number (counts, "queue");
    node->running = s_number (counts, "running");
    node->done = s_number (counts, "done");
    node->rate = s_number (counts, "rate");
    node->sent = s_number (counts, "sent");
    node->received = s_number (counts, "received");
}

//  The status reply: this node and its peers, the workloads it holds, and
//  its transfer statistics, from the services' latest reports.
static zframe_t *s_status (monitor_t *self)
{
    dlb_msg_t worker, state, transfer, adaptor;
    bool have_worker = s_cached (self, DLB_SVC_WORKER, &worker);
    bool have_state = s_cached (self, DLB_SVC_STATE, &state);
    bool have_transfer = s_cached (self, DLB_SVC_TRANSFER, &transfer);
    bool have_adaptor = s_cached (self, DLB_SVC_ADAPTOR, &adaptor);
    const msgpack_object_array *peers = NULL;
    if (have_state)
        dlb_obj_array (state.body, "peers", &peers);
    char policy[DLB_STATUS_POLICY_MAX] = "?";
    if (have_adaptor)
        dlb_obj_str (adaptor.body, "policy", policy, sizeof policy);

    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_REPLY);
    msgpack_pack_map (&w.pk, 6);
    dlb_writer_bool (&w, "ok", true);
    dlb_writer_str (&w, "node", self->cfg.node);
    dlb_writer_key (&w, "services");
    //  The services heard from recently (their STATUS comes every state period).
    int64_t now = zclock_mono ();
    bool alive[S_SERVICES] = {true};
    int listed = 1;
    for (int k = 1; k < S_SERVICES; k++) {
        alive[k] = self->cache[k] && now - self->heard[k] < DLB_SERVICE_QUIET;
        listed += alive[k];
    }
    msgpack_pack_array (&w.pk, listed);
    for (int k = 0; k < S_SERVICES; k++)
        if (alive[k])
            dlb_writer_string (&w, s_service_names[k]);

    dlb_writer_key (&w, "nodes");
    msgpack_pack_array (&w.pk, 1 + (peers ? peers->size : 0));
    //  This node, from its own services; then each peer as this node last
    //  heard of it.
    dlb_status_node_t node = {.local = true,
                              .throttle = self->throttle,
                              .cpu = self->cpu,
                              .worker_cpu = self->worker_cpu,
                              .owner = self->owner,
                              .owner_forecast = self->owner_forecast,
                              .avail = self->avail,
                              .capacity = self->capacity,
                              .restarts = (double) self->restarts};
    snprintf (node.node, sizeof node.node, "%s", self->cfg.node);
    snprintf (node.policy, sizeof node.policy, "%s", policy);
    s_counts (&node, have_worker ? worker.body : NULL);
    for (uint32_t i = 0; peers && i < peers->size && node.peer_count < DLB_PEERS_MAX; i++)
        if (dlb_obj_str (&peers->ptr[i], "node", node.peers[node.peer_count],
                         DLB_NAME_MAX) == 0)
            node.peer_count++;
    dlb_status_node_pack (&w, &node);
    for (uint32_t i = 0; peers && i < peers->size; i++) {
        const msgpack_object *p = &peers->ptr[i];
        dlb_status_node_t peer = {.stale = true};
        snprintf (peer.node, sizeof peer.node, "?");
        snprintf (peer.policy, sizeof peer.policy, "?");
        dlb_obj_str (p, "node", peer.node, sizeof peer.node);
        dlb_obj_str (p, "policy", peer.policy, sizeof peer.policy);
        dlb_obj_bool (p, "stale", &peer.stale);
        s_counts (&peer, p);
        peer.throttle = s_number (p, "throttle");
        peer.cpu = s_number (p, "cpu");
        peer.age = s_number (p, "age");
        peer.owner = s_number (p, "owner");
        peer.owner_forecast = s_number (p, "owner_forecast");
        peer.avail = s_number (p, "avail");
        peer.capacity = s_number (p, "capacity");
        dlb_status_node_pack (&w, &peer);
    }
    dlb_writer_key (&w, "workloads");
    const msgpack_object *workloads =
        have_worker ? dlb_obj_get (worker.body, "workloads") : NULL;
    if (workloads)
        msgpack_pack_object (&w.pk, *workloads);
    else
        msgpack_pack_array (&w.pk, 0);
    dlb_writer_key (&w, "transfer");
    if (have_transfer)
        msgpack_pack_object (&w.pk, *transfer.body);
    else
        msgpack_pack_map (&w.pk, 0);
    if (have_worker)
        dlb_msg_release (&worker);
    if (have_state)
        dlb_msg_release (&state);
    if (have_transfer)
        dlb_msg_release (&transfer);
    if (have_adaptor)
        dlb_msg_release (&adaptor);
    return dlb_writer_frame (&w);
}

//  Sends a relayed command if it has not gone yet. Cannot fail: an owner
//  that cannot take it now leaves it for the next try.
static void s_relay_send (pending_t *p)
{
    if (!p->command)
        return;
    zframe_t *copy = zframe_dup (p->command);
    if (zframe_send (&copy, p->owner, ZFRAME_DONTWAIT) == 0)
        zframe_destroy (&p->command);
    else
        zframe_destroy (&copy);
}

static void s_pending_free (pending_t **p_p)
{
    zframe_destroy (&(*p_p)->identity);
    zframe_destroy (&(*p_p)->command);
    zframe_destroy (&(*p_p)->reply);
    free (*p_p);
    *p_p = NULL;
}

static int s_expire_timer (zloop_t *loop, int timer_id, void *arg);

//  Relays a command to its owner; the answer comes back on the inbox.
static void s_relay (monitor_t *self, zsock_t *owner, const msgpack_object *body,
                     zframe_t *identity, bool delimiter)
{
    pending_t *p = calloc (1, sizeof *p);
    p->req = ++self->req_seq;
    p->identity = zframe_dup (identity);
    p->delimiter = delimiter;
    p->deadline = zclock_mono () + DLB_RELAY_TIMEOUT;
    zlistx_add_end (self->pending, p);
    if (!self->expire_armed) {
        zloop_timer (self->loop, DLB_PENDING_TICK, 0, s_expire_timer, self);
        self->expire_armed = true;
    }
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_COMMAND);
    //  The client's fields, with our request number instead of theirs.
    uint32_t fields = 0;
    for (uint32_t i = 0; i < body->via.map.size; i++) {
        const msgpack_object *k = &body->via.map.ptr[i].key;
        fields += !(k->type == MSGPACK_OBJECT_STR && k->via.str.size == 3 &&
                    memcmp (k->via.str.ptr, "req", 3) == 0);
    }
    msgpack_pack_map (&w.pk, fields + 1);
    for (uint32_t i = 0; i < body->via.map.size; i++) {
        const msgpack_object *k = &body->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 3 &&
            memcmp (k->via.str.ptr, "req", 3) == 0)
            continue;
        msgpack_pack_object (&w.pk, *k);
        msgpack_pack_object (&w.pk, body->via.map.ptr[i].val);
    }
    dlb_writer_u64 (&w, "req", p->req);
    //  Sent at once if the owner's inbox is connected; else retried for a
    //  while (a service that is starting), then refused.
    p->command = dlb_writer_frame (&w);
    p->owner = owner;
    p->retry_until = zclock_mono () + DLB_RELAY_RETRY;
    s_relay_send (p);
}

static int s_control_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    monitor_t *self = arg;
    zmsg_t *request = zmsg_recv (reader);
    if (!request)
        return -1;
    zframe_t *identity = zmsg_pop (request);
    bool delimiter = false;
    if (zmsg_size (request) == 2 && zframe_size (zmsg_first (request)) == 0) {
        zframe_t *empty = zmsg_pop (request);
        zframe_destroy (&empty);
        delimiter = true;
    }
    zframe_t *body = zmsg_first (request);
    const char *peer = body ? zframe_meta (body, "Peer-Address") : NULL;
    char reason[256];
    dlb_msg_t msg = {0};
    if (zmsg_size (request) != 1) {
        if (dlb_log_sampled (++self->malformed))
            dlb_warn ("control: dropped a %zu-frame request from %s (%llu malformed so "
                      "far)",
                      zmsg_size (request), peer ? peer : "?",
                      (unsigned long long) self->malformed);
        s_answer_error (self, identity, delimiter, "expected one frame");
    }
    else if (dlb_msg_decode (zframe_data (body), zframe_size (body), &msg, reason,
                             sizeof reason)) {
        if (dlb_log_sampled (++self->malformed))
            dlb_warn ("control: malformed request from %s: %s (%llu malformed so far)",
                      peer ? peer : "?", reason, (unsigned long long) self->malformed);
        char error[300];
        snprintf (error, sizeof error, "malformed request: %s", reason);
        s_answer_error (self, identity, delimiter, error);
    }
    else {
        dlb_command_t command;
        char error[DLB_TEXT_MAX + 64];
        if (dlb_command_decode (&msg, &command, error, sizeof error))
            s_answer_error (self, identity, delimiter, error);
        else if (command.kind == DLB_COMMAND_STATUS) {
            zframe_t *reply = s_status (self);
            s_answer (self, identity, delimiter, &reply);
        }
        else if (command.kind == DLB_COMMAND_EVENTS) {
            dlb_writer_t w;
            dlb_writer_init (&w, DLB_MSG_REPLY);
            dlb_eventring_reply (self->events, &w, self->cfg.node, command.since,
                                 command.max);
            zframe_t *reply = dlb_writer_frame (&w);
            s_answer (self, identity, delimiter, &reply);
        }
        else if (command.kind == DLB_COMMAND_THROTTLE) {
            double value = command.throttle;
            dlb_info ("throttle %.2f -> %.2f (set through the control socket by %s)",
                      self->throttle, value, peer ? peer : "?");
            dlb_event_t event;
            dlb_event_set (&event, self->cfg.node, "monitor", "throttle", NULL, NULL, 0,
                           "throttle %.2f -> %.2f (set through the control socket)",
                           self->throttle, value);
            event.value = value;
            dlb_eventring_add (self->events, &event);
            self->throttle = value;
            char kept[32];
            snprintf (kept, sizeof kept, "%.17g", value);
            dlb_service_setting_save (&self->cfg, "throttle", kept);
            worker_figures_t worker; //  the peers hear of the new capacity at once
            s_worker_figures (self, &worker);
            s_capacity (self, &worker);
            s_publish (self);
            dlb_writer_t w;
            dlb_writer_init (&w, DLB_MSG_REPLY);
            msgpack_pack_map (&w.pk, 2);
            dlb_writer_bool (&w, "ok", true);
            dlb_writer_double (&w, "throttle", value);
            zframe_t *reply = dlb_writer_frame (&w);
            s_answer (self, identity, delimiter, &reply);
        }
        else
            s_relay (self,
                     command.kind == DLB_COMMAND_POLICY ? self->adaptor : self->worker,
                     msg.body, identity, delimiter);
        dlb_msg_release (&msg);
    }
    zframe_destroy (&identity);
    zmsg_destroy (&request);
    return 0;
}

//  Answers the replies held for a worker STATUS that is now in (a reply
//  that names none, from another owner, is not held), and, if `expired`,
//  those held longer than DLB_REPLY_HOLD (a STATUS lost or late: the
//  reply is still the answer).
static void s_release_replies (monitor_t *self, bool expired)
{
    int64_t now = zclock_mono ();
    pending_t *p = zlistx_first (self->pending);
    while (p) {
        bool in = p->seq == 0 || (p->boot == self->started[DLB_SVC_WORKER] &&
                                  p->seq <= self->worker_seq);
        if (p->reply && (in || (expired && now > p->hold_until))) {
            s_answer (self, p->identity, p->delimiter, &p->reply);
            s_pending_free (&p);
            zlistx_delete (self->pending, zlistx_cursor (self->pending));
            p = zlistx_first (self->pending); //  the cursor went with it
        }
        else
            p = zlistx_next (self->pending);
    }
}

static int s_inbox_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    monitor_t *self = arg;
    dlb_msg_t msg;
    int rc = dlb_service_recv (reader, "the monitor inbox", &msg);
    if (rc == -1)
        return -1;
    if (rc == -2)
        return 0;
    uint64_t req = 0;
    if (msg.type == DLB_MSG_REPLY && dlb_obj_u64 (msg.body, "req", &req) == 0)
        for (pending_t *p = zlistx_first (self->pending); p;
             p = zlistx_next (self->pending))
            if (p->req == req && !p->reply) {
                //  The reply goes to the client as it came; the worker's
                //  once its STATUS from just before it is in (the two come on
                //  two sockets, and the STATUS may lag).
                dlb_obj_u64 (msg.body, "boot", &p->boot);
                dlb_obj_u64 (msg.body, "status_seq", &p->seq);
                p->reply = msg.frame;
                msg.frame = NULL;
                p->hold_until = zclock_mono () + DLB_REPLY_HOLD;
                s_release_replies (self, false);
                break;
            }
    dlb_msg_release (&msg);
    return 0;
}

//  Every DLB_PENDING_TICK while relayed commands are pending; ends itself
//  when none is.
static int s_expire_timer (zloop_t *loop, int timer_id, void *arg)
{
    monitor_t *self = arg;
    if (zlistx_size (self->pending) == 0) {
        zloop_timer_end (loop, timer_id);
        self->expire_armed = false;
        return 0;
    }
    s_release_replies (self, true);
    pending_t *p = zlistx_first (self->pending);
    int64_t now = zclock_mono ();
    while (p) {
        s_relay_send (p);
        const char *error =
            p->command && now > p->retry_until
                ? "the service that owns this command is not running"
            : now > p->deadline
                ? "the service that owns this command did not answer in time"
                : NULL;
        if (error) {
            s_answer_error (self, p->identity, p->delimiter, error);
            zlistx_delete (self->pending, zlistx_cursor (self->pending));
            s_pending_free (&p);
            p = zlistx_first (self->pending);
        }
        else
            p = zlistx_next (self->pending);
    }
    return 0;
}

//  The worker's CPU use (% of one CPU) from the process CPU time in its
//  STATUS, over at least half a second; the first report starts the clock.
static void s_worker_cpu (monitor_t *self, const msgpack_object *body)
{
    double cpu_s;
    double now = zclock_mono () / 1000.0;
    if (dlb_obj_double (body, "cpu_s", &cpu_s) == 0)
        self->worker_cpu_s = cpu_s; //  for the owner load
    double compute_s;
    if (dlb_obj_double (body, "compute_s", &compute_s) == 0 && compute_s >= 0)
        self->compute_s = compute_s; //  for the control plane's share
    if (dlb_obj_double (body, "cpu_s", &cpu_s) ||
        (self->last_cpu_wall > 0 && now - self->last_cpu_wall < 0.5))
        return;
    if (self->last_cpu_wall > 0)
        self->worker_cpu = 100 * (cpu_s - self->last_cpu_s) / (now - self->last_cpu_wall);
    self->last_cpu_s = cpu_s;
    self->last_cpu_wall = now;
}

static int s_buses_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    monitor_t *self = arg;
    dlb_msg_t msg;
    int rc = dlb_service_recv (reader, "the service buses", &msg);
    if (rc == -1)
        return -1;
    if (rc == -2)
        return 0;
    char service[16] = "";
    if (msg.type == DLB_MSG_EVENT) {
        //  Numbered and kept as it came; a malformed one is dropped.
        dlb_event_t event;
        char reason[256];
        if (dlb_event_decode (msg.body, &event, reason, sizeof reason) == 0)
            dlb_eventring_add (self->events, &event);
        else
            dlb_warn ("dropped a malformed EVENT on the service buses: %s", reason);
    }
    else if (msg.type == DLB_MSG_STATUS &&
             dlb_obj_str (msg.body, "service", service, sizeof service) == 0)
        for (int k = 1; k < S_SERVICES; k++)
            if (streq (service, s_service_names[k])) {
                if (k == DLB_SVC_WORKER)
                    s_worker_cpu (self, msg.body);
                uint64_t run = 0;
                dlb_obj_u64 (msg.body, k == DLB_SVC_WORKER ? "boot" : "pid", &run);
                if (run && self->started[k] && run != self->started[k])
                    self->restarts++;
                if (run)
                    self->started[k] = run;
                uint64_t pid = 0;
                if (dlb_obj_u64 (msg.body, "pid", &pid) == 0 && pid <= INT_MAX &&
                    (int) pid != self->pid[k]) {
                    self->pid[k] = (int) pid; //  new or restarted: a new baseline
                    self->cpu_s[k] = 0;
                    s_service_cpu (self, k, &self->cpu_s[k]);
                }
                zframe_destroy (&self->cache[k]); //  the cache keeps the frame
                self->cache[k] = msg.frame;
                self->heard[k] = zclock_mono ();
                msg.frame = NULL;
                if (k == DLB_SVC_WORKER &&
                    dlb_obj_u64 (msg.body, "seq", &self->worker_seq) == 0)
                    s_release_replies (self, false);
            }
    dlb_msg_release (&msg);
    return 0;
}

//  A PUSH to the inbox of the service that owns some commands. A command
//  for a service that is not up is refused at once (immediate, no wait),
//  rather than queued for a connection that may never come.
static zsock_t *s_owner (const dlb_config_t *cfg, int service)
{
    char endpoint[256];
    dlb_config_local (cfg, DLB_PORT_INBOX (service), endpoint, sizeof endpoint);
    zsock_t *sock = zsock_new (ZMQ_PUSH);
    zsock_set_linger (sock, 0);
    zsock_set_immediate (sock, 1);
    zsock_set_sndtimeo (sock, 0);
    zsock_connect (sock, "%s", endpoint);
    return sock;
}

void dlb_monitor_actor (zsock_t *pipe, void *args)
{
    monitor_t *self = calloc (1, sizeof *self);
    assert (self);
    self->cfg = *(dlb_config_t *) args;
    self->throttle = self->cfg.throttle;
    char kept[32];
    double value;
    if (dlb_service_setting_load (&self->cfg, "throttle", kept, sizeof kept) == 0 &&
        dlb_config_number (kept, 0, 1, &value) == 0 && value > 0) {
        dlb_info ("throttle %.2f, as set before this monitor was restarted", value);
        self->throttle = value;
    }
    bool failed;
    self->keys = dlb_service_keys (&self->cfg, &failed);
    if (failed)
        goto cleanup;
    self->control =
        dlb_service_listen (&self->cfg, self->keys, ZMQ_ROUTER, DLB_PORT_CONTROL);
    self->bus = dlb_service_bind (&self->cfg, ZMQ_PUB, DLB_PORT_BUS (DLB_SVC_MONITOR));
    self->inbox =
        dlb_service_bind (&self->cfg, ZMQ_PULL, DLB_PORT_INBOX (DLB_SVC_MONITOR));
    self->buses = dlb_service_sub (&self->cfg, DLB_SVC_WORKER);
    if (self->buses)
        dlb_service_subscribe (self->buses, DLB_MSG_EVENT);
    const char *ring = getenv (DLB_EVENT_RING_ENV);
    self->events =
        dlb_eventring_new (ring && *ring ? (size_t) atol (ring) : DLB_EVENTRING_DEFAULT);
    if (!self->events) {
        dlb_error ("%s=%s: the event ring takes 1..%d events", DLB_EVENT_RING_ENV, ring,
                   DLB_EVENTRING_MAX);
        goto cleanup;
    }
    self->worker = s_owner (&self->cfg, DLB_SVC_WORKER);
    self->adaptor = s_owner (&self->cfg, DLB_SVC_ADAPTOR);
    if (!self->control || !self->bus || !self->inbox || !self->buses || !self->worker ||
        !self->adaptor)
        goto cleanup;
    for (int k = DLB_SVC_STATE; k <= DLB_SVC_ADAPTOR; k++) {
        char endpoint[256];
        dlb_config_local (&self->cfg, DLB_PORT_BUS (k), endpoint, sizeof endpoint);
        zsock_connect (self->buses, "%s", endpoint);
    }
    self->sampler = dlb_sampler_new (DLB_HISTORY);
    self->online = (double) sysconf (_SC_NPROCESSORS_ONLN);
    self->compute_s = self->compute_s_sampled = -1;
    if (!self->sampler)
        dlb_warn ("cannot read /proc/stat: CPU use will read 0");
    self->forecast = dlb_forecast_new (DLB_OWNER_HORIZON);
    self->pid[DLB_SVC_MONITOR] = getpid ();
    cpu_set_t set;
    if (dlb_config_cpus (self->cfg.cpus, &set) > 0)
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
            if (CPU_ISSET (cpu, &set))
                self->cpus[self->cpu_count++] = cpu;
    self->pending = zlistx_new ();
    self->loop = zloop_new ();
    zloop_reader (self->loop, pipe, dlb_service_pipe, self);
    zloop_reader (self->loop, self->control, s_control_event, self);
    zloop_reader (self->loop, self->inbox, s_inbox_event, self);
    zloop_reader (self->loop, self->buses, s_buses_event, self);
    zloop_timer (self->loop, self->cfg.sample_period, 0, s_sample_timer, self);
    char endpoint[256];
    dlb_config_bind (&self->cfg, DLB_PORT_CONTROL, endpoint, sizeof endpoint);
    dlb_info ("monitor ready: control socket %s (%s), throttle %.2f", endpoint,
              self->keys ? "trusted client keys only" : "open to local users",
              self->throttle);
    dlb_event_t event;
    dlb_event_set (&event, self->cfg.node, "monitor", "started", NULL, NULL, 0,
                   "throttle %.2f; events numbered anew (epoch %llu)", self->throttle,
                   (unsigned long long) dlb_eventring_epoch (self->events));
    event.value = self->throttle;
    dlb_eventring_add (self->events, &event);
    zsock_signal (pipe, 0);
    zloop_start (self->loop);
    dlb_service_setting_clear (&self->cfg, "throttle"); //  a clean stop

cleanup:
    zloop_destroy (&self->loop);
    if (self->pending) {
        for (pending_t *p = zlistx_first (self->pending); p;
             p = zlistx_next (self->pending))
            s_pending_free (&p);
        zlistx_destroy (&self->pending);
    }
    for (int k = 0; k < S_SERVICES; k++)
        zframe_destroy (&self->cache[k]);
    dlb_sampler_destroy (&self->sampler);
    dlb_eventring_destroy (&self->events);
    dlb_forecast_destroy (&self->forecast);
    zsock_destroy (&self->control);
    zsock_destroy (&self->bus);
    zsock_destroy (&self->inbox);
    zsock_destroy (&self->buses);
    zsock_destroy (&self->worker);
    zsock_destroy (&self->adaptor);
    dlb_keys_destroy (&self->keys);
    free (self);
}

//  ---------------------------------------------------------------------
//  Self-test: the actor in-process, driven by a REQ client like dlbctl.

//  Sends a command built by the caller and returns the decoded reply.
static int s_request (zsock_t *client, dlb_writer_t *w, dlb_msg_t *reply)
{
    dlb_writer_send (w, client);
    char reason[256];
    return dlb_msg_recv (client, reply, reason, sizeof reason);
}

//  Publishes a worker STATUS (boot 42) with its seq and queue.
static void s_worker_status (zsock_t *bus, uint64_t seq, uint64_t queue)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_STATUS);
    msgpack_pack_map (&w.pk, 5);
    dlb_writer_str (&w, "service", "worker");
    dlb_writer_str (&w, "node", "t");
    dlb_writer_u64 (&w, "boot", 42);
    dlb_writer_u64 (&w, "seq", seq);
    dlb_writer_u64 (&w, "queue", queue);
    dlb_writer_send (&w, bus);
}

//  Starts a command with `fields` more key/value pairs to follow.
static void s_command (dlb_writer_t *w, const char *cmd, int fields)
{
    dlb_writer_init (w, DLB_MSG_COMMAND);
    msgpack_pack_map (&w->pk, 1 + fields);
    dlb_writer_str (w, "cmd", cmd);
}

//  Feeds one owner-load sample to a monitor without a forecaster, whose
//  forecast after it is `forecast` +- `error`, and takes the step rule and
//  capacity.
static void s_feed (monitor_t *self, double sample, double forecast, double error)
{
    s_record (self, sample);
    self->owner_forecast = forecast;
    self->owner_error = error;
    s_level_shift (self);
    worker_figures_t worker = {.threads = 1, .job_cpu = 0.01};
    s_capacity (self, &worker);
}

//  The owner's step, its first sample straddling it, and the doubt.
static void s_test_owner_step (void)
{
    monitor_t m = {.cpu_count = 1, .throttle = 1};
    s_feed (&m, 0, 0, 1);
    s_feed (&m, 0, 0, 1);
    //  The step came halfway through this sample, and the forecaster,
    //  surprised, widens its error: 80 is within 45 +- 2 x 25 after it, but
    //  not within what was forecast before it.
    s_feed (&m, 40, 30, 20);
    assert (!m.shifted);
    s_feed (&m, 80, 45, 25);
    //  The new level is 80, not 60, and as sure as a level can be: a fifth
    //  of a CPU, 20 jobs/s, in doubt by 1 point of 20.
    assert (m.shifted && m.level == 80 && m.owner_forecast == 80);
    assert (m.owner_error == DLB_LEVEL_ERROR_MIN);
    assert (fabs (m.capacity - 20) < 1e-9 && fabs (m.capacity_doubt - 0.05) < 1e-9);
    //  The samples that made the step are the new level's own: one more
    //  beyond it is no further step, but a sample of the level (its mean
    //  and spread).
    s_feed (&m, 100, 45, 25);
    assert (m.shifted && m.level == 90 && m.owner_error == 10);
    //  The forecaster has caught up when it is within 2 % of the share the
    //  level leaves free: 0.2 points of 10; 4 points (within the 5 once
    //  used) would be 40 %.
    s_feed (&m, 90, 86, 5);
    assert (m.shifted && m.owner_forecast == 90);
    s_feed (&m, 90, 89.9, 1);
    assert (!m.shifted && m.owner_forecast == 89.9);

    //  Throttled to 0.3 beside an owner at 5 +- 7 %: the throttle bounds the
    //  worker, and the owner's error does not reach it.
    monitor_t b = {.cpu_count = 1, .throttle = 0.3};
    s_feed (&b, 5, 5, 7);
    assert (fabs (b.capacity - 30) < 1e-9 && b.capacity_doubt == 0);
    //  ... until it would: at 65 +- 10 %, the worker could get 0.25 of 0.3.
    s_feed (&b, 65, 65, 10);
    assert (fabs (b.capacity - 30) < 1e-9 && fabs (b.capacity_doubt - 1 / 6.0) < 1e-9);

    //  dlb's own services take 0.02 of the CPU beside the owner's 80 %: the
    //  worker gets 0.18 of it, and 0.17 if the owner takes a point more.
    monitor_t c = {.cpu_count = 1, .throttle = 1, .control_plane = 0.02};
    s_feed (&c, 80, 80, 1);
    assert (fabs (c.capacity - 18) < 1e-9 && fabs (c.capacity_doubt - 1 / 18.0) < 1e-9);
}

//  A service's CPU is read in nanoseconds: 3 ms of work reads as about 3
//  ms, where clock ticks (10 ms) read 0 or 10. The test process takes the
//  monitor's name for it (s_service_cpu checks the name).
static void s_test_cpu_clock (void)
{
    char name[17] = "";
    prctl (PR_GET_NAME, name);
    prctl (PR_SET_NAME, "dlb-monitor");
    monitor_t m = {.pid[DLB_SVC_MONITOR] = getpid ()};
    double before, after;
    assert (s_service_cpu (&m, DLB_SVC_MONITOR, &before) == 0);
    struct timespec start, now;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &start);
    do
        clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &now);
    while ((double) (now.tv_sec - start.tv_sec) +
               (double) (now.tv_nsec - start.tv_nsec) / 1e9 <
           0.003);
    assert (s_service_cpu (&m, DLB_SVC_MONITOR, &after) == 0);
    assert (after - before >= 0.003 && after - before < 0.009);
    prctl (PR_SET_NAME, name);
}

void dlb_monitor_test (bool verbose)
{
    if (!verbose)
        dlb_log_set_level (DLB_LOG_ERROR);
    dlb_log_init ("t", "monitor");
    s_test_owner_step ();
    s_test_cpu_clock ();
    int base = dlb_service_free_base (DLB_PORT_SPAN);
    assert (base > 0);
    char port[16];
    snprintf (port, sizeof port, "%d", base);
    dlb_config_t cfg;
    char data[] = "/tmp/dlb_monitor_test_XXXXXX";
    assert (mkdtemp (data));
    char *args[] = {"t",  "--node",     "t", "--port", port, "--sample-period",
                    "50", "--data-dir", data};
    assert (dlb_config_parse (&cfg, 9, args, "t", "test") == 0);
    zactor_t *monitor = dlb_service_start (dlb_monitor_actor, &cfg);
    assert (monitor);
    zsock_t *bus = dlb_service_sub (&cfg, DLB_SVC_MONITOR);
    char endpoint[256];
    dlb_config_local (&cfg, DLB_PORT_CONTROL, endpoint, sizeof endpoint);
    zsock_t *client = zsock_new_req (endpoint);
    zsock_set_rcvtimeo (client, 5000);
    dlb_msg_t reply;
    bool ok = true;
    char text[256];

    //  Garbage gets an error reply, not silence.
    zstr_send (client, "garbage");
    char reason[256];
    assert (dlb_msg_recv (client, &reply, reason, sizeof reason) == 0);
    assert (dlb_obj_bool (reply.body, "ok", &ok) == 0 && !ok);
    assert (dlb_obj_str (reply.body, "error", text, sizeof text) == 0 &&
            strstr (text, "malformed"));
    dlb_msg_release (&reply);

    //  An oversize request drops its connection unread; the monitor goes on.
    zsock_t *big = zsock_new_dealer (endpoint);
    zframe_t *empty = zframe_new_empty (),
             *huge = zframe_new (NULL, 2 * DLB_SMALL_MAX_SIZE);
    memset (zframe_data (huge), 0xD1, zframe_size (huge));
    zframe_send (&empty, big, ZFRAME_MORE);
    zframe_send (&huge, big, 0);
    zpoller_t *poller = zpoller_new (big, NULL);
    assert (zpoller_wait (poller, 300) == NULL); //  no answer
    zpoller_destroy (&poller);
    zsock_destroy (&big);

    dlb_writer_t w;
    s_command (&w, "frobnicate", 1);
    dlb_writer_double (&w, "value", 0.5);
    assert (s_request (client, &w, &reply) == 0);
    assert (dlb_obj_bool (reply.body, "ok", &ok) == 0 && !ok);
    assert (dlb_obj_str (reply.body, "error", text, sizeof text) == 0 &&
            strstr (text, "unknown"));
    dlb_msg_release (&reply);

    //  Throttle: out of range refused; in range published on the bus.
    s_command (&w, "throttle", 1);
    dlb_writer_double (&w, "value", 1.5);
    assert (s_request (client, &w, &reply) == 0);
    assert (dlb_obj_bool (reply.body, "ok", &ok) == 0 && !ok);
    dlb_msg_release (&reply);
    s_command (&w, "throttle", 1);
    dlb_writer_double (&w, "value", 0.25);
    assert (s_request (client, &w, &reply) == 0);
    assert (dlb_obj_bool (reply.body, "ok", &ok) == 0 && ok);
    dlb_msg_release (&reply);
    int64_t deadline = zclock_mono () + 5000;
    double throttle = 0;
    zsock_set_rcvtimeo (bus, 1000);
    while (throttle != 0.25 && zclock_mono () < deadline) {
        dlb_msg_t status;
        if (dlb_msg_recv (bus, &status, reason, sizeof reason) == 0) {
            dlb_obj_double (status.body, "throttle", &throttle);
            dlb_msg_release (&status);
        }
    }
    assert (throttle == 0.25);

    //  Events: the start and the throttle change, numbered from 1; a
    //  client that has seen the first gets the second only.
    uint64_t epoch = 0, next = 0;
    for (uint64_t since = 0; since < 2; since++) {
        s_command (&w, "events", 1);
        dlb_writer_u64 (&w, "since", since);
        assert (s_request (client, &w, &reply) == 0);
        assert (dlb_obj_bool (reply.body, "ok", &ok) == 0 && ok);
        const msgpack_object_array *events;
        assert (dlb_obj_array (reply.body, "events", &events) == 0);
        assert (events->size == 2 - since);
        dlb_event_t event;
        assert (dlb_event_decode (&events->ptr[events->size - 1], &event, reason,
                                  sizeof reason) == 0);
        assert (streq (event.kind, "throttle") && event.value == 0.25 && event.seq == 2);
        assert (dlb_obj_u64 (reply.body, "next", &next) == 0 && next == 2);
        assert (dlb_obj_u64 (reply.body, "epoch", &epoch) == 0 && epoch > 0);
        dlb_msg_release (&reply);
    }

    //  Policy: a bad name is refused here; a good one with no adaptor
    //  running is refused at once instead of hanging.
    s_command (&w, "policy", 1);
    dlb_writer_str (&w, "name", "magic");
    assert (s_request (client, &w, &reply) == 0);
    assert (dlb_obj_bool (reply.body, "ok", &ok) == 0 && !ok);
    dlb_msg_release (&reply);
    s_command (&w, "policy", 1);
    dlb_writer_str (&w, "name", "sender");
    assert (s_request (client, &w, &reply) == 0);
    assert (dlb_obj_bool (reply.body, "ok", &ok) == 0 && !ok);
    assert (dlb_obj_str (reply.body, "error", text, sizeof text) == 0 &&
            strstr (text, "not running"));
    dlb_msg_release (&reply);

    //  Status works before the other services have reported.
    s_command (&w, "status", 0);
    assert (s_request (client, &w, &reply) == 0);
    assert (dlb_obj_bool (reply.body, "ok", &ok) == 0 && ok);
    const msgpack_object_array *nodes;
    assert (dlb_obj_array (reply.body, "nodes", &nodes) == 0 && nodes->size == 1);
    assert (dlb_obj_double (&nodes->ptr[0], "throttle", &throttle) == 0 &&
            throttle == 0.25);
    dlb_msg_release (&reply);

    //  A worker's reply waits for the worker's STATUS from just before it
    //  (they come on two sockets, and the STATUS may lag), so that a
    //  client's next status shows what the command did. Here the test is
    //  the worker: its STATUS 1 is in; its reply names STATUS 2.
    zsock_t *worker_bus = dlb_service_bind (&cfg, ZMQ_PUB, DLB_PORT_BUS (DLB_SVC_WORKER));
    zsock_t *worker_inbox =
        dlb_service_bind (&cfg, ZMQ_PULL, DLB_PORT_INBOX (DLB_SVC_WORKER));
    dlb_config_local (&cfg, DLB_PORT_INBOX (DLB_SVC_MONITOR), endpoint, sizeof endpoint);
    zsock_t *worker_reply = zsock_new (ZMQ_PUSH);
    assert (worker_bus && worker_inbox && worker_reply);
    assert (zsock_connect (worker_reply, "%s", endpoint) == 0);
    zsock_set_rcvtimeo (worker_inbox, 5000);
    double queue = 0;
    deadline = zclock_mono () + 5000;
    while (queue != 7 && zclock_mono () < deadline) { //  until the monitor has it
        s_worker_status (worker_bus, 1, 7);
        s_command (&w, "status", 0);
        assert (s_request (client, &w, &reply) == 0);
        assert (dlb_obj_array (reply.body, "nodes", &nodes) == 0 && nodes->size == 1);
        dlb_obj_double (&nodes->ptr[0], "queue", &queue);
        dlb_msg_release (&reply);
    }
    assert (queue == 7);
    for (int held = 1; held >= 0; held--) {
        s_command (&w, "cancel", 1);
        dlb_writer_str (&w, "id", "t-1");
        dlb_writer_send (&w, client);
        dlb_msg_t command;
        assert (dlb_msg_recv (worker_inbox, &command, reason, sizeof reason) == 0);
        uint64_t req = 0;
        assert (dlb_obj_u64 (command.body, "req", &req) == 0);
        dlb_msg_release (&command);
        dlb_writer_init (&w, DLB_MSG_REPLY);
        msgpack_pack_map (&w.pk, 5);
        dlb_writer_u64 (&w, "req", req);
        dlb_writer_u64 (&w, "boot", 42);
        dlb_writer_u64 (&w, "status_seq", 3 - held);
        dlb_writer_bool (&w, "ok", true);
        dlb_writer_str (&w, "id", "t-1");
        int64_t sent = zclock_mono ();
        dlb_writer_send (&w, worker_reply);
        poller = zpoller_new (client, NULL);
        bool with_status = held;
        if (held) { //  not before STATUS 2, and then with it
            //  ... unless this thread stalled until DLB_REPLY_HOLD ran out
            //  (a busy machine): then the reply rightly went on its own.
            if (zpoller_wait (poller, 300) == client) {
                assert (zclock_mono () - sent >= DLB_REPLY_HOLD);
                with_status = false;
            }
            s_worker_status (worker_bus, 2, 3);
        }
        //  else: STATUS 2 never comes; the reply goes after DLB_REPLY_HOLD
        assert (zpoller_wait (poller, 5000) == client);
        zpoller_destroy (&poller);
        assert (dlb_msg_recv (client, &reply, reason, sizeof reason) == 0);
        assert (dlb_obj_bool (reply.body, "ok", &ok) == 0 && ok);
        dlb_msg_release (&reply);
        //  A reply held for STATUS 2 came with it: the next status shows it.
        //  Otherwise STATUS 2 may still be on its way.
        deadline = zclock_mono () + 5000;
        do {
            s_command (&w, "status", 0);
            assert (s_request (client, &w, &reply) == 0);
            assert (dlb_obj_array (reply.body, "nodes", &nodes) == 0 && nodes->size == 1);
            assert (dlb_obj_double (&nodes->ptr[0], "queue", &queue) == 0);
            dlb_msg_release (&reply);
            assert (queue == 3 || !with_status);
        } while (queue != 3 && zclock_mono () < deadline);
        assert (queue == 3);
    }
    zsock_destroy (&worker_reply);
    zsock_destroy (&worker_inbox);
    zsock_destroy (&worker_bus);

    //  The throttle set at run time is kept while the monitor runs (a
    //  monitor restarted after a crash takes it up again) and dropped when
    //  it stops cleanly (a deliberate restart takes the option again).
    char kept[32];
    assert (dlb_service_setting_load (&cfg, "throttle", kept, sizeof kept) == 0);
    assert (atof (kept) == 0.25);
    zsock_destroy (&client);
    zsock_destroy (&bus);
    zactor_destroy (&monitor);
    assert (dlb_service_setting_load (&cfg, "throttle", kept, sizeof kept) == -1);
    dlb_service_setting_save (&cfg, "throttle", "0.5"); //  as a crash leaves it
    //  (on fresh ports: the old ones are released asynchronously)
    base = dlb_service_free_base (DLB_PORT_SPAN);
    assert (base > 0);
    snprintf (port, sizeof port, "%d", base);
    assert (dlb_config_parse (&cfg, 9, args, "t", "test") == 0);
    monitor = dlb_service_start (dlb_monitor_actor, &cfg);
    assert (monitor);
    dlb_config_local (&cfg, DLB_PORT_CONTROL, endpoint, sizeof endpoint);
    client = zsock_new_req (endpoint);
    zsock_set_rcvtimeo (client, 5000);
    s_command (&w, "status", 0);
    assert (s_request (client, &w, &reply) == 0);
    assert (dlb_obj_array (reply.body, "nodes", &nodes) == 0 && nodes->size == 1);
    assert (dlb_obj_double (&nodes->ptr[0], "throttle", &throttle) == 0 &&
            throttle == 0.5);
    dlb_msg_release (&reply);
    zsock_destroy (&client);
    zactor_destroy (&monitor);
    assert (dlb_service_remove_tree (data) == 0);
    dlb_log_set_level (DLB_LOG_INFO);
}
