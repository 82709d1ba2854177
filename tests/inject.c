/*  dlb_inject: sends bad input to a node's peer-facing endpoint, for tests.
    Usage: dlb_inject ENDPOINT
    Connects a PUSH socket and sends, in turn: garbage, an empty frame, a
    two-frame message, a header with a wrong version, a truncated JOBS, a
    JOBS with a payload that does not inflate, and an ACK from a stranger.
    Exits 0 once all were handed to ZeroMQ (delivery needs no answer).    */
#include "dlb_proto.h"

#include <czmq.h>

int main (int argc, char *argv[])
{
    if (argc == 2 && (streq (argv[1], "--help") || streq (argv[1], "-h"))) {
        printf ("usage: dlb_inject ENDPOINT\n"
                "Sends bad input (garbage, bad versions, truncated and corrupt batches)\n"
                "to a dlb node's peer-facing endpoint, for tests.\n");
        return 0;
    }
    if (argc != 2) {
        fprintf (stderr, "usage: dlb_inject ENDPOINT\n");
        return 2;
    }
    zsock_t *push = zsock_new_push (argv[1]);
    if (!push) {
        fprintf (stderr, "dlb_inject: cannot connect to %s\n", argv[1]);
        return 1;
    }
    zsock_set_linger (push, 2000);
    zstr_send (push, "this is not a dlb message");
    zframe_t *empty = zframe_new_empty ();
    zframe_send (&empty, push, 0);
    zsock_send (push, "ss", "two", "frames");
    unsigned char wrong_version[] = {DLB_PROTO_SIG0, DLB_PROTO_SIG1, 99, DLB_MSG_JOBS,
                                     0x80};
    zframe_t *frame = zframe_new (wrong_version, sizeof wrong_version);
    zframe_send (&frame, push, 0);

    //  A real JOBS batch, truncated; then one whose payload is corrupt.
    dlb_job_t *job = dlb_job_new (1024);
    snprintf (job->workload, DLB_NAME_MAX, "bogus");
    snprintf (job->origin, DLB_NAME_MAX, "b");
    job->reps = 1;
    dlb_writer_t w;
    dlb_batch_stats_t stats;
    dlb_writer_init (&w, DLB_MSG_JOBS);
    dlb_batch_encode (&w, DLB_MSG_JOBS, "b", "a", 1, &job, 1, &stats);
    frame = dlb_writer_frame (&w);
    zframe_t *truncated = zframe_new (zframe_data (frame), zframe_size (frame) / 2);
    zframe_send (&truncated, push, 0);
    zframe_data (frame)[zframe_size (frame) - 3] ^= 0xff; //  inside the zlib stream
    zframe_send (&frame, push, 0);
    dlb_job_destroy (&job);

    dlb_writer_init (&w, DLB_MSG_ACK);
    msgpack_pack_map (&w.pk, 2);
    dlb_writer_str (&w, "from", "mallory");
    dlb_writer_u64 (&w, "batch", 1);
    dlb_writer_send (&w, push);
    zsock_destroy (&push);
    return 0;
}
