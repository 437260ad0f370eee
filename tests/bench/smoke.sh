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
	--daemon-pid "$pid" --json "$tmp/bench.json" --plot "$tmp/charts of it's run" \
	>"$tmp/out1" 2>"$tmp/bench.err"
rc=$?
# the streams again with each host program in a thread of its own: there
# the guest's waits end only on a notification, so a wake-up the guest or
# the back-end loses shows as STALLED (on the guest's thread the host
# socket's readiness also ends them, and can hide it); parallel and vms
# too, whose host programs also have both ways (vms: the second VM again)
timeout 60 "$bench" --smoke --tap --host-thread --workloads g2h,h2g,both,parallel,vms \
	--socket "$tmp/vhost.sock" --uds-path "$tmp/vsock.uds" \
	--socket "$tmp/vhost4.sock" --uds-path "$tmp/vsock4.uds" --daemon-pid "$pid" \
	>"$tmp/out2" 2>>"$tmp/bench.err"
rc2=$?
# one TAP stream: the second run's tests numbered after the first's
n1=$(grep -cE '^(not )?ok ' "$tmp/out1")
grep -v '^1\.\.' "$tmp/out1"
awk -v n="$n1" '/^(not )?ok [0-9]+ /{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) { $i = $i + n; break }
	sub(/ - /, " - host thread: "); print; next } !/^1\.\./' "$tmp/out2"
echo "1..$((n1 + $(grep -cE '^(not )?ok ' "$tmp/out2")))"
for r in $rc $rc2; do
	if [ "$r" -gt 1 ]; then
		echo "# vsock-bench exit $r"; sed 's/^/# /' "$tmp/bench.err" "$tmp/daemon.log" | tail -n 30
		exit "$r"
	fi
done
# --plot, into a directory whose name has a space and a quote
if command -v gnuplot >/dev/null 2>&1 &&
   ! [ -s "$tmp/charts of it's run/throughput.png" ] && ! grep -q 'no charts' "$tmp/bench.err"; then
	echo "Bail out! --plot wrote no charts"; sed 's/^/# /' "$tmp/bench.err" | tail -n 10
	exit 1
fi
exit 0
