/*  dlb-transfer: runs the transfer service of a dlb node until interrupted.  */
#include "dlb_transfer.h"
#include "dlb_service.h"

int main (int argc, char *argv[])
{
    return dlb_service_main (argc, argv, "transfer", DLB_TRANSFER_SUMMARY,
                             dlb_transfer_actor);
}
