/*  dlb_npy: float64 vectors in numpy's .npy format or raw little-endian. */
#include "dlb_npy.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MAGIC     "\x93NUMPY"
#define S_MAGIC_LEN 6
#define S_ALIGN     64 //  bytes, numpy pads the header to this

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

int dlb_npy_load (const char *path, double **values_p, size_t *count_p, char *err,
                  size_t err_size)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        snprintf (err, err_size, "%s: %s", path, strerror (errno));
        return -1;
    }
    int rc = -1;
    double *values = NULL;
    long long count;
    if (s_ends_with (path, ".npy")) {
        unsigned char prefix[10];
        if (fread (prefix, 1, sizeof prefix, file) != sizeof prefix ||
            memcmp (prefix, S_MAGIC, S_MAGIC_LEN) != 0) {
            snprintf (err, err_size, "%s: not an .npy file (bad magic)", path);
            goto done;
        }
        if (prefix[6] != 1) {
            snprintf (err, err_size, "%s: .npy version %d.%d not supported (1.0 only)",
                      path, prefix[6], prefix[7]);
            goto done;
        }
        size_t header_len = prefix[8] | (size_t) prefix[9] << 8;
        char header[65536];
        if (fread (header, 1, header_len, file) != header_len) {
            snprintf (err, err_size, "%s: truncated .npy header", path);
            goto done;
        }
        header[header_len] = 0;
        count = s_parse_header (header, err, err_size, path);
        if (count < 0)
            goto done;
    }
    else {
        if (fseek (file, 0, SEEK_END) != 0) {
            snprintf (err, err_size, "%s: cannot seek: %s", path, strerror (errno));
            goto done;
        }
        long size = ftell (file);
        if (size < 0 || size % 8 != 0) {
            snprintf (err, err_size,
                      "%s: raw float64 file size %ld is not a multiple of 8", path, size);
            goto done;
        }
        count = size / 8;
        rewind (file);
    }
    if (count == 0 || (size_t) count > DLB_NPY_MAX_ELEMS) {
        snprintf (err, err_size, "%s: %lld elements (need 1..%zu)", path, count,
                  DLB_NPY_MAX_ELEMS);
        goto done;
    }
    //  The file must hold the data before it is allocated: a header of a
    //  hundred bytes may declare 2^31 elements.
    struct stat st;
    long data_at = ftell (file);
    if (fstat (fileno (file), &st) != 0 || data_at < 0 ||
        (uint64_t) (st.st_size - data_at) < (uint64_t) count * sizeof (double)) {
        snprintf (err, err_size, "%s: truncated data (expected %lld float64)", path,
                  count);
        goto done;
    }
    values = malloc ((size_t) count * sizeof (double));
    if (!values) {
        snprintf (err, err_size, "%s: out of memory for %lld elements", path, count);
        goto done;
    }
    if (fread (values, sizeof (double), (size_t) count, file) != (size_t) count) {
        snprintf (err, err_size, "%s: truncated data (expected %lld float64)", path,
                  count);
        goto done;
    }
    if (fgetc (file) != EOF) {
        snprintf (err, err_size, "%s: trailing bytes after %lld float64", path, count);
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

int dlb_npy_save (const char *path, const double *values, size_t count, char *err,
                  size_t err_size)
{
    char tmp[4096];
    if ((size_t) snprintf (tmp, sizeof tmp, "%s.XXXXXX", path) >= sizeof tmp) {
        snprintf (err, err_size, "%s: path too long", path);
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
    //  A new file of our own (O_EXCL: never through a link planted there),
    //  readable as fopen would have made it.
    int fd = mkstemp (tmp);
    mode_t mask = umask (0);
    umask (mask);
    FILE *file = fd >= 0 && fchmod (fd, 0666 & ~mask) == 0 ? fdopen (fd, "wb") : NULL;
    if (!file) {
        snprintf (err, err_size, "%s: %s", path, strerror (errno));
        if (fd >= 0) {
            close (fd);
            unlink (tmp);
        }
        return -1;
    }
    bool ok = fwrite (prefix, 1, sizeof prefix, file) == sizeof prefix &&
              fwrite (header, 1, header_len, file) == header_len &&
              fwrite (values, sizeof (double), count, file) == count;
    //  Durable before it replaces anything: the journal it ends is removed next.
    ok = ok && fflush (file) == 0 && fsync (fileno (file)) == 0;
    ok = (fclose (file) == 0) && ok;
    if (!ok || rename (tmp, path) != 0) {
        snprintf (err, err_size, "%s: write failed: %s", path, strerror (errno));
        unlink (tmp);
        return -1;
    }
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
    assert (dlb_npy_save (npy, v, 5, err, sizeof err) == 0);
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
    assert (dlb_npy_save (npy, v, 5, err, sizeof err) == 0);
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
    //  A short file whose header declares a billion elements is refused
    //  before anything is allocated (found by fuzz_npy: it allocated 8 GB).
    assert (dlb_npy_save (npy, v, 5, err, sizeof err) == 0);
    f = fopen (npy, "r+b");
    fseek (f, 10, SEEK_SET);
    fputs ("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000,), }", f);
    fclose (f);
    assert (dlb_npy_load (npy, &back, &count, err, sizeof err) == -1);
    assert (strstr (err, "truncated data"));
    unlink (npy);
    unlink (raw);
    unlink (path);
}
