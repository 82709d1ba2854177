/*  fuzz_trace: a CPU trace file through dlb_trace_load (dlb-replay's and
    dlb-forecast's input). First input byte: format (bits 0-2, mod 5: auto,
    planetlab, google, bitbrains, csv), skip_bad (bit 3), a csv column name
    "cpu" (bit 4, else the default column). A trace that loads must hold
    only values in [0, 100].                                             */
#include "dlb_fuzz.h"
#include "dlb_trace.h"

#include <assert.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    dlb_trace_format_t format = (dlb_trace_format_t) ((data[0] & 7) % 5);
    bool skip_bad = data[0] & 8;
    const char *column = data[0] & 16 ? "cpu" : NULL;
    const char *path = dlb_fuzz_file ("trace", data + 1, size - 1);
    dlb_trace_t *trace = NULL;
    char err[DLB_TEXT_MAX];
    if (dlb_trace_load (path, format, column, skip_bad, &trace, err, sizeof err) == 0) {
        assert (trace->count >= 1);
        for (size_t i = 0; i < trace->count; i++)
            assert (trace->values[i] >= 0 && trace->values[i] <= DLB_TRACE_MAX_PERCENT);
        dlb_trace_destroy (&trace);
    }
    else
        assert (!trace && *err);
    return 0;
}
