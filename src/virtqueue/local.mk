# src/virtqueue: split virtqueue, device side (vq_*) and driver side (vqdrv_*)
libvhost_core_la_SOURCES += \
	src/virtqueue/virtqueue.h \
	src/virtqueue/vq_internal.h \
	src/virtqueue/vq_device.c \
	src/virtqueue/vq_pop.c \
	src/virtqueue/vq_notify.c \
	src/virtqueue/vq_iov.c \
	src/virtqueue/vq_log.c \
	src/virtqueue/vq_inflight.c \
	src/virtqueue/vq_pin.c \
	src/virtqueue/vq_driver.c

if HAVE_CMOCKA
# Shared by the virtqueue tests.
VQ_TEST_UTIL = tests/unit/vq_test_util.c tests/unit/vq_test_util.h

check_PROGRAMS += tests/unit/test_vq_ring
TESTS += tests/unit/test_vq_ring
tests_unit_test_vq_ring_SOURCES = tests/unit/test_vq_ring.c $(VQ_TEST_UTIL)
tests_unit_test_vq_ring_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vq_ring_LDADD = $(TEST_LIBS)
endif

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_vq_notify
TESTS += tests/unit/test_vq_notify
tests_unit_test_vq_notify_SOURCES = tests/unit/test_vq_notify.c $(VQ_TEST_UTIL)
tests_unit_test_vq_notify_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vq_notify_LDADD = $(TEST_LIBS)
endif

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_vq_bad
TESTS += tests/unit/test_vq_bad
tests_unit_test_vq_bad_SOURCES = tests/unit/test_vq_bad.c $(VQ_TEST_UTIL)
tests_unit_test_vq_bad_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vq_bad_LDADD = $(TEST_LIBS)
endif

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_vq_log tests/unit/test_vq_inflight
TESTS += tests/unit/test_vq_log tests/unit/test_vq_inflight
tests_unit_test_vq_log_SOURCES = tests/unit/test_vq_log.c $(VQ_TEST_UTIL)
tests_unit_test_vq_log_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vq_log_LDADD = $(TEST_LIBS)
tests_unit_test_vq_inflight_SOURCES = tests/unit/test_vq_inflight.c $(VQ_TEST_UTIL)
tests_unit_test_vq_inflight_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vq_inflight_LDADD = $(TEST_LIBS)
endif

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_vq_threads
TESTS += tests/unit/test_vq_threads
tests_unit_test_vq_threads_SOURCES = tests/unit/test_vq_threads.c $(VQ_TEST_UTIL)
tests_unit_test_vq_threads_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vq_threads_LDADD = $(TEST_LIBS)
endif
