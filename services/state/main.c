/*  dlb-state: runs the state service of a dlb node until interrupted.  */
#include "dlb_state.h"
#include "dlb_service.h"

int main (int argc, char *argv[])
{
    return dlb_service_main (argc, argv, "state", DLB_STATE_SUMMARY, dlb_state_actor);
}
