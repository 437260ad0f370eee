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
#    guest left), as when it is destroyed after its set-up (checked too);
#  - a domain destroyed and its domid created again before the master read
#    the @releaseDomain, the new domain served by a second master: the
#    first one must release its guest without a call to the new domain
#    (the ioreq server id it would destroy is the second master's).
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

# ---- domid reuse: domain 3 dies and a new domain 3 is created before the
# master has read the @releaseDomain (xl destroy + create with a fixed
# domid); a second master (another device model) serves the new domain 3,
# whose first ioreq server has the id the old one's had.  The first master
# must take its guest 3 for gone (its domain is not the domain 3 there is
# now) and release it without a call to the new domain: its ioreq server
# and interrupt lines are not the old guest's.
gcmd dom 3 1 >/dev/null
start_daemon 3 5
start_daemon 13 15
for i in $(seq 100); do [ -S "$T/vsd3.sock" ] && [ -S "$T/vsd13.sock" ] && break; sleep 0.05; done
$SIMENV "$MASTER" --privcmd /dev/null --log-level info \
	--domid 3 --device "vsock,socket=$T/vsd3.sock,base=0xfe000000,irq=7" \
	>"$T/master3a.log" 2>&1 &
MA=$!
PIDS+=($MA)
check "domid reuse: guest 3 served by master A (starts its device)" gcmd probe 3 0xfe000000 7
gcmd destroy 3 quiet >/dev/null
gcmd dom 3 1 >/dev/null
$SIMENV "$MASTER" --privcmd /dev/null --log-level info \
	--domid 3 --device "vsock,socket=$T/vsd13.sock,base=0xfe000000,irq=7" \
	>"$T/master3b.log" 2>&1 &
MB=$!
PIDS+=($MB)
check "domid reuse: the new domain 3 served by master B (starts its device)" \
	gcmd probe 3 0xfe000000 7
gcmd releasedomain >/dev/null
check "domid reuse: master A takes its guest 3 for gone (the domain 3 there is now is another)" \
	bash -c "for i in \$(seq 60); do grep -q 'domain 3 is gone' '$T/master3a.log' && exit 0; sleep 0.05; done; exit 1"
kill -TERM $MA 2>/dev/null
wait_exit $MA 5
check "domid reuse: master A ends cleanly (status $RC)" test $RC -eq 0
check "domid reuse: master A released its guest 3 without touching the new domain 3: master B still serves it (register read answered)" \
	gcmd_t 15 ioreqbench 3 1
gcmd_t 15 reset 3 >/dev/null
check "domid reuse: master B's guest 3 starts its device again" gcmd probe 3 0xfe000000 7
kill -TERM $MB
wait_exit $MB 5
check "domid reuse: master B exits cleanly on SIGTERM (status $RC)" test $RC -eq 0

# ---- the same, master A stopped (SIGTERM) before any @releaseDomain: its
# release itself must find that domain 4 is another domain now
gcmd dom 4 1 >/dev/null
start_daemon 4 6
start_daemon 14 16
for i in $(seq 100); do [ -S "$T/vsd4.sock" ] && [ -S "$T/vsd14.sock" ] && break; sleep 0.05; done
$SIMENV "$MASTER" --privcmd /dev/null --log-level info \
	--domid 4 --device "vsock,socket=$T/vsd4.sock,base=0xfe000000,irq=7" \
	>"$T/master4a.log" 2>&1 &
MA=$!
PIDS+=($MA)
gcmd probe 4 0xfe000000 7 >/dev/null
gcmd destroy 4 quiet >/dev/null
gcmd dom 4 1 >/dev/null
$SIMENV "$MASTER" --privcmd /dev/null --log-level info \
	--domid 4 --device "vsock,socket=$T/vsd14.sock,base=0xfe000000,irq=7" \
	>"$T/master4b.log" 2>&1 &
MB=$!
PIDS+=($MB)
check "domid reuse, no @releaseDomain yet: the new domain 4 served by master B" \
	gcmd probe 4 0xfe000000 7
kill -TERM $MA
wait_exit $MA 5
check "domid reuse, no @releaseDomain yet: master A exits cleanly on SIGTERM (status $RC)" test $RC -eq 0
check "domid reuse, no @releaseDomain yet: master A's release left the new domain 4 alone (master B answers its register read)" \
	gcmd_t 15 ioreqbench 4 1
kill -TERM $MB
wait_exit $MB 5

check "no sanitizer report from the masters or the daemons" \
	bash -c "! grep -l -E 'Sanitizer|runtime error' '$T'/master*.log '$T'/daemon*.log"
