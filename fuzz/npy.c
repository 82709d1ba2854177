/*  fuzz_npy: a vector file through dlb_npy_load, the loader of submit's
    --input (a file on the node, named by a client). First input byte: odd
    = a .npy file (magic, version, header dict, data), even = raw float64.
    A load that succeeds must have read exactly the file's data.          */
#include "dlb_fuzz.h"
#include "dlb_npy.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool npy = data[0] & 1;
    const char *path =
        dlb_fuzz_file (npy ? "input.npy" : "input.f64", data + 1, size - 1);
    double *values = NULL;
    size_t count = 0;
    char err[DLB_TEXT_MAX + 128];
    if (dlb_npy_load (path, &values, &count, err, sizeof err) == 0) {
        assert (count >= 1 && count * sizeof (double) <= size - 1);
        const uint8_t *tail = data + size - count * sizeof (double);
        assert (memcmp (values, tail, count * sizeof (double)) == 0);
        free (values);
    }
    else
        assert (*err);
    return 0;
}
