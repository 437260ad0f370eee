#!/bin/sh
# In-kernel vhost front-ends against the real device nodes; SKIP when absent.
bin="${top_builddir:-.}/tests/unit/vhost_kernel_dev"
echo "1..2"
if [ -e /dev/vhost-vsock ]; then
	"$bin" vsock; rc=$?
	case $rc in
	0) echo "ok 1 - /dev/vhost-vsock: owner, features, memory, 2 rings, cid, running" ;;
	77) echo "ok 1 - /dev/vhost-vsock # SKIP not accessible" ;;
	*) echo "not ok 1 - /dev/vhost-vsock (exit $rc)" ;;
	esac
else
	echo "ok 1 - /dev/vhost-vsock # SKIP no /dev/vhost-vsock on this machine"
fi
dev=$(ls /dev/vhost-vdpa-* 2>/dev/null | head -n 1)
if [ -n "$dev" ]; then
	"$bin" vdpa "$dev"; rc=$?
	case $rc in
	0) echo "ok 2 - $dev: device id" ;;
	77) echo "ok 2 - $dev # SKIP not accessible" ;;
	*) echo "not ok 2 - $dev (exit $rc)" ;;
	esac
else
	echo "ok 2 - vhost-vdpa # SKIP no /dev/vhost-vdpa-N on this machine"
fi
