/*  dlb_confine: the files a request may name are in the node's data
    directory (--data-dir), and nowhere else.

    A path in a request is relative to the data directory; an absolute
    path is accepted only if it leads there. What a path names is found
    by the kernel (realpath: every symlink, '..' and '.' resolved) and
    must then be the data directory or below it (a '/' boundary, so
    /data2 is not in /data) and not in its DLB_STATE_SUBDIR (.dlb: the
    nodes' journals, runtime settings and keys).

    What is refused is refused with one text per option, the same
    whether the place named exists or not, so that a request learns
    nothing about files outside the data directory (nor whether a name
    inside it is missing or a link leading out). Only about a file that
    is in the data directory do errors say more (permissions, format).

    Time of check to time of use. The file (input) or directory (output)
    is opened, and the path of what was opened is read back from
    /proc/self/fd and checked again: a link swapped in between the check
    and the open is caught, and an output is then created and renamed
    relative to that open directory, never through a path again. What
    remains: a directory that someone moves out of the data directory
    after this check is written into where it now is (only someone who
    can write in the data directory can do that), and a hard link in the
    data directory to a file elsewhere cannot be told from a file of its
    own, so inputs with more than one link are refused.                 */
#ifndef DLB_CONFINE_H_INCLUDED
#define DLB_CONFINE_H_INCLUDED

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char root[PATH_MAX]; //  real path of the data directory
    size_t root_len;
} dlb_confine_t;

//  Confines to the directory dir, which must exist. Returns 0, or -1
//  with errno set (self unchanged).
int dlb_confine_init (dlb_confine_t *self, const char *dir);

//  Opens the regular file path (for option, e.g. "--input") to read.
//  Returns the file descriptor (caller closes), or -1 with the reason in
//  err: the option's one refusal text, or, for a file in the data
//  directory, what is wrong with it.
int dlb_confine_open_read (const dlb_confine_t *self, const char *option,
                           const char *path, char *err, size_t err_size);

//  Opens the directory that is to hold the file path (for option), which
//  may not exist yet, and writes the file's name in it to name. Returns
//  the directory's descriptor (caller closes), or -1 with the reason in
//  err as for dlb_confine_open_read.
int dlb_confine_open_dir (const dlb_confine_t *self, const char *option, const char *path,
                          char *name, size_t name_size, char *err, size_t err_size);

void dlb_confine_test (bool verbose);

#endif
