#!/bin/bash
# SPDX-License-Identifier: MIT
#
# xen-watch.sh - xen-vhost-master when xenstore refuses its watches at start
# (xensim-guest "fail xs_watch COUNT ERRNO PATH"): the @releaseDomain watch
# refused once, the watch of <dom0>/backend/virtio refused three times in a
# row, then the watch of a new guest's front-end state refused once.  The
# master says so once per watch, sets them again later (the recheck timer,
# with its back-off) and, once they are set, notices a device announced
# afterwards (served: InitWait, its device starts), its front-end's move to
# Connected and the death of its domain (found gone, stopped).  Each watch
# is set once.
#
# Prints TAP.

XSIM_NEED=(MASTER DAEMON GUEST)

XSIM_TAG=xen-watch
. "$(dirname "$0")/lib.sh"

BE=/local/domain/0/backend/virtio

# a field of the last answer: "OK hits H left L"
field() { local a=($REPLY) i; for ((i = 1; i < ${#a[@]}; i++)); do [ "${a[i]}" = "$1" ] && echo "${a[i+1]}"; done; }
# wait up to 5 s until "$@" succeeds
eventually() { local i; for i in $(seq 50); do "$@" && return 0; sleep 0.1; done; "$@"; }
hits_are() { gcmd failed xs_watch "$1" >/dev/null && [ "$(field hits)" = "$2" ] && [ "$(field left)" = 0 ]; }
watches_are() { gcmd xswatches "$1" >/dev/null && [ "$REPLY" = "OK $2" ]; }
both_watched() { watches_are @releaseDomain 1 && watches_are $BE 1; }

gcmd dom 2 1 >/dev/null || { echo "Bail out! domain 2"; exit 1; }
start_daemon 2 4
for i in $(seq 100); do [ -S "$T/vsd2.sock" ] && break; sleep 0.05; done

gcmd fail xs_watch 1 EIO @releaseDomain >/dev/null || { echo "Bail out! fail xs_watch @releaseDomain"; exit 1; }
gcmd fail xs_watch 3 EIO $BE >/dev/null || { echo "Bail out! fail xs_watch $BE"; exit 1; }
$SIMENV "$MASTER" --privcmd /dev/null --log-level info --serve "vsock=$T/vsd%d.sock" \
	>"$T/master.log" 2>&1 &
MPID=$!
PIDS+=($MPID)

check "the @releaseDomain watch refused once at start (EIO): the refusal was met" \
	eventually hits_are @releaseDomain 1
check "the $BE watch refused 3 times in a row (EIO): the refusals were met" \
	eventually hits_are $BE 3
check "... the master says so, once for each watch" \
	test "$(grep -c "cannot watch @releaseDomain" "$T/master.log")" = 1 -a \
	     "$(grep -c "cannot watch $BE:" "$T/master.log")" = 1
check "... and watches both in the end, each once" \
	eventually both_watched
FE=/local/domain/2/device/virtio/0/state
gcmd fail xs_watch 1 EIO $FE >/dev/null
announce 2
check "a device announced afterwards is noticed: guest 2 served (InitWait)" gcmd xswait $BE/2/0/state 2
check "... its device starts" gcmd probe 2 0xfe000000 5
check "the watch of its front-end's state refused once (EIO): the refusal was met" \
	eventually hits_are $FE 1
check "... the master watches it in the end, once" eventually watches_are $FE 1
sleep 1   # the recheck (which looks at the handshake too) has gone quiet
gcmd xs $FE 4 >/dev/null
check "... its front-end Connected later: the back-end follows (Connected)" gcmd xswait $BE/2/0/state 4
gcmd destroy 2 >/dev/null
check "domain 2 destroyed afterwards: the master finds it gone (@releaseDomain)" \
	master_says 1 'domain 2 is gone' 5
check "... and stops its guest" master_says 1 'domain 2: stopped' 5
check "the master is still up" kill -0 $MPID
kill -TERM $MPID
wait $MPID
rc=$?
check "xen-vhost-master exits cleanly on SIGTERM (status $rc)" test $rc -eq 0
check "no sanitizer report from the master or the daemon" \
	bash -c "! grep -l -E 'Sanitizer|runtime error' '$T'/master*.log '$T'/daemon*.log"
