/*  dlb_replay_disk: replays a trace's disk read and write rates (bytes/s, the
    disk_read_bps and disk_write_bps columns of dlb-collect) as real I/O on one
    file of bounded size under a directory, bypassing the page cache, one
    trace sample per interval. See dlb_replay_disk.c for the design.      */
#ifndef DLB_REPLAY_DISK_H_INCLUDED
#define DLB_REPLAY_DISK_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dlb_pace.h"

#define DLB_REPLAY_DISK_FILE_BYTES                                                       \
    (16u << 20) //  bytes; the file, written before the start
#define DLB_REPLAY_DISK_BLOCK      (256u << 10) //  bytes; largest single read or write
#define DLB_REPLAY_DISK_ALIGN      4096         //  bytes; O_DIRECT buffer and size unit
#define DLB_REPLAY_DISK_TICK_MSECS 50           //  msecs between bursts of I/O

typedef struct _dlb_replay_disk_t dlb_replay_disk_t;

typedef struct {
    const double *read_bps;  //  bytes/s per sample; borrowed
    const double *write_bps; //  bytes/s per sample; borrowed
    dlb_pace_grid_t grid;    //  count: samples in each; report: rows as in _run
} dlb_replay_disk_config_t;

typedef struct {
    dlb_pace_tally_t read, write; //  bytes/s per interval, target and achieved
    uint64_t storage_read;        //  bytes the process read from storage in the run
    uint64_t storage_write;       //  and wrote (/proc/self/io), or 0 if unknown
    bool storage_known;           //  /proc/self/io was readable
    bool stopped;                 //  ended by dlb_pace_stop
} dlb_replay_disk_result_t;

//  Creates a file of DLB_REPLAY_DISK_FILE_BYTES in dir, unlinks it at once
//  (it goes when the replay does, killed or not), opens it with O_DIRECT
//  (direct false: never, for tests of the fallback) and writes it whole so
//  that reads reach the storage. If the file system refuses O_DIRECT, it
//  falls back to buffered I/O with fdatasync and posix_fadvise DONTNEED,
//  and says so in the log (dlb_replay_disk_direct tells). Returns NULL
//  after logging if the file cannot be made or written.
dlb_replay_disk_t *dlb_replay_disk_new (const char *dir, bool direct);

//  Destroys the replay and closes the file. Cannot fail; accepts NULL.
void dlb_replay_disk_destroy (dlb_replay_disk_t **self_p);

//  True if I/O bypasses the page cache with O_DIRECT; false for the
//  fdatasync + posix_fadvise fallback. Cannot fail.
bool dlb_replay_disk_direct (dlb_replay_disk_t *self);

//  Replays the rates until the trace ends (never with loop) or a stop, and
//  writes to the report, per interval, "index,target_read_bps,
//  achieved_read_bps,target_write_bps,achieved_write_bps". Returns 0 with
//  the result filled in, or -1 after logging if a read, a write or the
//  report fails (result: what was measured until then).
int dlb_replay_disk_run (dlb_replay_disk_t *self, const dlb_replay_disk_config_t *config,
                         dlb_replay_disk_result_t *result);

//  Self-test.
void dlb_replay_disk_test (bool verbose);

#endif
