# src/common: logging, byte order, compiler helpers, Unix sockets
libvhost_core_la_SOURCES += \
	src/common/compiler.h \
	src/common/byteorder.h \
	src/common/log.h \
	src/common/log.c \
	src/common/unix_sock.h \
	src/common/unix_sock.c
