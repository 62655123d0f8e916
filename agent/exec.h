/*
 * The executor: runs this host's processes (DESIGN §2, §5). It starts an
 * attempt with uv_spawn (argv only, never through a shell), captures stdout
 * and stderr through pipes into ordered chunks, delivers signals, and reports
 * the exit. It never starts the same (pid, attempt) twice in the life of its
 * journal: before spawning it appends the attempt to a journal file in the
 * data directory (fdatasync'd; one sync for all the attempts of one
 * exec_start_many), so an attempt interrupted by an agent or machine crash
 * is found again at restart and reported lost, never re-run.
 *
 * All on one loop; no SIGCHLD handler of our own (libuv owns it).
 */
#ifndef LOGOS_AGENT_EXEC_H
#define LOGOS_AGENT_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "agent/attempts.h"
#include "common/log.h"

#define EXEC_CHUNK_MAX (64u << 10) /* bytes per output chunk */
#define EXEC_FLUSH_MS  20          /* output is flushed at least this often */

struct exec_spec {
	uint64_t pid;
	uint32_t attempt;
	const char *const *argv; /* NULL-terminated; argv[0] absolute or found in PATH */
	/* NULL-terminated "NAME=VALUE", the whole environment, except that the
	 * executor makes sure it holds LOGOS_PID=<pid> and LOGOS_ATTEMPT=<attempt>
	 * (appended if missing, replaced if different): exec_init recognises the
	 * orphans of a crashed agent by them. */
	const char *const *env;
	const char *cwd;     /* NULL or "": the executor's default directory */
	uint64_t timeout_ms; /* 0: none; then SIGTERM, and SIGKILL 5 s later */
};

struct exec_callbacks {
	/* The attempt runs as OS process os_pid. */
	void (*started)(void *arg, uint64_t pid, uint32_t attempt, uint64_t os_pid);
	/* A chunk of output (stream 1 stdout, 2 stderr), seq from 0 per stream. */
	void (*output)(void *arg, uint64_t pid, uint32_t attempt, int stream, uint64_t seq,
		       const void *data, size_t len);
	/* The attempt ended: after its last output chunk. exit_code -1 when killed
	 * by `signal`. The order for one attempt is always started, output...,
	 * exited. A spawn failure (no such program, bad cwd) has NO started: a
	 * stderr chunk "logos: cannot run 'PROG': REASON\n" (seq 0), then exited
	 * with exit code 127. The attempt ends when its process has exited and both
	 * pipes reached end of file; a descendant that keeps a pipe open delays it
	 * by at most 500 ms. Whatever is left of the process group then is killed
	 * (SIGKILL): an attempt is its process group. */
	void (*exited)(void *arg, uint64_t pid, uint32_t attempt, int exit_code, int signal);
};

struct exec {
	uv_loop_t *loop;
	struct exec_callbacks cb;
	void *arg;
	struct logger *lg;
	char journal_path[512];
	int journal_fd;
	void *procs; /* running attempts */
	size_t nprocs;
	bool closing;
	void (*close_cb)(struct exec *x);
	char errmsg[256];
	/* Private. */
	struct attempts known; /* every attempt ever journaled (exec.c) */
	uv_timer_t timer;      /* closed by exec_close so that its cb fires on a later turn */
	bool timer_closed;     /* `timer`'s close callback ran */
};

/* A journaled attempt found at exec_init, from a previous life of the agent. */
struct exec_orphan {
	uint64_t pid;
	uint32_t attempt;
	uint64_t os_pid; /* 0 if it never started */
};

/*
 * Opens (creating) the journal `journal_path`. The attempts it records that
 * are not known to have ended are returned through `orphans` (malloc'd array
 * of *norphans, the caller frees): the agent reports them lost, and exec_init
 * has already stopped any of them still running (SIGKILL to its process group,
 * found by its environment LOGOS_PID/LOGOS_ATTEMPT, so an unrelated process
 * with a reused OS pid is never touched, and an attempt whose R record (its
 * OS pid) was never written is found too). "Not known to have ended" means no
 * exited callback was delivered for it: an agent crash, and also the attempts
 * that exec_close killed. `orphans` may be NULL. Orphans are sorted by (pid,
 * attempt).
 *
 * The journal is compacted here (rewritten through a temporary file and a
 * rename): one line per attempt ever started, so exec_known holds across
 * restarts. Malformed lines (such as a partial last line after a crash) are
 * skipped with a warning. Errors: ERR_IO with x->errmsg, ERR_NOMEM; on error
 * nothing is left open and `x` needs no exec_close.
 */
int exec_init(struct exec *x, uv_loop_t *loop, const char *journal_path,
	      const struct exec_callbacks *cb, void *arg, struct logger *lg,
	      struct exec_orphan **orphans, size_t *norphans);

/* True if (pid, attempt) was ever started by this executor (journal included). */
bool exec_known(const struct exec *x, uint64_t pid, uint32_t attempt);
/* True if (pid, attempt) is running now: from exec_start until its exited
 * callback. */
bool exec_running(const struct exec *x, uint64_t pid, uint32_t attempt);

/*
 * Starts an attempt. ERR_EXISTS if it was ever started (nothing happens
 * twice), ERR_IO if the journal cannot be written, ERR_INVALID if argv or env
 * is NULL or argv is empty, ERR_CANCELED after exec_close, ERR_NOMEM. A
 * program that cannot be spawned is not an error here: it is reported through
 * the callbacks. On success the callbacks fire from later loop turns, never
 * from inside this call. The attempt is journaled (and fdatasync'd) before
 * the spawn, so it never runs twice, even across an agent crash. `spec` and
 * what it points to are borrowed for the call only.
 */
int exec_start(struct exec *x, const struct exec_spec *spec);

/*
 * Starts the `n` attempts of `specs` as exec_start does each, with one
 * journal write and one fdatasync for all of them before the first spawn (a
 * reconciler pass starting many attempts pays for one sync, not n).
 * results[i] is what exec_start would have returned for specs[i] alone: 0,
 * ERR_EXISTS (also for a repeat within `specs`), ERR_INVALID, ERR_NOMEM.
 * Returns 0, or ERR_CANCELED after exec_close, ERR_IO if the journal cannot be
 * written, ERR_NOMEM: then none of them was started and `results` says
 * nothing. O(n^2) in the batch for the repeat check: meant for tens of specs.
 * `specs` and what it points to are borrowed for the call only.
 */
int exec_start_many(struct exec *x, const struct exec_spec *specs, size_t n, int *results);

/* Sends `signal` to the attempt's process group. ERR_NOTFOUND if not running
 * (exec_running false), ERR_INVALID for a bad signal number. A running attempt
 * whose process has already gone (its exit is being reported) gets 0. */
int exec_signal(struct exec *x, uint64_t pid, uint32_t attempt, int signal);

/* Calls cb for every running attempt. */
void exec_foreach(struct exec *x, void (*cb)(void *arg, uint64_t pid, uint32_t attempt), void *arg);

/* Kills every running attempt (SIGKILL to its process group), waits for their
 * exits (so no zombie is left), closes all handles and the journal; cb when
 * done, always from a later loop turn. No callback of exec_callbacks fires
 * after this call, and the attempts it killed are orphans for the next
 * exec_init. The memory of `x` is reusable only after cb. */
void exec_close(struct exec *x, void (*cb)(struct exec *x));

#endif /* LOGOS_AGENT_EXEC_H */
