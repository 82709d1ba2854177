/*  dlb_worker: job queue, compute threads, and the workloads this node
    originated (dlb_workload: results, ledger, journal).

    Sockets
        bus     PUB   BASE+11   STATUS every state period and on change
        inbox   PULL  BASE+21   JOBS (enqueue), RESULTS (store, then ACK),
                                HOLD (renew leases), TAKE (give jobs to a
                                peer), CANCEL (drop an origin's cancelled
                                workloads), COMMAND submit, cancel (monitor)
        monitor SUB   BASE+10   throttle (the monitor owns it)
        out     PUSH  BASE+23   JOBS, RESULTS, HOLD and ACK for peers, to
                                the transfer service
        reply   PUSH  BASE+20   REPLY to the monitor's commands

    A job is owned by exactly one place at a time: the queue, a compute
    thread (the pointer travels in the message that hands it over, and the
    worker does not touch it until the thread sends it back), or an encoded
    batch on its way to a peer.

    Nothing submitted is lost. As origin, the worker keeps a ledger of who
    holds each outstanding job (dlb_workload.h). Every --heartbeat it
    sends each origin whose jobs it holds a HOLD listing them, and as
    origin it takes back, and runs again, the jobs whose lease (--lease)
    ran out: their holder died, restarted or was cut off. An idle origin
    also runs copies of a workload's last outstanding jobs; results are
    keyed by (workload, job id), so the first to arrive wins and the
    others are counted as duplicates. Results from peers are written to
    the workload's journal and synced before they are acknowledged; a
    restarted worker rebuilds its workloads from the journals in
    <data-dir>/.dlb/<node>/journal and carries on.

    Cancel. `cancel ID` (a workload this node originated and still runs)
    records it as cancelled (dlb_workload_cancel: never resumed), drops
    its jobs queued here, and sends a CANCEL to every peer its ledger
    names; a HOLD that names it later is answered with another CANCEL, so
    a lost one, or a third node the jobs were passed on to, hears it
    within a heartbeat. A holder drops the queued jobs of a cancelled
    workload and remembers its id (the last DLB_CANCELLED_KEPT), so that
    jobs of it that arrive later are dropped too; results of it still
    under way reach the origin, which acknowledges and drops them.

    Events (dlb_event, on the bus): submitted, complete, failed,
    cancelled, reissued, recovered, rejected (sampled like its log line),
    dropped (a peer's cancelled jobs).                                    */
#include "dlb_worker.h"
#include "dlb_command.h"
#include "dlb_confine.h"
#include "dlb_event.h"
#include "dlb_kernel.h"
#include "dlb_npy.h"
#include "dlb_service.h"
#include "dlb_workload.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define DLB_SYNC_DELAY                                                                   \
    1000 //  msecs results computed here may wait for their sync: they are promised
         //  to no one, and a crash costs at most this much of this node's work
#define DLB_RESULT_FLUSH                                                                 \
    250 //  msecs results for peers may wait to batch while this node is busy (a
        //  drained node sends them at once): each batch costs both nodes several
        //  wake-ups and the origin an fdatasync
#define DLB_RATE_GAIN      0.05 //  EWMA gain of the per-job cost once warmed up
#define DLB_WORKLOADS_KEPT 64   //  finished workloads kept (and reported) at most
#define DLB_RATE_WARMUP    20   //  jobs averaged plainly before the EWMA takes over
#define DLB_RATE_TRUSTED   5    //  jobs timed before the rate is published
#define DLB_NICE_LOWEST    19   //  nice of a compute thread where SCHED_IDLE fails
#define DLB_STORE_WINDOW                                                                 \
    8192 //  jobs over which the cost of taking in a finished job is averaged: a
         //  batch of results encoded now and then is spread over the jobs in it
#define DLB_THROTTLE_SCALE 1000000
#define DLB_RECLAIM_CHUNK  4096      //  job ids taken back per pass of the ledger
#define DLB_JOURNAL_DIR    "journal" //  under the state directory
#define DLB_CHUNK_MAX      256       //  jobs handed to a compute thread at once
#define DLB_CHUNK_TIME                                                                   \
    0.002 //  secs of work (at full speed) a chunk of several jobs may hold: small
          //  jobs go to a thread several at a time (one wake-up each way for
          //  all), while a job worth more than this goes alone
#define DLB_CHUNK_SHARE                                                                  \
    4 //  a chunk holds at most 1/(this x threads) of the jobs waiting: most stay
      //  in the queue, where TAKE can give them away, and the tail is cut fine
#define DLB_COMPUTE_NAME "dlb-compute" //  compute threads' name (bench/idle.sh)
#define DLB_CANCELLED_KEPT                                                               \
    64 //  ids of peers' cancelled workloads remembered: their late jobs are dropped

//  Jobs handed to a compute thread at once. The thread owns the chunk (and
//  the jobs in it) from "JOBS" until it answers "DONE"; then it is the
//  worker's again.
typedef struct {
    size_t count;
    dlb_job_t *jobs[DLB_CHUNK_MAX];
    int64_t wall_ns; //  set by the thread: from the first job's start to the last's end
    int64_t cpu_ns;  //  ... and the CPU time the thread used meanwhile
} chunk_t;

typedef struct {
    zactor_t *actor;
    chunk_t chunk; //  count 0 when idle
    int64_t started;
    double throttle_at_start;
} thread_t;

typedef dlb_count_t counter_t;

typedef struct {
    dlb_config_t cfg;
    dlb_confine_t confine; //  the data directory, where workload files may be
    zsock_t *pipe, *bus, *inbox, *monitor, *out, *reply;
    zloop_t *loop;
    zlistx_t *queue; //  dlb_job_t *, owned
    thread_t *threads;
    zhashx_t *workloads;   //  id -> dlb_workload_t *, owned
    zlistx_t *finished;    //  ids of finished workloads, oldest first
    zlistx_t *results;     //  dlb_job_t * results waiting to go to their origin
    size_t results_bytes;  //  their data
    int64_t results_since; //  zclock_mono when the first of them was ready
    bool unsynced;         //  journal records not yet synced (own results, hand-overs)
    int64_t synced_at;     //  zclock_mono of the last sync of the journals
    zlistx_t *audits;      //  dlb_job_t *, owned: peers' jobs run again here, first
    uint64_t rejected;     //  results from nodes never given their job (logs sampled)
    char journal[DLB_TEXT_MAX + 16]; //  <state-dir>/journal
    uint64_t boot;                   //  usecs since the epoch at start: our incarnation
    double throttle;
    double unit_cost;   //  secs of wall time per job per thread at throttle 1
    double job_cpu;     //  secs of CPU time per job (its thread's clock), averaged alike
    uint64_t timed;     //  jobs that went into unit_cost and job_cpu
    double compute_s;   //  CPU secs the compute threads have spent on jobs
    double store_time;  //  secs this thread spent on finished jobs, decayed
    double store_jobs;  //  ... and their number, decayed alike (DLB_STORE_WINDOW)
    int64_t busy_since; //  dlb_wall_ns when the threads last got work, 0 if idle
    uint64_t busy_done; //  done at that moment
    uint64_t done, sent, received, returned, reissued, copies, batch_seq, workload_seq;
    uint64_t takes;     //  TAKEs handled (STATUS: the adaptor waits for its own to show)
    uint64_t published; //  STATUS published since start: the latest one's seq
    counter_t sent_to[DLB_PEERS_MAX], recv_from[DLB_PEERS_MAX];
    int64_t last_publish;
    bool dirty;
    dlb_ticker_t ticker; //  the publication timer: asleep while idle
    bool flush_armed;    //  the one-shot flush timer is set
    zlistx_t *cancelled; //  ids of peers' workloads cancelled by their origin
    zlistx_t *recovered; //  dlb_event_t * of the start, sent at the first heartbeat
    uint64_t late;       //  results of cancelled workloads dropped (logs sampled)
} worker_t;

//  ---------------------------------------------------------------------
//  Compute thread: runs a chunk of jobs, one after the other, under the
//  throttle. Pipe protocol: "JOBS" p (a chunk_t) | "THROTTLE" i
//  (millionths) | "$TERM"; answers "DONE" p, or "ABANDONED" p if it was
//  told to end before the chunk was done.

typedef struct {
    zsock_t *pipe;
    dlb_throttle_t throttle;
    bool terminated;
} compute_t;

//  Handles commands that arrive while a chunk runs; false to abandon it.
static bool s_compute_poll (void *arg)
{
    compute_t *self = arg;
    while (zsock_events (self->pipe) & ZMQ_POLLIN) {
        char *command = NULL;
        int millionths = 0;
        void *ignored = NULL;
        if (zsock_recv (self->pipe, "sip", &command, &millionths, &ignored) < 0) {
            self->terminated = true;
            return false;
        }
        if (streq (command, "THROTTLE"))
            dlb_throttle_set (&self->throttle, millionths / (double) DLB_THROTTLE_SCALE);
        else if (streq (command, "$TERM"))
            self->terminated = true;
        zstr_free (&command);
    }
    return !self->terminated;
}

//  Gives the worker's session (its autogroup, /proc/self/autogroup) the
//  lowest weight, nice 19. With autogroups (the kernel's default) the CPU
//  is shared first between sessions, then between the threads of each: the
//  compute threads' SCHED_IDLE ranks them only within the worker's own
//  session, which otherwise weighs as much as an owner's login (measured:
//  a replayed owner asking 70 % of a CPU got 45 % beside an idle-priority
//  worker in a session of its own). Under a cgroup manager the unit's or
//  container's weight plays this part (deploy/: CPUWeight=idle, cpu_shares).
//  Only a session without a terminal (dlb-cluster's, systemd's, a
//  container's) is changed, never the login of a user who started the
//  worker by hand. Returns quietly where there are no autogroups; warns if
//  refused.
static void s_lowest_session (void)
{
    int tty = open ("/dev/tty", O_RDONLY | O_NOCTTY);
    if (tty >= 0) {
        close (tty);
        dlb_info ("the worker runs in a terminal's session: that session's CPU weight is "
                  "left as it is");
        return;
    }
    FILE *file = fopen ("/proc/self/autogroup", "w");
    if (!file)
        return; //  no autogroups here (CONFIG_SCHED_AUTOGROUP off)
    bool ok = fprintf (file, "%d", DLB_NICE_LOWEST) > 0;
    if (fclose (file) || !ok)
        dlb_warn ("cannot lower the worker's session weight (/proc/self/autogroup): %s",
                  strerror (errno));
}

//  What a compute thread starts with (copied before it signals ready).
typedef struct {
    double throttle;
    cpu_set_t cpus; //  empty: run anywhere
    bool idle;      //  at the lowest priority (--priority idle)
} compute_args_t;

//  Puts the calling thread at the lowest priority: SCHED_IDLE (it runs
//  only when nothing else wants the CPU), else nice 19. On Linux both are
//  per thread. Warns if neither can be set; the thread runs on anyway.
static void s_lowest_priority (void)
{
    struct sched_param param = {.sched_priority = 0};
    if (sched_setscheduler (0, SCHED_IDLE, &param) == 0)
        return;
    int error = errno;
    if (setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), DLB_NICE_LOWEST))
        dlb_warn ("cannot lower a compute thread's priority: SCHED_IDLE: %s; nice: %s",
                  strerror (error), strerror (errno));
}

static void s_compute_actor (zsock_t *pipe, void *args)
{
    compute_t self = {.pipe = pipe};
    compute_args_t *start = args;
    dlb_throttle_init (&self.throttle, start->throttle);
    if (CPU_COUNT (&start->cpus) &&
        sched_setaffinity (0, sizeof start->cpus, &start->cpus))
        dlb_warn ("cannot pin a compute thread: %s", strerror (errno));
    if (start->idle)
        s_lowest_priority ();
    pthread_setname_np (pthread_self (), DLB_COMPUTE_NAME);
    zsock_signal (pipe, 0);
    while (!self.terminated) {
        char *command = NULL;
        int millionths = 0;
        chunk_t *chunk = NULL;
        if (zsock_recv (pipe, "sip", &command, &millionths, &chunk) < 0)
            break;
        if (streq (command, "THROTTLE"))
            dlb_throttle_set (&self.throttle, millionths / (double) DLB_THROTTLE_SCALE);
        else if (streq (command, "JOBS")) {
            int rc = 0;
            int64_t start = dlb_wall_ns (), cpu_start = dlb_thread_cpu_ns ();
            for (size_t i = 0; rc == 0 && i < chunk->count; i++) {
                dlb_job_t *job = chunk->jobs[i];
                rc = dlb_kernel_run (job->data, job->elems, job->reps, &self.throttle,
                                     s_compute_poll, &self);
            }
            chunk->wall_ns = dlb_wall_ns () - start;
            chunk->cpu_ns = dlb_thread_cpu_ns () - cpu_start;
            //  terminated mid-chunk: give it back so that it is freed
            zsock_send (pipe, "sip", rc == 0 ? "DONE" : "ABANDONED", 0, chunk);
        }
        else if (streq (command, "$TERM"))
            self.terminated = true;
        zstr_free (&command);
    }
}

//  ---------------------------------------------------------------------

//  Publishes an event of this worker (dlb_event_set's arguments).
#define s_event(self, kind, workload, peer, count, ...)                                  \
    do {                                                                                 \
        dlb_event_t event_;                                                              \
        dlb_event_set (&event_, (self)->cfg.node, "worker", kind, workload, peer, count, \
                       __VA_ARGS__);                                                     \
        dlb_event_publish ((self)->bus, &event_);                                        \
    } while (0)

static void s_workload_destructor (void **item)
{
    dlb_workload_destroy ((dlb_workload_t **) item);
}

static void s_job_destructor (void **item)
{
    dlb_job_destroy ((dlb_job_t **) item);
}

static void s_count (counter_t *table, const char *node, uint64_t jobs)
{
    for (size_t i = 0; i < DLB_PEERS_MAX; i++) {
        if (!*table[i].node)
            snprintf (table[i].node, DLB_NAME_MAX, "%s", node);
        if (streq (table[i].node, node)) {
            table[i].jobs += jobs;
            return;
        }
    }
}

static void s_pack_counters (dlb_writer_t *w, const char *key, const counter_t *table)
{
    size_t n = 0;
    while (n < DLB_PEERS_MAX && *table[n].node)
        n++;
    dlb_writer_counts (w, key, table, n);
}

//  Threads without a chunk.
static size_t s_idle_threads (worker_t *self)
{
    size_t idle = 0;
    for (int i = 0; i < self->cfg.threads; i++)
        idle += self->threads[i].chunk.count == 0;
    return idle;
}

//  Jobs on the compute threads.
static size_t s_running (worker_t *self)
{
    size_t running = 0;
    for (int i = 0; i < self->cfg.threads; i++)
        running += self->threads[i].chunk.count;
    return running;
}

//  Jobs per second this node sustains while busy: threads x throttle /
//  cost per job at full speed, or, if less, what this thread can take in
//  (tiny jobs: storing their results costs more than running them); 0
//  until DLB_RATE_TRUSTED jobs have been timed.
static double s_rate (worker_t *self)
{
    if (self->timed < DLB_RATE_TRUSTED)
        return 0;
    double rate = self->cfg.threads * self->throttle / self->unit_cost;
    if (self->store_time > 0 && self->store_jobs / self->store_time < rate)
        rate = self->store_jobs / self->store_time;
    return rate;
}

static bool s_busy (worker_t *self);

static void s_publish (worker_t *self)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_STATUS);
    msgpack_pack_map (&w.pk, 23);
    dlb_writer_str (&w, "service", "worker");
    dlb_writer_str (&w, "node", self->cfg.node);
    dlb_writer_u64 (&w, "queue", zlistx_size (self->queue));
    dlb_writer_u64 (&w, "running", s_running (self));
    dlb_writer_u64 (&w, "done", self->done);
    dlb_writer_u64 (&w, "threads", self->cfg.threads);
    dlb_writer_double (&w, "throttle", self->throttle);
    dlb_writer_double (&w, "rate", s_rate (self));
    bool trusted = self->timed >= DLB_RATE_TRUSTED;
    dlb_writer_double (&w, "job_cpu", trusted ? self->job_cpu : 0);
    dlb_writer_double (
        &w, "store_rate",
        trusted && self->store_time > 0 ? self->store_jobs / self->store_time : 0);
    struct timespec cpu;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &cpu);
    dlb_writer_double (&w, "cpu_s", cpu.tv_sec + cpu.tv_nsec / 1e9);
    dlb_writer_double (&w, "compute_s", self->compute_s);
    dlb_writer_u64 (&w, "sent", self->sent);
    dlb_writer_u64 (&w, "received", self->received);
    s_pack_counters (&w, "sent_to", self->sent_to);
    s_pack_counters (&w, "recv_from", self->recv_from);
    dlb_writer_u64 (&w, "returned", self->returned);
    dlb_writer_u64 (&w, "reissued", self->reissued);
    dlb_writer_u64 (&w, "copies", self->copies);
    dlb_writer_u64 (&w, "boot", self->boot);
    dlb_writer_u64 (&w, "takes", self->takes);
    dlb_writer_u64 (&w, "seq", ++self->published);
    dlb_writer_key (&w, "workloads");
    msgpack_pack_array (&w.pk, zhashx_size (self->workloads));
    for (dlb_workload_t *wl = zhashx_first (self->workloads); wl;
         wl = zhashx_next (self->workloads))
        dlb_workload_pack (wl, &w);
    dlb_writer_send (&w, self->bus);
    self->last_publish = zclock_mono ();
    self->dirty = false;
    if (s_busy (self))
        dlb_ticker_wake (&self->ticker); //  report every state period
}

static int s_flush_timer (zloop_t *loop, int timer_id, void *arg);

//  Sets the flush timer, once: results for peers to send (once they have
//  waited DLB_RESULT_FLUSH), or results computed here to sync (once
//  DLB_SYNC_DELAY has passed since the last sync). An idle worker has no
//  timer to wake it but the publication and the heartbeat.
static void s_arm_flush (worker_t *self)
{
    if (!self->flush_armed && self->loop) {
        zloop_timer (self->loop, DLB_RESULT_FLUSH, 1, s_flush_timer, self);
        self->flush_armed = true;
    }
}

//  Publishes now if the last report is a state period old, else soon
//  (timer): a routine change (a job done, a batch in) is reported at most
//  every --state-period, as often as the state service tells the peers;
//  every report wakes three services. Drains, submits and throttle changes
//  are published at once.
static void s_changed (worker_t *self)
{
    dlb_ticker_wake (&self->ticker);
    if (zclock_mono () - self->last_publish >= self->cfg.state_period)
        s_publish (self);
    else
        self->dirty = true; //  for the publication timer
}

//  Jobs waiting here: audits, then the queue.
static size_t s_waiting (worker_t *self)
{
    return zlistx_size (self->audits) + zlistx_size (self->queue);
}

//  Jobs to hand an idle thread at once: as many as fit in DLB_CHUNK_TIME
//  of work by the measured cost per job (one until jobs have been timed),
//  no more than 1/DLB_CHUNK_SHARE of a thread's share of those waiting,
//  at most DLB_CHUNK_MAX, and at least one. Pure; cannot fail.
static size_t s_chunk_size (double unit_cost, uint64_t timed, size_t waiting, int threads)
{
    if (waiting == 0)
        return 0;
    size_t size = 1;
    if (timed >= DLB_RATE_TRUSTED && unit_cost > 0)
        size = unit_cost * DLB_CHUNK_MAX >= DLB_CHUNK_TIME
                   ? (size_t) (DLB_CHUNK_TIME / unit_cost)
                   : DLB_CHUNK_MAX;
    size_t share = waiting / ((size_t) threads * DLB_CHUNK_SHARE);
    if (size > share)
        size = share;
    return size ? size : 1;
}

//  Hands waiting jobs to idle threads, a chunk each, audits first: they
//  hold up the end of a workload, and stay here (no TAKE sees them).
static void s_dispatch (worker_t *self)
{
    for (int i = 0; i < self->cfg.threads && s_waiting (self); i++) {
        thread_t *t = &self->threads[i];
        if (t->chunk.count)
            continue;
        size_t size = s_chunk_size (self->unit_cost, self->timed, s_waiting (self),
                                    self->cfg.threads);
        while (t->chunk.count < size && s_waiting (self))
            t->chunk.jobs[t->chunk.count++] = zlistx_detach (
                zlistx_size (self->audits) ? self->audits : self->queue, NULL);
        t->started = dlb_wall_ns ();
        if (self->busy_since == 0) { //  idle until now
            self->busy_since = t->started;
            self->busy_done = self->done;
        }
        t->throttle_at_start = self->throttle;
        zsock_send (t->actor, "sip", "JOBS", 0, &t->chunk);
    }
}

//  Keeps the end of a finished workload; forgets the oldest beyond
//  DLB_WORKLOADS_KEPT, and their end records.
static void s_keep_finished (worker_t *self, const char *id)
{
    zlistx_add_end (self->finished, strdup (id));
    while (zlistx_size (self->finished) > DLB_WORKLOADS_KEPT) {
        char *oldest = zlistx_detach (self->finished, NULL);
        char path[DLB_TEXT_MAX + DLB_NAME_MAX + 16];
        snprintf (path, sizeof path, "%s/%s.done", self->journal, oldest);
        unlink (path);
        zhashx_delete (self->workloads, oldest);
        free (oldest);
    }
}

static void s_finish (worker_t *self, dlb_workload_t *wl)
{
    dlb_workload_state_t state = dlb_workload_finish (wl, &self->confine);
    if (state == DLB_WORKLOAD_COMPLETE)
        s_event (self, "complete", dlb_workload_id (wl), NULL, dlb_workload_jobs (wl),
                 "workload %s complete and verified: %llu jobs", dlb_workload_id (wl),
                 (unsigned long long) dlb_workload_jobs (wl));
    else
        s_event (self, "failed", dlb_workload_id (wl), NULL, dlb_workload_jobs (wl),
                 "workload %s failed (see the node's status for the reason)",
                 dlb_workload_id (wl));
    s_keep_finished (self, dlb_workload_id (wl));
    s_publish (self);
}

//  After a result of wl was stored: once every result is in, queues the
//  audits of a workload read from a file. Returns wl if it is done
//  (finish it after syncing), else NULL.
static dlb_workload_t *s_settle (worker_t *self, dlb_workload_t *wl)
{
    uint64_t *ids;
    size_t count = dlb_workload_audit (wl, &ids);
    for (size_t i = 0; i < count; i++) {
        dlb_job_t *job = dlb_workload_job (wl, ids[i], self->cfg.node);
        if (job)
            zlistx_add_end (self->audits, job);
        else //  its audit never ends: the workload waits, and says so
            dlb_error ("out of memory auditing job %llu of %s",
                       (unsigned long long) ids[i], dlb_workload_id (wl));
    }
    if (count)
        dlb_info ("workload %s: every result is in; running %zu of the peers' jobs "
                  "again here to check them",
                  dlb_workload_id (wl), count);
    free (ids);
    return dlb_workload_done (wl) ? wl : NULL;
}

//  Stores one result at its origin (this node): from the peer `from`, or
//  computed here (NULL). Returns its workload if that completed it
//  (finish it after syncing), else NULL. Takes ownership.
static dlb_workload_t *s_store_result (worker_t *self, dlb_job_t **job_p,
                                       const char *from)
{
    dlb_job_t *job = *job_p;
    dlb_workload_t *wl = zhashx_lookup (self->workloads, job->workload);
    if (wl && dlb_workload_state (wl) == DLB_WORKLOAD_CANCELLED) {
        //  Late: acknowledged with its batch, and dropped.
        if (dlb_log_sampled (++self->late))
            dlb_info ("dropped a result for %s job %llu from %s: the workload was "
                      "cancelled (%llu such results so far)",
                      job->workload, (unsigned long long) job->id,
                      from ? from : "this node", (unsigned long long) self->late);
        dlb_job_destroy (job_p);
        return NULL;
    }
    char reason[DLB_TEXT_MAX];
    int rc = wl ? dlb_workload_store (wl, job, from, reason, sizeof reason) : -1;
    if (!wl)
        snprintf (reason, sizeof reason, "unknown workload");
    if (rc == -2 && dlb_log_sampled (++self->rejected)) {
        dlb_warn ("rejected a result for %s job %llu: %s (%llu rejected so far)",
                  job->workload, (unsigned long long) job->id, reason,
                  (unsigned long long) self->rejected);
        s_event (self, "rejected", job->workload, from, self->rejected,
                 "rejected a result for job %llu: %s (%llu rejected so far)",
                 (unsigned long long) job->id, reason,
                 (unsigned long long) self->rejected);
    }
    else if (rc == -1)
        dlb_warn ("dropped a result for %s job %llu from %s: %s", job->workload,
                  (unsigned long long) job->id, from ? from : "this node", reason);
    dlb_job_destroy (job_p);
    return rc == 1 || rc == 2 ? s_settle (self, wl) : NULL;
}

//  Whether a batch of count jobs holding bytes of data is full: --batch
//  jobs, or more while they hold under DLB_BATCH_FILL_BYTES (small jobs
//  travel in fewer, larger messages), within the protocol's limits.
//  Pure; cannot fail.
static bool s_batch_full (size_t count, size_t bytes, int batch)
{
    return count >= DLB_BATCH_MAX_JOBS || bytes >= DLB_BATCH_MAX_BYTES ||
           (count >= (size_t) batch && bytes >= DLB_BATCH_FILL_BYTES);
}

//  Sends a batch of jobs or results through the transfer service and
//  frees them.
static void s_send_batch (worker_t *self, int type, const char *to, dlb_job_t **batch,
                          size_t count, dlb_batch_stats_t *stats)
{
    dlb_writer_t w;
    dlb_writer_init (&w, type);
    dlb_batch_encode (&w, type, self->cfg.node, to, ++self->batch_seq, batch, count,
                      stats);
    dlb_writer_send (&w, self->out);
    for (size_t i = 0; i < count; i++)
        dlb_job_destroy (&batch[i]);
}

//  Sends the results waiting for other origins, one batch per origin.
static void s_flush_results (worker_t *self)
{
    while (zlistx_size (self->results)) {
        dlb_job_t *batch[DLB_BATCH_MAX_JOBS];
        size_t count = 0;
        dlb_job_t *first = zlistx_first (self->results);
        char origin[DLB_NAME_MAX];
        snprintf (origin, sizeof origin, "%s", first->origin);
        void *cursor = zlistx_first (self->results);
        size_t bytes = 0;
        while (cursor && !s_batch_full (count, bytes, self->cfg.batch)) {
            dlb_job_t *job = cursor;
            void *handle = zlistx_cursor (self->results);
            cursor = zlistx_next (self->results);
            if (streq (job->origin, origin)) {
                batch[count++] = job;
                bytes += job->elems * sizeof (double);
                self->results_bytes -= job->elems * sizeof (double);
                zlistx_detach (self->results, handle);
            }
        }
        dlb_batch_stats_t stats;
        s_send_batch (self, DLB_MSG_RESULTS, origin, batch, count, &stats);
    }
}

//  Makes every result stored so far durable.
static void s_sync_journals (worker_t *self)
{
    self->unsynced = false;
    self->synced_at = zclock_mono ();
    for (dlb_workload_t *wl = zhashx_first (self->workloads); wl;
         wl = zhashx_next (self->workloads))
        if (dlb_workload_state (wl) == DLB_WORKLOAD_RUNNING && dlb_workload_sync (wl))
            dlb_error ("workload %s: cannot sync its journal: %s", dlb_workload_id (wl),
                       strerror (errno));
}

static int s_flush_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    worker_t *self = arg;
    self->flush_armed = false;
    int64_t now = zclock_mono ();
    if (now - self->results_since >= DLB_RESULT_FLUSH)
        s_flush_results (self);
    if (self->unsynced && now - self->synced_at >= DLB_SYNC_DELAY)
        s_sync_journals (self);
    else if (self->unsynced) //  written, so that a killed worker keeps them
        for (dlb_workload_t *wl = zhashx_first (self->workloads); wl;
             wl = zhashx_next (self->workloads))
            if (dlb_workload_state (wl) == DLB_WORKLOAD_RUNNING &&
                dlb_workload_flush (wl))
                dlb_error ("workload %s: cannot write its journal: %s",
                           dlb_workload_id (wl), strerror (errno));
    if (zlistx_size (self->results) || self->unsynced)
        s_arm_flush (self); //  until they are old enough to go
    return 0;
}

//  Whether anything runs here: jobs waiting or running, or a workload of
//  this origin not finished (its jobs may all be at peers).
static bool s_busy (worker_t *self)
{
    if (s_waiting (self) || s_running (self) || zlistx_size (self->results))
        return true;
    for (dlb_workload_t *wl = zhashx_first (self->workloads); wl;
         wl = zhashx_next (self->workloads))
        if (dlb_workload_state (wl) == DLB_WORKLOAD_RUNNING)
            return true;
    return false;
}

//  Every state period while busy; idle, only every DLB_STATUS_KEEPALIVE
//  (what changes is published when it changes), and the timer sleeps.
static int s_publish_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    worker_t *self = arg;
    bool busy = s_busy (self);
    if (self->dirty || busy ||
        dlb_keepalive_due (self->last_publish, self->cfg.state_period)) {
        s_publish (self);
        if (!busy)
            dlb_ticker_sleep (&self->ticker); //  the next is a keepalive away
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  The ledger: HOLD reports out, leases in, lapsed jobs taken back.

static int s_job_order (const void *a, const void *b)
{
    const dlb_job_t *x = *(dlb_job_t *const *) a, *y = *(dlb_job_t *const *) b;
    int c = strcmp (x->origin, y->origin);
    if (!c)
        c = strcmp (x->workload, y->workload);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

//  Packs the ids of jobs[0..count) (one workload, sorted) as half-open
//  ranges.
static void s_pack_ranges (dlb_writer_t *w, dlb_job_t **jobs, size_t count)
{
    size_t ranges = 1;
    for (size_t i = 1; i < count; i++)
        ranges += jobs[i]->id != jobs[i - 1]->id + 1;
    msgpack_pack_array (&w->pk, ranges * 2);
    size_t start = 0;
    for (size_t i = 1; i <= count; i++)
        if (i == count || jobs[i]->id != jobs[i - 1]->id + 1) {
            msgpack_pack_uint64 (&w->pk, jobs[start]->id);
            msgpack_pack_uint64 (&w->pk, jobs[i - 1]->id + 1);
            start = i;
        }
}

//  Sends each origin whose jobs this node holds (queued, running, or
//  done and not yet sent) a HOLD {from, to, held: {workload: [lo, hi, ...]}}.
static void s_send_holds (worker_t *self)
{
    size_t max = zlistx_size (self->queue) + zlistx_size (self->results) +
                 (size_t) self->cfg.threads * DLB_CHUNK_MAX;
    dlb_job_t **held = malloc ((max + 1) * sizeof *held);
    if (!held)
        return;
    size_t count = 0;
    for (dlb_job_t *job = zlistx_first (self->queue); job;
         job = zlistx_next (self->queue))
        if (!streq (job->origin, self->cfg.node))
            held[count++] = job;
    for (dlb_job_t *job = zlistx_first (self->results); job;
         job = zlistx_next (self->results))
        held[count++] = job; //  results here are all for other origins
    for (int i = 0; i < self->cfg.threads; i++)
        for (size_t k = 0; k < self->threads[i].chunk.count; k++) {
            dlb_job_t *job = self->threads[i].chunk.jobs[k];
            if (!streq (job->origin, self->cfg.node))
                held[count++] = job;
        }
    qsort (held, count, sizeof *held, s_job_order);
    for (size_t first = 0; first < count;) {
        size_t end = first, workloads = 0;
        while (end < count && streq (held[end]->origin, held[first]->origin)) {
            workloads +=
                end == first || !streq (held[end]->workload, held[end - 1]->workload);
            end++;
        }
        dlb_writer_t w;
        dlb_writer_init (&w, DLB_MSG_HOLD);
        msgpack_pack_map (&w.pk, 3);
        dlb_writer_str (&w, "from", self->cfg.node);
        dlb_writer_str (&w, "to", held[first]->origin);
        dlb_writer_key (&w, "held");
        msgpack_pack_map (&w.pk, workloads);
        for (size_t k = first; k < end;) {
            size_t next = k;
            while (next < end && streq (held[next]->workload, held[k]->workload))
                next++;
            dlb_writer_string (&w, held[k]->workload);
            s_pack_ranges (&w, held + k, next - k);
            k = next;
        }
        dlb_writer_send (&w, self->out);
        first = end;
    }
    free (held);
}

static void s_send_cancel (worker_t *self, const char *to, const char **ids,
                           size_t count);

//  A HOLD from a peer: it holds these jobs of our workloads for now.
static void s_hold (worker_t *self, const dlb_msg_t *msg)
{
    char from[DLB_NAME_MAX] = "";
    const msgpack_object *held = dlb_obj_get (msg->body, "held");
    if (dlb_obj_str (msg->body, "from", from, sizeof from) || !*from || !held ||
        held->type != MSGPACK_OBJECT_MAP) {
        dlb_warn ("dropped a HOLD without from/held");
        return;
    }
    dlb_debug ("HOLD from %s for %u workloads", from, held->via.map.size);
    int64_t until = zclock_mono () + self->cfg.lease;
    const char *cancelled[DLB_WORKLOADS_KEPT];
    size_t cancelled_count = 0;
    for (uint32_t i = 0; i < held->via.map.size; i++) {
        const msgpack_object *key = &held->via.map.ptr[i].key,
                             *ranges = &held->via.map.ptr[i].val;
        char id[DLB_NAME_MAX];
        if (key->type != MSGPACK_OBJECT_STR || key->via.str.size >= sizeof id ||
            ranges->type != MSGPACK_OBJECT_ARRAY)
            continue;
        memcpy (id, key->via.str.ptr, key->via.str.size);
        id[key->via.str.size] = 0;
        dlb_workload_t *wl = zhashx_lookup (self->workloads, id);
        if (!wl)
            continue;
        if (dlb_workload_state (wl) == DLB_WORKLOAD_CANCELLED &&
            cancelled_count < DLB_WORKLOADS_KEPT) //  it holds jobs it need not run
            cancelled[cancelled_count++] = dlb_workload_id (wl);
        for (uint32_t k = 0; k + 1 < ranges->via.array.size; k += 2) {
            const msgpack_object *lo = &ranges->via.array.ptr[k],
                                 *hi = &ranges->via.array.ptr[k + 1];
            if (lo->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                hi->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                dlb_workload_hold (wl, from, lo->via.u64, hi->via.u64, until);
        }
    }
    if (cancelled_count)
        s_send_cancel (self, from, cancelled, cancelled_count);
}

//  Queues new copies of jobs of wl (at the head: they are late).
static void s_requeue (worker_t *self, dlb_workload_t *wl, const uint64_t *ids,
                       size_t count)
{
    for (size_t i = 0; i < count; i++) {
        dlb_job_t *job = dlb_workload_job (wl, ids[i], self->cfg.node);
        if (job)
            zlistx_add_start (self->queue, job);
        else
            dlb_error ("out of memory re-issuing job %llu of %s",
                       (unsigned long long) ids[i], dlb_workload_id (wl));
    }
}

//  Takes back the jobs whose lease lapsed; when idle, copies the tail.
static void s_check_leases (worker_t *self)
{
    uint64_t ids[DLB_RECLAIM_CHUNK];
    int64_t now = zclock_mono ();
    bool changed = false;
    for (dlb_workload_t *wl = zhashx_first (self->workloads); wl;
         wl = zhashx_next (self->workloads)) {
        char holder[DLB_NAME_MAX];
        size_t total = 0, count;
        while ((count = dlb_workload_reclaim (wl, now, ids, DLB_RECLAIM_CHUNK, holder,
                                              sizeof holder)) > 0) {
            if (total == 0)
                dlb_warn ("workload %s: taking back jobs last held by %s: no HOLD for "
                          "them in %d ms, or lost in a restart",
                          dlb_workload_id (wl), holder, self->cfg.lease);
            s_requeue (self, wl, ids, count);
            total += count;
        }
        if (total) {
            dlb_info ("workload %s: %zu jobs re-issued here", dlb_workload_id (wl),
                      total);
            s_event (self, "reissued", dlb_workload_id (wl), holder, total,
                     "%zu jobs re-issued here: their lease lapsed (last held by %s, no "
                     "HOLD for %d ms)",
                     total, holder, self->cfg.lease);
            self->reissued += total;
            self->unsynced = true; //  the take-back's journal record
            s_arm_flush (self);
            changed = true;
        }
    }
    size_t idle = s_idle_threads (self);
    if (zlistx_size (self->queue) == 0 && idle > 0)
        for (dlb_workload_t *wl = zhashx_first (self->workloads); wl && idle;
             wl = zhashx_next (self->workloads)) {
            size_t count = dlb_workload_tail (wl, ids, idle);
            if (count) {
                dlb_info ("workload %s: idle, running copies of %zu of its last jobs "
                          "held by peers (first result wins)",
                          dlb_workload_id (wl), count);
                s_requeue (self, wl, ids, count);
                self->copies += count;
                idle -= count;
                changed = true;
            }
        }
    if (changed) {
        s_dispatch (self);
        s_changed (self);
    }
}

static int s_heartbeat_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    worker_t *self = arg;
    //  Events of the start go out now: the monitor's subscription to a
    //  bus that has just been bound takes a moment.
    dlb_event_t *event;
    while ((event = zlistx_detach (self->recovered, NULL))) {
        dlb_event_publish (self->bus, event);
        free (event);
    }
    s_send_holds (self);
    s_check_leases (self);
    return 0;
}

//  Records jobs of this node's workloads that leave for `to` ("" = back
//  here), grouped by workload.
static void s_ledger_give (worker_t *self, const char *to, dlb_job_t **jobs, size_t count)
{
    int64_t until = zclock_mono () + self->cfg.lease;
    uint64_t ids[DLB_BATCH_MAX_JOBS];
    for (size_t first = 0; first < count;) {
        size_t end = first, n = 0;
        while (end < count && streq (jobs[end]->workload, jobs[first]->workload)) {
            ids[n++] = jobs[end]->id;
            end++;
        }
        dlb_workload_t *wl = streq (jobs[first]->origin, self->cfg.node)
                                 ? zhashx_lookup (self->workloads, jobs[first]->workload)
                                 : NULL;
        if (wl) {
            dlb_workload_give (wl, to, ids, n, until);
            self->unsynced = true; //  its journal record, written with the results
            s_arm_flush (self);
        }
        first = end;
    }
}

//  ---------------------------------------------------------------------

static int s_thread_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    worker_t *self = arg;
    thread_t *t = NULL;
    for (int i = 0; i < self->cfg.threads; i++)
        if (zactor_sock (self->threads[i].actor) == reader)
            t = &self->threads[i];
    char *command = NULL;
    int ignored;
    chunk_t *returned = NULL;
    if (!t || zsock_recv (reader, "sip", &command, &ignored, &returned) < 0)
        return -1;
    bool done = streq (command, "DONE");
    zstr_free (&command);
    assert (returned == &t->chunk);
    //  The chunk is ours again; the thread gets its next one before this
    //  one's results are stored, so that it computes meanwhile.
    chunk_t chunk = t->chunk;
    t->chunk.count = 0;
    self->compute_s += chunk.cpu_ns / 1e9;
    if (!done) {
        for (size_t k = 0; k < chunk.count; k++)
            dlb_job_destroy (&chunk.jobs[k]);
        return 0;
    }
    //  The cost of a job at full speed, from the chunk's wall time in the
    //  thread under the throttle, as if its jobs had been timed one by one.
    //  Its CPU time per job does not depend on what else runs on the CPU.
    double unit = chunk.wall_ns / 1e9 * t->throttle_at_start / (double) chunk.count,
           cpu = chunk.cpu_ns / 1e9 / (double) chunk.count;
    for (size_t k = 0; k < chunk.count; k++) {
        self->timed++;
        double gain = self->timed < DLB_RATE_WARMUP ? 1.0 / self->timed : DLB_RATE_GAIN;
        self->unit_cost += gain * (unit - self->unit_cost);
        self->job_cpu += gain * (cpu - self->job_cpu);
    }
    s_dispatch (self);
    int64_t store_start = dlb_wall_ns ();
    self->done += chunk.count;
    for (size_t k = 0; k < chunk.count; k++) {
        dlb_job_t *job = chunk.jobs[k];
        snprintf (job->ran_on, DLB_NAME_MAX, "%s", self->cfg.node);
        job->crc = dlb_job_crc (job);
        if (streq (job->origin, self->cfg.node)) {
            self->unsynced = true;
            dlb_workload_t *complete = s_store_result (self, &job, NULL);
            if (complete)
                s_finish (self, complete);
        }
        else {
            if (zlistx_size (self->results) == 0)
                self->results_since = zclock_mono ();
            self->results_bytes += job->elems * sizeof (double);
            zlistx_add_end (self->results, job);
        }
    }
    if (s_batch_full (zlistx_size (self->results), self->results_bytes, self->cfg.batch))
        s_flush_results (self);
    s_arm_flush (self); //  the rest of the results, and the journal's sync
    double decay = pow (1 - 1.0 / DLB_STORE_WINDOW, (double) chunk.count);
    self->store_time = self->store_time * decay + (dlb_wall_ns () - store_start) / 1e9;
    self->store_jobs = self->store_jobs * decay + (double) chunk.count;
    s_dispatch (self); //  audits queued by a workload's last result
    if (s_waiting (self) == 0 && s_running (self) == 0) {
        dlb_info (
            "drained: ran %llu jobs in %.3f s since the queue last filled; idle now",
            (unsigned long long) (self->done - self->busy_done),
            (dlb_wall_ns () - self->busy_since) / 1e9);
        self->busy_since = 0;
        s_flush_results (self); //  nothing else will come to batch them with
        s_publish (self);       //  drained: tell the others at once
    }
    else
        s_changed (self);
    return 0;
}

//  Replies to a command relayed by the monitor, with the STATUS published
//  last: the monitor holds the reply until it has that one, so that the
//  client's next status shows what the command did.
static void s_reply (worker_t *self, uint64_t req, const char *error, const char *id)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_REPLY);
    msgpack_pack_map (&w.pk, 5);
    dlb_writer_u64 (&w, "req", req);
    dlb_writer_u64 (&w, "boot", self->boot);
    dlb_writer_u64 (&w, "status_seq", self->published);
    dlb_writer_bool (&w, "ok", error == NULL);
    if (error)
        dlb_writer_str (&w, "error", error);
    else
        dlb_writer_str (&w, "id", id);
    dlb_writer_send (&w, self->reply);
}

//  The cap (its option) that a workload of these sizes exceeds, or NULL.
//  A job from a peer is a workload of one job.
static const char *s_over_cap (const dlb_config_t *cfg, uint64_t elements, uint64_t jobs,
                               uint64_t reps)
{
    uint64_t per_job = (elements + jobs - 1) / jobs;
    return elements > cfg->max_elements                 ? "--max-elements"
           : jobs > cfg->max_jobs                       ? "--max-jobs"
           : reps > cfg->max_reps                       ? "--max-reps"
           : reps && per_job > cfg->max_job_work / reps ? "--max-job-work"
                                                        : NULL;
}

//  Checks, for a submit, that the output can be written where it names:
//  in the data directory (the check is made again when it is written).
//  Returns 0, or -1 with the reason in err.
static int s_check_output (worker_t *self, const char *output, char *err, size_t err_size)
{
    char name[DLB_TEXT_MAX];
    int dir = dlb_confine_open_dir (&self->confine, "--output", output, name, sizeof name,
                                    err, err_size);
    if (dir < 0)
        return -1;
    int rc = faccessat (dir, ".", W_OK, AT_EACCESS);
    if (rc)
        snprintf (err, err_size, "--output '%s': cannot write in its directory: %s",
                  output, strerror (errno));
    close (dir);
    return rc ? -1 : 0;
}

static void s_submit (worker_t *self, const dlb_command_t *command)
{
    uint64_t req = command->req, elements = command->elements, jobs = command->jobs,
             reps = command->reps;
    const char *input = command->input, *output = command->output;
    char error[DLB_TEXT_MAX];
    if (s_check_output (self, output, error, sizeof error)) {
        s_reply (self, req, error, NULL);
        return;
    }
    double *values = NULL;
    if (*input) {
        size_t count;
        int fd =
            dlb_confine_open_read (&self->confine, "--input", input, error, sizeof error);
        int rc = fd < 0 ? -1
                        : dlb_npy_read (fd, input, self->cfg.max_elements, &values,
                                        &count, error, sizeof error);
        if (rc == -2)
            snprintf (error, sizeof error,
                      "--input '%s': %zu elements, over this node's --max-elements %llu",
                      input, count, (unsigned long long) self->cfg.max_elements);
        if (rc) {
            s_reply (self, req, error, NULL);
            return;
        }
        elements = count;
        if (jobs > elements)
            jobs = elements;
    }
    const char *cap = NULL;
    if (dlb_command_check_sizes (elements, jobs, reps, error, sizeof error) ||
        (cap = s_over_cap (&self->cfg, elements, jobs, reps))) {
        if (cap)
            snprintf (
                error, sizeof error,
                "over this node's %s: %llu elements in %llu jobs of %llu reps (its caps: "
                "--max-elements %llu, --max-jobs %llu, --max-reps %llu, --max-job-work "
                "%llu elements x reps a job)",
                cap, (unsigned long long) elements, (unsigned long long) jobs,
                (unsigned long long) reps, (unsigned long long) self->cfg.max_elements,
                (unsigned long long) self->cfg.max_jobs,
                (unsigned long long) self->cfg.max_reps,
                (unsigned long long) self->cfg.max_job_work);
        free (values);
        s_reply (self, req, error, NULL);
        return;
    }
    char id[DLB_NAME_MAX];
    snprintf (id, sizeof id, "%s-%llu", self->cfg.node,
              (unsigned long long) ++self->workload_seq);
    dlb_workload_t *wl =
        dlb_workload_new (self->journal, id, elements, jobs, (uint32_t) reps, output,
                          &values, error, sizeof error);
    if (!wl) {
        s_reply (self, req, error, NULL);
        return;
    }
    for (uint64_t j = 0; j < jobs; j++) {
        dlb_job_t *job = dlb_workload_job (wl, j, self->cfg.node);
        assert (job);
        zlistx_add_end (self->queue, job);
    }
    zhashx_insert (self->workloads, id, wl);
    dlb_info ("workload %s submitted: %llu elements in %llu jobs, %llu reps, %s -> %s",
              id, (unsigned long long) elements, (unsigned long long) jobs,
              (unsigned long long) reps, *input ? input : "generated", output);
    s_dispatch (self);
    s_publish (self); //  before the reply: the client's next status shows it
    s_reply (self, req, NULL, id);
    s_event (self, "submitted", id, NULL, jobs,
             "workload %s submitted: %llu elements in %llu jobs, %llu reps, %s -> %s", id,
             (unsigned long long) elements, (unsigned long long) jobs,
             (unsigned long long) reps, *input ? input : "generated", output);
}

//  Drops the jobs of workload id from origin waiting in list (the queue,
//  the audits): a workload id alone could be forged by a node whose name
//  is a prefix of another's.
//  Returns their number.
static size_t s_drop_jobs (zlistx_t *list, const char *origin, const char *id)
{
    size_t dropped = 0;
    dlb_job_t *job = zlistx_first (list);
    while (job) {
        void *handle = zlistx_cursor (list);
        bool drop = streq (job->workload, id) && streq (job->origin, origin);
        job = zlistx_next (list); //  the cursor moves on before the item goes
        if (drop) {
            zlistx_delete (list, handle);
            dropped++;
        }
    }
    return dropped;
}

//  Sends peer `to` a CANCEL {from, to, workloads: [ids]}.
static void s_send_cancel (worker_t *self, const char *to, const char **ids, size_t count)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_CANCEL);
    msgpack_pack_map (&w.pk, 3);
    dlb_writer_str (&w, "from", self->cfg.node);
    dlb_writer_str (&w, "to", to);
    dlb_writer_key (&w, "workloads");
    msgpack_pack_array (&w.pk, count);
    for (size_t i = 0; i < count; i++)
        dlb_writer_string (&w, ids[i]);
    dlb_writer_send (&w, self->out);
}

//  `cancel ID`: a running workload of this origin ends as cancelled.
static void s_cancel (worker_t *self, const dlb_command_t *command)
{
    char error[DLB_TEXT_MAX];
    dlb_workload_t *wl = zhashx_lookup (self->workloads, command->id);
    if (!wl) {
        snprintf (error, sizeof error,
                  "no workload '%s' here: cancel takes the id of a workload this node "
                  "originated",
                  command->id);
        s_reply (self, command->req, error, NULL);
        return;
    }
    dlb_workload_state_t state = dlb_workload_state (wl);
    if (state != DLB_WORKLOAD_RUNNING) {
        snprintf (error, sizeof error, "workload '%s' has already ended (%s)",
                  command->id,
                  state == DLB_WORKLOAD_COMPLETE ? "complete"
                  : state == DLB_WORKLOAD_FAILED ? "failed"
                                                 : "cancelled");
        s_reply (self, command->req, error, NULL);
        return;
    }
    char holders[DLB_PEERS_MAX * 4][DLB_NAME_MAX];
    size_t count = dlb_workload_holders (wl, holders, DLB_PEERS_MAX * 4);
    uint64_t completed = dlb_workload_completed (wl), jobs = dlb_workload_jobs (wl);
    dlb_workload_cancel (wl);
    size_t dropped = s_drop_jobs (self->queue, self->cfg.node, command->id) +
                     s_drop_jobs (self->audits, self->cfg.node, command->id);
    const char *id = dlb_workload_id (wl);
    for (size_t i = 0; i < count; i++)
        s_send_cancel (self, holders[i], &id, 1);
    s_keep_finished (self, id);
    s_publish (self); //  before the reply: the client's next status shows it
    s_reply (self, command->req, NULL, id);
    s_event (self, "cancelled", id, NULL, jobs - completed,
             "workload %s cancelled with %llu of %llu results in: %zu queued jobs "
             "dropped here, %zu peers told",
             id, (unsigned long long) completed, (unsigned long long) jobs, dropped,
             count);
}

static bool s_is_cancelled (worker_t *self, const char *id)
{
    for (char *known = zlistx_first (self->cancelled); known;
         known = zlistx_next (self->cancelled))
        if (streq (known, id))
            return true;
    return false;
}

//  A CANCEL from an origin: its workloads named there are dropped here.
static void s_cancelled (worker_t *self, const dlb_msg_t *msg)
{
    char from[DLB_NAME_MAX] = "";
    const msgpack_object_array *ids;
    if (dlb_obj_str (msg->body, "from", from, sizeof from) || !*from ||
        dlb_obj_array (msg->body, "workloads", &ids)) {
        dlb_warn ("dropped a CANCEL without from/workloads");
        return;
    }
    size_t from_len = strlen (from);
    for (uint32_t i = 0; i < ids->size; i++) {
        const msgpack_object *o = &ids->ptr[i];
        char id[DLB_NAME_MAX];
        //  Only an origin cancels, and only its own workloads ("FROM-N").
        if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= sizeof id ||
            o->via.str.size <= from_len + 1 ||
            memcmp (o->via.str.ptr, from, from_len) != 0 ||
            o->via.str.ptr[from_len] != '-' ||
            memchr (o->via.str.ptr, 0, o->via.str.size))
            continue;
        memcpy (id, o->via.str.ptr, o->via.str.size);
        id[o->via.str.size] = 0;
        size_t dropped = s_drop_jobs (self->queue, from, id); //  its own jobs only
        bool known = s_is_cancelled (self, id);
        if (!known) {
            zlistx_add_end (self->cancelled, strdup (id));
            while (zlistx_size (self->cancelled) > DLB_CANCELLED_KEPT) {
                char *oldest = zlistx_detach (self->cancelled, NULL);
                free (oldest);
            }
        }
        if (dropped || !known) {
            dlb_info ("workload %s cancelled by its origin %s: dropped %zu queued jobs",
                      id, from, dropped);
            s_event (self, "dropped", id, from, dropped,
                     "workload %s cancelled by its origin: %zu queued jobs dropped", id,
                     dropped);
        }
        if (dropped)
            s_changed (self);
    }
}

//  Gives up to `count` queued jobs (from the tail: the last to be run
//  here) to a peer, in batches, through the transfer service.
static void s_take (worker_t *self, const char *to, uint64_t count, const char *why)
{
    uint64_t given = 0;
    size_t raw = 0, wire = 0;
    while (given < count && zlistx_size (self->queue)) {
        dlb_job_t *batch[DLB_BATCH_MAX_JOBS];
        size_t n = 0, bytes = 0;
        while (!s_batch_full (n, bytes, self->cfg.batch) && given + n < count &&
               zlistx_last (self->queue)) {
            batch[n] = zlistx_detach_cur (self->queue);
            bytes += batch[n++]->elems * sizeof (double);
        }
        s_ledger_give (self, to, batch, n);
        dlb_batch_stats_t stats;
        s_send_batch (self, DLB_MSG_JOBS, to, batch, n, &stats);
        given += n;
        raw += stats.raw_bytes;
        wire += stats.wire_bytes;
    }
    if (given) {
        self->sent += given;
        s_count (self->sent_to, to, given);
        dlb_info (
            "gave %llu of %llu jobs asked for %s (%zu B, %zu B compressed); %zu left; %s",
            (unsigned long long) given, (unsigned long long) count, to, raw, wire,
            zlistx_size (self->queue), why);
        s_changed (self);
    }
}

//  Acknowledges a RESULTS batch to its sender, through the transfer service.
static void s_ack (worker_t *self, const char *to, uint64_t batch, size_t count)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_ACK);
    msgpack_pack_map (&w.pk, 4);
    dlb_writer_str (&w, "from", self->cfg.node);
    dlb_writer_str (&w, "to", to);
    dlb_writer_u64 (&w, "batch", batch);
    dlb_writer_u64 (&w, "count", count);
    dlb_writer_send (&w, self->out);
}

//  A RESULTS batch: stored, made durable, then acknowledged, and only then
//  are the workloads it completed finished.
static void s_results (worker_t *self, const char *from, uint64_t batch, dlb_job_t **jobs,
                       size_t count)
{
    dlb_workload_t *complete[DLB_BATCH_MAX_JOBS];
    size_t completed = 0;
    for (size_t i = 0; i < count; i++) {
        dlb_workload_t *wl =
            s_store_result (self, &jobs[i], streq (from, self->cfg.node) ? NULL : from);
        if (wl)
            complete[completed++] = wl;
    }
    s_sync_journals (self);
    if (!streq (from, self->cfg.node))
        s_ack (self, from, batch, count);
    for (size_t i = 0; i < completed; i++)
        s_finish (self, complete[i]);
    s_dispatch (self); //  the audits, once a workload's last result is in
}

static void s_jobs (worker_t *self, const char *from, const char *to, dlb_job_t **jobs,
                    size_t count)
{
    s_ledger_give (self, "", jobs, count); //  ours (came home): held here again
    if (streq (from, self->cfg.node)) {
        //  They never reached the peer: no longer in flight there.
        self->returned += count;
        self->sent -= count < self->sent ? count : self->sent;
        for (size_t i = 0; i < DLB_PEERS_MAX; i++)
            if (streq (self->sent_to[i].node, to))
                self->sent_to[i].jobs -=
                    count < self->sent_to[i].jobs ? count : self->sent_to[i].jobs;
        dlb_info ("%zu jobs returned by the transfer service (peer %s unreachable)",
                  count, to);
    }
    else {
        self->received += count;
        s_count (self->recv_from, from, count);
    }
    size_t refused = 0, cancelled = 0;
    bool passed_on = false; //  by a node that is not their origin
    for (size_t i = 0; i < count; i++) {
        const char *cap = streq (from, self->cfg.node)
                              ? NULL
                              : s_over_cap (&self->cfg, jobs[i]->elems, 1, jobs[i]->reps);
        if (cap && refused++ == 0)
            dlb_warn ("dropped job %s/%llu from %s: %u elements x %u reps is over this "
                      "node's %s; its origin takes it back when its lease lapses",
                      jobs[i]->workload, (unsigned long long) jobs[i]->id, from,
                      jobs[i]->elems, jobs[i]->reps, cap);
        dlb_workload_t *own = streq (jobs[i]->origin, self->cfg.node)
                                  ? zhashx_lookup (self->workloads, jobs[i]->workload)
                                  : NULL;
        if (!cap && ((own && dlb_workload_state (own) == DLB_WORKLOAD_CANCELLED) ||
                     s_is_cancelled (self, jobs[i]->workload)))
            cancelled++; //  dropped: its workload was cancelled
        else if (!cap) {
            passed_on |= !streq (jobs[i]->origin, from) &&
                         !streq (jobs[i]->origin, self->cfg.node);
            zlistx_add_end (self->queue, jobs[i]);
            jobs[i] = NULL;
        }
    }
    if (refused > 1)
        dlb_warn ("dropped %zu jobs over this node's caps from %s in all", refused, from);
    if (cancelled)
        dlb_info ("dropped %zu jobs from %s: their workload was cancelled", cancelled,
                  from);
    //  Jobs a node passed on from their origin: the origin hears at once
    //  that they are here, before any of their results (which take the
    //  same path, in order), or it would reject those as from a node it
    //  never gave them to.
    if (passed_on)
        s_send_holds (self);
    s_dispatch (self);
}

static int s_inbox_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    worker_t *self = arg;
    dlb_msg_t msg;
    int rc = dlb_service_recv (reader, "the worker inbox", &msg);
    if (rc == -1)
        return -1;
    if (rc == -2)
        return 0;
    char reason[256], from[DLB_NAME_MAX], to[DLB_NAME_MAX];
    if (msg.type == DLB_MSG_JOBS || msg.type == DLB_MSG_RESULTS) {
        dlb_job_t **jobs;
        size_t count;
        uint64_t batch;
        if (dlb_batch_decode (&msg, from, to, &batch, &jobs, &count, reason,
                              sizeof reason)) {
            dlb_warn ("dropped a %s batch: %s", dlb_msg_type_name (msg.type), reason);
            dlb_msg_release (&msg);
            return 0;
        }
        if (msg.type == DLB_MSG_RESULTS)
            s_results (self, from, batch, jobs, count);
        else
            s_jobs (self, from, to, jobs, count);
        dlb_batch_free (&jobs, count);
        s_changed (self);
    }
    else if (msg.type == DLB_MSG_HOLD)
        s_hold (self, &msg);
    else if (msg.type == DLB_MSG_CANCEL)
        s_cancelled (self, &msg);
    else if (msg.type == DLB_MSG_TAKE) {
        uint64_t count = 0;
        if (dlb_obj_str (msg.body, "to", to, sizeof to) ||
            dlb_obj_u64 (msg.body, "count", &count) || streq (to, self->cfg.node))
            dlb_warn ("dropped a TAKE without a valid to/count");
        else {
            char why[DLB_TEXT_MAX] = "";
            dlb_obj_str (msg.body, "why", why, sizeof why);
            s_take (self, to, count, why);
        }
        //  Every TAKE is answered with a STATUS that counts it, at once:
        //  the adaptor holds its decisions until it sees it.
        self->takes++;
        s_publish (self);
    }
    else if (msg.type == DLB_MSG_COMMAND) {
        dlb_command_t command;
        char error[DLB_TEXT_MAX + 64];
        int decoded = dlb_command_decode (&msg, &command, error, sizeof error);
        if (command.kind != DLB_COMMAND_SUBMIT && command.kind != DLB_COMMAND_CANCEL) {
            snprintf (reason, sizeof reason, "the worker has no command '%s'",
                      command.name);
            s_reply (self, command.req, reason, NULL);
        }
        else if (decoded)
            s_reply (self, command.req, error, NULL);
        else if (command.kind == DLB_COMMAND_CANCEL)
            s_cancel (self, &command);
        else
            s_submit (self, &command);
    }
    else
        dlb_warn ("dropped an unexpected %s on the worker inbox",
                  dlb_msg_type_name (msg.type));
    dlb_msg_release (&msg);
    return 0;
}

//  ---------------------------------------------------------------------
//  Start: the data directory, and the workloads of an earlier run.

//  Creates path and its parents (mode 0700). Returns 0 or -1 (errno set).
static int s_by_start (const void *item1, const void *item2)
{
    double a = dlb_workload_started ((dlb_workload_t *) item1),
           b = dlb_workload_started ((dlb_workload_t *) item2);
    return (a > b) - (a < b);
}

//  Counts the workload id suffixes seen, so that new ids stay unique.
static void s_seen_id (worker_t *self, const char *id)
{
    size_t len = strlen (self->cfg.node);
    if (strncmp (id, self->cfg.node, len) == 0 && id[len] == '-') {
        uint64_t n = strtoull (id + len + 1, NULL, 10);
        if (n > self->workload_seq)
            self->workload_seq = n;
    }
}

//  Reads back every workload journaled in an earlier run: the finished
//  ones' end records, and the running ones, whose jobs not given to a
//  peer are queued again at once (the rest when their lease lapses).
//  Returns 0, or -1 if the data directory cannot be used.
static int s_recover (worker_t *self)
{
    snprintf (self->journal, sizeof self->journal, "%s/%s", self->cfg.state_dir,
              DLB_JOURNAL_DIR);
    if (dlb_service_mkdirs (self->journal)) {
        dlb_error ("cannot use the data directory %s: %s", self->journal,
                   strerror (errno));
        return -1;
    }
    if (dlb_confine_init (&self->confine, self->cfg.data_dir)) {
        dlb_error ("cannot resolve the data directory %s: %s", self->cfg.data_dir,
                   strerror (errno));
        return -1;
    }
    DIR *dir = opendir (self->journal);
    if (!dir) {
        dlb_error ("cannot read %s: %s", self->journal, strerror (errno));
        return -1;
    }
    zlistx_t *finished = zlistx_new ();
    zlistx_set_comparator (finished, s_by_start);
    struct dirent *entry;
    //  End records first: a journal whose end was recorded is finished.
    for (int pass = 0; pass < 2; pass++) {
        rewinddir (dir);
        while ((entry = readdir (dir))) {
            const char *name = entry->d_name;
            size_t len = strlen (name);
            const char *ext = pass == 0 ? ".done" : ".wal";
            if (len <= strlen (ext) || !streq (name + len - strlen (ext), ext))
                continue;
            char id[DLB_NAME_MAX], err[DLB_TEXT_MAX];
            snprintf (id, sizeof id, "%.*s", (int) (len - strlen (ext)), name);
            if (pass == 1 && zhashx_lookup (self->workloads, id)) {
                char path[DLB_TEXT_MAX + DLB_NAME_MAX + 16];
                snprintf (path, sizeof path, "%s/%s", self->journal, name);
                unlink (path); //  it ended just before the crash
                continue;
            }
            dlb_workload_t *wl = dlb_workload_recover (
                self->journal, name, zclock_mono () + self->cfg.lease, err, sizeof err);
            if (!wl) {
                dlb_error ("cannot recover %s (left in place): %s", name, err);
                continue;
            }
            s_seen_id (self, dlb_workload_id (wl));
            zhashx_insert (self->workloads, dlb_workload_id (wl), wl);
            if (pass == 0)
                zlistx_add_end (finished, wl);
            else {
                dlb_info ("workload %s recovered from its journal", dlb_workload_id (wl));
                dlb_event_t *event = malloc (sizeof *event);
                if (event) {
                    dlb_event_set (event, self->cfg.node, "worker", "recovered",
                                   dlb_workload_id (wl), NULL,
                                   dlb_workload_completed (wl),
                                   "workload %s recovered from its journal after a "
                                   "restart: %llu of %llu results in",
                                   dlb_workload_id (wl),
                                   (unsigned long long) dlb_workload_completed (wl),
                                   (unsigned long long) dlb_workload_jobs (wl));
                    zlistx_add_end (self->recovered, event);
                }
            }
        }
    }
    closedir (dir);
    zlistx_sort (finished);
    for (dlb_workload_t *wl = zlistx_first (finished); wl; wl = zlistx_next (finished))
        s_keep_finished (self, dlb_workload_id (wl));
    zlistx_destroy (&finished);
    //  Running workloads whose last result was in: audit or finish them
    //  (finishing may forget old finished ones, so not while walking the
    //  table).
    zlistx_t *complete = zlistx_new ();
    for (dlb_workload_t *wl = zhashx_first (self->workloads); wl;
         wl = zhashx_next (self->workloads))
        if (dlb_workload_state (wl) == DLB_WORKLOAD_RUNNING && s_settle (self, wl))
            zlistx_add_end (complete, wl);
    for (dlb_workload_t *wl = zlistx_first (complete); wl; wl = zlistx_next (complete))
        s_finish (self, wl);
    zlistx_destroy (&complete);
    s_check_leases (self);
    s_dispatch (self); //  the audits of workloads whose last result was in
    return 0;
}

static void s_set_throttle (worker_t *self, double throttle)
{
    if (throttle == self->throttle)
        return;
    dlb_info ("throttle %.2f -> %.2f", self->throttle, throttle);
    self->throttle = throttle;
    for (int i = 0; i < self->cfg.threads; i++)
        zsock_send (self->threads[i].actor, "sip", "THROTTLE",
                    (int) lround (throttle * DLB_THROTTLE_SCALE), NULL);
    s_publish (self);
}

static int s_monitor_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    worker_t *self = arg;
    dlb_msg_t msg;
    int rc = dlb_service_recv (reader, "the monitor bus", &msg);
    if (rc == -1)
        return -1;
    if (rc == 0) {
        double throttle;
        if (msg.type == DLB_MSG_STATUS &&
            dlb_obj_double (msg.body, "throttle", &throttle) == 0 && throttle > 0 &&
            throttle <= 1)
            s_set_throttle (self, throttle);
        dlb_msg_release (&msg);
    }
    return 0;
}

void dlb_worker_actor (zsock_t *pipe, void *args)
{
    worker_t *self = calloc (1, sizeof *self);
    assert (self);
    self->cfg = *(dlb_config_t *) args;
    self->pipe = pipe;
    self->throttle = self->cfg.throttle;
    self->batch_seq = (uint64_t) zclock_time () << 16;
    self->boot = (uint64_t) (dlb_now () * 1e6);
    self->workload_seq = (uint64_t) time (NULL) % 100000 * 1000;
    self->bus = dlb_service_bind (&self->cfg, ZMQ_PUB, DLB_PORT_BUS (DLB_SVC_WORKER));
    self->inbox =
        dlb_service_bind (&self->cfg, ZMQ_PULL, DLB_PORT_INBOX (DLB_SVC_WORKER));
    self->monitor = dlb_service_sub (&self->cfg, DLB_SVC_MONITOR);
    self->out =
        dlb_service_connect (&self->cfg, ZMQ_PUSH, DLB_PORT_INBOX (DLB_SVC_TRANSFER));
    self->reply =
        dlb_service_connect (&self->cfg, ZMQ_PUSH, DLB_PORT_INBOX (DLB_SVC_MONITOR));
    if (!self->bus || !self->inbox || !self->monitor || !self->out || !self->reply)
        goto cleanup;
    self->queue = zlistx_new ();
    zlistx_set_destructor (self->queue, s_job_destructor);
    self->results = zlistx_new ();
    zlistx_set_destructor (self->results, s_job_destructor);
    self->audits = zlistx_new ();
    zlistx_set_destructor (self->audits, s_job_destructor);
    self->workloads = zhashx_new ();
    zhashx_set_destructor (self->workloads, s_workload_destructor);
    self->finished = zlistx_new ();
    zlistx_set_destructor (self->finished, (zlistx_destructor_fn *) zstr_free);
    self->cancelled = zlistx_new ();
    zlistx_set_destructor (self->cancelled, (zlistx_destructor_fn *) zstr_free);
    self->recovered = zlistx_new ();
    zlistx_set_destructor (self->recovered, (zlistx_destructor_fn *) zstr_free);
    self->threads = calloc (self->cfg.threads, sizeof (thread_t));
    self->loop = zloop_new ();
    if (self->cfg.idle_priority)
        s_lowest_session ();
    compute_args_t start = {.throttle = self->throttle, .idle = self->cfg.idle_priority};
    dlb_config_cpus (self->cfg.cpus, &start.cpus); //  validated by dlb_config_parse
    for (int i = 0; i < self->cfg.threads; i++) {
        self->threads[i].actor = zactor_new (s_compute_actor, &start);
        zloop_reader (self->loop, zactor_sock (self->threads[i].actor), s_thread_event,
                      self);
    }
    if (s_recover (self))
        goto cleanup;
    zloop_reader (self->loop, pipe, dlb_service_pipe, self);
    zloop_reader (self->loop, self->inbox, s_inbox_event, self);
    zloop_reader (self->loop, self->monitor, s_monitor_event, self);
    dlb_ticker_start (&self->ticker, self->loop, (size_t) self->cfg.state_period,
                      DLB_STATUS_KEEPALIVE, s_publish_timer, self);
    zloop_timer (self->loop, self->cfg.heartbeat, 0, s_heartbeat_timer, self);
    dlb_info ("worker ready: %d thread(s) at %s priority, throttle %.2f, CPUs %s, "
              "journal in %s, HOLD every %d ms, lease %d ms",
              self->cfg.threads, self->cfg.idle_priority ? "idle" : "normal",
              self->throttle, *self->cfg.cpus ? self->cfg.cpus : "any", self->journal,
              self->cfg.heartbeat, self->cfg.lease);
    zsock_signal (pipe, 0);
    zloop_start (self->loop);

cleanup:
    if (self->threads)
        for (int i = 0; i < self->cfg.threads; i++) {
            zactor_destroy (&self->threads[i].actor);
            for (size_t k = 0; k < self->threads[i].chunk.count; k++)
                dlb_job_destroy (&self->threads[i].chunk.jobs[k]);
        }
    free (self->threads);
    zloop_destroy (&self->loop);
    zlistx_destroy (&self->queue);
    zlistx_destroy (&self->results);
    zlistx_destroy (&self->audits);
    zhashx_destroy (&self->workloads);
    zlistx_destroy (&self->finished);
    zlistx_destroy (&self->cancelled);
    zlistx_destroy (&self->recovered);
    zsock_destroy (&self->bus);
    zsock_destroy (&self->inbox);
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->out);
    zsock_destroy (&self->reply);
    free (self);
}

//  ---------------------------------------------------------------------
//  Self-test: the actor in-process, driven through raw sockets standing in
//  for the monitor and the transfer service.

//  Waits up to timeout msecs for a message of the given type on socket.
static int s_expect (zsock_t *socket, int type, int timeout, dlb_msg_t *msg)
{
    int64_t deadline = zclock_mono () + timeout;
    zpoller_t *poller = zpoller_new (socket, NULL);
    int rc = -1;
    while (rc == -1 && zclock_mono () < deadline) {
        if (!zpoller_wait (poller, (int) (deadline - zclock_mono ())))
            break;
        char reason[256];
        if (dlb_msg_recv (socket, msg, reason, sizeof reason) == 0) {
            if (msg->type == type)
                rc = 0;
            else
                dlb_msg_release (msg);
        }
    }
    zpoller_destroy (&poller);
    return rc;
}

//  Waits for a worker STATUS in which workload `id` is in `state`; returns
//  its count `key` then (and its error in error, if not NULL), or -1 on
//  timeout.
static int64_t s_wait_workload (zsock_t *bus, const char *id, const char *state,
                                const char *key, char *error, int timeout)
{
    int64_t deadline = zclock_mono () + timeout;
    dlb_msg_t msg;
    while (zclock_mono () < deadline &&
           s_expect (bus, DLB_MSG_STATUS, (int) (deadline - zclock_mono ()), &msg) == 0) {
        const msgpack_object_array *workloads;
        int64_t found = -1;
        if (dlb_obj_array (msg.body, "workloads", &workloads) == 0)
            for (uint32_t i = 0; i < workloads->size; i++) {
                const msgpack_object *wl = &workloads->ptr[i];
                char found_id[DLB_NAME_MAX] = "", found_state[16] = "";
                uint64_t value = 0;
                dlb_obj_str (wl, "id", found_id, sizeof found_id);
                dlb_obj_str (wl, "state", found_state, sizeof found_state);
                dlb_obj_u64 (wl, key, &value);
                if (streq (found_id, id) && streq (found_state, state)) {
                    found = (int64_t) value;
                    if (error)
                        dlb_obj_str (wl, "error", error, DLB_TEXT_MAX);
                }
            }
        dlb_msg_release (&msg);
        if (found >= 0)
            return found;
    }
    return -1;
}

//  Sends a submit as the monitor relays it: generated, or read from input
//  if not NULL.
static void s_test_submit_send (zsock_t *inbox, uint64_t req, uint64_t elements,
                                uint64_t jobs, uint64_t reps, const char *input,
                                const char *output)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_COMMAND);
    msgpack_pack_map (&w.pk, input ? 7 : 6);
    dlb_writer_str (&w, "cmd", "submit");
    dlb_writer_u64 (&w, "req", req);
    dlb_writer_u64 (&w, "elements", elements);
    dlb_writer_u64 (&w, "jobs", jobs);
    dlb_writer_u64 (&w, "reps", reps);
    dlb_writer_str (&w, "output", output);
    if (input)
        dlb_writer_str (&w, "input", input);
    dlb_writer_send (&w, inbox);
}

//  Waits for the answer to submit req: returns 0 with its id in text, 1
//  if the worker refused it (the error in text), or -1 if it did not
//  answer in 5 s.
static int s_test_submitted (zsock_t *replies, uint64_t req, char *text)
{
    dlb_msg_t msg;
    if (s_expect (replies, DLB_MSG_REPLY, 5000, &msg))
        return -1;
    bool ok = false;
    uint64_t echoed = 0;
    int rc = dlb_obj_bool (msg.body, "ok", &ok) == 0 &&
                     dlb_obj_u64 (msg.body, "req", &echoed) == 0 && echoed == req &&
                     dlb_obj_str (msg.body, ok ? "id" : "error", text,
                                  ok ? DLB_NAME_MAX : DLB_TEXT_MAX) == 0
                 ? !ok
                 : -1;
    dlb_msg_release (&msg);
    return rc;
}

//  Submits a workload and waits for the answer (s_test_submitted).
static int s_test_submit (zsock_t *inbox, zsock_t *replies, uint64_t req,
                          uint64_t elements, uint64_t jobs, uint64_t reps,
                          const char *input, const char *output, char *text)
{
    s_test_submit_send (inbox, req, elements, jobs, reps, input, output);
    return s_test_submitted (replies, req, text);
}

//  Files outside the data directory, or in its .dlb, are refused for
//  --input and --output alike, with one text whether they exist or not;
//  a relative path is in the data directory.
static void s_test_confined (zsock_t *inbox, zsock_t *replies, const char *data)
{
    char outside[] = "/tmp/dlb_worker_outside_XXXXXX";
    int fd = mkstemp (outside);
    assert (fd >= 0 && write (fd, "12345678", 8) == 8);
    close (fd);
    char missing[64], link[DLB_TEXT_MAX + 16], journal[DLB_TEXT_MAX];
    snprintf (missing, sizeof missing, "%s.missing", outside);
    snprintf (link, sizeof link, "%s/link", data);
    assert (symlink (outside, link) == 0);
    snprintf (journal, sizeof journal, "%s/t/%s", DLB_STATE_SUBDIR, DLB_JOURNAL_DIR);
    char up[DLB_TEXT_MAX];
    snprintf (up, sizeof up, "../%s", strrchr (outside, '/') + 1);
    const char *refused[] = {outside, missing, up, "link", journal, "../no/such"};
    char first[DLB_TEXT_MAX], text[DLB_TEXT_MAX];
    for (int input = 0; input < 2; input++)
        for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
            char output[DLB_TEXT_MAX];
            snprintf (output, sizeof output, "%s/x.npy", refused[i]);
            assert (s_test_submit (inbox, replies, 50 + i, 8, 1, 1,
                                   input ? refused[i] : NULL, input ? "x.npy" : output,
                                   i ? text : first) == 1);
            assert (streq (i ? text : first, first));
            assert (!strstr (first, "tmp") && !strstr (first, "exist"));
            assert (strstr (first, input ? "--input: no such file in the node's data"
                                         : "--output: no such directory in the node's"));
        }
    //  Nothing was written outside, nor in .dlb.
    struct stat st;
    assert (stat (outside, &st) == 0 && st.st_size == 8);
    assert (access (missing, F_OK) != 0);
    //  A relative input is read from the data directory; errors about a
    //  file there are helpful.
    snprintf (link, sizeof link, "%s/odd.f64", data);
    FILE *file = fopen (link, "w");
    assert (file && fputs ("123", file) >= 0);
    fclose (file);
    assert (s_test_submit (inbox, replies, 60, 8, 1, 1, "odd.f64", "x.npy", text) == 1);
    assert (strstr (text, "odd.f64: raw float64 file size 3 is not a multiple of 8"));
    unlink (link);
    snprintf (link, sizeof link, "%s/link", data);
    unlink (link);
    unlink (outside);
}

//  Asks the worker, as its adaptor would, to give count jobs to "peer".
static void s_test_take (zsock_t *inbox, uint64_t count)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_TAKE);
    msgpack_pack_map (&w.pk, 2);
    dlb_writer_str (&w, "to", "peer");
    dlb_writer_u64 (&w, "count", count);
    dlb_writer_send (&w, inbox);
}

//  Sends RESULTS of jobs[0..count) from `from`, computed, with element
//  `wrong` (if < count x elements) off by a little; expects their ACK.
static void s_test_results (zsock_t *inbox, zsock_t *transfer, const char *from,
                            dlb_job_t **jobs, size_t count, size_t wrong)
{
    dlb_job_t **copies = calloc (count, sizeof *copies);
    for (size_t i = 0; i < count; i++) {
        copies[i] = dlb_job_new (jobs[i]->elems);
        double *values = copies[i]->data;
        *copies[i] = *jobs[i];
        copies[i]->data = values;
        memcpy (values, jobs[i]->data, jobs[i]->elems * sizeof (double));
        dlb_kernel_apply (copies[i]->data, copies[i]->elems, copies[i]->reps);
        if (wrong / jobs[i]->elems == i)
            copies[i]->data[wrong % jobs[i]->elems] += 1e-9;
        snprintf (copies[i]->ran_on, DLB_NAME_MAX, "%s", from);
        copies[i]->crc = dlb_job_crc (copies[i]);
    }
    dlb_writer_t w;
    dlb_batch_stats_t stats;
    dlb_writer_init (&w, DLB_MSG_RESULTS);
    dlb_batch_encode (&w, DLB_MSG_RESULTS, from, "t", 7, copies, count, &stats);
    dlb_writer_send (&w, inbox);
    dlb_batch_free (&copies, count);
    dlb_msg_t msg;
    char to[DLB_NAME_MAX];
    assert (s_expect (transfer, DLB_MSG_ACK, 5000, &msg) == 0);
    assert (dlb_obj_str (msg.body, "to", to, sizeof to) == 0 && streq (to, from));
    dlb_msg_release (&msg);
}

//  Sets the worker's throttle as its monitor does (a STATUS on the
//  monitor's bus), until the worker's STATUS shows it.
static void s_test_throttle (zsock_t *monitor, zsock_t *bus, double throttle)
{
    int64_t deadline = zclock_mono () + 5000;
    bool applied = false;
    while (!applied && zclock_mono () < deadline) {
        dlb_writer_t w;
        dlb_writer_init (&w, DLB_MSG_STATUS);
        msgpack_pack_map (&w.pk, 2);
        dlb_writer_str (&w, "service", "monitor");
        dlb_writer_double (&w, "throttle", throttle);
        dlb_writer_send (&w, monitor);
        dlb_msg_t msg;
        double shown = 0;
        if (s_expect (bus, DLB_MSG_STATUS, 200, &msg) == 0) {
            applied =
                dlb_obj_double (msg.body, "throttle", &shown) == 0 && shown == throttle;
            dlb_msg_release (&msg);
        }
    }
    assert (applied);
}

//  "Verified" means verified. A workload read from a file gives half its
//  jobs to a peer; mallory, never given one, sends results for them too:
//  rejected (and acknowledged). The peer's results are right but for one
//  element of one random job, or (trial 0) all right. Every trial with a
//  wrong element must fail: all the peer's jobs are small enough to be
//  run again in full. Returns the number of forgeries caught.
static int s_test_forger (zsock_t *inbox, zsock_t *replies, zsock_t *transfer,
                          zsock_t *bus, zsock_t *monitor, const char *data, int trial)
{
    char path[DLB_TEXT_MAX + 16], id[DLB_TEXT_MAX], error[DLB_TEXT_MAX] = "";
    snprintf (path, sizeof path, "%s/in.f64", data);
    FILE *file = fopen (path, "w");
    for (int i = 0; file && i < 64 * 64; i++) {
        double value = i * 0.25 + trial;
        fwrite (&value, sizeof value, 1, file);
    }
    assert (file && fclose (file) == 0);
    //  The TAKE right behind the submit, at throttle 0.001: the worker
    //  reads it before any job is done, when its threads hold no more than
    //  a chunk. (At full speed the 64 jobs are about 3.5 ms of CPU, 0.054
    //  ms each by `dlb-kernel cost --elements 64 --reps 1000`, and once, on
    //  a busy machine, no JOBS came: most likely the TAKE found them done.)
    s_test_throttle (monitor, bus, 0.001);
    s_test_submit_send (inbox, 200 + trial, 0, 64, 1000, "in.f64", "f.npy");
    s_test_take (inbox, 32);
    assert (s_test_submitted (replies, 200 + trial, id) == 0);
    dlb_msg_t msg;
    assert (s_expect (transfer, DLB_MSG_JOBS, 5000, &msg) == 0);
    s_test_throttle (monitor, bus, 1);
    dlb_job_t **jobs;
    size_t count;
    char from[DLB_NAME_MAX], to[DLB_NAME_MAX];
    uint64_t batch;
    assert (dlb_batch_decode (&msg, from, to, &batch, &jobs, &count, error,
                              sizeof error) == 0);
    dlb_msg_release (&msg);
    s_test_results (inbox, transfer, "mallory", jobs, count, SIZE_MAX);
    size_t wrong = trial ? (size_t) rand () % (count * 64) : SIZE_MAX;
    s_test_results (inbox, transfer, "peer", jobs, count, wrong);
    dlb_batch_free (&jobs, count);
    int caught = 0;
    if (trial) {
        assert (s_wait_workload (bus, id, "failed", "rejected", error, 10000) == 32);
        caught = strstr (error, "differs from the origin's own run in 1 of 64") != NULL;
    }
    else //  every job of the peer run again, every one right
        assert (s_wait_workload (bus, id, "complete", "audited", NULL, 10000) == 32);
    unlink (path);
    return caught;
}

//  The self-test's caps: above every workload it runs, below those it
//  must refuse.
#define S_TEST_CAPS                                                                      \
    "--max-elements", "30000", "--max-jobs", "100", "--max-reps", "2000000",             \
        "--max-job-work", "2100000000"

//  Over each cap, a submit is refused with an error naming it, before
//  anything is allocated; an input file too.
static void s_test_caps (zsock_t *inbox, zsock_t *replies, const char *data)
{
    struct {
        uint64_t elements, jobs, reps;
        const char *cap;
    } over[] = {{30001, 30, 10, "over this node's --max-elements"},
                {2000, 101, 10, "over this node's --max-jobs"},
                {2000, 10, 2000001, "over this node's --max-reps"},
                {20000, 1, 200000, "over this node's --max-job-work"}};
    char text[DLB_TEXT_MAX];
    for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
        assert (s_test_submit (inbox, replies, 20 + i, over[i].elements, over[i].jobs,
                               over[i].reps, NULL, "x.npy", text) == 1);
        assert (strstr (text, over[i].cap));
    }
    char path[DLB_TEXT_MAX + 16];
    snprintf (path, sizeof path, "%s/big.f64", data);
    FILE *file = fopen (path, "w");
    assert (file && ftruncate (fileno (file), 30001 * sizeof (double)) == 0);
    fclose (file);
    assert (s_test_submit (inbox, replies, 30, 0, 10, 10, "big.f64", "x.npy", text) == 1);
    assert (strstr (text, "30001 elements, over this node's --max-elements 30000"));
    unlink (path);
}

//  Chunks and batches: their sizes by the rules, on given figures.
static void s_test_sizes (void)
{
    //  Untimed jobs go one at a time; then as many as fit in
    //  DLB_CHUNK_TIME, at most DLB_CHUNK_MAX, at most 1/DLB_CHUNK_SHARE
    //  of a thread's share of the queue, at least one.
    assert (s_chunk_size (0, 0, 100000, 1) == 1);
    assert (s_chunk_size (1e-6, 2, 100000, 1) == 1);
    assert (s_chunk_size (1e-6, 100, 100000, 1) == DLB_CHUNK_MAX);
    assert (s_chunk_size (DLB_CHUNK_TIME / 10, 100, 100000, 1) == 10);
    assert (s_chunk_size (0.013, 100, 100000, 1) == 1); //  a default job: alone
    assert (s_chunk_size (1e-6, 100, 400, 2) == 400 / (2 * DLB_CHUNK_SHARE));
    assert (s_chunk_size (1e-6, 100, 3, 2) == 1);
    assert (s_chunk_size (1e-6, 100, 0, 2) == 0);
    //  --batch jobs close a batch only once it holds DLB_BATCH_FILL_BYTES.
    assert (!s_batch_full (63, 63 * 8192, 64));
    assert (s_batch_full (64, 64 * 8192, 64)); //  default jobs: as before
    assert (!s_batch_full (64, 64 * 128, 64)); //  16-element jobs: more
    assert (s_batch_full (DLB_BATCH_MAX_JOBS, DLB_BATCH_MAX_JOBS * 128, 64));
    assert (s_batch_full (1, DLB_BATCH_MAX_BYTES, 64));
}

void dlb_worker_test (bool verbose)
{
    if (!verbose)
        dlb_log_set_level (DLB_LOG_ERROR);
    dlb_log_init ("t", "worker");
    s_test_sizes ();
    int base = dlb_service_free_base (DLB_PORT_SPAN);
    assert (base > 0);
    char port[16];
    snprintf (port, sizeof port, "%d", base);
    dlb_config_t cfg;
    char data[] = "/tmp/dlb_worker_test_XXXXXX";
    assert (mkdtemp (data));
    char *args[] = {"t",     "--node",     "t",  "--port",      port,  "--state-period",
                    "50",    "--data-dir", data, "--heartbeat", "100", "--lease",
                    "60000", S_TEST_CAPS};
    assert (dlb_config_parse (&cfg, 21, args, "t", "test") == 0);
    //  (a bind that fails here or in the actor is logged, and asserted)
    zsock_t *replies =
        dlb_service_bind (&cfg, ZMQ_PULL, DLB_PORT_INBOX (DLB_SVC_MONITOR));
    zsock_t *transfer =
        dlb_service_bind (&cfg, ZMQ_PULL, DLB_PORT_INBOX (DLB_SVC_TRANSFER));
    zsock_t *monitor = dlb_service_bind (&cfg, ZMQ_PUB, DLB_PORT_BUS (DLB_SVC_MONITOR));
    assert (replies && transfer && monitor);
    zactor_t *worker = dlb_service_start (dlb_worker_actor, &cfg);
    assert (worker);
    zsock_t *inbox =
        dlb_service_connect (&cfg, ZMQ_PUSH, DLB_PORT_INBOX (DLB_SVC_WORKER));
    zsock_t *bus = dlb_service_sub (&cfg, DLB_SVC_WORKER);
    dlb_msg_t msg;
    assert (s_expect (bus, DLB_MSG_STATUS, 5000, &msg) == 0); //  connected
    dlb_msg_release (&msg);

    //  Garbage first: dropped with a warning, the worker goes on.
    zstr_send (inbox, "garbage");
    zsock_send (inbox, "ss", "two", "frames");

    s_test_confined (inbox, replies, data);
    s_test_caps (inbox, replies, data);

    //  Submit a small workload; it runs here and is verified. Its output,
    //  a relative path, is in the data directory.
    const char *output = "out.npy";
    char result[sizeof data + 16];
    snprintf (result, sizeof result, "%s/%s", data, output);
    char id[DLB_TEXT_MAX];
    //  (sizes that do not divide evenly)
    assert (s_test_submit (inbox, replies, 7, 4000, 7, 100, NULL, output, id) == 0);
    dlb_writer_t w;
    bool ok = false;
    assert (s_wait_workload (bus, id, "complete", "duplicates", NULL, 10000) == 0);
    double *values;
    size_t count;
    char err[256];
    assert (dlb_npy_load (result, &values, &count, err, sizeof err) == 0 &&
            count == 4000);
    double expected = dlb_kernel_expected (DLB_KERNEL_INITIAL, 100);
    for (size_t i = 0; i < count; i++)
        assert (values[i] == expected);
    free (values);

    //  A bad submit gets an error reply, not a crash.
    dlb_writer_init (&w, DLB_MSG_COMMAND);
    msgpack_pack_map (&w.pk, 4);
    dlb_writer_str (&w, "cmd", "submit");
    dlb_writer_u64 (&w, "req", 8);
    dlb_writer_u64 (&w, "jobs", 0);
    dlb_writer_str (&w, "output", output);
    dlb_writer_send (&w, inbox);
    assert (s_expect (replies, DLB_MSG_REPLY, 5000, &msg) == 0);
    assert (dlb_obj_bool (msg.body, "ok", &ok) == 0 && !ok);
    assert (dlb_obj_str (msg.body, "error", err, sizeof err) == 0 &&
            strstr (err, "bad sizes"));
    dlb_msg_release (&msg);

    //  TAKE: a slow workload's queued jobs go out to the transfer service.
    assert (s_test_submit (inbox, replies, 9, 1024 * 20, 20, 50000, NULL, output, id) ==
            0);
    dlb_writer_init (&w, DLB_MSG_TAKE);
    msgpack_pack_map (&w.pk, 3);
    dlb_writer_str (&w, "to", "peer");
    dlb_writer_u64 (&w, "count", 5);
    dlb_writer_str (&w, "why", "test");
    dlb_writer_send (&w, inbox);
    assert (s_expect (transfer, DLB_MSG_JOBS, 5000, &msg) == 0);
    dlb_job_t **jobs;
    char from[DLB_NAME_MAX], to[DLB_NAME_MAX];
    uint64_t batch;
    assert (dlb_batch_decode (&msg, from, to, &batch, &jobs, &count, err, sizeof err) ==
            0);
    assert (count == 5 && streq (to, "peer") && streq (from, "t"));
    assert (jobs[0]->id == 19); //  from the tail
    dlb_msg_release (&msg);

    //  Their results come back (twice: the duplicate is harmless).
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < count; i++) {
            dlb_kernel_apply (jobs[i]->data, jobs[i]->elems,
                              round == 0 ? jobs[i]->reps : 0);
            snprintf (jobs[i]->ran_on, DLB_NAME_MAX, "peer");
            jobs[i]->crc = dlb_job_crc (jobs[i]);
        }
        dlb_batch_stats_t stats;
        dlb_writer_init (&w, DLB_MSG_RESULTS);
        dlb_batch_encode (&w, DLB_MSG_RESULTS, "peer", "t", 1, jobs, count, &stats);
        dlb_writer_send (&w, inbox);
        //  Each copy is acknowledged, once it is journaled.
        assert (s_expect (transfer, DLB_MSG_ACK, 5000, &msg) == 0);
        uint64_t acked = 0;
        assert (dlb_obj_str (msg.body, "to", to, sizeof to) == 0 && streq (to, "peer"));
        assert (dlb_obj_u64 (msg.body, "batch", &acked) == 0 && acked == 1);
        dlb_msg_release (&msg);
    }
    dlb_batch_free (&jobs, count);
    //  5 duplicates, or none if the 15 jobs run here were done before the
    //  first copies came (a slow test thread on a busy machine): the
    //  workload then completed on them, and the second copies were late
    //  results of an ended workload, acknowledged and dropped.
    int64_t duplicates = s_wait_workload (bus, id, "complete", "duplicates", NULL,
                                          60000); //  valgrind: slow
    assert (duplicates == 5 || duplicates == 0);
    assert (dlb_npy_load (result, &values, &count, err, sizeof err) == 0 &&
            count == 20480);
    expected = dlb_kernel_expected (DLB_KERNEL_INITIAL, 50000);
    for (size_t i = 0; i < count; i++)
        assert (values[i] == expected);
    free (values);
    //  Results only from the holder; a wrong element in a random job of a
    //  file workload caught (all five times here: by construction).
    int caught = 0;
    for (int trial = 0; trial <= 5; trial++)
        caught += s_test_forger (inbox, replies, transfer, bus, monitor, data, trial);
    assert (caught >= 4);
    //  Finished workloads are kept (and reported) up to DLB_WORKLOADS_KEPT.
    for (int k = 0; k < DLB_WORKLOADS_KEPT + 6; k++) {
        assert (s_test_submit (inbox, replies, 100 + k, 8, 1, 1, NULL, output, id) == 0);
    }
    assert (s_wait_workload (bus, id, "complete", "duplicates", NULL, 10000) >= 0);
    assert (s_expect (bus, DLB_MSG_STATUS, 5000, &msg) == 0);
    const msgpack_object_array *listed;
    assert (dlb_obj_array (msg.body, "workloads", &listed) == 0);
    assert (listed->size == DLB_WORKLOADS_KEPT);
    dlb_msg_release (&msg);

    //  Jobs of another origin: queued here, and reported to it in HOLDs
    //  (as half-open ranges) until they are done. The last two are over
    //  this node's caps (--max-reps; --max-job-work): dropped, never held.
    jobs = calloc (5, sizeof *jobs);
    for (size_t i = 0; i < 5; i++) {
        jobs[i] = dlb_job_new (i == 4 ? 2048 : 1024);
        snprintf (jobs[i]->workload, DLB_NAME_MAX, "peer-1");
        snprintf (jobs[i]->origin, DLB_NAME_MAX, "peer");
        jobs[i]->id = i < 3 ? 3 + i : 10 + i;
        jobs[i]->reps = i == 3 ? 2000001 : 2000000; //  long enough to be held a while
        jobs[i]->offset = 1024 * jobs[i]->id;
    }
    dlb_batch_stats_t stats;
    dlb_writer_init (&w, DLB_MSG_JOBS);
    dlb_batch_encode (&w, DLB_MSG_JOBS, "peer", "t", 2, jobs, 5, &stats);
    dlb_writer_send (&w, inbox);
    dlb_batch_free (&jobs, 5);
    assert (s_expect (transfer, DLB_MSG_HOLD, 5000, &msg) == 0);
    const msgpack_object *held = dlb_obj_get (msg.body, "held");
    assert (dlb_obj_str (msg.body, "to", to, sizeof to) == 0 && streq (to, "peer"));
    const msgpack_object_array *ranges;
    assert (held && dlb_obj_array (held, "peer-1", &ranges) == 0 && ranges->size == 2);
    assert (ranges->ptr[0].via.u64 == 3 && ranges->ptr[1].via.u64 == 6);
    dlb_msg_release (&msg);

    //  A crash of the origin's worker: a workload with 5 jobs given to a
    //  peer that then goes silent. The restarted worker finds it in its
    //  journal, runs the jobs it had at once and takes back the peer's
    //  when their lease lapses: complete, exact, nothing run twice here.
    assert (s_test_submit (inbox, replies, 10, 1024 * 20, 20, 50000, NULL, output, id) ==
            0);
    s_test_take (inbox, 5);
    assert (s_expect (transfer, DLB_MSG_JOBS, 5000, &msg) == 0);
    dlb_msg_release (&msg);
    zactor_destroy (&worker); //  the peer jobs queued first: this one is unfinished
    unlink (result);
    //  The restarted worker gets fresh ports: the old ones are released
    //  asynchronously ('Address already in use' on a busy machine).
    zsock_destroy (&bus);
    base = dlb_service_free_base (DLB_PORT_SPAN);
    assert (base > 0);
    snprintf (port, sizeof port, "%d", base);
    char *again[] = {"t",   "--node",     "t",  "--port",      port,  "--state-period",
                     "50",  "--data-dir", data, "--heartbeat", "100", "--lease",
                     "300", S_TEST_CAPS};
    assert (dlb_config_parse (&cfg, 21, again, "t", "test") == 0);
    worker = dlb_service_start (dlb_worker_actor, &cfg);
    assert (worker);
    bus = dlb_service_sub (&cfg, DLB_SVC_WORKER);
    assert (s_wait_workload (bus, id, "complete", "duplicates", NULL, 60000) == 0);
    assert (dlb_npy_load (result, &values, &count, err, sizeof err) == 0 &&
            count == 20480);
    for (size_t i = 0; i < count; i++)
        assert (values[i] == expected);
    free (values);
    //  Its journal is gone; its end record stays (for status).
    char path[DLB_TEXT_MAX + 64];
    snprintf (path, sizeof path, "%s/journal/%s.wal", cfg.state_dir, id);
    assert (access (path, F_OK) != 0);
    snprintf (path, sizeof path, "%s/journal/%s.done", cfg.state_dir, id);
    assert (access (path, F_OK) == 0);

    zactor_destroy (&worker);
    zsock_destroy (&inbox);
    zsock_destroy (&bus);
    zsock_destroy (&replies);
    zsock_destroy (&transfer);
    zsock_destroy (&monitor);
    unlink (result);
    assert (dlb_service_remove_tree (data) == 0);
    dlb_log_set_level (DLB_LOG_INFO);
}
