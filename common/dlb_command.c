/*  dlb_command: control commands decoded and checked (see dlb_command.h). */
#include "dlb_command.h"
#include "dlb_kernel.h"
#include "dlb_npy.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const char *s_names[] = {"status", "throttle", "policy",
                                "submit", "events",   "cancel"};

//  Reads a submit's fields; 0, or -2 with the error.
static int s_submit_decode (const msgpack_object *body, dlb_command_t *command,
                            char *error, size_t error_size)
{
    command->elements = DLB_DEFAULT_ELEMENTS;
    command->jobs = DLB_DEFAULT_JOBS;
    command->reps = DLB_DEFAULT_REPS;
    dlb_obj_u64 (body, "elements", &command->elements);
    dlb_obj_u64 (body, "jobs", &command->jobs);
    dlb_obj_u64 (body, "reps", &command->reps);
    //  An input that cannot be read as a path is refused, not taken for
    //  "no input": that would compute a generated vector instead.
    if (dlb_obj_get (body, "input") &&
        dlb_obj_str (body, "input", command->input, sizeof command->input)) {
        snprintf (error, error_size, "submit needs an input path of at most %d bytes",
                  DLB_TEXT_MAX - 1);
        return -2;
    }
    //  Paths are in the node's data directory; the worker resolves and
    //  confines them (dlb_confine), so that the answer reveals nothing of
    //  other places.
    if (dlb_obj_str (body, "output", command->output, sizeof command->output) ||
        !*command->output) {
        snprintf (error, error_size, "submit needs an output path of at most %d bytes",
                  DLB_TEXT_MAX - 1);
        return -2;
    }
    return 0;
}

int dlb_command_decode (const dlb_msg_t *msg, dlb_command_t *command, char *error,
                        size_t error_size)
{
    memset (command, 0, sizeof *command);
    if (msg->type != DLB_MSG_COMMAND || !msg->body) {
        snprintf (error, error_size, "expected a COMMAND");
        return -2;
    }
    const msgpack_object *body = msg->body;
    dlb_obj_str (body, "cmd", command->name, sizeof command->name);
    dlb_obj_u64 (body, "req", &command->req);
    size_t kind = 0;
    while (kind < sizeof s_names / sizeof s_names[0] &&
           strcmp (command->name, s_names[kind]) != 0)
        kind++;
    command->kind = (dlb_command_kind_t) kind;
    switch (kind) {
    case DLB_COMMAND_STATUS:
        return 0;
    case DLB_COMMAND_THROTTLE:
        if (dlb_obj_double (body, "value", &command->throttle) ||
            command->throttle <= 0 || command->throttle > 1) {
            snprintf (error, error_size, "throttle needs a value in (0, 1]");
            return -2;
        }
        return 0;
    case DLB_COMMAND_POLICY: {
        char name[DLB_COMMAND_NAME_MAX];
        if (dlb_obj_str (body, "name", name, sizeof name) ||
            dlb_policy_parse (name, &command->policy)) {
            snprintf (error, error_size, "policy needs a name: " DLB_POLICY_NAMES);
            return -2;
        }
        return 0;
    }
    case DLB_COMMAND_SUBMIT:
        return s_submit_decode (body, command, error, error_size);
    case DLB_COMMAND_EVENTS:
        command->max = DLB_EVENTS_REPLY_DEFAULT;
        if ((dlb_obj_get (body, "since") &&
             dlb_obj_u64 (body, "since", &command->since)) ||
            (dlb_obj_get (body, "max") && dlb_obj_u64 (body, "max", &command->max))) {
            snprintf (error, error_size, "events takes a uint since and a uint max");
            return -2;
        }
        if (command->max > DLB_EVENTS_REPLY_MAX)
            command->max = DLB_EVENTS_REPLY_MAX;
        return 0;
    case DLB_COMMAND_CANCEL:
        if (dlb_obj_str (body, "id", command->id, sizeof command->id) || !*command->id) {
            snprintf (error, error_size, "cancel needs a workload id of at most %d bytes",
                      DLB_NAME_MAX - 1);
            return -2;
        }
        return 0;
    default:
        snprintf (error, error_size,
                  "unknown command '%s' (status, throttle, policy, submit, events, "
                  "cancel)",
                  command->name);
        return -2;
    }
}

void dlb_command_start (dlb_writer_t *writer, const char *cmd, uint32_t fields)
{
    dlb_writer_init (writer, DLB_MSG_COMMAND);
    msgpack_pack_map (&writer->pk, fields + 1);
    dlb_writer_str (writer, "cmd", cmd);
}

int dlb_command_check_sizes (uint64_t elements, uint64_t jobs, uint64_t reps, char *error,
                             size_t error_size)
{
    if (elements < 1 || elements > DLB_NPY_MAX_ELEMS || jobs < 1 || jobs > elements ||
        reps < 1 || reps > UINT32_MAX ||
        (elements + jobs - 1) / jobs > DLB_JOB_MAX_ELEMS) {
        snprintf (error, error_size,
                  "bad sizes: elements %llu, jobs %llu, reps %llu (need 1 <= jobs <= "
                  "elements, reps >= 1, at most %d elements a job)",
                  (unsigned long long) elements, (unsigned long long) jobs,
                  (unsigned long long) reps, DLB_JOB_MAX_ELEMS);
        return -2;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Self-test

//  Decodes a COMMAND whose body the caller packed into w; returns the
//  decoder's answer.
static int s_decode (dlb_writer_t *w, dlb_command_t *command, char *error,
                     size_t error_size)
{
    zframe_t *frame = dlb_writer_frame (w);
    dlb_msg_t msg;
    char reason[256];
    int rc = dlb_msg_decode (zframe_data (frame), zframe_size (frame), &msg, reason,
                             sizeof reason);
    assert (rc == 0);
    rc = dlb_command_decode (&msg, command, error, error_size);
    dlb_msg_release (&msg);
    zframe_destroy (&frame);
    return rc;
}

void dlb_command_test (bool verbose)
{
    (void) verbose;
    dlb_command_t command;
    char error[DLB_TEXT_MAX + 64];
    dlb_writer_t w;

    //  Not a COMMAND; no cmd; an unknown one; one too long to name.
    dlb_writer_init (&w, DLB_MSG_REPLY);
    msgpack_pack_map (&w.pk, 1);
    dlb_writer_str (&w, "cmd", "status");
    assert (s_decode (&w, &command, error, sizeof error) == -2);
    assert (streq (error, "expected a COMMAND"));
    dlb_writer_init (&w, DLB_MSG_COMMAND);
    msgpack_pack_map (&w.pk, 0);
    assert (s_decode (&w, &command, error, sizeof error) == -2);
    assert (strstr (error, "unknown command ''"));
    dlb_command_start (&w, "frobnicate", 0);
    assert (s_decode (&w, &command, error, sizeof error) == -2);
    assert (strstr (error, "unknown command 'frobnicate'"));
    dlb_command_start (&w, "statusstatusstatusstatusstatusstatus", 0);
    assert (s_decode (&w, &command, error, sizeof error) == -2);

    //  status, with the monitor's request number.
    dlb_command_start (&w, "status", 1);
    dlb_writer_u64 (&w, "req", 12);
    assert (s_decode (&w, &command, error, sizeof error) == 0);
    assert (command.kind == DLB_COMMAND_STATUS && command.req == 12);

    //  throttle: in (0, 1], an integer 1 allowed.
    double values[] = {0.25, 1, 0, -0.5, 1.5};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        dlb_command_start (&w, "throttle", 1);
        dlb_writer_double (&w, "value", values[i]);
        int rc = s_decode (&w, &command, error, sizeof error);
        assert (rc == (values[i] > 0 && values[i] <= 1 ? 0 : -2));
        assert (rc || command.throttle == values[i]);
    }

    //  policy: a known name only.
    const char *names[] = {"receiver", "greedy"};
    for (int i = 0; i < 2; i++) {
        dlb_command_start (&w, "policy", 1);
        dlb_writer_str (&w, "name", names[i]);
        assert (s_decode (&w, &command, error, sizeof error) == (i ? -2 : 0));
    }
    assert (strstr (error, "policy needs a name"));

    //  submit: defaults, then an over-long input is refused (it used to be
    //  taken for no input), then an empty output.
    dlb_command_start (&w, "submit", 2);
    dlb_writer_u64 (&w, "jobs", 8);
    dlb_writer_str (&w, "output", "/tmp/out.npy");
    assert (s_decode (&w, &command, error, sizeof error) == 0);
    assert (command.kind == DLB_COMMAND_SUBMIT && command.jobs == 8);
    assert (command.elements == DLB_DEFAULT_ELEMENTS && command.reps == DLB_DEFAULT_REPS);
    assert (streq (command.output, "/tmp/out.npy") && streq (command.input, ""));
    char long_path[DLB_TEXT_MAX + 8];
    memset (long_path, 'x', sizeof long_path - 1);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = 0;
    dlb_command_start (&w, "submit", 2);
    dlb_writer_str (&w, "input", long_path);
    dlb_writer_str (&w, "output", "/tmp/out.npy");
    assert (s_decode (&w, &command, error, sizeof error) == -2);
    assert (strstr (error, "input path"));
    dlb_command_start (&w, "submit", 1);
    dlb_writer_str (&w, "output", "");
    assert (s_decode (&w, &command, error, sizeof error) == -2);
    assert (strstr (error, "submit needs an output path"));

    //  events: defaults, a bound on max, wrong types refused.
    dlb_command_start (&w, "events", 0);
    assert (s_decode (&w, &command, error, sizeof error) == 0);
    assert (command.kind == DLB_COMMAND_EVENTS && command.since == 0 &&
            command.max == DLB_EVENTS_REPLY_DEFAULT);
    dlb_command_start (&w, "events", 2);
    dlb_writer_u64 (&w, "since", 41);
    dlb_writer_u64 (&w, "max", UINT64_MAX);
    assert (s_decode (&w, &command, error, sizeof error) == 0);
    assert (command.since == 41 && command.max == DLB_EVENTS_REPLY_MAX);
    dlb_command_start (&w, "events", 1);
    dlb_writer_i64 (&w, "since", -1);
    assert (s_decode (&w, &command, error, sizeof error) == -2);
    assert (strstr (error, "events takes"));
    dlb_command_start (&w, "events", 1);
    dlb_writer_str (&w, "max", "10");
    assert (s_decode (&w, &command, error, sizeof error) == -2);

    //  cancel: an id, not empty, not too long, a string.
    dlb_command_start (&w, "cancel", 1);
    dlb_writer_str (&w, "id", "a-12001");
    assert (s_decode (&w, &command, error, sizeof error) == 0);
    assert (command.kind == DLB_COMMAND_CANCEL && streq (command.id, "a-12001"));
    dlb_command_start (&w, "cancel", 0);
    assert (s_decode (&w, &command, error, sizeof error) == -2);
    assert (strstr (error, "cancel needs"));
    dlb_command_start (&w, "cancel", 1);
    dlb_writer_str (&w, "id", long_path);
    assert (s_decode (&w, &command, error, sizeof error) == -2);
    dlb_command_start (&w, "cancel", 1);
    dlb_writer_u64 (&w, "id", 12);
    assert (s_decode (&w, &command, error, sizeof error) == -2);

    //  Sizes.
    assert (dlb_command_check_sizes (1024, 16, 1, error, sizeof error) == 0);
    assert (dlb_command_check_sizes (0, 1, 1, error, sizeof error) == -2);
    assert (dlb_command_check_sizes (16, 17, 1, error, sizeof error) == -2);
    assert (dlb_command_check_sizes (16, 1, 0, error, sizeof error) == -2);
    assert (dlb_command_check_sizes (16, 1, (uint64_t) UINT32_MAX + 1, error,
                                     sizeof error) == -2);
    assert (dlb_command_check_sizes ((uint64_t) DLB_JOB_MAX_ELEMS + 1, 1, 1, error,
                                     sizeof error) == -2);
    assert (strstr (error, "bad sizes"));
}
