# src/daemon: back-end daemon framework
libvhost_core_la_SOURCES += \
	src/daemon/daemon.h \
	src/daemon/vd_internal.h \
	src/daemon/vd_dev.c \
	src/daemon/vd_worker.c \
	src/daemon/vd_control.c \
	src/daemon/vd_socket.c
