/*
 * The reconciler (DESIGN §2): this host's processes against the replicated
 * state, level-triggered. On every pass it compares what the state wants on
 * this node (attempts pending or running here) with what the executor runs,
 * and acts on the difference: start what should run and never ran, report
 * lost what should run but no longer does, stop what runs but should not,
 * deliver requested kills. Effects only wake it up sooner; a pass needs
 * nothing but the state, so replays and restarts cannot make it act twice
 * (the executor refuses to start a (pid, attempt) twice).
 *
 * What the executor observes comes back as commands (reports): started,
 * output, exited, lost. They are idempotent, so a report whose outcome is
 * unknown (no leader) is simply sent again.
 *
 * Three kinds of pass, all over the same per-row logic (ensure), each
 * starting at most RECONCILE_STARTS_MAX attempts, journaled with one
 * fdatasync (exec_start_many); the rest wait for the next loop turn, so a
 * burst of placements never holds the loop for long.
 *
 *   - The quick pass, run on the loop turn after an entry was applied, looks
 *     only at the processes that entry's effects (or a committed report)
 *     named, so that a launch does not wait for a tick.
 *   - The index pass, every RECONCILE_FULL_TICKS ticks, looks at the
 *     processes of the live index (below), then at every running attempt
 *     (stop what the state no longer wants). It is the level-triggered
 *     pass: its cost follows the processes pending or running here, not
 *     every process ever run (a walk of 800,000 finished rows every second
 *     cost each idle agent 7-10% of a core).
 *   - A walk visits every row of the procs table, RECONCILE_SWEEP_ROWS rows
 *     at a time. A rebuild walk empties the index and fills it again: at
 *     start, after a snapshot is restored (wrapped_restore) and after a
 *     rewind was applied (the applier counts them; agent.c) — the three
 *     ways rows change without effects this agent sees — one step per loop
 *     turn. An audit walk runs every RECONCILE_AUDIT_TICKS ticks (10 minutes;
 *     2 s in debug builds, so that tests catch a drift), one step per tick:
 *     a live process of this node missing from the index is logged,
 *     counted (logos_live_missed_total, which the tests require to stay 0),
 *     added and acted on. The audit is the guarantee: whatever a bug in
 *     the index's upkeep missed, it is found within minutes.
 *
 * The live index (agent_impl.live) is in memory only, never replicated:
 * the pids whose row places the current attempt on this node and has not
 * ended. It is kept a superset of that: an effect addressed to this node
 * adds its pid (every transition that places an attempt on a node, or
 * kills one, emits one: services/proc.c new_attempt, services/nodes.c
 * WALK_ADOPT), and a pass that reads a row that is not (or no longer)
 * this node's live one removes its pid. A process that ends without an
 * effect (its exit, a node marked down) is thus dropped by the next index
 * pass at the latest. Whatever else the old walk of every row looked at is
 * covered: a requested kill and a queued final report (exited, lost) are on
 * rows not ended yet, so in the index; attempts the state no longer wants
 * are found among the executor's running ones (stop_unwanted); attempts of
 * a previous life of this agent (orphans) are reported at the rebuild at
 * start. Nothing of the index is written anywhere: what an agent missed
 * while it was down, the rebuild at its start reads from the rows. Out of
 * memory while adding to it, the index is rebuilt.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "common/error.h"
#include "services/proc.h"

#define REPORT_RETRY_MS      500
#define STOP_GRACE_MS        5000
#define RECONCILE_STARTS_MAX 32   /* attempts started per pass */
#define STARTED_HOLD_MS      5    /* a started report waits this long for company */
#define RECONCILE_FULL_TICKS 4    /* an index pass every this many ticks */
#define RECONCILE_SWEEP_ROWS 4096 /* rows of a walk (or an index pass) per step */
#ifdef NDEBUG
#define RECONCILE_AUDIT_TICKS 2400 /* an audit walk every this many ticks (10 min) */
#else
#define RECONCILE_AUDIT_TICKS 8 /* debug builds: often, so that tests see a drift */
#endif

static void mark(struct agent *a, uint64_t pid);

/* The attempts with a final report (exited, lost) queued, each with a count
 * (agent_impl.finals, agent/attempts.h), so that a pass over thousands of
 * processes during a burst asks in O(1), not by a walk of the reports. */

/* Counts one more final report of (pid, attempt); ERR_NOMEM. */
static int finals_add(struct agent_impl *m, uint64_t pid, uint32_t attempt)
{
	uint32_t *count = attempts_add(&m->finals, pid, attempt, NULL);

	if (count == NULL)
		return ERR_NOMEM;
	(*count)++;
	return 0;
}

static void finals_remove(struct agent_impl *m, uint64_t pid, uint32_t attempt)
{
	uint32_t *count = attempts_find(&m->finals, pid, attempt);

	if (count != NULL && --*count == 0)
		attempts_remove(&m->finals, pid, attempt);
}

/* Reports. */

static void report_free(struct agent *a, struct report *r)
{
	if (r->final)
		finals_remove(impl(a), r->pid, r->attempt);
	buf_release(&r->bytes);
	free(r);
}

static void report_unlink(struct agent *a, struct report *r)
{
	struct agent_impl *m = impl(a);

	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		m->reports = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	else
		m->reports_tail = r->prev;
	r->next = r->prev = NULL;
}

static void report_send(struct report *r);

static void on_report(void *arg, const struct agent_result *res)
{
	struct report *r = arg;
	struct agent *a = r->a;

	r->inflight = false;
	if (a->stopping || res->status == 0) {
		if (res->status == 0 && res->code != 0)
			logger_debug(&a->lg, "report type=%s pid=%llu attempt=%u rejected: %.*s",
				     cmd_type_name(r->type), (unsigned long long)r->pid, r->attempt,
				     (int)res->message_len, res->message ? res->message : "");
		if (!a->stopping)
			mark(a, r->pid); /* a new attempt may be due, or a loss */
		/* A client may follow this process through a follower (?wait=1,
		 * logs -f): on the leader, tell the followers at once. */
		if (res->status == 0)
			agent__nudge(a);
		report_unlink(a, r);
		report_free(a, r);
		return;
	}
	/* Unknown outcome (no leader): send again later. */
	r->retry_at = uv_now(&a->loop) + REPORT_RETRY_MS;
}

static void report_send(struct report *r)
{
	struct agent *a = r->a;
	struct cmd c;
	char err[64];

	if (cmd_decode(r->bytes.data, r->bytes.len, &c, err, sizeof err) != 0)
		return;
	r->inflight = true;
	/* Re-stamped by agent_submit: each send is a new request. */
	if (agent_submit(a, &c, on_report, r) != 0)
		r->inflight = false;
}

/* Sends the held reports (in the order they were made). */
static void send_held(struct agent *a)
{
	struct agent_impl *m = impl(a);
	struct report *r;

	uv_timer_stop(&m->hold);
	while ((r = m->held_head) != NULL) {
		m->held_head = r->held_next;
		r->held_next = NULL;
		r->held = false;
		report_send(r);
	}
	m->held_tail = NULL;
}

static void on_hold(uv_timer_t *h)
{
	send_held(h->data);
}

/*
 * Queues a report built from `c` (its bytes are copied). A `hold` report (a
 * started) waits up to STARTED_HOLD_MS before it is sent, and goes with the
 * next report made meanwhile: a process that ends at once has its started
 * and exited reports proposed in the same loop turn, so they commit as one
 * log entry and apply in one transaction (one synced commit instead of two
 * on the way to a ?wait=1 answer). Order is kept: held reports are sent
 * before any later one.
 */
static void report(struct agent *a, struct cmd *c, uint64_t pid, uint32_t attempt, bool final,
		   bool hold)
{
	struct agent_impl *m = impl(a);
	struct report *r;

	if (a->stopping)
		return;
	r = calloc(1, sizeof *r);
	if (r == NULL)
		return;
	r->a = a;
	r->pid = pid;
	r->attempt = attempt;
	r->type = c->type;
	r->final = final;
	buf_init(&r->bytes);
	c->version = CMD_VERSION;
	c->origin = a->id;
	c->request_id = 1;
	if (c->principal.p == NULL) {
		c->principal.p = "agent";
		c->principal.n = 5;
	}
	if (cmd_encode(c, &r->bytes) != 0 || (final && finals_add(m, pid, attempt) != 0)) {
		r->final = false;
		report_free(a, r);
		return;
	}
	/* Append, keeping the order reports were made in. */
	r->prev = m->reports_tail;
	if (m->reports_tail != NULL)
		m->reports_tail->next = r;
	else
		m->reports = r;
	m->reports_tail = r;
	if (hold) {
		r->held = true;
		if (m->held_tail != NULL)
			m->held_tail->held_next = r;
		else
			m->held_head = r;
		m->held_tail = r;
		if (!uv_is_active((uv_handle_t *)&m->hold))
			uv_timer_start(&m->hold, on_hold, STARTED_HOLD_MS, 0);
		return;
	}
	send_held(a);
	report_send(r);
}

static bool final_report_pending(struct agent *a, uint64_t pid, uint32_t attempt)
{
	return attempts_find(&impl(a)->finals, pid, attempt) != NULL;
}

static void report_lost(struct agent *a, uint64_t pid, uint32_t attempt, const char *why)
{
	struct cmd c;

	if (final_report_pending(a, pid, attempt))
		return;
	logger_info(&a->lg, "lost pid=%llu attempt=%u reason=\"%s\"", (unsigned long long)pid,
		    attempt, why);
	memset(&c, 0, sizeof c);
	c.type = CMD_PROC_LOST;
	c.u.lost.pid = pid;
	c.u.lost.attempt = attempt;
	c.u.lost.reason.p = why;
	c.u.lost.reason.n = strlen(why);
	report(a, &c, pid, attempt, true, false);
}

/* Executor callbacks. */

static void on_started(void *arg, uint64_t pid, uint32_t attempt, uint64_t os_pid)
{
	struct agent *a = arg;
	struct cmd c;

	logger_info(&a->lg, "started pid=%llu attempt=%u os_pid=%llu", (unsigned long long)pid,
		    attempt, (unsigned long long)os_pid);
	a->metrics.spawned++;
	memset(&c, 0, sizeof c);
	c.type = CMD_PROC_STARTED;
	c.u.started.pid = pid;
	c.u.started.attempt = attempt;
	c.u.started.os_pid = os_pid;
	report(a, &c, pid, attempt, false, true);
}

static void on_output(void *arg, uint64_t pid, uint32_t attempt, int stream, uint64_t seq,
		      const void *data, size_t len)
{
	struct agent *a = arg;
	struct cmd c;

	memset(&c, 0, sizeof c);
	c.type = CMD_PROC_OUTPUT;
	c.u.output.pid = pid;
	c.u.output.attempt = attempt;
	c.u.output.stream = stream;
	c.u.output.seq = seq;
	c.u.output.data.p = data;
	c.u.output.data.n = len;
	report(a, &c, pid, attempt, false, false);
}

static void on_exited(void *arg, uint64_t pid, uint32_t attempt, int exit_code, int signal)
{
	struct agent *a = arg;
	struct cmd c;

	logger_info(&a->lg, "exited pid=%llu attempt=%u code=%d signal=%d", (unsigned long long)pid,
		    attempt, exit_code, signal);
	memset(&c, 0, sizeof c);
	c.type = CMD_PROC_EXITED;
	c.u.exited.pid = pid;
	c.u.exited.attempt = attempt;
	c.u.exited.exit_code = exit_code;
	c.u.exited.signal = signal;
	report(a, &c, pid, attempt, true, false);
}

const struct exec_callbacks reconcile__exec_callbacks = {
	.started = on_started,
	.output = on_output,
	.exited = on_exited,
};

/* Starting an attempt from its row. */

static int unpack_strs(const struct rawref *raw, bool map, char ***out, size_t extra)
{
	struct unpacker u;
	uint32_t n, i, count;
	const char *s, *v;
	size_t sl, vl;
	char **list;

	unpacker_init(&u, raw->p, raw->n);
	if (map ? unpack_map(&u, &n) != 0 : unpack_array(&u, &n) != 0)
		return ERR_CORRUPT;
	count = n;
	list = calloc(count + extra + 1, sizeof *list);
	if (list == NULL)
		return ERR_NOMEM;
	for (i = 0; i < count; i++) {
		if (unpack_str(&u, &s, &sl) != 0)
			goto corrupt;
		if (map) {
			if (unpack_str(&u, &v, &vl) != 0)
				goto corrupt;
			list[i] = malloc(sl + vl + 2);
			if (list[i] == NULL)
				goto corrupt;
			sprintf(list[i], "%.*s=%.*s", (int)sl, s, (int)vl, v);
		} else {
			list[i] = strndup(s, sl);
			if (list[i] == NULL)
				goto corrupt;
		}
	}
	*out = list;
	return 0;
corrupt:
	for (i = 0; list[i] != NULL; i++)
		free(list[i]);
	free(list);
	return ERR_CORRUPT;
}

static void free_strs(char **list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; list[i] != NULL; i++)
		free(list[i]);
	free(list);
}

static bool env_has(char **env, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; env[i] != NULL; i++)
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return true;
	return false;
}

/* The attempts a pass starts, all at once at its end. */
struct starts {
	size_t n;
	struct exec_spec specs[RECONCILE_STARTS_MAX];
	char **argv[RECONCILE_STARTS_MAX];
	char **env[RECONCILE_STARTS_MAX];
	char cwd[RECONCILE_STARTS_MAX][CMD_CWD_MAX + 1];
};

/* Adds the attempt of row `p` to `st` (which has room). */
static void prepare(struct agent *a, struct starts *st, const struct proc_row *p)
{
	struct exec_spec *spec = &st->specs[st->n];
	char **argv = NULL, **env = NULL, *cwd = st->cwd[st->n];
	size_t n;

	if (unpack_strs(&p->argv, false, &argv, 0) != 0 ||
	    unpack_strs(&p->env, true, &env, 4) != 0) {
		free_strs(argv);
		report_lost(a, p->pid, p->attempt, "damaged process row");
		return;
	}
	/* DESIGN §5: a program started by logos knows who it is. */
	for (n = 0; env[n] != NULL; n++)
		;
	if (asprintf(&env[n++], "LOGOS_PID=%llu", (unsigned long long)p->pid) < 0 ||
	    asprintf(&env[n++], "LOGOS_ATTEMPT=%u", p->attempt) < 0 ||
	    asprintf(&env[n++], "LOGOS_ADDR=%s", impl(a)->http_url) < 0 ||
	    (!env_has(env, "PATH") &&
	     asprintf(&env[n++], "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin") < 0)) {
		/* Not started, not journaled: the next pass tries again. */
		logger_error(&a->lg, "start pid=%llu attempt=%u: out of memory",
			     (unsigned long long)p->pid, p->attempt);
		free_strs(argv);
		free_strs(env);
		return;
	}
	snprintf(cwd, CMD_CWD_MAX + 1, "%.*s", (int)p->cwd.n, p->cwd.p ? p->cwd.p : "");
	memset(spec, 0, sizeof *spec);
	spec->pid = p->pid;
	spec->attempt = p->attempt;
	spec->argv = (const char *const *)argv;
	spec->env = (const char *const *)env;
	spec->cwd = cwd[0] ? cwd : NULL;
	spec->timeout_ms = p->timeout_ms;
	st->argv[st->n] = argv;
	st->env[st->n] = env;
	st->n++;
}

/* Starts what `st` holds (one journal sync for all) and empties it. */
static void start_all(struct agent *a, struct starts *st)
{
	int results[RECONCILE_STARTS_MAX];
	size_t i;
	int rv;

	if (st->n == 0)
		return;
	rv = exec_start_many(&a->exec, st->specs, st->n, results);
	for (i = 0; i < st->n; i++) {
		int r = rv != 0 ? rv : results[i];

		if (r != 0 && r != ERR_EXISTS)
			logger_error(&a->lg, "start pid=%llu attempt=%u failed: %s",
				     (unsigned long long)st->specs[i].pid, st->specs[i].attempt,
				     rv != 0 ? a->exec.errmsg : err_str(r));
		free_strs(st->argv[i]);
		free_strs(st->env[i]);
	}
	st->n = 0;
}

/* Signals already delivered, so that a requested kill goes out once. */
struct signaled {
	uint64_t pid;
	uint32_t attempt;
	int signal;
};

static bool signal_once(struct agent *a, uint64_t pid, uint32_t attempt, int sig)
{
	struct buf *b = &impl(a)->signaled;
	struct signaled *s = (struct signaled *)(void *)b->data, rec;
	size_t i, n = b->len / sizeof rec;

	for (i = 0; i < n; i++)
		if (s[i].pid == pid && s[i].attempt == attempt && s[i].signal == sig)
			return false;
	memset(&rec, 0, sizeof rec);
	rec.pid = pid;
	rec.attempt = attempt;
	rec.signal = sig;
	buf_append(b, &rec, sizeof rec);
	exec_signal(&a->exec, pid, attempt, sig);
	return true;
}

/* The pass. */

struct pass {
	struct agent *a;
	struct store_txn *t;
	struct starts *st; /* allocated at the first start */
	bool audit;        /* an audit walk: count what the index missed */
};

/* Remembers process `pid` for the next quick pass, and schedules it. */
static void mark(struct agent *a, uint64_t pid)
{
	struct agent_impl *m = impl(a);

	if (buf_append(&m->marked, &pid, sizeof pid) != 0)
		m->full_due = true; /* out of memory: the next full pass sees it */
	reconcile__schedule(a);
}

/* Acts on row `p` of this node. Returns false if it has to wait for the
 * next pass: an attempt to start once this pass has started enough. */
static bool ensure(struct pass *ps, const struct proc_row *p)
{
	struct agent *a = ps->a;

	if (exec_running(&a->exec, p->pid, p->attempt)) {
		if (p->kill_signal != 0)
			signal_once(a, p->pid, p->attempt, p->kill_signal);
		return true;
	}
	if (final_report_pending(a, p->pid, p->attempt))
		return true; /* its exit is on its way to the log */
	if (exec_known(&a->exec, p->pid, p->attempt)) {
		report_lost(a, p->pid, p->attempt, "not running on its host any more");
		return true;
	}
	if (p->state == PROC_STATE_RUNNING) {
		/* The state says it runs here, but this agent never ran it. */
		report_lost(a, p->pid, p->attempt, "unknown to its host's agent");
		return true;
	}
	if (p->kill_signal != 0)
		return true;
	/* Enough for this pass (or out of memory): the loop serves its other
	 * work first, and the caller resumes from this process next turn. */
	if (ps->st == NULL && (ps->st = calloc(1, sizeof *ps->st)) == NULL)
		return false;
	if (ps->st->n == RECONCILE_STARTS_MAX)
		return false;
	prepare(a, ps->st, p);
	return true;
}

static void stop_unwanted(void *arg, uint64_t pid, uint32_t attempt)
{
	struct pass *ps = arg;
	struct agent *a = ps->a;
	struct agent_impl *m = impl(a);
	struct stopping *s = (struct stopping *)(void *)m->stopping.data, rec;
	size_t i, n = m->stopping.len / sizeof rec;
	uint8_t key[PROC_KEY_LEN];
	struct proc_row row;
	const void *v;
	size_t vl;

	proc_key(key, pid);
	if (store_get(ps->t, STORE_PROCS, key, sizeof key, STORE_AT_LATEST, &v, &vl) == 0 &&
	    proc_row_decode(v, vl, &row) == 0 && row.node == a->id && row.attempt == attempt &&
	    !proc_is_ended(row.state))
		return; /* wanted */
	for (i = 0; i < n; i++) {
		if (s[i].pid != pid || s[i].attempt != attempt)
			continue;
		if (!s[i].killed && uv_now(&a->loop) - s[i].since > STOP_GRACE_MS) {
			exec_signal(&a->exec, pid, attempt, SIGKILL);
			s[i].killed = true;
		}
		return;
	}
	/* The state no longer wants it (ended, moved, rewound away). */
	logger_info(&a->lg, "stopping pid=%llu attempt=%u: not wanted by the state",
		    (unsigned long long)pid, attempt);
	exec_signal(&a->exec, pid, attempt, SIGTERM);
	memset(&rec, 0, sizeof rec);
	rec.pid = pid;
	rec.attempt = attempt;
	rec.since = uv_now(&a->loop);
	buf_append(&m->stopping, &rec, sizeof rec);
}

/* Forgets stop records of attempts no longer running. */
static void prune_stopping(struct agent *a)
{
	struct buf *b = &impl(a)->stopping;
	struct stopping *s = (struct stopping *)(void *)b->data;
	size_t i, j = 0, n = b->len / sizeof *s;

	for (i = 0; i < n; i++)
		if (exec_running(&a->exec, s[i].pid, s[i].attempt))
			s[j++] = s[i];
	b->len = j * sizeof *s;
}

/* The live index. */

static int cmp_pid(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* The pids of the live index, in increasing order, in a new array (*n of
 * them; the caller frees it), or NULL if out of memory or empty (*n 0). */
static uint64_t *live_sorted(const struct attempts *live, size_t *n)
{
	uint64_t *out, pid;
	uint32_t attempt;
	size_t pos = 0, k = 0;

	*n = 0;
	if (attempts_count(live) == 0 || (out = malloc(attempts_count(live) * sizeof *out)) == NULL)
		return NULL;
	while (attempts_next(live, &pos, &pid, &attempt) != NULL)
		out[k++] = pid;
	qsort(out, k, sizeof *out, cmp_pid);
	*n = k;
	return out;
}

static void live_add(struct agent *a, uint64_t pid)
{
	struct agent_impl *m = impl(a);

	if (attempts_add(&m->live, pid, 0, NULL) == NULL) {
		/* Out of memory: a rebuild walk finds it (and frees the set's
		 * memory first). */
		logger_error(&a->lg, "live index: out of memory at pid=%llu: rebuilding it",
			     (unsigned long long)pid);
		reconcile__run(a);
	}
	a->metrics.live = attempts_count(&m->live);
}

static void live_remove(struct agent *a, uint64_t pid)
{
	attempts_remove(&impl(a)->live, pid, 0);
	a->metrics.live = attempts_count(&impl(a)->live);
}

/* Ensures process `pid`, of row value (v, vl), if it is this node's and not
 * over, and keeps the index in step with what the row says; false as
 * ensure. */
static bool consider(struct pass *ps, uint64_t pid, const void *v, size_t vl)
{
	struct agent *a = ps->a;
	struct proc_row row;

	if (proc_row_decode(v, vl, &row) != 0 || row.node != a->id || proc_is_ended(row.state)) {
		live_remove(a, pid);
		return true;
	}
	if (attempts_find(&impl(a)->live, pid, 0) == NULL) {
		if (ps->audit) {
			/* A bug in the upkeep of the index (header comment). */
			a->metrics.live_missed++;
			logger_warn(&a->lg, "live index: pid=%llu attempt=%u was missing; added",
				    (unsigned long long)pid, row.attempt);
		}
		live_add(a, pid);
	}
	return ensure(ps, &row);
}

static void pass_end(struct pass *ps)
{
	if (ps->st != NULL) {
		start_all(ps->a, ps->st);
		free(ps->st);
	}
}

/*
 * A walk over every process of the state, a rebuild or an audit (header
 * comment). It reads at most RECONCILE_SWEEP_ROWS rows per step and resumes
 * from the next pid on the next step, so that a table of a million processes
 * never holds the loop for long (raft's heartbeats and their answers wait on
 * it: a walk of 800,000 rows at once cost a leader its leadership). A
 * rebuild asked for while a walk runs (a restore) starts over.
 */
static void run_walk(struct agent *a)
{
	struct store_txn t;
	struct store_iter it;
	struct pass ps;
	uint8_t key[PROC_KEY_LEN];
	const void *k, *v;
	size_t kl, vl, i, rows = 0;
	bool done = true;
	struct agent_impl *m = impl(a);

	if (a->stopping || store_read(&a->store, &t) != 0)
		return;
	if (m->full_due) {
		m->full_due = false;
		m->sweeping = true;
		m->sweep_audit = false;
		m->sweep_next = 0;
		/* Refilled by this walk, and by effects meanwhile. */
		attempts_release(&m->live);
		a->metrics.live = 0;
		/* Attempts of a previous life of this agent: they ended with it. */
		for (i = 0; i < m->norphans; i++)
			report_lost(a, m->orphans[i].pid, m->orphans[i].attempt,
				    "its agent restarted");
		free(m->orphans);
		m->orphans = NULL;
		m->norphans = 0;
	}
	m->sweep_step = false;

	memset(&ps, 0, sizeof ps);
	ps.a = a;
	ps.t = &t;
	ps.audit = m->sweep_audit;
	if (store_iter_init(&it, &t, STORE_PROCS, NULL, 0, STORE_AT_LATEST) == 0) {
		proc_key(key, m->sweep_next);
		if (m->sweep_next == 0 || store_iter_seek(&it, key, sizeof key) == 0) {
			while (store_iter_next(&it, &k, &kl, &v, &vl) == 0) {
				if (kl == PROC_KEY_LEN && (rows++ == RECONCILE_SWEEP_ROWS ||
							   !consider(&ps, be64_get(k), v, vl))) {
					m->sweep_next = be64_get(k); /* from here next step */
					done = false;
					break;
				}
			}
		}
		store_iter_close(&it);
	}
	if (done) {
		m->sweeping = false;
		if (m->sweep_audit)
			a->metrics.live_audits++;
	}
	store_read_end(&t);
	pass_end(&ps);
}

/*
 * The index pass: the processes of the index as it was when the pass began,
 * in pid order (as a walk would see them), RECONCILE_SWEEP_ROWS per loop
 * turn; then every running attempt. Processes indexed meanwhile were marked
 * by their effects: the quick pass sees them.
 */
static void run_index(struct agent *a)
{
	struct agent_impl *m = impl(a);
	uint8_t key[PROC_KEY_LEN];
	struct store_txn t;
	struct pass ps;
	const void *v;
	size_t vl, end;
	uint64_t pid;
	int rv;

	if (a->stopping || store_read(&a->store, &t) != 0)
		return;
	if (!m->passing) {
		m->pass_due = false;
		m->passing = true;
		m->pass_at = 0;
		/* Out of memory (pass_n 0): the running attempts only, this
		 * time; the audit walk is the backstop. */
		m->pass_pids = live_sorted(&m->live, &m->pass_n);
	}
	memset(&ps, 0, sizeof ps);
	ps.a = a;
	ps.t = &t;
	end = m->pass_at + RECONCILE_SWEEP_ROWS;
	if (end > m->pass_n)
		end = m->pass_n;
	for (; m->pass_at < end; m->pass_at++) {
		pid = m->pass_pids[m->pass_at];
		proc_key(key, pid);
		rv = store_get(&t, STORE_PROCS, key, sizeof key, STORE_AT_LATEST, &v, &vl);
		if (rv == ERR_NOTFOUND)
			live_remove(a, pid); /* gone (rewound away) */
		else if (rv == 0 && !consider(&ps, pid, v, vl))
			break; /* started enough: from this one next turn */
	}
	if (m->pass_at == m->pass_n) {
		m->passing = false;
		free(m->pass_pids);
		m->pass_pids = NULL;
		m->pass_n = 0;
		exec_foreach(&a->exec, stop_unwanted, &ps);
		prune_stopping(a);
	}
	store_read_end(&t);
	pass_end(&ps);
}

/* The quick pass: the processes marked since the last one. */
static void run_marked(struct agent *a)
{
	struct agent_impl *m = impl(a);
	struct buf list = m->marked;
	const uint64_t *pids = (const uint64_t *)(const void *)list.data;
	size_t i, n = list.len / sizeof *pids;
	uint8_t key[PROC_KEY_LEN];
	struct store_txn t;
	struct pass ps;
	const void *v;
	size_t vl;
	int rv;

	/* Marks made during this pass go to the next one. */
	buf_init(&m->marked);
	if (a->stopping || store_read(&a->store, &t) != 0) {
		m->marked = list;
		return;
	}
	memset(&ps, 0, sizeof ps);
	ps.a = a;
	ps.t = &t;
	for (i = 0; i < n; i++) {
		/* A burst may name a process many times: once is enough. */
		if (i > 0 && pids[i] == pids[i - 1])
			continue;
		proc_key(key, pids[i]);
		rv = store_get(&t, STORE_PROCS, key, sizeof key, STORE_AT_LATEST, &v, &vl);
		if (rv == ERR_NOTFOUND)
			live_remove(a, pids[i]);
		else if (rv == 0 && !consider(&ps, pids[i], v, vl))
			break;
	}
	if (i < n) {
		/* Started enough: the rest, not looked at yet, goes first next
		 * turn (never twice in the list, which a burst would grow). */
		struct buf rest;

		buf_init(&rest);
		if (buf_append(&rest, pids + i, (n - i) * sizeof *pids) != 0 ||
		    (m->marked.len > 0 && buf_append(&rest, m->marked.data, m->marked.len) != 0)) {
			buf_release(&rest);
			m->pass_due = true; /* out of memory: they are in the index */
		} else {
			buf_release(&m->marked);
			m->marked = rest;
		}
	}
	store_read_end(&t);
	buf_release(&list);
	pass_end(&ps);
}

void reconcile__run(struct agent *a)
{
	impl(a)->full_due = true;
	reconcile__schedule(a);
}

/* Whether a walk has a step to take on the next loop turn. */
static bool walk_due(struct agent_impl *m)
{
	return m->full_due || (m->sweeping && (!m->sweep_audit || m->sweep_step));
}

static void on_soon(uv_idle_t *h)
{
	struct agent *a = h->data;
	struct agent_impl *m = impl(a);

	uv_idle_stop(h);
	m->reconcile_scheduled = false;
	if (walk_due(m))
		run_walk(a);
	if (m->pass_due || m->passing)
		run_index(a);
	if (m->marked.len > 0)
		run_marked(a);
	/* What the pass deferred (over RECONCILE_STARTS_MAX), what was marked
	 * during it, the rest of a rebuild or an index pass: on the next loop
	 * turn, after its I/O. An audit's next step waits for the next tick. */
	if (m->marked.len > 0 || walk_due(m) || m->passing)
		reconcile__schedule(a);
}

void reconcile__schedule(struct agent *a)
{
	struct agent_impl *m = impl(a);

	if (m->reconcile_scheduled || a->stopping)
		return;
	m->reconcile_scheduled = true;
	uv_idle_start(&m->reconcile_soon, on_soon);
}

void reconcile__effect(void *arg, uint64_t index, const struct effect *e)
{
	struct agent *a = arg;

	if (e->node != a->id) {
		agent__nudge(a); /* that node learns the commit at once */
		return;
	}
	/* Every transition that places an attempt here (or kills one) says so
	 * with an effect: the index learns of it here (header comment). */
	live_add(a, e->pid);
	if (e->kind == EFFECT_SIGNAL && exec_running(&a->exec, e->pid, e->attempt))
		signal_once(a, e->pid, e->attempt, e->signal);
	/* Effects only say where to look (DESIGN §2): the pass reads the
	 * state, after this entry's transaction has committed. */
	mark(a, e->pid);
}

void reconcile__tick(struct agent *a)
{
	struct agent_impl *m = impl(a);
	struct report *r;
	uint64_t now = uv_now(&a->loop);

	for (r = impl(a)->reports; r != NULL; r = r->next)
		if (!r->inflight && r->retry_at != 0 && r->retry_at <= now) {
			r->retry_at = 0;
			report_send(r);
		}
	/* An index pass every RECONCILE_FULL_TICKS ticks, an audit walk every
	 * RECONCILE_AUDIT_TICKS, a step of it every tick; never restarting
	 * one still under way (it would never reach its end). */
	if (m->ticks++ % RECONCILE_FULL_TICKS == 0 && !m->passing) {
		m->pass_due = true;
		reconcile__schedule(a);
	}
	if (!m->sweeping && !m->full_due && m->ticks % RECONCILE_AUDIT_TICKS == 0) {
		m->sweeping = true;
		m->sweep_audit = true;
		m->sweep_next = 0;
	}
	if (m->sweeping && m->sweep_audit) {
		m->sweep_step = true;
		reconcile__schedule(a);
	}
}

void reconcile__close(struct agent *a)
{
	struct agent_impl *m = impl(a);
	struct report *r, *next;

	/* Reports still in flight are freed by their callbacks (which run with
	 * a->stopping set); the others go now. */
	m->held_head = m->held_tail = NULL;
	for (r = m->reports; r != NULL; r = next) {
		next = r->next;
		if (r->inflight)
			continue;
		report_unlink(a, r);
		report_free(a, r);
	}
	buf_release(&m->stopping);
	buf_release(&m->signaled);
	buf_release(&m->marked);
	/* Reports still in flight find no count to drop when they end. */
	attempts_release(&m->finals);
	attempts_release(&m->live);
	free(m->pass_pids);
	m->pass_pids = NULL;
	m->passing = false;
	free(m->orphans);
	m->orphans = NULL;
}
