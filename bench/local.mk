# Benchmarks: built with `make bench`, never run by `make check` (tests assert
# behaviour, never timings; DESIGN §8).
EXTRA_PROGRAMS = bench_statestore
bench_statestore_SOURCES = bench/statestore.c
bench_statestore_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS) $(MSGPACK_CFLAGS)
bench_statestore_LDADD = statestore/libstatestore.a services/libservices.a common/libcommon.a $(LMDB_LIBS) $(MSGPACK_LIBS)
CLEANFILES += $(EXTRA_PROGRAMS)

bench: $(EXTRA_PROGRAMS)
.PHONY: bench
