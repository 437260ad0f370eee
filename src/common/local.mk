# src/common: logging, byte order, compiler helpers
libvhost_core_la_SOURCES += \
	src/common/compiler.h \
	src/common/byteorder.h \
	src/common/log.h \
	src/common/log.c
