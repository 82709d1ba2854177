/*  fuzz_batch: a JOBS or RESULTS body (first input byte: odd = RESULTS),
    through dlb_batch_decode: the declared-size guard, every item's fields,
    inflation, the CRC of results. A batch that decodes is encoded again
    and must decode to the same jobs.                                     */
#include "dlb_fuzz.h"

#include <assert.h>
#include <string.h>

//  Encodes jobs as a batch and decodes them again; asserts they are equal.
static void s_roundtrip (int type, const char *from, const char *to, uint64_t batch,
                         dlb_job_t **jobs, size_t count)
{
    dlb_writer_t writer;
    dlb_batch_stats_t stats;
    dlb_writer_init (&writer, type);
    dlb_batch_encode (&writer, type, from, to, batch, jobs, count, &stats);
    dlb_msg_t msg;
    char reason[DLB_FUZZ_REASON], from_back[DLB_NAME_MAX], to_back[DLB_NAME_MAX];
    int rc = dlb_msg_decode (writer.buffer.data, writer.buffer.size, &msg, reason,
                             sizeof reason);
    assert (rc == 0);
    dlb_job_t **back;
    size_t count_back;
    uint64_t batch_back;
    rc = dlb_batch_decode (&msg, from_back, to_back, &batch_back, &back, &count_back,
                           reason, sizeof reason);
    assert (rc == 0);
    assert (count_back == count && batch_back == batch);
    assert (streq (from_back, from) && streq (to_back, to));
    for (size_t i = 0; i < count; i++) {
        assert (back[i]->id == jobs[i]->id && back[i]->elems == jobs[i]->elems);
        assert (back[i]->offset == jobs[i]->offset && back[i]->reps == jobs[i]->reps);
        assert (memcmp (back[i]->data, jobs[i]->data, jobs[i]->elems * sizeof (double)) ==
                0);
        assert (streq (back[i]->workload, jobs[i]->workload));
    }
    dlb_batch_free (&back, count_back);
    dlb_msg_release (&msg);
    dlb_writer_destroy (&writer);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int type = data[0] & 1 ? DLB_MSG_RESULTS : DLB_MSG_JOBS;
    dlb_msg_t msg;
    if (dlb_fuzz_msg (type, data + 1, size - 1, &msg))
        return 0;
    char reason[DLB_FUZZ_REASON], from[DLB_NAME_MAX], to[DLB_NAME_MAX];
    dlb_job_t **jobs;
    size_t count;
    uint64_t batch;
    if (dlb_batch_decode (&msg, from, to, &batch, &jobs, &count, reason, sizeof reason) ==
        0) {
        s_roundtrip (type, from, to, batch, jobs, count);
        dlb_batch_free (&jobs, count);
    }
    dlb_msg_release (&msg);
    return 0;
}
