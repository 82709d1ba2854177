#!/usr/bin/env bash
#  Integration test of dlb-web, the dashboard: a two-node cluster, dlb-web on
#  a port the OS picks, and headless Chromium (tests/web_browser.py) using the
#  page as a person would: both nodes shown, node b's throttle slider moved
#  (checked with dlbctl status --json), a workload submitted through the form
#  and seen verified; screenshots (start, middle, end, phone) in BUILD_DIR.
#  Also /metrics (and promtool check metrics if installed), the token, the
#  CSRF check and bad requests. Skips (77) without chromium, chromedriver or
#  python3-selenium.  Usage: tests/test_web.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: test_web.sh BUILD_DIR}" && pwd)
source "$(dirname "$0")/lib.bash"
require test_web "$build/dlb-web" "$build/dlbctl" "$build/dlb-cluster"
for tool in chromium chromedriver curl; do
    command -v $tool >/dev/null || { echo "test_web: $tool not installed; skipping" >&2; exit 77; }
done
/usr/bin/python3 -c 'import selenium' 2>/dev/null ||
    { echo "test_web: python3-selenium not installed; skipping" >&2; exit 77; }
dir=$(mktemp -d /tmp/dlb-test-web.XXXXXX)
web_pid="" web2_pid=""
fail() {
    echo "FAIL: $*" >&2
    tail_logs 20 "$dir"/web*.out "$dir"/web*.err "$dir"/a-worker.log "$dir"/a-monitor.log
    exit 1
}
cleanup() {
    for pid in $web_pid $web2_pid; do kill "$pid" 2>/dev/null || true; done
    "$build/dlb-cluster" down --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

"$build/dlb-cluster" up --nodes 2 --throttle 1.0,1.0 --policy symmetric --port 0 \
    --dir "$dir" > "$dir/nodes" || fail "cluster did not start"
a=$(awk '$1 == "a" { print $2 }' "$dir/nodes")
b=$(awk '$1 == "b" { print $2 }' "$dir/nodes")

echo "1. usage"
"$build/dlb-web" --help | grep -q -- '--listen' || fail "--help"
"$build/dlb-web" --version | grep -Eq '^dlb-web [0-9]+\.[0-9]+' || fail "--version"
rc=0; "$build/dlb-web" --bogus 2>"$dir/err" || rc=$?
[ $rc -eq 2 ] && grep -q "unknown option '--bogus'" "$dir/err" || fail "bad option: exit $rc"
rc=0; "$build/dlb-web" --node "$a" --listen nowhere 2>"$dir/err" || rc=$?
[ $rc -eq 2 ] && grep -q "expected ADDR:PORT" "$dir/err" || fail "bad --listen: exit $rc"
rc=0; "$build/dlb-web" --node "$dir/nodes" 2>"$dir/err" || rc=$?
[ $rc -eq 2 ] && grep -q "not a node file" "$dir/err" || fail "bad node file: exit $rc"

echo "2. dlb-web on 127.0.0.1:0, attached to a, with b's socket too"
"$build/dlb-web" --node "$a" --node "$b" --listen 127.0.0.1:0 >"$dir/web.out" 2>"$dir/web.err" &
web_pid=$!
wait_for 20 grep -q '^dlb-web: serving http://127.0.0.1:[0-9]*/' "$dir/web.out" || fail "dlb-web did not say where it serves"
url=$(grep -o 'http://127.0.0.1:[0-9]*/' "$dir/web.out" | head -1)
wait_for 20 bash -c "curl -sf ${url}api/status | jq -e '.sources | length == 2 and all(.ok)' >/dev/null" ||
    fail "/api/status does not show both nodes answering"

echo "3. refusals: cross-site POST, foreign Host, bad input"
code=$(curl -s -o "$dir/r" -w '%{http_code}' -X POST -d 'node=b&value=0.2' "${url}api/throttle")
[ "$code" = 403 ] || fail "a POST without X-DLB-CSRF got $code"
code=$(curl -s -o "$dir/r" -w '%{http_code}' -X POST -H 'X-DLB-CSRF: 1' -H 'Origin: http://evil.example' \
    -d 'node=b&value=0.2' "${url}api/throttle")
[ "$code" = 403 ] || fail "a POST from another origin got $code"
code=$(curl -s -o "$dir/r" -w '%{http_code}' -H 'Host: evil.example' "${url}api/status")
[ "$code" = 401 ] || fail "a foreign Host (DNS rebinding) got $code"
post() { curl -s -o "$dir/r" -w '%{http_code}' -X POST -H 'X-DLB-CSRF: 1' --data-binary "$2" "${url}api/$1"; }
[ "$(post throttle 'node=b&value=7')" = 400 ] && grep -q 'in (0, 1]' "$dir/r" || fail "throttle 7: $(cat "$dir/r")"
[ "$(post throttle 'node=b&value=%zz')" = 400 ] || fail "malformed form: $(cat "$dir/r")"
[ "$(post policy 'node=b&name=chaos')" = 400 ] || fail "policy chaos: $(cat "$dir/r")"
[ "$(post throttle 'node=zz&value=0.5')" = 200 ] && grep -q 'no control socket for node zz' "$dir/r" ||
    fail "unknown node: $(cat "$dir/r")"
[ "$(post submit 'output=../../etc/x')" = 200 ] && jq -e '.ok == false and (.results[0].error | test("data directory"))' "$dir/r" >/dev/null ||
    fail "submit outside the data directory: $(cat "$dir/r")"
head -c 20000 /dev/urandom > "$dir/junk"
code=$(curl -s -o "$dir/r" -w '%{http_code}' -X POST -H 'X-DLB-CSRF: 1' --data-binary @"$dir/junk" "${url}api/submit")
[ "$code" = 413 ] || fail "a 20 kB body got $code"
[ "$(post cancel 'id=a-1')" = 200 ] && jq -e '.ok == false and (.results[0].error | length > 0)' "$dir/r" >/dev/null ||
    fail "cancel of an unknown workload: $(cat "$dir/r")"
(exec 3<>"/dev/tcp/127.0.0.1/${url##*:}" && printf 'GARBAGE \xff\x00\r\n\r\n' >&3) 2>/dev/null || true
kill -0 "$web_pid" || fail "dlb-web died on bad input"

echo "4. the page in headless Chromium"
#  TMPDIR: Chromium leaves directories in it; the test's own is removed at exit.
TMPDIR="$dir" /usr/bin/python3 "$(dirname "$0")/web_browser.py" "$url" "$build/dlbctl" "$b" "$a" "$build" ||
    fail "browser test"
for shot in start middle end phone; do
    [ "$(head -c 8 "$build/web-$shot.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] ||
        fail "web-$shot.png is not a PNG"
done

echo "5. /metrics"
curl -sf "${url}metrics" > "$dir/metrics" || fail "/metrics"
grep -Eq '^dlb_jobs_done_total\{node="a"\} [1-9]' "$dir/metrics" || fail "no jobs done for a: $(head -5 "$dir/metrics")"
grep -Eq '^dlb_throttle_ratio\{node="b"\} 0\.[0-9]+$' "$dir/metrics" || fail "b's throttle"
grep -Eq '^dlb_workload_verified\{node="a",workload="a-[0-9]+"\} 1$' "$dir/metrics" || fail "no verified workload"
grep -Eq '^dlb_transfer_sent_wire_bytes_total\{node="a"\} [1-9]' "$dir/metrics" || fail "no transfer bytes"
grep -Eq '^dlb_up\{node="b"\} 1$' "$dir/metrics" || fail "b not up"
if command -v promtool >/dev/null; then
    promtool check metrics < "$dir/metrics" || fail "promtool check metrics"
else
    echo "test_web: promtool not installed; the exposition format is not checked" >&2
fi

echo "6. a token when the address is not loopback"
printf 'a-token-of-twenty-chars\n' > "$dir/token"
"$build/dlb-web" --node "$a" --listen 0.0.0.0:0 --token-file "$dir/token" >"$dir/web2.out" 2>"$dir/web2.err" &
web2_pid=$!
wait_for 20 grep -q 'log in at' "$dir/web2.out" || fail "dlb-web with a token did not start"
port2=$(sed -n 's|^dlb-web: serving http://0.0.0.0:\([0-9]*\)/.*|\1|p' "$dir/web2.out")
u2="http://127.0.0.1:$port2"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$u2/api/status")" = 401 ] || fail "no token, not refused"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong-token-of-twenty' "$u2/api/status")" = 401 ] ||
    fail "wrong token, not refused"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer a-token-of-twenty-chars' "$u2/metrics")" = 200 ] ||
    fail "the token, refused"
curl -s -c "$dir/jar" -o /dev/null "$u2/?token=a-token-of-twenty-chars"
grep -q 'dlb_token' "$dir/jar" || fail "/?token= set no cookie"
[ "$(curl -s -b "$dir/jar" -o /dev/null -w '%{http_code}' "$u2/")" = 200 ] || fail "the cookie, refused"
"$build/dlb-web" --node "$a" --listen 0.0.0.0:0 >"$dir/web3.out" 2>&1 &
web3_pid=$!
wait_for 20 grep -q 'log in at .*token=[0-9a-f]\{48\}' "$dir/web3.out" || { kill $web3_pid; fail "no token made for 0.0.0.0"; }
kill "$web3_pid"; wait "$web3_pid" 2>/dev/null || true

echo "7. dlb-web stops on SIGTERM"
kill "$web_pid"
wait_for 10 bash -c "! kill -0 $web_pid 2>/dev/null" || fail "dlb-web did not stop"
wait "$web_pid" 2>/dev/null || fail "dlb-web exited non-zero on SIGTERM"
web_pid=""
echo "test_web: ok"
