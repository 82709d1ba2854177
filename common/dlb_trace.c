/*  dlb_trace: strict parsers for CPU-utilisation traces. The accepted formats
    and the rules for malformed lines are in dlb_trace.h.

    The loader reads the file line by line. With a header format (bitbrains,
    csv) line 1 fixes the number of fields and which field holds the value;
    every later line must match it. Format auto is resolved on line 1.    */
#include "dlb_trace.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_SHOWN_MAX      32 //  bytes of a bad field quoted in an error message
#define S_VALUES_INITIAL 256

//  Parser state for one file.
typedef struct {
    const char *path;
    dlb_trace_format_t format; //  never AUTO once line 1 is read
    const char *column;        //  csv column name or NULL
    bool skip_bad;
    bool rates;           //  values are rates: no clamping at 100
    size_t line_number;   //  1-based number of the line being parsed
    size_t fields_wanted; //  fields per data line; 0 until known
    size_t value_field;   //  0-based field holding the value
    char **fields;        //  pointers into the current line
    size_t fields_allocated;
    dlb_trace_t *trace;
    size_t values_allocated;
    char *err;
    size_t err_size;
} s_parser_t;

//  Writes "PATH:LINE: reason" (or "PATH: reason" for line 0) into err.
static void s_error (s_parser_t *self, size_t line, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void s_error (s_parser_t *self, size_t line, const char *format, ...)
{
    if (!self->err || self->err_size == 0)
        return;
    char reason[256];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof reason, format, args);
    va_end (args);
    if (line)
        snprintf (self->err, self->err_size, "%s:%zu: %s", self->path, line, reason);
    else
        snprintf (self->err, self->err_size, "%s: %s", self->path, reason);
}

//  True if text is a decimal number by the rule in dlb_trace.h.
static bool s_is_number (const char *text)
{
    const char *cursor = text;
    if (*cursor == '+' || *cursor == '-')
        cursor++;
    size_t digits = 0;
    while (isdigit ((unsigned char) *cursor)) {
        cursor++;
        digits++;
    }
    if (*cursor == '.') {
        cursor++;
        while (isdigit ((unsigned char) *cursor)) {
            cursor++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    if (*cursor == 'e' || *cursor == 'E') {
        cursor++;
        if (*cursor == '+' || *cursor == '-')
            cursor++;
        if (!isdigit ((unsigned char) *cursor))
            return false;
        while (isdigit ((unsigned char) *cursor))
            cursor++;
    }
    return *cursor == 0;
}

//  Parses a number field. Returns 0 and the value, or -1 if the text is not a
//  number or overflows to infinity.
static int s_parse_number (const char *text, double *value)
{
    if (!s_is_number (text))
        return -1;
    errno = 0;
    double parsed = strtod (text, NULL);
    if (!isfinite (parsed))
        return -1;
    *value = parsed;
    return 0;
}

//  Trims spaces and tabs around text in place; returns the trimmed start.
static char *s_trim (char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    size_t length = strlen (text);
    while (length && (text[length - 1] == ' ' || text[length - 1] == '\t'))
        text[--length] = 0;
    return text;
}

//  Appends one field pointer. Returns 0, or -1 if memory runs out.
static int s_push_field (s_parser_t *self, size_t count, char *field)
{
    if (count == self->fields_allocated) {
        size_t grown = self->fields_allocated ? self->fields_allocated * 2 : 16;
        char **bigger = realloc (self->fields, grown * sizeof *bigger);
        if (!bigger)
            return -1;
        self->fields = bigger;
        self->fields_allocated = grown;
    }
    self->fields[count] = field;
    return 0;
}

//  Splits line in place into self->fields: on separator (trimmed fields), or
//  on runs of spaces and tabs when separator is 0. Returns the number of
//  fields, or -1 if memory runs out.
static long s_split (s_parser_t *self, char *line, char separator)
{
    size_t count = 0;
    if (separator) {
        char *start = line;
        while (true) {
            char *end = strchr (start, separator);
            if (end)
                *end = 0;
            if (s_push_field (self, count++, s_trim (start)))
                return -1;
            if (!end)
                break;
            start = end + 1;
        }
    }
    else {
        char *cursor = line;
        while (true) {
            while (*cursor == ' ' || *cursor == '\t')
                cursor++;
            if (*cursor == 0)
                break;
            if (s_push_field (self, count++, cursor))
                return -1;
            while (*cursor && *cursor != ' ' && *cursor != '\t')
                cursor++;
            if (*cursor)
                *cursor++ = 0;
        }
    }
    return (long) count;
}

static char s_separator (dlb_trace_format_t format)
{
    return format == DLB_TRACE_BITBRAINS ? ';' : format == DLB_TRACE_CSV ? ',' : 0;
}

//  Resolves format auto from the first line. Returns 0, or -1 with err set.
static int s_guess_format (s_parser_t *self, char *line)
{
    if (strchr (line, ';'))
        self->format = DLB_TRACE_BITBRAINS;
    else if (strchr (line, ','))
        self->format = DLB_TRACE_CSV;
    else {
        //  Split a copy: the line is parsed again as data.
        char *copy = strdup (line);
        if (!copy) {
            s_error (self, 0, "out of memory");
            return -1;
        }
        long fields = s_split (self, copy, 0);
        free (copy);
        if (fields == 1)
            self->format = DLB_TRACE_PLANETLAB;
        else if (fields == 2)
            self->format = DLB_TRACE_GOOGLE;
        else {
            s_error (self, self->line_number,
                     "cannot guess the format from this line (%ld fields, no ';' or ',')",
                     fields);
            return -1;
        }
    }
    return 0;
}

//  Parses a header line (bitbrains, csv). Returns 0, or -1 with err set.
static int s_parse_header (s_parser_t *self, char *line)
{
    long fields = s_split (self, line, s_separator (self->format));
    if (fields < 0) {
        s_error (self, 0, "out of memory");
        return -1;
    }
    self->fields_wanted = (size_t) fields;
    if (self->format == DLB_TRACE_BITBRAINS) {
        if (fields < DLB_TRACE_BITBRAINS_CPU ||
            strcmp (self->fields[DLB_TRACE_BITBRAINS_CPU - 1],
                    DLB_TRACE_BITBRAINS_NAME) != 0) {
            s_error (self, self->line_number,
                     "not a bitbrains header: field %d is not \"%s\"",
                     DLB_TRACE_BITBRAINS_CPU, DLB_TRACE_BITBRAINS_NAME);
            return -1;
        }
        self->value_field = DLB_TRACE_BITBRAINS_CPU - 1;
        return 0;
    }
    for (long index = 0; index < fields; index++) {
        if (s_is_number (self->fields[index])) {
            s_error (self, self->line_number,
                     "expected a header of column names, found the number '%.*s'",
                     S_SHOWN_MAX, self->fields[index]);
            return -1;
        }
    }
    if (!self->column) {
        if (fields < DLB_TRACE_CSV_DEFAULT) {
            s_error (self, self->line_number, "header has %ld column, need at least %d",
                     fields, DLB_TRACE_CSV_DEFAULT);
            return -1;
        }
        self->value_field = DLB_TRACE_CSV_DEFAULT - 1;
        return 0;
    }
    for (long index = 0; index < fields; index++)
        if (strcmp (self->fields[index], self->column) == 0) {
            self->value_field = (size_t) index;
            return 0;
        }
    s_error (self, self->line_number, "no column '%.*s' in the header", S_SHOWN_MAX,
             self->column);
    return -1;
}

//  Parses one data line. Returns 0 and the value, -1 if it is malformed (err
//  set), or -2 if memory runs out (err set).
static int s_parse_data (s_parser_t *self, char *line, double *value)
{
    if (*s_trim (line) == 0) {
        s_error (self, self->line_number, "empty line");
        return -1;
    }
    long fields = s_split (self, line, s_separator (self->format));
    if (fields < 0) {
        s_error (self, 0, "out of memory");
        return -2;
    }
    if ((size_t) fields != self->fields_wanted) {
        s_error (self, self->line_number, "expected %zu fields, found %ld",
                 self->fields_wanted, fields);
        return -1;
    }
    //  Google's second column (memory %) is checked but not kept.
    for (size_t index = 0; index < (size_t) fields; index++) {
        bool checked = index == self->value_field || self->format == DLB_TRACE_GOOGLE;
        double parsed = 0;
        if (checked && s_parse_number (self->fields[index], &parsed) != 0) {
            s_error (self, self->line_number, "field %zu is not a number: '%.*s'",
                     index + 1, S_SHOWN_MAX, self->fields[index]);
            return -1;
        }
        if (index == self->value_field)
            *value = parsed;
    }
    if (*value < 0) {
        s_error (self, self->line_number, "negative %s: %g",
                 self->rates ? "rate" : "CPU %", *value);
        return -1;
    }
    return 0;
}

//  Appends a value, clamping it. Returns 0, or -1 if memory runs out.
static int s_push_value (s_parser_t *self, double value)
{
    dlb_trace_t *trace = self->trace;
    if (trace->count == self->values_allocated) {
        size_t grown =
            self->values_allocated ? self->values_allocated * 2 : S_VALUES_INITIAL;
        double *bigger = realloc (trace->values, grown * sizeof *bigger);
        if (!bigger)
            return -1;
        trace->values = bigger;
        self->values_allocated = grown;
    }
    if (!self->rates && value > DLB_TRACE_MAX_PERCENT) {
        value = DLB_TRACE_MAX_PERCENT;
        trace->clamped++;
    }
    trace->values[trace->count++] = value;
    return 0;
}

//  Format names, indexed by dlb_trace_format_t.
static const char *s_format_names[] = {"auto", "planetlab", "google", "bitbrains", "csv"};
#define S_FORMATS (sizeof s_format_names / sizeof s_format_names[0])

int dlb_trace_format_parse (const char *name, dlb_trace_format_t *format)
{
    assert (name);
    assert (format);
    for (size_t index = 0; index < S_FORMATS; index++)
        if (strcmp (name, s_format_names[index]) == 0) {
            *format = (dlb_trace_format_t) index;
            return 0;
        }
    return -1;
}

const char *dlb_trace_format_name (dlb_trace_format_t format)
{
    return (size_t) format < S_FORMATS ? s_format_names[format] : "unknown";
}

//  Loads a trace with the parser set up by the caller (see dlb_trace_load).
static int s_load (s_parser_t parser, dlb_trace_t **trace_p);

int dlb_trace_load (const char *path, dlb_trace_format_t format, const char *column,
                    bool skip_bad, dlb_trace_t **trace_p, char *err, size_t err_size)
{
    assert (path);
    assert (trace_p);
    assert (err || err_size == 0);
    s_parser_t parser = {.path = path,
                         .format = format,
                         .column = column,
                         .skip_bad = skip_bad,
                         .err = err,
                         .err_size = err_size};
    return s_load (parser, trace_p);
}

int dlb_trace_load_rate (const char *path, const char *column, bool skip_bad,
                         dlb_trace_t **trace_p, char *err, size_t err_size)
{
    assert (path && column);
    assert (trace_p);
    assert (err || err_size == 0);
    s_parser_t parser = {.path = path,
                         .format = DLB_TRACE_CSV,
                         .column = column,
                         .skip_bad = skip_bad,
                         .rates = true,
                         .err = err,
                         .err_size = err_size};
    return s_load (parser, trace_p);
}

static int s_load (s_parser_t parser, dlb_trace_t **trace_p)
{
    const char *path = parser.path;
    bool skip_bad = parser.skip_bad;
    char *err = parser.err;
    size_t err_size = parser.err_size;
    int rc = -1;
    char *line = NULL;
    size_t line_size = 0;
    FILE *file = fopen (path, "r");
    if (!file) {
        s_error (&parser, 0, "cannot open: %s", strerror (errno));
        return -1;
    }
    parser.trace = calloc (1, sizeof *parser.trace);
    if (!parser.trace) {
        s_error (&parser, 0, "out of memory");
        goto cleanup;
    }
    ssize_t length;
    while ((length = getline (&line, &line_size, file)) >= 0) {
        parser.line_number++;
        if (length && line[length - 1] == '\n')
            line[--length] = 0;
        if (length && line[length - 1] == '\r')
            line[--length] = 0;
        bool first = parser.line_number == 1;
        if (strlen (line) != (size_t) length) {
            s_error (&parser, parser.line_number, "contains a NUL byte");
            if (first || !skip_bad)
                goto cleanup;
            parser.trace->skipped++;
            continue;
        }
        if (first && parser.format == DLB_TRACE_AUTO) {
            if (*s_trim (line) == 0) {
                s_error (&parser, parser.line_number,
                         "cannot guess the format from an empty line");
                goto cleanup;
            }
            if (s_guess_format (&parser, line) != 0)
                goto cleanup;
        }
        if (first &&
            (parser.format == DLB_TRACE_BITBRAINS || parser.format == DLB_TRACE_CSV)) {
            if (s_parse_header (&parser, line) != 0)
                goto cleanup;
            continue;
        }
        if (first) //  planetlab or google: no header, a fixed number of fields
            parser.fields_wanted = parser.format == DLB_TRACE_GOOGLE ? 2 : 1;
        double value = 0;
        int parsed = s_parse_data (&parser, line, &value);
        if (parsed == -2)
            goto cleanup;
        if (parsed == -1) {
            if (!skip_bad)
                goto cleanup;
            parser.trace->skipped++;
            continue;
        }
        if (s_push_value (&parser, value) != 0) {
            s_error (&parser, 0, "out of memory");
            goto cleanup;
        }
    }
    if (ferror (file)) {
        s_error (&parser, parser.line_number + 1, "read error: %s", strerror (errno));
        goto cleanup;
    }
    if (parser.trace->count == 0) {
        if (parser.trace->skipped)
            s_error (&parser, 0, "no samples (%zu malformed lines skipped)",
                     parser.trace->skipped);
        else
            s_error (&parser, 0, "no samples");
        goto cleanup;
    }
    *trace_p = parser.trace;
    parser.trace = NULL;
    if (err && err_size)
        err[0] = 0; //  a skipped line may have left a message
    rc = 0;
cleanup:
    dlb_trace_destroy (&parser.trace);
    free (parser.fields);
    free (line);
    fclose (file);
    return rc;
}

void dlb_trace_destroy (dlb_trace_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->values);
        free (*self_p);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Self-test

#define S_TEST_PATH_MAX 128

typedef struct {
    char dir[S_TEST_PATH_MAX];
    char path[S_TEST_PATH_MAX * 2];
    char err[512];
    bool verbose;
} s_test_t;

//  Writes text into the test file and loads it. Returns what load returns.
static int s_test_load (s_test_t *test, const char *text, dlb_trace_format_t format,
                        const char *column, bool skip_bad, dlb_trace_t **trace_p)
{
    FILE *file = fopen (test->path, "w");
    assert (file);
    fputs (text, file);
    fclose (file);
    test->err[0] = 0;
    int rc = dlb_trace_load (test->path, format, column, skip_bad, trace_p, test->err,
                             sizeof test->err);
    if (test->verbose && rc)
        printf ("\n   %s", test->err);
    return rc;
}

//  Asserts that loading text fails with an error at the given line (0: no line)
//  whose reason contains the fragment.
static void s_test_fails (s_test_t *test, const char *text, dlb_trace_format_t format,
                          size_t line, const char *fragment)
{
    dlb_trace_t *trace = NULL;
    assert (s_test_load (test, text, format, NULL, false, &trace) == -1);
    assert (trace == NULL);
    char where[S_TEST_PATH_MAX * 3];
    if (line)
        snprintf (where, sizeof where, "%s:%zu: ", test->path, line);
    else
        snprintf (where, sizeof where, "%s: ", test->path);
    assert (strncmp (test->err, where, strlen (where)) == 0);
    assert (strstr (test->err, fragment));
}

//  Asserts that loading text succeeds with exactly the given values.
static void s_test_values (s_test_t *test, const char *text, dlb_trace_format_t format,
                           const char *column, const double *values, size_t count)
{
    dlb_trace_t *trace = NULL;
    assert (s_test_load (test, text, format, column, false, &trace) == 0);
    assert (trace && trace->count == count && trace->skipped == 0);
    for (size_t index = 0; index < count; index++)
        assert (fabs (trace->values[index] - values[index]) < 1e-9);
    dlb_trace_destroy (&trace);
    assert (trace == NULL);
}

void dlb_trace_test (bool verbose)
{
    s_test_t test = {.verbose = verbose};
    snprintf (test.dir, sizeof test.dir, "/tmp/dlb_trace_test_XXXXXX");
    assert (mkdtemp (test.dir));
    snprintf (test.path, sizeof test.path, "%s/trace", test.dir);

    //  Format names.
    dlb_trace_format_t format = DLB_TRACE_AUTO;
    assert (dlb_trace_format_parse ("google", &format) == 0);
    assert (format == DLB_TRACE_GOOGLE);
    assert (dlb_trace_format_parse ("bitbrains", &format) == 0);
    assert (format == DLB_TRACE_BITBRAINS);
    assert (dlb_trace_format_parse ("Google", &format) == -1);
    assert (format == DLB_TRACE_BITBRAINS);
    assert (strcmp (dlb_trace_format_name (DLB_TRACE_CSV), "csv") == 0);

    //  Each format, given and guessed; CRLF and a missing last newline are fine.
    const double planetlab[] = {24, 34, 0, 99};
    s_test_values (&test, "24\n34\n0\n99\n", DLB_TRACE_PLANETLAB, NULL, planetlab, 4);
    s_test_values (&test, "24\r\n34\r\n0\r\n99", DLB_TRACE_AUTO, NULL, planetlab, 4);
    const double google[] = {6.763, 7.288};
    const char *google_text = "6.763 5.103\n  7.288\t5.1209999999999996\n";
    s_test_values (&test, google_text, DLB_TRACE_GOOGLE, NULL, google, 2);
    s_test_values (&test, google_text, DLB_TRACE_AUTO, NULL, google, 2);
    const char *bitbrains_text =
        "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\t"
        "CPU usage [MHZ];\tCPU usage [%];\tMemory usage [KB]\n"
        "1372629804;\t4;\t11703.99;\t68.27;\t0.5833333333333334;\t1.6777216E7\n"
        "1372630104;\t4;\t11703.99;\t58.51;\t250.5;\t0.0\n";
    const double bitbrains[] = {0.5833333333333334, 100};
    s_test_values (&test, bitbrains_text, DLB_TRACE_BITBRAINS, NULL, bitbrains, 2);
    s_test_values (&test, bitbrains_text, DLB_TRACE_AUTO, NULL, bitbrains, 2);
    dlb_trace_t *trace = NULL;
    assert (s_test_load (&test, bitbrains_text, DLB_TRACE_AUTO, NULL, false, &trace) ==
            0);
    assert (trace->clamped == 1);
    dlb_trace_destroy (&trace);
    const char *csv_text = "timestamp,cpu_total,cpu0,runq\n"
                           "1700000000.000,12.50,10.00,1\n"
                           "1700000001.000,50.00,60.00,2\n";
    const double csv_total[] = {12.5, 50}, csv_cpu0[] = {10, 60};
    s_test_values (&test, csv_text, DLB_TRACE_CSV, NULL, csv_total, 2);
    s_test_values (&test, csv_text, DLB_TRACE_AUTO, "cpu0", csv_cpu0, 2);

    //  Malformed lines name file and line.
    s_test_fails (&test, "10\nabc\n20\n", DLB_TRACE_PLANETLAB, 2, "not a number");
    s_test_fails (&test, "10\nnan\n", DLB_TRACE_PLANETLAB, 2, "'nan'");
    s_test_fails (&test, "10\n20\ninf\n", DLB_TRACE_AUTO, 3, "'inf'");
    s_test_fails (&test, "10\n0x10\n", DLB_TRACE_PLANETLAB, 2, "not a number");
    s_test_fails (&test, "10\n1e999\n", DLB_TRACE_PLANETLAB, 2, "not a number");
    s_test_fails (&test, "10\n-5\n", DLB_TRACE_PLANETLAB, 2, "negative");
    s_test_fails (&test, "10\n\n20\n", DLB_TRACE_PLANETLAB, 2, "empty line");
    s_test_fails (&test, "10\n20 30\n", DLB_TRACE_PLANETLAB, 2, "expected 1 fields");
    s_test_fails (&test, "1 2\n3 4 5\n", DLB_TRACE_AUTO, 2, "expected 2 fields");
    s_test_fails (&test, "1 2\n3 x\n", DLB_TRACE_GOOGLE, 2, "field 2");
    s_test_fails (&test, "1 2 3\n", DLB_TRACE_AUTO, 1, "cannot guess");
    s_test_fails (&test, "a;b;c\n1;2;3\n", DLB_TRACE_BITBRAINS, 1, "CPU usage [%]");
    s_test_fails (&test, "1,2\n3,4\n", DLB_TRACE_CSV, 1, "header");
    s_test_fails (&test, "a,b\n1,2,3\n", DLB_TRACE_CSV, 2, "expected 2 fields");
    s_test_fails (&test, "a,b\n1,\n", DLB_TRACE_CSV, 2, "field 2 is not a number: ''");
    s_test_fails (&test, "", DLB_TRACE_PLANETLAB, 0, "no samples");
    s_test_fails (&test, "", DLB_TRACE_AUTO, 0, "no samples");
    s_test_fails (&test, "a,cpu_total\n", DLB_TRACE_CSV, 0, "no samples");
    assert (s_test_load (&test, csv_text, DLB_TRACE_CSV, "nope", false, &trace) == -1);
    assert (strstr (test.err, ":1: no column 'nope'"));

    //  skip_bad counts what it leaves out; a header is never skipped.
    assert (s_test_load (&test, "10\nabc\nnan\n-1\n\n150\n20", DLB_TRACE_PLANETLAB, NULL,
                         true, &trace) == 0);
    assert (trace->count == 3 && trace->skipped == 4 && trace->clamped == 1);
    assert (trace->values[0] == 10 && trace->values[1] == 100 && trace->values[2] == 20);
    assert (test.err[0] == 0);
    dlb_trace_destroy (&trace);
    assert (s_test_load (&test, "abc\nnan\n", DLB_TRACE_PLANETLAB, NULL, true, &trace) ==
            -1);
    assert (strstr (test.err, "no samples"));
    assert (s_test_load (&test, "a;b\n1;2\n", DLB_TRACE_BITBRAINS, NULL, true, &trace) ==
            -1);
    assert (strstr (test.err, ":1:"));

    //  Rates: a column of bytes/s, not clamped; still strict.
    FILE *file = fopen (test.path, "w");
    assert (file);
    fputs ("timestamp,disk_read_bps\n1,0\n2,1.5e7\n", file);
    fclose (file);
    assert (dlb_trace_load_rate (test.path, "disk_read_bps", false, &trace, test.err,
                                 sizeof test.err) == 0);
    assert (trace->count == 2 && trace->values[1] == 1.5e7 && trace->clamped == 0);
    dlb_trace_destroy (&trace);
    assert (dlb_trace_load_rate (test.path, "net_in_bps", false, &trace, test.err,
                                 sizeof test.err) == -1);
    assert (strstr (test.err, ":1: no column 'net_in_bps'"));
    file = fopen (test.path, "w");
    assert (file);
    fputs ("timestamp,net_in_bps\n1,-5\n", file);
    fclose (file);
    assert (dlb_trace_load_rate (test.path, "net_in_bps", false, &trace, test.err,
                                 sizeof test.err) == -1);
    assert (strstr (test.err, ":2: negative rate"));

    //  A missing file names the file.
    assert (unlink (test.path) == 0);
    assert (dlb_trace_load (test.path, DLB_TRACE_AUTO, NULL, false, &trace, test.err,
                            sizeof test.err) == -1);
    assert (strstr (test.err, test.path) && strstr (test.err, "cannot open"));
    assert (trace == NULL);
    assert (rmdir (test.dir) == 0);
    if (verbose)
        printf ("\n");
}
