/*  dlb_log: one line per event on stderr: time, node, service, level, message.

    Every service calls dlb_log_init once with its node and service name; the
    log functions are then safe to call from any thread (each line is written
    with a single fprintf, which stdio locks).                              */
#ifndef DLB_LOG_H_INCLUDED
#define DLB_LOG_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef enum { DLB_LOG_DEBUG, DLB_LOG_INFO, DLB_LOG_WARN, DLB_LOG_ERROR } dlb_log_level_t;

//  Sets the node and service names printed on every line. Cannot fail;
//  the strings are copied (truncated to 63 characters).
void dlb_log_init (const char *node, const char *service);

//  Lines below this level are not printed. Default DLB_LOG_INFO, or
//  DLB_LOG_DEBUG when the environment has DLB_DEBUG=1.
void dlb_log_set_level (dlb_log_level_t level);

void dlb_log (dlb_log_level_t level, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

#define dlb_debug(...) dlb_log (DLB_LOG_DEBUG, __VA_ARGS__)
#define dlb_info(...)  dlb_log (DLB_LOG_INFO, __VA_ARGS__)
#define dlb_warn(...)  dlb_log (DLB_LOG_WARN, __VA_ARGS__)
#define dlb_error(...) dlb_log (DLB_LOG_ERROR, __VA_ARGS__)

//  For warnings about repeated bad input: true for the count-th event if
//  it is among the first DLB_LOG_BURST, or one in DLB_LOG_EVERY after.
#define DLB_LOG_BURST 20
#define DLB_LOG_EVERY 1000
bool dlb_log_sampled (uint64_t count);

void dlb_log_test (bool verbose);

#endif
