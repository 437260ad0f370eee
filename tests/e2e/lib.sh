# SPDX-License-Identifier: MIT
# tests/e2e/lib.sh - shared helpers of the real-guest end-to-end tests (sourced)
#
# A test sources this file, calls e2e_init, then boots guests against our
# vhost-device-vsock and prints TAP (the plan comes last).  Everything the
# test starts is killed and every socket removed on exit, also on failure or
# timeout; on failure the tails of the guest serial logs, QEMU's and the
# daemon's logs are printed as TAP comments.
#
# Environment: VK_E2E=0 skips (explicit opt-out only), VK_E2E=smoke runs the
# smoke test only; VK_E2E_TIMEOUT overrides a test's overall time limit;
# VK_CACHE is the guest image cache (scripts/guest-image).

set -u
export LC_ALL=C
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"

DAEMON=$top_builddir/vhost-device-vsock
HOSTPROG=$top_builddir/tests/e2e/vsock-host
QEMU=${QEMU:-qemu-system-x86_64}

_tap_n=0
_tap_failed=0
_pids=()
_diag_files=()
_e2e_done=0
E2E_T0=$(date +%s)

# ---------------------------------------------------------------- TAP
tap_ok()   { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
tap_fail() { _tap_n=$((_tap_n + 1)); _tap_failed=$((_tap_failed + 1)); echo "not ok $_tap_n - $*"; }
tap_skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1 # SKIP ${2:-}"; }
# tap_check NAME CMD...: ok if CMD exits 0
tap_check() {
	local name=$1; shift
	if "$@"; then tap_ok "$name"; else tap_fail "$name"; fi
}
diag() { sed 's/^/# /'; }
note() { echo "# [$(( $(date +%s) - E2E_T0 ))s] $*"; }

# ---------------------------------------------------------------- lifecycle
_e2e_cleanup() {
	local p
	for p in "${_pids[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	for p in "${_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	[ -n "${_watchdog:-}" ] && kill "$_watchdog" 2>/dev/null && wait "$_watchdog" 2>/dev/null
	if [ "${VK_E2E_KEEP:-0}" = 1 ]; then
		echo "# kept $E2E_DIR"
	else
		rm -rf "$E2E_DIR"
	fi
}

e2e_diagnostics() {
	local f
	for f in "${_diag_files[@]}"; do
		[ -s "$f" ] || continue
		echo "# ---- tail of $(basename "$f")"
		tail -n "${1:-40}" "$f" | diag
	done
}

_e2e_exit() {
	local rc=$?
	trap - EXIT INT TERM
	if [ $_e2e_done = 0 ] && [ $_tap_failed -eq 0 ]; then
		tap_fail "test aborted before it finished (exit $rc)"
	fi
	if [ $_tap_failed -gt 0 ] || [ $_e2e_done = 0 ]; then
		e2e_diagnostics 40
	fi
	_e2e_cleanup
	echo "1..$_tap_n"
	[ $_tap_failed -eq 0 ]
	exit $?
}

_e2e_timeout() {
	trap - TERM
	tap_fail "overall time limit of ${E2E_LIMIT}s reached"
	_tap_failed=$((_tap_failed + 1))
	exit 1
}

# e2e_init NAME LIMIT_S [smoke]: temp dir, traps, watchdog, skip rules
e2e_init() {
	E2E_NAME=$1
	E2E_LIMIT=${VK_E2E_TIMEOUT:-$2}
	local kind=${3:-full}
	case ${VK_E2E:-1} in
	0) echo "1..0 # SKIP VK_E2E=0 (real-guest tests disabled explicitly)"; exit 0 ;;
	smoke) if [ "$kind" != smoke ]; then echo "1..0 # SKIP VK_E2E=smoke: smoke test only"; exit 0; fi ;;
	esac
	if [ ! -x "$DAEMON" ]; then
		echo "1..0 # SKIP vhost-device-vsock is not built in this tree yet"
		exit 0
	fi
	E2E_DIR=$(mktemp -d "/tmp/vk-$E2E_NAME.XXXXXX")
	trap _e2e_exit EXIT
	trap 'exit 1' INT
	trap _e2e_timeout TERM
	(
		sleep "$E2E_LIMIT" & sp=$!
		trap 'kill $sp 2>/dev/null; exit 0' TERM
		wait $sp && kill -TERM $$ 2>/dev/null
	) >/dev/null 2>&1 &
	_watchdog=$!
	if [ ! -x "$HOSTPROG" ]; then
		tap_fail "host test program $HOSTPROG missing"
		exit 1
	fi
	command -v "$QEMU" >/dev/null || { tap_fail "$QEMU not installed (Debian: qemu-system-x86)"; exit 1; }
}

# e2e_guest TAG: builds/gets the guest for kernel TAG (6.1|newest);
# sets GUEST_KVER and GUEST_DIR.  A failure is a failed test, not a skip.
e2e_guest() {
	local line
	if ! line=$("$top_srcdir/scripts/guest-image" "$1" 2>"$E2E_DIR/guest-image.log" | tail -n 1) ||
	   [ -z "$line" ]; then
		tap_fail "building the $1 test guest (scripts/guest-image; needs apt and Debian packages)"
		tail -n 20 "$E2E_DIR/guest-image.log" | diag
		exit 1
	fi
	set -- $line
	GUEST_KVER=$2
	GUEST_DIR=$3
}

# wait_for FILE REGEX TIMEOUT_S: wait until FILE has a line matching REGEX
wait_for() {
	local f=$1 re=$2 t=$(( $3 * 10 ))
	while [ $t -gt 0 ]; do
		grep -qE "$re" "$f" 2>/dev/null && return 0
		sleep 0.1
		t=$((t - 1))
	done
	return 1
}

# wait_gone PID TIMEOUT_S
wait_gone() {
	local t=$(( $2 * 10 ))
	while [ $t -gt 0 ]; do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
		t=$((t - 1))
	done
	return 1
}

bg() { # bg LOG CMD...: start in background, remember pid in BG_PID
	"${@:2}" >"$1" 2>&1 &
	BG_PID=$!
	_pids+=("$BG_PID")
	_diag_files+=("$1")
}

# start_daemon NAME ARGS...: sets DAEMON_PID; waits for every --socket /
# socket= path in ARGS to exist.
start_daemon() {
	local name=$1; shift
	local a socks=() log="$E2E_DIR/$name.log"
	for a in "$@"; do
		case $a in
		*socket=*) a=${a#*socket=}; socks+=("${a%%,*}") ;;
		esac
	done
	local prev=
	for a in "$@"; do
		[ "$prev" = --socket ] && socks+=("$a")
		prev=$a
	done
	bg "$log" ${VK_DAEMON_WRAPPER:-} "$DAEMON" "$@"
	DAEMON_PID=$BG_PID
	DAEMON_SOCKS="${socks[*]}"
	for a in "${socks[@]}"; do
		local t=100
		while [ ! -S "$a" ] && [ $t -gt 0 ]; do
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			sleep 0.1; t=$((t - 1))
		done
		if [ ! -S "$a" ]; then
			tap_fail "daemon $name listening on $a"
			return 1
		fi
	done
	note "daemon $name: $DAEMON $*"
}

# stop_daemon NAME: SIGTERM; one TAP line: stops within 10 s, exit status
# 0, no sanitizer report in its log, its vhost-user sockets removed.
stop_daemon() {
	local name=$1 log="$E2E_DIR/$1.log" rc why=
	kill -TERM "$DAEMON_PID" 2>/dev/null
	if wait_gone "$DAEMON_PID" 10; then
		wait "$DAEMON_PID"; rc=$?
		[ $rc -eq 0 ] || why="exit status $rc"
	else
		why="still running 10 s after SIGTERM"
	fi
	if grep -qE 'Sanitizer|runtime error:' "$log"; then
		why="${why:+$why, }sanitizer report in its log"
		grep -E -A 20 'Sanitizer|runtime error:' "$log" | head -n 60 | diag
	fi
	if [ -n "${DAEMON_SOCKS:-}" ]; then
		local s
		for s in $DAEMON_SOCKS; do
			[ -e "$s" ] && why="${why:+$why, }left $s behind"
		done
	fi
	if [ -z "$why" ]; then tap_ok "$name stops cleanly on SIGTERM"; else tap_fail "$name stops cleanly on SIGTERM ($why)"; fi
}

# start_guest NAME VHOST_SOCKET TESTSCRIPT [HOSTFILE:GUESTPATH...]: boots
# GUEST_DIR's kernel with TESTSCRIPT as the guest's /test.sh and the given
# files (appended cpio).  Sets QEMU_PID and SERIAL (the guest's console log).
start_guest() {
	local name=$1 sock=$2 script=$3 f
	local gd="$E2E_DIR/$name.d"
	shift 3
	mkdir -p "$gd/root"
	cp "$script" "$gd/root/test.sh"
	chmod +x "$gd/root/test.sh"
	for f in "$@"; do
		mkdir -p "$gd/root/$(dirname "${f#*:}")"
		cp -L "${f%%:*}" "$gd/root/${f#*:}"
	done
	(cd "$gd/root" && find . ! -name . | sed 's|^\./||' | cpio --quiet -o -H newc -R 0:0) >"$gd/test.cpio"
	cat "$GUEST_DIR/initrd.img" "$gd/test.cpio" >"$gd/initrd"
	SERIAL="$E2E_DIR/$name.serial"
	: >"$SERIAL"
	_diag_files+=("$SERIAL")
	bg "$E2E_DIR/$name.qemu.log" "$QEMU" -accel tcg -smp 1 -m 256 \
		-object memory-backend-memfd,id=mem,size=256M,share=on \
		-machine q35,memory-backend=mem -nodefaults -no-user-config \
		-display none -monitor "unix:$E2E_DIR/$name.mon,server=on,wait=off" -serial "file:$SERIAL" \
		-chardev socket,id=c,path="$sock" -device vhost-user-vsock-pci,chardev=c \
		-kernel "$GUEST_DIR/vmlinuz" -initrd "$gd/initrd" \
		-append "console=ttyS0 quiet panic=-1 no_timer_check vk.name=$name" -no-reboot
	QEMU_PID=$BG_PID
	eval "QEMU_PID_$name=$QEMU_PID SERIAL_$name=$SERIAL"
}

# guest_off NAME QEMU_PID TIMEOUT_S: the guest must power off by itself;
# if it does not, fail and kill it so the next guest gets the daemon.
guest_off() {
	if wait_gone "$2" "$3"; then
		return 0
	fi
	tap_fail "$1: guest powered off by itself within $3 s"
	kill -9 "$2" 2>/dev/null
	wait "$2" 2>/dev/null
	return 1
}

# guest_ready SERIAL QEMU_PID TIMEOUT_S: wait for the guest's VK-READY line
guest_ready() {
	local t0 s
	t0=$(date +%s.%N)
	if ! wait_for "$1" '^VK-READY|^VK-DONE' "$3"; then
		return 1
	fi
	s=$(grep -m1 -o 'uptime=[0-9.]*' "$1" | cut -d= -f2)
	note "guest up: kernel uptime ${s}s at VK-BOOTED"
	grep -q '^VK-READY' "$1"
}

# guest_results SERIAL PREFIX [SERVER_SERIAL]: one TAP line per
# "VK-RESULT ok|fail|skip NAME" line, and one for the guest servers' failures
# (VKS FAIL lines) in SERVER_SERIAL (default SERIAL; "-": the guest ran no
# servers, no such line)
guest_results() {
	local st name r any=0
	while read -r _ st name; do
		any=1
		name=${name%$'\r'}   # the serial console ends lines with CR LF
		case $st in
		ok) tap_ok "$2: $name" ;;
		skip) r=${name#* (}; tap_skip "$2: ${name%% (*}" "${r%)}" ;;
		*) tap_fail "$2: $name" ;;
		esac
	done < <(grep -a '^VK-RESULT ' "$1")
	[ $any = 1 ] || tap_fail "$2: the guest reported no result"
	[ "${3:-}" = - ] && return
	if grep -aq '^VKS FAIL' "${3:-$1}"; then
		tap_fail "$2: guest servers saw no failed connection"
	else
		tap_ok "$2: guest servers saw no failed connection"
	fi
}

# host CMD...: run the host test program with a time limit, log output as diag
host() {
	local out rc
	out=$(timeout "${HOST_TIMEOUT:-120}" "$HOSTPROG" "$@" 2>&1)
	rc=$?
	echo "$out" | grep -v '^VKS ok' | diag
	return $rc
}

# host_expect_fail CMD...: the host program must fail within a few seconds
host_expect_fail() {
	local rc
	timeout 15 "$HOSTPROG" "$@" 2>&1 | diag
	rc=${PIPESTATUS[0]}
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]
}

# The guest side of a test: shell functions for /test.sh (busybox sh).
# t NAME CMD...: run CMD, print "VK-RESULT ok|fail NAME".
guest_prelude() {
	cat <<'EOF'
#!/bin/sh
t() {
	n=$1; shift
	if "$@"; then echo "VK-RESULT ok $n"; else echo "VK-RESULT fail $n"; fi
}
# t_fail NAME MAXSECS CMD...: CMD must fail, within MAXSECS seconds
t_fail() {
	n=$1; m=$2; shift 2
	s=$(cut -d. -f1 /proc/uptime)
	if "$@"; then echo "VK-RESULT fail $n (succeeded)"; return; fi
	e=$(cut -d. -f1 /proc/uptime)
	if [ $((e - s)) -le "$m" ]; then echo "VK-RESULT ok $n"; else echo "VK-RESULT fail $n (took $((e - s))s)"; fi
}
# t_seq NAME CMD...: like t, but "skip" when the device lacks SEQPACKET
t_seq() {
	n=$1; shift
	if "$@" >/tmp/seq.out 2>&1; then r=ok
	elif grep -q 'not supported' /tmp/seq.out; then r=skip; n="$n (the device does not offer VIRTIO_VSOCK_F_SEQPACKET)"
	else r=fail; fi
	cat /tmp/seq.out
	echo "VK-RESULT $r $n"
}
# serve PORT [ARGS]: start a server in the background, wait until it listens;
# LAST_SERVE is its pid (the test script waits for the one the host quits)
serve() {
	p=$1; shift
	vsock-guest -q "$@" serve "$p" 2>&1 | tee /tmp/serve.$p.log &
	LAST_SERVE=$!
	i=0
	while ! grep -qs listening /tmp/serve.$p.log && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}
EOF
}

e2e_finish() {
	_e2e_done=1
	note "$E2E_NAME finished in $(( $(date +%s) - E2E_T0 ))s"
}
