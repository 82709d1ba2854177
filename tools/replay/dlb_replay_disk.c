/*  dlb_replay_disk: replays disk read and write rates as real I/O.

    The file. dlb_replay_disk_new makes DIR/dlb-replay-XXXXXX, unlinks it at
    once (nothing is left behind, even by a killed process), turns on
    O_DIRECT, and writes it whole (DLB_REPLAY_DISK_FILE_BYTES, before the
    trace starts, not counted): reads of never-written blocks would return
    zeros without reaching the storage. Writes and reads then cycle through
    the file, each in its own sequential position, so its size stays bounded
    whatever the trace asks. The buffer is aligned to DLB_REPLAY_DISK_ALIGN
    and holds random bytes (nothing for a compressing device to shrink).

    Bypassing the page cache. O_DIRECT when the file system takes it. If it
    refuses (EINVAL at fcntl or at the first I/O), the replay falls back to
    buffered I/O where each write is followed by fdatasync and each read
    preceded by posix_fadvise DONTNEED of its range, and logs that it did;
    on tmpfs nothing reaches a storage device either way. The result carries
    what the kernel counted as storage I/O of the process (/proc/self/io
    read_bytes and write_bytes), which tells whether the bytes went to a
    device.

    Pacing. Interval i (seconds_per_sample T, on a monotonic grid from
    config->grid.start) prescribes r_i and w_i bytes/s. Every tick
    (DLB_REPLAY_DISK_TICK_MSECS) the loop works out the bytes due by the
    tick's end, r_i x (tick end - interval start), less those done in this
    interval, and does I/O in blocks of at most DLB_REPLAY_DISK_BLOCK (sizes
    rounded up to DLB_REPLAY_DISK_ALIGN), the direction further behind
    first, until both are done or the interval ends; then it sleeps to the
    tick's end. A slow device just falls behind: the achieved rate is what
    completed within the interval.                                        */
#include "dlb_replay_disk.h"

#include "dlb_log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_PATH_MAX      4096
#define S_MSECS_PER_SEC 1e3
#define S_FILL_SEED     0x2545F4914F6CDD1DULL

struct _dlb_replay_disk_t {
    int fd;
    bool direct;          //  O_DIRECT on; else the fdatasync + fadvise fallback
    unsigned char *block; //  DLB_REPLAY_DISK_BLOCK bytes, aligned
    size_t read_offset;   //  next read position in the file
    size_t write_offset;  //  next write position
};

//  Turns O_DIRECT off and says why. Cannot fail.
static void s_fall_back (dlb_replay_disk_t *self, const char *why)
{
    int flags = fcntl (self->fd, F_GETFL);
    if (flags >= 0)
        fcntl (self->fd, F_SETFL, flags & ~O_DIRECT);
    self->direct = false;
    dlb_warn ("disk replay: %s; falling back to buffered I/O with fdatasync and "
              "posix_fadvise DONTNEED (the page cache is bypassed only as far as "
              "these let it be)",
              why);
}

//  One read or write of `size` bytes (a multiple of DLB_REPLAY_DISK_ALIGN, at
//  most a block) at the direction's position, which then moves on and wraps.
//  Returns 0, or -1 after logging.
static int s_io (dlb_replay_disk_t *self, bool write_it, size_t size)
{
    size_t *offset = write_it ? &self->write_offset : &self->read_offset;
    if (*offset + size > DLB_REPLAY_DISK_FILE_BYTES)
        *offset = 0;
    for (;;) {
        if (!self->direct && !write_it)
            posix_fadvise (self->fd, (off_t) *offset, (off_t) size, POSIX_FADV_DONTNEED);
        ssize_t done = write_it ? pwrite (self->fd, self->block, size, (off_t) *offset)
                                : pread (self->fd, self->block, size, (off_t) *offset);
        if (done < 0 && errno == EINTR)
            continue;
        if (done < 0 && errno == EINVAL && self->direct) {
            s_fall_back (self, "the file system refuses O_DIRECT I/O");
            continue;
        }
        if (done != (ssize_t) size) {
            dlb_error ("disk replay: %s failed: %s", write_it ? "write" : "read",
                       done < 0 ? strerror (errno) : "short transfer");
            return -1;
        }
        break;
    }
    if (!self->direct && write_it) {
        if (fdatasync (self->fd) != 0) {
            dlb_error ("disk replay: fdatasync failed: %s", strerror (errno));
            return -1;
        }
        posix_fadvise (self->fd, (off_t) *offset, (off_t) size, POSIX_FADV_DONTNEED);
    }
    *offset += size;
    return 0;
}

dlb_replay_disk_t *dlb_replay_disk_new (const char *dir, bool direct)
{
    assert (dir);
    dlb_replay_disk_t *self = calloc (1, sizeof *self);
    char path[S_PATH_MAX];
    if (!self || posix_memalign ((void **) &self->block, DLB_REPLAY_DISK_ALIGN,
                                 DLB_REPLAY_DISK_BLOCK) != 0) {
        dlb_error ("disk replay: out of memory");
        if (self)
            self->block = NULL;
        goto failed;
    }
    self->fd = -1;
    snprintf (path, sizeof path, "%s/dlb-replay-XXXXXX", dir);
    self->fd = mkstemp (path);
    if (self->fd < 0) {
        dlb_error ("disk replay: cannot make a file in %s: %s", dir, strerror (errno));
        goto failed;
    }
    unlink (path); //  the open file stays usable; nothing is left behind
    uint64_t x = S_FILL_SEED;
    for (size_t index = 0; index < DLB_REPLAY_DISK_BLOCK; index++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self->block[index] = (unsigned char) x;
    }
    int flags = fcntl (self->fd, F_GETFL);
    self->direct =
        direct && flags >= 0 && fcntl (self->fd, F_SETFL, flags | O_DIRECT) == 0;
    if (direct && !self->direct)
        s_fall_back (self, "the file system refuses O_DIRECT");
    else if (!direct)
        dlb_info ("disk replay: O_DIRECT not asked for: buffered I/O with fdatasync and "
                  "posix_fadvise DONTNEED");
    for (size_t filled = 0; filled < DLB_REPLAY_DISK_FILE_BYTES;
         filled += DLB_REPLAY_DISK_BLOCK)
        if (s_io (self, true, DLB_REPLAY_DISK_BLOCK) != 0)
            goto failed;
    self->write_offset = 0;
    return self;
failed:
    dlb_replay_disk_destroy (&self);
    return NULL;
}

void dlb_replay_disk_destroy (dlb_replay_disk_t **self_p)
{
    assert (self_p);
    dlb_replay_disk_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0)
        close (self->fd);
    free (self->block);
    free (self);
    *self_p = NULL;
}

bool dlb_replay_disk_direct (dlb_replay_disk_t *self)
{
    assert (self);
    return self->direct;
}

//  Reads the process's storage byte counters. Returns 0, or -1 if
//  /proc/self/io is not readable.
static int s_storage_bytes (uint64_t *read_bytes, uint64_t *write_bytes)
{
    FILE *file = fopen ("/proc/self/io", "r");
    if (!file)
        return -1;
    char line[128];
    int found = 0;
    unsigned long long value;
    while (fgets (line, sizeof line, file)) {
        if (sscanf (line, "read_bytes: %llu", &value) == 1)
            *read_bytes = value, found++;
        else if (sscanf (line, "write_bytes: %llu", &value) == 1)
            *write_bytes = value, found++;
    }
    fclose (file);
    return found == 2 ? 0 : -1;
}

//  The I/O size for a lag of `bytes`: rounded up to the alignment, at most a
//  block.
static size_t s_io_size (double bytes)
{
    size_t units = (size_t) ceil (bytes / DLB_REPLAY_DISK_ALIGN);
    size_t size = units * DLB_REPLAY_DISK_ALIGN;
    return size > DLB_REPLAY_DISK_BLOCK ? DLB_REPLAY_DISK_BLOCK : size;
}

int dlb_replay_disk_run (dlb_replay_disk_t *self, const dlb_replay_disk_config_t *config,
                         dlb_replay_disk_result_t *result)
{
    assert (self && config && result);
    assert (config->read_bps && config->write_bps && config->grid.count > 0);
    assert (config->grid.seconds_per_sample > 0);
    memset (result, 0, sizeof *result);
    dlb_pace_init ();
    uint64_t read_before = 0, write_before = 0;
    bool storage_known = s_storage_bytes (&read_before, &write_before) == 0;
    const double length = config->grid.seconds_per_sample;
    const double tick = DLB_REPLAY_DISK_TICK_MSECS / S_MSECS_PER_SEC;
    double done_read = 0, done_write = 0; //  bytes in this interval
    int rc = 0;
    size_t index = 0;
    dlb_pace_sleep_until (config->grid.start);
    while (!dlb_pace_stopping ()) {
        double interval_end = dlb_pace_grid_end (&config->grid, index);
        size_t sample = index % config->grid.count;
        double read_rate = config->read_bps[sample],
               write_rate = config->write_bps[sample];
        double now = dlb_pace_now ();
        if (now >= interval_end) {
            dlb_pace_tally_add (&result->read, read_rate, done_read / length);
            dlb_pace_tally_add (&result->write, write_rate, done_write / length);
            if (config->grid.report &&
                (fprintf (config->grid.report, "%zu,%.0f,%.0f,%.0f,%.0f\n", index,
                          read_rate, done_read / length, write_rate,
                          done_write / length) < 0 ||
                 fflush (config->grid.report) != 0)) {
                dlb_error ("cannot write the disk report: %s", strerror (errno));
                rc = -1;
                break;
            }
            done_read = done_write = 0;
            if (!dlb_pace_grid_next (&config->grid, &index))
                break;
            continue;
        }
        double tick_end = fmin (now + tick, interval_end);
        double elapsed = tick_end - (interval_end - length);
        for (;;) {
            double read_lag = read_rate * elapsed - done_read;
            double write_lag = write_rate * elapsed - done_write;
            if ((read_lag <= 0 && write_lag <= 0) || dlb_pace_stopping () ||
                dlb_pace_now () >= interval_end)
                break;
            bool write_it = write_lag >= read_lag;
            size_t size = s_io_size (write_it ? write_lag : read_lag);
            if (s_io (self, write_it, size) != 0) {
                rc = -1;
                break;
            }
            *(write_it ? &done_write : &done_read) += (double) size;
        }
        if (rc != 0)
            break;
        dlb_pace_sleep_until (tick_end);
    }
    uint64_t read_after = 0, write_after = 0;
    if (storage_known && s_storage_bytes (&read_after, &write_after) == 0) {
        result->storage_known = true;
        result->storage_read = read_after - read_before;
        result->storage_write = write_after - write_before;
    }
    result->stopped = dlb_pace_stopping () && rc == 0;
    return rc;
}

//  --------------------------------------------------------------------------
//  Self-test

#define S_TEST_SECS 0.3 //  secs per sample: short, fidelity is checked loosely
#define S_TEST_RATE (4.0 * (1 << 20)) //  bytes/s

void dlb_replay_disk_test (bool verbose)
{
    assert (dlb_replay_disk_new ("/nonexistent/dir", true) == NULL);
    char dir[] = "/tmp/dlb-replay-disk-test-XXXXXX";
    assert (mkdtemp (dir));
    const double reads[] = {S_TEST_RATE, 0, S_TEST_RATE / 2};
    const double writes[] = {0, S_TEST_RATE, S_TEST_RATE / 2};
    for (int direct = 1; direct >= 0; direct--) {
        dlb_replay_disk_t *disk = dlb_replay_disk_new (dir, direct);
        assert (disk);
        assert (direct || !dlb_replay_disk_direct (disk));
        FILE *report = tmpfile ();
        assert (report);
        dlb_replay_disk_config_t config = {
            reads, writes, {3, S_TEST_SECS, dlb_pace_now (), false, report}};
        dlb_replay_disk_result_t result;
        assert (dlb_replay_disk_run (disk, &config, &result) == 0);
        assert (result.read.intervals == 3 && result.write.intervals == 3);
        //  Every interval did roughly what it was asked: a byte count, not a
        //  speed, so a busy machine only makes it late within the interval.
        rewind (report);
        char line[128];
        for (size_t index = 0; index < 3; index++) {
            size_t read_index;
            double target_read, read, target_write, write;
            assert (fgets (line, sizeof line, report));
            assert (sscanf (line, "%zu,%lf,%lf,%lf,%lf", &read_index, &target_read, &read,
                            &target_write, &write) == 5);
            assert (read_index == index && target_read == reads[index]);
            assert (read <= target_read + 2 * DLB_REPLAY_DISK_ALIGN / S_TEST_SECS);
            assert (write <= target_write + 2 * DLB_REPLAY_DISK_ALIGN / S_TEST_SECS);
        }
        fclose (report);
        if (verbose)
            printf ("\n   direct %d: read %.0f of %.0f, write %.0f of %.0f bytes/s; "
                    "storage %llu read, %llu written",
                    dlb_replay_disk_direct (disk), result.read.achieved / 3,
                    result.read.target / 3, result.write.achieved / 3,
                    result.write.target / 3, (unsigned long long) result.storage_read,
                    (unsigned long long) result.storage_write);
        dlb_replay_disk_destroy (&disk);
        assert (disk == NULL);
    }
    if (verbose)
        printf ("\n");
    assert (rmdir (dir) == 0); //  empty: the files went with their replays
}
