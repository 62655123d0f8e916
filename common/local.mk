# common/: errors, logging, byte buffers, msgpack helpers, hashing, the
# state-machine interface. Uses libc and msgpack-c only (DESIGN §3).
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)
common_libcommon_a_SOURCES = \
	common/buf.c common/buf.h \
	common/error.c common/error.h \
	common/hash.c common/hash.h \
	common/log.c common/log.h \
	common/pack.c common/pack.h \
	common/sm.h \
	common/tables.h
