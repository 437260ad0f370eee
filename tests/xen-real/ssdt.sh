#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/xen-real/ssdt.sh - scripts/xen-virtio-ssdt: the ASL it prints, the
# AML iasl makes of it (decompiled and checked), and its input checks.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
tool=$top_srcdir/scripts/xen-virtio-ssdt
n=0 failed=0
ok()   { n=$((n + 1)); echo "ok $n - $*"; }
bad()  { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() { name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vk-ssdt.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$tool" 0xFE000000 7 >"$tmp/a.asl" 2>"$tmp/err"
check "prints ASL for 0xFE000000 IRQ 7" [ $? -eq 0 ]
check "ASL: _HID LNRO0005" grep -q 'Name (_HID, "LNRO0005")' "$tmp/a.asl"
check "ASL: Memory32Fixed at the base, 0x200 long" grep -q 'Memory32Fixed (ReadWrite, 0xFE000000, 0x00000200)' "$tmp/a.asl"
check "ASL: edge, active-high, exclusive interrupt 7" \
	grep -q 'Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 7 }' "$tmp/a.asl"
"$tool" --level 0xFE000000 7 >"$tmp/l.asl" 2>"$tmp/err"
check "--level: prints ASL" [ $? -eq 0 ]
check "--level: level, active-high, exclusive interrupt 7" \
	grep -q 'Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { 7 }' "$tmp/l.asl"
"$tool" 4261412864 10 | grep -q 'Memory32Fixed (ReadWrite, 0xFE000000,.*' 
check "decimal BASE accepted" [ $? -eq 0 ]

# Bad input: a clear message, exit status 2, nothing on stdout.
for args in "0xFE000000" "0xFE000100 7" "0 7" "0x100000000 7" "0xFE000000 0" "0xFE000000 16" \
	"0xFE00000G 7" "-1 7" "0xFE000000 7x" "'' 7" "0x 7" "0xFE000000 7 out.aml extra" \
	"--edge 0xFE000000 7" "--level" "--level --level 0xFE000000 7"; do
	eval "set -- $args"
	"$tool" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc -eq 2 ] && [ ! -s "$tmp/out" ] && [ -s "$tmp/err" ]; then
		ok "rejects '$args' ($(head -n 1 "$tmp/err"))"
	else
		bad "rejects '$args' (exit $rc)"
	fi
done

if command -v iasl >/dev/null 2>&1; then
	"$tool" 0xFE000000 7 "$tmp/ssdt.aml" 2>"$tmp/err"
	check "compiles with iasl" [ -s "$tmp/ssdt.aml" ]
	check "AML is an SSDT" [ "$(head -c 4 "$tmp/ssdt.aml")" = SSDT ]
	(cd "$tmp" && iasl -d ssdt.aml >/dev/null 2>&1)
	check "decompiled AML: _HID LNRO0005" grep -q '"LNRO0005"' "$tmp/ssdt.dsl"
	check "decompiled AML: window 0xFE000000 + 0x200" \
		sh -c "tr -d ' \n' <'$tmp/ssdt.dsl' | grep -q 'Memory32Fixed(ReadWrite,0xFE000000,//AddressBase0x00000200,'"
	check "decompiled AML: edge active-high interrupt 7" \
		sh -c "tr -d ' \n' <'$tmp/ssdt.dsl' | grep -q 'Interrupt(ResourceConsumer,Edge,ActiveHigh,Exclusive,,,){0x00000007,}'"
	"$tool" 0xFE000000 7 "$tmp/nodir/x.aml" 2>"$tmp/err"
	check "unwritable output: fails" [ $? -ne 0 ]
else
	n=$((n + 1)); echo "ok $n - compile with iasl # SKIP iasl not installed (Debian: acpica-tools)"
fi
echo "1..$n"
[ $failed -eq 0 ]
