/*  fuzz_event: an EVENT body through dlb_event_decode, as the monitor
    reads the services' events; a body with an `events` array (the
    answer to the control command `events`, as dlbctl reads it) has each
    of its items decoded too, and a body with a `nodes` array (the
    answer to `status`, as dlbctl and dlb-web read it) each node record
    through dlb_status_node_decode.                                      */
#include "dlb_event.h"
#include "dlb_fuzz.h"
#include "dlb_status.h"

#include <assert.h>
#include <math.h>
#include <string.h>

//  Decodes one record and checks what a decoded record promises.
static void s_check (const msgpack_object *map)
{
    dlb_event_t event;
    char reason[DLB_FUZZ_REASON];
    if (dlb_event_decode (map, &event, reason, sizeof reason) == 0) {
        assert (*event.kind && strlen (event.kind) < DLB_EVENT_KIND_MAX);
        assert (*event.node && *event.service);
        assert (strlen (event.text) < DLB_EVENT_TEXT_MAX);
        assert (isfinite (event.value));
    }
    else
        assert (*reason);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    dlb_msg_t msg;
    if (dlb_fuzz_msg (DLB_MSG_EVENT, data, size, &msg))
        return 0;
    s_check (msg.body);
    const msgpack_object_array *events;
    if (dlb_obj_array (msg.body, "events", &events) == 0)
        for (uint32_t i = 0; i < events->size; i++)
            s_check (&events->ptr[i]);
    const msgpack_object_array *nodes;
    if (dlb_obj_array (msg.body, "nodes", &nodes) == 0)
        for (uint32_t i = 0; i < nodes->size; i++) {
            dlb_status_node_t node;
            char reason[DLB_FUZZ_REASON];
            if (dlb_status_node_decode (&nodes->ptr[i], &node, reason, sizeof reason) ==
                0) {
                assert (*node.node && *node.policy && node.peer_count <= DLB_PEERS_MAX);
                assert (isfinite (node.queue) && isfinite (node.restarts));
            }
            else
                assert (*reason);
        }
    dlb_msg_release (&msg);
    return 0;
}
