# tests/fuzz: fuzz targets
#
# A target is LLVMFuzzerTestOneInput() in tests/fuzz/fuzz_<name>.c, with a
# few small seed inputs in tests/fuzz/corpus/<name>/.
#
#  --enable-fuzzing (CC=clang): libFuzzer binaries (built by `make check`,
#    not run by it; scripts/check fuzzes each for a while), linked against
#    libvhost-fuzz.la, the core library compiled with $(FUZZ_CFLAGS):
#        tests/fuzz/fuzz_vq -max_total_time=60 $(top_srcdir)/tests/fuzz/corpus/vq
#  otherwise: the same target linked with tests/fuzz/fuzz_main.c and run by
#    `make check`: it replays the corpus, then VK_FUZZ_RUNS (default 20000)
#    deterministic mutated/random inputs and prints TAP.  In the
#    --enable-sanitizers build that is an ASan/UBSan run.
#    `tests/fuzz/fuzz_vq FILE...` replays given inputs (e.g. a crash).
#
# Adding a target is these 4 lines (plus its corpus directory):
#   FUZZ_TARGETS += tests/fuzz/fuzz_foo
#   tests_fuzz_fuzz_foo_SOURCES = tests/fuzz/fuzz_foo.c $(FUZZ_DRIVER)
#   tests_fuzz_fuzz_foo_CFLAGS = $(FUZZ_TARGET_CFLAGS)
#   tests_fuzz_fuzz_foo_LDADD = $(FUZZ_TARGET_LIBS)

FUZZ_TARGETS =
EXTRA_DIST += tests/fuzz/corpus tests/fuzz/fuzz_main.c

if ENABLE_FUZZING
noinst_LTLIBRARIES += libvhost-fuzz.la
libvhost_fuzz_la_SOURCES = $(libvhost_core_la_SOURCES)
libvhost_fuzz_la_CFLAGS = $(libvhost_core_la_CFLAGS) $(FUZZ_CFLAGS)
libvhost_fuzz_la_LIBADD = $(libvhost_core_la_LIBADD)
FUZZ_DRIVER =
FUZZ_TARGET_CFLAGS = $(AM_CFLAGS) $(FUZZ_CFLAGS)
FUZZ_TARGET_LIBS = libvhost-fuzz.la $(FUZZ_LDFLAGS)
# built by `make check` (scripts/check runs them), not run as tests
check_PROGRAMS += $(FUZZ_TARGETS)
else
FUZZ_DRIVER = tests/fuzz/fuzz_main.c
FUZZ_TARGET_CFLAGS = $(AM_CFLAGS)
FUZZ_TARGET_LIBS = libvhost-core.la
check_PROGRAMS += $(FUZZ_TARGETS)
TESTS += $(FUZZ_TARGETS)
endif

FUZZ_TARGETS += tests/fuzz/fuzz_vq
tests_fuzz_fuzz_vq_SOURCES = tests/fuzz/fuzz_vq.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_vq_CFLAGS = $(FUZZ_TARGET_CFLAGS)
tests_fuzz_fuzz_vq_LDADD = $(FUZZ_TARGET_LIBS)

FUZZ_TARGETS += tests/fuzz/fuzz_vu_msg
tests_fuzz_fuzz_vu_msg_SOURCES = tests/fuzz/fuzz_vu_msg.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_vu_msg_CFLAGS = $(FUZZ_TARGET_CFLAGS)
tests_fuzz_fuzz_vu_msg_LDADD = $(FUZZ_TARGET_LIBS)

# vsock protocol core (src/vsock); its library is rebuilt with the fuzz flags
if ENABLE_FUZZING
noinst_LTLIBRARIES += libvsock-fuzz.la
libvsock_fuzz_la_SOURCES = $(libvsock_la_SOURCES)
libvsock_fuzz_la_CFLAGS = $(libvsock_la_CFLAGS) $(FUZZ_CFLAGS)
libvsock_fuzz_la_LIBADD = $(libvsock_la_LIBADD)
VSOCK_FUZZ_LIBS = libvsock-fuzz.la
else
VSOCK_FUZZ_LIBS = libvsock.la
endif
FUZZ_TARGETS += tests/fuzz/fuzz_vsock
tests_fuzz_fuzz_vsock_SOURCES = tests/fuzz/fuzz_vsock.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_vsock_CFLAGS = $(FUZZ_TARGET_CFLAGS)
tests_fuzz_fuzz_vsock_LDADD = $(VSOCK_FUZZ_LIBS) $(FUZZ_TARGET_LIBS)

# vhost-user front-end (src/vhost-user/vu_frontend.c) against hostile back-end replies
FUZZ_TARGETS += tests/fuzz/fuzz_vu_fe
tests_fuzz_fuzz_vu_fe_SOURCES = tests/fuzz/fuzz_vu_fe.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_vu_fe_CFLAGS = $(FUZZ_TARGET_CFLAGS)
tests_fuzz_fuzz_vu_fe_LDADD = $(FUZZ_TARGET_LIBS)
FUZZ_TARGETS += tests/fuzz/fuzz_vsock_cfg
tests_fuzz_fuzz_vsock_cfg_SOURCES = tests/fuzz/fuzz_vsock_cfg.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_vsock_cfg_CFLAGS = $(FUZZ_TARGET_CFLAGS) $(YAML_CFLAGS)
tests_fuzz_fuzz_vsock_cfg_LDADD = $(VSOCK_FUZZ_LIBS) $(FUZZ_TARGET_LIBS) $(YAML_LIBS)
