# src/common: logging, byte order, compiler helpers, Unix sockets
libvhost_core_la_SOURCES += \
	src/common/compiler.h \
	src/common/clock.h \
	src/common/byteorder.h \
	src/common/log.h \
	src/common/log.c \
	src/common/fd_map.h \
	src/common/unix_sock.h \
	src/common/unix_sock.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_unix_sock
TESTS += tests/unit/test_unix_sock
tests_unit_test_unix_sock_SOURCES = tests/unit/test_unix_sock.c
tests_unit_test_unix_sock_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_unix_sock_LDADD = $(TEST_LIBS)
endif
