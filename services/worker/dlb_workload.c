/*  dlb_workload: a workload at its origin (see dlb_workload.h).           */
#include "dlb_workload.h"
#include "dlb_command.h"
#include "dlb_journal.h"
#include "dlb_kernel.h"
#include "dlb_log.h"
#include "dlb_npy.h"
#include "dlb_service.h"
#include "dlb_status.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_AUDIT_PER_PEER 8 //  jobs of each peer the origin recomputes at least
#define S_AUDIT_FLOOR                                                                    \
    ((uint64_t) 1 << 32)   //  elements x reps of peers' jobs the origin recomputes
                           //  in any case (about 1 s of a core): all of a small workload
#define S_AUDIT_SHARE 0.05 //  ... or this share of the workload's work, if more
#define S_HOLDERS_MAX 254  //  distinct peers the ledger names
#define S_HERE        0    //  holder index of this node
#define S_UNKNOWN     255  //  holder index of a node the ledger cannot name
#define S_RAN_MAX     (DLB_PEERS_MAX + 1)
#define S_PATH_MAX    (DLB_TEXT_MAX + DLB_NAME_MAX + 16)

struct _dlb_workload_t {
    char id[DLB_NAME_MAX];
    char dir[DLB_TEXT_MAX];
    uint64_t jobs, completed, duplicates, elements;
    uint64_t rejected; //  results from nodes never given their job
    uint64_t audited;  //  peers' results recomputed here and compared
    uint32_t reps;
    double start;   //  wall clock s at submission
    double elapsed; //  s, final once ended
    dlb_workload_state_t state;
    bool verified;
    bool selected; //  the audits were chosen (every result was in)
    bool forged;   //  an audit found a peer's result wrong (the reason in error)
    uint64_t audits_pending;
    char output[DLB_TEXT_MAX];
    char error[DLB_TEXT_MAX];
    //  While running
    double *result;
    double *input; //  NULL if generated
    uint8_t *have; //  1 once job j's result is stored
    uint8_t *holder;
    int64_t *until;    //  lease end of a peer's hold, zclock_mono msecs
    uint64_t *handed;  //  holder indices (bit i, i < 64) ever given or holding the job
    uint8_t *source;   //  holder index of the node whose result was stored
    uint8_t *auditing; //  1 while the job's result waits for its recomputation here
    char holders[S_HOLDERS_MAX + 1][DLB_NAME_MAX]; //  [0] = "" (here)
    size_t holder_count;
    dlb_journal_t *journal;
    size_t ran_count;
    dlb_count_t ran[S_RAN_MAX];
};

static const char *s_state_names[] = {"running", "complete", "failed", "cancelled"};

static void s_path (char *buf, const char *dir, const char *id, const char *ext)
{
    snprintf (buf, S_PATH_MAX, "%s/%s.%s", dir, id, ext);
}

static uint8_t s_holder_index (dlb_workload_t *self, const char *holder)
{
    for (size_t i = 0; i < self->holder_count; i++)
        if (streq (self->holders[i], holder))
            return (uint8_t) i;
    if (self->holder_count > S_HOLDERS_MAX - 1)
        return S_UNKNOWN;
    snprintf (self->holders[self->holder_count], DLB_NAME_MAX, "%s", holder);
    return (uint8_t) self->holder_count++;
}

//  Makes index the holder of job j, and remembers that it was handed it.
static void s_set_holder (dlb_workload_t *self, uint64_t j, uint8_t index)
{
    self->holder[j] = index;
    if (index < 64)
        self->handed[j] |= (uint64_t) 1 << index;
}

//  The holder index of node, S_UNKNOWN if the ledger never named it.
static uint8_t s_holder_find (dlb_workload_t *self, const char *node)
{
    for (size_t i = 1; i < self->holder_count; i++)
        if (streq (self->holders[i], node))
            return (uint8_t) i;
    return S_UNKNOWN;
}

//  The name of this workload's origin: ids are "<origin>-<n>".
static void s_origin (dlb_workload_t *self, char *buf)
{
    const char *dash = strrchr (self->id, '-');
    snprintf (buf, DLB_NAME_MAX, "%.*s",
              (int) (dash ? dash - self->id : (long) strlen (self->id)), self->id);
}

static bool s_is_origin (dlb_workload_t *self, const char *node)
{
    char origin[DLB_NAME_MAX];
    s_origin (self, origin);
    return streq (origin, node);
}

static const char *s_holder_name (dlb_workload_t *self, uint8_t index)
{
    return index == S_UNKNOWN ? "this node before a restart, or an unnamed node"
                              : self->holders[index];
}

static void s_free_arrays (dlb_workload_t *self)
{
    free (self->result);
    free (self->input);
    free (self->have);
    free (self->holder);
    free (self->until);
    free (self->handed);
    free (self->source);
    free (self->auditing);
    self->result = self->input = NULL;
    self->have = self->holder = self->source = self->auditing = NULL;
    self->until = NULL;
    self->handed = NULL;
    dlb_journal_destroy (&self->journal);
}

void dlb_workload_destroy (dlb_workload_t **self_p)
{
    if (*self_p) {
        s_free_arrays (*self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

//  A running workload's arrays; -1 if memory is short.
static int s_alloc (dlb_workload_t *self)
{
    self->result = malloc (self->elements * sizeof (double));
    self->have = calloc (self->jobs, 1);
    self->holder = calloc (self->jobs, 1);
    self->until = calloc (self->jobs, sizeof (int64_t));
    self->handed = calloc (self->jobs, sizeof (uint64_t));
    self->source = calloc (self->jobs, 1);
    self->auditing = calloc (self->jobs, 1);
    self->holder_count = 1; //  holders[0] = "" = here
    return self->result && self->have && self->holder && self->until && self->handed &&
                   self->source && self->auditing
               ? 0
               : -1;
}

//  Appends the record w holds, and frees it. 0, or -1 with errno set.
static int s_append_record (dlb_workload_t *self, uint8_t type, dlb_writer_t *w)
{
    int rc = self->journal ? dlb_journal_append (self->journal, type, w->buffer.data,
                                                 w->buffer.size)
                           : -1;
    dlb_writer_destroy (w);
    return rc;
}

//  Writes a file whole and durably: PATH.tmp, fsync, rename, fsync of the
//  directory. Returns 0, or -1 with errno set (no file left behind).
static int s_write_file (const char *dir, const char *path, const void *data, size_t size)
{
    char tmp[S_PATH_MAX + 8];
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    const char *p = data;
    size_t left = size;
    while (left) {
        ssize_t n = write (fd, p, left);
        if (n <= 0) {
            int saved = errno;
            close (fd);
            unlink (tmp);
            errno = n == 0 ? ENOSPC : saved;
            return -1;
        }
        p += n;
        left -= (size_t) n;
    }
    if (fsync (fd) || close (fd) || rename (tmp, path)) {
        int saved = errno;
        unlink (tmp);
        errno = saved;
        return -1;
    }
    int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync (dfd);
        close (dfd);
    }
    return 0;
}

dlb_workload_t *dlb_workload_new (const char *dir, const char *id, uint64_t elements,
                                  uint64_t jobs, uint32_t reps, const char *output,
                                  double **input_p, char *err, size_t err_size)
{
    dlb_workload_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_size, "out of memory");
        free (*input_p);
        *input_p = NULL;
        return NULL;
    }
    snprintf (self->id, sizeof self->id, "%s", id);
    snprintf (self->dir, sizeof self->dir, "%s", dir);
    snprintf (self->output, sizeof self->output, "%s", output);
    self->elements = elements;
    self->jobs = jobs;
    self->reps = reps;
    self->start = dlb_now ();
    self->input = *input_p;
    *input_p = NULL;
    if (s_alloc (self)) {
        snprintf (err, err_size, "out of memory");
        dlb_workload_destroy (&self);
        return NULL;
    }
    char path[S_PATH_MAX];
    if (self->input) {
        s_path (path, dir, id, "input");
        if (s_write_file (dir, path, self->input, elements * sizeof (double))) {
            snprintf (err, err_size, "cannot keep the input in %s: %s", path,
                      strerror (errno));
            dlb_workload_destroy (&self);
            return NULL;
        }
    }
    s_path (path, dir, id, "wal");
    self->journal = dlb_journal_open (path);
    dlb_writer_t w;
    dlb_writer_init_bare (&w);
    msgpack_pack_map (&w.pk, 7);
    dlb_writer_str (&w, "id", id);
    dlb_writer_u64 (&w, "elements", elements);
    dlb_writer_u64 (&w, "jobs", jobs);
    dlb_writer_u64 (&w, "reps", reps);
    dlb_writer_str (&w, "output", output);
    dlb_writer_bool (&w, "input", self->input != NULL);
    dlb_writer_double (&w, "start", self->start);
    if (!self->journal || s_append_record (self, 'W', &w) ||
        dlb_journal_sync (self->journal)) {
        snprintf (err, err_size, "cannot write the journal %s: %s", path,
                  strerror (errno));
        unlink (path);
        s_path (path, dir, id, "input");
        unlink (path);
        dlb_workload_destroy (&self);
        return NULL;
    }
    return self;
}

const char *dlb_workload_id (dlb_workload_t *self)
{
    return self->id;
}

dlb_workload_state_t dlb_workload_state (dlb_workload_t *self)
{
    return self->state;
}

uint64_t dlb_workload_jobs (dlb_workload_t *self)
{
    return self->jobs;
}

uint64_t dlb_workload_completed (dlb_workload_t *self)
{
    return self->completed;
}

size_t dlb_workload_holders (dlb_workload_t *self, char (*names)[DLB_NAME_MAX],
                             size_t max)
{
    size_t count = 0;
    for (size_t i = 1; i < self->holder_count && count < max; i++)
        if (*self->holders[i])
            snprintf (names[count++], DLB_NAME_MAX, "%s", self->holders[i]);
    return count;
}

double dlb_workload_started (dlb_workload_t *self)
{
    return self->start;
}

static uint64_t s_lo (dlb_workload_t *self, uint64_t j)
{
    return j * self->elements / self->jobs;
}

dlb_job_t *dlb_workload_job (dlb_workload_t *self, uint64_t j, const char *origin)
{
    uint64_t lo = s_lo (self, j), hi = s_lo (self, j + 1);
    dlb_job_t *job = dlb_job_new ((uint32_t) (hi - lo));
    if (!job)
        return NULL;
    snprintf (job->workload, DLB_NAME_MAX, "%s", self->id);
    snprintf (job->origin, DLB_NAME_MAX, "%s", origin);
    job->id = j;
    job->reps = self->reps;
    job->offset = lo;
    for (uint64_t i = 0; i < hi - lo; i++)
        job->data[i] = self->input ? self->input[lo + i] : DLB_KERNEL_INITIAL;
    return job;
}

static void s_count_ran (dlb_workload_t *self, const char *node)
{
    size_t i = 0;
    while (i < self->ran_count && !streq (self->ran[i].node, node))
        i++;
    if (i == self->ran_count) {
        if (i == S_RAN_MAX)
            return;
        snprintf (self->ran[i].node, DLB_NAME_MAX, "%s", node);
        self->ran_count++;
    }
    self->ran[i].jobs++;
}

//  Stores the values of job j (already checked) and counts who ran it:
//  ran_on, the node whose result it is.
static void s_apply (dlb_workload_t *self, uint64_t j, const double *values,
                     const char *ran_on)
{
    uint64_t lo = s_lo (self, j), hi = s_lo (self, j + 1);
    memcpy (self->result + lo, values, (hi - lo) * sizeof (double));
    self->have[j] = 1;
    self->source[j] = s_is_origin (self, ran_on) ? S_HERE : s_holder_index (self, ran_on);
    self->completed++;
    s_count_ran (self, ran_on);
}

//  An audit: the origin's own run of job j against the stored result. A
//  difference marks the workload forged, with the reason.
static void s_compare (dlb_workload_t *self, const dlb_job_t *job)
{
    uint64_t lo = s_lo (self, job->id), wrong = 0;
    for (uint32_t i = 0; i < job->elems; i++)
        wrong += job->data[i] != self->result[lo + i];
    self->auditing[job->id] = 0;
    self->audits_pending--;
    self->audited++;
    if (wrong && !self->forged) {
        const char *node = s_holder_name (self, self->source[job->id]);
        snprintf (self->error, sizeof self->error,
                  "verification failed: the result of job %llu from %s differs from "
                  "the origin's own run in %llu of %u elements; %s's results are not "
                  "to be trusted",
                  (unsigned long long) job->id, node, (unsigned long long) wrong,
                  job->elems, node);
        self->forged = true;
    }
}

int dlb_workload_store (dlb_workload_t *self, const dlb_job_t *job, const char *from,
                        char *err, size_t err_size)
{
    if (self->state != DLB_WORKLOAD_RUNNING) {
        snprintf (err, err_size, "workload already finished");
        return -1;
    }
    uint64_t j = job->id;
    if (j >= self->jobs || job->offset != s_lo (self, j) ||
        job->offset + job->elems != s_lo (self, j + 1)) {
        snprintf (err, err_size, "outside the workload");
        return -1;
    }
    if (from) {
        //  Only from the job's holder, or a node the ledger shows was
        //  handed it (its lease lapsed, or the origin copied the tail).
        uint8_t index = s_holder_find (self, from);
        if (index == S_UNKNOWN ||
            (index != self->holder[j] && !(index < 64 && self->handed[j] >> index & 1))) {
            self->rejected++;
            snprintf (err, err_size, "%s was never given that job", from);
            return -2;
        }
    }
    if (self->have[j] && !from && self->auditing[j]) {
        s_compare (self, job);
        return 2;
    }
    if (self->have[j]) {
        self->duplicates++;
        return 0;
    }
    //  The node whose result it is goes into the record too, so that the
    //  ran counts and audits survive a restart: id (u64), name length (u8),
    //  name, values.
    char origin[DLB_NAME_MAX];
    s_origin (self, origin);
    const char *ran_on = from ? from : origin;
    uint8_t head[8 + 1 + DLB_NAME_MAX];
    size_t name = strlen (ran_on);
    for (int i = 0; i < 8; i++)
        head[i] = (uint8_t) (j >> (8 * i));
    head[8] = (uint8_t) name;
    memcpy (head + 9, ran_on, name);
    if (self->journal && dlb_journal_append2 (self->journal, 'R', head, 9 + name,
                                              job->data, job->elems * sizeof (double)))
        dlb_error ("workload %s: cannot journal the result of job %llu: %s", self->id,
                   (unsigned long long) j, strerror (errno));
    s_apply (self, j, job->data, ran_on);
    return 1;
}

//  Fisher-Yates, from the kernel's CSPRNG, so that no node can predict
//  which of its results are checked. -1 if no randomness could be had.
static int s_shuffle (uint64_t *ids, size_t count)
{
    uint64_t *draws = malloc ((count ? count : 1) * sizeof *draws);
    size_t got = 0, want = count * sizeof *draws;
    while (draws && got < want) {
        ssize_t n = getrandom ((char *) draws + got, want - got, 0);
        if (n < 0 && errno != EINTR)
            break;
        got += n > 0 ? (size_t) n : 0;
    }
    bool ok = draws && got == want;
    for (size_t i = count; ok && i > 1; i--) {
        size_t k = draws[i - 1] % i;
        uint64_t swap = ids[i - 1];
        ids[i - 1] = ids[k];
        ids[k] = swap;
    }
    free (draws);
    return ok ? 0 : -1;
}

size_t dlb_workload_audit (dlb_workload_t *self, uint64_t **ids_p)
{
    *ids_p = NULL;
    if (!self->input || self->selected || self->completed < self->jobs ||
        self->state != DLB_WORKLOAD_RUNNING)
        return 0;
    self->selected = true;
    uint64_t *ids = malloc (self->jobs * sizeof *ids);
    size_t count = 0;
    for (uint64_t j = 0; ids && j < self->jobs; j++)
        if (self->source[j] != S_HERE)
            ids[count++] = j;
    if (!ids) {
        snprintf (self->error, sizeof self->error,
                  "verification failed: out of memory to check the peers' results");
        self->forged = true;
        return 0;
    }
    if (count == 0) {
        free (ids);
        return 0;
    }
    //  Every peer's first S_AUDIT_PER_PEER jobs in a random order, then
    //  more in that order while the work fits the budget. Without
    //  randomness, all of them.
    bool all = s_shuffle (ids, count) != 0;
    double budget = self->elements * (double) self->reps * S_AUDIT_SHARE;
    if (budget < (double) S_AUDIT_FLOOR)
        budget = (double) S_AUDIT_FLOOR;
    uint32_t per_peer[S_UNKNOWN + 1] = {0};
    double work = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < count; i++) {
            uint64_t j = ids[i];
            double cost = (double) (s_lo (self, j + 1) - s_lo (self, j)) * self->reps;
            bool take = pass == 0 ? per_peer[self->source[j]] < S_AUDIT_PER_PEER
                                  : all || work + cost <= budget;
            if (!self->auditing[j] && take) {
                self->auditing[j] = 1;
                per_peer[self->source[j]]++;
                work += cost;
            }
        }
    size_t chosen = 0;
    for (size_t i = 0; i < count; i++)
        if (self->auditing[ids[i]])
            ids[chosen++] = ids[i];
    self->audits_pending = chosen;
    *ids_p = ids;
    return chosen;
}

int dlb_workload_sync (dlb_workload_t *self)
{
    return self->journal ? dlb_journal_sync (self->journal) : 0;
}

int dlb_workload_flush (dlb_workload_t *self)
{
    return self->journal ? dlb_journal_flush (self->journal) : 0;
}

bool dlb_workload_done (dlb_workload_t *self)
{
    return self->completed == self->jobs && self->audits_pending == 0 &&
           (self->selected || !self->input);
}

//  Journals a change of holder for a list of ids, as half-open ranges.
static void s_journal_give (dlb_workload_t *self, const char *holder, const uint64_t *ids,
                            size_t count)
{
    if (!self->journal || count == 0)
        return;
    size_t ranges = 1;
    for (size_t i = 1; i < count; i++)
        ranges += ids[i] != ids[i - 1] + 1;
    dlb_writer_t w;
    dlb_writer_init_bare (&w);
    msgpack_pack_map (&w.pk, 2);
    dlb_writer_str (&w, "to", holder);
    dlb_writer_key (&w, "ids");
    msgpack_pack_array (&w.pk, ranges * 2);
    size_t start = 0;
    for (size_t i = 1; i <= count; i++)
        if (i == count || ids[i] != ids[i - 1] + 1) {
            msgpack_pack_uint64 (&w.pk, ids[start]);
            msgpack_pack_uint64 (&w.pk, ids[i - 1] + 1);
            start = i;
        }
    if (s_append_record (self, 'G', &w))
        dlb_warn ("workload %s: cannot journal a hand-over: %s", self->id,
                  strerror (errno));
}

void dlb_workload_give (dlb_workload_t *self, const char *holder, const uint64_t *ids,
                        size_t count, int64_t until)
{
    if (self->state != DLB_WORKLOAD_RUNNING)
        return;
    uint8_t index = s_holder_index (self, holder);
    for (size_t i = 0; i < count; i++)
        if (ids[i] < self->jobs && !self->have[ids[i]]) {
            s_set_holder (self, ids[i], index);
            self->until[ids[i]] = until;
        }
    s_journal_give (self, holder, ids, count);
}

void dlb_workload_hold (dlb_workload_t *self, const char *holder, uint64_t lo,
                        uint64_t hi, int64_t until)
{
    if (self->state != DLB_WORKLOAD_RUNNING || !*holder)
        return;
    uint8_t index = s_holder_index (self, holder);
    if (hi > self->jobs)
        hi = self->jobs;
    for (uint64_t j = lo; j < hi; j++)
        if (!self->have[j]) {
            s_set_holder (self, j, index);
            self->until[j] = until;
        }
}

size_t dlb_workload_reclaim (dlb_workload_t *self, int64_t now, uint64_t *ids, size_t max,
                             char *holder_out, size_t holder_size)
{
    size_t count = 0;
    if (self->state != DLB_WORKLOAD_RUNNING)
        return 0;
    for (uint64_t j = 0; j < self->jobs && count < max; j++)
        if (!self->have[j] && self->holder[j] != S_HERE && self->until[j] < now) {
            if (count == 0)
                snprintf (holder_out, holder_size, "%s",
                          s_holder_name (self, self->holder[j]));
            self->holder[j] = S_HERE;
            ids[count++] = j;
        }
    s_journal_give (self, "", ids, count);
    return count;
}

size_t dlb_workload_tail (dlb_workload_t *self, uint64_t *ids, size_t max)
{
    if (self->state != DLB_WORKLOAD_RUNNING)
        return 0;
    for (uint64_t j = 0; j < self->jobs; j++)
        if (!self->have[j] && self->holder[j] == S_HERE)
            return 0; //  not the tail: this node still has some to run
    size_t count = 0;
    for (uint64_t j = 0; j < self->jobs && count < max; j++)
        if (!self->have[j]) {
            self->holder[j] = S_HERE;
            ids[count++] = j;
        }
    return count;
}

//  A generated vector is checked whole: every element has the one exact
//  value. A vector from a file was checked by the audits.
static void s_verify (dlb_workload_t *self)
{
    uint64_t bad = 0, first_bad = 0;
    if (!self->input) {
        double expected = dlb_kernel_expected (DLB_KERNEL_INITIAL, self->reps);
        for (uint64_t i = 0; i < self->elements; i++)
            if (self->result[i] != expected && bad++ == 0)
                first_bad = i;
    }
    self->verified = bad == 0 && !self->forged;
    if (bad)
        snprintf (self->error, sizeof self->error,
                  "verification failed: %llu wrong values, first at element %llu",
                  (unsigned long long) bad, (unsigned long long) first_bad);
}

void dlb_workload_pack (dlb_workload_t *self, dlb_writer_t *w)
{
    dlb_status_workload_t record = {.jobs = self->jobs,
                                    .completed = self->completed,
                                    .elements = self->elements,
                                    .duplicates = self->duplicates,
                                    .reps = self->reps,
                                    .rejected = self->rejected,
                                    .audited = self->audited,
                                    .elapsed_s = self->state == DLB_WORKLOAD_RUNNING
                                                     ? dlb_now () - self->start
                                                     : self->elapsed,
                                    .verified = self->verified,
                                    .ran_count = self->ran_count};
    snprintf (record.id, sizeof record.id, "%s", self->id);
    snprintf (record.state, sizeof record.state, "%s", s_state_names[self->state]);
    snprintf (record.output, sizeof record.output, "%s", self->output);
    snprintf (record.error, sizeof record.error, "%s", self->error);
    for (size_t i = 0; i < self->ran_count && i < DLB_STATUS_RAN_MAX; i++)
        record.ran[i] = self->ran[i];
    dlb_status_workload_pack (w, &record);
}

//  Writes the result to the output, in the data directory. 0, or -1 with
//  the reason in err.
static int s_write_output (dlb_workload_t *self, const dlb_confine_t *confine, char *err,
                           size_t err_size)
{
    char name[DLB_TEXT_MAX];
    int dir = dlb_confine_open_dir (confine, "--output", self->output, name, sizeof name,
                                    err, err_size);
    if (dir < 0)
        return -1;
    int rc = dlb_npy_save (dir, name, self->result, self->elements, err, err_size);
    close (dir);
    return rc;
}

//  Records the end (ID.done) before the journal goes: a crash in between
//  leaves both, and recovery prefers the record. Then frees what only a
//  running workload needs. A failure to record is logged.
static void s_record_end (dlb_workload_t *self)
{
    dlb_writer_t w;
    dlb_writer_init_bare (&w);
    dlb_workload_pack (self, &w);
    char path[S_PATH_MAX];
    s_path (path, self->dir, self->id, "done");
    if (s_write_file (self->dir, path, w.buffer.data, w.buffer.size))
        dlb_warn ("workload %s: cannot record its end in %s: %s", self->id, path,
                  strerror (errno));
    dlb_writer_destroy (&w);
    s_free_arrays (self);
    s_path (path, self->dir, self->id, "wal");
    unlink (path);
    s_path (path, self->dir, self->id, "input");
    unlink (path);
}

dlb_workload_state_t dlb_workload_finish (dlb_workload_t *self,
                                          const dlb_confine_t *confine)
{
    self->elapsed = dlb_now () - self->start;
    s_verify (self);
    char err[DLB_TEXT_MAX];
    if (s_write_output (self, confine, err, sizeof err)) {
        snprintf (self->error, sizeof self->error, "cannot write the result: %s", err);
        self->verified = false;
    }
    self->state = self->verified ? DLB_WORKLOAD_COMPLETE : DLB_WORKLOAD_FAILED;
    char ran[256] = "";
    for (size_t i = 0; i < self->ran_count; i++)
        snprintf (ran + strlen (ran), sizeof ran - strlen (ran), "%s%s=%llu",
                  i ? " " : "", self->ran[i].node,
                  (unsigned long long) self->ran[i].jobs);
    if (self->verified)
        dlb_info ("workload %s complete: %llu jobs in %.3f s, ran %s, %llu duplicates, "
                  "verified, written to %s",
                  self->id, (unsigned long long) self->jobs, self->elapsed, ran,
                  (unsigned long long) self->duplicates, self->output);
    else
        dlb_error ("workload %s failed after %.3f s (ran %s): %s", self->id,
                   self->elapsed, ran, self->error);
    s_record_end (self);
    return self->state;
}

int dlb_workload_cancel (dlb_workload_t *self)
{
    if (self->state != DLB_WORKLOAD_RUNNING)
        return -1;
    self->elapsed = dlb_now () - self->start;
    self->state = DLB_WORKLOAD_CANCELLED;
    self->verified = false;
    snprintf (self->error, sizeof self->error, "cancelled");
    dlb_info ("workload %s cancelled after %.3f s, %llu of %llu results in", self->id,
              self->elapsed, (unsigned long long) self->completed,
              (unsigned long long) self->jobs);
    s_record_end (self);
    return 0;
}

//  ---------------------------------------------------------------------
//  Recovery

typedef struct {
    dlb_workload_t *self;
    bool described; //  the 'W' record was read
    bool input;
    char error[DLB_TEXT_MAX];
} s_replay_t;

static int s_replay_record (uint8_t type, const void *payload, size_t size, void *arg)
{
    s_replay_t *r = arg;
    dlb_workload_t *self = r->self;
    msgpack_unpacked unpacked;
    bool unpacked_map = false;
    char reason[128];
    int rc = 0;
    if (type == 'R' && r->described) {
        const uint8_t *p = payload;
        uint64_t j = 0;
        for (int i = 0; size >= 9 && i < 8; i++)
            j |= (uint64_t) p[i] << (8 * i);
        size_t name = size >= 9 ? p[8] : 0;
        char ran_on[DLB_NAME_MAX] = "";
        if (size >= 9 && name < DLB_NAME_MAX && 9 + name <= size && j < self->jobs &&
            size - 9 - name == (s_lo (self, j + 1) - s_lo (self, j)) * sizeof (double)) {
            memcpy (ran_on, p + 9, name);
            if (self->have[j])
                self->duplicates++;
            else {
                double *values = malloc (size - 9 - name);
                if (values) {
                    memcpy (values, p + 9 + name, size - 9 - name);
                    s_apply (self, j, values, ran_on);
                    free (values);
                }
            }
        }
    }
    else if (dlb_map_unpack (payload, size, &unpacked, reason, sizeof reason) == 0) {
        unpacked_map = true;
        const msgpack_object *map = &unpacked.data;
        if (type == 'W' && !r->described) {
            uint64_t reps = 0;
            bool input = false;
            if (dlb_obj_str (map, "id", self->id, sizeof self->id) ||
                dlb_obj_u64 (map, "elements", &self->elements) ||
                dlb_obj_u64 (map, "jobs", &self->jobs) ||
                dlb_obj_u64 (map, "reps", &reps) ||
                dlb_obj_str (map, "output", self->output, sizeof self->output) ||
                dlb_obj_bool (map, "input", &input) ||
                dlb_obj_double (map, "start", &self->start) ||
                dlb_command_check_sizes (self->elements, self->jobs, reps, reason,
                                         sizeof reason)) {
                snprintf (r->error, sizeof r->error, "a malformed description");
                rc = -1;
            }
            else if (s_alloc (self)) {
                snprintf (r->error, sizeof r->error, "out of memory");
                rc = -1;
            }
            else {
                self->reps = (uint32_t) reps;
                r->input = input;
                r->described = true;
            }
        }
        else if (type == 'G' && r->described) {
            char to[DLB_NAME_MAX] = "";
            const msgpack_object_array *ids;
            if (dlb_obj_str (map, "to", to, sizeof to) == 0 &&
                dlb_obj_array (map, "ids", &ids) == 0) {
                uint8_t index = s_holder_index (self, to);
                for (uint32_t k = 0; k + 1 < ids->size; k += 2) {
                    const msgpack_object *lo = &ids->ptr[k], *hi = &ids->ptr[k + 1];
                    if (lo->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
                        hi->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                        continue;
                    for (uint64_t j = lo->via.u64; j < hi->via.u64 && j < self->jobs; j++)
                        s_set_holder (self, j, index);
                }
            }
        }
    }
    if (unpacked_map)
        msgpack_unpacked_destroy (&unpacked);
    return rc;
}

//  Restores a finished workload from its status record.
static int s_recover_done (dlb_workload_t *self, const char *path, char *err,
                           size_t err_size)
{
    FILE *file = fopen (path, "rb");
    char buffer[4096];
    size_t size = file ? fread (buffer, 1, sizeof buffer, file) : 0;
    if (file)
        fclose (file);
    msgpack_unpacked unpacked;
    int rc = -1;
    char reason[128];
    if (dlb_map_unpack (buffer, size, &unpacked, reason, sizeof reason) == 0) {
        dlb_status_workload_t record;
        if (dlb_status_workload_decode (&unpacked.data, &record, reason, sizeof reason) ==
                0 &&
            !streq (record.state, "running")) {
            snprintf (self->id, sizeof self->id, "%s", record.id);
            self->jobs = record.jobs;
            self->completed = record.completed;
            self->elements = record.elements;
            self->duplicates = record.duplicates;
            self->elapsed = record.elapsed_s;
            self->verified = record.verified;
            snprintf (self->output, sizeof self->output, "%s", record.output);
            snprintf (self->error, sizeof self->error, "%s", record.error);
            self->reps = (uint32_t) record.reps;
            self->rejected = record.rejected;
            self->audited = record.audited;
            self->state = streq (record.state, "complete")    ? DLB_WORKLOAD_COMPLETE
                          : streq (record.state, "cancelled") ? DLB_WORKLOAD_CANCELLED
                                                              : DLB_WORKLOAD_FAILED;
            self->ran_count = record.ran_count < S_RAN_MAX ? record.ran_count : S_RAN_MAX;
            for (size_t i = 0; i < self->ran_count; i++)
                self->ran[i] = record.ran[i];
            struct stat st;
            self->start =
                stat (path, &st) == 0 ? (double) st.st_mtime - self->elapsed : 0;
            rc = 0;
        }
        msgpack_unpacked_destroy (&unpacked);
    }
    if (rc)
        snprintf (err, err_size, "%s: not a workload record", path);
    return rc;
}

//  Loads the kept input vector; -1 with a reason if it is missing or short.
static int s_recover_input (dlb_workload_t *self, char *err, size_t err_size)
{
    char path[S_PATH_MAX];
    s_path (path, self->dir, self->id, "input");
    self->input = malloc (self->elements * sizeof (double));
    FILE *file = fopen (path, "rb");
    bool ok =
        self->input && file &&
        fread (self->input, sizeof (double), self->elements, file) == self->elements;
    if (file)
        fclose (file);
    if (!ok)
        snprintf (err, err_size, "%s: missing or short", path);
    return ok ? 0 : -1;
}

dlb_workload_t *dlb_workload_recover (const char *dir, const char *name,
                                      int64_t lease_until, char *err, size_t err_size)
{
    dlb_workload_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    snprintf (self->dir, sizeof self->dir, "%s", dir);
    char path[S_PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    size_t length = strlen (name);
    if (length > 5 && streq (name + length - 5, ".done")) {
        if (s_recover_done (self, path, err, err_size))
            dlb_workload_destroy (&self);
        return self;
    }
    s_replay_t r = {.self = self};
    bool torn = false;
    long records = dlb_journal_replay (path, s_replay_record, &r, true, &torn);
    if (records < 0 || !r.described) {
        snprintf (err, err_size, "%s: %s", path,
                  records < 0 ? strerror (errno)
                  : *r.error  ? r.error
                              : "no workload description");
        dlb_workload_destroy (&self);
        return NULL;
    }
    if (torn)
        dlb_warn ("%s: a torn last record was cut off", path);
    if (r.input && s_recover_input (self, err, err_size)) {
        dlb_workload_destroy (&self);
        return NULL;
    }
    //  Jobs that were here went with the crash: they lapse at once.
    for (uint64_t j = 0; j < self->jobs; j++)
        if (self->holder[j] == S_HERE) {
            self->holder[j] = S_UNKNOWN;
            self->until[j] = 0;
        }
        else
            self->until[j] = lease_until;
    self->journal = dlb_journal_open (path);
    if (!self->journal)
        dlb_warn ("%s: cannot append: %s; results from now on are kept in memory only",
                  path, strerror (errno));
    return self;
}

//  ---------------------------------------------------------------------
//  Self-test

//  A result for job j, computed here.
static dlb_job_t *s_run (dlb_workload_t *w, uint64_t j, const char *ran_on)
{
    dlb_job_t *job = dlb_workload_job (w, j, "t");
    assert (job);
    dlb_kernel_apply (job->data, job->elems, job->reps);
    snprintf (job->ran_on, DLB_NAME_MAX, "%s", ran_on);
    return job;
}

//  Runs here the jobs dlb_workload_audit chooses, each a multiple of
//  every; returns their number.
static size_t s_run_audits (dlb_workload_t *w, uint64_t every)
{
    uint64_t *ids;
    size_t count = dlb_workload_audit (w, &ids);
    for (size_t i = 0; i < count; i++) {
        assert (ids[i] % every == 0);
        dlb_job_t *job = s_run (w, ids[i], "t");
        char err[DLB_TEXT_MAX];
        assert (dlb_workload_store (w, job, NULL, err, sizeof err) == 2);
        dlb_job_destroy (&job);
    }
    free (ids);
    return count;
}

void dlb_workload_test (bool verbose)
{
    if (!verbose)
        dlb_log_set_level (DLB_LOG_ERROR);
    char dir[] = "/tmp/dlb_workload_test_XXXXXX";
    assert (mkdtemp (dir));
    char output[S_PATH_MAX], err[DLB_TEXT_MAX];
    snprintf (output, sizeof output, "%s/out.npy", dir);
    dlb_confine_t confine; //  the test directory is the data directory too
    assert (dlb_confine_init (&confine, dir) == 0);

    //  A workload of 7 uneven jobs read from a "file".
    double *input = malloc (1000 * sizeof (double));
    for (int i = 0; i < 1000; i++)
        input[i] = i * 0.5;
    dlb_workload_t *w =
        dlb_workload_new (dir, "t-1", 1000, 7, 10, output, &input, err, sizeof err);
    assert (w && !input);
    assert (dlb_workload_state (w) == DLB_WORKLOAD_RUNNING);

    //  Results: a bad one is refused, a duplicate counted, not applied.
    dlb_job_t *job = s_run (w, 0, "t");
    assert (dlb_workload_store (w, job, NULL, err, sizeof err) == 1);
    assert (dlb_workload_store (w, job, NULL, err, sizeof err) == 0);
    job->offset++;
    assert (dlb_workload_store (w, job, NULL, err, sizeof err) == -1);
    dlb_job_destroy (&job);
    //  From a node that was never given the job: rejected, and counted.
    job = s_run (w, 3, "b");
    assert (dlb_workload_store (w, job, "b", err, sizeof err) == -2);
    assert (strstr (err, "b was never given that job"));
    assert (dlb_workload_store (w, job, NULL, err, sizeof err) == 1);
    dlb_job_destroy (&job);
    assert (dlb_workload_sync (w) == 0);

    //  The ledger: jobs 1..4 go to b until t=1000, b passes 2 on to c
    //  (c's HOLD renews it until 5000); at t=2000, 1 and 4 lapse and come
    //  back here, 2 stays with c, 3 is done.
    uint64_t ids[8] = {1, 2, 3, 4}, *ids_none;
    dlb_workload_give (w, "b", ids, 4, 1000);
    dlb_workload_hold (w, "c", 2, 3, 5000);
    char holder[DLB_NAME_MAX] = "";
    assert (dlb_workload_reclaim (w, 500, ids, 8, holder, sizeof holder) == 0);
    assert (dlb_workload_reclaim (w, 2000, ids, 8, holder, sizeof holder) == 2);
    assert (ids[0] == 1 && ids[1] == 4 && streq (holder, "b"));
    assert (dlb_workload_reclaim (w, 2000, ids, 8, holder, sizeof holder) == 0);
    //  Not the tail while jobs are held here.
    assert (dlb_workload_tail (w, ids, 8) == 0);

    //  A crash now: the journal brings back the results and the ledger
    //  (2 with b, as given; c's HOLD was not journaled and will come again).
    dlb_workload_destroy (&w);
    w = dlb_workload_recover (dir, "t-1.wal", 9000, err, sizeof err);
    assert (w);
    assert (streq (dlb_workload_id (w), "t-1") && dlb_workload_jobs (w) == 7);
    assert (!dlb_workload_done (w));
    //  Jobs held here were lost with the crash: they come back at once.
    assert (dlb_workload_reclaim (w, 8000, ids, 8, holder, sizeof holder) == 4);
    assert (ids[0] == 1 && ids[1] == 4 && ids[2] == 5 && ids[3] == 6);
    assert (dlb_workload_reclaim (w, 8000, ids, 8, holder, sizeof holder) == 0);
    assert (dlb_workload_reclaim (w, 9001, ids, 8, holder, sizeof holder) == 1);
    assert (ids[0] == 2 && streq (holder, "b"));
    //  A torn tail (power loss mid-record) loses only that record.
    char path[S_PATH_MAX];
    s_path (path, dir, "t-1", "wal");
    struct stat st;
    assert (stat (path, &st) == 0);
    FILE *file = fopen (path, "ab");
    assert (file && fwrite ("\x40\x00\x00\x00R\x05", 1, 6, file) == 6);
    fclose (file);
    dlb_workload_destroy (&w);
    w = dlb_workload_recover (dir, "t-1.wal", 0, err, sizeof err);
    assert (w);
    struct stat after;
    assert (stat (path, &after) == 0 && after.st_size == st.st_size);

    //  The tail: give the rest to b; an idle origin may copy them.
    for (uint64_t j = 0; j < 7; j++)
        ids[j] = j;
    dlb_workload_give (w, "b", ids, 7, 100000);
    assert (dlb_workload_tail (w, ids, 2) == 2 && ids[0] == 1 && ids[1] == 2);
    for (uint64_t j = 1; j < 7; j++) {
        if (j == 3)
            continue;
        job = s_run (w, j, j % 2 ? "t" : "b");
        assert (dlb_workload_store (w, job, j % 2 ? NULL : "b", err, sizeof err) == 1);
        dlb_job_destroy (&job);
    }
    //  Every result is in; b's (2, 4, 6) are run again here and compared.
    assert (!dlb_workload_done (w));
    assert (s_run_audits (w, 2) == 3);
    assert (dlb_workload_audit (w, &ids_none) == 0 && !ids_none); //  chosen once
    assert (dlb_workload_done (w));
    assert (dlb_workload_finish (w, &confine) == DLB_WORKLOAD_COMPLETE);
    assert (access (path, F_OK) != 0); //  the journal is gone
    s_path (path, dir, "t-1", "input");
    assert (access (path, F_OK) != 0);
    double *values;
    size_t count;
    assert (dlb_npy_load (output, &values, &count, err, sizeof err) == 0 &&
            count == 1000);
    for (int i = 0; i < 1000; i++)
        assert (values[i] == dlb_kernel_expected (i * 0.5, 10));
    free (values);
    dlb_workload_destroy (&w);

    //  The end record brings back a finished workload's status.
    w = dlb_workload_recover (dir, "t-1.done", 0, err, sizeof err);
    assert (w && dlb_workload_state (w) == DLB_WORKLOAD_COMPLETE);
    assert (dlb_workload_jobs (w) == 7);
    dlb_workload_destroy (&w);

    //  A forger: b returns every job, one of them wrong in one element.
    //  c, whose HOLD shows it was handed job 2, may return that one; m,
    //  never given a job, may not.
    input = calloc (1000, sizeof (double));
    w = dlb_workload_new (dir, "t-2", 1000, 7, 10, "out.npy", &input, err, sizeof err);
    assert (w);
    for (uint64_t j = 0; j < 7; j++)
        ids[j] = j;
    dlb_workload_give (w, "b", ids, 7, 100000);
    dlb_workload_hold (w, "c", 2, 3, 100000);
    for (uint64_t j = 0; j < 7; j++) {
        job = s_run (w, j, "b");
        job->data[j * 7 % job->elems] += j == 5 ? 1e-9 : 0;
        assert (dlb_workload_store (w, job, "m", err, sizeof err) == -2);
        assert (dlb_workload_store (w, job, j == 2 ? "c" : "b", err, sizeof err) == 1);
        dlb_job_destroy (&job);
    }
    assert (s_run_audits (w, 1) == 7); //  all: few and small
    assert (dlb_workload_done (w));
    assert (dlb_workload_finish (w, &confine) == DLB_WORKLOAD_FAILED);
    dlb_writer_t status;
    dlb_writer_init (&status, DLB_MSG_STATUS);
    dlb_workload_pack (w, &status);
    zframe_t *frame = dlb_writer_frame (&status);
    dlb_msg_t msg;
    char reason[DLB_TEXT_MAX];
    assert (dlb_msg_decode (zframe_data (frame), zframe_size (frame), &msg, reason,
                            sizeof reason) == 0);
    uint64_t rejected = 0, audited = 0;
    assert (dlb_obj_u64 (msg.body, "rejected", &rejected) == 0 && rejected == 7);
    assert (dlb_obj_u64 (msg.body, "audited", &audited) == 0 && audited == 7);
    assert (dlb_obj_str (msg.body, "error", reason, sizeof reason) == 0);
    assert (strstr (reason, "job 5 from b differs from the origin's own run in 1 of"));
    dlb_msg_release (&msg);
    zframe_destroy (&frame);
    dlb_workload_destroy (&w);
    s_path (path, dir, "t-2", "done");
    unlink (path);
    snprintf (path, sizeof path, "%s/out.npy", dir);
    unlink (path);

    //  Cancel: a running workload only, once; the holders are named; the
    //  journal goes, the end record says cancelled and recovers so (a
    //  restarted node does not resume it); later results are refused.
    double *generated = NULL;
    w = dlb_workload_new (dir, "t-3", 1000, 7, 10, "out.npy", &generated, err,
                          sizeof err);
    assert (w);
    dlb_workload_give (w, "b", ids, 3, 100000);
    dlb_workload_hold (w, "c", 4, 5, 100000);
    job = s_run (w, 6, "t");
    assert (dlb_workload_store (w, job, NULL, err, sizeof err) == 1);
    char holders[4][DLB_NAME_MAX];
    assert (dlb_workload_holders (w, holders, 4) == 2);
    assert (streq (holders[0], "b") && streq (holders[1], "c"));
    assert (dlb_workload_completed (w) == 1);
    assert (dlb_workload_cancel (w) == 0);
    assert (dlb_workload_state (w) == DLB_WORKLOAD_CANCELLED);
    assert (dlb_workload_cancel (w) == -1);
    assert (dlb_workload_store (w, job, "b", err, sizeof err) == -1);
    dlb_job_destroy (&job);
    s_path (path, dir, "t-3", "wal");
    assert (access (path, F_OK) != 0);
    dlb_workload_destroy (&w);
    w = dlb_workload_recover (dir, "t-3.done", 0, err, sizeof err);
    assert (w && dlb_workload_state (w) == DLB_WORKLOAD_CANCELLED);
    assert (dlb_workload_cancel (w) == -1);
    dlb_workload_destroy (&w);
    s_path (path, dir, "t-3", "done");
    unlink (path);

    //  Garbage journals are refused with a reason.
    s_path (path, dir, "junk", "wal");
    file = fopen (path, "wb");
    fputs ("not a journal", file);
    fclose (file);
    assert (dlb_workload_recover (dir, "junk.wal", 0, err, sizeof err) == NULL);
    assert (strstr (err, "junk.wal"));
    unlink (path);
    //  So is an end record of a few bytes that declares a 770-million
    //  element array (found by fuzz_workload: msgpack-c was asked to
    //  allocate 18 GiB for it before the object count was checked).
    s_path (path, dir, "junk", "done");
    file = fopen (path, "wb");
    fwrite ("\x82\xa2id\xa1x\xa5state\xdd\x2e\x03\x36\x43\x01", 1, 18, file);
    fclose (file);
    assert (dlb_workload_recover (dir, "junk.done", 0, err, sizeof err) == NULL);
    assert (strstr (err, "not a workload record"));
    unlink (path);
    s_path (path, dir, "t-1", "done");
    unlink (path);
    unlink (output);
    assert (rmdir (dir) == 0);
    dlb_log_set_level (DLB_LOG_INFO);
}
