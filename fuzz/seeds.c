/*  dlb_fuzz_seeds: writes the seed corpus of every harness, a handful of
    valid inputs each, made with the production encoders: fuzz/corpus/ is
    its output (scripts/fuzz.sh --seeds runs it again).
    Usage: dlb_fuzz_seeds DIR   writes DIR/HARNESS/NAME                    */
#include "dlb_command.h"
#include "dlb_eventring.h"
#include "dlb_status.h"
#include "dlb_confine.h"
#include "dlb_fuzz.h"
#include "dlb_journal.h"
#include "dlb_kernel.h"
#include "dlb_npy.h"
#include "dlb_workload.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_ELEMS 16 //  float64 elements of a seed job

static const char *s_top;

//  Writes DIR/harness/name: the prefix byte (unless negative), then data.
static void s_seed (const char *harness, const char *name, int prefix, const void *data,
                    size_t size)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/%s", s_top, harness);
    if (mkdir (path, 0755) && errno != EEXIST) {
        perror (path);
        exit (1);
    }
    snprintf (path, sizeof path, "%s/%s/%s", s_top, harness, name);
    FILE *file = fopen (path, "wb");
    assert (file);
    if (prefix >= 0)
        fputc (prefix, file);
    assert (fwrite (data, 1, size, file) == size);
    assert (fclose (file) == 0);
}

//  Reads a whole file into a new buffer (caller frees).
static uint8_t *s_slurp (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    assert (file);
    fseek (file, 0, SEEK_END);
    *size = (size_t) ftell (file);
    rewind (file);
    uint8_t *data = malloc (*size ? *size : 1);
    assert (data && fread (data, 1, *size, file) == *size);
    fclose (file);
    return data;
}

//  A message for the frame harness, and its body (without the header,
//  after the prefix byte) for the harness of its own decoder, if any.
static void s_message (dlb_writer_t *w, const char *name, const char *harness, int prefix)
{
    s_seed ("frame", name, -1, w->buffer.data, w->buffer.size);
    if (harness)
        s_seed (harness, name, prefix, w->buffer.data + DLB_PROTO_HEADER,
                w->buffer.size - DLB_PROTO_HEADER);
    dlb_writer_destroy (w);
}

static void s_batches (void)
{
    dlb_job_t *jobs[2];
    for (int j = 0; j < 2; j++) {
        jobs[j] = dlb_job_new (S_ELEMS);
        snprintf (jobs[j]->workload, DLB_NAME_MAX, "a-1000");
        snprintf (jobs[j]->origin, DLB_NAME_MAX, "a");
        snprintf (jobs[j]->ran_on, DLB_NAME_MAX, "b");
        jobs[j]->id = (uint64_t) j;
        jobs[j]->reps = 100;
        jobs[j]->offset = (uint64_t) j * S_ELEMS;
        for (int i = 0; i < S_ELEMS; i++) //  job 0 compresses, job 1 does not
            jobs[j]->data[i] = j ? 1.0 / (i + 3) : 1.111111;
        jobs[j]->crc = dlb_job_crc (jobs[j]);
    }
    dlb_batch_stats_t stats;
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_JOBS);
    dlb_batch_encode (&w, DLB_MSG_JOBS, "a", "b", 7, jobs, 2, &stats);
    s_message (&w, "jobs", "batch", 0);
    dlb_writer_init (&w, DLB_MSG_RESULTS);
    dlb_batch_encode (&w, DLB_MSG_RESULTS, "b", "a", 8, jobs, 2, &stats);
    s_message (&w, "results", "batch", 1);
    dlb_writer_init (&w, DLB_MSG_JOBS);
    dlb_batch_encode (&w, DLB_MSG_JOBS, "a", "b", 9, jobs, 0, &stats);
    s_message (&w, "jobs-empty", "batch", 0);
    for (int j = 0; j < 2; j++)
        dlb_job_destroy (&jobs[j]);
}

static void s_state (void)
{
    //  The required fields, some optional ones, two peers' counts.
    dlb_state_t state = {
        .node = "a", .seq = 5, .time = 1.7e9, .queue = 100, .throttle = 0.5};
    snprintf (state.transfer, sizeof state.transfer, "tcp://127.0.0.1:7102");
    snprintf (state.policy, sizeof state.policy, "receiver");
    state.rate = 45.5;
    state.boot = 1700000000000000;
    state.peers_known = 2;
    snprintf (state.recv_from[0].node, DLB_NAME_MAX, "b");
    state.recv_from[0].jobs = 2;
    snprintf (state.recv_from[1].node, DLB_NAME_MAX, "c");
    state.recv_from[1].jobs = 7;
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_STATE);
    dlb_state_pack (&w, &state, false);
    s_message (&w, "state", "state", -1);
    //  The state service's STATUS: its local state and its peers.
    dlb_writer_init (&w, DLB_MSG_STATUS);
    msgpack_pack_map (&w.pk, 4);
    dlb_writer_str (&w, "service", "state");
    dlb_writer_str (&w, "node", "a");
    dlb_writer_key (&w, "local");
    dlb_state_pack (&w, &state, true);
    dlb_writer_key (&w, "peers");
    msgpack_pack_array (&w.pk, 1);
    dlb_state_pack (&w, &state, true);
    s_message (&w, "status-state", NULL, -1);
}

static void s_commands (void)
{
    dlb_writer_t w;
    dlb_command_start (&w, "status", 0);
    s_message (&w, "status", "command", -1);
    dlb_command_start (&w, "throttle", 1);
    dlb_writer_double (&w, "value", 0.5);
    s_message (&w, "throttle", "command", -1);
    dlb_command_start (&w, "policy", 2);
    dlb_writer_str (&w, "name", "symmetric");
    dlb_writer_u64 (&w, "req", 3);
    s_message (&w, "policy", "command", -1);
    dlb_command_start (&w, "submit", 4);
    dlb_writer_u64 (&w, "elements", 65536);
    dlb_writer_u64 (&w, "jobs", 64);
    dlb_writer_u64 (&w, "reps", 1000);
    dlb_writer_str (&w, "output", "/tmp/out.npy");
    s_message (&w, "submit", "command", -1);
    dlb_command_start (&w, "submit", 2);
    dlb_writer_str (&w, "input", "/tmp/in.npy");
    dlb_writer_str (&w, "output", "/tmp/out.npy");
    s_message (&w, "submit-input", "command", -1);
    dlb_command_start (&w, "events", 2);
    dlb_writer_u64 (&w, "since", 12);
    dlb_writer_u64 (&w, "max", 100);
    s_message (&w, "events", "command", -1);
    dlb_command_start (&w, "cancel", 1);
    dlb_writer_str (&w, "id", "a-12001");
    s_message (&w, "cancel", "command", -1);
}

//  An event as a service publishes it, and the answer to `events`.
static void s_events (void)
{
    dlb_event_t event;
    dlb_event_set (&event, "a", "adaptor", "moved", "a-12001", "b", 33,
                   "symmetric: send 33 jobs to b: eta 1.1 s vs 0 s");
    event.value = 0.5;
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_EVENT);
    dlb_event_pack (&w, &event);
    s_message (&w, "event", "event", -1);
    dlb_eventring_t *ring = dlb_eventring_new (4);
    for (int i = 0; i < 6; i++)
        dlb_eventring_add (ring, &event);
    dlb_writer_init (&w, DLB_MSG_REPLY);
    dlb_eventring_reply (ring, &w, "a", 0, 10);
    s_message (&w, "events-reply", "event", -1);
    dlb_eventring_destroy (&ring);
    //  A status reply's nodes (dlb_status), read by the same harness.
    dlb_status_node_t node = {.node = "a",
                              .local = true,
                              .queue = 3,
                              .rate = 70,
                              .throttle = 1,
                              .policy = "symmetric",
                              .peer_count = 1,
                              .peers = {"b"}};
    dlb_writer_init (&w, DLB_MSG_REPLY);
    msgpack_pack_map (&w.pk, 2);
    dlb_writer_bool (&w, "ok", true);
    dlb_writer_key (&w, "nodes");
    msgpack_pack_array (&w.pk, 2);
    dlb_status_node_pack (&w, &node);
    node = (dlb_status_node_t){.node = "b", .stale = true, .age = 4.5, .policy = "?"};
    dlb_status_node_pack (&w, &node);
    s_message (&w, "status-reply", "event", -1);
}

//  The other types, field by field as proto/README.md lists them.
static void s_others (void)
{
    dlb_writer_t w;
    dlb_writer_init (&w, DLB_MSG_ACK);
    msgpack_pack_map (&w.pk, 4);
    dlb_writer_str (&w, "from", "b");
    dlb_writer_str (&w, "to", "a");
    dlb_writer_u64 (&w, "batch", 7);
    dlb_writer_u64 (&w, "count", 2);
    s_message (&w, "ack", NULL, -1);
    dlb_writer_init (&w, DLB_MSG_STEAL);
    msgpack_pack_map (&w.pk, 7);
    dlb_writer_str (&w, "from", "b");
    dlb_writer_str (&w, "to", "a");
    dlb_writer_u64 (&w, "want", 10);
    dlb_writer_u64 (&w, "queue", 0);
    dlb_writer_u64 (&w, "running", 1);
    dlb_writer_double (&w, "rate", 70.5);
    dlb_writer_u64 (&w, "received", 3);
    s_message (&w, "steal", NULL, -1);
    dlb_writer_init (&w, DLB_MSG_HOLD);
    msgpack_pack_map (&w.pk, 3);
    dlb_writer_str (&w, "from", "b");
    dlb_writer_str (&w, "to", "a");
    dlb_writer_key (&w, "held");
    msgpack_pack_map (&w.pk, 1);
    dlb_writer_string (&w, "a-1000");
    msgpack_pack_array (&w.pk, 4);
    uint64_t ranges[] = {0, 4, 10, 12};
    for (int i = 0; i < 4; i++)
        msgpack_pack_uint64 (&w.pk, ranges[i]);
    s_message (&w, "hold", NULL, -1);
    dlb_writer_init (&w, DLB_MSG_TAKE);
    msgpack_pack_map (&w.pk, 3);
    dlb_writer_str (&w, "to", "b");
    dlb_writer_u64 (&w, "count", 12);
    dlb_writer_str (&w, "why", "eta a 3.1 s, b 0.2 s");
    s_message (&w, "take", NULL, -1);
    dlb_writer_init (&w, DLB_MSG_REPLY);
    msgpack_pack_map (&w.pk, 5);
    dlb_writer_u64 (&w, "req", 3);
    dlb_writer_u64 (&w, "boot", 1796075704775829);
    dlb_writer_u64 (&w, "status_seq", 12);
    dlb_writer_bool (&w, "ok", false);
    dlb_writer_str (&w, "error", "bad sizes");
    s_message (&w, "reply", NULL, -1);
    //  A worker's STATUS, with its per-peer counts and a workload.
    dlb_writer_init (&w, DLB_MSG_STATUS);
    msgpack_pack_map (&w.pk, 6);
    dlb_writer_str (&w, "service", "worker");
    dlb_writer_str (&w, "node", "a");
    dlb_writer_u64 (&w, "queue", 5);
    dlb_writer_double (&w, "cpu_s", 1.25);
    dlb_writer_key (&w, "sent_to");
    msgpack_pack_map (&w.pk, 1);
    dlb_writer_u64 (&w, "b", 4);
    dlb_writer_key (&w, "workloads");
    msgpack_pack_array (&w.pk, 1);
    msgpack_pack_map (&w.pk, 3);
    dlb_writer_str (&w, "id", "a-1000");
    dlb_writer_u64 (&w, "completed", 3);
    dlb_writer_key (&w, "ran");
    msgpack_pack_map (&w.pk, 1);
    dlb_writer_u64 (&w, "a", 3);
    s_message (&w, "status-worker", NULL, -1);
}

static void s_vectors (const char *dir)
{
    double values[5] = {1.5, -2, 3.25, 0, 1e300};
    char path[512], err[256];
    snprintf (path, sizeof path, "%s/v.npy", dir);
    assert (dlb_npy_save (AT_FDCWD, path, values, 5, err, sizeof err) == 0);
    size_t size;
    uint8_t *data = s_slurp (path, &size);
    s_seed ("npy", "npy", 1, data, size);
    free (data);
    s_seed ("npy", "raw", 0, values, sizeof values);
}

static void s_traces (void)
{
    //  Prefix: format (auto 0, planetlab 1, google 2, bitbrains 3, csv 4),
    //  +8 skip_bad, +16 csv column "cpu".
    const char *planetlab = "12\n0\n100\n57\n";
    const char *google = "0.5 0.25\n12\t1.6E1\n";
    const char *bitbrains =
        "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\t"
        "CPU usage [MHZ];\tCPU usage [%];\tMemory usage [KB]\n"
        "1376314846;\t4;\t11703.99;\t10.4;\t0.08;\t2096\n"
        "1376315146;\t4;\t11703.99;\t5200;\t104.4;\t2096\r\n";
    const char *csv = "time,cpu_total,cpu\n0,12.5,3\n1,x,4\n2,99,100\n";
    s_seed ("trace", "planetlab", 1, planetlab, strlen (planetlab));
    s_seed ("trace", "google-auto", 0, google, strlen (google));
    s_seed ("trace", "bitbrains", 3, bitbrains, strlen (bitbrains));
    s_seed ("trace", "csv-skip-column", 4 + 8 + 16, csv, strlen (csv));
}

//  A workload's journal: its description, two results, a hand-over; then
//  its end record. Both kept for fuzz_workload, the journal also for
//  fuzz_journal.
static void s_journals (const char *dir)
{
    char err[256], path[512], output[512];
    snprintf (output, sizeof output, "%s/out.npy", dir);
    double *input = NULL;
    dlb_workload_t *wl =
        dlb_workload_new (dir, "a-1000", 64, 4, 10, output, &input, err, sizeof err);
    assert (wl);
    for (uint64_t j = 0; j < 2; j++) {
        dlb_job_t *job = dlb_workload_job (wl, j, "a");
        dlb_kernel_apply (job->data, job->elems, job->reps);
        snprintf (job->ran_on, DLB_NAME_MAX, "a");
        assert (dlb_workload_store (wl, job, NULL, err, sizeof err) == 1);
        dlb_job_destroy (&job);
    }
    uint64_t given[] = {2, 3};
    dlb_workload_give (wl, "b", given, 2, 0);
    snprintf (path, sizeof path, "%s/a-1000.wal", dir);
    size_t size;
    uint8_t *data = s_slurp (path, &size);
    s_seed ("journal", "workload", 1, data, size); //  1, 2: sealed (see the harness)
    s_seed ("workload", "wal", 2, data, size);
    free (data);
    for (uint64_t j = 2; j < 4; j++) {
        dlb_job_t *job = dlb_workload_job (wl, j, "a");
        dlb_kernel_apply (job->data, job->elems, job->reps);
        snprintf (job->ran_on, DLB_NAME_MAX, "b");
        assert (dlb_workload_store (wl, job, "b", err, sizeof err) == 1);
        dlb_job_destroy (&job);
    }
    dlb_confine_t confine;
    assert (dlb_confine_init (&confine, dir) == 0);
    dlb_workload_finish (wl, &confine);
    dlb_workload_destroy (&wl);
    snprintf (path, sizeof path, "%s/a-1000.done", dir);
    data = s_slurp (path, &size);
    s_seed ("workload", "done", 1, data, size);
    free (data);
    unlink (path);
    unlink (output);
    //  Plain records of every size class, for the journal alone.
    snprintf (path, sizeof path, "%s/plain.wal", dir);
    dlb_journal_t *journal = dlb_journal_open (path);
    assert (journal);
    assert (dlb_journal_append (journal, 'E', NULL, 0) == 0);
    assert (dlb_journal_append (journal, 'R', "0123456789abcdef", 16) == 0);
    dlb_journal_destroy (&journal);
    data = s_slurp (path, &size);
    s_seed ("journal", "plain", 1, data, size);
    s_seed ("journal", "plain-torn", 0, data, size - 3);
    free (data);
    unlink (path);
}

int main (int argc, char *argv[])
{
    if (argc != 2) {
        fprintf (stderr, "usage: dlb_fuzz_seeds DIR\n");
        return 2;
    }
    s_top = argv[1];
    if (mkdir (s_top, 0755) && errno != EEXIST) {
        perror (s_top);
        return 1;
    }
    dlb_fuzz_quiet ();
    const char *dir = dlb_fuzz_dir ();
    s_batches ();
    s_state ();
    s_commands ();
    s_events ();
    s_others ();
    s_vectors (dir);
    s_traces ();
    s_journals (dir);
    return 0;
}
