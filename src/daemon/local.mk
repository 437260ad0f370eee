# src/daemon: back-end daemon framework
libvhost_core_la_SOURCES += \
	src/daemon/daemon.h \
	src/daemon/vd_internal.h \
	src/daemon/vd_dev.c \
	src/daemon/vd_worker.c \
	src/daemon/vd_control.c \
	src/daemon/vd_socket.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_daemon
TESTS += tests/unit/test_daemon
tests_unit_test_daemon_SOURCES = tests/unit/test_daemon.c tests/unit/vu_test_fe.c \
	tests/unit/vu_test_fe.h
tests_unit_test_daemon_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/tests/unit
tests_unit_test_daemon_LDADD = $(TEST_LIBS)
endif
