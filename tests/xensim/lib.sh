# SPDX-License-Identifier: MIT
#
# lib.sh - the harness of the xensim shell tests, sourced after the test has
# named the binaries it needs in XSIM_NEED (MASTER DAEMON HOST GUEST SHIM,
# paths below; skipped when one is not built): a scratch directory $T with
# the simulator's socket, TAP counters (ok/notok/check/skip; the plan is
# printed at exit), cleanup of every pid in PIDS (logs of $T shown on
# failure or with KEEP=1), the simulated guests as coprocess G (ready when
# this returns), gcmd / gcmd_t to talk to them and start_daemon.  XSIM_TAG
# names the scratch directory.

B=${top_builddir:-.}
SIM=$B/tests/xensim
MASTER=$B/xen-vhost-master
DAEMON=$B/vhost-device-vsock
HOST=$B/tests/e2e/vsock-host
GUEST=$SIM/xensim-guest
SHIM=$SIM/libxensim-privcmd.so

for v in "${XSIM_NEED[@]}"; do
	f=${!v}
	if [ ! -x "$f" ]; then
		echo "1..0 # SKIP $f is not built"
		exit 0
	fi
done

T=$(mktemp -d "/tmp/vk-${XSIM_TAG:-xsim}.XXXXXX")
export XENSIM_SOCKET=$T/hv.sock
SIMENV="env LD_LIBRARY_PATH=$SIM${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
PIDS=()
n=0
fails=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else notok "$what"; fi; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }

cleanup() {
	echo "1..$n"
	[ -n "${G_PID:-}" ] && { echo quit >&"${G[1]}" 2>/dev/null; sleep 0.2; kill "$G_PID" 2>/dev/null; }
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "$fails" -ne 0 ] || [ -n "${KEEP:-}" ]; then
		for f in "$T"/*.log "$T"/guest.err; do
			[ -f "$f" ] && { echo "# --- $f"; tail -n 30 "$f" | sed 's/^/# /'; }
		done
	fi
	rm -rf "$T"
}
trap cleanup EXIT

coproc G { exec "$GUEST" 2>"$T/guest.err"; }
G_PID=$!

# one command to the simulated guests, its answer in $REPLY
gcmd() {
	echo "$*" >&"${G[1]}" || return 1
	read -t 60 -r REPLY <&"${G[0]}" || { REPLY="(no answer)"; return 1; }
	echo "# guest: $* -> $REPLY"
	[[ $REPLY == OK* ]]
}
# gcmd with a timeout as the first argument
gcmd_t() { local t=$1; shift; echo "$*" >&"${G[1]}"; read -t "$t" -r REPLY <&"${G[0]}" || REPLY="(no answer)"; echo "# guest: $* -> $REPLY"; [[ $REPLY == OK* ]]; }

# a vhost-device-vsock for guest $1 with CID $2 (socket $T/vsd$1.sock), its pid in D$1
start_daemon() {
	$SIMENV "$DAEMON" --guest-cid "$2" --socket "$T/vsd$1.sock" --uds-path "$T/vm$2.vsock" \
		>>"$T/daemon$1.log" 2>&1 &
	eval "D$1=$!"
	PIDS+=($!)
}

read -t 10 -r REPLY <&"${G[0]}"
[[ $REPLY == "OK ready" ]] || { echo "Bail out! simulated host did not start"; exit 1; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# count pattern [seconds]: wait (default 20 s) for the count-th line of the master's log matching pattern
master_says() {
	local i
	for i in $(seq $((${3:-20} * 10))); do
		[ "$(grep -c "$2" "$T/master.log")" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# domid [irq [nostate]]: one vsock device of the guest announced in xenstore, as libxl writes
# it for Xen >= 4.18 (nostate: all but the back-end's state, which libxl writes last)
announce() {
	local be=/local/domain/0/backend/virtio/$1/0 fe=/local/domain/$1/device/virtio/0 kv
	for kv in "$be/frontend $fe" "$be/frontend-id $1" "$be/type virtio,device13" \
		  "$be/base 0xfe000000" "$be/irq ${2:-5}" "$be/transport mmio" "$be/grant_usage 0" \
		  "$fe/backend $be" "$fe/state 1" "$be/state 1"; do
		[ "${3:-}" = nostate ] && [ "$kv" = "$be/state 1" ] && break
		gcmd xs $kv >/dev/null
	done
}
