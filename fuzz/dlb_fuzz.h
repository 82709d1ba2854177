/*  dlb_fuzz: what the libFuzzer harnesses of fuzz/ share. A harness is one
    file NAME.c with LLVMFuzzerTestOneInput, built as fuzz_NAME when
    DLB_FUZZ is on (README.md, "Fuzzing"); the decoders it drives are the
    production ones, built instrumented.                                  */
#ifndef DLB_FUZZ_H_INCLUDED
#define DLB_FUZZ_H_INCLUDED

#include "dlb_proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLB_FUZZ_REASON 256 //  bytes of a decoder's reason

//  The harness: one input, 0 (or -1: do not keep it in the corpus).
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  Quiets the library's warnings (every bad input logs one); libFuzzer
//  calls it at start through LLVMFuzzerInitialize. Cannot fail.
void dlb_fuzz_quiet (void);

//  Writes data to NAME in a directory of this process's own (made on the
//  first call, removed at exit) and returns the file's path, valid until
//  the next call. Aborts if the file cannot be written: that is the
//  machine's fault, not the input's.
const char *dlb_fuzz_file (const char *name, const void *data, size_t size);

//  The directory dlb_fuzz_file writes in (made if needed).
const char *dlb_fuzz_dir (void);

//  Decodes a message of the given type whose body is data (the header is
//  prepended here, so the fuzzer spends no time finding it). Returns what
//  dlb_msg_decode returns; on 0 the message owns its frame: release it
//  with dlb_msg_release.
int dlb_fuzz_msg (int type, const uint8_t *data, size_t size, dlb_msg_t *msg);

//  Writes a journal image to NAME like dlb_fuzz_file; with seal, every
//  whole record of it gets its right CRC first, so that the fuzzer's
//  records reach the code that reads their payloads (a record that runs
//  past the end stays torn). Returns the path.
const char *dlb_fuzz_journal (const char *name, const uint8_t *data, size_t size,
                              bool seal);

#endif
