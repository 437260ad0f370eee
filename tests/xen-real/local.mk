# tests/xen-real: the real-Xen end-to-end test (Debian's Xen 4.17 + a Debian
# dom0 under QEMU TCG, an HVM guest served by xen-vhost-master and
# vhost-device-vsock) and scripts/xen-virtio-ssdt, the SSDT helper for users.
# run.sh boots for minutes: scripts/check runs it as its own step in the
# --enable-xen build; `make check` only tests the SSDT helper.
TESTS += tests/xen-real/ssdt.sh
EXTRA_DIST += tests/xen-real/ssdt.sh tests/xen-real/run.sh tests/xen-real/build-images.sh \
	tests/xen-real/dom0-init tests/xen-real/dom0-test.sh tests/xen-real/guest-test.sh

if ENABLE_XEN
dist_bin_SCRIPTS = scripts/xen-virtio-ssdt
endif
