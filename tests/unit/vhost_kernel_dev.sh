#!/bin/sh
# In-kernel vhost front-ends against the real device nodes; SKIP when absent.
bin="${top_builddir:-.}/tests/unit/vhost_kernel_dev"
# (tests/e2e runs both vsock modes and vdpa-vduse inside the test guest,
# whose kernel has the modules; this script covers a machine that has the
# devices itself, and leaves vdpa-vduse out: it would add a vDPA device to
# the machine.)
echo "1..3"
if [ -e /dev/vhost-vsock ]; then
	"$bin" vsock; rc=$?
	case $rc in
	0) echo "ok 1 - /dev/vhost-vsock: owner, features, memory, 2 rings, cid, running" ;;
	77) echo "ok 1 - /dev/vhost-vsock # SKIP not accessible" ;;
	*) echo "not ok 1 - /dev/vhost-vsock (exit $rc)" ;;
	esac
	"$bin" vsock-data; rc=$?
	case $rc in
	0) echo "ok 2 - /dev/vhost-vsock: 1 MiB from AF_VSOCK to a nested CID and back" ;;
	77) echo "ok 2 - /dev/vhost-vsock data # SKIP not accessible" ;;
	*) echo "not ok 2 - /dev/vhost-vsock: 1 MiB to a nested CID and back (exit $rc)" ;;
	esac
else
	echo "ok 1 - /dev/vhost-vsock # SKIP no /dev/vhost-vsock on this machine"
	echo "ok 2 - /dev/vhost-vsock data # SKIP no /dev/vhost-vsock on this machine"
fi
dev=$(ls /dev/vhost-vdpa-* 2>/dev/null | head -n 1)
if [ -n "$dev" ]; then
	"$bin" vdpa "$dev"; rc=$?
	case $rc in
	0) echo "ok 3 - $dev: device id" ;;
	77) echo "ok 3 - $dev # SKIP not accessible" ;;
	*) echo "not ok 3 - $dev (exit $rc)" ;;
	esac
else
	echo "ok 3 - vhost-vdpa # SKIP no /dev/vhost-vdpa-N on this machine"
fi
