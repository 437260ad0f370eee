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
