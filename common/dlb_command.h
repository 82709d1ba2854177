/*  dlb_command: the control commands (COMMAND bodies, proto/README.md
    section 7.3) decoded and checked in one place, without sockets: the
    monitor decides with it what to answer and what to relay, the worker
    reads a submit with it, and fuzz/command.c feeds it garbage.        */
#ifndef DLB_COMMAND_H_INCLUDED
#define DLB_COMMAND_H_INCLUDED

#include "dlb_eventring.h"
#include "dlb_policy.h"
#include "dlb_proto.h"

#define DLB_COMMAND_NAME_MAX 32 //  bytes of a cmd with NUL

typedef enum {
    DLB_COMMAND_STATUS,
    DLB_COMMAND_THROTTLE,
    DLB_COMMAND_POLICY,
    DLB_COMMAND_SUBMIT,
    DLB_COMMAND_EVENTS,
    DLB_COMMAND_CANCEL,
} dlb_command_kind_t;

typedef struct {
    dlb_command_kind_t kind;
    char name[DLB_COMMAND_NAME_MAX]; //  cmd as sent ("" if missing or too long)
    uint64_t req;                    //  the monitor's request number, 0 if none
    double throttle;                 //  throttle: in (0, 1]
    dlb_policy_t policy;             //  policy
    //  submit: sizes as sent or their defaults (checked by
    //  dlb_command_check_sizes once an input file has fixed elements)
    uint64_t elements, jobs, reps;
    char input[DLB_TEXT_MAX];  //  "" for a generated vector
    char output[DLB_TEXT_MAX]; //  a path in the node's data directory
    //  events: after seq `since` (default 0), at most `max` (default
    //  DLB_EVENTS_REPLY_DEFAULT, bounded by DLB_EVENTS_REPLY_MAX)
    uint64_t since, max;
    char id[DLB_NAME_MAX]; //  cancel: a workload id, not empty
} dlb_command_t;

//  Starts a COMMAND cmd with room for `fields` more fields, which the
//  caller packs (dlb_writer_*). Cannot fail.
void dlb_command_start (dlb_writer_t *writer, const char *cmd, uint32_t fields);

//  Decodes and checks a control request. Returns 0 with the command, or
//  -2 with the error text of the reply (proto/README.md 7.3) in error;
//  command->name is set in both cases. Never asserts on input.
int dlb_command_decode (const dlb_msg_t *msg, dlb_command_t *command, char *error,
                        size_t error_size);

//  Checks a submit's sizes: 1 <= jobs <= elements <= DLB_NPY_MAX_ELEMS,
//  1 <= reps <= 2^32-1, at most DLB_JOB_MAX_ELEMS elements a job. Returns
//  0, or -2 with a "bad sizes: ..." error. Cannot fail otherwise.
int dlb_command_check_sizes (uint64_t elements, uint64_t jobs, uint64_t reps, char *error,
                             size_t error_size);

void dlb_command_test (bool verbose);

#endif
