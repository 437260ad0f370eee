#!/bin/bash
# SPDX-License-Identifier: MIT
#
# xen-gone.sh - guests given with --domid whose domain goes away, against
# the Xen simulator.  A guest destroyed while it is served is stopped and
# freed, the other guests go on, and with --domid only the master exits 0
# once no guest is left; a domain that goes away while its guest is being
# set up must be treated the same:
#
#  - two guests, the first one's daemon stopped (SIGSTOP: its set-up waits
#    for the daemon's first reply) and its domain destroyed meanwhile: the
#    master says the domain is gone and goes on serving the second guest;
#  - the only guest destroyed during its set-up: the master exits 0 (no
#    guest left), as when it is destroyed after its set-up (checked too).
#
# Prints TAP.

XSIM_NEED=(MASTER DAEMON GUEST)

XSIM_TAG=xen-gone
. "$(dirname "$0")/lib.sh"

# wait up to $2 seconds for pid $1 to end; its status in $RC (-1: still running, killed)
wait_exit() {
	local i
	for i in $(seq $(($2 * 20))); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1"
		wait "$1"
		RC=-1
	else
		wait "$1"
		RC=$?
	fi
}

gcmd dom 1 1 && gcmd dom 2 1 || { echo "Bail out! domains"; exit 1; }
start_daemon 1 3
start_daemon 2 4
for i in $(seq 100); do
	[ -S "$T/vsd1.sock" ] && [ -S "$T/vsd2.sock" ] && break
	sleep 0.05
done

# ---- two guests; the first one's domain goes away during its set-up
kill -STOP "$D1"
$SIMENV "$MASTER" --privcmd /dev/null --log-level info \
	--domid 1 --device "vsock,socket=$T/vsd1.sock,base=0xfe000000,irq=7" \
	--domid 2 --device "vsock,socket=$T/vsd2.sock,base=0xfe000000,irq=7" \
	>"$T/master.log" 2>&1 &
MPID=$!
PIDS+=($MPID)
# guest 1's set-up maps its RAM, then waits for its stopped daemon
master_says 1 'domain 1: RAM' 10
master_says 1 'domain 2: serving' 10
gcmd destroy 1 >/dev/null
sleep 0.5
check "guest 1 destroyed during its set-up: the master says its domain is gone" \
	master_says 1 'domain 1 \(is gone\|went away\)' 3
check "guest 1 destroyed during its set-up: the master goes on (alive after 0.5 s)" \
	kill -0 $MPID
check "guest 1 destroyed during its set-up: guest 2 is served (starts its device)" \
	gcmd probe 2 0xfe000000 7
kill -CONT "$D1"
kill -TERM $MPID
wait_exit $MPID 5
check "xen-vhost-master exits cleanly on SIGTERM (status $RC)" test $RC -eq 0

# ---- the only guest destroyed during its set-up: no guest left, exit 0
gcmd dom 5 1 >/dev/null
start_daemon 5 7
for i in $(seq 100); do [ -S "$T/vsd5.sock" ] && break; sleep 0.05; done
kill -STOP "$D5"
$SIMENV "$MASTER" --privcmd /dev/null --log-level info \
	--domid 5 --device "vsock,socket=$T/vsd5.sock,base=0xfe000000,irq=7" \
	>"$T/master5.log" 2>&1 &
M5=$!
PIDS+=($M5)
for i in $(seq 200); do grep -q 'domain 5: RAM' "$T/master5.log" && break; sleep 0.05; done
gcmd destroy 5 >/dev/null
wait_exit $M5 4
check "the only guest destroyed during its set-up: the master exits 0, no guest left (status $RC)" \
	test $RC -eq 0
kill -CONT "$D5"

# ---- the same after its set-up (what the above is consistent with)
gcmd dom 6 1 >/dev/null
start_daemon 6 8
for i in $(seq 100); do [ -S "$T/vsd6.sock" ] && break; sleep 0.05; done
$SIMENV "$MASTER" --privcmd /dev/null --log-level info \
	--domid 6 --device "vsock,socket=$T/vsd6.sock,base=0xfe000000,irq=7" \
	>"$T/master6.log" 2>&1 &
M6=$!
PIDS+=($M6)
gcmd probe 6 0xfe000000 7 >/dev/null
gcmd destroy 6 >/dev/null
wait_exit $M6 4
check "the only guest destroyed after its set-up: the master exits 0, no guest left (status $RC)" \
	test $RC -eq 0

check "no sanitizer report from the masters or the daemons" \
	bash -c "! grep -l -E 'Sanitizer|runtime error' '$T'/master*.log '$T'/daemon*.log"
