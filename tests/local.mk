# Test runners: one Check runner per module (check_<module>), each linking only
# its module and those below it, so a layering violation fails to link.
TESTS += $(check_PROGRAMS)

check_PROGRAMS += check_common
check_common_SOURCES = \
	tests/unit/common/main.c \
	tests/unit/common/test_buf.c \
	tests/unit/common/test_error.c \
	tests/unit/common/test_hash.c \
	tests/unit/common/test_pack.c \
	tests/unit/common/suites.h
check_common_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(MSGPACK_CFLAGS)
check_common_LDADD = common/libcommon.a $(MSGPACK_LIBS) $(CHECK_LIBS)

check_PROGRAMS += check_statestore
check_statestore_SOURCES = \
	tests/unit/statestore/main.c \
	tests/unit/statestore/helpers.c \
	tests/unit/statestore/helpers.h \
	tests/unit/statestore/test_store.c \
	tests/unit/statestore/test_model.c \
	tests/unit/statestore/test_snapshot.c \
	tests/unit/statestore/test_apply.c \
	tests/unit/statestore/suites.h
check_statestore_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LMDB_CFLAGS) $(MSGPACK_CFLAGS)
check_statestore_LDADD = statestore/libstatestore.a services/libservices.a common/libcommon.a \
	$(LMDB_LIBS) $(MSGPACK_LIBS) $(CHECK_LIBS)

# Formatting is part of the suite (.clang-format; STYLE.md).
if HAVE_CLANG_FORMAT
TESTS += scripts/check-format
endif
TESTS_ENVIRONMENT = CLANG_FORMAT='$(CLANG_FORMAT)' top_srcdir='$(top_srcdir)' \
	LOGOS_BUILDDIR='$(abs_top_builddir)'
EXTRA_DIST += scripts/check-format

# Real agents on 127.0.0.1 (DESIGN §7), driven through the HTTP API.
TESTS += tests/integration/test_agent.py
EXTRA_DIST += tests/integration/harness.py tests/integration/test_agent.py

# The fault tier (reliability.md (b) F1 F3 F5 F7 F12): five real agents in
# network namespaces (loopback without root) under partitions, kill -9,
# SIGSTOP, cold restarts and a full disk; histories checked for
# linearizability, queue delivery, convergence and leader recovery.
TESTS += tests/integration/faults.py
EXTRA_DIST += tests/integration/faults.py tests/integration/checker.py \
	tests/integration/netns.py

# The shell, `logos`, against real agents (DESIGN §1).
TESTS += tests/integration/test_shell.py
EXTRA_DIST += tests/integration/test_shell.py

check_PROGRAMS += check_services
check_services_SOURCES = \
	tests/unit/services/main.c \
	tests/unit/services/memview.c \
	tests/unit/services/memview.h \
	tests/unit/services/proc_fixture.h \
	tests/unit/services/suites.h \
	tests/unit/services/test_command.c \
	tests/unit/services/test_files.c \
	tests/unit/services/test_msg.c \
	tests/unit/services/test_nodes.c \
	tests/unit/services/test_proc.c \
	tests/unit/services/test_service.c \
	tests/unit/services/test_steps.c
check_services_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(MSGPACK_CFLAGS)
check_services_LDADD = services/libservices.a common/libcommon.a $(MSGPACK_LIBS) $(CHECK_LIBS)

check_PROGRAMS += check_consensus
check_consensus_SOURCES = \
	tests/unit/consensus/main.c \
	tests/unit/consensus/suites.h \
	tests/unit/consensus/test_transport.c \
	tests/unit/consensus/test_consensus.c
check_consensus_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(RAFT_CFLAGS) $(UV_CFLAGS) $(SODIUM_CFLAGS)
check_consensus_LDADD = consensus/libconsensus.a common/libcommon.a \
	$(RAFT_LIBS) $(UV_LIBS) $(SODIUM_LIBS) $(MSGPACK_LIBS) $(CHECK_LIBS)

check_PROGRAMS += check_agent
check_agent_SOURCES = \
	tests/unit/agent/main.c \
	tests/unit/agent/suites.h \
	tests/unit/agent/test_api.c \
	tests/unit/agent/test_exec.c \
	tests/unit/agent/test_attempts.c \
	tests/unit/agent/test_forward.c \
	tests/lib/net.c \
	tests/lib/net.h \
	tests/unit/agent/test_http_parse.c
check_agent_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(UV_CFLAGS) $(RAFT_CFLAGS) $(LMDB_CFLAGS) \
	$(MSGPACK_CFLAGS) $(SODIUM_CFLAGS) $(H2O_CFLAGS) $(JANSSON_CFLAGS)
check_agent_LDADD = $(AGENT_LIBS) $(CHECK_LIBS)

# The deterministic simulation tier (reliability.md tiers, I1-I6): raft_fixture
# clusters whose FSMs are real stores, a seeded schedule of commands and faults.
# LOGOS_SIM_SEEDS / LOGOS_SIM_START / LOGOS_SIM_STEPS; tests/sim/soak for more.
check_PROGRAMS += check_sim
check_sim_SOURCES = \
	tests/sim/main.c \
	tests/sim/sim.c \
	tests/sim/io.c \
	tests/sim/workload.c \
	tests/sim/invariants.c \
	tests/sim/schedule.c \
	tests/sim/test_sim.c \
	tests/sim/sim.h \
	tests/sim/suites.h
check_sim_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(RAFT_CFLAGS) $(UV_CFLAGS) $(LMDB_CFLAGS) \
	$(MSGPACK_CFLAGS)
check_sim_LDADD = statestore/libstatestore.a services/libservices.a common/libcommon.a \
	$(LMDB_LIBS) $(MSGPACK_LIBS) $(RAFT_LIBS) $(UV_LIBS) $(CHECK_LIBS)
EXTRA_DIST += tests/sim/soak
