/*  fuzz_journal: a journal file after a crash through dlb_journal_replay
    with truncation on: sizes, torn records, CRCs, the cut. First input
    byte odd: the harness seals every whole record with its right CRC
    first, so that replay gets past the check. After a replay the file must
    replay again to the same records, whole.                              */
#include "dlb_fuzz.h"
#include "dlb_journal.h"

#include <assert.h>

typedef struct {
    long records;
    uint64_t sum; //  of every payload byte: each is read
} s_seen_t;

static int s_record (uint8_t type, const void *payload, size_t size, void *arg)
{
    s_seen_t *seen = arg;
    const uint8_t *bytes = payload;
    seen->records++;
    seen->sum += type;
    for (size_t i = 0; i < size; i++)
        seen->sum += bytes[i];
    return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *path = dlb_fuzz_journal ("journal.wal", data + 1, size - 1, data[0] & 1);
    s_seen_t first = {0}, again = {0};
    bool torn = false;
    long records = dlb_journal_replay (path, s_record, &first, true, &torn);
    assert (records == first.records);
    records = dlb_journal_replay (path, s_record, &again, true, &torn);
    assert (records == first.records && !torn && again.sum == first.sum);
    return 0;
}
