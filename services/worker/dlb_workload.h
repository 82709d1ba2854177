/*  dlb_workload: a workload at its origin: its description, the results
    that came in, the ledger of who holds each outstanding job and until
    when, and the journal on disk that lets all of it survive a crash.

    Life:

        dlb_workload_new / _recover --> RUNNING --(last result)--+
                                                                 |
                  read from a file: dlb_workload_audit, the audits run here
                                                                 |
                                      (dlb_workload_done) --> finish
                                                                 |
                                 verified ? COMPLETE : FAILED --> .done record

        RUNNING --(dlb_workload_cancel)--> CANCELLED --> .done record

    Verification. A generated vector is checked whole at the end (every
    element has one exact value). A vector read from a file cannot be
    checked without running it, so the origin runs again a random
    sample of each peer's jobs (dlb_workload_audit) and compares them
    element by element; one difference fails the workload. Results the
    origin computed itself are trusted. A result is accepted only from
    the job's holder or a node the ledger shows was handed it; others
    are counted as rejected.

    The ledger. Every job is either done (its result stored) or held by
    exactly one place the origin knows of: here (in the origin's queue or
    on its threads) or a peer, with a lease that ends at `until`. A job
    leaves here with dlb_workload_give (the worker handed it to the
    transfer service for a peer); a holder renews its leases with HOLD
    reports (dlb_workload_hold), which also follow jobs that the first
    holder passed on to a third node. dlb_workload_reclaim takes back
    jobs whose lease lapsed (their holder died, restarted, or was cut
    off), so that the origin runs them again; dlb_workload_tail takes
    copies of the last outstanding jobs for an idle origin. A result
    that arrives twice is counted as a duplicate and changes nothing.

    Files, in the node's data directory (--data-dir):

        ID.wal    the journal (dlb_journal records):
                  'W' msgpack {id, elements, jobs, reps, output, input, start}
                  'R' job id (u64 LE) then the job's n float64 results
                  'G' msgpack {to, ids: [lo, hi, ...]}: jobs given to `to`
                      ("" = taken back here), half-open id ranges
        ID.input  the input vector (raw float64) of a workload read from a
                  file, written and synced before the submit is answered
        ID.done   the finished workload's status record (msgpack map),
                  written after the output file; ID.wal and ID.input are
                  then removed.                                           */
#ifndef DLB_WORKLOAD_H_INCLUDED
#define DLB_WORKLOAD_H_INCLUDED

#include "dlb_confine.h"
#include "dlb_proto.h"
#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    DLB_WORKLOAD_RUNNING,
    DLB_WORKLOAD_COMPLETE, //  written and verified
    DLB_WORKLOAD_FAILED,
    DLB_WORKLOAD_CANCELLED, //  stopped by `cancel`: no output, never resumed
} dlb_workload_state_t;

typedef struct _dlb_workload_t dlb_workload_t;

//  A new running workload, journaled in dir. Takes ownership of *input_p
//  (NULL for a generated vector). Returns NULL with a reason in err if the
//  journal cannot be written or memory is short (nothing left on disk).
dlb_workload_t *dlb_workload_new (const char *dir, const char *id, uint64_t elements,
                                  uint64_t jobs, uint32_t reps, const char *output,
                                  double **input_p, char *err, size_t err_size);

//  Rebuilds a workload from dir/NAME (NAME.wal: running; NAME.done:
//  finished). Jobs that the journal shows given to a peer are held by it
//  until lease_until; the others are held here and listed by
//  dlb_workload_reclaim at once. Returns NULL with a reason in err.
dlb_workload_t *dlb_workload_recover (const char *dir, const char *name,
                                      int64_t lease_until, char *err, size_t err_size);
void dlb_workload_destroy (dlb_workload_t **self_p);

const char *dlb_workload_id (dlb_workload_t *self);
dlb_workload_state_t dlb_workload_state (dlb_workload_t *self);
uint64_t dlb_workload_jobs (dlb_workload_t *self);
//  Results stored so far.
uint64_t dlb_workload_completed (dlb_workload_t *self);
//  The names of the peers the ledger ever named as holders of a job (given
//  one, or sending a HOLD for one), at most max of them. Returns their
//  number. Cannot fail.
size_t dlb_workload_holders (dlb_workload_t *self, char (*names)[DLB_NAME_MAX],
                             size_t max);
//  Wall-clock time (s since the epoch) when the workload was submitted.
double dlb_workload_started (dlb_workload_t *self);

//  A new job j of this workload, with its input, for origin `origin`.
//  NULL if memory is short.
dlb_job_t *dlb_workload_job (dlb_workload_t *self, uint64_t j, const char *origin);

//  Stores a result, from the peer `from` (its authenticated name), or
//  computed here if from is NULL. Returns 1 if it was new (journaled, not
//  yet synced), 0 if a duplicate, 2 if it was this node's run of a job
//  being audited (compared with the stored result), -1 if it does not
//  belong to this running workload, -2 if from is neither the job's
//  holder nor a node the ledger shows was handed it (counted as
//  rejected); the reason in err for both. Cannot fail otherwise: a
//  journal that cannot be written is logged, and the result kept in
//  memory.
int dlb_workload_store (dlb_workload_t *self, const dlb_job_t *job, const char *from,
                        char *err, size_t err_size);
//  Once every result of a workload read from a file is in: chooses the
//  peers' jobs that this node must run again to check their results
//  (dlb_workload_store of its run compares them), at random from the
//  kernel's CSPRNG: at least S_AUDIT_PER_PEER of each peer's, and more up
//  to a budget (all of them in a small workload). Returns their number,
//  with a new array of their ids in *ids (caller frees); 0 (and NULL)
//  if none are needed, or if they were chosen before.
size_t dlb_workload_audit (dlb_workload_t *self, uint64_t **ids);
//  Makes the stored results durable (fdatasync of the journal). 0 or -1.
int dlb_workload_sync (dlb_workload_t *self);
//  Writes the stored results to the journal without syncing: a killed
//  process keeps them (a power loss may not). 0 or -1.
int dlb_workload_flush (dlb_workload_t *self);
//  Every result is in, and every audit done.
bool dlb_workload_done (dlb_workload_t *self);

//  The ledger. Holder "" is this node. `until` is a zclock_mono () time.
void dlb_workload_give (dlb_workload_t *self, const char *holder, const uint64_t *ids,
                        size_t count, int64_t until);
//  A HOLD from holder for the jobs [lo, hi) (clamped to the workload).
void dlb_workload_hold (dlb_workload_t *self, const char *holder, uint64_t lo,
                        uint64_t hi, int64_t until);
//  Takes back (to here) up to max outstanding jobs whose lease ended
//  before now, writing their ids to ids; *holder_out names the holder of
//  the first. Returns the count.
size_t dlb_workload_reclaim (dlb_workload_t *self, int64_t now, uint64_t *ids, size_t max,
                             char *holder_out, size_t holder_size);
//  Up to max outstanding jobs held by peers, if every outstanding job is
//  (the workload's tail); they are marked held here. Returns the count.
size_t dlb_workload_tail (dlb_workload_t *self, uint64_t *ids, size_t max);

//  Writes the output (a path in the data directory that confine names,
//  checked again now), verifies it, records the end (ID.done) and removes
//  the journal. Returns the final state. Logs the outcome.
dlb_workload_state_t dlb_workload_finish (dlb_workload_t *self,
                                          const dlb_confine_t *confine);

//  Cancels a running workload: its state becomes CANCELLED (error
//  "cancelled"), its end is recorded (ID.done, so that a restarted node
//  does not resume it) and its journal and input removed; results that
//  come later are refused by dlb_workload_store (-1). Returns 0, or -1
//  (nothing changed) if it is not running. A failure to record the end
//  is logged.
int dlb_workload_cancel (dlb_workload_t *self);

//  Packs the 14-key status map of proto/README.md section 7.2.
void dlb_workload_pack (dlb_workload_t *self, dlb_writer_t *writer);

void dlb_workload_test (bool verbose);

#endif
