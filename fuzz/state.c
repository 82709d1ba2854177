/*  fuzz_state: a STATE body through dlb_state_decode (required fields, the
    throttle range, the recv_from map); a state that decodes is packed again
    and must decode to the same figures.                                  */
#include "dlb_fuzz.h"

#include <assert.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    dlb_msg_t msg;
    if (dlb_fuzz_msg (DLB_MSG_STATE, data, size, &msg))
        return 0;
    dlb_state_t state, back;
    char reason[DLB_FUZZ_REASON];
    if (dlb_state_decode (msg.body, &state, reason, sizeof reason) == 0) {
        assert (state.throttle > 0 && state.throttle <= 1);
        assert (state.peers_known <= DLB_PEERS_MAX && state.rate >= 0);
        dlb_writer_t writer;
        dlb_writer_init (&writer, DLB_MSG_STATE);
        dlb_state_pack (&writer, &state, true);
        dlb_msg_t again;
        int rc = dlb_msg_decode (writer.buffer.data, writer.buffer.size, &again, reason,
                                 sizeof reason);
        assert (rc == 0);
        rc = dlb_state_decode (again.body, &back, reason, sizeof reason);
        assert (rc == 0);
        assert (streq (back.node, state.node) && streq (back.transfer, state.transfer));
        assert (back.seq == state.seq && back.queue == state.queue);
        assert (back.throttle == state.throttle && back.rate == state.rate);
        assert (back.peers_known == state.peers_known);
        for (size_t i = 0; i < state.peers_known; i++)
            assert (back.recv_from[i].jobs == state.recv_from[i].jobs);
        dlb_msg_release (&again);
        dlb_writer_destroy (&writer);
    }
    dlb_msg_release (&msg);
    return 0;
}
