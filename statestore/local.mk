# statestore/: LMDB tables, versioned writes, as-of reads, rewind, compaction,
# digest, snapshot/restore, and the state-machine adapter (DESIGN §3, §4).
noinst_LIBRARIES += statestore/libstatestore.a
statestore_libstatestore_a_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS) $(MSGPACK_CFLAGS)
statestore_libstatestore_a_SOURCES = \
	statestore/apply.c \
	statestore/apply.h \
	statestore/internal.h \
	statestore/read.c \
	statestore/rewind.c \
	statestore/sm.c \
	statestore/snapshot.c \
	statestore/store.c \
	statestore/store.h \
	statestore/write.c
