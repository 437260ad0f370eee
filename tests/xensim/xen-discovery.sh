#!/bin/bash
# SPDX-License-Identifier: MIT
#
# xen-discovery.sh - xen-vhost-master in discovery mode (--serve) over the
# lifetime of guests announced in xenstore: a guest it refuses, a guest it
# serves and that the toolstack tears down the way libxl does (device and
# domain nodes removed, then the domain destroyed).  Prints TAP.

XSIM_NEED=(MASTER DAEMON GUEST)

XSIM_TAG=xen-disc
. "$(dirname "$0")/lib.sh"

# command-line values are checked before anything starts
bad=
for v in junk -1 5x 4294967296; do
	timeout 5 $SIMENV "$MASTER" --connect-attempts "$v" --serve "vsock=$T/none.sock" \
		>/dev/null 2>&1 </dev/null
	[ $? = 2 ] || bad="$bad $v"
done
check "--connect-attempts junk, -1, 5x and 2^32 are refused (accepted:${bad:- none})" test -z "$bad"
# x86: an IRQ is an ISA line (< 16) or a GSI that is some PCI slot's INTA (16..47)
bad=
for v in 48 100 1023; do
	timeout 5 $SIMENV "$MASTER" --connect-attempts 1 --domid 3 \
		--device "vsock,socket=$T/none.sock,base=0xfe000000,irq=$v" >/dev/null 2>&1 </dev/null
	[ $? = 2 ] || bad="$bad $v"
done
check "--device irq=48, 100 and 1023 are refused on x86 (accepted:${bad:- none})" test -z "$bad"

gcmd dom 3 1 && gcmd dom 8 1 pod || { echo "Bail out! domains"; exit 1; }
start_daemon 3 5
for i in $(seq 50); do [ -S "$T/vsd3.sock" ] && break; sleep 0.1; done

# stdin closed, as some service wrappers leave it: the master's first fd is 0
$SIMENV "$MASTER" --privcmd /dev/null --log-level info --serve "vsock=$T/vsd%d.sock" \
	>"$T/master.log" 2>&1 <&- &
MPID=$!
PIDS+=($MPID)
sleep 0.3

# a populate-on-demand guest is refused before any of its devices is set up
announce 8
check "a populate-on-demand guest announced in xenstore is refused (its back-end moves to Closed)" \
	gcmd xswait /local/domain/0/backend/virtio/8/0/state 6
# a device announced with an IRQ that no x86 guest line has is skipped
gcmd dom 9 1 >/dev/null
announce 9 48
check "a device announced with IRQ 48 is skipped (bad base/irq, state stays Initialising)" \
	bash -c "for i in \$(seq 50); do grep -q 'domain 9 device 0: bad base/irq' '$T/master.log' && exit 0; sleep 0.1; done; exit 1"
gcmd xswait /local/domain/0/backend/virtio/9/0/state 1 >/dev/null
check "... and its back-end state is still Initialising" test "${REPLY%% *}" = OK
announce 3
check "guest 3 announced in xenstore is served (InitWait)" \
	gcmd xswait /local/domain/0/backend/virtio/3/0/state 2
check "guest 3 starts its device" gcmd probe 3 0xfe000000 5

# a save or migration suspends the guest (xenstored fires @releaseDomain for
# any shutdown); a checkpoint or a failed migration resumes it
gcmd suspend 3 >/dev/null
sleep 0.5
gcmd resume 3 >/dev/null
check "guest 3 suspended and resumed: the master kept serving it" \
	gcmd ioreqbench 3 10
check "guest 3 suspended and resumed: the master did not take it for gone" \
	bash -c "! grep -q 'domain 3 is gone' '$T/master.log'"

# libxl destroys a domain: the device nodes go, then the domain's own
# directory, and only then the domain itself (so @releaseDomain comes last)
gcmd xswatches /local/domain/3 >/dev/null
before=${REPLY#OK }
gcmd xsrm /local/domain/0/backend/virtio/3 >/dev/null
gcmd xsrm /local/domain/3 >/dev/null
gcmd destroy 3 >/dev/null
master_says 1 'domain 3: stopped' 5
gcmd xswatches /local/domain/3 >/dev/null
check "guest 3 torn down as libxl does: the master removed its watch on the front-end's state ($before before, ${REPLY#OK } after)" \
	test "$before" = 1 -a "$REPLY" = "OK 0"

kill -TERM $MPID; sleep 0.1
for i in $(seq 50); do kill -0 $MPID 2>/dev/null || break; sleep 0.1; done
check "xen-vhost-master still exits on SIGTERM after refusing a guest" \
	bash -c "! kill -0 $MPID 2>/dev/null"
kill -KILL $MPID 2>/dev/null
wait $MPID 2>/dev/null
check "no sanitizer report from the master or the daemon" \
	bash -c "! grep -l -E 'Sanitizer|runtime error' '$T'/master*.log '$T'/daemon*.log"
