/*  fuzz_command: a control request body (COMMAND) through
    dlb_command_decode, as the monitor and the worker read it, then a
    decoded submit's sizes through dlb_command_check_sizes.              */
#include "dlb_command.h"
#include "dlb_fuzz.h"

#include <assert.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    dlb_msg_t msg;
    if (dlb_fuzz_msg (DLB_MSG_COMMAND, data, size, &msg))
        return 0;
    dlb_command_t command;
    char error[DLB_TEXT_MAX + 64];
    if (dlb_command_decode (&msg, &command, error, sizeof error) == 0) {
        if (command.kind == DLB_COMMAND_THROTTLE)
            assert (command.throttle > 0 && command.throttle <= 1);
        if (command.kind == DLB_COMMAND_EVENTS)
            assert (command.max <= DLB_EVENTS_REPLY_MAX);
        if (command.kind == DLB_COMMAND_CANCEL)
            assert (command.id[0] != 0 && strlen (command.id) < DLB_NAME_MAX);
        if (command.kind == DLB_COMMAND_SUBMIT) {
            assert (command.output[0] != 0);
            dlb_command_check_sizes (command.elements, command.jobs, command.reps, error,
                                     sizeof error);
        }
    }
    else
        assert (*error);
    dlb_msg_release (&msg);
    return 0;
}
