/*  dlb_fuzz: helpers of the harnesses (see dlb_fuzz.h).                  */
#include "dlb_fuzz.h"
#include "dlb_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define S_RECORD_HEADER  5 //  bytes: size (u32 LE), type
#define S_RECORD_TRAILER 4 //  bytes: crc (u32 LE)

static char s_dir[256];
static char s_path[512];

void dlb_fuzz_quiet (void)
{
    dlb_log_set_level (DLB_LOG_ERROR);
}

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    dlb_fuzz_quiet ();
    return 0;
}

//  Removes what dlb_fuzz_file left. Cannot fail.
static void s_cleanup (void)
{
    char command[600];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    if (system (command) != 0)
        fprintf (stderr, "dlb_fuzz: could not remove %s\n", s_dir);
}

const char *dlb_fuzz_dir (void)
{
    if (!*s_dir) {
        const char *tmp = getenv ("TMPDIR");
        snprintf (s_dir, sizeof s_dir, "%s/dlb_fuzz_XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp (s_dir)) {
            perror ("dlb_fuzz: mkdtemp");
            abort ();
        }
        atexit (s_cleanup);
    }
    return s_dir;
}

const char *dlb_fuzz_file (const char *name, const void *data, size_t size)
{
    snprintf (s_path, sizeof s_path, "%s/%s", dlb_fuzz_dir (), name);
    FILE *file = fopen (s_path, "wb");
    if (!file || (size && fwrite (data, 1, size, file) != size) || fclose (file) != 0) {
        perror (s_path);
        abort ();
    }
    return s_path;
}

int dlb_fuzz_msg (int type, const uint8_t *data, size_t size, dlb_msg_t *msg)
{
    zframe_t *frame = zframe_new (NULL, DLB_PROTO_HEADER + size);
    uint8_t *bytes = zframe_data (frame);
    bytes[0] = DLB_PROTO_SIG0;
    bytes[1] = DLB_PROTO_SIG1;
    bytes[2] = DLB_PROTO_VERSION;
    bytes[3] = (uint8_t) type;
    if (size)
        memcpy (bytes + DLB_PROTO_HEADER, data, size);
    char reason[DLB_FUZZ_REASON];
    int rc = dlb_msg_decode (bytes, zframe_size (frame), msg, reason, sizeof reason);
    if (rc)
        zframe_destroy (&frame);
    else
        msg->frame = frame;
    return rc;
}

//  Rewrites the CRC of every whole record of a journal image. Cannot fail.
static void s_seal (uint8_t *data, size_t size)
{
    size_t at = 0;
    while (size - at >= S_RECORD_HEADER) {
        uint32_t length = (uint32_t) data[at] | (uint32_t) data[at + 1] << 8 |
                          (uint32_t) data[at + 2] << 16 | (uint32_t) data[at + 3] << 24;
        if ((uint64_t) length + S_RECORD_HEADER + S_RECORD_TRAILER > size - at)
            return;
        uLong crc = crc32 (0, data + at + 4, 1 + length);
        uint8_t *trailer = data + at + S_RECORD_HEADER + length;
        for (int i = 0; i < 4; i++)
            trailer[i] = (uint8_t) (crc >> (8 * i));
        at += S_RECORD_HEADER + length + S_RECORD_TRAILER;
    }
}

const char *dlb_fuzz_journal (const char *name, const uint8_t *data, size_t size,
                              bool seal)
{
    uint8_t *image = malloc (size ? size : 1);
    if (!image)
        abort ();
    if (size)
        memcpy (image, data, size);
    if (seal)
        s_seal (image, size);
    const char *path = dlb_fuzz_file (name, image, size);
    free (image);
    return path;
}
