#!/bin/bash
# SPDX-License-Identifier: MIT
#
# xen-faults.sh - xen-vhost-master when Xen refuses a call, against the Xen
# simulator's fault injection (xensim-guest "fail CALL COUNT ERRNO DOM
# SKIP": the next COUNT calls of CALL about domain DOM, after SKIP of them,
# fail with ERRNO).
#
#  - every step of a guest's set-up refused in turn (a foreign mapping of
#    its RAM, the map of its ioreq pages, its ioreq server, the bind of its
#    event channel, the claim of its MMIO window), for a guest found in
#    xenstore: its set-up fails with a log line that names the call and
#    the error, its back-end moves to Closed, nothing it took is left (no
#    foreign page mapped, no ioreq server, no bound port, no fd of the
#    master's), the master's other guest is served all along, and the
#    toolstack's next announcement of the device (state Initialising again)
#    is served;
#  - the bind of the buffered ioreq port refused: the guest is served
#    without it (Xen sends none of its MMIO accesses that way), said once;
#  - xc_domain_getinfolist refused while the master asks whether its
#    guests' domains are there: on a @releaseDomain (a live guest is not
#    taken for gone, a destroyed one is found gone once Xen answers), at
#    the master's exit (a guest's ioreq server is destroyed all the same),
#    after a --domid guest's set-up failed (not taken for a departure), when
#    discovery finds a new domain (it is served all the same);
#  - xs_read / xs_write refused once while discovery reads a device's
#    state, while the handshake reads a front-end's state or writes the
#    back-end's, before a guest's InitWait is written: each step is done
#    all the same;
#  - the read of a live guest's event channel (xenevtchn_pending) refused
#    3 times in a row: the master asks Xen whether the domain is there,
#    says so once, backs off and serves the guest on;
#  - a guest given with --domid whose RAM cannot be mapped: the master ends
#    with status 1 (xen-vhost-master(8)), after releasing everything.
#
# Prints TAP.

XSIM_NEED=(MASTER DAEMON GUEST)

XSIM_TAG=xen-faults
. "$(dirname "$0")/lib.sh"

BE=/local/domain/0/backend/virtio

# a field of the last answer: "OK servers S ports P", "OK hits H left L"
field() { local a=($REPLY) i; for ((i = 1; i < ${#a[@]}; i++)); do [ "${a[i]}" = "$1" ] && echo "${a[i+1]}"; done; }
# wait up to 5 s until "$@" succeeds
eventually() { local i; for i in $(seq 50); do "$@" && return 0; sleep 0.1; done; "$@"; }
fmap_is() { gcmd fmappages >/dev/null && [ "$REPLY" = "OK $1" ]; }
domstat_is() { gcmd domstat "$1" >/dev/null && [ "$REPLY" = "OK servers $2 ports $3" ]; }
fds_of() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
fds_are() { [ "$(fds_of "$1")" = "$2" ]; }
# log count pattern [seconds]: master_says for another master's log ($T/log)
says_in() { local f=$1 i; shift; for i in $(seq $((${3:-20} * 10))); do [ "$(grep -c "$2" "$T/$f")" -ge "$1" ] && return 0; sleep 0.1; done; return 1; }
# glibc's strerror of the errnos used here
errtext() {
	case $1 in
	EPERM) echo "Operation not permitted" ;; EIO) echo "Input/output error" ;;
	EAGAIN) echo "Resource temporarily unavailable" ;; ENOMEM) echo "Cannot allocate memory" ;;
	EFAULT) echo "Bad address" ;; ENOSPC) echo "No space left on device" ;;
	esac
}

for d in 2 5 6 7 8 9 10; do
	gcmd dom $d 1 >/dev/null || { echo "Bail out! domain $d"; exit 1; }
	start_daemon $d $((d + 2))
done
for i in $(seq 100); do
	[ -S "$T/vsd2.sock" ] && [ -S "$T/vsd5.sock" ] && [ -S "$T/vsd6.sock" ] && [ -S "$T/vsd7.sock" ] &&
		[ -S "$T/vsd8.sock" ] && [ -S "$T/vsd9.sock" ] && [ -S "$T/vsd10.sock" ] && break
	sleep 0.05
done

$SIMENV "$MASTER" --privcmd /dev/null --log-level info --serve "vsock=$T/vsd%d.sock" \
	>"$T/master.log" 2>&1 &
MPID=$!
PIDS+=($MPID)
sleep 0.3
announce 2
gcmd xswait $BE/2/0/state 2 >/dev/null && gcmd probe 2 0xfe000000 5 >/dev/null ||
	{ echo "Bail out! guest 2 is not served"; exit 1; }

# ---- set-up failures of guest 6, found in xenstore
gcmd fmappages >/dev/null
FMAP0=${REPLY#OK }
FDS0=$(fds_of $MPID)
echo "# guest 2 served: $FMAP0 foreign pages mapped, the master has $FDS0 fds"
stopped=0
first=1
# call errno skip what-the-log-says description
setup_fails() {
	local call=$1 err=$2 skip=$3 says=$4 what=$5
	gcmd fail "$call" 1 "$err" 6 "$skip" >/dev/null || { notok "$what: fail $call"; return; }
	if [ $first = 1 ]; then announce 6; first=0; else gcmd xs $BE/6/0/state 1 >/dev/null; fi
	check "$what: the set-up fails, the back-end moves to Closed" gcmd xswait $BE/6/0/state 6
	gcmd failed "$call" 6 >/dev/null
	check "$what: the call was made and refused ($REPLY)" test "$(field hits)" = 1
	check "$what: the master says so: '$says'" master_says 1 "domain 6: $says" 5
	last=$(grep 'xvm: domain 6: [A-Z]' "$T/master.log" | tail -n 1)
	check "$what: ... and its last word on the set-up is the error: '${last#*xvm: }'" \
		test "${last#*xvm: domain 6: }" = "$(errtext "$err")"
	stopped=$((stopped + 1))
	master_says $stopped 'domain 6: stopped' 5
	check "$what: nothing left: no foreign page mapped ($FMAP0 before)" eventually fmap_is "$FMAP0"
	check "$what: nothing left: no ioreq server, no bound port" domstat_is 6 0 0
	check "$what: nothing left: the master has its $FDS0 fds" eventually fds_are $MPID "$FDS0"
	check "$what: the master serves guest 2 on (register reads answered)" gcmd ioreqbench 2 10
}
setup_fails xenforeignmemory_map ENOMEM 0 'probing frames 0x0\.\.: Cannot allocate memory' \
	"probing guest 6's RAM refused (ENOMEM)"
setup_fails xenforeignmemory_map EFAULT 1 'mapping RAM 0x0+0xa0000: Bad address' \
	"mapping guest 6's first RAM bank refused (EFAULT)"
setup_fails xc_domain_maximum_gpfn EPERM 0 'cannot read its highest frame: Operation not permitted' \
	"guest 6's highest frame not told (EPERM)"
setup_fails xendevicemodel_create_ioreq_server ENOSPC 0 \
	'cannot create an ioreq server: No space left on device' \
	"guest 6's ioreq server refused (ENOSPC)"
setup_fails xenforeignmemory_map_resource EIO 0 \
	'cannot map the buffered ioreq page: Input/output error' \
	"guest 6's buffered ioreq page not mapped (EIO)"
setup_fails xenforeignmemory_map_resource ENOMEM 1 \
	'cannot map the ioreq pages: Cannot allocate memory' \
	"guest 6's ioreq pages not mapped (ENOMEM)"
setup_fails xenevtchn_bind_interdomain ENOSPC 0 \
	'cannot bind the event channel of vCPU 0: No space left on device' \
	"guest 6's vCPU event channel not bound (ENOSPC)"
setup_fails xendevicemodel_map_io_range_to_ioreq_server EIO 0 \
	'cannot claim MMIO 0xfe000000+0x200: Input/output error' \
	"guest 6's MMIO window not claimed (EIO)"

# the toolstack announces the device again: served (nothing of before in the way)
gcmd fail xenevtchn_bind_interdomain 1 ENOSPC 6 1 >/dev/null
gcmd xs $BE/6/0/state 1 >/dev/null
check "guest 6 announced again, the bind of its buffered ioreq port refused: served (InitWait)" \
	gcmd xswait $BE/6/0/state 2
check "... its device starts" gcmd probe 6 0xfe000000 5
check "... the master says it goes without its buffered ioreq port" \
	master_says 1 'domain 6: buffered ioreq port: No space left on device' 2
check "... one ioreq server, its vCPU's port bound" domstat_is 6 1 1
check "the master is still up" kill -0 $MPID

# ---- xc_domain_getinfolist refused while discovery looks at a new domain (the
# toolstack writes the back-end's state last: that write is the one looked at)
announce 5 5 nostate
sleep 0.3
gcmd fail xc_domain_getinfolist 1 EAGAIN 5 >/dev/null
gcmd xs $BE/5/0/state 1 >/dev/null
check "guest 5 announced while Xen does not tell its state once (discovery's question): served all the same (InitWait)" \
	gcmd xswait $BE/5/0/state 2
gcmd failed xc_domain_getinfolist 5 >/dev/null
check "... the refusal was met ($REPLY)" test "$(field hits)" = 1
check "... its device starts" gcmd probe 5 0xfe000000 5
announce 8 5 nostate
sleep 0.3
gcmd fail xc_domain_getinfolist 3 EAGAIN 8 1 >/dev/null
gcmd xs $BE/8/0/state 1 >/dev/null
check "guest 8 announced, its state not told 3 times after discovery's question (its start's): served all the same (InitWait)" \
	gcmd xswait $BE/8/0/state 2
gcmd failed xc_domain_getinfolist 8 >/dev/null
check "... the refusals were met ($REPLY)" test "$(field hits)" = 3
check "... its device starts" gcmd probe 8 0xfe000000 5
check "guest 2 is served on" gcmd ioreqbench 2 10

# ---- xenstore reads and writes refused while discovery and the xenbus handshake go on
announce 9 5 nostate
sleep 0.3
gcmd fail xs_read 1 EIO $BE/9/0/state >/dev/null
gcmd xs $BE/9/0/state 1 >/dev/null
check "guest 9 announced, the read of its back-end's state refused once (EIO): served all the same (InitWait)" \
	gcmd xswait $BE/9/0/state 2
gcmd failed xs_read $BE/9/0/state >/dev/null
check "... the refusal was met ($REPLY)" test "$(field hits)" = 1
check "... its device starts" gcmd probe 9 0xfe000000 5
gcmd fail xs_read 1 EIO /local/domain/9/device/virtio/0/state >/dev/null
gcmd xs /local/domain/9/device/virtio/0/state 4 >/dev/null
check "guest 9's front-end Connected, the read of its state refused once: the back-end follows (Connected)" \
	gcmd xswait $BE/9/0/state 4
gcmd failed xs_read /local/domain/9/device/virtio/0/state >/dev/null
check "... the refusal was met ($REPLY)" test "$(field hits)" = 1
gcmd fail xs_write 1 EIO $BE/9/0/state >/dev/null
gcmd xs /local/domain/9/device/virtio/0/state 5 >/dev/null
check "guest 9's front-end Closing, the write of the back-end's Closed refused once: written all the same (Closed)" \
	gcmd xswait $BE/9/0/state 6
gcmd failed xs_write $BE/9/0/state >/dev/null
check "... the refusal was met ($REPLY)" test "$(field hits)" = 1
announce 10 5 nostate
sleep 0.3
gcmd fail xs_read 1 EIO $BE/10/0/state 1 >/dev/null
gcmd xs $BE/10/0/state 1 >/dev/null
check "guest 10 set up, the read before its InitWait is written refused once: written all the same (InitWait)" \
	gcmd xswait $BE/10/0/state 2
gcmd failed xs_read $BE/10/0/state >/dev/null
check "... the refusal was met ($REPLY)" test "$(field hits)" = 1
check "... its device starts" gcmd probe 10 0xfe000000 5
check "guest 2 is served on" gcmd ioreqbench 2 10

# ---- the read of a guest's event channel refused (its domain is alive)
gcmd fail xenevtchn_pending 3 EIO 10 >/dev/null
check "guest 10's event channel read refused 3 times in a row (EIO): it is served on (register reads answered)" \
	gcmd ioreqbench 10 10
gcmd failed xenevtchn_pending 10 >/dev/null
check "... the refusals were met ($REPLY)" test "$(field hits)" = 3
check "... the master says so once" test "$(grep -c 'domain 10: event channel' "$T/master.log")" = 1
check "... and does not take guest 10 for gone" bash -c "! grep -q 'domain 10 is gone' '$T/master.log'"
check "... one ioreq server, its vCPU's and buffered ports bound" domstat_is 10 1 2
check "guest 2 is served on" gcmd ioreqbench 2 10

kill -TERM $MPID
wait $MPID
rc=$?
check "xen-vhost-master exits cleanly on SIGTERM (status $rc)" test $rc -eq 0
released() {
	eventually fmap_is 0 || return 1
	for d in 2 5 6 8 9 10; do domstat_is $d 0 0 || return 1; done
}
check "... and releases everything: no foreign page mapped, no ioreq server or bound port of guests 2, 5, 6, 8, 9, 10" \
	released

# ---- xc_domain_getinfolist refused while the master asks whether its guests' domains live
gcmd dom 3 1 && gcmd dom 4 1 || { echo "Bail out! domains 3 and 4"; exit 1; }
start_daemon 3 5
start_daemon 4 6
for i in $(seq 100); do [ -S "$T/vsd3.sock" ] && [ -S "$T/vsd4.sock" ] && break; sleep 0.05; done
$SIMENV "$MASTER" --privcmd /dev/null --log-level info \
	--domid 3 --device "vsock,socket=$T/vsd3.sock,base=0xfe000000,irq=5" \
	--domid 4 --device "vsock,socket=$T/vsd4.sock,base=0xfe000000,irq=5" \
	>"$T/master34.log" 2>&1 &
M34=$!
PIDS+=($M34)
gcmd probe 3 0xfe000000 5 >/dev/null && gcmd probe 4 0xfe000000 5 >/dev/null ||
	{ echo "Bail out! guests 3 and 4 are not served"; exit 1; }
# a @releaseDomain (some other domain went away) while Xen does not answer once about domain 3
gcmd fail xc_domain_getinfolist 1 EAGAIN 3 >/dev/null
gcmd releasedomain >/dev/null
gcmd failed xc_domain_getinfolist 3 >/dev/null
for i in $(seq 50); do [ "$(field hits)" = 1 ] && break; sleep 0.1; gcmd failed xc_domain_getinfolist 3 >/dev/null; done
check "@releaseDomain, domain 3's state not told once (EAGAIN): the master asked ($REPLY)" \
	test "$(field hits)" = 1
sleep 0.3
check "... and does not take guest 3 for gone" bash -c "! grep -q 'domain 3 is gone' '$T/master34.log'"
check "... guest 3 is served on (register reads answered)" gcmd ioreqbench 3 10
check "... guest 3 still has its ioreq server, its two ports bound (vCPU, buffered)" domstat_is 3 1 2
# domain 4 destroyed while Xen does not answer about it 5 times in a row
gcmd fail xc_domain_getinfolist 5 EAGAIN 4 >/dev/null
gcmd destroy 4 >/dev/null
check "domain 4 destroyed while its state is not told 5 times in a row: the master finds it gone once Xen answers" \
	says_in master34.log 1 'domain 4 is gone' 10
gcmd failed xc_domain_getinfolist 4 >/dev/null
check "... after asking again (the 5 refusals were met: $REPLY)" test "$(field left)" = 0
check "... guest 3 is served on" gcmd ioreqbench 3 10
# the master stopped while Xen tells nothing about domain 3: its ioreq server is
# destroyed all the same (left enabled, it would hold the guest's MMIO accesses for ever)
gcmd fail xc_domain_getinfolist always EAGAIN 3 >/dev/null
kill -TERM $M34
wait $M34
rc=$?
gcmd fail xc_domain_getinfolist 0 EAGAIN 3 >/dev/null
check "SIGTERM while domain 3's state cannot be told: the master exits cleanly (status $rc)" test $rc -eq 0
check "... it released guest 3 in Xen all the same: no ioreq server or bound port left" domstat_is 3 0 0
check "... and said it could not tell" grep -q 'domain 3: cannot tell whether its domain' "$T/master34.log"

# ---- a --domid guest whose RAM cannot be mapped: status 1, nothing left
gcmd fail xenforeignmemory_map 1 ENOMEM 7 >/dev/null
$SIMENV "$MASTER" --privcmd /dev/null --log-level info \
	--domid 7 --device "vsock,socket=$T/vsd7.sock,base=0xfe000000,irq=5" \
	>"$T/master7.log" 2>&1 &
M7=$!
PIDS+=($M7)
for i in $(seq 100); do kill -0 $M7 2>/dev/null || break; sleep 0.05; done
wait $M7
rc=$?
check "--domid guest 7, its RAM refused (ENOMEM): the master ends with status 1 ($rc)" test $rc -eq 1
check "... saying why" grep -q 'domain 7: probing frames 0x0\.\.: Cannot allocate memory' "$T/master7.log"
last=$(grep 'xvm: domain 7: [A-Z]' "$T/master7.log" | tail -n 1)
check "... its last word is the error: '${last#*xvm: }'" test "${last#*xvm: }" = "domain 7: Cannot allocate memory"
released() { eventually fmap_is 0 && domstat_is 7 0 0; }
check "... nothing left: no foreign page mapped, no ioreq server, no bound port" released

# the same while Xen tells nothing of domain 7: its set-up failure is no departure
gcmd fail xenforeignmemory_map 1 ENOMEM 7 >/dev/null
gcmd fail xc_domain_getinfolist always EAGAIN 7 1 >/dev/null
$SIMENV "$MASTER" --privcmd /dev/null --log-level info \
	--domid 7 --device "vsock,socket=$T/vsd7.sock,base=0xfe000000,irq=5" \
	>"$T/master7b.log" 2>&1 &
M7=$!
PIDS+=($M7)
sleep 1
check "--domid guest 7's RAM refused while its state cannot be told: the master does not take it for gone" \
	bash -c "! grep -q 'domain 7 went away' '$T/master7b.log'"
gcmd fail xc_domain_getinfolist 0 EAGAIN 7 >/dev/null
for i in $(seq 100); do kill -0 $M7 2>/dev/null || break; sleep 0.05; done
wait $M7
rc=$?
check "... and once Xen answers (the domain is there) it ends with status 1 ($rc), as without the refusals" \
	test $rc -eq 1

check "no sanitizer report from the masters or the daemons" \
	bash -c "! grep -l -E 'Sanitizer|runtime error' '$T'/master*.log '$T'/daemon*.log"
