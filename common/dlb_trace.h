/*  dlb_trace: strict parsers for CPU-utilisation traces (one time series of
    CPU % per file), for replaying background load and scoring forecasters.

    Formats (the data sets are described in /work/shared/traces/README.md):
    - planetlab: one number per line (integer CPU % in the data set).
    - google:    two numbers per line separated by spaces or tabs: CPU %, then
                 memory % (checked to be a number, otherwise ignored).
    - bitbrains: a header line, then lines of fields separated by ';' (each
                 followed by a tab in the data set); the header has at least 5
                 fields and field 5 is "CPU usage [%]"; every line has as many
                 fields as the header; field 5 is the value.
    - csv:       dlb-collect's output: a header line of column names separated
                 by ',', then lines with as many fields; the value is the column
                 named by `column` (NULL: the second column, cpu_total).
    - auto:      guessed from the first line: ';' means bitbrains, ',' csv, one
                 field planetlab, two fields google; anything else is an error.

    Rules, the same for every format:
    - A number is an optional sign, digits with an optional decimal point, and
      an optional exponent ("12", "0.5", "1.6E7"); nothing else (no "nan",
      "inf", hex, empty field). Spaces and tabs around a field are allowed; a
      '\r' before the newline is allowed.
    - A line is malformed if its value or another checked field is not a
      number, it has the wrong number of fields, it is empty, or its value is
      negative. A malformed line is an error "FILE:LINE: reason", or with
      skip_bad it is left out and counted in `skipped`.
    - A header line that is missing or wrong is always an error, skip_bad or not.
    - A value above 100 is clamped to 100 and counted in `clamped` (Bitbrains
      reports over 100 % for VMs using more than their provisioned CPU).
    - A trace with no values left is an error "FILE: no samples".         */
#ifndef DLB_TRACE_H_INCLUDED
#define DLB_TRACE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    DLB_TRACE_AUTO,
    DLB_TRACE_PLANETLAB,
    DLB_TRACE_GOOGLE,
    DLB_TRACE_BITBRAINS,
    DLB_TRACE_CSV
} dlb_trace_format_t;

#define DLB_TRACE_MAX_PERCENT    100.0 //  %; values above are clamped
#define DLB_TRACE_BITBRAINS_CPU  5     //  1-based field holding CPU usage [%]
#define DLB_TRACE_BITBRAINS_NAME "CPU usage [%]"
#define DLB_TRACE_CSV_DEFAULT    2 //  1-based column used when column is NULL

//  One loaded trace; the fields are the caller's to read.
typedef struct {
    double *values; //  CPU %, 0..100 (a rate's unit for dlb_trace_load_rate), in order
    size_t count;   //  number of values
    size_t skipped; //  malformed lines left out (skip_bad only)
    size_t clamped; //  values above 100 clamped to 100
} dlb_trace_t;

//  Parses a format name: "auto", "planetlab", "google", "bitbrains" or "csv".
//  Returns 0 and sets *format, or -1 if the name is unknown (format unchanged).
int dlb_trace_format_parse (const char *name, dlb_trace_format_t *format);

//  Returns the name of a format, for messages. Cannot fail.
const char *dlb_trace_format_name (dlb_trace_format_t format);

//  Loads one trace. column: for csv, the header column name (NULL = second
//  column); ignored otherwise. skip_bad: count and skip malformed lines
//  instead of failing. On success returns 0 and a new trace in *trace_p, which
//  the caller destroys. On failure returns -1, leaves *trace_p alone and writes
//  "FILE:LINE: reason" (or "FILE: reason" when no line is at fault) into err
//  (truncated to err_size; err may be NULL if err_size is 0).
int dlb_trace_load (const char *path, dlb_trace_format_t format, const char *column,
                    bool skip_bad, dlb_trace_t **trace_p, char *err, size_t err_size);

//  Loads one column of a dlb-collect CSV (format csv) whose values are rates
//  (bytes/s: disk_read_bps, net_out_bps, ...), as dlb_trace_load does but
//  with the column required and no clamping at 100 (clamped stays 0). Same
//  returns and errors.
int dlb_trace_load_rate (const char *path, const char *column, bool skip_bad,
                         dlb_trace_t **trace_p, char *err, size_t err_size);

//  Destroys a trace and nulls the caller's pointer. Cannot fail; accepts a
//  pointer to NULL.
void dlb_trace_destroy (dlb_trace_t **self_p);

//  Self-test.
void dlb_trace_test (bool verbose);

#endif
