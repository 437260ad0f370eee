# src/bench: vsock-bench, the vhost-user vsock benchmark (VMM + guest driver in one process)
bin_PROGRAMS += vsock-bench
vsock_bench_SOURCES = \
	src/bench/vsock_bench.h \
	src/bench/vsock_bench.c \
	src/bench/bench_host.c \
	src/bench/bench_run.c \
	src/bench/bench_report.c \
	src/bench/bench_guest.h \
	src/bench/bench_guest.c \
	src/bench/bench_util.h \
	src/bench/bench_util.c
vsock_bench_LDADD = libvhost-core.la

TESTS += tests/bench/smoke.sh tests/bench/targets.sh
EXTRA_DIST += tests/bench/smoke.sh tests/bench/targets.sh
EXTRA_DIST += doc/vsock-bench.md
