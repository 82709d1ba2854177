/*  dlb_log: one line per event on stderr, "TIME NODE SERVICE LEVEL message". */
#include "dlb_log.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char s_node[64] = "-";
static char s_service[64] = "-";
static dlb_log_level_t s_level = DLB_LOG_INFO;
static const char *s_level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void dlb_log_init (const char *node, const char *service)
{
    snprintf (s_node, sizeof s_node, "%s", node ? node : "-");
    snprintf (s_service, sizeof s_service, "%s", service ? service : "-");
    const char *debug = getenv ("DLB_DEBUG");
    if (debug && strcmp (debug, "1") == 0)
        s_level = DLB_LOG_DEBUG;
}

void dlb_log_set_level (dlb_log_level_t level)
{
    s_level = level;
}

void dlb_log (dlb_log_level_t level, const char *format, ...)
{
    if (level < s_level)
        return;
    char message[1024];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);

    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r (&now.tv_sec, &tm);
    char stamp[32];
    strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf (stderr, "%s.%03ldZ %s %s %s %s\n", stamp, now.tv_nsec / 1000000, s_node,
             s_service, s_level_names[level], message);
}

bool dlb_log_sampled (uint64_t count)
{
    return count <= DLB_LOG_BURST || count % DLB_LOG_EVERY == 0;
}

void dlb_log_test (bool verbose)
{
    dlb_log_init ("test-node", "log");
    if (!verbose)
        dlb_log_set_level (DLB_LOG_ERROR);
    dlb_info ("a line with a number %d", 42);
    dlb_debug ("hidden unless DLB_DEBUG=1");
    assert (strcmp (s_node, "test-node") == 0);
    assert (strcmp (s_service, "log") == 0);
    assert (dlb_log_sampled (1) && dlb_log_sampled (DLB_LOG_BURST));
    assert (!dlb_log_sampled (DLB_LOG_BURST + 1) && dlb_log_sampled (DLB_LOG_EVERY));
    dlb_log_set_level (DLB_LOG_INFO);
}
