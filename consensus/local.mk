# consensus/: the libraft node on raft_uv, our transport, the FSM adapter.
# Uses common, raft, libuv and libsodium (DESIGN §3).
noinst_LIBRARIES += consensus/libconsensus.a
consensus_libconsensus_a_CFLAGS = $(AM_CFLAGS) $(RAFT_CFLAGS) $(UV_CFLAGS) $(SODIUM_CFLAGS)
consensus_libconsensus_a_SOURCES = \
	consensus/consensus.c consensus/consensus.h \
	consensus/fsm.c \
	consensus/group.c \
	consensus/internal.h \
	consensus/snapshot.c \
	consensus/transport.c consensus/transport.h
