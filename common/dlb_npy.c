/*  dlb_npy: float64 vectors in numpy's .npy format or raw little-endian. */
#include "dlb_npy.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MAGIC      "\x93NUMPY"
#define S_MAGIC_LEN  6
#define S_ALIGN      64  //  bytes, numpy pads the header to this
#define S_TEMP_TRIES 100 //  random names tried for a temporary file

static bool s_ends_with (const char *text, const char *suffix)
{
    size_t n = strlen (text), m = strlen (suffix);
    return n >= m && strcmp (text + n - m, suffix) == 0;
}

//  Parses an .npy header dict; returns the element count or -1.
static long long s_parse_header (const char *header, char *err, size_t err_size,
                                 const char *path)
{
    const char *descr = strstr (header, "'descr':");
    const char *order = strstr (header, "'fortran_order':");
    const char *shape = strstr (header, "'shape':");
    if (!descr || !order || !shape) {
        snprintf (err, err_size, "%s: .npy header lacks descr/fortran_order/shape", path);
        return -1;
    }
    if (!strstr (descr, "'<f8'") || strstr (descr, "'<f8'") > strchr (descr, ',')) {
        snprintf (err, err_size, "%s: only little-endian float64 ('<f8') is supported",
                  path);
        return -1;
    }
    if (strncmp (order + strlen ("'fortran_order':"), " False", 6) != 0) {
        snprintf (err, err_size, "%s: Fortran-order arrays are not supported", path);
        return -1;
    }
    const char *open = strchr (shape, '(');
    char *end = NULL;
    errno = 0;
    long long count = open ? strtoll (open + 1, &end, 10) : -1;
    if (!open || errno || end == open + 1 || count < 0 ||
        !(strncmp (end, ",)", 2) == 0 || strncmp (end, ")", 1) == 0)) {
        snprintf (err, err_size, "%s: only one-dimensional arrays are supported", path);
        return -1;
    }
    return count;
}

int dlb_npy_read (int fd, const char *name, size_t max, double **values_p,
                  size_t *count_p, char *err, size_t err_size)
{
    struct stat st;
    FILE *file = fstat (fd, &st) == 0 ? fdopen (fd, "rb") : NULL;
    if (!file) {
        snprintf (err, err_size, "%s: %s", name, strerror (errno));
        close (fd);
        return -1;
    }
    int rc = -1;
    double *values = NULL;
    long long count;
    size_t data_at = 0; //  bytes before the first element
    if (s_ends_with (name, ".npy")) {
        unsigned char prefix[10];
        if (fread (prefix, 1, sizeof prefix, file) != sizeof prefix ||
            memcmp (prefix, S_MAGIC, S_MAGIC_LEN) != 0) {
            snprintf (err, err_size, "%s: not an .npy file (bad magic)", name);
            goto done;
        }
        if (prefix[6] != 1) {
            snprintf (err, err_size, "%s: .npy version %d.%d not supported (1.0 only)",
                      name, prefix[6], prefix[7]);
            goto done;
        }
        size_t header_len = prefix[8] | (size_t) prefix[9] << 8;
        char header[65536];
        if (fread (header, 1, header_len, file) != header_len) {
            snprintf (err, err_size, "%s: truncated .npy header", name);
            goto done;
        }
        header[header_len] = 0;
        count = s_parse_header (header, err, err_size, name);
        if (count < 0)
            goto done;
        data_at = sizeof prefix + header_len;
    }
    else if (st.st_size % 8 != 0) {
        snprintf (err, err_size, "%s: raw float64 file size %lld is not a multiple of 8",
                  name, (long long) st.st_size);
        goto done;
    }
    else
        count = st.st_size / 8;
    //  What the file declares must be what it holds, before any allocation:
    //  a small header must not make the node allocate gigabytes.
    unsigned long long held =
        (unsigned long long) st.st_size > data_at ? (st.st_size - data_at) / 8 : 0;
    if ((unsigned long long) count > held || (st.st_size - data_at) % 8) {
        snprintf (err, err_size, "%s: truncated data (expected %lld float64)", name,
                  count);
        goto done;
    }
    if ((unsigned long long) count < held) {
        snprintf (err, err_size, "%s: trailing bytes after %lld float64", name, count);
        goto done;
    }
    if (count == 0) {
        snprintf (err, err_size, "%s: no elements", name);
        goto done;
    }
    if ((size_t) count > max) {
        *count_p = (size_t) count;
        rc = -2;
        goto done;
    }
    values = malloc ((size_t) count * sizeof (double));
    if (!values) {
        snprintf (err, err_size, "%s: out of memory for %lld elements", name, count);
        goto done;
    }
    if (fread (values, sizeof (double), (size_t) count, file) != (size_t) count) {
        snprintf (err, err_size, "%s: truncated data (expected %lld float64)", name,
                  count);
        goto done;
    }
    *values_p = values;
    *count_p = (size_t) count;
    values = NULL;
    rc = 0;
done:
    free (values);
    fclose (file);
    return rc;
}

int dlb_npy_load (const char *path, double **values, size_t *count, char *err,
                  size_t err_size)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf (err, err_size, "%s: %s", path, strerror (errno));
        return -1;
    }
    int rc = dlb_npy_read (fd, path, DLB_NPY_MAX_ELEMS, values, count, err, err_size);
    if (rc == -2)
        snprintf (err, err_size, "%s: %zu elements, over %zu", path, *count,
                  DLB_NPY_MAX_ELEMS);
    return rc ? -1 : 0;
}

//  A new file of our own next to name in dirfd: NAME.XXXXXX with a random
//  suffix, made with O_EXCL (so never through a link planted there).
//  Returns its descriptor with its name in tmp, or -1 with errno set.
static int s_create_temporary (int dirfd, const char *name, char *tmp, size_t size)
{
    for (int attempt = 0; attempt < S_TEMP_TRIES; attempt++) {
        uint32_t suffix;
        if (getrandom (&suffix, sizeof suffix, 0) != sizeof suffix)
            return -1;
        snprintf (tmp, size, "%s.%06x", name, suffix & 0xffffff);
        int fd = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

int dlb_npy_save (int dirfd, const char *name, const double *values, size_t count,
                  char *err, size_t err_size)
{
    char tmp[4096];
    if (strlen (name) + 8 >= sizeof tmp) {
        snprintf (err, err_size, "%s: path too long", name);
        return -1;
    }
    char header[128];
    int len =
        snprintf (header, sizeof header,
                  "{'descr': '<f8', 'fortran_order': False, 'shape': (%zu,), }", count);
    //  magic(6) + version(2) + length(2) + header + padding + '\n' is a multiple of 64
    int total = S_MAGIC_LEN + 4 + len + 1;
    int padded = (total + S_ALIGN - 1) / S_ALIGN * S_ALIGN;
    memset (header + len, ' ', padded - total);
    header[len + padded - total] = '\n';
    size_t header_len = (size_t) (len + padded - total + 1);
    unsigned char prefix[10] = {0x93,
                                'N',
                                'U',
                                'M',
                                'P',
                                'Y',
                                1,
                                0,
                                (unsigned char) (header_len & 0xff),
                                (unsigned char) (header_len >> 8)};
    int fd = s_create_temporary (dirfd, name, tmp, sizeof tmp);
    FILE *file = fd >= 0 ? fdopen (fd, "wb") : NULL;
    if (!file) {
        snprintf (err, err_size, "%s: %s", name, strerror (errno));
        if (fd >= 0) {
            close (fd);
            unlinkat (dirfd, tmp, 0);
        }
        return -1;
    }
    bool ok = fwrite (prefix, 1, sizeof prefix, file) == sizeof prefix &&
              fwrite (header, 1, header_len, file) == header_len &&
              fwrite (values, sizeof (double), count, file) == count;
    //  Durable before it replaces anything: the journal it ends is removed next.
    ok = ok && fflush (file) == 0 && fsync (fileno (file)) == 0;
    ok = (fclose (file) == 0) && ok;
    if (!ok || renameat (dirfd, tmp, dirfd, name) != 0) {
        snprintf (err, err_size, "%s: write failed: %s", name, strerror (errno));
        unlinkat (dirfd, tmp, 0);
        return -1;
    }
    if (dirfd != AT_FDCWD)
        fsync (dirfd); //  the rename, durable too
    return 0;
}

void dlb_npy_test (bool verbose)
{
    (void) verbose;
    char err[256], path[] = "/tmp/dlb_npy_test_XXXXXX";
    int fd = mkstemp (path);
    assert (fd >= 0);
    close (fd);
    char npy[64], raw[64];
    snprintf (npy, sizeof npy, "%s.npy", path);
    snprintf (raw, sizeof raw, "%s.f64", path);
    double v[5] = {1.5, -2, 3.25, 0, 1e300};
    assert (dlb_npy_save (AT_FDCWD, npy, v, 5, err, sizeof err) == 0);
    double *back = NULL;
    size_t count = 0;
    assert (dlb_npy_load (npy, &back, &count, err, sizeof err) == 0);
    assert (count == 5 && memcmp (back, v, sizeof v) == 0);
    free (back);
    //  The header is 64-byte aligned as numpy requires.
    FILE *f = fopen (npy, "rb");
    fseek (f, 0, SEEK_END);
    assert ((ftell (f) - 40) % 64 == 0);
    fclose (f);

    //  A link planted where a temporary file used to go (PATH.tmp) is never
    //  written through: the victim keeps its bytes.
    char planted[80];
    snprintf (planted, sizeof planted, "%s.tmp", npy);
    assert (symlink (path, planted) == 0);
    assert (dlb_npy_save (AT_FDCWD, npy, v, 5, err, sizeof err) == 0);
    struct stat st;
    assert (stat (path, &st) == 0 && st.st_size == 0); //  the victim, untouched
    unlink (planted);

    //  Raw float64, and its malformed forms.
    f = fopen (raw, "wb");
    fwrite (v, sizeof (double), 5, f);
    fclose (f);
    assert (dlb_npy_load (raw, &back, &count, err, sizeof err) == 0 && count == 5);
    free (back);
    f = fopen (raw, "ab");
    fputc ('x', f);
    fclose (f);
    assert (dlb_npy_load (raw, &back, &count, err, sizeof err) == -1);
    assert (strstr (err, "multiple of 8"));
    f = fopen (npy, "wb");
    fputs ("not numpy at all", f);
    fclose (f);
    assert (dlb_npy_load (npy, &back, &count, err, sizeof err) == -1);
    assert (strstr (err, "magic"));
    assert (dlb_npy_load ("/nonexistent/x.npy", &back, &count, err, sizeof err) == -1);

    //  What a file declares is checked against its length before anything
    //  is allocated: a header claiming 2^31 elements in a tiny file.
    assert (dlb_npy_save (AT_FDCWD, npy, v, 5, err, sizeof err) == 0);
    f = fopen (npy, "r+b");
    assert (f && fseek (f, 10, SEEK_SET) == 0);
    fputs ("{'descr': '<f8', 'fortran_order': False, 'shape': (2147483648,), }", f);
    fclose (f);
    assert (dlb_npy_load (npy, &back, &count, err, sizeof err) == -1);
    assert (strstr (err, "truncated data"));
    //  Over the caller's maximum: -2 with the count, nothing allocated.
    fd = open (raw, O_WRONLY | O_TRUNC);
    assert (fd >= 0 && write (fd, v, sizeof v) == sizeof v);
    close (fd);
    count = 0;
    assert (dlb_npy_read (open (raw, O_RDONLY), raw, 4, &back, &count, err, sizeof err) ==
                -2 &&
            count == 5);
    unlink (npy);
    unlink (raw);
    unlink (path);
}
