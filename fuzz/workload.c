/*  fuzz_workload: a worker's data directory after a crash, through
    dlb_workload_recover: a journal (ID.wal: the 'W' description, 'R'
    results, 'G' hand-overs, through dlb_journal_replay) or an end record
    (ID.done). First input byte: bit 0 = .done, bit 1 = seal the journal's
    CRCs first (see fuzz_journal). A recovered workload then has its ledger
    exercised (hold, reclaim, tail, the status record); it is never
    finished, since that writes its output file.

    Resource bound of the harness, not of the code: the recovery allocates
    what a description declares, as the submit did (up to 2^31 elements),
    so journals describing more than S_ELEMENTS_MAX elements are skipped. */
#include "dlb_fuzz.h"
#include "dlb_journal.h"
#include "dlb_workload.h"

#include <assert.h>

#define S_ELEMENTS_MAX (1 << 16) //  elements of a described workload, at most
#define S_IDS_MAX      64        //  jobs reclaimed or copied at once

//  Sets *big if a 'W' record describes over S_ELEMENTS_MAX elements.
static int s_measure (uint8_t type, const void *payload, size_t size, void *arg)
{
    bool *big = arg;
    if (type != 'W')
        return 0;
    msgpack_unpacked unpacked;
    char reason[DLB_FUZZ_REASON];
    uint64_t elements = 0;
    if (dlb_map_unpack (payload, size, &unpacked, reason, sizeof reason) == 0) {
        if (dlb_obj_u64 (&unpacked.data, "elements", &elements) == 0 &&
            elements > S_ELEMENTS_MAX)
            *big = true;
        msgpack_unpacked_destroy (&unpacked);
    }
    return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool done = data[0] & 1;
    const char *name = done ? "w-1.done" : "w-1.wal";
    const char *path = dlb_fuzz_journal (name, data + 1, size - 1, data[0] & 2);
    bool big = false, torn = false;
    if (!done && (dlb_journal_replay (path, s_measure, &big, false, &torn) < 0 || big))
        return -1; //  not kept in the corpus
    char err[DLB_TEXT_MAX + 128] = "";
    dlb_workload_t *workload = dlb_workload_recover (
        dlb_fuzz_dir (), name, zclock_mono () + 1000, err, sizeof err);
    if (!workload) {
        assert (*err);
        return 0;
    }
    uint64_t ids[S_IDS_MAX];
    char holder[DLB_NAME_MAX];
    uint64_t jobs = dlb_workload_jobs (workload);
    dlb_workload_hold (workload, "peer", jobs / 2, jobs, zclock_mono () + 1000);
    dlb_workload_reclaim (workload, zclock_mono (), ids, S_IDS_MAX, holder,
                          sizeof holder);
    size_t tail = dlb_workload_tail (workload, ids, S_IDS_MAX);
    for (size_t i = 0; i < tail; i++) {
        dlb_job_t *job = dlb_workload_job (workload, ids[i], "here");
        assert (job && job->id == ids[i]);
        dlb_job_destroy (&job);
    }
    dlb_writer_t writer;
    dlb_writer_init (&writer, DLB_MSG_STATUS);
    dlb_workload_pack (workload, &writer);
    dlb_writer_destroy (&writer);
    dlb_workload_destroy (&workload);
    return 0;
}
