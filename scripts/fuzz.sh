#!/usr/bin/env bash
#  Builds the libFuzzer harnesses of fuzz/ with clang (address and undefined
#  sanitizers) into build-fuzz/, runs each for SECONDS (default 30), one at
#  a time, from its committed seeds (fuzz/corpus/NAME) and the corpus it
#  grew before (build-fuzz/corpus/NAME), and prints a table: executions,
#  exec/s, coverage (edges and features), corpus size, result. Exits 1 if
#  any harness found a crash, a leak, a timeout or an out-of-memory; the
#  input that did it is the artifact named in the table (reproduce with
#  build-fuzz/fuzz_NAME ARTIFACT). Logs: build-fuzz/logs/NAME.log.
#  Usage: scripts/fuzz.sh [SECONDS] [NAME...]   e.g. scripts/fuzz.sh 300 frame batch
#         scripts/fuzz.sh --seeds     rewrites fuzz/corpus/ with dlb_fuzz_seeds
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build-fuzz
seeds_only=false
[ "${1:-}" = --seeds ] && { seeds_only=true; shift; }
seconds=${1:-30}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a whole number" >&2; exit 2; }
shift || true

"$top/scripts/install-deps.sh" --fuzz
CC=clang cmake -S "$top" -B "$build" -DDLB_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" -- --no-print-directory -s >/dev/null
if $seeds_only; then
    "$build/dlb_fuzz_seeds" "$top/fuzz/corpus"
    echo "fuzz.sh: seeds written to fuzz/corpus/" >&2
    exit 0
fi

#  Largest input per harness (bytes): control requests and STATE are capped
#  at 64 KiB on the wire; files are cut where their decoders' work is done.
declare -A max_len=([frame]=65536 [batch]=65536 [state]=65536 [command]=65536
                    [npy]=8192 [trace]=8192 [journal]=16384 [workload]=16384)
declare -A dict=([frame]=msgpack [batch]=msgpack [state]=msgpack [command]=msgpack
                 [workload]=msgpack [npy]=npy [trace]=trace)
if [ $# -gt 0 ]; then
    names=("$@")
else
    names=()
    for source in "$top"/fuzz/*.c; do
        name=$(basename "$source" .c)
        [ "$name" = dlb_fuzz ] || [ "$name" = seeds ] || names+=("$name")
    done
fi

mkdir -p "$build/logs" "$build/artifacts"
failed=0
rows=()
for name in "${names[@]}"; do
    [ -x "$build/fuzz_$name" ] || { echo "fuzz.sh: no harness '$name'" >&2; exit 2; }
    corpus=$build/corpus/$name
    log=$build/logs/$name.log
    mkdir -p "$corpus"
    options=(-max_total_time="$seconds" -max_len="${max_len[$name]:-65536}"
             -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
             -artifact_prefix="$build/artifacts/$name-")
    [ -n "${dict[$name]:-}" ] && options+=(-dict="$top/fuzz/${dict[$name]}.dict")
    echo "fuzz.sh: $name for $seconds s" >&2
    status=0
    #  New inputs go to the first directory only: the seeds stay as committed.
    ASAN_OPTIONS=detect_leaks=1 \
        "$build/fuzz_$name" "${options[@]}" "$corpus" "$top/fuzz/corpus/$name" \
        >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    if [ "$status" -eq 0 ] && [ -z "$artifact" ]; then
        result=ok
    else
        #  "SUMMARY: AddressSanitizer: heap-buffer-overflow ...", "SUMMARY:
        #  libFuzzer: timeout", ...; a leak's summary counts bytes instead.
        kind=$(sed -n 's/^SUMMARY: [A-Za-z]*: \([a-z-]*\).*/\1/p' "$log" | head -1)
        grep -q 'ERROR: LeakSanitizer' "$log" && kind=leak
        result="CRASH (${kind:-exit $status}) ${artifact:-see $log}"
        failed=1
    fi
    rows+=("$(printf '%-9s %12s %8s %6s %6s %12s  %s' "$name" "${runs:-?}" "${speed:-?}" \
              "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result")")
done

printf '\n%-9s %12s %8s %6s %6s %12s  %s\n' harness executions exec/s cov ft corpus result
printf '%s\n' "${rows[@]}"
exit $failed
