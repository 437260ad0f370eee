# examples
noinst_PROGRAMS += examples/vhost-null
examples_vhost_null_SOURCES = examples/vhost-null.c
examples_vhost_null_LDADD = libvhost-core.la

TESTS += tests/unit/test_vhost_null.sh
EXTRA_DIST += tests/unit/test_vhost_null.sh
