/*  dlb-worker: runs the worker service of a dlb node until interrupted.  */
#include "dlb_worker.h"
#include "dlb_service.h"

int main (int argc, char *argv[])
{
    return dlb_service_main (argc, argv, "worker", DLB_WORKER_SUMMARY, dlb_worker_actor);
}
