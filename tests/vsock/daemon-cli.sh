#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/vsock/daemon-cli.sh - the vhost-device-vsock program itself:
# --help/--version, refusals with exit status 1 and a message naming the
# option (nothing created), YAML line numbers, start with socket files
# created, SIGTERM/SIGINT exit 0 and remove every socket it created,
# RUST_LOG read as env_logger reads it.
set -u
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
D=$top_builddir/vhost-device-vsock
n=0
fails=0
ok()   { n=$((n + 1)); echo "ok $n - $*"; }
nok()  { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else nok "$name"; fi; }

if [ ! -x "$D" ]; then
	echo "1..0 # SKIP $D not built"
	exit 0
fi
T=$(mktemp -d /tmp/vsock-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT

# refused: exit 1, message on stderr, nothing created
refused() {
	local want=$1; shift
	local out rc
	out=$(timeout 10 "$D" "$@" 2>&1 >/dev/null)
	rc=$?
	[ $rc -eq 1 ] || { echo "# exit $rc for: $*"; return 1; }
	case $out in
	*"$want"*) ;;
	*) echo "# got: $out"; return 1 ;;
	esac
	[ -z "$(ls -A "$T" | grep -v '\.yaml$')" ] || { echo "# created: $(ls "$T")"; return 1; }
}

check "--help exits 0 and lists --uds-path" bash -c "'$D' --help | grep -q -- --uds-path"
check "--version prints the name" bash -c "'$D' --version | grep -q '^vhost-device-vsock '"
check "no arguments: refused" refused "no arguments provided" 
check "reserved CID 2 refused" refused "guest-cid 2 is reserved" --guest-cid 2 --socket "$T/s" --uds-path "$T/u"
check "missing --uds-path named" refused "missing option --uds-path" --socket "$T/s"
check "unknown --vm key named" refused "--vm: unknown key 'colour'" --vm "socket=$T/s,uds-path=$T/u,colour=red"
check "duplicate CIDs refused" refused "guest-cid 5 is used by two VMs" \
	--vm "guest-cid=5,socket=$T/a,uds-path=$T/b" --vm "guest-cid=5,socket=$T/c,uds-path=$T/d"
printf 'vms:\n  - guest_cid: 3\n    socket: %s/s\n    uds_path: %s/u\n    bogus: 1\n' "$T" "$T" > "$T/bad.yaml"
check "YAML unknown key with its line" refused "bad.yaml:5: unknown key 'bogus'" --config "$T/bad.yaml"
printf 'vms:\n  - guest_cid: 3\n   socket: x\n' > "$T/broken.yaml"
check "malformed YAML with its line" refused "broken.yaml:3: malformed YAML" --config "$T/broken.yaml"
check "one uds-path spelled two ways refused" refused "uds-path $T/./u is used by two VMs ($T/u for guest-cid 3)" \
	--vm "guest-cid=3,socket=$T/s3,uds-path=$T/u" --vm "guest-cid=4,socket=$T/s4,uds-path=$T/./u"
check "socket and uds-path on one file refused" refused "$T/x is both the socket and the uds-path of guest-cid 3" \
	--socket "$T/x" --uds-path "$T/x"
check "a second VM on a bad uds-path: nothing started" refused "uds-path" \
	--vm "guest-cid=3,socket=$T/s3,uds-path=$T/u3" --vm "guest-cid=4,socket=$T/s4,uds-path=$T/nodir/u4"

# runs, creates its sockets, stops on a signal and removes them
for sig in TERM INT; do
	rm -f "$T"/*.sock "$T"/*.vsock*
	"$D" --guest-cid 3 --socket "$T/vm.sock" --uds-path "$T/vm.vsock" 2>"$T/log" &
	pid=$!
	i=0
	while [ $i -lt 50 ] && ! [ -S "$T/vm.sock" -a -S "$T/vm.vsock" ]; do sleep 0.1; i=$((i + 1)); done
	check "SIG$sig: sockets created" test -S "$T/vm.sock" -a -S "$T/vm.vsock" -a -S "$T/vm.vsock.seqpacket"
	# a silent CONNECT client must not keep it from stopping
	( exec 3<>/dev/null; python3 -c "import socket,time; s=socket.socket(socket.AF_UNIX); s.connect('$T/vm.vsock'); time.sleep(3)" 2>/dev/null ) &
	cl=$!
	sleep 0.2
	kill -$sig $pid
	rc=0
	i=0
	while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	if kill -0 $pid 2>/dev/null; then
		kill -9 $pid
		nok "SIG$sig: stops within 5 s"
	else
		wait $pid
		rc=$?
		check "SIG$sig: exit status 0" test $rc -eq 0
	fi
	check "SIG$sig: sockets removed" test ! -e "$T/vm.sock" -a ! -e "$T/vm.vsock" -a ! -e "$T/vm.vsock.seqpacket"
	kill $cl 2>/dev/null
	wait $cl 2>/dev/null
done
# RUST_LOG as env_logger reads it: a bare level, or target=level directives
for rl in info vhost_device_vsock=info "warn,vhost_device_vsock=debug" vhost_device_vsock; do
	rm -f "$T"/*.sock "$T"/*.vsock*
	RUST_LOG=$rl "$D" --socket "$T/rl.sock" --uds-path "$T/rl.vsock" 2>"$T/rl.log" &
	pid=$!
	i=0
	while [ $i -lt 50 ] && ! [ -S "$T/rl.vsock" ]; do sleep 0.1; i=$((i + 1)); done
	kill -TERM $pid
	wait $pid
	check "RUST_LOG=$rl: info messages" grep -q '^\[info\] 1 VM(s) ready' "$T/rl.log"
done
rm -f "$T"/*.sock "$T"/*.vsock*
RUST_LOG=error,vhost_device_vsock=warn "$D" --socket "$T/rl.sock" --uds-path "$T/rl.vsock" 2>"$T/rl.log" &
pid=$!
i=0
while [ $i -lt 50 ] && ! [ -S "$T/rl.vsock" ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM $pid
wait $pid
check "RUST_LOG=error,vhost_device_vsock=warn: no info messages" test ! -s "$T/rl.log"
# systemd socket activation: the vhost-user socket comes as fd 3 (LISTEN_FDS)
if command -v systemd-socket-activate >/dev/null && command -v python3 >/dev/null; then
	rm -f "$T"/*.sock "$T"/*.vsock*
	systemd-socket-activate -l "$T/act.sock" "$D" --socket "$T/act.sock" --uds-path "$T/act.vsock" \
		2>"$T/act.log" &
	sa=$!
	i=0
	while [ $i -lt 50 ] && ! [ -S "$T/act.sock" ]; do sleep 0.1; i=$((i + 1)); done
	# the first connection starts the daemon with the listening socket
	python3 -c "import socket,time; s=socket.socket(socket.AF_UNIX); s.connect('$T/act.sock'); time.sleep(0.5)" 2>/dev/null
	i=0
	while [ $i -lt 50 ] && ! [ -S "$T/act.vsock" ]; do sleep 0.1; i=$((i + 1)); done
	check "socket activation: daemon started on LISTEN_FDS" test -S "$T/act.vsock"
	kill -TERM $sa 2>/dev/null
	wait $sa
	check "socket activation: exit 0 on SIGTERM" test $? -eq 0
	check "socket activation: the activated socket is left to systemd" test -S "$T/act.sock"
	check "socket activation: its own uds-path removed" test ! -e "$T/act.vsock"
else
	n=$((n + 1)); echo "ok $n - socket activation # SKIP systemd-socket-activate not installed"
fi
echo "1..$n"
[ $fails -eq 0 ]
