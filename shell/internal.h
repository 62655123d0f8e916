/*
 * What the files of the shell share: the context of one invocation, the
 * command table's entry type, and small helpers for tables, usage errors and
 * numbers. Each cmd_*.c implements one group of commands (git's one file per
 * command); shell/main.c holds the dispatch table (OpenBSD ospfctl's
 * table-driven parser) and shell/repl.c the interactive shell.
 */
#ifndef LOGOS_SHELL_INTERNAL_H
#define LOGOS_SHELL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "shell/client.h"

/* One invocation: the connection and the global options. */
struct ctx {
	struct client cl;
	bool json;        /* --json: print the API's JSON document */
	bool interactive; /* inside the interactive shell */
};

/* A command: argv[0] is its name; returns the exit code. Commands parse
 * their own options (getopt_long with optind = 0) and never exit(). */
typedef int (*command_fn)(struct ctx *x, int argc, char **argv);

struct command {
	const char *name;
	command_fn fn;
	const char *summary; /* one line for --help */
	const char *usage;   /* arguments, after "logos NAME " */
	const char *help;    /* the options, one per line; may be "" */
	bool readonly;       /* may run under `at INDEX` */
};

/* shell/main.c: the table, in --help order, ending with a NULL name. */
extern const struct command commands[];
/* The command called `name`, or NULL. */
const struct command *command_find(const char *name);
/* Runs argv[0] with its arguments (handles "--help" for every command);
 * an unknown command is a usage error. */
int command_run(struct ctx *x, int argc, char **argv);

/* Prints "logos: <message>" and the command's usage line; returns
 * EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a decimal unsigned integer (all of `s`); false if it is not one. */
bool parse_u64(const char *s, uint64_t *v);

/* Reads all of `f` (a little over the largest file or message the API
 * takes, so that the agent's limit message is the one the user sees).
 * Returns a malloc'd buffer of *n bytes, or NULL (errno set). */
char *read_all(FILE *f, size_t *n);

/* Prints `j` as one JSON document on stdout. Returns EXIT_OK. */
int print_json(json_t *j);

/* An integer member of `o`, or `def`. */
long long jint(const json_t *o, const char *key, long long def);
/* A string member of `o`, or `def`. */
const char *jstr(const json_t *o, const char *key, const char *def);

/* "3s", "5m", "2h", "4d" since `ms` (wall clock, ms); "-" for 0. */
void format_age(uint64_t ms, char *out, size_t cap);
/* Local time "2024-05-01 12:00:00" of `ms`. */
void format_time(uint64_t ms, char *out, size_t cap);

/* The shell's exit code for a process in its final state (DESIGN §1: the
 * program's code; 128+N for signal N). */
int proc_exit_code(const json_t *proc);
/* Whether `state` is final (exited, failed, killed, lost). */
bool proc_state_is_final(const char *state);

/* Aligned text tables: a header, rows of cells, printed with two spaces
 * between columns (the last column is not padded). */
struct table {
	size_t ncols;
	size_t nrows; /* including the header */
	size_t cap;
	char **cells; /* nrows * ncols, malloc'd strings */
};

void table_init(struct table *t, size_t ncols, ...);
/* Adds a row of ncols printf'ed cells: each argument is one string. */
void table_row(struct table *t, ...);
void table_print(const struct table *t, FILE *f);
void table_release(struct table *t);

/* Commands (one file per group). */
int cmd_status(struct ctx *x, int argc, char **argv);
int cmd_nodes(struct ctx *x, int argc, char **argv);
int cmd_node(struct ctx *x, int argc, char **argv);
int cmd_run(struct ctx *x, int argc, char **argv);
int cmd_ps(struct ctx *x, int argc, char **argv);
int cmd_logs(struct ctx *x, int argc, char **argv);
int cmd_wait(struct ctx *x, int argc, char **argv);
int cmd_kill(struct ctx *x, int argc, char **argv);
int cmd_step(struct ctx *x, int argc, char **argv);
int cmd_put(struct ctx *x, int argc, char **argv);
int cmd_get(struct ctx *x, int argc, char **argv);
int cmd_ls(struct ctx *x, int argc, char **argv);
int cmd_rm(struct ctx *x, int argc, char **argv);
int cmd_send(struct ctx *x, int argc, char **argv);
int cmd_recv(struct ctx *x, int argc, char **argv);
int cmd_queues(struct ctx *x, int argc, char **argv);
int cmd_log(struct ctx *x, int argc, char **argv);
int cmd_at(struct ctx *x, int argc, char **argv);
int cmd_diff(struct ctx *x, int argc, char **argv);
int cmd_rewind(struct ctx *x, int argc, char **argv);

/* shell/repl.c: the interactive shell; returns the exit code. */
int repl_run(struct ctx *x);

#endif /* LOGOS_SHELL_INTERNAL_H */
