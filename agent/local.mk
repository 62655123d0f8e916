# agent/: logosd — configuration, HTTP API, forwarding, reconciler and
# executor, failure detector, wiring. Uses everything above, h2o, jansson.
noinst_LIBRARIES += agent/libagent.a
agent_libagent_a_CFLAGS = $(AM_CFLAGS) $(RAFT_CFLAGS) $(UV_CFLAGS) $(LMDB_CFLAGS) \
	$(MSGPACK_CFLAGS) $(SODIUM_CFLAGS) $(H2O_CFLAGS) $(JANSSON_CFLAGS)
agent_libagent_a_SOURCES = \
	agent/agent.c agent/agent.h \
	agent/attempts.c agent/attempts.h \
	agent/client.c agent/client.h \
	agent/options.c agent/options.h \
	agent/detector.c \
	agent/exec.c agent/exec.h \
	agent/forward.c agent/forward_codec.c agent/forward.h \
	agent/http.c agent/http.h agent/http_internal.h \
	agent/http_parse.c agent/http_parse.h \
	agent/api_status.c agent/api_procs.c agent/api_store.c agent/api_internal.c \
	agent/internal.h \
	agent/reconcile.c \
	agent/submit.c

AGENT_LIBS = agent/libagent.a consensus/libconsensus.a statestore/libstatestore.a \
	services/libservices.a common/libcommon.a \
	$(RAFT_LIBS) $(UV_LIBS) $(LMDB_LIBS) $(MSGPACK_LIBS) $(SODIUM_LIBS) $(H2O_LIBS) \
	$(JANSSON_LIBS)

bin_PROGRAMS += logosd
logosd_SOURCES = agent/main.c
logosd_CFLAGS = $(agent_libagent_a_CFLAGS)
logosd_LDADD = $(AGENT_LIBS)
