#!/usr/bin/env bash
# shellcheck disable=SC2016  # wait_for conditions are single-quoted on purpose
#  dlb-replay: replays a 10-sample trace at 0.5 s per sample on the least busy
#  CPU within a loose bound in total mode (this machine may be busy with other
#  work); in own mode holds its share beside a busy loop on the same CPU where
#  total mode backs off; stops promptly on SIGTERM, and rejects bad traces and
#  arguments. Exits 77 (skip) only if other work keeps every CPU too busy for
#  a fidelity measurement.
#  Usage: tests/test_replay.sh BUILD_DIR
set -u
build=${1:?usage: test_replay.sh BUILD_DIR}
replay=$build/dlb-replay
tmp=$(mktemp -d)
pid=
cleanup () {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail () { echo "FAIL: $*"; exit 1; }
[ -x "$replay" ] || fail "no $replay (build first)"
MAX_MEAN_DEV=25     #  points; loose: other processes may load the CPU too
MAX_BUSY_BEFORE=60  #  % busy of the least busy CPU above which we wait and retry
MAX_OTHERS=30       #  points of others' load during the run above which we retry
MAX_STOP_SECS=1.5   #  secs from SIGTERM to exit (the design target is 0.5)
MAX_OWN_SHORT=8     #  points own mode may fall short of 15-25 % beside a busy loop
MAX_TOTAL_OURS=5    #  points of its own load total mode may add beside a busy loop

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

#  Prints the value of key $1 in dlb-replay's summary line (key=value ...) in
#  $tmp/out, or in the line that starts with $2 if given.
summary () {
    awk -v key="$1" -v first="${2:-mode=}" 'index ($1, first) == 1 {
        for (i = 1; i <= NF; i++) { split ($i, kv, "="); if (kv[1] == key) print kv[2] } }' \
        "$tmp/out"
}

#  Sets cpu and busy: the least busy CPU over one second, and its busy %.
pick_cpu () {
    read -r cpu busy < <(
        { grep '^cpu[0-9]' /proc/stat; sleep 1; grep '^cpu[0-9]' /proc/stat; } | awk '
            { b = $2 + $3 + $4 + $7 + $8 + $9; t = b + $5 + $6
              if ($1 in b0) { db = b - b0[$1]; dt = t - t0[$1]
                              p = dt > 0 ? 100 * db / dt : 100
                              if (best == "" || p < bestp) { best = $1; bestp = p } }
              else { b0[$1] = b; t0[$1] = t } }
            END { sub ("cpu", "", best); printf "%s %.0f\n", best, bestp }')
}

#  Fidelity, loosely: mean |achieved - target| over intervals 1..9. Other
#  processes' load on the CPU (dlb-replay's "others") can only add to what is
#  achieved; when it averages above MAX_OTHERS the run says nothing about the
#  replayer, so it is tried again, and the test skips if it never gets a quiet
#  enough CPU.
printf '%s\n' 20 80 40 90 60 30 85 50 70 40 >"$tmp/trace"
measured=false
for attempt in 1 2 3; do
    pick_cpu
    if [ "$busy" -gt "$MAX_BUSY_BEFORE" ]; then
        echo "attempt $attempt: the least busy CPU ($cpu) is $busy % busy with other work"
        continue
    fi
    echo "attempt $attempt: replaying on CPU $cpu ($busy % busy before)"
    timeout 60 "$replay" "$tmp/trace" --mode total --format planetlab \
        --seconds-per-sample 0.5 --cpus "$cpu" --report "$tmp/report.csv" >"$tmp/out" 2>"$tmp/err" \
        || fail "dlb-replay exited $?: $(cat "$tmp/err")"
    cat "$tmp/out"
    [ "$(head -1 "$tmp/report.csv")" = "index,target,achieved" ] || fail "report header"
    [ "$(wc -l <"$tmp/report.csv")" -eq 11 ] || fail "report has not 10 rows"
    mean=$(awk -F, 'NR > 2 { d = $3 - $2; s += d < 0 ? -d : d; n++ }
        END { printf "%.2f", s / n }' "$tmp/report.csv")
    reported=$(summary mean_dev)
    others=$(summary others)
    awk -v a="$mean" -v b="$reported" 'BEGIN { d = a - b; exit !(d < 0.02 && d > -0.02) }' \
        || fail "summary mean_dev=$reported but the report gives $mean"
    if awk -v o="$others" -v max="$MAX_OTHERS" 'BEGIN { exit !(o > max) }'; then
        echo "attempt $attempt: others' load averaged $others points; not conclusive"
        continue
    fi
    measured=true
    break
done
if $measured; then
    awk -v m="$mean" -v max="$MAX_MEAN_DEV" 'BEGIN { exit !(m <= max) }' \
        || fail "mean deviation $mean points > $MAX_MEAN_DEV (others' load $others)"
    echo "ok: mean deviation $mean points (others' load $others points)"
else
    echo "no CPU quiet enough for a total-mode fidelity measurement in 3 attempts;" \
        "the other checks run, then the test skips"
fi

#  Own mode beside a busy loop pinned to the same CPU: an owner's process
#  keeps its share (15-25 % is below what the scheduler gives each of a few
#  runnable tasks), where total mode sees the CPU busy and adds nothing.
printf '%s\n' 20 15 25 20 15 25 20 15 >"$tmp/low"
taskset -c "$cpu" bash -c 'while :; do :; done' &
pid=$!
timeout 30 "$replay" "$tmp/low" --mode own --format planetlab --seconds-per-sample 0.5 \
    --cpus "$cpu" --report "$tmp/own.csv" >"$tmp/out" 2>"$tmp/err" \
    || fail "dlb-replay --mode own exited $?: $(cat "$tmp/err")"
cat "$tmp/out"
own_short=$(summary short)
own_others=$(summary others)
timeout 30 "$replay" "$tmp/low" --mode total --format planetlab --seconds-per-sample 0.5 \
    --cpus "$cpu" >"$tmp/out" 2>"$tmp/err" \
    || fail "dlb-replay --mode total exited $?: $(cat "$tmp/err")"
cat "$tmp/out"
total_ours=$(awk -v o="$(summary others)" 'BEGIN { printf "%.1f", 100 - o }')
kill "$pid"; wait "$pid" 2>/dev/null; pid=
awk -v o="$own_others" 'BEGIN { exit !(o >= 50) }' \
    || fail "the busy loop took only $own_others points of CPU $cpu beside own mode"
awk -v s="$own_short" -v max="$MAX_OWN_SHORT" 'BEGIN { exit !(s <= max) }' \
    || fail "own mode fell $own_short points short beside a busy loop (max $MAX_OWN_SHORT)"
awk -v o="$total_ours" -v max="$MAX_TOTAL_OURS" 'BEGIN { exit !(o <= max) }' \
    || fail "total mode added $total_ours points beside a busy loop: it should back off"
echo "ok: own mode $own_short points short beside a busy loop; total mode added $total_ours"

#  SIGTERM ends a looping replay promptly, with a summary.
"$replay" "$tmp/trace" --loop --seconds-per-sample 0.5 --cpus "$cpu" \
    --report "$tmp/loop.csv" >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_for '[ -f "$tmp/loop.csv" ] && [ "$(wc -l <"$tmp/loop.csv")" -ge 3 ]' 100 \
    || fail "no intervals reported within 10 s"
start=$(date +%s.%N)
kill -TERM "$pid"
wait_for '! kill -0 "$pid" 2>/dev/null' 50 || fail "still running 5 s after SIGTERM"
wait "$pid"
rc=$?
pid=
took=$(echo "$(date +%s.%N) $start" | awk '{ printf "%.3f", $1 - $2 }')
[ "$rc" -eq 0 ] || fail "exit $rc after SIGTERM"
awk -v t="$took" -v max="$MAX_STOP_SECS" 'BEGIN { exit !(t <= max) }' \
    || fail "took $took s to stop after SIGTERM"
grep -q 'intervals=' "$tmp/out" || fail "no summary after SIGTERM"
echo "ok: stopped ${took} s after SIGTERM"

#  A malformed trace: non-zero exit, the message names file and line.
printf '10\nabc\n30\n' >"$tmp/bad"
timeout 10 "$replay" "$tmp/bad" --cpus "$cpu" >/dev/null 2>"$tmp/err" \
    && fail "accepted a malformed trace"
grep -q "$tmp/bad:2:" "$tmp/err" || fail "no file:line in: $(cat "$tmp/err")"
timeout 10 "$replay" "$tmp/missing" --cpus "$cpu" >/dev/null 2>"$tmp/err" \
    && fail "accepted a missing trace"
grep -q "$tmp/missing" "$tmp/err" || fail "missing file not named"
printf '10\nnan\n' >"$tmp/bad"
timeout 10 "$replay" "$tmp/bad" --skip-bad --seconds-per-sample 0.1 --cpus "$cpu" \
    >/dev/null 2>"$tmp/err" || fail "--skip-bad did not skip: $(cat "$tmp/err")"
grep -q '1 malformed' "$tmp/err" || fail "--skip-bad did not report the skipped line"
echo "ok: malformed traces"

#  Bad arguments: usage and exit 2.
for args in "" "$tmp/trace --mode both" "$tmp/trace --cpus x" "$tmp/trace --cpus 0-" "$tmp/trace --format nope" \
    "$tmp/trace --seconds-per-sample 0" "$tmp/trace --bogus" "$tmp/trace --report"; do
    # shellcheck disable=SC2086
    timeout 10 "$replay" $args >/dev/null 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "'$args' exited $rc, want 2"
    grep -q usage "$tmp/err" || fail "'$args' printed no usage"
done
echo "ok: bad arguments exit 2"
if ! $measured; then
    echo "SKIP: total-mode fidelity not measured (every CPU busy with other work)"
    exit 77
fi
echo "PASS"
