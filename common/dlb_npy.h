/*  dlb_npy: reads and writes float64 vectors as .npy (numpy format 1.0,
    '<f8', one dimension, C order) or as raw little-endian float64.      */
#ifndef DLB_NPY_H_INCLUDED
#define DLB_NPY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define DLB_NPY_MAX_ELEMS ((size_t) 1 << 31) //  refuse vectors larger than 16 GiB

//  Reads a vector from fd, which it takes (closes). name decides the
//  format and is used in messages: a name ending in .npy is parsed as a
//  numpy file (only 1-D '<f8' C-order arrays are accepted); anything else
//  is raw float64, whose size must be a multiple of 8. The size the file
//  declares is checked against its length and against max before
//  anything is allocated. Returns 0 with a malloc'd array the caller
//  frees; -2 if the file holds more than max elements (their number in
//  *count, nothing allocated); -1 with a reason in err (nothing allocated).
int dlb_npy_read (int fd, const char *name, size_t max, double **values, size_t *count,
                  char *err, size_t err_size);

//  dlb_npy_read of the file at path, up to DLB_NPY_MAX_ELEMS elements.
int dlb_npy_load (const char *path, double **values, size_t *count, char *err,
                  size_t err_size);

//  Writes a vector as .npy to the file name in the directory dirfd (or
//  AT_FDCWD), atomically: to a new file NAME.XXXXXX there (O_EXCL, so never
//  through a planted link), synced, then renamed over name, which is
//  replaced even if it is a link. Returns 0, or -1 with a reason in err
//  (no file left behind).
int dlb_npy_save (int dirfd, const char *name, const double *values, size_t count,
                  char *err, size_t err_size);

void dlb_npy_test (bool verbose);

#endif
