#!/bin/bash
# SPDX-License-Identifier: MIT
#
# xen-notify-bench.sh - xensim-notify-bench runs and reports rates for the
# KVM path, the ioreq path through xen-vhost-master and the privcmd
# eventfd path.  Figures are not checked (this machine is shared), only
# that every path moved notifications.  Prints TAP.

B=${top_builddir:-.}
SIM=$B/tests/xensim
BENCH=$SIM/xensim-notify-bench
MASTER=$B/xen-vhost-master
SHIM=$SIM/libxensim-privcmd.so

for f in "$BENCH" "$MASTER" "$SHIM"; do
	if [ ! -x "$f" ] && [ ! -f "$f" ]; then
		echo "1..0 # SKIP $f is not built"
		exit 0
	fi
done
echo "1..4"
out=$(LD_LIBRARY_PATH=$SIM${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} timeout 120 \
	"$BENCH" -n 300 --master "$MASTER" --shim "$(cd "$(dirname "$SHIM")" && pwd)/$(basename "$SHIM")" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
if [ $rc -eq 0 ]; then echo "ok 1 - xensim-notify-bench runs"; else echo "not ok 1 - xensim-notify-bench runs (exit $rc)"; fi
n=1
for path in "kvm:" "xen: ioreq" "xen, privcmd"; do
	n=$((n + 1))
	# the second table: "path  round-trips/s  us-per-round"
	rate=$(echo "$out" | sed -n '/round trips\/s/,$p' | grep -F "$path" | awk '{print $(NF-1)}')
	if [ -n "$rate" ] && awk -v r="$rate" 'BEGIN { exit !(r > 0) }'; then
		echo "ok $n - $path reports a non-zero rate ($rate round trips/s)"
	else
		echo "not ok $n - $path reports a non-zero rate (got '$rate')"
	fi
done
