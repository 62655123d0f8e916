/*
 * The executor (agent/exec.h): runs this host's attempts as detached process
 * groups with uv_spawn, turns their stdout and stderr into ordered chunks, and
 * keeps a journal so that an attempt is never run twice (DESIGN §2: every
 * action is keyed by (process id, attempt) so that a repeat is a no-op).
 *
 * The journal is a text file of one record a line:
 *     S pid attempt         about to spawn (fdatasync'd before the spawn; the
 *                           S records of one exec_start_many share one sync)
 *     R pid attempt os_pid  running as os_pid (written, not synced)
 *     E pid attempt         its exited callback was delivered
 *     K pid attempt         known and over (written by the compaction)
 * exec_init reads it, kills and reports the attempts with S but no E, and
 * rewrites it as K lines only.
 *
 * Only S needs the sync: it is what keeps an attempt from running twice, also
 * after the machine crashed. R and E are plain writes: they survive a crash
 * of the agent (the page cache is the kernel's), and a crash of the machine
 * takes the processes with it. An orphan without its R record (the agent or
 * the machine died between the spawn and the write) is still found and
 * stopped: exec_init looks for it by its environment (LOGOS_PID and
 * LOGOS_ATTEMPT) among all processes.
 *
 * Lifetime of an attempt (struct exec_proc): five handles (the process, two
 * pipes, a flush timer and a kill timer), freed after the last of their close
 * callbacks. It ends ("finished") when the process has exited and both pipes
 * are at end of file; only then the exited callback fires (reliability.md U2:
 * the process handle is closed only after its exit callback, or it would
 * leave a zombie).
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <uv.h>

#include "agent/exec.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"

#define EXEC_GRACE_MS      500  /* pipes held open by a descendant after the exit */
#define EXEC_KILL_AFTER_MS 5000 /* SIGTERM at the timeout, SIGKILL this later */

/* The value of an attempt in the set of known attempts (x->known, keyed by
 * (pid, attempt), agent/attempts.h); during exec_init also what the journal
 * says about it. */
struct known_attempt {
	uint64_t os_pid;        /* exec_init only: from the R record */
	struct exec_proc *proc; /* running now (exec_running), else NULL */
	bool open;              /* exec_init only: started, not known to have ended */
};

enum {
	KILL_PHASE_TERM,  /* timeout: send SIGTERM */
	KILL_PHASE_KILL,  /* SIGTERM was not enough: send SIGKILL */
	KILL_PHASE_GRACE, /* exited, but a pipe is still open: stop waiting */
};

struct exec_stream {
	uv_pipe_t pipe;
	char *buf;  /* EXEC_CHUNK_MAX bytes, from the first read on */
	size_t len; /* bytes in buf not yet emitted */
	uint64_t seq;
	bool eof; /* read to the end (or given up); the pipe is closing */
};

struct exec_proc {
	struct exec *x;
	struct exec_proc *prev, *next;
	uint64_t pid;
	uint32_t attempt;
	uv_process_t process;
	struct exec_stream out[2]; /* stdout, stderr */
	uv_timer_t flush_timer;
	uv_timer_t kill_timer;
	int os_pid; /* 0: the spawn failed */
	int kill_phase;
	int exit_code;
	int signal;
	unsigned nhandles; /* handles not yet closed */
	bool started_sent;
	bool exited;   /* the process exit is known (or the spawn failed) */
	bool finished; /* the attempt is over; its handles are closing */
};

/* ---- the set of known attempts ---- */

bool exec_known(const struct exec *x, uint64_t pid, uint32_t attempt)
{
	return attempts_find(&x->known, pid, attempt) != NULL;
}

/* ---- the journal ---- */

static int write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Appends one record; with `sync`, it is on disk when this returns 0. */
static int journal_append(struct exec *x, bool sync, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int journal_append(struct exec *x, bool sync, const char *fmt, ...)
{
	char line[96];
	va_list ap;
	int n, rv;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	assert(n > 0 && (size_t)n < sizeof line);
	rv = write_all(x->journal_fd, line, (size_t)n);
	if (rv == 0 && sync && fdatasync(x->journal_fd) != 0)
		rv = -errno;
	if (rv != 0)
		return err_set(x->errmsg, sizeof x->errmsg, ERR_IO, "append to journal '%s': %s",
			       x->journal_path, strerror(-rv));
	return 0;
}

/* Reads a decimal number of at most `max`; advances *p past it. */
static bool parse_number(const char **p, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return true;
}

/* Parses one record "T pid attempt[ os_pid]\n"; false if malformed. */
static bool parse_record(const char *line, char *type, uint64_t *pid, uint32_t *attempt,
			 uint64_t *os_pid)
{
	const char *p = line;
	uint64_t a;

	*type = *p++;
	*os_pid = 0;
	if (strchr("SREK", *type) == NULL || *type == '\0' || *p++ != ' ' ||
	    !parse_number(&p, UINT64_MAX, pid) || *p++ != ' ' || !parse_number(&p, UINT32_MAX, &a))
		return false;
	*attempt = (uint32_t)a;
	if (*type == 'R' && (*p++ != ' ' || !parse_number(&p, INT_MAX, os_pid) || *os_pid == 0))
		return false;
	return p[0] == '\n' && p[1] == '\0';
}

/* Replays the journal into x->known (with open/os_pid). A missing file is an
 * empty journal. */
static int journal_read(struct exec *x)
{
	struct known_attempt *s;
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	uint64_t pid, os_pid;
	uint32_t attempt;
	char type;
	FILE *f;
	int rv = 0;

	f = fopen(x->journal_path, "re");
	if (f == NULL && errno == ENOENT)
		return 0;
	if (f == NULL)
		return err_set(x->errmsg, sizeof x->errmsg, ERR_IO, "open journal '%s': %s",
			       x->journal_path, strerror(errno));
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		/* A line without its newline is the partial last write of a crash;
		 * a NUL inside a line is garbage (a torn block). */
		if ((size_t)n != strlen(line) ||
		    !parse_record(line, &type, &pid, &attempt, &os_pid)) {
			logger_warn(x->lg, "skipping malformed journal line journal='%s' line=%zu",
				    x->journal_path, lineno);
			continue;
		}
		s = attempts_add(&x->known, pid, attempt, NULL);
		if (s == NULL) {
			rv = err_set(x->errmsg, sizeof x->errmsg, ERR_NOMEM,
				     "read journal '%s': out of memory", x->journal_path);
			goto out;
		}
		switch (type) {
		case 'S':
			s->open = true;
			break;
		case 'R':
			/* R without S: be conservative, treat it as started. */
			s->open = true;
			s->os_pid = os_pid;
			break;
		default: /* E, K */
			s->open = false;
			break;
		}
	}
	if (ferror(f))
		rv = err_set(x->errmsg, sizeof x->errmsg, ERR_IO, "read journal '%s': %s",
			     x->journal_path, strerror(errno));
out:
	free(line);
	fclose(f);
	return rv;
}

static int orphan_cmp(const void *a, const void *b)
{
	const struct exec_orphan *p = a, *q = b;

	if (p->pid != q->pid)
		return p->pid < q->pid ? -1 : 1;
	if (p->attempt != q->attempt)
		return p->attempt < q->attempt ? -1 : 1;
	return 0;
}

/* Reads a whole small /proc file into a malloc'd buffer (NUL-terminated). */
static char *read_proc_file(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *nbuf;
	ssize_t r;
	int fd;

	if (buf == NULL)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto err_buf;
	for (;;) {
		if (cap - n < 2) {
			if (cap >= (8u << 20)) /* environments are far smaller */
				break;
			nbuf = realloc(buf, cap * 2);
			if (nbuf == NULL)
				goto err_fd;
			buf = nbuf;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto err_fd;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;

err_fd:
	close(fd);
err_buf:
	free(buf);
	return NULL;
}

/* The process group of OS process `n`, or -1. */
static long proc_pgrp(long n)
{
	char path[64], *stat, *p;
	long pgrp = -1;
	size_t len;

	snprintf(path, sizeof path, "/proc/%ld/stat", n);
	stat = read_proc_file(path, &len);
	if (stat == NULL)
		return -1;
	/* "pid (comm) state ppid pgrp ...": comm may hold anything, even ")". */
	p = strrchr(stat, ')');
	if (p != NULL && sscanf(p + 1, " %*c %*d %ld", &pgrp) != 1)
		pgrp = -1;
	free(stat);
	return pgrp;
}

/* The values of LOGOS_PID and LOGOS_ATTEMPT in the environment of OS process
 * `n`; false if it has not both (or cannot be read). */
static bool environ_ids(long n, uint64_t *pid, uint32_t *attempt)
{
	bool has_pid = false, has_attempt = false;
	char path[64], *env;
	const char *p;
	uint64_t v;
	size_t len, i;

	snprintf(path, sizeof path, "/proc/%ld/environ", n);
	env = read_proc_file(path, &len);
	if (env == NULL)
		return false;
	for (i = 0; i < len; i += strlen(env + i) + 1) {
		if (strncmp(env + i, "LOGOS_PID=", 10) == 0) {
			p = env + i + 10;
			has_pid = parse_number(&p, UINT64_MAX, pid) && *p == '\0';
		} else if (strncmp(env + i, "LOGOS_ATTEMPT=", 14) == 0) {
			p = env + i + 14;
			has_attempt = parse_number(&p, UINT32_MAX, &v) && *p == '\0';
			*attempt = (uint32_t)v;
		}
	}
	free(env);
	return has_pid && has_attempt;
}

/*
 * Stops what is left of the orphans: every process whose environment names
 * an orphan (LOGOS_PID and LOGOS_ATTEMPT) gets SIGKILL, and so does its
 * process group, the attempt's (the executor spawns each attempt as the
 * leader of its own). When the R record gave the orphan's OS pid, the process
 * must also be in that group. An OS pid reused by an unrelated process fails
 * the environment check and is never touched. `orphans` is sorted.
 */
static void kill_orphans(struct exec *x, const struct exec_orphan *orphans, size_t norphans)
{
	struct exec_orphan key, *o;
	struct dirent *d;
	long n, pgrp, own = (long)getpgrp();
	DIR *dir;
	char *end;

	if (norphans == 0)
		return;
	dir = opendir("/proc");
	if (dir == NULL) {
		logger_error(x->lg, "cannot list /proc to stop orphans: %s", strerror(errno));
		return;
	}
	memset(&key, 0, sizeof key);
	while ((d = readdir(dir)) != NULL) {
		errno = 0;
		n = strtol(d->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || n <= 0 || n == (long)getpid())
			continue;
		if (!environ_ids(n, &key.pid, &key.attempt))
			continue;
		o = bsearch(&key, orphans, norphans, sizeof *orphans, orphan_cmp);
		if (o == NULL)
			continue;
		pgrp = proc_pgrp(n);
		if (pgrp <= 0 || pgrp == own || (o->os_pid != 0 && o->os_pid != (uint64_t)pgrp))
			continue;
		logger_warn(x->lg,
			    "killing orphan pid=%" PRIu64 " attempt=%" PRIu32
			    " os_pid=%ld group=%ld",
			    o->pid, o->attempt, n, pgrp);
		kill(-(pid_t)pgrp, SIGKILL);
		kill((pid_t)n, SIGKILL);
	}
	closedir(dir);
}

/* Rewrites the journal as one K line per known attempt, atomically. */
static int journal_compact(struct exec *x)
{
	char tmp[sizeof x->journal_path + 8], dir[sizeof x->journal_path], *slash;
	size_t pos = 0;
	uint64_t pid;
	uint32_t attempt;
	FILE *f;
	int fd, rv;

	snprintf(tmp, sizeof tmp, "%s.tmp", x->journal_path);
	f = fopen(tmp, "we");
	if (f == NULL)
		return err_set(x->errmsg, sizeof x->errmsg, ERR_IO, "create '%s': %s", tmp,
			       strerror(errno));
	while (attempts_next(&x->known, &pos, &pid, &attempt) != NULL)
		fprintf(f, "K %" PRIu64 " %" PRIu32 "\n", pid, attempt);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		rv = err_set(x->errmsg, sizeof x->errmsg, ERR_IO, "write '%s': %s", tmp,
			     strerror(errno));
		fclose(f);
		goto err_tmp;
	}
	if (fclose(f) != 0) {
		rv = err_set(x->errmsg, sizeof x->errmsg, ERR_IO, "write '%s': %s", tmp,
			     strerror(errno));
		goto err_tmp;
	}
	if (rename(tmp, x->journal_path) != 0) {
		rv = err_set(x->errmsg, sizeof x->errmsg, ERR_IO, "rename '%s': %s", tmp,
			     strerror(errno));
		goto err_tmp;
	}
	/* The rename is durable only once the directory is synced. */
	snprintf(dir, sizeof dir, "%s", x->journal_path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		rv = err_set(x->errmsg, sizeof x->errmsg, ERR_IO, "sync directory '%s': %s", dir,
			     strerror(errno));
		if (fd >= 0)
			close(fd);
		return rv;
	}
	close(fd);
	return 0;

err_tmp:
	unlink(tmp);
	return rv;
}

int exec_init(struct exec *x, uv_loop_t *loop, const char *journal_path,
	      const struct exec_callbacks *cb, void *arg, struct logger *lg,
	      struct exec_orphan **orphans, size_t *norphans)
{
	struct known_attempt *k;
	struct exec_orphan *list = NULL;
	size_t n = 0, pos;
	uint64_t pid;
	uint32_t attempt;
	int rv;

	memset(x, 0, sizeof *x);
	attempts_init(&x->known, sizeof(struct known_attempt));
	x->loop = loop;
	x->cb = *cb;
	x->arg = arg;
	x->lg = lg;
	x->journal_fd = -1;
	if (orphans != NULL)
		*orphans = NULL;
	if (norphans != NULL)
		*norphans = 0;
	if (strlen(journal_path) >= sizeof x->journal_path)
		return err_set(x->errmsg, sizeof x->errmsg, ERR_IO, "journal path '%s': too long",
			       journal_path);
	snprintf(x->journal_path, sizeof x->journal_path, "%s", journal_path);

	rv = journal_read(x);
	if (rv != 0)
		goto err_known;
	for (pos = 0; (k = attempts_next(&x->known, &pos, &pid, &attempt)) != NULL;)
		n += k->open;
	if (n > 0) {
		list = calloc(n, sizeof *list);
		if (list == NULL) {
			rv = err_set(x->errmsg, sizeof x->errmsg, ERR_NOMEM,
				     "list %zu orphans: out of memory", n);
			goto err_known;
		}
		n = 0;
		for (pos = 0; (k = attempts_next(&x->known, &pos, &pid, &attempt)) != NULL;) {
			if (!k->open)
				continue;
			list[n].pid = pid;
			list[n].attempt = attempt;
			list[n].os_pid = k->os_pid;
			k->open = false;
			n++;
		}
		qsort(list, n, sizeof *list, orphan_cmp);
		kill_orphans(x, list, n);
	}

	/* The orphans are over now (killed, reported lost by the caller): the
	 * compacted journal knows every attempt as ended. */
	rv = journal_compact(x);
	if (rv != 0)
		goto err_list;
	x->journal_fd = open(x->journal_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (x->journal_fd < 0) {
		rv = err_set(x->errmsg, sizeof x->errmsg, ERR_IO, "open journal '%s': %s",
			     x->journal_path, strerror(errno));
		goto err_list;
	}
	uv_timer_init(loop, &x->timer);
	x->timer.data = x;
	logger_info(x->lg, "executor ready journal='%s' known=%zu orphans=%zu", x->journal_path,
		    attempts_count(&x->known), n);
	if (orphans != NULL)
		*orphans = list;
	else
		free(list);
	if (norphans != NULL)
		*norphans = n;
	return 0;

err_list:
	free(list);
err_known:
	attempts_release(&x->known);
	return rv;
}

/* ---- attempts ---- */

/* The running attempt (pid, attempt), or NULL: O(1), through the known set
 * (the reconciler asks for every process of its node on every pass). */
static struct exec_proc *proc_find(const struct exec *x, uint64_t pid, uint32_t attempt)
{
	struct known_attempt *s = attempts_find(&x->known, pid, attempt);

	if (s == NULL || s->proc == NULL || s->proc->finished)
		return NULL;
	return s->proc;
}

bool exec_running(const struct exec *x, uint64_t pid, uint32_t attempt)
{
	return proc_find(x, pid, attempt) != NULL;
}

static void maybe_closed(struct exec *x)
{
	void (*cb)(struct exec * x) = x->close_cb;

	if (!x->closing || x->nprocs > 0 || !x->timer_closed || cb == NULL)
		return;
	x->close_cb = NULL;
	if (x->journal_fd >= 0)
		close(x->journal_fd);
	x->journal_fd = -1;
	attempts_release(&x->known);
	cb(x);
}

static void proc_handle_closed(uv_handle_t *h)
{
	struct exec_proc *p = h->data;
	struct exec *x = p->x;

	assert(p->nhandles > 0);
	if (--p->nhandles > 0)
		return;
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		x->procs = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	free(p->out[0].buf);
	free(p->out[1].buf);
	free(p);
	x->nprocs--;
	maybe_closed(x);
}

static void send_started(struct exec_proc *p)
{
	struct exec *x = p->x;

	if (p->started_sent || p->os_pid == 0)
		return;
	p->started_sent = true;
	if (!x->closing && x->cb.started != NULL)
		x->cb.started(x->arg, p->pid, p->attempt, (uint64_t)p->os_pid);
}

/* Emits what stream `i` has buffered as one chunk. */
static void emit(struct exec_proc *p, int i)
{
	struct exec_stream *s = &p->out[i];
	struct exec *x = p->x;
	size_t len = s->len;

	if (len == 0)
		return;
	send_started(p);
	s->len = 0;
	if (!x->closing && x->cb.output != NULL)
		x->cb.output(x->arg, p->pid, p->attempt, i + 1, s->seq++, s->buf, len);
}

/* Kills whatever is left of the attempt's process group; ESRCH is normal. */
static void kill_group(struct exec_proc *p, int sig)
{
	if (p->os_pid > 0 && kill(-(pid_t)p->os_pid, sig) != 0 && errno != ESRCH)
		logger_warn(p->x->lg,
			    "kill group pid=%" PRIu64 " attempt=%" PRIu32 " os_pid=%d: %s", p->pid,
			    p->attempt, p->os_pid, strerror(errno));
}

/* Ends the attempt if its process has exited and both pipes are at EOF:
 * reports it (last output first) and closes its handles. */
static void maybe_finish(struct exec_proc *p)
{
	struct exec *x = p->x;

	struct known_attempt *k;

	if (p->finished || !p->exited || !p->out[0].eof || !p->out[1].eof)
		return;
	p->finished = true;
	k = attempts_find(&x->known, p->pid, p->attempt);
	if (k != NULL && k->proc == p)
		k->proc = NULL;
	/* An attempt is its process group: leftovers that closed their output
	 * (or outlived the grace) go with it. */
	if (p->os_pid > 0)
		kill_group(p, SIGKILL);
	send_started(p);
	emit(p, 0);
	emit(p, 1);
	uv_timer_stop(&p->flush_timer);
	uv_timer_stop(&p->kill_timer);
	uv_close((uv_handle_t *)&p->flush_timer, proc_handle_closed);
	uv_close((uv_handle_t *)&p->kill_timer, proc_handle_closed);
	uv_close((uv_handle_t *)&p->process, proc_handle_closed);
	if (x->closing)
		return; /* not reported: an orphan for the next exec_init */
	logger_debug(x->lg, "exited pid=%" PRIu64 " attempt=%" PRIu32 " code=%d signal=%d", p->pid,
		     p->attempt, p->exit_code, p->signal);
	if (journal_append(x, false, "E %" PRIu64 " %" PRIu32 "\n", p->pid, p->attempt) != 0)
		logger_error(x->lg, "%s", x->errmsg);
	if (x->cb.exited != NULL)
		x->cb.exited(x->arg, p->pid, p->attempt, p->exit_code, p->signal);
}

/* Stops reading stream `i`: flushes it and closes its pipe. */
static void stream_end(struct exec_proc *p, int i)
{
	struct exec_stream *s = &p->out[i];

	if (s->eof)
		return;
	s->eof = true;
	uv_read_stop((uv_stream_t *)&s->pipe);
	uv_close((uv_handle_t *)&s->pipe, proc_handle_closed);
	emit(p, i);
}

static void on_flush(uv_timer_t *t)
{
	struct exec_proc *p = t->data;

	send_started(p);
	emit(p, 0);
	emit(p, 1);
	maybe_finish(p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct exec_proc *p = h->data;
	struct exec_stream *s = &p->out[(uv_pipe_t *)h == &p->out[1].pipe];

	if (s->buf == NULL)
		s->buf = malloc(EXEC_CHUNK_MAX);
	if (s->buf == NULL) {
		*buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
		return;
	}
	assert(s->len < EXEC_CHUNK_MAX);
	*buf = uv_buf_init(s->buf + s->len, (unsigned)(EXEC_CHUNK_MAX - s->len));
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct exec_proc *p = h->data;
	int i = (uv_pipe_t *)h == &p->out[1].pipe;
	struct exec_stream *s = &p->out[i];

	if (nread < 0) {
		if (nread != UV_EOF)
			logger_warn(p->x->lg,
				    "read output pid=%" PRIu64 " attempt=%" PRIu32 " stream=%d: %s",
				    p->pid, p->attempt, i + 1, uv_strerror((int)nread));
		stream_end(p, i);
		maybe_finish(p);
		return;
	}
	s->len += (size_t)nread;
	if (s->len == EXEC_CHUNK_MAX)
		emit(p, i);
	else if (s->len > 0 && !p->finished && !p->x->closing &&
		 !uv_is_active((uv_handle_t *)&p->flush_timer))
		uv_timer_start(&p->flush_timer, on_flush, EXEC_FLUSH_MS, 0);
}

static void on_kill_timer(uv_timer_t *t)
{
	struct exec_proc *p = t->data;

	switch (p->kill_phase) {
	case KILL_PHASE_TERM:
		logger_info(p->x->lg, "timeout, SIGTERM pid=%" PRIu64 " attempt=%" PRIu32, p->pid,
			    p->attempt);
		kill_group(p, SIGTERM);
		p->kill_phase = KILL_PHASE_KILL;
		uv_timer_start(t, on_kill_timer, EXEC_KILL_AFTER_MS, 0);
		break;
	case KILL_PHASE_KILL:
		logger_info(p->x->lg, "timeout, SIGKILL pid=%" PRIu64 " attempt=%" PRIu32, p->pid,
			    p->attempt);
		kill_group(p, SIGKILL);
		break;
	default:
		logger_warn(p->x->lg,
			    "output still open %d ms after the exit, closing pid=%" PRIu64
			    " attempt=%" PRIu32,
			    EXEC_GRACE_MS, p->pid, p->attempt);
		stream_end(p, 0);
		stream_end(p, 1);
		maybe_finish(p);
		break;
	}
}

static void on_process_exit(uv_process_t *process, int64_t exit_status, int term_signal)
{
	struct exec_proc *p = process->data;

	p->exited = true;
	p->exit_code = term_signal != 0 ? -1 : (int)exit_status;
	p->signal = term_signal;
	uv_timer_stop(&p->kill_timer);
	if (p->x->closing) {
		stream_end(p, 0);
		stream_end(p, 1);
	} else if (!p->out[0].eof || !p->out[1].eof) {
		/* A descendant may hold a pipe open for ever: wait a little only. */
		p->kill_phase = KILL_PHASE_GRACE;
		uv_timer_start(&p->kill_timer, on_kill_timer, EXEC_GRACE_MS, 0);
	}
	maybe_finish(p);
}

/*
 * The environment of the attempt: spec->env, with LOGOS_PID and LOGOS_ATTEMPT
 * set to this attempt (exec_init recognises orphans by them). Entries point
 * into spec->env or to `pid_var`/`attempt_var`; the array is malloc'd.
 */
static char **make_env(const struct exec_spec *spec, char *pid_var, size_t pid_size,
		       char *attempt_var, size_t attempt_size)
{
	bool has_pid = false, has_attempt = false;
	size_t n, i, k = 0;
	char **env;

	snprintf(pid_var, pid_size, "LOGOS_PID=%" PRIu64, spec->pid);
	snprintf(attempt_var, attempt_size, "LOGOS_ATTEMPT=%" PRIu32, spec->attempt);
	for (n = 0; spec->env[n] != NULL; n++)
		;
	env = calloc(n + 3, sizeof *env);
	if (env == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *e = spec->env[i];

		if (strncmp(e, "LOGOS_PID=", 10) == 0) {
			if (has_pid)
				continue;
			has_pid = true;
			e = pid_var;
		} else if (strncmp(e, "LOGOS_ATTEMPT=", 14) == 0) {
			if (has_attempt)
				continue;
			has_attempt = true;
			e = attempt_var;
		}
		env[k++] = (char *)e;
	}
	if (!has_pid)
		env[k++] = pid_var;
	if (!has_attempt)
		env[k++] = attempt_var;
	env[k] = NULL;
	return env;
}

/* Records a spawn failure as the attempt's output and exit (127); reported
 * from the flush timer on a later turn. */
static void spawn_failed(struct exec_proc *p, const struct exec_spec *spec, int err)
{
	struct exec_stream *s = &p->out[1];
	struct stat st;
	int n;

	s->buf = malloc(EXEC_CHUNK_MAX);
	if (s->buf != NULL) {
		/* libuv reports a bad cwd as the program's error: say which. */
		if (spec->cwd != NULL && spec->cwd[0] != '\0' &&
		    (stat(spec->cwd, &st) != 0 || !S_ISDIR(st.st_mode)))
			n = snprintf(s->buf, EXEC_CHUNK_MAX, "logos: cannot run '%s' in '%s': %s\n",
				     spec->argv[0], spec->cwd, uv_strerror(err));
		else
			n = snprintf(s->buf, EXEC_CHUNK_MAX, "logos: cannot run '%s': %s\n",
				     spec->argv[0], uv_strerror(err));
		s->len = n < 0 ? 0 : (size_t)n < EXEC_CHUNK_MAX ? (size_t)n : EXEC_CHUNK_MAX - 1;
	}
	p->out[0].eof = p->out[1].eof = true;
	/* libuv closed its ends of the pipes; our handles still need closing. */
	uv_close((uv_handle_t *)&p->out[0].pipe, proc_handle_closed);
	uv_close((uv_handle_t *)&p->out[1].pipe, proc_handle_closed);
	p->exited = true;
	p->exit_code = 127;
	p->signal = 0;
	uv_timer_start(&p->flush_timer, on_flush, 0, 0);
}

/* Spawns an attempt already journaled (S on disk) and known. */
static void spawn_one(struct exec *x, const struct exec_spec *spec, struct exec_proc *p, char **env)
{
	uv_process_options_t opts;
	uv_stdio_container_t stdio[3];
	struct known_attempt *k;
	int rv, i;

	k = attempts_find(&x->known, spec->pid, spec->attempt);
	k->proc = p;
	p->x = x;
	p->pid = spec->pid;
	p->attempt = spec->attempt;
	uv_timer_init(x->loop, &p->flush_timer);
	uv_timer_init(x->loop, &p->kill_timer);
	p->flush_timer.data = p->kill_timer.data = p->process.data = p;
	for (i = 0; i < 2; i++) {
		uv_pipe_init(x->loop, &p->out[i].pipe, 0);
		p->out[i].pipe.data = p;
	}
	p->nhandles = 5;
	p->next = x->procs;
	if (p->next != NULL)
		p->next->prev = p;
	x->procs = p;
	x->nprocs++;

	memset(&opts, 0, sizeof opts);
	opts.exit_cb = on_process_exit;
	opts.file = spec->argv[0];
	opts.args = (char **)spec->argv;
	opts.env = env;
	opts.cwd = spec->cwd != NULL && spec->cwd[0] != '\0' ? spec->cwd : NULL;
	/* Detached: the child calls setsid, so it leads its own process group
	 * and every signal goes to the whole group. */
	opts.flags = UV_PROCESS_DETACHED;
	stdio[0].flags = UV_IGNORE; /* libuv opens /dev/null */
	for (i = 1; i <= 2; i++) {
		stdio[i].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
		stdio[i].data.stream = (uv_stream_t *)&p->out[i - 1].pipe;
	}
	opts.stdio = stdio;
	opts.stdio_count = 3;
	rv = uv_spawn(x->loop, &p->process, &opts);
	if (rv != 0) {
		logger_info(x->lg,
			    "cannot spawn pid=%" PRIu64 " attempt=%" PRIu32 " program='%s': %s",
			    p->pid, p->attempt, spec->argv[0], uv_strerror(rv));
		spawn_failed(p, spec, rv);
		return;
	}
	p->os_pid = p->process.pid;
	logger_debug(x->lg, "started pid=%" PRIu64 " attempt=%" PRIu32 " os_pid=%d", p->pid,
		     p->attempt, p->os_pid);
	/* R lets a restarted agent find this process by its OS pid. Not synced
	 * (see the top of this file); it runs already, so a failure here is
	 * only reported. */
	if (journal_append(x, false, "R %" PRIu64 " %" PRIu32 " %d\n", p->pid, p->attempt,
			   p->os_pid) != 0)
		logger_error(x->lg, "%s", x->errmsg);
	for (i = 0; i < 2; i++) {
		rv = uv_read_start((uv_stream_t *)&p->out[i].pipe, on_alloc, on_read);
		if (rv != 0) {
			logger_warn(x->lg, "read output pid=%" PRIu64 " attempt=%" PRIu32 ": %s",
				    p->pid, p->attempt, uv_strerror(rv));
			stream_end(p, i);
		}
	}
	if (spec->timeout_ms > 0) {
		p->kill_phase = KILL_PHASE_TERM;
		uv_timer_start(&p->kill_timer, on_kill_timer, spec->timeout_ms, 0);
	}
	/* started is reported from the loop, not from inside this call. */
	uv_timer_start(&p->flush_timer, on_flush, 0, 0);
}

/* Checks one spec of a batch: 0, ERR_INVALID or ERR_EXISTS (also for a
 * repeat of an earlier spec of the same batch). */
static int check_spec(struct exec *x, const struct exec_spec *specs, size_t i)
{
	const struct exec_spec *spec = &specs[i];
	size_t j;

	if (spec->argv == NULL || spec->argv[0] == NULL || spec->env == NULL)
		return err_set(x->errmsg, sizeof x->errmsg, ERR_INVALID,
			       "start pid=%" PRIu64 " attempt=%" PRIu32 ": no argv or env",
			       spec->pid, spec->attempt);
	if (exec_known(x, spec->pid, spec->attempt))
		return err_set(x->errmsg, sizeof x->errmsg, ERR_EXISTS,
			       "start pid=%" PRIu64 " attempt=%" PRIu32 ": already started",
			       spec->pid, spec->attempt);
	for (j = 0; j < i; j++)
		if (specs[j].pid == spec->pid && specs[j].attempt == spec->attempt)
			return err_set(x->errmsg, sizeof x->errmsg, ERR_EXISTS,
				       "start pid=%" PRIu64 " attempt=%" PRIu32 ": given twice",
				       spec->pid, spec->attempt);
	return 0;
}

int exec_start_many(struct exec *x, const struct exec_spec *specs, size_t n, int *results)
{
	char pid_var[48], attempt_var[48], line[96];
	struct exec_proc **procs = NULL;
	struct buf text;
	size_t i, ok = 0;
	char **env;
	int rv = 0, len;

	if (x->closing)
		return err_set(x->errmsg, sizeof x->errmsg, ERR_CANCELED,
			       "start %zu attempts: executor closing", n);
	if (n == 0)
		return 0;
	buf_init(&text);
	procs = calloc(n, sizeof *procs);
	if (procs == NULL || attempts_reserve(&x->known, n) != 0) {
		rv = err_set(x->errmsg, sizeof x->errmsg, ERR_NOMEM,
			     "start %zu attempts: out of memory", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		results[i] = check_spec(x, specs, i);
		if (results[i] != 0)
			continue;
		procs[i] = calloc(1, sizeof *procs[i]);
		len = snprintf(line, sizeof line, "S %" PRIu64 " %" PRIu32 "\n", specs[i].pid,
			       specs[i].attempt);
		if (procs[i] == NULL || buf_append(&text, line, (size_t)len) != 0) {
			free(procs[i]);
			procs[i] = NULL;
			results[i] =
				err_set(x->errmsg, sizeof x->errmsg, ERR_NOMEM,
					"start pid=%" PRIu64 " attempt=%" PRIu32 ": out of memory",
					specs[i].pid, specs[i].attempt);
			continue;
		}
		ok++;
	}
	if (ok == 0)
		goto out;
	/* Journaled before any spawn, with one fdatasync for the whole batch:
	 * after a crash each is an orphan, never started again. */
	rv = write_all(x->journal_fd, (const char *)text.data, text.len);
	if (rv == 0 && fdatasync(x->journal_fd) != 0)
		rv = -errno;
	if (rv != 0) {
		rv = err_set(x->errmsg, sizeof x->errmsg, ERR_IO, "append to journal '%s': %s",
			     x->journal_path, strerror(-rv));
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (procs[i] == NULL)
			continue;
		/* Room reserved above: cannot fail. */
		attempts_add(&x->known, specs[i].pid, specs[i].attempt, NULL);
		env = make_env(&specs[i], pid_var, sizeof pid_var, attempt_var, sizeof attempt_var);
		if (env == NULL) {
			/* Journaled but not spawned: an orphan of this life,
			 * reported lost by the reconciler (exec_known, not
			 * running). */
			free(procs[i]);
			procs[i] = NULL;
			results[i] =
				err_set(x->errmsg, sizeof x->errmsg, ERR_NOMEM,
					"start pid=%" PRIu64 " attempt=%" PRIu32 ": out of memory",
					specs[i].pid, specs[i].attempt);
			continue;
		}
		spawn_one(x, &specs[i], procs[i], env);
		procs[i] = NULL; /* owned by the executor now */
		free(env);
	}
out:
	if (procs != NULL)
		for (i = 0; i < n; i++)
			free(procs[i]);
	free(procs);
	buf_release(&text);
	return rv;
}

int exec_start(struct exec *x, const struct exec_spec *spec)
{
	int result = 0, rv = exec_start_many(x, spec, 1, &result);

	return rv != 0 ? rv : result;
}

int exec_signal(struct exec *x, uint64_t pid, uint32_t attempt, int signal)
{
	struct exec_proc *p = proc_find(x, pid, attempt);

	if (p == NULL)
		return err_set(x->errmsg, sizeof x->errmsg, ERR_NOTFOUND,
			       "signal pid=%" PRIu64 " attempt=%" PRIu32 ": not running", pid,
			       attempt);
	if (p->os_pid == 0)
		return 0; /* the spawn failed; its end is about to be reported */
	if (kill(-(pid_t)p->os_pid, signal) == 0 || errno == ESRCH)
		return 0;
	return err_set(x->errmsg, sizeof x->errmsg, errno == EINVAL ? ERR_INVALID : ERR_DENIED,
		       "signal %d pid=%" PRIu64 " attempt=%" PRIu32 " os_pid=%d: %s", signal, pid,
		       attempt, p->os_pid, strerror(errno));
}

void exec_foreach(struct exec *x, void (*cb)(void *arg, uint64_t pid, uint32_t attempt), void *arg)
{
	struct exec_proc *p, *next;

	for (p = x->procs; p != NULL; p = next) {
		next = p->next;
		if (!p->finished)
			cb(arg, p->pid, p->attempt);
	}
}

static void on_timer_closed(uv_handle_t *h)
{
	struct exec *x = h->data;

	x->timer_closed = true;
	maybe_closed(x);
}

void exec_close(struct exec *x, void (*cb)(struct exec *x))
{
	struct exec_proc *p;

	assert(!x->closing);
	x->closing = true;
	x->close_cb = cb;
	for (p = x->procs; p != NULL; p = p->next) {
		if (p->finished)
			continue;
		uv_timer_stop(&p->kill_timer);
		uv_timer_stop(&p->flush_timer);
		if (!p->exited) {
			/* The exit callback still comes (libuv reaps): only then
			 * may the process handle close (U2). */
			kill_group(p, SIGKILL);
		} else {
			stream_end(p, 0);
			stream_end(p, 1);
			maybe_finish(p);
		}
	}
	uv_close((uv_handle_t *)&x->timer, on_timer_closed);
}
