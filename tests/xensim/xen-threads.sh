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
#  - a domain is destroyed the way libxl does it while its thread releases
#    it (waiting for its stopped daemon), and the same domid is created and
#    announced again at once (xl destroy + create with a fixed domid): the
#    new domain must be served once the old guest is gone;
#  - the device nodes of a domain are removed while its set-up waits for
#    its stopped daemon: the master must not write them back (a state
#    written into a removed directory creates it again);
#  - a guest's back-end is replaced by one that hangs for good (its listen
#    backlog full, it never accepts): the guest's reconnect attempts must
#    not block its thread (its register reads are answered) nor the
#    master's exit.
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

# ---- guest 3 destroyed as libxl does, the same domid back at once; the
# old guest's release (GET_VRING_BASE) waits for its stopped daemon
kill -STOP "$D3"
unannounce 3
gcmd destroy 3 >/dev/null
master_says 1 'domain 3 is gone'
gcmd dom 3 1 >/dev/null
announce 3
sleep 0.5
kill -CONT "$D3"
master_says 1 'domain 3: stopped'
check "domain 3 destroyed and created again while the old guest was being released: the new one is served (InitWait)" \
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

kill -TERM $MPID
for i in $(seq 100); do kill -0 $MPID 2>/dev/null || break; sleep 0.1; done
if kill -0 $MPID 2>/dev/null; then
	notok "xen-vhost-master exits cleanly on SIGTERM (still running after 10 s)"
	kill -KILL $MPID
	wait $MPID
else
	wait $MPID
	check "xen-vhost-master exits cleanly on SIGTERM" test $? -eq 0
fi
check "no sanitizer report from the master or the daemons" \
	bash -c "! grep -l -E 'Sanitizer|runtime error' '$T'/master*.log '$T'/daemon*.log"
