/*
 * The table-driven harness shared by the proc and nodes tests (implemented in
 * test_proc.c): a case gives initial node and process rows, one command, and
 * the exact delta, effects and result it must produce (STYLE "Services stay
 * pure"). Rows are given as specs with every field that the services set.
 */
#ifndef LOGOS_TESTS_SERVICES_PROC_FIXTURE_H
#define LOGOS_TESTS_SERVICES_PROC_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "services/service.h"
#include "tests/unit/services/memview.h"

#define FX_MAX  8
#define FX_TIME 1700000000000ull

struct nspec {
	uint64_t id;
	const char *name;
	int state;
	int role;
	uint32_t load;
};

struct pspec {
	uint64_t pid;
	int placement;
	uint64_t node;
	int restart;
	uint32_t max_restarts;
	uint32_t restarts;
	int state;
	uint32_t attempt;
	int32_t exit_code;
	int32_t signal;
	uint64_t os_pid;
	uint64_t submitted_ms;
	uint64_t started_ms;
	uint64_t ended_ms;
	uint64_t output_bytes;
	bool truncated;
	int32_t kill_signal;
};

/* One expected delta op; kind 0 ends the list. */
struct xop {
	int kind;
	int table;
	struct pspec proc;   /* TABLE_PROCS */
	struct nspec node;   /* TABLE_NODES */
	const char *counter; /* TABLE_COUNTERS: name and value */
	uint64_t value;
	uint64_t pid; /* TABLE_OUTPUT: key and value length */
	uint32_t attempt;
	int stream;
	uint64_t seq;
	size_t len;
};

#define XPROC(...)                                                               \
	{                                                                        \
		.kind = DELTA_PUT, .table = TABLE_PROCS, .proc = { __VA_ARGS__ } \
	}
#define XNODE(...)                                                               \
	{                                                                        \
		.kind = DELTA_PUT, .table = TABLE_NODES, .node = { __VA_ARGS__ } \
	}
#define XCOUNTER(n, v)                                                                   \
	{                                                                                \
		.kind = DELTA_PUT, .table = TABLE_COUNTERS, .counter = (n), .value = (v) \
	}
#define XOUTPUT(p, a, s, q, l)                                                        \
	{                                                                             \
		.kind = DELTA_PUT, .table = TABLE_OUTPUT, .pid = (p), .attempt = (a), \
		.stream = (s), .seq = (q), .len = (l)                                 \
	}
#define XIDEM                                          \
	{                                              \
		.kind = DELTA_PUT, .table = TABLE_IDEM \
	}

struct fx_case {
	const char *name;
	struct nspec nodes[FX_MAX];    /* until id 0 */
	struct pspec procs[FX_MAX];    /* until pid 0 */
	uint64_t pid_counter;          /* counter "pid" (0: absent) */
	uint64_t node_counter;         /* counter "node" (0: absent) */
	struct cmd cmd;                /* submit: an empty argv gets ["/bin/true"] */
	int code;                      /* expected result code */
	struct xop ops[2 * FX_MAX];    /* exact delta */
	struct effect effects[FX_MAX]; /* exact effects, until kind 0 */
	const char *state;             /* result "state", or NULL: not checked */
	uint64_t pids[FX_MAX];         /* result "pids" (submit), until 0 */
	uint64_t on[FX_MAX];           /* result "nodes" (submit), until 0 */
};

/* Sets the case's initial rows into `m` (initialised by the caller). */
void fx_setup(struct memview *m, const struct fx_case *t);
/* Sets one row. */
void fx_set_node(struct memview *m, const struct nspec *n);
void fx_set_proc(struct memview *m, const struct pspec *p);
/* Checks an outcome against the case's code, delta, effects and result. */
void fx_check(const struct fx_case *t, const struct outcome *o);
/* Sets up, runs the command and checks the outcome. */
void fx_run(const struct fx_case *t);
/* Runs every case of a table. */
void fx_run_all(const struct fx_case *t, size_t n);

/* Finds `key` in the outcome's result map: 0 with `u` at its value, or -1. */
int fx_result(const struct outcome *o, const char *key, struct unpacker *u);
uint64_t fx_result_uint(const struct outcome *o, const char *key);

#endif /* LOGOS_TESTS_SERVICES_PROC_FIXTURE_H */
