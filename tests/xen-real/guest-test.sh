#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /test.sh of the real-Xen test's HVM guest (run by scripts/guest-image's
# /init after it loaded virtio_mmio and the vsock modules).  The virtio-mmio
# device comes from the SSDT (_HID LNRO0005) that dom0 passed with xl's
# acpi_firmware=.  Prints "VKG-RESULT ok|fail SECONDS NAME[ -- REASON]";
# dom0's /vk/dom0-test.sh drives the other side:
#   VKG-READY       server on port 5000 listening; then waits for dom0's
#                   "go" (a quit request to port 5001)
#   guest->host     8 connections x 1 MiB both ways to CID 2 port 6000
#   VKG-INFLIGHT    a long transfer runs while dom0 kills and restarts the
#                   daemon: it must end with an error, not hang
#   reconnect       guest->host echo again, retrying until the daemon is back
#   VKG-BALLOONED   16 MiB given back to Xen by the balloon driver, then an
#                   echo (dom0 checks the master's warning); dom0 restarts
#                   the daemon and says go (port 5002): echo again
#   VK-GUEST-CLIENTS-DONE, then serve 5000 until dom0 sends quit
up() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }'; }
res() { echo "VKG-RESULT $1 $(since "$2") guest: $3${4:+ -- $4}"; }
oneline() { tail -n "${2:-2}" "$1" 2>/dev/null | tr '\n' ' ' | cut -c1-240; }
# go PORT: wait (200 s at most) for dom0's go, a quit request to PORT
go() { timeout 200 vsock-guest serve "$1" >/tmp/go$1.log 2>&1 || echo "VKG-INFO no go from dom0 on port $1 in 200 s: going on"; }
# step NAME CMD...: one guest step (rc=1 when it fails)
step() {
	_n=$1 _s=$(up)
	shift
	if "$@" >/tmp/step.log 2>&1; then
		res ok "$_s" "$_n"
	else
		rc=1
		res fail "$_s" "$_n" "$(oneline /tmp/step.log)"
	fi
}

s=$(up)
dev=
for d in /sys/bus/virtio/devices/*; do
	[ "$(cat "$d/device" 2>/dev/null)" = 0x0013 ] && dev=$d
done
acpi=$(ls -d /sys/bus/acpi/devices/LNRO0005:* 2>/dev/null | head -n 1)
drv=
[ -n "$dev" ] && [ -e "$dev/driver" ] && drv=$(basename "$(readlink "$dev/driver")")
irq=$(grep -m1 virtio /proc/interrupts | awk '{ print $1 $NF }')
if [ -n "$drv" ]; then
	res ok 0 "virtio-mmio vsock device found through ACPI ($(basename "$acpi")) and bound to $drv at uptime ${s}s (irq $irq)"
else
	res fail 0 "virtio-mmio vsock device found through ACPI and bound" \
		"acpi=[${acpi:-none}] virtio=[${dev:-none}] dmesg: $(dmesg | grep -iE 'virtio|LNRO|vsock' | tail -n 3 | tr '\n' ' ' | cut -c1-240)"
	echo VKG-NODEV
	exit 1
fi
echo "VKG-INFO guest CID $(vsock-guest cid 2>/dev/null)"
# The device's interrupt count every 20 s: tells a lost interrupt from a
# back-end that stopped.
( while sleep 20; do echo "VKG-INFO [$(up)] $(grep virtio /proc/interrupts | tr -s ' ')"; done ) &
irqpid=$!

vsock-guest serve 5000 >/tmp/serve.log 2>&1 &
spid=$!
i=0
while ! grep -q listening /tmp/serve.log && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
echo VKG-READY
# dom0 runs host->guest now; then it tells us to go on.
go 5001

rc=0
step "guest->host <uds-path>_6000: 8 concurrent connections, 1 MiB both ways each, hash-checked" \
	vsock-guest -c 8 client 2 6000 both 1M

echo VKG-INFLIGHT
s=$(up)
timeout 300 vsock-guest -T 120 client 2 6000 both 2048M >/tmp/inflight.log 2>&1
r=$?
if [ $r = 0 ]; then
	rc=1; res fail "$s" "in-flight transfer ends when the daemon restarts" "it completed: the restart never reached it"
elif [ $r = 124 ] || [ $r = 143 ] || grep -qi 'timeout\|timed out' /tmp/inflight.log; then
	rc=1; res fail "$s" "in-flight transfer ends when the daemon restarts" "it hung (exit $r): $(oneline /tmp/inflight.log)"
else
	res ok "$s" "in-flight transfer ends when the daemon restarts (exit $r: $(oneline /tmp/inflight.log 1))"
fi

step "after the restart: guest->host reconnects, echo 1 MiB" vsock-guest -r 90 client 2 6000 echo 1M

# Ballooning, through the balloon driver's own sysfs target (this guest has
# no xenstore): 16 MiB go back to Xen, which tells the ioreq servers
# (INVALIDATE); dom0 checks that the master noticed.  The frames are not
# taken back: a frame the guest populated again would not be the page the
# back-end's foreign mapping holds.
bal=/sys/devices/system/xen_memory/xen_memory0
s=$(up)
if [ -w $bal/target_kb ]; then
	cur=$(cat $bal/info/current_kb)
	want=$((cur - 16384))
	echo $want >$bal/target_kb
	i=0
	while [ "$(cat $bal/info/current_kb)" -gt $want ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
	now=$(cat $bal/info/current_kb)
	if [ "$now" -le $want ] && vsock-guest client 2 6000 echo 1M >/tmp/bal.log 2>&1; then
		res ok "$s" "balloon: 16 MiB given back to Xen (${cur} -> ${now} KiB), then guest->host echo 1 MiB"
	else
		rc=1
		res fail "$s" "balloon: 16 MiB given back to Xen, then guest->host echo 1 MiB" \
			"current ${cur} -> ${now} KiB; $(oneline /tmp/bal.log)"
	fi
	# dom0 restarts the daemon now: its new mappings meet the holes
	echo "VKG-BALLOONED $cur $now"
	go 5002
	step "after a daemon restart that followed the balloon: guest->host echo 1 MiB" \
		vsock-guest -r 90 client 2 6000 echo 1M
else
	rc=1
	res fail "$s" "balloon: 16 MiB given back to Xen" "no $bal/target_kb: $(dmesg | grep -i balloon | tail -n 2 | tr '\n' ' ')"
fi
echo VK-GUEST-CLIENTS-DONE
wait $spid   # until dom0 sends quit to port 5000
kill $irqpid 2>/dev/null
exit $rc
