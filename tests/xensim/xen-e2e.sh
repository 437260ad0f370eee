#!/bin/bash
# SPDX-License-Identifier: MIT
#
# xen-e2e.sh - xen-vhost-master end to end, against the Xen simulator:
# the real xen-vhost-master and vhost-device-vsock binaries (linked against
# Debian's Xen libraries, given the simulated ones through LD_LIBRARY_PATH),
# simulated guests (tests/xensim/xensim-guest: virtio-mmio driver and
# userspace vsock stack) and the e2e host program (tests/e2e/vsock-host)
# moving hash-checked data both ways.  Prints TAP.
#
# XEN_E2E_NOTIFY=kernel (default): the master's privcmd device is a file the
# test's ioctl shim (libxensim-privcmd.so, LD_PRELOAD) serves: the simulated
# dom0 kernel takes the irqfd/ioeventfd registrations, as Linux >= 6.7 does.
# XEN_E2E_NOTIFY=user: --privcmd /dev/null, whose ENOTTY is what an older
# kernel answers: queue notifies and interrupts go through the master.

MODE=${XEN_E2E_NOTIFY:-kernel}

XSIM_NEED=(MASTER DAEMON HOST GUEST SHIM)

XSIM_TAG=xen-e2e
. "$(dirname "$0")/lib.sh"

gcmd dom 1 2 && gcmd dom 2 1 && gcmd dom 3 2 && gcmd dom 4 2 || { echo "Bail out! domains"; exit 1; }
start_daemon 1 3
start_daemon 2 4
start_daemon 3 5
start_daemon 4 6
# domain 3 is announced in xenstore, as libxl does for Xen >= 4.18
BE=/local/domain/0/backend/virtio/3/0
FE=/local/domain/3/device/virtio/0
for kv in "$BE/frontend $FE" "$BE/frontend-id 3" "$BE/type virtio,device13" \
	  "$BE/base 0xfe000000" "$BE/irq 5" "$BE/transport mmio" "$BE/grant_usage 0" \
	  "$FE/backend $BE" "$FE/state 1" "$BE/state 1"; do
	gcmd xs $kv >/dev/null
done

if [ "$MODE" = kernel ]; then
	: >"$T/privcmd"
	PRIVCMD=$T/privcmd
	# the shim is not first in the library list of a sanitizer build: fine here
	MENV="$SIMENV LD_PRELOAD=$SHIM XENSIM_PRIVCMD=$PRIVCMD
	      ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
else
	PRIVCMD=/dev/null
	MENV=$SIMENV
fi
$MENV "$MASTER" --privcmd "$PRIVCMD" --log-level info \
	--domid 1 --device "vsock,socket=$T/vsd1.sock,base=0xfe000000,irq=7" \
	--domid 2 --device "vsock,socket=$T/vsd2.sock,base=0xfe000000,irq=6" \
	--domid 4 --device "vsock,socket=$T/vsd4.sock,base=0xfe000000,irq=7,grants=1" \
	--serve "vsock=$T/vsd%d.sock" >"$T/master.log" 2>&1 &
MPID=$!
PIDS+=($MPID)

# 1-4: foreign mapping, one guest, both directions, 8 connections of 8 MiB
check "foreign mapping: guest 1 finds, negotiates and starts the vsock device" gcmd probe 1 0xfe000000 7
"$HOST" serve "$T/vm3.vsock_5000" >"$T/host-serve3.log" 2>&1 &
PIDS+=($!)
"$HOST" serve "$T/vm5.vsock_5000" >"$T/host-serve5.log" 2>&1 &
PIDS+=($!)
"$HOST" serve "$T/vm6.vsock_5000" >"$T/host-serve6.log" 2>&1 &
PIDS+=($!)
for i in $(seq 100); do [ -S "$T/vm3.vsock_5000" ] && [ -S "$T/vm5.vsock_5000" ] && [ -S "$T/vm6.vsock_5000" ] && break; sleep 0.05; done
check "guest 1 -> host: echo 1 MiB, hash-checked" gcmd_t 60 client 1 5000 echo 1M 1 1
gcmd listen 1 6000 >/dev/null
check "host -> guest 1: 8 connections x 8 MiB both ways" \
	"$HOST" -T 60 -c 8 client "$T/vm3.vsock" 6000 both 8M 2
check "guest 1 -> host: 8 connections x 8 MiB sink" gcmd_t 120 client 1 5000 sink 8M 3 8
gcmd knotify 1 >/dev/null
kstat=$REPLY
if [ "$MODE" = kernel ]; then
	check "kernel notifications: the simulated dom0 kernel signalled kicks and raised interrupts ($kstat)" \
		bash -c "[[ '$kstat' =~ ^OK\ kicks\ [1-9][0-9]*\ irqs\ [1-9] ]]"
	check "kernel notifications: the master handed guest 1's queues to the kernel (privcmd irqfd + ioeventfd)" \
		grep -q 'domain 1: device at 0xfe000000: notifications in the dom0 kernel' "$T/master.log"
else
	check "userspace forwarding: nothing went through the simulated dom0 kernel ($kstat)" \
		test "$kstat" = "OK kicks 0 irqs 0"
	check "userspace forwarding: the master logged once that the kernel offers no irqfd/ioeventfd" \
		test "$(grep -c 'offers no privcmd irqfd/ioeventfd' "$T/master.log")" = 1
fi
gcmd ioreqbench 1 2000 >/dev/null
check "ioreq round trips through the master (the cost per trapped access or notification): ${REPLY#OK }" \
	test "${REPLY%% *}" = OK

# 5: hostile register and ioreq sequences, then the device still comes up
check "guest 2: hostile ioreqs (data_is_ptr, rep, odd sizes, out of window, notify before DRIVER_OK, ready with zero addresses, size above max, INVALIDATE)" \
	gcmd hostile 2 0xfe000000
check "guest 2 starts its device after the hostile sequence" gcmd probe 2 0xfe000000 6
# 6: two guests at once
gcmd listen 2 6000 >/dev/null
"$HOST" -T 60 -c 4 client "$T/vm3.vsock" 6000 both 4M 4 >"$T/two1.log" 2>&1 & p1=$!
"$HOST" -T 60 -c 4 client "$T/vm4.vsock" 6000 both 4M 5 >"$T/two2.log" 2>&1 & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
check "two guests at once: 4+4 connections x 4 MiB both ways" test $r1 -eq 0 -a $r2 -eq 0

# 7-8: xenstore discovery and the xenbus handshake
check "xenstore: the master takes backend/virtio/3/0 and moves it to InitWait" gcmd xswait $BE/state 2
# the front-end's state node is the guest's to write: garbage is ignored
gcmd xs $FE/state junk >/dev/null
gcmd xs $FE/state 99 >/dev/null
gcmd xs $FE/state "" >/dev/null
sleep 0.3
gcmd_t 5 xswait $BE/state 2 >/dev/null
check "xenstore: front-end states 'junk', 99 and '' leave the back-end in InitWait" \
	test "${REPLY%% *}" = OK
# devices the toolstack describes badly are skipped, the master keeps going
gcmd dom 5 1 >/dev/null
BAD=/local/domain/0/backend/virtio/5
for kv in "$BAD/0/type virtio,device13" "$BAD/0/base junk" "$BAD/0/irq 5" "$BAD/0/state 1" \
	  "$BAD/1/type virtio,deviceZZ" "$BAD/1/base 0xfe000000" "$BAD/1/irq 5" "$BAD/1/state 1" \
	  "$BAD/2/type virtio,device13" "$BAD/2/base 0xfe000800" "$BAD/2/irq 5" "$BAD/2/state 1" \
	  "$BAD/3/type virtio,device13" "$BAD/3/base 0xfe000000" "$BAD/3/irq 99999" "$BAD/3/state 1" \
	  "$BAD/4/type virtio,device13" "$BAD/4/base 0xfe000000" "$BAD/4/irq 5" \
	  "$BAD/4/transport pci" "$BAD/4/state 1"; do
	gcmd xs $kv >/dev/null
done
sleep 0.5
bad_ok=1
for i in 0 1 2 3 4; do gcmd xswait $BAD/$i/state 1 >/dev/null || bad_ok=0; done
check "xenstore: bad base, type, alignment, irq and transport are skipped (state stays Initialising)" \
	test $bad_ok = 1 -a -z "$(kill -0 $MPID 2>&1)"
gcmd xs $FE/state 4 >/dev/null
check "xenstore: front-end Connected -> back-end Connected" gcmd xswait $BE/state 4
check "guest 3 (found through xenstore, irq 5) starts its device" gcmd probe 3 0xfe000000 5
check "guest 3 -> host: echo 1 MiB" gcmd_t 60 client 3 5000 echo 1M 9 1
# the guest resets its device while the back-end is away: the back-end that
# comes back must get none of the old rings (their memory is the guest's again)
kill "$D3"; wait "$D3" 2>/dev/null
for i in $(seq 50); do grep -q 'domain 3: back-end .* went away' "$T/master.log" && break; sleep 0.1; done
gcmd reset 3 >/dev/null
before=$REPLY
start_daemon 3 5
for i in $(seq 50); do grep -q 'domain 3: back-end .* is back' "$T/master.log" && break; sleep 0.1; done
sleep 0.5
gcmd usedidx 3 >/dev/null
check "guest 3 reset its device while the back-end was away: the restarted back-end wrote nothing into the old rings (${before#OK } -> ${REPLY#OK })" \
	test "$REPLY" = "$before"
check "guest 3 starts its device again on the restarted back-end" gcmd probe 3 0xfe000000 5
check "guest 3 -> host after its reset: echo 1 MiB" gcmd_t 60 client 3 5000 echo 1M 15 1
# the back-end goes away between the guest's FEATURES_OK and its DRIVER_OK:
# the device starts when the back-end is back
gcmd reset 3 >/dev/null
gcmd probe 3 0xfe000000 5 hold >/dev/null
kill "$D3"; wait "$D3" 2>/dev/null
for i in $(seq 50); do [ "$(grep -c 'domain 3: back-end .* went away' "$T/master.log")" -ge 2 ] && break; sleep 0.1; done
gcmd driverok 3 >/dev/null
nback=$(grep -c 'domain 3: back-end .* is back' "$T/master.log")
start_daemon 3 5
for i in $(seq 50); do [ "$(grep -c 'domain 3: back-end .* is back' "$T/master.log")" -gt "$nback" ] && break; sleep 0.1; done
check "guest 3 set DRIVER_OK while the back-end was away: -> host echo 1 MiB once it is back" \
	gcmd_t 60 client 3 5000 echo 1M 16 1

# 9-10: the back-end daemon is killed and restarted
# killed in the middle of a host -> guest transfer
"$HOST" -T 20 -c 2 client "$T/vm3.vsock" 6000 both 64M 12 >"$T/restart.log" 2>&1 & pr=$!
sleep 0.5
kill "$D1"; wait "$D1" 2>/dev/null
start_daemon 1 3
wait $pr
check "back-end restarted: the master reconnected and restored the rings" \
	bash -c "for i in \$(seq 50); do grep -q 'rings restored' '$T/master.log' && exit 0; sleep 0.1; done; exit 1"
check "the restarted daemon reset the guest's vsock transport (TRANSPORT_RESET)" \
	bash -c "for i in \$(seq 50); do grep -q 'dom 1: TRANSPORT_RESET' '$T/guest.err' && exit 0; sleep 0.1; done; exit 1"
check "guest 1 -> host after the restart: echo 1 MiB x 2" gcmd_t 60 client 1 5000 echo 1M 6 2

# 11-12: a guest destroyed in the middle of a transfer
"$HOST" -T 20 -c 2 client "$T/vm4.vsock" 6000 both 64M 7 >"$T/destroy.log" 2>&1 & pd=$!
sleep 0.5
gcmd destroy 2 >/dev/null
wait $pd
check "guest 2 destroyed mid-transfer: the master stops it and keeps serving guest 1" \
	bash -c "for i in \$(seq 50); do grep -q 'domain 2: stopped' '$T/master.log' && kill -0 $MPID && kill -0 $D2 && exit 0; sleep 0.1; done; exit 1"
check "guest 1 still moves data after guest 2 died" gcmd_t 60 client 1 5000 echo 2M 8 2

# INVALIDATEs with nothing given back (a guest that takes each page back at
# once): the master counts guest 1's frames for the first, then at most once
# a second, not for every one (each count maps all of its RAM while the
# guest's ioreqs wait)
fmap() { gcmd fmaptotal >/dev/null && echo "${REPLY#OK }"; }
sleep 1.1
f0=$(fmap); gcmd balloon 1 0 >/dev/null; sleep 0.3; f1=$(fmap)
for b in $(seq 10); do gcmd balloon 1 0 >/dev/null; done
sleep 1.5; f2=$(fmap)
check "INVALIDATEs without frames given back: one count of guest 1's RAM ($((f1 - f0)) pages mapped), then at most two more for ten within a second ($((f2 - f1)) pages)" \
	bash -c "[ $((f1 - f0)) -gt 0 ] && [ $((f2 - f1)) -le $((2 * (f1 - f0))) ]"

# INVALIDATE alone (a Linux guest sends one at boot) changes nothing; pages
# given back by a balloon make the master send the memory table again at
# each INVALIDATE (the back-end maps per request where frames are gone),
# said once.  (Late in the script: a back-end
# that maps guest 1's regions again after this would find the holes.)
sleep 1.1   # (a second after the last count: the first balloon is counted at once)
for b in 1 2 3 4 5; do gcmd balloon 1 2048 >/dev/null; done
# (the master answers the ioreq first, then probes the frames: wait for its
# line; a second balloon may already be counted in it)
for i in $(seq 50); do grep -q 'gave [0-9]* pages back' "$T/master.log" && break; sleep 0.1; done
sleep 1.5
check "INVALIDATE: the master says once that a foreign-mapping guest balloons (5 x 8 MiB given back, found in the p2m), not for INVALIDATE alone" \
	bash -c "[ \$(grep -c 'domain 1 gave [0-9]* pages back to Xen (ballooning)' '$T/master.log') = 1 ] &&
		 [ \$(grep -c 'gave [0-9]* pages back' '$T/master.log') = 1 ]"
# (at once for the first, then at most once a second: fewer tables than
# INVALIDATEs, the last one included; 2 when the five come within a second)
check "INVALIDATE: the memory table goes again at once, then at most once a second ($(grep -o 'domain 1: memory table sent again.*' "$T/master.log" | tr '\n' ';'))" \
	bash -c "sent() { grep -o 'domain 1: memory table sent again to its back-ends ([0-9]*' '$T/master.log' |
			  awk -F'(' '{ n++; s += \$NF } END { print n + 0, s + 0 }'; }
		 for i in \$(seq 50); do set -- \$(sent); [ \$2 = 5 ] && break; sleep 0.1; done
		 [ \$1 -ge 2 ] && [ \$1 -lt 5 ] && [ \$2 = 5 ]"
check "INVALIDATE with frames gone: the master sends the memory table again and the running back-end maps guest 1's regions per request" \
	bash -c "for i in \$(seq 50); do grep -q 'mapping the region per request' '$T/daemon1.log' && exit 0; sleep 0.1; done; exit 1"
check "guest 1 still moves data after its balloon" gcmd_t 60 client 1 5000 echo 1M 8 1
# a back-end started after that finds the same holes and maps per request
# too (a request on a frame given back would fail alone).  This one dies
# while the master waits for its answer to a memory table (stopped, then a
# balloon's INVALIDATE): the failed call closes the socket, so epoll never
# reports the hang-up and the master has to see it itself.
nrest=$(grep -c 'rings restored' "$T/master.log")
kill -STOP "$D1"
gcmd balloon 1 256 >/dev/null
sleep 0.5
kill -KILL "$D1"; wait "$D1" 2>/dev/null
echo "---- restart after the balloon" >>"$T/daemon1.log"
start_daemon 1 3
check "back-end killed while the master sent it a memory table, then restarted after the balloon: the master reconnects and the daemon maps guest 1's regions per request" \
	bash -c "for i in \$(seq 50); do [ \$(grep -c 'rings restored' '$T/master.log') -gt $nrest ] &&
		 sed -n '/^---- restart after the balloon/,\$p' '$T/daemon1.log' |
		 grep -q 'mapping the region per request' && exit 0; sleep 0.1; done; exit 1"
check "guest 1 -> host through the back-end started after its balloon: echo 1 MiB x 2" \
	gcmd_t 60 client 1 5000 echo 1M 6 2

# grants: ACCESS_PLATFORM, grant addresses, the back-end maps them per request
check "grant mapping: guest 4 negotiates ACCESS_PLATFORM and starts with grant addresses" \
	gcmd probe 4 0xfe000000 7 grants
check "grant mapping, per request: guest 4 -> host 8 connections x 4 MiB sink" \
	gcmd_t 120 client 4 5000 sink 4M 10 8
gcmd listen 4 6000 >/dev/null
check "grant mapping, per request: host -> guest 4, 4 connections x 4 MiB both ways" \
	"$HOST" -T 60 -c 4 client "$T/vm6.vsock" 6000 both 4M 11
gcmd grantmaps 4 >/dev/null
maps=${REPLY#OK }
check "grant mapping: the back-end holds a bounded number of grant pages mapped ($maps)" \
	test "$maps" -gt 0 -a "$maps" -le 1100
# guest 3 dies with it: xenstored fires one @releaseDomain for the domains it finds dead
gcmd destroy 4 3 >/dev/null
for i in $(seq 100); do gcmd grantmaps 4 >/dev/null; [ "$REPLY" = "OK 0" ] && break; sleep 0.1; done
check "grant mapping: every grant is unmapped once guest 4 is gone ($REPLY)" test "$REPLY" = "OK 0"
check "guests 3 and 4 gone with one @releaseDomain: the master stops both" \
	bash -c "for i in \$(seq 50); do grep -q 'domain 3: stopped' '$T/master.log' &&
		 grep -q 'domain 4: stopped' '$T/master.log' && exit 0; sleep 0.1; done; exit 1"

kill -TERM $MPID
wait $MPID
check "xen-vhost-master exits cleanly on SIGTERM" test $? -eq 0
# the master's own count of what it forwarded for guest 1
fwd=$(grep 'domain 1: device at 0xfe000000: notifications' "$T/master.log" | tail -n 1)
echo "# master: ${fwd#*xvm: }"
if [ "$MODE" = kernel ]; then
	check "kernel notifications: the master's stats say guest 1 was served in the kernel" \
		bash -c "[[ '$fwd' == *'notifications in the kernel;'* ]]"
	# a guest with --no-kernel-notify: userspace even where the kernel offers it
	gcmd dom 6 1 >/dev/null
	start_daemon 6 7
	$MENV "$MASTER" --privcmd "$PRIVCMD" --no-kernel-notify --log-level info \
		--domid 6 --device "vsock,socket=$T/vsd6.sock,base=0xfe000000,irq=7" \
		>"$T/master6.log" 2>&1 &
	M6=$!
	PIDS+=($M6)
	"$HOST" serve "$T/vm7.vsock_5000" >"$T/host-serve7.log" 2>&1 &
	PIDS+=($!)
	gcmd probe 6 0xfe000000 7 >/dev/null && gcmd_t 60 client 6 5000 echo 1M 13 1 >/dev/null
	gcmd knotify 6 >/dev/null
	kill -TERM $M6; wait $M6
	check "--no-kernel-notify: traffic forwarded by the master although the kernel offers irqfd/ioeventfd ($REPLY)" \
		bash -c "[ '$REPLY' = 'OK kicks 0 irqs 0' ] && grep -q 'notifications in userspace; forwarded in userspace: [1-9][0-9]* queue notifies, [1-9][0-9]* interrupts' '$T/master6.log'"
else
	check "userspace forwarding: the master forwarded guest 1's queue notifies and interrupts" \
		bash -c "[[ '$fwd' =~ 'notifications in userspace; forwarded in userspace: '[1-9][0-9]*' queue notifies, '[1-9][0-9]*' interrupts' ]]"
fi
# populate-on-demand: a guest started with memory below maxmem (the
# simulator crashes it, as Xen does, if mappings populate more frames than
# its PoD cache holds)
gcmd dom 8 1 pod >/dev/null
start_daemon 8 9
$MENV "$MASTER" --privcmd "$PRIVCMD" --log-level info \
	--domid 8 --device "vsock,socket=$T/vsd8.sock,base=0xfe000000,irq=7" >"$T/master8.log" 2>&1
rc=$?
gcmd podstat 8 >/dev/null
check "populate-on-demand guest, foreign mappings: the master refuses it (status $rc) and says why, leaving its RAM alone ($REPLY)" \
	bash -c "[ $rc -ne 0 ] && [ '$REPLY' = 'OK populated 0 crashed 0' ] && grep -q 'populate-on-demand' '$T/master8.log'"
$MENV "$MASTER" --privcmd "$PRIVCMD" --log-level info \
	--domid 8 --device "vsock,socket=$T/vsd8.sock,base=0xfe000000,irq=7,grants=1" >"$T/master8g.log" 2>&1 &
M8=$!
PIDS+=($M8)
"$HOST" serve "$T/vm9.vsock_5000" >"$T/host-serve9.log" 2>&1 &
PIDS+=($!)
for i in $(seq 100); do [ -S "$T/vm9.vsock_5000" ] && break; sleep 0.05; done
pod_ok=0
gcmd probe 8 0xfe000000 7 grants >/dev/null && gcmd_t 60 client 8 5000 echo 1M 14 1 >/dev/null && pod_ok=1
gcmd podstat 8 >/dev/null
check "populate-on-demand guest, grant mappings: served without populating it (guest 8 -> host echo 1 MiB; $REPLY)" \
	test $pod_ok = 1 -a "$REPLY" = "OK populated 0 crashed 0"
kill -TERM $M8; wait $M8
check "no sanitizer report from the master or the daemons" \
	bash -c "! grep -l -E 'Sanitizer|runtime error' '$T'/master*.log '$T'/daemon*.log"
