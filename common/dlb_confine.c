/*  dlb_confine: paths confined to the node's data directory.             */
#include "dlb_confine.h"
#include "dlb_config.h"
#include "dlb_service.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  The one refusal of an option: says what may be named, and nothing
//  about what was.
static int s_refuse (const char *option, const char *what, char *err, size_t err_size)
{
    snprintf (err, err_size,
              "%s: no such %s in the node's data directory (paths are relative to it; "
              "none may lead outside it or into its %s)",
              option, what, DLB_STATE_SUBDIR);
    return -1;
}

//  True if the real path is the data directory or below it, and not in
//  its state directory.
static bool s_inside (const dlb_confine_t *self, const char *real)
{
    size_t len = self->root_len == 1 ? 0 : self->root_len; //  root "/"
    if (strncmp (real, self->root, len) != 0 || (real[len] && real[len] != '/'))
        return false;
    const char *rest = real + len;
    size_t state = strlen ("/" DLB_STATE_SUBDIR);
    return !(strncmp (rest, "/" DLB_STATE_SUBDIR, state) == 0 &&
             (rest[state] == 0 || rest[state] == '/'));
}

//  True if what fd refers to is inside: the kernel's own name for it,
//  whatever path led there.
static bool s_fd_inside (const dlb_confine_t *self, int fd)
{
    char link[64], real[PATH_MAX];
    snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink (link, real, sizeof real - 1);
    if (n < 0)
        return false;
    real[n] = 0;
    return s_inside (self, real);
}

//  The path as the node reads it: relative to the data directory unless
//  absolute. Returns 0, or -1 if empty or too long.
static int s_join (const dlb_confine_t *self, const char *path, char *buf, size_t size)
{
    int n = path[0] == '/' ? snprintf (buf, size, "%s", path)
                           : snprintf (buf, size, "%s/%s", self->root, path);
    return *path && n > 0 && (size_t) n < size ? 0 : -1;
}

int dlb_confine_init (dlb_confine_t *self, const char *dir)
{
    char real[PATH_MAX];
    if (!realpath (dir, real))
        return -1;
    snprintf (self->root, sizeof self->root, "%s", real);
    self->root_len = strlen (real);
    return 0;
}

int dlb_confine_open_read (const dlb_confine_t *self, const char *option,
                           const char *path, char *err, size_t err_size)
{
    char full[PATH_MAX], real[PATH_MAX];
    if (s_join (self, path, full, sizeof full) || !realpath (full, real) ||
        !s_inside (self, real))
        return s_refuse (option, "file", err, err_size);
    //  O_NONBLOCK: a FIFO must not hold the worker at open.
    int fd = open (real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && (errno == ELOOP || errno == ENOENT || errno == ENOTDIR))
        return s_refuse (option, "file", err, err_size); //  changed under us
    if (fd < 0) {
        snprintf (err, err_size, "%s '%s': %s", option, path, strerror (errno));
        return -1;
    }
    struct stat st;
    if (!s_fd_inside (self, fd) || fstat (fd, &st)) {
        close (fd);
        return s_refuse (option, "file", err, err_size);
    }
    const char *wrong = !S_ISREG (st.st_mode) ? "not a regular file"
                        : st.st_nlink > 1 ? "has other hard links (it could be a file "
                                            "outside the data directory)"
                                          : NULL;
    if (wrong) {
        snprintf (err, err_size, "%s '%s': %s", option, path, wrong);
        close (fd);
        return -1;
    }
    return fd;
}

int dlb_confine_open_dir (const dlb_confine_t *self, const char *option, const char *path,
                          char *name, size_t name_size, char *err, size_t err_size)
{
    char full[PATH_MAX], real[PATH_MAX];
    if (s_join (self, path, full, sizeof full))
        return s_refuse (option, "directory", err, err_size);
    char *slash = strrchr (full, '/');
    const char *base = slash + 1;
    if (!*base || streq (base, ".") || streq (base, "..") || strlen (base) >= name_size) {
        snprintf (err, err_size, "%s '%s': not a file name", option, path);
        return -1;
    }
    *slash = 0;
    if (!realpath (slash == full ? "/" : full, real) || !s_inside (self, real))
        return s_refuse (option, "directory", err, err_size);
    //  The file itself must not be the state directory either.
    char target[PATH_MAX];
    int n =
        snprintf (target, sizeof target, "%s/%s", streq (real, "/") ? "" : real, base);
    if (n < 0 || (size_t) n >= sizeof target || !s_inside (self, target))
        return s_refuse (option, "directory", err, err_size);
    int fd = open (real, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && (errno == ELOOP || errno == ENOENT || errno == ENOTDIR))
        return s_refuse (option, "directory", err, err_size); //  changed under us
    if (fd < 0) {
        snprintf (err, err_size, "%s '%s': its directory: %s", option, path,
                  strerror (errno));
        return -1;
    }
    if (!s_fd_inside (self, fd)) {
        close (fd);
        return s_refuse (option, "directory", err, err_size);
    }
    snprintf (name, name_size, "%s", base);
    return fd;
}

//  ---------------------------------------------------------------------
//  Self-test

//  Creates dir/name holding a few bytes.
static void s_touch (const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    assert (file);
    fputs ("12345678", file);
    fclose (file);
}

void dlb_confine_test (bool verbose)
{
    (void) verbose;
    char top[] = "/tmp/dlb_confine_test_XXXXXX";
    assert (mkdtemp (top));
    char data[PATH_MAX], outside[PATH_MAX], path[PATH_MAX], err[512], first[512];
    snprintf (data, sizeof data, "%s/data", top);
    snprintf (outside, sizeof outside, "%s/data2", top); //  shares a prefix
    assert (mkdir (data, 0700) == 0 && mkdir (outside, 0700) == 0);
    snprintf (path, sizeof path, "%s/sub", data);
    assert (mkdir (path, 0700) == 0);
    snprintf (path, sizeof path, "%s/%s", data, DLB_STATE_SUBDIR);
    assert (mkdir (path, 0700) == 0);
    s_touch (path, "journal");
    s_touch (data, "in.f64");
    s_touch (outside, "secret");
    snprintf (path, sizeof path, "%s/secret", outside);
    char alias[PATH_MAX];
    snprintf (alias, sizeof alias, "%s/out-link", data);
    assert (symlink (path, alias) == 0);
    snprintf (alias, sizeof alias, "%s/dangling", data);
    snprintf (path, sizeof path, "%s/missing", outside);
    assert (symlink (path, alias) == 0);
    snprintf (alias, sizeof alias, "%s/out-dir", data);
    assert (symlink (outside, alias) == 0);
    snprintf (alias, sizeof alias, "%s/in-link", data);
    assert (symlink ("sub/../in.f64", alias) == 0);

    dlb_confine_t confine;
    assert (dlb_confine_init (&confine, data) == 0);

    //  Inside: relative, absolute, through a link that stays inside.
    char absolute[PATH_MAX];
    snprintf (absolute, sizeof absolute, "%s/in.f64", data);
    const char *good[] = {"in.f64", "sub/../in.f64", "./in.f64", absolute, "in-link"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int fd = dlb_confine_open_read (&confine, "--input", good[i], err, sizeof err);
        assert (fd >= 0);
        close (fd);
    }

    //  Refused, all with the same text: outside existing and missing,
    //  '..', links leading out (to a file, dangling, to a directory), the
    //  state directory, and a missing file inside.
    char existing[PATH_MAX], missing[PATH_MAX];
    snprintf (existing, sizeof existing, "%s/secret", outside);
    snprintf (missing, sizeof missing, "%s/missing", outside);
    const char *bad[] = {existing,
                         missing,
                         "../data2/secret",
                         "../data2/missing",
                         "out-link",
                         "dangling",
                         "out-dir/secret",
                         DLB_STATE_SUBDIR "/journal",
                         "sub/../" DLB_STATE_SUBDIR "/journal",
                         "no-such-file",
                         "/etc/passwd",
                         ""};
    assert (dlb_confine_open_read (&confine, "--input", bad[0], first, sizeof first) ==
            -1);
    assert (strstr (first, "--input: no such file in the node's data directory"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert (dlb_confine_open_read (&confine, "--input", bad[i], err, sizeof err) ==
                -1);
        assert (streq (err, first));
    }

    //  Outputs: the directory opened, the name returned; refused alike.
    char name[256];
    int dir = dlb_confine_open_dir (&confine, "--output", "sub/out.npy", name,
                                    sizeof name, err, sizeof err);
    assert (dir >= 0 && streq (name, "out.npy"));
    close (dir);
    dir = dlb_confine_open_dir (&confine, "--output", "out-link", name, sizeof name, err,
                                sizeof err);
    assert (dir >= 0); //  the link is replaced by a rename, never written through
    close (dir);
    const char *bad_out[] = {existing,
                             missing,
                             "../data2/x.npy",
                             "out-dir/x.npy",
                             "no-such-dir/x.npy",
                             DLB_STATE_SUBDIR,
                             DLB_STATE_SUBDIR "/x.npy",
                             "/tmp/x.npy"};
    assert (dlb_confine_open_dir (&confine, "--output", bad_out[0], name, sizeof name,
                                  first, sizeof first) == -1);
    for (size_t i = 0; i < sizeof bad_out / sizeof bad_out[0]; i++) {
        assert (dlb_confine_open_dir (&confine, "--output", bad_out[i], name, sizeof name,
                                      err, sizeof err) == -1);
        assert (streq (err, first));
    }
    assert (dlb_confine_open_dir (&confine, "--output", "sub/", name, sizeof name, err,
                                  sizeof err) == -1 &&
            strstr (err, "not a file name"));

    //  In the data directory, errors say what is wrong.
    assert (dlb_confine_open_read (&confine, "--input", "sub", err, sizeof err) == -1);
    assert (strstr (err, "'sub': not a regular file"));
    snprintf (path, sizeof path, "%s/in.f64", data);
    snprintf (alias, sizeof alias, "%s/hard", data);
    assert (link (path, alias) == 0);
    assert (dlb_confine_open_read (&confine, "--input", "hard", err, sizeof err) == -1);
    assert (strstr (err, "hard links"));

    //  The data directory "/" confines nothing but the state directory.
    assert (dlb_confine_init (&confine, "/") == 0);
    int fd = dlb_confine_open_read (&confine, "--input", existing, err, sizeof err);
    assert (fd >= 0);
    close (fd);

    assert (dlb_service_remove_tree (top) == 0);
}
