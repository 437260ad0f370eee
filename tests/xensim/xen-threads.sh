#!/bin/bash
# SPDX-License-Identifier: MIT
#
# xen-threads.sh - the lifetime of a guest served by its own thread of
# xen-vhost-master, against the Xen simulator, in discovery mode (--serve),
# where the main thread (xenstore, guest creation and reaping) and a guest's
# thread (its set-up, its back-end calls, its release) overlap.  A stopped
# daemon (SIGSTOP: it accepts connections and answers nothing, every call
# waits 5 s) keeps a guest's thread busy while the toolstack acts:
#
#  - a domain whose daemon is stopped is destroyed the way libxl does it:
#    its release must not wait for the daemon (its stop cancels the calls);
#    the same domid is created and announced again at once (xl destroy +
#    create with a fixed domid): the new domain must be served once the old
#    guest is gone;
#  - the device nodes of a domain are removed while its set-up waits for
#    its stopped daemon: the master must not write them back (a state
#    written into a removed directory creates it again);
#  - a guest's back-end is replaced by one that hangs for good (its listen
#    backlog full, it never accepts): the guest's reconnect attempts must
#    not block its thread (its register reads are answered) nor the
#    master's exit;
#  - SIGTERM while a guest's thread waits in a call to its stopped daemon:
#    the master exits at once, not after the call's 5 s timeout.
#
# Prints TAP.

XSIM_NEED=(MASTER DAEMON GUEST)

XSIM_TAG=xen-thr
. "$(dirname "$0")/lib.sh"

BE=/local/domain/0/backend/virtio

# libxl's teardown: the device nodes, the domain's directory, then the domain
unannounce() { gcmd xsrm $BE/$1 >/dev/null; gcmd xsrm /local/domain/$1 >/dev/null; }

gcmd dom 3 1 && gcmd dom 4 1 || { echo "Bail out! domains"; exit 1; }
start_daemon 3 5
start_daemon 4 6
for i in $(seq 100); do
	[ -S "$T/vsd3.sock" ] && [ -S "$T/vsd4.sock" ] && break
	sleep 0.05
done

$SIMENV "$MASTER" --privcmd /dev/null --log-level info --serve "vsock=$T/vsd%d.sock" \
	>"$T/master.log" 2>&1 &
MPID=$!
PIDS+=($MPID)
sleep 0.3

announce 3
check "guest 3 announced: InitWait" gcmd xswait $BE/3/0/state 2
check "guest 3 starts its device" gcmd probe 3 0xfe000000 5

# ---- guest 3 destroyed as libxl does, its daemon stopped: the old guest's
# release must not wait for the daemon (the vhost-user calls its stop
# cancels: GET_VRING_BASE would wait 5 s); then the same domid back at once
kill -STOP "$D3"
unannounce 3
t0=$(now_ms)
gcmd destroy 3 >/dev/null
master_says 1 'domain 3 is gone'
master_says 1 'domain 3: stopped' 4
r=$?
dt=$(($(now_ms) - t0))
check "guest 3 destroyed, its daemon stopped: released without waiting for the daemon ($dt ms)" \
	test $r = 0 -a $dt -le 2000
gcmd dom 3 1 >/dev/null
announce 3
sleep 0.5
kill -CONT "$D3"
master_says 1 'domain 3: stopped'
check "domain 3 destroyed and created again at once: the new one is served once the old guest is gone (InitWait)" \
	gcmd xswait $BE/3/0/state 2
check "the new guest 3 starts its device" gcmd probe 3 0xfe000000 5

# ---- guest 4's device nodes go while its set-up waits for its stopped daemon (5 s)
kill -STOP "$D4"
announce 4
master_says 1 'domain 4: RAM'
unannounce 4
master_says 1 'domain 4: stopped'
gcmd xsread $BE/4/0/state
check "guest 4's device nodes removed during its set-up: the master did not write them back ($REPLY)" \
	test "$REPLY" = "FAIL no $BE/4/0/state"
gcmd destroy 4 >/dev/null
kill -CONT "$D4"

# ---- guest 3's back-end hangs for good: its listen backlog is full
kill -KILL "$D3"
gcmd hang "$T/vsd3.sock" >/dev/null
master_says 1 'domain 3: back-end .* went away'
# the first reconnect attempt fills the backlog and waits for an answer
# (up to 5 s); the attempts after it find the backlog full
sleep 6
t0=$(now_ms)
gcmd ioreqbench 3 1
r=$?
dt=$(($(now_ms) - t0))
check "guest 3's back-end hangs with its listen backlog full: guest 3's register read is answered ($dt ms)" \
	test $r = 0 -a $dt -le 1000
gcmd unhang >/dev/null
rm -f "$T/vsd3.sock"
start_daemon 3 5
check "guest 3's back-end started again: the master reconnects to it" \
	master_says 1 'domain 3: back-end .* is back'

# ---- SIGTERM while guest 3's thread waits in a call to its stopped daemon:
# the guest resets its device, the master asks the daemon for its rings
# (GET_VRING_BASE, up to 5 s); the stop must cancel that call
kill -STOP "$D3"
echo "reset 3" >&"${G[1]}"
sleep 0.5
t0=$(now_ms)
kill -TERM $MPID
for i in $(seq 100); do kill -0 $MPID 2>/dev/null || break; sleep 0.05; done
dt=$(($(now_ms) - t0))
if kill -0 $MPID 2>/dev/null; then
	notok "xen-vhost-master exits cleanly on SIGTERM (still running after 5 s)"
	kill -KILL $MPID
	wait $MPID
else
	wait $MPID
	check "xen-vhost-master exits cleanly on SIGTERM" test $? -eq 0
fi
check "SIGTERM while guest 3's thread waits for its stopped daemon: the master exits in $dt ms (the call is cancelled, not timed out after 5 s)" \
	test $dt -le 1500
read -t 10 -r REPLY <&"${G[0]}" || REPLY="(no answer)"
echo "# guest: reset 3 -> $REPLY"
kill -CONT "$D3"
check "no sanitizer report from the master or the daemons" \
	bash -c "! grep -l -E 'Sanitizer|runtime error' '$T'/master*.log '$T'/daemon*.log"
