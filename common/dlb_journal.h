/*  dlb_journal: an append-only file of checksummed records, the durable
    memory of a workload at its origin.

    A record on disk:

        +-----------+------+------------------+-----------+
        | size (u32)| type | payload (size B) | crc (u32) |
        +-----------+------+------------------+-----------+

    little-endian; crc is CRC-32 (zlib) of the type byte and the payload.
    A record is written with one write(2), so a process killed at any
    instant leaves every record it completed intact; a machine that loses
    power may leave a torn last record, which replay detects (short read
    or bad crc), stops at and cuts off. Records are durable against power
    loss once dlb_journal_sync has returned.                             */
#ifndef DLB_JOURNAL_H_INCLUDED
#define DLB_JOURNAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLB_JOURNAL_RECORD_MAX (64u * 1024 * 1024) //  bytes of one payload

typedef struct _dlb_journal_t dlb_journal_t;

//  Opens path for appending, creating it (mode 0600) if needed. Returns
//  NULL with errno set if the file cannot be opened.
dlb_journal_t *dlb_journal_open (const char *path);
void dlb_journal_destroy (dlb_journal_t **self_p);

//  Appends one record. Returns 0, or -1 with errno set (nothing, or a
//  torn record that replay will cut off, was written).
int dlb_journal_append (dlb_journal_t *self, uint8_t type, const void *payload,
                        size_t size);
//  The same with the payload in two parts (a header and a bulk part).
int dlb_journal_append2 (dlb_journal_t *self, uint8_t type, const void *head,
                         size_t head_size, const void *body, size_t body_size);

//  Makes every record appended so far durable (fdatasync). Returns 0, or
//  -1 with errno set. Does nothing if nothing was appended since the last.
int dlb_journal_sync (dlb_journal_t *self);

//  Bytes appended since open (records of this session).
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
