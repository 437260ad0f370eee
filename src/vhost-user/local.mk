# src/vhost-user: message codec, back-end request handler
libvhost_core_la_SOURCES += \
	src/vhost-user/vu_proto.h \
	src/vhost-user/vu_msg.h \
	src/vhost-user/vu_msg.c \
	src/vhost-user/vu_backend.h \
	src/vhost-user/vu_backend.c \
	src/vhost-user/vu_inflight.h \
	src/vhost-user/vu_inflight.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_vu_msg
TESTS += tests/unit/test_vu_msg
tests_unit_test_vu_msg_SOURCES = tests/unit/test_vu_msg.c
tests_unit_test_vu_msg_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vu_msg_LDADD = $(TEST_LIBS)
endif

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_vu_backend
TESTS += tests/unit/test_vu_backend
tests_unit_test_vu_backend_SOURCES = tests/unit/test_vu_backend.c tests/unit/vu_test_fe.c \
	tests/unit/vu_test_fe.h
tests_unit_test_vu_backend_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/tests/unit
tests_unit_test_vu_backend_LDADD = $(TEST_LIBS)
endif
