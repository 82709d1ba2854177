/*  dlb-monitor: runs the monitor service of a dlb node until interrupted.  */
#include "dlb_monitor.h"
#include "dlb_service.h"

int main (int argc, char *argv[])
{
    return dlb_service_main (argc, argv, "monitor", DLB_MONITOR_SUMMARY,
                             dlb_monitor_actor);
}
