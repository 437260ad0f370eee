#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/e2e/smoke.sh - one real guest (6.1 kernel) against this build's
# daemon: host->guest and guest->host, hash-checked.  Runs in every
# configuration of scripts/check (VK_E2E=smoke: the only e2e test in the
# Xen and sanitizer builds).
. "$(dirname "$0")/lib.sh"

e2e_init smoke "${E2E_LIMIT_S:-180}" smoke
e2e_guest 6.1
note "guest kernel $GUEST_KVER"
S=$E2E_DIR/vm.sock
U=$E2E_DIR/vm.vsock
start_daemon daemon --guest-cid 3 --socket "$S" --uds-path "$U" || exit 1
bg "$E2E_DIR/hostserve.log" "$HOSTPROG" serve "${U}_6000"
wait_for "$E2E_DIR/hostserve.log" listening 5 || { tap_fail "host server listening"; exit 1; }
{
	guest_prelude
	cat <<'GUEST'
serve 5000
q=$LAST_SERVE
echo VK-READY
t "guest->host echo 1 MiB" vsock-guest client 2 6000 echo 1M
t "guest->host 4 MiB both ways" vsock-guest client 2 6000 both 4M
echo VK-GUEST-CLIENTS-DONE
wait $q
GUEST
} >"$E2E_DIR/smoke.sh"
t0=$(date +%s)
start_guest smoke "$S" "$E2E_DIR/smoke.sh"
if guest_ready "$SERIAL" "$QEMU_PID" 90; then
	note "guest ready after $(( $(date +%s) - t0 ))s"
	tap_check "host->guest echo 1 MiB through CONNECT" host client "$U" 5000 echo 1M
	tap_check "host->guest 4 MiB both ways" host client "$U" 5000 both 4M
	wait_for "$SERIAL" '^VK-GUEST-CLIENTS-DONE' 120
	host client "$U" 5000 quit 0 >/dev/null
	guest_off smoke "$QEMU_PID" 30
	guest_results "$SERIAL" guest
else
	tap_fail "guest boots and listens"
	kill -9 "$QEMU_PID" 2>/dev/null
fi
stop_daemon daemon
e2e_finish
