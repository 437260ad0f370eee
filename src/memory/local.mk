# src/memory: guest memory region tables and address translation
libvhost_core_la_SOURCES += \
	src/memory/gmem.h \
	src/memory/gmem_backend.h \
	src/memory/gmem.c \
	src/memory/gmem_mmap.c \
	src/memory/gmem_pin.c \
	src/memory/gmem_sigbus.h \
	src/memory/gmem_sigbus.c

# Exactly one region backend (gmem_backend.h).
if ENABLE_XEN
libvhost_core_la_SOURCES += src/memory/gmem_xen.c
libvhost_core_la_CFLAGS += $(XEN_CFLAGS)
libvhost_core_la_LIBADD += $(XEN_LIBS)
else
libvhost_core_la_SOURCES += src/memory/gmem_mmap_backend.c
endif

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_gmem
TESTS += tests/unit/test_gmem
tests_unit_test_gmem_SOURCES = tests/unit/test_gmem.c
tests_unit_test_gmem_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_gmem_LDADD = $(TEST_LIBS)
endif

# close() and mmap() wrapped: counts every close, injects mmap failures;
# fstat() and ioctl() wrapped: an fd passes for a block device.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_gmem_fds
TESTS += tests/unit/test_gmem_fds
tests_unit_test_gmem_fds_SOURCES = tests/unit/test_gmem_fds.c
tests_unit_test_gmem_fds_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_gmem_fds_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=close -Wl,--wrap=mmap \
	-Wl,--wrap=fstat -Wl,--wrap=ioctl
tests_unit_test_gmem_fds_LDADD = $(TEST_LIBS)
endif

# A front-end truncating guest memory under the mapping (SIGBUS): each case
# in a child process; the last one runs the daemon framework.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_gmem_sigbus
TESTS += tests/unit/test_gmem_sigbus
tests_unit_test_gmem_sigbus_SOURCES = tests/unit/test_gmem_sigbus.c tests/unit/vu_test_fe.c \
	tests/unit/vu_test_fe.h
tests_unit_test_gmem_sigbus_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/tests/unit
tests_unit_test_gmem_sigbus_LDADD = $(TEST_LIBS)
endif
