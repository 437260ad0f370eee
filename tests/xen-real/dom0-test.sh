#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /vk/dom0-test.sh - the real-Xen end-to-end test, run by dom0's /init
# (tests/xen-real/dom0-init) once the toolstack is up.
#
#   1. xl create -p: an HVM guest with direct kernel boot and the SSDT that
#      declares a virtio-mmio device at 0xFE000000, ISA IRQ 7
#   2. vhost-device-vsock (guest CID 3, hybrid uds-path) and xen-vhost-master
#      for that domid, then xl unpause
#   3. hash-checked traffic: host->guest through CONNECT, guest->host through
#      <uds-path>_6000, 8 connections x 1 MiB both ways each (8 MiB each way)
#   4. the daemon killed (SIGKILL) while a guest transfer is in flight and
#      started again: the in-flight connection ends, the guest reconnects
#      and host->guest works again
#   5. ballooning: the guest gives 16 MiB back with its balloon driver; the
#      master says so once (not for the INVALIDATE of the guest's boot) and
#      sends the memory table again: the running daemon maps the guest's RAM
#      per request, and so does the daemon restarted after that; the
#      guest's traffic goes on
#   6. a populate-on-demand guest (memory < maxmem, paused): the master
#      refuses foreign mappings for it without crashing it, and serves it
#      with grants=1 without mapping its RAM
#
# Output on the console, one line per step, parsed by tests/xen-real/run.sh:
#   VKX-RESULT ok|fail SECONDS NAME[ -- REASON]
# The guest prints VKG-RESULT lines of the same form on its serial port
# (a file here); they are copied to the console at the end, with the tail
# of every log on failure.  A step that cannot run (a program missing) is
# reported as failed with the reason, never skipped.
export PATH=/vk/bin:/usr/lib/xen-4.17/bin:/usr/sbin:/usr/bin:/sbin:/bin
VK=/vk
W=/run/vk
mkdir -p $W
BASE=0xFE000000
IRQ=7
CID=3
SOCK=$W/vsock.sock
UDS=$W/vm.vsock
SERIAL=$W/console/guest-vkguest.log   # xenconsoled logs the guest's hvc0
GUEST=vkguest
nfail=0

up() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }'; }
# res ok|fail START NAME [REASON]
res() {
	[ "$1" = ok ] || nfail=$((nfail + 1))
	echo "VKX-RESULT $1 $(since "$2") $3${4:+ -- $4}"
}
# wait_for FILE REGEX TIMEOUT_S: polls twice a second, against dom0's clock
# (under TCG every fork is slow: counting iterations would stretch the limit)
wait_for() {
	_end=$(( $(cut -d. -f1 /proc/uptime) + $3 ))
	while :; do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		[ "$(cut -d. -f1 /proc/uptime)" -lt $_end ] || return 1
		sleep 0.5
	done
}
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
oneline() { tail -n "${2:-3}" "$1" 2>/dev/null | tr '\n' ' ' | cut -c1-300; }
have() { grep -qx "$1" $VK/binaries 2>/dev/null && [ -x $VK/bin/$1 ]; }
# ours CMD...: one of our programs (with the libraries the dom0 base lacks).
# Through env, so that "ours CMD &" leaves CMD's own pid in $!.
ours() { env LD_LIBRARY_PATH=$VK/lib "$@"; }

T0=$(up)
echo "VKX-INFO dom0 test starts at dom0 uptime ${T0}s; binaries: $(cat $VK/binaries 2>/dev/null | tr '\n' ' ')"

# ---------------------------------------------------------------- the guest
cat >$W/guest.cfg <<EOF
name = "$GUEST"
type = "hvm"
memory = 256
vcpus = 1
kernel = "$VK/guest/vmlinuz"
ramdisk = "$VK/guest/initrd.img"
cmdline = "console=hvc0 rdinit=/init quiet loglevel=3 pci=noearly iommu=noaperture no_timer_check panic=-1"
acpi_firmware = "$VK/guest/ssdt.aml"
vga = "none"
vnc = 0
sdl = 0
nographic = 1
usb = 0
xen_platform_pci = 0
cpus = "1"
on_crash = "destroy"
EOF
echo "VKX-INFO guest.cfg: $(grep -v '^ *$' $W/guest.cfg | tr '\n' ';')"
: >$SERIAL
s=$(up)
if xl create -p $W/guest.cfg >$W/xl-create.log 2>&1 && domid=$(xl domid $GUEST 2>/dev/null); then
	res ok "$s" "xl create -p: paused HVM guest, direct kernel boot, acpi_firmware SSDT (domid $domid)"
else
	res fail "$s" "xl create -p: paused HVM guest" "$(oneline $W/xl-create.log 5)"
	echo "VKX-LOG xl-create| $(cat $W/xl-create.log)"
	exit 1
fi

# ---------------------------------------------------------------- back-ends
dpid= mpid= hpid= why=
# relay FILE PREFIX: FILE's lines live on the console, "PREFIX| [uptime] line"
relay() {
	: >>"$1"
	tail -f "$1" 2>/dev/null | while IFS= read -r l; do echo "$2| [$(up)] $l"; done &
	relays="$relays $!"
}
relays=
relay $W/daemon.log D
relay $W/master.log M
relay $W/hostserve.log H
start_daemon() {
	rm -f $SOCK $UDS
	env LD_LIBRARY_PATH=$VK/lib vhost-device-vsock --log-level debug --guest-cid $CID --socket $SOCK --uds-path $UDS >>$W/daemon.log 2>&1 &
	dpid=$!
	_end=$(( $(cut -d. -f1 /proc/uptime) + 20 ))
	while { [ ! -S $SOCK ] || [ ! -S $UDS ]; } && [ "$(cut -d. -f1 /proc/uptime)" -lt $_end ] && alive $dpid; do
		sleep 0.2
	done
	[ -S $SOCK ] && [ -S $UDS ] && alive $dpid
}

s=$(up)
if ! have vhost-device-vsock; then
	why="vhost-device-vsock (--enable-xen build) is not built yet"
	res fail "$s" "vhost-device-vsock listens (guest CID $CID, uds-path)" "$why"
elif start_daemon; then
	res ok "$s" "vhost-device-vsock listens (guest CID $CID, uds-path)"
else
	why="vhost-device-vsock did not start: $(oneline $W/daemon.log)"
	res fail "$s" "vhost-device-vsock listens (guest CID $CID, uds-path)" "$why"
fi
env LD_LIBRARY_PATH=$VK/lib vsock-host serve ${UDS}_6000 >>$W/hostserve.log 2>&1 &
hpid=$!
wait_for $W/hostserve.log listening 10 || echo "VKX-INFO host server not listening: $(oneline $W/hostserve.log)"

s=$(up)
mname="xen-vhost-master serves domid $domid (--device vsock,socket=...,base=$BASE,irq=$IRQ)"
if ! have xen-vhost-master; then
	[ -n "$why" ] || why="xen-vhost-master is not built yet"
	res fail "$s" "$mname" "xen-vhost-master is not built yet"
elif [ -n "$why" ]; then
	res fail "$s" "$mname" "not started: $why"
else
	env LD_LIBRARY_PATH=$VK/lib xen-vhost-master --log-level debug --domid "$domid" --device "vsock,socket=$SOCK,base=$BASE,irq=$IRQ" >>$W/master.log 2>&1 &
	mpid=$!
	# Up when it says so, or still running after 3 s.
	wait_for $W/master.log '[Rr]eady|[Ss]erving|[Cc]onnected' 3
	if alive $mpid; then
		res ok "$s" "$mname"
	else
		wait $mpid; rc=$?
		why="xen-vhost-master exited (status $rc): $(oneline $W/master.log)"
		res fail "$s" "$mname" "$why"
		mpid=
	fi
fi

s=$(up)
if xl unpause $GUEST >$W/xl-unpause.log 2>&1; then
	res ok "$s" "xl unpause"
else
	res fail "$s" "xl unpause" "$(oneline $W/xl-unpause.log)"
fi
tu=$(up)
# The guest's serial console, live on ours ("G| " lines), and a heartbeat.
relay $SERIAL G
( while sleep 30; do echo "VKX-INFO [$(since "$T0")s] $(xl list $GUEST 2>/dev/null | tail -n 1)"; done ) &
hbpid=$!
if wait_for $SERIAL '^VK-BOOTED' 300; then
	res ok "$tu" "guest boots to its initramfs ($(grep -m1 -o 'uptime=[0-9.]*' $SERIAL | sed 's/=/ /')s in the guest)"
else
	res fail "$tu" "guest boots to its initramfs" "no VK-BOOTED on the guest serial in 300 s"
fi

# ---------------------------------------------------------------- traffic
ready=0
if [ -z "$why" ]; then
	wait_for $SERIAL '^VKG-READY|^VKG-NODEV|^VK-DONE' 120 && grep -q '^VKG-READY' $SERIAL && ready=1
	[ $ready = 1 ] || why="the guest has no working vsock device: $(grep -m1 '^VKG-RESULT' $SERIAL | cut -c1-200)"
fi
host_step() { # NAME TIMEOUT ARGS...
	_n=$1 _to=$2; shift 2
	_s=$(up)
	if [ -n "$why" ]; then
		res fail "$_s" "$_n" "not run: $why"
		return 1
	fi
	if timeout "$_to" env LD_LIBRARY_PATH=$VK/lib vsock-host "$@" >$W/host.out 2>&1; then
		res ok "$_s" "$_n"
	else
		res fail "$_s" "$_n" "$(grep -v '^VKS ok' $W/host.out | oneline /dev/stdin 2)"
		return 1
	fi
}
host_step "host->guest CONNECT 5000: 8 concurrent connections, 1 MiB both ways each, hash-checked" \
	150 -c 8 client $UDS 5000 both 1M
# Let the guest start its own clients (the "go" server on port 5001 quits).
[ -z "$why" ] && ours timeout 30 vsock-host client $UDS 5001 quit 0 >/dev/null 2>&1

# ---------------------------------------------------------------- restart
s=$(up)
rname="vhost-device-vsock killed (SIGKILL) during a guest transfer and started again"
if [ -n "$why" ]; then
	res fail "$s" "$rname" "not run: $why"
else
	# Normally while the guest's long transfer runs; if the guest never got
	# that far (a stall), restart anyway: the restart must recover it.
	wait_for $SERIAL '^VKG-INFLIGHT' 180 && sleep 3
	inflight=$(grep -c '^VKG-INFLIGHT' $SERIAL)
	kill -9 $dpid 2>/dev/null
	wait $dpid 2>/dev/null
	echo "---- restart at dom0 uptime $(up) (guest transfer in flight: $inflight)" >>$W/daemon.log
	s=$(up)
	if start_daemon; then
		[ "$inflight" = 1 ] || rname="$rname (no guest transfer in flight: the guest had not got that far)"
		res ok "$s" "$rname"
	else
		why="the restarted daemon did not start: $(oneline $W/daemon.log)"
		res fail "$s" "$rname" "$why"
	fi
fi
# The restarted daemon tells the guest TRANSPORT_RESET on its event queue,
# and the guest resets every connection it has when it reads that event:
# a connection the guest accepted just before (its RX queue was looked at
# first) is reset after the "OK". So the whole echo is tried again, not
# only the connect, until the guest has settled (the attempts are said).
s=$(up)
aname="after the restart: host->guest CONNECT echo 1 MiB (retrying until the guest is back)"
if [ -n "$why" ]; then
	res fail "$s" "$aname" "not run: $why"
else
	tries=0 ok=0 until=$(( $(date +%s) + 110 ))
	while [ $(date +%s) -lt $until ]; do
		tries=$((tries + 1))
		if timeout 100 env LD_LIBRARY_PATH=$VK/lib vsock-host -r 90 client $UDS 5000 echo 1M \
			>$W/host.out 2>&1; then
			ok=1
			break
		fi
		echo "---- attempt $tries: $(grep -v '^VKS ok' $W/host.out | oneline /dev/stdin 2)" >>$W/host-retries.log
		sleep 1
	done
	if [ $ok = 1 ]; then
		res ok "$s" "$aname: attempt $tries"
	else
		res fail "$s" "$aname" "$tries attempts: $(oneline $W/host-retries.log 2)"
	fi
fi

# ---------------------------------------------------------------- balloon, restart
# The guest gives 16 MiB back (VKG-BALLOONED); a daemon started after that
# finds holes where those frames were and must map the guest's RAM per
# request instead of refusing it.
s=$(up)
bname="vhost-device-vsock restarted after the guest gave 16 MiB back: it maps the guest's RAM per request"
if [ -n "$why" ]; then
	res fail "$s" "$bname" "not run: $why"
elif ! wait_for $SERIAL '^VKG-BALLOONED' 240; then
	res fail "$s" "$bname" "the guest did not balloon: $(grep -m1 'balloon' $SERIAL | cut -c1-150)"
else
	# the master sent the memory table again at the INVALIDATEs: the
	# running daemon already maps per request
	if grep -q 'mapping the region per request' $W/daemon.log; then
		res ok "$s" "INVALIDATE with frames gone: the master sent the memory table again and the running daemon maps the guest's RAM per request ($(grep -m1 -o '[0-9]* of the [0-9]* frames' $W/daemon.log) missing)"
	else
		res fail "$s" "INVALIDATE with frames gone: the running daemon maps the guest's RAM per request" "$(grep -m1 'pages back' $W/master.log | cut -c1-150)"
	fi
	kill -9 $dpid 2>/dev/null
	wait $dpid 2>/dev/null
	echo "---- restart after the balloon at dom0 uptime $(up)" >>$W/daemon.log
	s=$(up)
	after() { sed -n '/^---- restart after the balloon/,$p' $W/daemon.log | grep -q 'mapping the region per request'; }
	ok=0
	if start_daemon; then
		_end=$(( $(cut -d. -f1 /proc/uptime) + 60 ))
		while [ "$(cut -d. -f1 /proc/uptime)" -lt $_end ]; do after && { ok=1; break; }; sleep 0.5; done
	fi
	if [ $ok = 1 ]; then
		res ok "$s" "$bname"
	else
		res fail "$s" "$bname" "$(oneline $W/daemon.log)"
	fi
	ours timeout 90 vsock-host -r 60 client $UDS 5002 quit 0 >/dev/null 2>&1
fi

# ---------------------------------------------------------------- the end
s=$(up)
if [ -z "$why" ] && wait_for $SERIAL '^VK-GUEST-CLIENTS-DONE' 150; then
	ours timeout 30 vsock-host client $UDS 5000 quit 0 >/dev/null 2>&1
fi
gone=0
# The guest powers off after its script (VK-DONE): 60 s at most.
if [ -z "$why" ] && wait_for $SERIAL '^VK-DONE' 60; then
	te=$(up)
	while [ "$(since "$te" | cut -d. -f1)" -lt 30 ]; do
		xl domid $GUEST >/dev/null 2>&1 || { gone=1; break; }
		sleep 1
	done
fi
[ $gone = 1 ] || xl destroy $GUEST >/dev/null 2>&1
if grep -q '^VK-DONE rc=0' $SERIAL; then
	res ok "$s" "guest test script finished (VK-DONE rc=0)"
else
	res fail "$s" "guest test script finished" "$(grep -m1 '^VK-DONE' $SERIAL || echo 'no VK-DONE: destroyed')"
fi
if [ -z "$why" ]; then
	s=$(up)
	# (the in-flight 2 GiB transfer is meant to break at the restart)
	if grep 'VKS FAIL' $W/hostserve.log | grep -qv ' 2147483648'; then
		res fail "$s" "host server (<uds-path>_6000) saw no failed transfer besides the one cut by the restart" \
			"$(grep 'VKS FAIL' $W/hostserve.log | grep -v ' 2147483648' | oneline /dev/stdin 2)"
	else
		res ok "$s" "host server (<uds-path>_6000) saw no failed transfer besides the one cut by the restart"
	fi
fi
if [ -n "$mpid" ]; then
	s=$(up)
	if alive $mpid; then
		kill $mpid
		for i in $(seq 1 50); do alive $mpid || break; sleep 0.1; done
	fi
	if alive $mpid; then
		res fail "$s" "xen-vhost-master stops on SIGTERM" "still running after 5 s"
		kill -9 $mpid
	else
		wait $mpid; rc=$?
		if [ $rc -le 1 ] || [ $rc = 143 ]; then
			res ok "$s" "xen-vhost-master stops on SIGTERM (status $rc)"
		else
			res fail "$s" "xen-vhost-master stops on SIGTERM" "status $rc"
		fi
	fi
fi
# Linux sends an INVALIDATE at boot (no RAM frame gone): no ballooning, and
# nothing to say.  Later the guest's balloon driver gives 16 MiB back
# (VKG-BALLOONED): that is said, once.  The master's debug line for each
# probe (at the first INVALIDATE, then with each memory table it sends
# again) says how many frames of the RAM it mapped at start are gone; it
# says so right after the first probe that finds 512 (2 MiB) or more, and
# probes no more after that.
if [ -n "$mpid" ]; then
	s=$(up)
	# INVALIDATEs with less than 512 frames gone before the warning (the
	# boot's), the frames gone at the one that preceded it, the warnings
	set -- $(awk '/: -?[0-9]+ frames of its RAM gone since start/ {
			match($0, /: -?[0-9]+ frames/); gone = substr($0, RSTART + 2, RLENGTH - 9) + 0
			if (!warned && gone < 512) small++; last = gone }
		/pages back to Xen/ { warned++; at = last }
		END { printf "%d %d %d\n", small, at, warned }' $W/master.log)
	small=$1 at=$2 nwarn=$3
	if ! grep -q '^VKG-BALLOONED' $SERIAL; then
		res fail "$s" "ballooning: said once, when the guest gave 16 MiB back" "the guest did not balloon: $(grep -m1 'balloon' $SERIAL | cut -c1-150)"
	elif [ "$small" -ge 1 ] && [ "$nwarn" = 1 ] && [ "$at" -ge 512 ]; then
		res ok "$s" "ballooning: nothing said for the $small probes before it (the boot's INVALIDATE included), said once when the guest gave 16 MiB back ($at frames gone then; $(grep -m1 '^VKG-BALLOONED' $SERIAL))"
	else
		res fail "$s" "ballooning: nothing said at boot, said once when the guest gave 16 MiB back" \
			"$small probes before, $nwarn messages, $at frames gone at the message: $(grep -m1 -o 'xvm: .*pages back.*' $W/master.log | cut -c1-120)"
	fi
fi

# ---------------------------------------------------------------- populate-on-demand
# A guest started with memory below maxmem is populate-on-demand until its
# balloon driver has given the difference back: a dom0 process that maps
# all of its RAM makes Xen populate every frame and crash the guest when the
# PoD cache runs out.  The master must refuse foreign mappings for it, and
# serve it with grants without touching its RAM.  (Paused: it never runs.)
POD=vkpod
s=$(up)
{ grep -v -e '^name' -e '^memory' $W/guest.cfg; echo "name = \"$POD\""; echo 'memory = 128'; echo 'maxmem = 256'; } >$W/pod.cfg
if ! xl create -p $W/pod.cfg >$W/xl-pod.log 2>&1 || ! podid=$(xl domid $POD 2>/dev/null); then
	res fail "$s" "xl create -p: a populate-on-demand guest (memory 128, maxmem 256)" "$(oneline $W/xl-pod.log 3)"
elif ! have xen-vhost-master || ! alive "$dpid"; then
	res fail "$s" "populate-on-demand guest: xen-vhost-master" "not run: no master or no daemon"
	xl destroy $POD >/dev/null 2>&1
else
	pod_alive() { xl domid $POD >/dev/null 2>&1 && ! xl dmesg 2>/dev/null | grep -q 'out of PoD memory'; }
	ours timeout 60 xen-vhost-master --log-level info --domid "$podid" \
		--device "vsock,socket=$SOCK,base=$BASE,irq=$IRQ" >$W/master-pod.log 2>&1
	rc=$?
	sleep 1
	if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'populate-on-demand' $W/master-pod.log && pod_alive; then
		res ok "$s" "populate-on-demand guest (memory 128 < maxmem 256), foreign mappings: the master refuses it (status $rc) and the guest lives"
	else
		res fail "$s" "populate-on-demand guest, foreign mappings: the master refuses it and the guest lives" \
			"status $rc: $(grep -m1 -o 'xvm: .*' $W/master-pod.log | cut -c1-150); $(xl dmesg | grep -m1 'PoD' | cut -c1-120); $(xl list $POD 2>&1 | tail -n 1)"
	fi
	s=$(up)
	ours xen-vhost-master --log-level info --domid "$podid" \
		--device "vsock,socket=$SOCK,base=$BASE,irq=$IRQ,grants=1" >$W/master-podg.log 2>&1 &
	gp=$!
	wait_for $W/master-podg.log 'serving' 20
	if alive $gp && grep -q 'grant mappings only' $W/master-podg.log && pod_alive; then
		res ok "$s" "populate-on-demand guest, grants=1: the master serves it without mapping its RAM and the guest lives"
	else
		res fail "$s" "populate-on-demand guest, grants=1: the master serves it without mapping its RAM and the guest lives" \
			"$(oneline $W/master-podg.log 2); $(xl dmesg | grep -m1 'PoD' | cut -c1-120)"
	fi
	alive $gp && kill $gp
	wait $gp 2>/dev/null
	xl destroy $POD >/dev/null 2>&1
fi

alive "$dpid" && kill "$dpid"
alive "$hpid" && kill "$hpid"
kill $relays $hbpid 2>/dev/null

# The logs when something failed (the guest's, the daemon's, the master's
# and the host server's went to the console live: G|, D|, M|, H|).
if [ $nfail -gt 0 ] || grep -q '^VKG-RESULT fail' $SERIAL; then
	for f in $W/master.log $W/daemon.log $W/xl-create.log /var/log/xen/*; do
		[ -s "$f" ] || continue
		echo "VKX-LOG ---- tail of $f"
		tail -n 40 "$f" | cut -c1-200 | sed "s|^|VKX-LOG $(basename $f)\| |"
	done
fi
echo "VKX-INFO dom0 test took $(since "$T0")s"
[ $nfail = 0 ]
