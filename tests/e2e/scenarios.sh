# SPDX-License-Identifier: MIT
# tests/e2e/scenarios.sh - the real-guest scenarios for one guest kernel
# (sourced by kernel-6.1.sh and kernel-newest.sh with E2E_KERNEL set).
#
#  A  one guest (CID 3): host->guest through CONNECT and guest->host to
#     <uds-path>_P, echo/sink/source, 32 MiB both ways at once on one
#     connection, 32 concurrent connections each way, refused ports
#  B  the same guest's QEMU killed with SIGKILL mid-transfer, then a new
#     QEMU against the same daemon: traffic works again
#  C  two guests (CIDs 3 and 4, one group) in one daemon: stream and
#     SEQPACKET guest-to-guest
#  D  (run before C) the in-kernel vhost front-end on the guest kernel's
#     own /dev/vhost-vsock: set-up, and 1 MiB echoed through a nested CID
. "$(dirname "$0")/lib.sh"

e2e_init "k$E2E_KERNEL" "${E2E_LIMIT_S:-420}"
e2e_guest "$E2E_KERNEL"
note "guest kernel $GUEST_KVER ($GUEST_DIR)"

# ================================================================ A
S=$E2E_DIR/vm3.sock
U=$E2E_DIR/vm3.vsock
start_daemon daemon --guest-cid 3 --socket "$S" --uds-path "$U" || exit 1
bg "$E2E_DIR/hostserve.log" "$HOSTPROG" serve "${U}_6000"
HOSTSERVE_PID=$BG_PID
wait_for "$E2E_DIR/hostserve.log" listening 5 || { tap_fail "host server listening on ${U}_6000"; exit 1; }
# SEQPACKET: the daemon listens on <uds-path>.seqpacket when it supports it.
SEQ=0
[ -S "$U.seqpacket" ] && SEQ=1
if [ $SEQ = 1 ]; then
	bg "$E2E_DIR/hostserve-seq.log" "$HOSTPROG" -t seqpacket serve "${U}_6001"
	wait_for "$E2E_DIR/hostserve-seq.log" listening 5 || tap_fail "host seqpacket server listening"
fi

{
	guest_prelude
	cat <<'EOF'
serve 5000
q=$LAST_SERVE
serve 5001 -t seqpacket
echo VK-READY
t "guest->host echo 1 MiB" vsock-guest client 2 6000 echo 1M
t "guest->host sink 4 MiB" vsock-guest client 2 6000 sink 4M
t "guest->host source 4 MiB" vsock-guest client 2 6000 source 4M
t "guest->host 32 MiB both ways at once on one connection" vsock-guest client 2 6000 both 32M
t "guest->host 32 concurrent connections (256 KiB both ways each)" vsock-guest -c 32 client 2 6000 both 256k
t_fail "guest->host port without a listener: connection refused at once" 3 vsock-guest -T 10 client 2 6999 echo 1
EOF
	if [ $SEQ = 1 ]; then
		echo 't_seq "guest->host SEQPACKET: 200 messages, boundaries checked" vsock-guest -t seqpacket client 2 6001 seq 200'
	fi
	echo 'echo VK-GUEST-CLIENTS-DONE'
	echo 'wait $q'
} >"$E2E_DIR/a.sh"

t0=$(date +%s)
start_guest a "$S" "$E2E_DIR/a.sh"
if ! guest_ready "$SERIAL" "$QEMU_PID" 90; then
	tap_fail "A: guest boots and listens"
	exit 1
fi
note "A: guest ready after $(( $(date +%s) - t0 ))s"
tap_check "A: host->guest echo 1 MiB through CONNECT" host client "$U" 5000 echo 1M
tap_check "A: host->guest sink 4 MiB" host client "$U" 5000 sink 4M
tap_check "A: host->guest source 4 MiB" host client "$U" 5000 source 4M
tap_check "A: host->guest 32 MiB both ways at once on one connection" host client "$U" 5000 both 32M
tap_check "A: host->guest 32 concurrent connections (256 KiB both ways each)" host -c 32 client "$U" 5000 both 256k
# The VM paused and run again (QEMU stop/cont: virsh suspend/resume, a
# snapshot): a transfer in flight across the pause completes, hash-checked.
# (QEMU 7.2 sends SET_STATUS 0 and GET_VRING_BASE, later the rings again.)
timeout 180 "$HOSTPROG" client "$U" 5000 both 128M >"$E2E_DIR/a-pause.log" 2>&1 &
hp=$!
_pids+=("$hp")
sleep 0.5
inflight=0
kill -0 "$hp" 2>/dev/null && inflight=1
if "$HOSTPROG" monitor "$E2E_DIR/a.mon" stop; then
	sleep 1
	"$HOSTPROG" monitor "$E2E_DIR/a.mon" cont || tap_fail "A: QEMU monitor: cont"
	wait "$hp"
	rc=$?
	diag <"$E2E_DIR/a-pause.log"
	what="A: VM paused and resumed (QEMU stop, cont) during a 128 MiB transfer both ways: it completes"
	if [ $inflight = 0 ]; then
		tap_fail "$what (it ended before the pause: make it longer)"
	elif [ $rc = 0 ]; then
		tap_ok "$what"
	else
		tap_fail "$what (exit $rc)"
	fi
else
	tap_fail "A: QEMU monitor: stop"
	wait "$hp"
fi
tap_check "A: CONNECT to a guest port without a listener is closed at once" \
	host_expect_fail client "$U" 5999 echo 1
if [ $SEQ = 1 ]; then
	tap_check "A: host->guest SEQPACKET through <uds-path>.seqpacket: 200 messages, boundaries checked" \
		host -t seqpacket client "$U.seqpacket" 5001 seq 200
else
	tap_skip "A: host->guest SEQPACKET" "the daemon has no <uds-path>.seqpacket listener"
	tap_skip "A: guest->host SEQPACKET" "the daemon has no <uds-path>.seqpacket listener"
fi
if wait_for "$SERIAL" '^VK-GUEST-CLIENTS-DONE' 300; then
	host client "$U" 5000 quit 0 >/dev/null
	guest_off A "$QEMU_PID" 30
else
	tap_fail "A: guest clients finished in time"
	kill -9 "$QEMU_PID"
fi
guest_results "$SERIAL" "A"
tap_check "A: host servers saw no failed connection" eval "! grep -q 'VKS FAIL' '$E2E_DIR'/hostserve*.log"
note "A: done in $(( $(date +%s) - t0 ))s"

# ================================================================ B
{
	guest_prelude
	cat <<'EOF'
serve 5000
echo VK-READY
vsock-guest client 2 6000 both 1G >/dev/null 2>&1 &
wait
EOF
} >"$E2E_DIR/b1.sh"
{
	guest_prelude
	cat <<'EOF'
serve 5000
echo VK-READY
t "after restart: guest->host echo 1 MiB" vsock-guest client 2 6000 echo 1M
t "after restart: guest->host 8 MiB both ways" vsock-guest client 2 6000 both 8M
echo VK-GUEST-CLIENTS-DONE
wait
EOF
} >"$E2E_DIR/b2.sh"

t0=$(date +%s)
start_guest b1 "$S" "$E2E_DIR/b1.sh"
if guest_ready "$SERIAL" "$QEMU_PID" 90; then
	# A host transfer in flight when QEMU dies: it must end (error), not hang.
	# (1 GiB: still running when QEMU is killed, even on a fast machine)
	timeout 60 "$HOSTPROG" client "$U" 5000 both 1G >"$E2E_DIR/b-host.log" 2>&1 &
	hp=$!
	_pids+=("$hp")
	sleep 2
	kill -9 "$QEMU_PID"
	wait "$QEMU_PID" 2>/dev/null
	note "B: QEMU killed with SIGKILL"
	if wait_gone "$hp" 20; then
		wait "$hp"
		rc=$?
		if [ $rc -ne 0 ] && [ $rc -ne 124 ]; then
			tap_ok "B: host connection closed when its QEMU died"
		else
			tap_fail "B: host connection closed when its QEMU died (exit $rc)"
		fi
	else
		tap_fail "B: host connection closed when its QEMU died (still open after 20 s)"
	fi
	tap_check "B: daemon survives the killed QEMU" kill -0 "$DAEMON_PID"
	start_guest b2 "$S" "$E2E_DIR/b2.sh"
	if guest_ready "$SERIAL" "$QEMU_PID" 90; then
		tap_check "B: after restart: host->guest echo 1 MiB" host client "$U" 5000 echo 1M
		tap_check "B: after restart: host->guest 8 MiB both ways" host client "$U" 5000 both 8M
		wait_for "$SERIAL" '^VK-GUEST-CLIENTS-DONE' 120
		host client "$U" 5000 quit 0 >/dev/null
		guest_off B "$QEMU_PID" 30
		guest_results "$SERIAL" "B"
	else
		tap_fail "B: restarted guest boots against the same daemon"
		kill -9 "$QEMU_PID" 2>/dev/null
	fi
else
	tap_fail "B: guest boots"
	kill -9 "$QEMU_PID" 2>/dev/null
fi
note "B: done in $(( $(date +%s) - t0 ))s"

# ================================================================ D
# The in-kernel vhost front-ends (vhost_fe.h) against a real kernel: inside
# the guest, whose Debian kernel ships vhost_vsock, tests/unit/vhost_kernel_dev
# plays VMM and nested guest (CID 42) on /dev/vhost-vsock while the guest
# kernel's AF_VSOCK sends it 1 MiB and checks the echo; where the kernel has
# vDPA (6.12), it makes a VDUSE virtio-blk, drives it through vhost-vdpa and
# serves block requests from it with the library's device-side virtqueue.
KDEV=$top_builddir/tests/unit/vhost_kernel_dev
if [ -x "$KDEV" ]; then
	files=("$KDEV:bin/vhost_kernel_dev")
	# its shared libraries, same paths (the image has none: busybox is static)
	for lib in $(ldd "$KDEV" | grep -o '/[^ ]*'); do
		files+=("$lib:${lib#/}")
	done
	{
		guest_prelude
		cat <<'EOF'
echo VK-READY
if [ -s /lib/modules/extra ]; then
	for m in $(cat /lib/modules/extra); do insmod /lib/modules/$m.ko || echo "VK-MODULE-FAIL $m"; done
	i=0
	while [ ! -e /dev/vhost-vsock ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
	t "kernel vhost-vsock: our front-end sets it up and tears it down" vhost_kernel_dev vsock
	t "kernel vhost-vsock: 1 MiB from the guest kernel's AF_VSOCK to a nested CID 42 and back, checked" vhost_kernel_dev vsock-data
	i=0
	while [ ! -e /dev/vduse/control ] && grep -qw vduse /lib/modules/extra && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
	if [ -e /dev/vduse/control ]; then
		t "vDPA: our front-end on vhost-vdpa over a VDUSE virtio-blk: id, config, IOTLB, ring, kick, interrupt, DRIVER_OK, reset, checked from the device side; 6 block requests (read, write, indirect read, errors) served by our device-side virtqueue over the IOTLB" vhost_kernel_dev vdpa-vduse
	else
		echo "VK-RESULT skip vDPA front-end (this kernel ships no vduse / vhost_vdpa)"
	fi
else
	echo "VK-RESULT skip kernel vhost-vsock front-end (this kernel ships no vhost_vsock module)"
fi
EOF
	} >"$E2E_DIR/d.sh"
	t0=$(date +%s)
	start_guest d "$S" "$E2E_DIR/d.sh" "${files[@]}"
	if guest_ready "$SERIAL" "$QEMU_PID" 90; then
		guest_off D "$QEMU_PID" 120
		tap_check "D: vhost modules load in the guest" eval "! grep -aq '^VK-MODULE-FAIL' '$SERIAL'"
		guest_results "$SERIAL" "D" -
	else
		tap_fail "D: guest boots"
		kill -9 "$QEMU_PID" 2>/dev/null
	fi
	note "D: done in $(( $(date +%s) - t0 ))s"
else
	tap_skip "D: kernel vhost-vsock front-end" "tests/unit/vhost_kernel_dev not built"
fi
kill "$HOSTSERVE_PID" 2>/dev/null
stop_daemon daemon

# ================================================================ C
t0=$(date +%s)
S3=$E2E_DIR/c3.sock U3=$E2E_DIR/c3.vsock S4=$E2E_DIR/c4.sock U4=$E2E_DIR/c4.vsock
start_daemon daemon2 \
	--vm "guest-cid=3,socket=$S3,uds-path=$U3,groups=e2e" \
	--vm "guest-cid=4,socket=$S4,uds-path=$U4,groups=e2e" || exit 1
{
	guest_prelude
	cat <<'EOF'
serve 5000
q=$LAST_SERVE
serve 5001 -t seqpacket
echo VK-READY
wait $q
EOF
} >"$E2E_DIR/c3.sh"
{
	guest_prelude
	cat <<'EOF'
echo VK-READY
t "guest 4 -> guest 3 echo 1 MiB" vsock-guest -r 60 client 3 5000 echo 1M
t "guest 4 -> guest 3 8 MiB both ways at once" vsock-guest client 3 5000 both 8M
t "guest 4 -> guest 3 8 concurrent connections" vsock-guest -c 8 client 3 5000 both 256k
t_seq "guest 4 -> guest 3 SEQPACKET: 300 messages, boundaries checked" vsock-guest -t seqpacket client 3 5001 seq 300
t_fail "guest 4 -> guest 3 port without a listener: refused at once" 3 vsock-guest -T 10 client 3 5999 echo 1
vsock-guest client 3 5000 quit 0
EOF
} >"$E2E_DIR/c4.sh"
start_guest c3 "$S3" "$E2E_DIR/c3.sh"
start_guest c4 "$S4" "$E2E_DIR/c4.sh"
if guest_ready "$SERIAL_c3" "$QEMU_PID_c3" 120 && guest_ready "$SERIAL_c4" "$QEMU_PID_c4" 120; then
	guest_off "C: guest 4" "$QEMU_PID_c4" 240
	guest_off "C: guest 3 (after quit)" "$QEMU_PID_c3" 30
	guest_results "$SERIAL_c4" "C" "$SERIAL_c3"
else
	tap_fail "C: both guests boot"
	kill -9 "$QEMU_PID_c3" "$QEMU_PID_c4" 2>/dev/null
fi
stop_daemon daemon2
note "C: done in $(( $(date +%s) - t0 ))s"
e2e_finish
