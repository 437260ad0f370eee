# src/vhost-user

# ---- vhost-user front-end (branch fe)
libvhost_core_la_SOURCES += \
	src/vhost-user/vu_frontend.h \
	src/vhost-user/vu_frontend.c \
	src/vhost-user/vu_fe_xfer.h \
	src/vhost-user/vu_fe_xfer.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_vu_fe
TESTS += tests/unit/test_vu_fe
tests_unit_test_vu_fe_SOURCES = tests/unit/test_vu_fe.c tests/unit/vu_fe_mock.c tests/unit/vu_fe_mock.h
tests_unit_test_vu_fe_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vu_fe_LDADD = $(TEST_LIBS)
endif
