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
endif

# The daemon program
bin_PROGRAMS += vhost-device-vsock
vhost_device_vsock_SOURCES = src/vsock/main.c
vhost_device_vsock_LDADD = libvsock.la libvhost-core.la $(YAML_LIBS)
