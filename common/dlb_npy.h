/*  dlb_npy: reads and writes float64 vectors as .npy (numpy format 1.0,
    '<f8', one dimension, C order) or as raw little-endian float64.      */
#ifndef DLB_NPY_H_INCLUDED
#define DLB_NPY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define DLB_NPY_MAX_ELEMS ((size_t) 1 << 31) //  refuse vectors larger than 16 GiB

//  Loads a vector. Files ending in .npy are parsed as numpy files (only
//  1-D '<f8' C-order arrays are accepted); anything else is raw float64,
//  whose size must be a multiple of 8. Returns 0 with a malloc'd array the
//  caller frees, or -1 with a reason in err (nothing allocated).
int dlb_npy_load (const char *path, double **values, size_t *count, char *err,
                  size_t err_size);

//  Writes a vector as .npy, atomically: to a new file PATH.XXXXXX (made
//  with O_EXCL, so never through a planted link), synced, then renamed.
//  Returns 0, or -1 with a reason in err (no file left behind).
int dlb_npy_save (const char *path, const double *values, size_t count, char *err,
                  size_t err_size);

void dlb_npy_test (bool verbose);

#endif
