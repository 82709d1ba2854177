/*  dlb_journal: append-only checksummed records (see dlb_journal.h).      */
#include "dlb_journal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#define S_HEADER  5 //  bytes: size (u32) and type
#define S_TRAILER 4 //  bytes: crc (u32)

struct _dlb_journal_t {
    int fd;
    bool dirty; //  appended since the last sync
    uint64_t appended;
    uint8_t *buffer; //  records not yet written, whole
    size_t buffered, capacity;
};

dlb_journal_t *dlb_journal_open (const char *path)
{
    int fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return NULL;
    dlb_journal_t *self = calloc (1, sizeof *self);
    if (!self) {
        close (fd);
        errno = ENOMEM;
        return NULL;
    }
    self->fd = fd;
    return self;
}

void dlb_journal_destroy (dlb_journal_t **self_p)
{
    if (*self_p) {
        dlb_journal_flush (*self_p);
        close ((*self_p)->fd);
        free ((*self_p)->buffer);
        free (*self_p);
        *self_p = NULL;
    }
}

static void s_put32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t s_get32 (const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
           (uint32_t) p[3] << 24;
}

//  Writes iov[0..count) whole. Returns 0, or -1 with errno set (ENOSPC
//  for a short write: its torn end is cut off on replay).
static int s_write (dlb_journal_t *self, struct iovec *iov, int count)
{
    ssize_t want = 0;
    for (int i = 0; i < count; i++)
        want += (ssize_t) iov[i].iov_len;
    ssize_t wrote = writev (self->fd, iov, count);
    self->dirty = true;
    if (wrote != want) {
        if (wrote >= 0)
            errno = ENOSPC;
        return -1;
    }
    return 0;
}

int dlb_journal_flush (dlb_journal_t *self)
{
    if (self->buffered == 0)
        return 0;
    struct iovec iov = {self->buffer, self->buffered};
    self->buffered = 0; //  written or not, never twice: that could tear a record
    return s_write (self, &iov, 1);
}

//  Makes room for size more bytes in the buffer (size <= DLB_JOURNAL_BUFFER
//  - buffered). 0, or -1 if memory is short.
static int s_reserve (dlb_journal_t *self, size_t size)
{
    if (self->buffered + size <= self->capacity)
        return 0;
    size_t capacity = self->capacity ? self->capacity : 4096;
    while (capacity < self->buffered + size)
        capacity *= 2;
    if (capacity > DLB_JOURNAL_BUFFER)
        capacity = DLB_JOURNAL_BUFFER;
    uint8_t *grown = realloc (self->buffer, capacity);
    if (!grown)
        return -1;
    self->buffer = grown;
    self->capacity = capacity;
    return 0;
}

int dlb_journal_append2 (dlb_journal_t *self, uint8_t type, const void *head,
                         size_t head_size, const void *body, size_t body_size)
{
    size_t size = head_size + body_size;
    if (size > DLB_JOURNAL_RECORD_MAX) {
        errno = EFBIG;
        return -1;
    }
    uint8_t header[S_HEADER], trailer[S_TRAILER];
    s_put32 (header, (uint32_t) size);
    header[4] = type;
    //  (zlib's crc32 returns 0 for a NULL buffer: skip empty parts)
    uLong crc = crc32 (0, &type, 1);
    if (head_size)
        crc = crc32 (crc, head, (uInt) head_size);
    if (body_size)
        crc = crc32 (crc, body, (uInt) body_size);
    s_put32 (trailer, (uint32_t) crc);
    size_t total = S_HEADER + size + S_TRAILER;
    if (self->buffered + total > DLB_JOURNAL_BUFFER && dlb_journal_flush (self))
        return -1;
    if (total > DLB_JOURNAL_BUFFER || s_reserve (self, total)) {
        //  too large to buffer (or no memory to): written now, in order
        struct iovec iov[4] = {{header, S_HEADER},
                               {(void *) head, head_size},
                               {(void *) body, body_size},
                               {trailer, S_TRAILER}};
        if (s_write (self, iov, 4))
            return -1;
    }
    else {
        uint8_t *p = self->buffer + self->buffered;
        memcpy (p, header, S_HEADER);
        if (head_size)
            memcpy (p + S_HEADER, head, head_size);
        if (body_size)
            memcpy (p + S_HEADER + head_size, body, body_size);
        memcpy (p + S_HEADER + size, trailer, S_TRAILER);
        self->buffered += total;
        self->dirty = true;
    }
    self->appended += (uint64_t) total;
    return 0;
}

int dlb_journal_append (dlb_journal_t *self, uint8_t type, const void *payload,
                        size_t size)
{
    return dlb_journal_append2 (self, type, payload, size, NULL, 0);
}

int dlb_journal_sync (dlb_journal_t *self)
{
    if (!self->dirty)
        return 0;
    if (dlb_journal_flush (self) || fdatasync (self->fd))
        return -1;
    self->dirty = false;
    return 0;
}

uint64_t dlb_journal_appended (dlb_journal_t *self)
{
    return self->appended;
}

//  Reads exactly size bytes; returns 0, or -1 at a short read.
static int s_read_all (FILE *file, void *buf, size_t size)
{
    return size == 0 || fread (buf, 1, size, file) == size ? 0 : -1;
}

long dlb_journal_replay (const char *path, dlb_journal_fn *fn, void *arg, bool cut,
                         bool *torn)
{
    *torn = false;
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    FILE *file = fdopen (fd, "rb");
    if (!file) {
        close (fd);
        return -1;
    }
    long count = 0;
    off_t good = 0; //  end of the last intact record
    uint8_t *payload = NULL;
    while (true) {
        uint8_t header[S_HEADER], trailer[S_TRAILER];
        size_t got = fread (header, 1, S_HEADER, file);
        if (got == 0 && feof (file))
            break; //  a clean end
        uint32_t size = got == S_HEADER ? s_get32 (header) : 0;
        if (got != S_HEADER || size > DLB_JOURNAL_RECORD_MAX) {
            *torn = true;
            break;
        }
        uint8_t *grown = realloc (payload, size ? size : 1);
        if (!grown) {
            *torn = true;
            break;
        }
        payload = grown;
        if (s_read_all (file, payload, size) || s_read_all (file, trailer, S_TRAILER)) {
            *torn = true;
            break;
        }
        uLong crc = crc32 (crc32 (0, &header[4], 1), payload, size);
        if ((uint32_t) crc != s_get32 (trailer)) {
            *torn = true;
            break;
        }
        good += S_HEADER + size + S_TRAILER;
        count++;
        if (fn (header[4], payload, size, arg))
            break;
    }
    free (payload);
    fclose (file);
    if (*torn && cut && truncate (path, good))
        return -1;
    return count;
}

//  ---------------------------------------------------------------------
//  Self-test

typedef struct {
    int count;
    uint64_t sum;
} s_seen_t;

static int s_collect (uint8_t type, const void *payload, size_t size, void *arg)
{
    s_seen_t *seen = arg;
    seen->count++;
    seen->sum += type + size;
    if (size >= sizeof (uint64_t)) {
        uint64_t v;
        memcpy (&v, payload, sizeof v);
        seen->sum += v;
    }
    return 0;
}

void dlb_journal_test (bool verbose)
{
    (void) verbose;
    char path[] = "/tmp/dlb_journal_test_XXXXXX";
    int fd = mkstemp (path);
    assert (fd >= 0);
    close (fd);
    dlb_journal_t *journal = dlb_journal_open (path);
    assert (journal);
    uint64_t expected = 0;
    for (uint64_t i = 0; i < 100; i++) {
        uint64_t head = i * 1000;
        uint8_t body[37];
        memset (body, (int) i, sizeof body);
        assert (dlb_journal_append2 (journal, (uint8_t) ('A' + i % 3), &head, sizeof head,
                                     body, sizeof body) == 0);
        expected += (uint64_t) ('A' + i % 3) + sizeof head + sizeof body + head;
    }
    assert (dlb_journal_append (journal, 'E', NULL, 0) == 0);
    expected += 'E';
    assert (dlb_journal_sync (journal) == 0);
    assert (dlb_journal_appended (journal) == 100 * (5 + 8 + 37 + 4) + 9);
    dlb_journal_destroy (&journal);
    assert (journal == NULL);

    s_seen_t seen = {0};
    bool torn = true;
    assert (dlb_journal_replay (path, s_collect, &seen, true, &torn) == 101);
    assert (!torn && seen.count == 101 && seen.sum == expected);

    //  A torn tail (a record cut short, as by a power loss) is dropped and
    //  cut off; the records before it survive, and appending goes on.
    struct stat st;
    assert (stat (path, &st) == 0);
    off_t intact = st.st_size;
    journal = dlb_journal_open (path);
    uint64_t head = 42;
    assert (dlb_journal_append (journal, 'R', &head, sizeof head) == 0);
    dlb_journal_destroy (&journal);
    assert (truncate (path, intact + 7) == 0);
    seen = (s_seen_t){0};
    assert (dlb_journal_replay (path, s_collect, &seen, true, &torn) == 101);
    assert (torn && seen.sum == expected);
    assert (stat (path, &st) == 0 && st.st_size == intact);

    //  A flipped byte fails the checksum: replay stops before that record.
    fd = open (path, O_RDWR);
    assert (fd >= 0);
    assert (pwrite (fd, "\xff", 1, 5 + 3) == 1); //  inside the first payload
    close (fd);
    seen = (s_seen_t){0};
    assert (dlb_journal_replay (path, s_collect, &seen, false, &torn) == 0);
    assert (torn && seen.count == 0);

    //  Garbage sizes are refused, not allocated.
    fd = open (path, O_WRONLY | O_TRUNC);
    assert (fd >= 0);
    assert (write (fd, "\xff\xff\xff\xff\x01", 5) == 5);
    close (fd);
    assert (dlb_journal_replay (path, s_collect, &seen, true, &torn) == 0 && torn);
    assert (dlb_journal_replay ("/nonexistent/dlb", s_collect, &seen, true, &torn) == -1);

    //  Records wait in memory until a flush, a sync, a full buffer or the
    //  end; a record larger than the buffer goes out at once, after those
    //  appended before it.
    assert (truncate (path, 0) == 0);
    journal = dlb_journal_open (path);
    uint64_t small = 7;
    const off_t record = S_HEADER + sizeof small + S_TRAILER;
    assert (dlb_journal_append (journal, 'S', &small, sizeof small) == 0);
    assert (stat (path, &st) == 0 && st.st_size == 0);
    assert (dlb_journal_flush (journal) == 0);
    assert (stat (path, &st) == 0 && st.st_size == record);
    size_t big_size = DLB_JOURNAL_BUFFER + 1;
    uint8_t *big = calloc (1, big_size);
    assert (big);
    assert (dlb_journal_append (journal, 'S', &small, sizeof small) == 0);
    assert (dlb_journal_append (journal, 'B', big, big_size) == 0);
    off_t written = 2 * record + S_HEADER + (off_t) big_size + S_TRAILER;
    assert (stat (path, &st) == 0 && st.st_size == written);
    free (big);
    size_t many = DLB_JOURNAL_BUFFER / (size_t) record + 10;
    for (size_t i = 0; i < many; i++)
        assert (dlb_journal_append (journal, 'S', &small, sizeof small) == 0);
    assert (stat (path, &st) == 0 && st.st_size > written &&
            st.st_size < written + (off_t) many * record);
    assert (dlb_journal_sync (journal) == 0);
    assert (stat (path, &st) == 0 && st.st_size == written + (off_t) many * record);
    assert (dlb_journal_append (journal, 'E', NULL, 0) == 0);
    dlb_journal_destroy (&journal); //  flushes
    seen = (s_seen_t){0};
    assert (dlb_journal_replay (path, s_collect, &seen, true, &torn) == (long) many + 4);
    assert (!torn &&
            seen.sum == (many + 2) * ('S' + sizeof small + small) + 'B' + big_size + 'E');
    unlink (path);
}
