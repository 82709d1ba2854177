/*  dlb_journal: an append-only file of checksummed records, the durable
    memory of a workload at its origin.

    A record on disk:

        +-----------+------+------------------+-----------+
        | size (u32)| type | payload (size B) | crc (u32) |
        +-----------+------+------------------+-----------+

    little-endian; crc is CRC-32 (zlib) of the type byte and the payload.
    Records are appended to a buffer in memory and written to the file,
    whole and in order, by dlb_journal_flush or dlb_journal_sync, or when
    the buffer would exceed DLB_JOURNAL_BUFFER (a record larger than that
    is written at once, after the buffer). So many small records cost one
    write(2), not one each. A process killed at any instant leaves every
    record written before intact and at most one torn record after them
    (a write cut short), and loses the records still in its buffer; a
    machine that loses power may leave a torn last record. Replay detects
    a torn record (short read or bad crc), stops at it and cuts it off.
    Records are durable against power loss once dlb_journal_sync has
    returned.                                                            */
#ifndef DLB_JOURNAL_H_INCLUDED
#define DLB_JOURNAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLB_JOURNAL_RECORD_MAX (64u * 1024 * 1024) //  bytes of one payload
#define DLB_JOURNAL_BUFFER     (256u * 1024)       //  bytes of records held in memory

typedef struct _dlb_journal_t dlb_journal_t;

//  Opens path for appending, creating it (mode 0600) if needed. Returns
//  NULL with errno set if the file cannot be opened.
dlb_journal_t *dlb_journal_open (const char *path);
//  Flushes (best effort: a failure is not reported) and closes.
void dlb_journal_destroy (dlb_journal_t **self_p);

//  Appends one record (to the buffer, or to the file if it does not fit).
//  Returns 0, or -1 with errno set if records had to be written and could
//  not be (nothing, or a torn record that replay will cut off, was
//  written; the records in the buffer are dropped).
int dlb_journal_append (dlb_journal_t *self, uint8_t type, const void *payload,
                        size_t size);
//  The same with the payload in two parts (a header and a bulk part).
int dlb_journal_append2 (dlb_journal_t *self, uint8_t type, const void *head,
                         size_t head_size, const void *body, size_t body_size);

//  Writes the buffered records to the file (no sync): a process killed
//  after this keeps them. Returns 0, or -1 with errno set (as append).
int dlb_journal_flush (dlb_journal_t *self);

//  Makes every record appended so far durable: flush, then fdatasync.
//  Returns 0, or -1 with errno set. Does nothing if nothing was appended
//  since the last.
int dlb_journal_sync (dlb_journal_t *self);

//  Bytes appended since open (records of this session, buffered or not).
uint64_t dlb_journal_appended (dlb_journal_t *self);

//  Calls fn for each intact record of the file at path, in order. A torn
//  or corrupt tail is truncated away (when truncate is true) and reported
//  in *torn. fn returns 0 to go on, -1 to stop. Returns the number of
//  records read, or -1 with errno set if the file cannot be read.
typedef int (dlb_journal_fn) (uint8_t type, const void *payload, size_t size, void *arg);
long dlb_journal_replay (const char *path, dlb_journal_fn *fn, void *arg, bool truncate,
                         bool *torn);

void dlb_journal_test (bool verbose);

#endif
