# xen: xen-vhost-master and its tests against the Xen simulator (tests/xensim)
if ENABLE_XEN

# ---------------------------------------------------------------- Xen simulator
# Shared objects with the sonames and functions of Debian's Xen libraries
# (the subset the product calls).  Tests link against the real libraries and
# load these at run time: cmocka tests through their RUNPATH, programs
# started by shell tests through LD_LIBRARY_PATH=$(top_builddir)/tests/xensim.
XENSIM_CFLAGS = $(AM_CFLAGS) $(XEN_CFLAGS) -fPIC
XENSIM_COMMON = tests/xensim/xensim_proto.h tests/xensim/xensim_client.h tests/xensim/xensim_client.c \
	src/common/unix_sock.h src/common/unix_sock.c
XENSIM_SOLINK = -XCClinker -shared -pthread

check_PROGRAMS += \
	tests/xensim/libxendevicemodel.so.1 \
	tests/xensim/libxenforeignmemory.so.1 \
	tests/xensim/libxenevtchn.so.1 \
	tests/xensim/libxengnttab.so.1 \
	tests/xensim/libxenstore.so.4 \
	tests/xensim/libxenctrl.so.4.17

EXTRA_tests_xensim_libxendevicemodel_so_1_DEPENDENCIES = $(top_srcdir)/tests/xensim/devicemodel.map
tests_xensim_libxendevicemodel_so_1_SOURCES = $(XENSIM_COMMON) tests/xensim/sim_devicemodel.c
tests_xensim_libxendevicemodel_so_1_CFLAGS = $(XENSIM_CFLAGS)
tests_xensim_libxendevicemodel_so_1_LDFLAGS = $(XENSIM_SOLINK) -Wl,--version-script=$(top_srcdir)/tests/xensim/devicemodel.map -Wl,-soname,libxendevicemodel.so.1
EXTRA_tests_xensim_libxenforeignmemory_so_1_DEPENDENCIES = $(top_srcdir)/tests/xensim/foreignmemory.map
tests_xensim_libxenforeignmemory_so_1_SOURCES = $(XENSIM_COMMON) tests/xensim/sim_foreignmemory.c
tests_xensim_libxenforeignmemory_so_1_CFLAGS = $(XENSIM_CFLAGS)
tests_xensim_libxenforeignmemory_so_1_LDFLAGS = $(XENSIM_SOLINK) -Wl,--version-script=$(top_srcdir)/tests/xensim/foreignmemory.map -Wl,-soname,libxenforeignmemory.so.1
EXTRA_tests_xensim_libxenevtchn_so_1_DEPENDENCIES = $(top_srcdir)/tests/xensim/evtchn.map
tests_xensim_libxenevtchn_so_1_SOURCES = $(XENSIM_COMMON) tests/xensim/sim_evtchn.c
tests_xensim_libxenevtchn_so_1_CFLAGS = $(XENSIM_CFLAGS)
tests_xensim_libxenevtchn_so_1_LDFLAGS = $(XENSIM_SOLINK) -Wl,--version-script=$(top_srcdir)/tests/xensim/evtchn.map -Wl,-soname,libxenevtchn.so.1
EXTRA_tests_xensim_libxengnttab_so_1_DEPENDENCIES = $(top_srcdir)/tests/xensim/gnttab.map
tests_xensim_libxengnttab_so_1_SOURCES = $(XENSIM_COMMON) tests/xensim/sim_gnttab.c
tests_xensim_libxengnttab_so_1_CFLAGS = $(XENSIM_CFLAGS)
tests_xensim_libxengnttab_so_1_LDFLAGS = $(XENSIM_SOLINK) -Wl,--version-script=$(top_srcdir)/tests/xensim/gnttab.map -Wl,-soname,libxengnttab.so.1
EXTRA_tests_xensim_libxenstore_so_4_DEPENDENCIES = $(top_srcdir)/tests/xensim/store.map
tests_xensim_libxenstore_so_4_SOURCES = $(XENSIM_COMMON) tests/xensim/sim_store.c
tests_xensim_libxenstore_so_4_CFLAGS = $(XENSIM_CFLAGS)
tests_xensim_libxenstore_so_4_LDFLAGS = $(XENSIM_SOLINK) -Wl,--version-script=$(top_srcdir)/tests/xensim/store.map -Wl,-soname,libxenstore.so.4
EXTRA_tests_xensim_libxenctrl_so_4_17_DEPENDENCIES = $(top_srcdir)/tests/xensim/ctrl.map
tests_xensim_libxenctrl_so_4_17_SOURCES = $(XENSIM_COMMON) tests/xensim/sim_ctrl.c
tests_xensim_libxenctrl_so_4_17_CFLAGS = $(XENSIM_CFLAGS)
tests_xensim_libxenctrl_so_4_17_LDFLAGS = $(XENSIM_SOLINK) -Wl,--version-script=$(top_srcdir)/tests/xensim/ctrl.map -Wl,-soname,libxenctrl.so.4.17

# The dom0 kernel's privcmd irqfd/ioeventfd ioctls, LD_PRELOADed into the
# master by the end-to-end test (an interposed ioctl(), nothing else).
check_PROGRAMS += tests/xensim/libxensim-privcmd.so
EXTRA_tests_xensim_libxensim_privcmd_so_DEPENDENCIES = $(top_srcdir)/tests/xensim/privcmd.map
tests_xensim_libxensim_privcmd_so_SOURCES = $(XENSIM_COMMON) tests/xensim/sim_privcmd.c xen/xvm_privcmd.h
tests_xensim_libxensim_privcmd_so_CFLAGS = $(XENSIM_CFLAGS) -I$(top_srcdir)
tests_xensim_libxensim_privcmd_so_LDFLAGS = $(XENSIM_SOLINK) -Wl,--version-script=$(top_srcdir)/tests/xensim/privcmd.map

# The simulated hypervisor + guest, linked into test programs.
check_LTLIBRARIES += tests/xensim/libxensim-hv.la
tests_xensim_libxensim_hv_la_SOURCES = tests/xensim/xensim_hv.h tests/xensim/xensim_hv.c tests/xensim/xensim_proto.h \
	src/common/unix_sock.h src/common/unix_sock.c
tests_xensim_libxensim_hv_la_CFLAGS = $(AM_CFLAGS) $(XEN_CFLAGS)

# The simulated host and guests of the end-to-end tests.
check_PROGRAMS += tests/xensim/xensim-guest
tests_xensim_xensim_guest_SOURCES = tests/xensim/xensim_guest.c tests/common/xfer.c tests/common/xfer.h
tests_xensim_xensim_guest_CFLAGS = $(AM_CFLAGS) $(XEN_CFLAGS) -I$(top_srcdir)
tests_xensim_xensim_guest_LDADD = tests/xensim/libxensim-hv.la libvhost-core.la

# The cost of one notification: KVM-style eventfds vs the ioreq path.
check_PROGRAMS += tests/xensim/xensim-notify-bench
tests_xensim_xensim_notify_bench_SOURCES = tests/xensim/xensim_notify_bench.c
tests_xensim_xensim_notify_bench_CFLAGS = $(AM_CFLAGS) $(XEN_CFLAGS) -I$(top_srcdir)
tests_xensim_xensim_notify_bench_LDFLAGS = $(XENSIM_RPATH)
tests_xensim_xensim_notify_bench_LDADD = tests/xensim/libxensim-hv.la libvhost-core.la $(XEN_LIBS)
TESTS += tests/xensim/xen-notify-bench.sh

# End to end: the real master and daemon against the simulator.
TESTS += tests/xensim/xen-e2e.sh tests/xensim/xen-e2e-userspace.sh
# A guest that loses interrupt edges: the master's watchdog and reconnect re-pulse.
TESTS += tests/xensim/xen-lost-edge.sh
# Discovery through xenstore over the lifetime of guests.
TESTS += tests/xensim/xen-discovery.sh
# One hung back-end (SIGSTOP) does not stall the master's other guests.
TESTS += tests/xensim/xen-isolation.sh
# A guest's thread busy (set-up, release) while the toolstack acts.
TESTS += tests/xensim/xen-threads.sh
# --domid guests whose domain goes away (during their set-up too).
TESTS += tests/xensim/xen-gone.sh
# Xen calls refused (the simulator's fault injection): set-up failures, domain states.
TESTS += tests/xensim/xen-faults.sh
# xenstore watches refused at start: set again later.
TESTS += tests/xensim/xen-watch.sh

XENSIM_BUILT = $(filter tests/xensim/lib%, $(check_PROGRAMS))
# cmocka tests that call Xen: link the real libraries, run the simulated ones.
XENSIM_RPATH = -Wl,-rpath,$(abs_top_builddir)/tests/xensim -Wl,--disable-new-dtags

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_gmem_xen
TESTS += tests/unit/test_gmem_xen
tests_unit_test_gmem_xen_SOURCES = tests/unit/test_gmem_xen.c
tests_unit_test_gmem_xen_CFLAGS = $(TEST_CFLAGS) $(XEN_CFLAGS) -I$(top_srcdir)/tests
tests_unit_test_gmem_xen_LDFLAGS = $(XENSIM_RPATH)
tests_unit_test_gmem_xen_LDADD = $(TEST_LIBS) tests/xensim/libxensim-hv.la $(XEN_LIBS)
EXTRA_tests_unit_test_gmem_xen_DEPENDENCIES = $(XENSIM_BUILT)

check_PROGRAMS += tests/unit/test_vq_pin
TESTS += tests/unit/test_vq_pin
tests_unit_test_vq_pin_SOURCES = tests/unit/test_vq_pin.c
tests_unit_test_vq_pin_CFLAGS = $(TEST_CFLAGS) $(XEN_CFLAGS) -I$(top_srcdir)/tests
tests_unit_test_vq_pin_LDFLAGS = $(XENSIM_RPATH)
tests_unit_test_vq_pin_LDADD = $(TEST_LIBS) tests/xensim/libxensim-hv.la $(XEN_LIBS)
EXTRA_tests_unit_test_vq_pin_DEPENDENCIES = $(XENSIM_BUILT)
endif

# ---------------------------------------------------------------- xen-vhost-master
# Pure logic (no Xen calls): virtio-mmio registers and ioreq handling.
noinst_LTLIBRARIES += xen/libxvm.la
xen_libxvm_la_SOURCES = xen/xvm_mmio.h xen/xvm_mmio.c xen/xvm_ioreq.h xen/xvm_ioreq.c
xen_libxvm_la_CFLAGS = $(AM_CFLAGS) $(XEN_CFLAGS)

sbin_PROGRAMS += xen-vhost-master
xen_vhost_master_SOURCES = xen/xvm.h xen/xvm_main.c xen/xvm_guest.c xen/xvm_dev.c xen/xvm_xs.c \
	xen/xvm_knotify.c xen/xvm_privcmd.h
xen_vhost_master_CFLAGS = $(AM_CFLAGS) $(XEN_CFLAGS)
xen_vhost_master_LDADD = xen/libxvm.la libvhost-core.la $(XEN_LIBS)
dist_man_MANS += doc/xen-vhost-master.8

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_xvm_mmio
TESTS += tests/unit/test_xvm_mmio
tests_unit_test_xvm_mmio_SOURCES = tests/unit/test_xvm_mmio.c
tests_unit_test_xvm_mmio_CFLAGS = $(TEST_CFLAGS) $(XEN_CFLAGS) -I$(top_srcdir)/xen
tests_unit_test_xvm_mmio_LDADD = xen/libxvm.la $(TEST_LIBS)
endif

# Fuzz target (tests/fuzz conventions): the guest-facing register and ioreq logic.
FUZZ_TARGETS += tests/fuzz/fuzz_xvm
tests_fuzz_fuzz_xvm_SOURCES = tests/fuzz/fuzz_xvm.c xen/xvm_mmio.c xen/xvm_ioreq.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_xvm_CFLAGS = $(FUZZ_TARGET_CFLAGS) $(XEN_CFLAGS) -I$(top_srcdir)/xen
tests_fuzz_fuzz_xvm_LDADD = $(FUZZ_TARGET_LIBS)

endif

EXTRA_DIST += doc/xen-vhost-master.8 doc/xen-vhost-master.service tests/xensim/xen-e2e.sh \
	tests/xensim/xen-lost-edge.sh tests/xensim/xen-discovery.sh tests/xensim/lib.sh \
	tests/xensim/xen-isolation.sh tests/xensim/xen-threads.sh tests/xensim/xen-gone.sh \
	tests/xensim/xen-faults.sh tests/xensim/xen-watch.sh \
	tests/xensim/xen-e2e-userspace.sh tests/xensim/xen-notify-bench.sh \
	tests/xensim/devicemodel.map tests/xensim/foreignmemory.map tests/xensim/evtchn.map \
	tests/xensim/gnttab.map tests/xensim/store.map tests/xensim/ctrl.map tests/xensim/privcmd.map
