#!/usr/bin/env bash
# shellcheck disable=SC2016  # wait_for conditions are single-quoted on purpose
#  dlb-collect: writes a CSV with one header and a line per interval, appends
#  to it without a second header, stops on SIGTERM, refuses bad arguments with
#  exit 2, and its output loads as a csv trace.
#  Usage: tests/test_collect.sh BUILD_DIR
set -u
build=${1:?usage: test_collect.sh BUILD_DIR}
collect=$build/dlb-collect
replay=$build/dlb-replay
tmp=$(mktemp -d)
pid=
cleanup () {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail () { echo "FAIL: $*"; exit 1; }
[ -x "$collect" ] || fail "no $collect (build first)"

#  Waits up to $2 tenths of a second for the shell condition $1 (evaluated
#  each time, hence passed in single quotes) to hold.
wait_for () {
    local tenths=0
    until eval "$1"; do
        tenths=$((tenths + 1))
        [ "$tenths" -le "$2" ] || return 1
        sleep 0.1
    done
}

out=$tmp/load.csv
timeout 20 "$collect" --interval 0.2 --duration 1 --out "$out" 2>"$tmp/err" \
    || fail "dlb-collect exited $?: $(cat "$tmp/err")"
header=$(head -1 "$out")
case $header in
    timestamp,cpu_total,cpu0,*,runq,load1,disk_read_bps,disk_write_bps,net_in_bps,net_out_bps) ;;
    *) fail "bad header: $header" ;;
esac
fields=$(head -1 "$out" | awk -F, '{print NF}')
ncpu=$(grep -c '^cpu[0-9]' /proc/stat)
[ "$fields" -eq $((ncpu + 8)) ] || fail "header has $fields columns for $ncpu CPUs"
lines=$(($(wc -l <"$out") - 1))
[ "$lines" -ge 3 ] || fail "only $lines samples in 1 s at 0.2 s"
awk -F, -v n="$fields" 'NR > 1 && (NF != n || $2 < 0 || $2 > 100 || $1 < 1e9) { bad = 1 }
    END { exit bad }' "$out" || fail "a line has a wrong column count or value"
echo "ok: header and $lines lines"

#  Appending: no second header.
timeout 20 "$collect" --interval 0.2 --duration 0.4 --out "$out" 2>/dev/null \
    || fail "append run failed"
[ "$(grep -c '^timestamp' "$out")" -eq 1 ] || fail "second header written"
[ $(($(wc -l <"$out") - 1)) -gt "$lines" ] || fail "nothing appended"
echo "ok: appends without a second header"

#  A file with another header is refused.
echo "timestamp,something_else" >"$tmp/other.csv"
timeout 20 "$collect" --interval 0.2 --duration 0.2 --out "$tmp/other.csv" 2>/dev/null \
    && fail "accepted a file with a different header"
echo "ok: refuses a different header"

#  SIGTERM stops it cleanly, with every finished line on disk.
"$collect" --interval 0.1 --out "$tmp/term.csv" 2>/dev/null &
pid=$!
wait_for '[ -f "$tmp/term.csv" ] && [ "$(wc -l <"$tmp/term.csv")" -ge 3 ]' 100 \
    || fail "no lines within 10 s"
kill -TERM "$pid"
wait_for '! kill -0 "$pid" 2>/dev/null' 30 || fail "still running 3 s after SIGTERM"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || fail "exit $rc after SIGTERM"
tail -c 1 "$tmp/term.csv" | od -c | grep -q '\\n' || fail "last line cut short"
echo "ok: SIGTERM stops it"

#  --help: usage on stdout, exit 0.
"$collect" --help > "$tmp/help" || fail "--help exited $?"
grep -q usage "$tmp/help" || fail "--help printed no usage"

#  Bad arguments: usage and exit 2.
for args in "--interval abc --out $tmp/x" "--interval 0 --out $tmp/x" "--interval 1" \
    "--out $tmp/x --bogus" "--out" "--out $tmp/x --duration -1"; do
    # shellcheck disable=SC2086
    timeout 10 "$collect" $args >/dev/null 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "'$args' exited $rc, want 2"
    grep -q usage "$tmp/err" || fail "'$args' printed no usage"
done
echo "ok: bad arguments exit 2"

#  The output is a csv trace for dlb-replay (a short replay of cpu_total).
if [ -x "$replay" ]; then
    timeout 30 "$replay" "$out" --format csv --seconds-per-sample 0.1 >/dev/null 2>"$tmp/err" \
        || fail "dlb-replay cannot replay the collected CSV: $(cat "$tmp/err")"
    echo "ok: replayable as a csv trace"
fi
echo "PASS"
