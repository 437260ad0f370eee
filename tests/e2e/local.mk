# tests/e2e: real-guest end-to-end tests (QEMU TCG + our vhost-device-vsock)
# and the programs they use.  tests/common holds the hash-checked transfer
# code shared by the host program and the static guest program.
e2e_common = \
	tests/common/xfer.c tests/common/xfer.h \
	tests/common/xfer_tool.c tests/common/xfer_tool.h

check_PROGRAMS += tests/e2e/vsock-host tests/guest/vsock-guest
tests_e2e_vsock_host_SOURCES = tests/e2e/vsock-host.c $(e2e_common)
tests_e2e_vsock_host_CFLAGS = $(AM_CFLAGS)
tests_e2e_vsock_host_LDADD = libvhost-core.la
# Built here only to keep it warning-clean; scripts/guest-image builds the
# static copy that goes into the guest.
tests_guest_vsock_guest_SOURCES = tests/guest/vsock-guest.c $(e2e_common)
tests_guest_vsock_guest_CFLAGS = $(AM_CFLAGS)

TESTS += tests/e2e/smoke.sh tests/e2e/kernel-6.1.sh tests/e2e/kernel-newest.sh
EXTRA_DIST += tests/e2e/lib.sh tests/e2e/scenarios.sh \
	tests/e2e/smoke.sh tests/e2e/kernel-6.1.sh tests/e2e/kernel-newest.sh

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_xfer
TESTS += tests/unit/test_xfer
tests_unit_test_xfer_SOURCES = tests/unit/test_xfer.c $(e2e_common)
tests_unit_test_xfer_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_xfer_LDADD = $(TEST_LIBS)
endif
