#!/bin/bash
# SPDX-License-Identifier: MIT
# A few seconds of vsock-bench against our vhost-device-vsock: every
# workload must move data (non-zero throughput) and the data must match.
# TAP; skips while the daemon is not built.
b=${top_builddir:-.}
bench="$b/vsock-bench"
daemon="$b/vhost-device-vsock"
if [ ! -x "$daemon" ] || [ ! -x "$bench" ]; then
	echo "1..1"
	echo "ok 1 - vsock-bench smoke # SKIP vhost-device-vsock not built"
	exit 0
fi
tmp=$(mktemp -d /tmp/vk-bench-smoke.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
# two VMs: the second one only for the several-VMs workload
"$daemon" --vm "guest-cid=3,socket=$tmp/vhost.sock,uds-path=$tmp/vsock.uds" \
	--vm "guest-cid=4,socket=$tmp/vhost4.sock,uds-path=$tmp/vsock4.uds" >"$tmp/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$tmp/vhost4.sock" ] && break; sleep 0.05; done
timeout 120 "$bench" --smoke --tap --socket "$tmp/vhost.sock" --uds-path "$tmp/vsock.uds" \
	--socket "$tmp/vhost4.sock" --uds-path "$tmp/vsock4.uds" \
	--daemon-pid "$pid" --json "$tmp/bench.json" --plot "$tmp/charts of it's run" 2>"$tmp/bench.err"
rc=$?
if [ $rc -gt 1 ]; then
	echo "# vsock-bench exit $rc"; sed 's/^/# /' "$tmp/bench.err" "$tmp/daemon.log" | tail -n 30
	exit $rc
fi
# --plot, into a directory whose name has a space and a quote
if command -v gnuplot >/dev/null 2>&1 &&
   ! [ -s "$tmp/charts of it's run/throughput.png" ] && ! grep -q 'no charts' "$tmp/bench.err"; then
	echo "Bail out! --plot wrote no charts"; sed 's/^/# /' "$tmp/bench.err" | tail -n 10
	exit 1
fi
exit 0
