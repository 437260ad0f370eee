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

# ---- vhost-user front-end (branch fe)
libvhost_core_la_SOURCES += \
	src/vhost-user/vu_frontend.h \
	src/vhost-user/vu_frontend.c \
	src/vhost-user/vhost_fe.h \
	src/vhost-user/vhost_fe_priv.h \
	src/vhost-user/vhost_fe.c \
	src/vhost-user/vk_kernel.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_vu_fe
TESTS += tests/unit/test_vu_fe
tests_unit_test_vu_fe_SOURCES = tests/unit/test_vu_fe.c tests/unit/vu_fe_mock.c tests/unit/vu_fe_mock.h
tests_unit_test_vu_fe_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vu_fe_LDADD = $(TEST_LIBS)
check_PROGRAMS += tests/unit/test_vu_fe_backend
TESTS += tests/unit/test_vu_fe_backend
tests_unit_test_vu_fe_backend_SOURCES = tests/unit/test_vu_fe_backend.c tests/unit/vu_fe_mock.c tests/unit/vu_fe_mock.h
tests_unit_test_vu_fe_backend_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vu_fe_backend_LDADD = $(TEST_LIBS)
check_PROGRAMS += tests/unit/test_vu_fe_kernel
TESTS += tests/unit/test_vu_fe_kernel
tests_unit_test_vu_fe_kernel_SOURCES = tests/unit/test_vu_fe_kernel.c
tests_unit_test_vu_fe_kernel_CFLAGS = $(TEST_CFLAGS)
# write() wrapped: a model of the kernel's vDPA IOTLB takes the IOTLB messages
tests_unit_test_vu_fe_kernel_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=write
tests_unit_test_vu_fe_kernel_LDADD = $(TEST_LIBS)
endif

check_PROGRAMS += tests/unit/vhost_kernel_dev
tests_unit_vhost_kernel_dev_SOURCES = tests/unit/vhost_kernel_dev.c \
	src/bench/bench_guest.h src/bench/bench_guest.c
tests_unit_vhost_kernel_dev_LDADD = libvhost-core.la
TESTS += tests/unit/vhost_kernel_dev.sh
EXTRA_DIST += tests/unit/vhost_kernel_dev.sh
