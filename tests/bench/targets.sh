#!/bin/bash
# SPDX-License-Identifier: MIT
# vsock-bench's targets verdict and --repeat: every workload row once per
# repetition, the verdict from the median with how many runs met it, and
# bad --repeat values refused.  TAP; skips while the daemon is not built.
b=${top_builddir:-.}
bench="$b/vsock-bench"
daemon="$b/vhost-device-vsock"
if [ ! -x "$daemon" ] || [ ! -x "$bench" ]; then
	echo "1..1"
	echo "ok 1 - vsock-bench targets # SKIP vhost-device-vsock not built"
	exit 0
fi
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else notok "$what"; fi; }
tmp=$(mktemp -d /tmp/vk-bench-targets.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
	echo "1..$n"
}
trap cleanup EXIT
"$daemon" --guest-cid 3 --socket "$tmp/vhost.sock" --uds-path "$tmp/vsock.uds" >"$tmp/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$tmp/vhost.sock" ] && break; sleep 0.05; done

timeout 120 "$bench" --socket "$tmp/vhost.sock" --uds-path "$tmp/vsock.uds" --workloads g2h,rr \
	--size 4096 --time 0.5 --repeat 2 >"$tmp/out" 2>"$tmp/err"
rc=$?
sed 's/^/# /' "$tmp/out"
check "--repeat 2: runs and exits 0 (exit $rc)" [ $rc -eq 0 ]
rows() { [ "$(grep -c "^$1 " "$tmp/out")" = "$2" ]; }
check "--repeat 2: two g2h rows" rows g2h 2
check "--repeat 2: two rr rows" rows rr 2
check "verdict: the 4 KiB guest->host target from 2 runs" \
	grep -Eq '^  4 KiB stream guest->host .* (met|MISSED) \([0-2] of 2 runs; ' "$tmp/out"
check "verdict: the round-trip target from 2 runs" \
	grep -Eq '^  64-byte round trip .* (met|MISSED) \([0-2] of 2 runs; ' "$tmp/out"
check "verdict: workloads not run are 'not measured'" \
	grep -Eq '^  64 KiB stream host->guest .*not measured' "$tmp/out"
# each workload stops listening when it ends: more repetitions than the
# guest has listening slots (16) still connect every time
timeout 120 "$bench" --socket "$tmp/vhost.sock" --uds-path "$tmp/vsock.uds" --workloads h2g \
	--size 4096 --time 0.05 --repeat 17 >"$tmp/out" 2>"$tmp/err"
rc=$?
check "--repeat 17 h2g: 17 rows, none failed (exit $rc)" \
	test $rc -eq 0 -a "$(grep -c '^h2g ' "$tmp/out")" = 17 -a "$(grep -c FAILED "$tmp/out")" = 0
for r in 0 21 x; do
	"$bench" --socket "$tmp/vhost.sock" --uds-path "$tmp/vsock.uds" --repeat "$r" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	check "--repeat $r refused (exit $rc: $(head -n 1 "$tmp/err"))" test $rc -eq 2 -a ! -s "$tmp/out"
done
