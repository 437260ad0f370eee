# src/vsock: the virtio-vsock device (vhost-device-vsock)
noinst_LTLIBRARIES += libvsock.la
libvsock_la_SOURCES = \
	src/vsock/vsock_hdr.h \
	src/vsock/vsock_pkt.h \
	src/vsock/vsock_pkt.c \
	src/vsock/vsock_core.h \
	src/vsock/vsock_core.c \
	src/vsock/vsock_host.h \
	src/vsock/vsock_host.c \
	src/vsock/vsock_dev.h \
	src/vsock/vsock_dev.c \
	src/vsock/vsock_config.h \
	src/vsock/vsock_cli.c \
	src/vsock/vsock_yaml.c
libvsock_la_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS)
libvsock_la_LIBADD = $(YAML_LIBS)

VSOCK_TEST_LIBS = libvsock.la $(TEST_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_vsock_pkt
TESTS += tests/unit/test_vsock_pkt
tests_unit_test_vsock_pkt_SOURCES = tests/unit/test_vsock_pkt.c
tests_unit_test_vsock_pkt_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vsock_pkt_LDADD = $(VSOCK_TEST_LIBS)

check_PROGRAMS += tests/unit/test_vsock_core
TESTS += tests/unit/test_vsock_core
tests_unit_test_vsock_core_SOURCES = tests/unit/test_vsock_core.c tests/unit/vsock_fake.h
tests_unit_test_vsock_core_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vsock_core_LDADD = $(VSOCK_TEST_LIBS)

check_PROGRAMS += tests/unit/test_vsock_cli
TESTS += tests/unit/test_vsock_cli
tests_unit_test_vsock_cli_SOURCES = tests/unit/test_vsock_cli.c
tests_unit_test_vsock_cli_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vsock_cli_LDADD = $(VSOCK_TEST_LIBS)

check_PROGRAMS += tests/unit/test_vsock_host
TESTS += tests/unit/test_vsock_host
tests_unit_test_vsock_host_SOURCES = tests/unit/test_vsock_host.c tests/unit/vsock_fake.h
tests_unit_test_vsock_host_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vsock_host_LDADD = $(VSOCK_TEST_LIBS)

check_PROGRAMS += tests/unit/test_vsock_daemon
TESTS += tests/unit/test_vsock_daemon
tests_unit_test_vsock_daemon_SOURCES = tests/unit/test_vsock_daemon.c tests/unit/vu_test_fe.c \
	tests/unit/vu_test_fe.h
tests_unit_test_vsock_daemon_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/tests/unit
# malloc() wrapped: a test makes the copy of a packet to a sibling fail
tests_unit_test_vsock_daemon_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=malloc
tests_unit_test_vsock_daemon_LDADD = $(VSOCK_TEST_LIBS)
endif

# The daemon program
bin_PROGRAMS += vhost-device-vsock
vhost_device_vsock_SOURCES = src/vsock/main.c
vhost_device_vsock_LDADD = libvsock.la libvhost-core.la $(YAML_LIBS)

dist_man_MANS += doc/vhost-device-vsock.1
EXTRA_DIST += doc/vhost-device-vsock@.service doc/vhost-device-vsock@.socket doc/vsock.md

# the program itself: refusals, signals, socket clean-up
TESTS += tests/vsock/daemon-cli.sh
EXTRA_DIST += tests/vsock/daemon-cli.sh
