/*  dlb-adaptor: runs the adaptor service of a dlb node until interrupted.  */
#include "dlb_adaptor.h"
#include "dlb_service.h"

int main (int argc, char *argv[])
{
    return dlb_service_main (argc, argv, "adaptor", DLB_ADAPTOR_SUMMARY,
                             dlb_adaptor_actor);
}
