#!/bin/bash
# SPDX-License-Identifier: MIT
#
# tests/xen-real/run.sh - real-Xen end-to-end test: Debian's Xen 4.17 and a
# Debian dom0 boot under qemu-system-x86_64 (TCG, nested SVM+NPT); dom0 runs
# an HVM guest whose virtio-mmio vsock device is emulated by our
# xen-vhost-master and served by our vhost-device-vsock; hash-checked
# traffic both ways and a daemon restart.  Prints TAP (plan last).
#
#   run.sh [--builddir DIR]     DIR: a configure --enable-xen build tree
#                               (default: $top_builddir, else the cwd)
#
# Steps and their times come from dom0's console (com1 -> a file here):
# "VKX-RESULT ok|fail SECONDS NAME[ -- REASON]" from dom0's test script,
# "VKG-RESULT ..." from the guest.  Images: tests/xen-real/build-images.sh
# (cached in ${VK_CACHE:-~/.cache/vhostkit}/xen).
#
# Environment: VK_XEN_REAL=0 skips (explicit opt-out for quick local loops;
# CI never sets it), VK_XEN_REAL_TIMEOUT (overall limit, default 1200 s: a passing run takes 4-8),
# VK_XEN_REAL_KEEP=1 keeps the work directory, QEMU (qemu-system-x86_64),
# VK_XEN_SSDT=level declares the guest's virtio-mmio interrupt Level (the
# declaration that loses edges; the master's --irq-watchdog has to recover).
set -u
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
builddir=${top_builddir:-$PWD}
while [ $# -gt 0 ]; do
	case $1 in
	--builddir) builddir=$2; shift 2 ;;
	-h|--help) sed -n '3,21p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

if [ "${VK_XEN_REAL:-1}" = 0 ]; then
	echo "1..0 # SKIP VK_XEN_REAL=0 (real-Xen test disabled explicitly)"
	exit 0
fi

QEMU=${QEMU:-qemu-system-x86_64}
LIMIT=${VK_XEN_REAL_TIMEOUT:-1200}
T0=$(date +%s.%N)
W=$(mktemp -d /tmp/vk-xen-real.XXXXXX)
n=0 nfail=0 qpid=
el() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
ok()   { n=$((n + 1)); echo "ok $n - $*"; }
fail() { n=$((n + 1)); nfail=$((nfail + 1)); echo "not ok $n - $*"; }
note() { echo "# [$(el "$T0")s] $*"; }

finish() {
	trap - EXIT INT TERM
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill "$qpid" 2>/dev/null
		sleep 1
		kill -9 "$qpid" 2>/dev/null
	fi
	wait 2>/dev/null
	if [ $nfail -gt 0 ] && [ -s "$W/console.log" ]; then
		echo "# ---- dom0 logs and tail of the console ($W/console.log)"
		grep -a '^VKX-LOG' "$W/console.log" | cut -c9- | tail -n 150 | sed 's/^/#   /'
		grep -av '^VKX-LOG' "$W/console.log" | tail -n 60 | sed 's/^/#   /'
	fi
	[ $n -eq 0 ] && fail "real-Xen test aborted before any step"
	echo "1..$n"
	if [ "${VK_XEN_REAL_KEEP:-0}" = 1 ]; then
		echo "# kept $W"
	else
		rm -rf "$W"
	fi
	[ $nfail -eq 0 ]
	exit $?
}
trap finish EXIT
trap 'fail "interrupted"; exit 1' INT TERM

# ---------------------------------------------------------------- images
s=$(date +%s.%N)
# The programs dom0 runs (vsock-host is a check program: not built by make).
if [ -f "$builddir/Makefile" ]; then
	make -C "$builddir" -k vhost-device-vsock xen-vhost-master tests/e2e/vsock-host >"$W/make.log" 2>&1 ||
		note "make of the dom0 programs failed: $(tail -n 3 "$W/make.log" | tr '\n' ' ')"
fi
if "$here/build-images.sh" --builddir "$builddir" --out "$W/img" >"$W/images.env" 2>"$W/images.log"; then
	ok "build Xen, dom0 and guest images from Debian packages ($(el "$s") s)"
else
	fail "build Xen, dom0 and guest images from Debian packages ($(el "$s") s)"
	tail -n 25 "$W/images.log" | sed 's/^/# /'
	exit 1
fi
grep -E '^(build-images|BINARIES)' "$W/images.log" "$W/images.env" | sed 's/^[^:]*:/# /' | tail -n 12
. "$W/images.env"
command -v "$QEMU" >/dev/null || { fail "$QEMU not installed (Debian: qemu-system-x86)"; exit 1; }

# ---------------------------------------------------------------- boot
# Xen: com1 is the console, dom0 is 1 GiB with 1 vCPU pinned to CPU 0 and
# the guest's vCPU is pinned to CPU 1 (guest.cfg: cpus="1"): they never
# share a CPU, which keeps the ioreq round trips short (Debian's Xen has no
# null scheduler).  No "noreboot": a
# Xen panic reboots, which -no-reboot turns into QEMU exiting.  dom0 powers
# off at the end (ACPI S5 through Xen).
xen_cmd="dom0_mem=1024M,max:1024M dom0_max_vcpus=1 dom0_vcpus_pin console=com1 com1=115200,8n1 console_timestamps=boot loglvl=warning guest_loglvl=${VK_XEN_GUEST_LOGLVL:-warning}"
dom0_cmd="console=hvc0 rdinit=/init loglevel=4"
con=$W/console.log
: >"$con"
s=$(date +%s.%N)
"$QEMU" -accel tcg -cpu qemu64,+svm,+npt,+rdrand -m 2048 -smp 2 \
	-nodefaults -no-user-config -display none -monitor none -no-reboot \
	-serial "file:$con" \
	-kernel "$XEN" -append "$xen_cmd" \
	-initrd "$DOM0_KERNEL $dom0_cmd,$DOM0_INITRD" >"$W/qemu.log" 2>&1 &
qpid=$!
note "$QEMU -accel tcg -cpu qemu64,+svm,+npt,+rdrand -m 2048 -smp 2 -kernel xen.elf -append \"$xen_cmd\" -initrd \"vmlinuz $dom0_cmd,dom0-initrd.gz\""

deadline=$(( $(date +%s) + LIMIT - ${SECONDS:-0} ))
# wait_con REGEX: until the console has a line matching REGEX, QEMU exits
# or the overall limit is reached.
wait_con() {
	while ! grep -qaE "$1" "$con"; do
		kill -0 "$qpid" 2>/dev/null || return 1
		[ "$(date +%s)" -lt "$deadline" ] || return 2
		sleep 0.5
	done
}

if wait_con '^VKX-TOOLSTACK'; then
	line=$(grep -a -m1 '^VKX-TOOLSTACK' "$con")
	failed=$(echo "$line" | sed -n 's/.*failed=\[\(.*\)\].*/\1/p')
	up=$(echo "$line" | sed -n 's/.*uptime=\([0-9.]*\).*/\1/p')
	if [ -z "$failed" ]; then
		ok "Xen 4.17 + dom0 boot, xenstored/xen-init-dom0/xenconsoled up ($(el "$s") s after QEMU start; dom0 uptime ${up}s)"
	else
		fail "Xen 4.17 + dom0 boot: failed to start: $failed ($(el "$s") s)"
	fi
else
	rc=$?
	why="QEMU exited"; [ $rc = 2 ] && why="time limit"
	fail "Xen 4.17 + dom0 boot ($why after $(el "$s") s)"
	tail -n 20 "$W/qemu.log" | sed 's/^/# qemu: /'
	exit 1
fi

wait_con '^VKX-END'
rc=$?
t_end=$(el "$s")

# One TAP line per step, in console order.
while IFS= read -r line; do
	line=${line%$'\r'}
	set -- $line
	st=$2 secs=$3
	shift 3
	rest=$*
	name=${rest%% -- *}
	reason=
	[ "$rest" != "$name" ] && reason=${rest#* -- }
	if [ "$st" = ok ]; then
		ok "$name (${secs} s)"
	else
		fail "$name (${secs} s)${reason:+: $reason}"
	fi
done < <(grep -aE '^(G\| \[[0-9.]*\] )?VK[XG]-RESULT (ok|fail) ' "$con" | sed 's/^G| \[[0-9.]*\] //')
grep -aE '^(G\| \[[0-9.]*\] )?VK[XG]-INFO' "$con" | sed 's/^G| \[[0-9.]*\] //; s/^/# /'

case $rc in
0) ok "dom0 test finished (VKX-END $t_end s after QEMU start)" ;;
1) fail "dom0 test finished: QEMU exited before VKX-END ($t_end s)" ;;
*) fail "dom0 test finished within ${LIMIT}s (time limit reached)" ;;
esac
# Xen powers the machine off (ACPI S5) after dom0 stops.
for _ in $(seq 1 20); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.5; done
note "total $(el "$T0") s"
