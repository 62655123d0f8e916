/*
 * Tests of agent/exec.h, the executor: real programs run through a real libuv
 * loop, one loop per test, polled with a wall-clock deadline. They check the
 * order of the callbacks (started, output..., exited), output chunking, exit
 * codes and signals, spawn failures, timeouts, the exact environment and
 * cwd, that children inherit only fds 0-2, that exec_close leaves no child
 * and no zombie, and the journal: an attempt is never run twice, and the
 * orphans of a crashed agent are found and killed at exec_init (but an
 * unrelated process with the same OS pid is not). Every test kills what it
 * starts.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <uv.h>

#include "agent/exec.h"
#include "common/error.h"
#include "common/log.h"
#include "tests/unit/agent/suites.h"

/* One callback as recorded. */
struct event {
	char type; /* 'S' started, 'O' output, 'X' exited */
	uint64_t pid;
	uint32_t attempt;
	uint64_t os_pid;
	int stream;
	uint64_t seq;
	char *data;
	size_t len;
	int exit_code;
	int signal;
};

/* The world of one test (Check runs each test in its own process). */
static struct {
	char dir[64];
	char journal[128];
	uv_loop_t loop;
	uv_timer_t tick; /* wakes uv_run up so deadlines are checked */
	struct exec x;
	struct logger lg;
	bool open;   /* x is initialized and not closed */
	bool closed; /* exec_close's callback ran */
	struct event *ev;
	size_t nev;
	size_t cap;
} t;

static const char *const default_env[] = {"PATH=/usr/bin:/bin", NULL};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct event *record(char type, uint64_t pid, uint32_t attempt)
{
	struct event *e;

	if (t.nev == t.cap) {
		t.cap = t.cap ? t.cap * 2 : 64;
		t.ev = realloc(t.ev, t.cap * sizeof *t.ev);
		ck_assert_ptr_nonnull(t.ev);
	}
	e = &t.ev[t.nev++];
	memset(e, 0, sizeof *e);
	e->type = type;
	e->pid = pid;
	e->attempt = attempt;
	return e;
}

static void on_started(void *arg, uint64_t pid, uint32_t attempt, uint64_t os_pid)
{
	record('S', pid, attempt)->os_pid = os_pid;
}

static void on_output(void *arg, uint64_t pid, uint32_t attempt, int stream, uint64_t seq,
		      const void *data, size_t len)
{
	struct event *e = record('O', pid, attempt);

	ck_assert_uint_gt(len, 0);
	ck_assert_uint_le(len, EXEC_CHUNK_MAX);
	e->stream = stream;
	e->seq = seq;
	e->len = len;
	e->data = malloc(len);
	ck_assert_ptr_nonnull(e->data);
	memcpy(e->data, data, len);
}

static void on_exited(void *arg, uint64_t pid, uint32_t attempt, int exit_code, int signal)
{
	struct event *e = record('X', pid, attempt);

	e->exit_code = exit_code;
	e->signal = signal;
}

static const struct exec_callbacks callbacks = {on_started, on_output, on_exited};

static void on_tick(uv_timer_t *timer)
{
}

/* Runs the loop until pred(arg) or `ms` have passed; returns pred(arg). */
static bool run_until(bool (*pred)(const void *arg), const void *arg, uint64_t ms)
{
	uint64_t deadline = now_ms() + ms;

	uv_timer_start(&t.tick, on_tick, 10, 10);
	while (!pred(arg) && now_ms() < deadline)
		uv_run(&t.loop, UV_RUN_ONCE);
	uv_timer_stop(&t.tick);
	return pred(arg);
}

static bool never(const void *arg)
{
	return false;
}

/* Runs the loop for `ms` whatever happens. */
static void run_for(uint64_t ms)
{
	run_until(never, NULL, ms);
}

static struct event *find(char type, uint64_t pid, uint32_t attempt)
{
	size_t i;

	for (i = 0; i < t.nev; i++) {
		if (t.ev[i].type == type && t.ev[i].pid == pid && t.ev[i].attempt == attempt)
			return &t.ev[i];
	}
	return NULL;
}

struct key {
	uint64_t pid;
	uint32_t attempt;
};

static bool has_exited(const void *arg)
{
	const struct key *k = arg;

	return find('X', k->pid, k->attempt) != NULL;
}

static bool has_started(const void *arg)
{
	const struct key *k = arg;

	return find('S', k->pid, k->attempt) != NULL;
}

static bool has_output(const void *arg)
{
	const struct key *k = arg;

	return find('O', k->pid, k->attempt) != NULL;
}

static struct event *wait_exit(uint64_t pid, uint32_t attempt, uint64_t ms)
{
	struct key k = {pid, attempt};

	ck_assert_msg(run_until(has_exited, &k, ms), "pid %llu attempt %u did not exit in %llu ms",
		      (unsigned long long)pid, attempt, (unsigned long long)ms);
	return find('X', pid, attempt);
}

static uint64_t wait_started(uint64_t pid, uint32_t attempt)
{
	struct key k = {pid, attempt};

	ck_assert_msg(run_until(has_started, &k, 5000), "pid %llu attempt %u did not start",
		      (unsigned long long)pid, attempt);
	return find('S', pid, attempt)->os_pid;
}

/* All of one stream's output of an attempt, NUL-terminated; checks that its
 * chunks have consecutive seqs from 0 and come between started (if any) and
 * exited. */
static char *output_of(uint64_t pid, uint32_t attempt, int stream, size_t *len)
{
	size_t i, n = 0, cap = 1;
	uint64_t seq = 0;
	bool exited = false;
	char *out = malloc(1);

	ck_assert_ptr_nonnull(out);
	for (i = 0; i < t.nev; i++) {
		struct event *e = &t.ev[i];

		if (e->pid != pid || e->attempt != attempt)
			continue;
		if (e->type == 'X')
			exited = true;
		if (e->type != 'O' || e->stream != stream)
			continue;
		ck_assert_msg(!exited, "output after exited");
		ck_assert_uint_eq(e->seq, seq);
		seq++;
		if (n + e->len + 1 > cap) {
			while (n + e->len + 1 > cap)
				cap *= 2;
			out = realloc(out, cap);
			ck_assert_ptr_nonnull(out);
		}
		memcpy(out + n, e->data, e->len);
		n += e->len;
	}
	out[n] = '\0';
	if (len != NULL)
		*len = n;
	return out;
}

static void start_env(uint64_t pid, uint32_t attempt, const char *const *argv,
		      const char *const *env, const char *cwd, uint64_t timeout_ms)
{
	struct exec_spec spec = {pid, attempt, argv, env, cwd, timeout_ms};
	int rv = exec_start(&t.x, &spec);

	ck_assert_msg(rv == 0, "exec_start: %s: %s", err_str(rv), t.x.errmsg);
}

static void start(uint64_t pid, uint32_t attempt, const char *const *argv)
{
	start_env(pid, attempt, argv, default_env, NULL, 0);
}

/* ---- /proc helpers ---- */

/* State letter and parent of OS process `pid`; 0 if it does not exist. */
static char proc_state(long pid, long *ppid)
{
	char path[64], buf[512], state = 0, *p;
	long pp = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof buf, f) != NULL && (p = strrchr(buf, ')')) != NULL &&
	    sscanf(p + 1, " %c %ld", &state, &pp) != 2)
		state = 0;
	fclose(f);
	if (ppid != NULL)
		*ppid = pp;
	return state;
}

/* True if OS process *arg is gone, or a zombie (of someone else). */
static bool os_process_gone(const void *arg)
{
	char s = proc_state(*(const long *)arg, NULL);

	return s == 0 || s == 'Z';
}

static void wait_gone(long pid)
{
	ck_assert_msg(run_until(os_process_gone, &pid, 5000), "os process %ld still alive", pid);
}

/* The number of live children of this process, and of zombie ones. */
static void count_children(int *live, int *zombies)
{
	struct dirent *d;
	DIR *dir = opendir("/proc");
	long ppid;
	char s;

	ck_assert_ptr_nonnull(dir);
	*live = *zombies = 0;
	while ((d = readdir(dir)) != NULL) {
		long pid = strtol(d->d_name, NULL, 10);

		if (pid <= 0)
			continue;
		s = proc_state(pid, &ppid);
		if (s == 0 || ppid != (long)getpid())
			continue;
		if (s == 'Z')
			(*zombies)++;
		else
			(*live)++;
	}
	closedir(dir);
}

/*
 * File descriptors this test process inherited (from make, the shell, Check)
 * are not the executor's: mark them close-on-exec, so that the fd test sees
 * exactly what the executor and libuv open. With `containing`, only the fds
 * whose target path contains it (Check without fork opens its message file
 * after the fixture's setup).
 */
static void cloexec_foreign_fds(const char *containing)
{
	char path[64], target[PATH_MAX];
	struct dirent *d;
	DIR *dir = opendir("/proc/self/fd");
	int fd, self;
	ssize_t n;

	ck_assert_ptr_nonnull(dir);
	self = dirfd(dir);
	while ((d = readdir(dir)) != NULL) {
		fd = atoi(d->d_name);
		if (fd <= 2 || fd == self)
			continue;
		if (containing != NULL) {
			snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
			n = readlink(path, target, sizeof target - 1);
			if (n < 0)
				continue;
			target[n] = '\0';
			if (strstr(target, containing) == NULL)
				continue;
		}
		fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
	}
	closedir(dir);
}

/* ---- the world ---- */

static void world_open_exec(struct exec_orphan **orphans, size_t *norphans)
{
	int rv = exec_init(&t.x, &t.loop, t.journal, &callbacks, NULL, &t.lg, orphans, norphans);

	ck_assert_msg(rv == 0, "exec_init: %s: %s", err_str(rv), t.x.errmsg);
	t.open = true;
	t.closed = false;
}

/* Creates the directory and the loop, not the executor. */
static void world_prepare(void)
{
	memset(&t, 0, sizeof t);
	logger_init(&t.lg, LOG_LEVEL_OFF);
	snprintf(t.dir, sizeof t.dir, "/tmp/logos-exec-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t.dir));
	snprintf(t.journal, sizeof t.journal, "%s/exec.journal", t.dir);
	cloexec_foreign_fds(NULL);
	ck_assert_int_eq(uv_loop_init(&t.loop), 0);
	uv_timer_init(&t.loop, &t.tick);
}

static void on_exec_closed(struct exec *x)
{
	t.closed = true;
}

static bool is_closed(const void *arg)
{
	return t.closed;
}

static void world_close_exec(void)
{
	if (!t.open)
		return;
	exec_close(&t.x, on_exec_closed);
	ck_assert_msg(!t.closed, "exec_close called back synchronously");
	ck_assert_msg(run_until(is_closed, NULL, 5000), "exec_close did not finish");
	t.open = false;
}

static void world_setup(void)
{
	world_prepare();
	world_open_exec(NULL, NULL);
}

static void world_teardown(void)
{
	char path[192];
	size_t i;

	world_close_exec();
	uv_close((uv_handle_t *)&t.tick, NULL);
	uv_run(&t.loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&t.loop), 0); /* every handle closed */
	unlink(t.journal);
	snprintf(path, sizeof path, "%s.tmp", t.journal);
	unlink(path);
	rmdir(t.dir);
	for (i = 0; i < t.nev; i++)
		free(t.ev[i].data);
	free(t.ev);
}

/* ---- running programs ---- */

START_TEST(test_exec_echo_reports_in_order)
{
	const char *argv[] = {"/bin/echo", "hello", NULL};

	start(1, 1, argv);
	ck_assert(exec_running(&t.x, 1, 1));
	ck_assert_uint_eq(t.nev, 0); /* nothing from inside exec_start */
	wait_exit(1, 1, 5000);
	ck_assert_uint_eq(t.nev, 3);
	ck_assert_int_eq(t.ev[0].type, 'S');
	ck_assert_uint_gt(t.ev[0].os_pid, 0);
	ck_assert_int_eq(t.ev[1].type, 'O');
	ck_assert_int_eq(t.ev[1].stream, 1);
	ck_assert_uint_eq(t.ev[1].seq, 0);
	ck_assert_uint_eq(t.ev[1].len, 6);
	ck_assert_mem_eq(t.ev[1].data, "hello\n", 6);
	ck_assert_int_eq(t.ev[2].type, 'X');
	ck_assert_int_eq(t.ev[2].exit_code, 0);
	ck_assert_int_eq(t.ev[2].signal, 0);
	ck_assert(!exec_running(&t.x, 1, 1));
	ck_assert(exec_known(&t.x, 1, 1));
}
END_TEST

START_TEST(test_exec_separates_stdout_and_stderr)
{
	const char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2", NULL};
	char *out, *err;

	start(1, 1, argv);
	wait_exit(1, 1, 5000);
	out = output_of(1, 1, 1, NULL);
	err = output_of(1, 1, 2, NULL);
	ck_assert_str_eq(out, "out\n");
	ck_assert_str_eq(err, "err\n");
	free(out);
	free(err);
}
END_TEST

START_TEST(test_exec_reports_exit_code)
{
	const char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};
	struct event *e;

	start(1, 1, argv);
	e = wait_exit(1, 1, 5000);
	ck_assert_int_eq(e->exit_code, 3);
	ck_assert_int_eq(e->signal, 0);
}
END_TEST

START_TEST(test_exec_signal_kills)
{
	const char *argv[] = {"/bin/sleep", "30", NULL};
	struct event *e;
	long os_pid;

	start(1, 1, argv);
	os_pid = (long)wait_started(1, 1);
	ck_assert_int_eq(exec_signal(&t.x, 1, 1, SIGTERM), 0);
	e = wait_exit(1, 1, 5000);
	ck_assert_int_eq(e->exit_code, -1);
	ck_assert_int_eq(e->signal, SIGTERM);
	ck_assert_int_eq(exec_signal(&t.x, 1, 1, SIGTERM), ERR_NOTFOUND);
	ck_assert_int_eq(exec_signal(&t.x, 2, 1, SIGTERM), ERR_NOTFOUND);
	ck_assert_int_eq(proc_state(os_pid, NULL), 0); /* reaped, not a zombie */
}
END_TEST

START_TEST(test_exec_signal_reaches_the_group)
{
	/* The shell waits for its child; SIGTERM to the group ends both. */
	const char *argv[] = {"/bin/sh", "-c", "/bin/sleep 30; echo after", NULL};
	struct event *e;
	char *out;

	start(1, 1, argv);
	wait_started(1, 1);
	run_for(100); /* let the shell start its sleep */
	ck_assert_int_eq(exec_signal(&t.x, 1, 1, SIGTERM), 0);
	e = wait_exit(1, 1, 5000);
	ck_assert_int_eq(e->signal, SIGTERM);
	out = output_of(1, 1, 1, NULL);
	ck_assert_str_eq(out, "");
	free(out);
}
END_TEST

START_TEST(test_exec_large_output_complete_in_order)
{
	const char *argv[] = {"/bin/sh", "-c", "head -c 10485760 /dev/zero | tr '\\0' a", NULL};
	size_t len, i, chunks = 0;
	struct event *e;
	char *out;

	start(1, 1, argv);
	e = wait_exit(1, 1, 30000);
	ck_assert_int_eq(e->exit_code, 0);
	out = output_of(1, 1, 1, &len); /* checks seqs are consecutive */
	ck_assert_uint_eq(len, 10485760);
	for (i = 0; i < len && out[i] == 'a'; i++)
		; /* not a ck_assert a byte: each one costs a write */
	ck_assert_uint_eq(i, len);
	for (i = 0; i < t.nev; i++)
		chunks += t.ev[i].type == 'O';
	ck_assert_uint_ge(chunks, 10485760 / EXEC_CHUNK_MAX);
	free(out);
}
END_TEST

START_TEST(test_exec_output_arrives_before_the_exit)
{
	const char *argv[] = {"/bin/sh", "-c", "echo first; sleep 2; echo second", NULL};
	struct key k = {1, 1};
	struct event *e;
	char *out;

	start(1, 1, argv);
	ck_assert(run_until(has_output, &k, 1500));
	ck_assert(exec_running(&t.x, 1, 1));
	ck_assert_ptr_null(find('X', 1, 1));
	e = find('O', 1, 1);
	ck_assert_uint_eq(e->len, 6);
	ck_assert_mem_eq(e->data, "first\n", 6);
	wait_exit(1, 1, 5000);
	out = output_of(1, 1, 1, NULL);
	ck_assert_str_eq(out, "first\nsecond\n");
	free(out);
}
END_TEST

START_TEST(test_exec_missing_program_exits_127)
{
	const char *argv[] = {"no-such-program-xyz", NULL};
	const char *msg = "logos: cannot run 'no-such-program-xyz': no such file or directory\n";

	start(1, 1, argv);
	ck_assert(exec_running(&t.x, 1, 1));
	wait_exit(1, 1, 5000);
	ck_assert_uint_eq(t.nev, 2); /* no started */
	ck_assert_int_eq(t.ev[0].type, 'O');
	ck_assert_int_eq(t.ev[0].stream, 2);
	ck_assert_uint_eq(t.ev[0].seq, 0);
	ck_assert_uint_eq(t.ev[0].len, strlen(msg));
	ck_assert_mem_eq(t.ev[0].data, msg, strlen(msg));
	ck_assert_int_eq(t.ev[1].type, 'X');
	ck_assert_int_eq(t.ev[1].exit_code, 127);
	ck_assert_int_eq(t.ev[1].signal, 0);
	ck_assert(exec_known(&t.x, 1, 1));
}
END_TEST

START_TEST(test_exec_missing_cwd_exits_127)
{
	const char *argv[] = {"/bin/true", NULL};
	char *err;

	start_env(1, 1, argv, default_env, "/nonexistent/dir", 0);
	ck_assert_int_eq(wait_exit(1, 1, 5000)->exit_code, 127);
	ck_assert_ptr_null(find('S', 1, 1));
	err = output_of(1, 1, 2, NULL);
	ck_assert_str_eq(err, "logos: cannot run '/bin/true' in '/nonexistent/dir': no such file "
			      "or directory\n");
	free(err);
}
END_TEST

START_TEST(test_exec_start_twice_exists)
{
	const char *argv[] = {"/bin/sleep", "30", NULL};
	struct exec_spec spec = {1, 1, argv, default_env, NULL, 0};

	start(1, 1, argv);
	ck_assert_int_eq(exec_start(&t.x, &spec), ERR_EXISTS);
	ck_assert_int_eq(exec_signal(&t.x, 1, 1, SIGKILL), 0);
	wait_exit(1, 1, 5000);
	ck_assert_int_eq(exec_start(&t.x, &spec), ERR_EXISTS);
	spec.attempt = 2; /* the next attempt is a different action */
	ck_assert_int_eq(exec_start(&t.x, &spec), 0);
	ck_assert_int_eq(exec_signal(&t.x, 1, 2, SIGKILL), 0);
	wait_exit(1, 2, 5000);
	ck_assert_uint_eq(t.nev, 4); /* started and exited, twice */
}
END_TEST

START_TEST(test_exec_timeout_terminates)
{
	const char *argv[] = {"/bin/sleep", "30", NULL};
	uint64_t t0 = uv_now(&t.loop); /* the timers' clock */
	struct event *e;

	start_env(1, 1, argv, default_env, NULL, 200);
	e = wait_exit(1, 1, 5000);
	ck_assert_int_eq(e->exit_code, -1);
	ck_assert_int_eq(e->signal, SIGTERM);
	ck_assert_uint_ge(uv_now(&t.loop) - t0, 200);
}
END_TEST

START_TEST(test_exec_timeout_kills_when_term_is_ignored)
{
	const char *argv[] = {"/bin/sh", "-c", "trap '' TERM; /bin/sleep 30", NULL};
	uint64_t t0 = uv_now(&t.loop); /* the timers' clock */
	struct event *e;

	start_env(1, 1, argv, default_env, NULL, 100);
	e = wait_exit(1, 1, 10000);
	ck_assert_int_eq(e->exit_code, -1);
	ck_assert_int_eq(e->signal, SIGKILL);
	ck_assert_uint_ge(uv_now(&t.loop) - t0, 5100); /* SIGTERM did not end it */
}
END_TEST

START_TEST(test_exec_env_is_exactly_the_given_one)
{
	const char *argv[] = {"/usr/bin/env", NULL};
	const char *env[] = {"PATH=/usr/bin:/bin", "FOO=bar baz", "LOGOS_PID=1", "LOGOS_ATTEMPT=1",
			     NULL};
	char *out;

	start_env(1, 1, argv, env, NULL, 0);
	ck_assert_int_eq(wait_exit(1, 1, 5000)->exit_code, 0);
	out = output_of(1, 1, 1, NULL);
	ck_assert_str_eq(out, "PATH=/usr/bin:/bin\nFOO=bar baz\nLOGOS_PID=1\nLOGOS_ATTEMPT=1\n");
	free(out);
}
END_TEST

START_TEST(test_exec_env_gets_the_logos_ids)
{
	const char *argv[] = {"/usr/bin/env", NULL};
	const char *env[] = {"A=1", "LOGOS_ATTEMPT=9", NULL};
	char *out;

	start_env(5, 2, argv, env, NULL, 0);
	wait_exit(5, 2, 5000);
	out = output_of(5, 2, 1, NULL);
	ck_assert_str_eq(out, "A=1\nLOGOS_ATTEMPT=2\nLOGOS_PID=5\n");
	free(out);
}
END_TEST

START_TEST(test_exec_cwd_is_honoured)
{
	const char *argv[] = {"/bin/pwd", NULL};
	char real[PATH_MAX + 1], *out;

	ck_assert_ptr_nonnull(realpath(t.dir, real));
	strcat(real, "\n");
	start_env(1, 1, argv, default_env, t.dir, 0);
	wait_exit(1, 1, 5000);
	out = output_of(1, 1, 1, NULL);
	ck_assert_str_eq(out, real);
	free(out);
}
END_TEST

START_TEST(test_exec_inherits_only_std_fds)
{
	/* The shell lists its own fds (ls's opendir is in ls, not in it). A
	 * second attempt is running meanwhile, so its pipes exist too, and so
	 * does the journal. */
	const char *sleeper[] = {"/bin/sleep", "30", NULL};
	const char *argv[] = {"/bin/sh", "-c", "ls /proc/$$/fd", NULL};
	char *out;

	cloexec_foreign_fds("/check_");
	start(1, 1, sleeper);
	wait_started(1, 1);
	start(2, 1, argv);
	wait_exit(2, 1, 5000);
	out = output_of(2, 1, 1, NULL);
	ck_assert_str_eq(out, "0\n1\n2\n");
	free(out);
	ck_assert_int_eq(exec_signal(&t.x, 1, 1, SIGKILL), 0);
	wait_exit(1, 1, 5000);
}
END_TEST

START_TEST(test_exec_grandchild_holding_the_pipe)
{
	/* The shell exits at once; its background sleep keeps stdout open. */
	const char *argv[] = {"/bin/sh", "-c", "/bin/sleep 30 & echo $!", NULL};
	uint64_t t0 = now_ms();
	struct event *e;
	long grandchild;
	char *out;

	start(1, 1, argv);
	e = wait_exit(1, 1, 5000);
	ck_assert_int_eq(e->exit_code, 0);
	ck_assert_uint_lt(now_ms() - t0, 3000);
	out = output_of(1, 1, 1, NULL);
	grandchild = atol(out);
	ck_assert_int_gt(grandchild, 0);
	free(out);
	wait_gone(grandchild); /* the rest of the group was killed */
}
END_TEST

START_TEST(test_exec_exited_comes_after_the_last_output)
{
	/* A descendant writes after the shell has exited, within the grace:
	 * its output still comes before exited. */
	const char *argv[] = {"/bin/sh", "-c", "(/bin/sleep 0.2; echo late) & exit 0", NULL};
	char *out;

	start(1, 1, argv);
	ck_assert_int_eq(wait_exit(1, 1, 5000)->exit_code, 0);
	out = output_of(1, 1, 1, NULL); /* fails on output after exited */
	ck_assert_str_eq(out, "late\n");
	free(out);
	ck_assert_int_eq(t.ev[t.nev - 1].type, 'X');
}
END_TEST

static void count(void *arg, uint64_t pid, uint32_t attempt)
{
	(*(int *)arg)++;
}

START_TEST(test_exec_foreach_lists_running)
{
	const char *argv[] = {"/bin/sleep", "30", NULL};
	int n = 0;

	start(1, 1, argv);
	start(2, 1, argv);
	exec_foreach(&t.x, count, &n);
	ck_assert_int_eq(n, 2);
	exec_signal(&t.x, 1, 1, SIGKILL);
	wait_exit(1, 1, 5000);
	n = 0;
	exec_foreach(&t.x, count, &n);
	ck_assert_int_eq(n, 1);
	exec_signal(&t.x, 2, 1, SIGKILL);
	wait_exit(2, 1, 5000);
}
END_TEST

START_TEST(test_exec_close_kills_children_without_zombies)
{
	const char *argv[] = {"/bin/sh", "-c", "/bin/sleep 30; /bin/sleep 30", NULL};
	long os_pid[3];
	int live, zombies, i;
	size_t nev;

	for (i = 0; i < 3; i++)
		start((uint64_t)i + 1, 1, argv);
	for (i = 0; i < 3; i++)
		os_pid[i] = (long)wait_started((uint64_t)i + 1, 1);
	run_for(100); /* the shells start their sleeps */
	nev = t.nev;
	world_close_exec();
	ck_assert_uint_eq(t.nev, nev); /* no callbacks once closing */
	count_children(&live, &zombies);
	ck_assert_int_eq(live, 0);
	ck_assert_int_eq(zombies, 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(proc_state(os_pid[i], NULL), 0);
}
END_TEST

START_TEST(test_exec_close_leaves_orphans_for_the_next_life)
{
	const char *sleeper[] = {"/bin/sleep", "30", NULL};
	const char *echo[] = {"/bin/echo", NULL};
	struct exec_spec spec = {3, 1, sleeper, default_env, NULL, 0};
	struct exec_orphan *orphans;
	size_t norphans;
	uint64_t os_pid;

	start(4, 1, echo);
	wait_exit(4, 1, 5000);
	start(3, 1, sleeper);
	os_pid = wait_started(3, 1);
	world_close_exec();

	world_open_exec(&orphans, &norphans);
	ck_assert_uint_eq(norphans, 1);
	ck_assert_uint_eq(orphans[0].pid, 3);
	ck_assert_uint_eq(orphans[0].attempt, 1);
	ck_assert_uint_eq(orphans[0].os_pid, os_pid);
	free(orphans);
	ck_assert(exec_known(&t.x, 3, 1));
	ck_assert(exec_known(&t.x, 4, 1));
	ck_assert(!exec_known(&t.x, 5, 1));
	ck_assert(!exec_running(&t.x, 3, 1));
	ck_assert_int_eq(exec_start(&t.x, &spec), ERR_EXISTS);

	/* Reported once: the compacted journal has no orphans any more. */
	world_close_exec();
	world_open_exec(&orphans, &norphans);
	ck_assert_uint_eq(norphans, 0);
	ck_assert_ptr_null(orphans);
	ck_assert(exec_known(&t.x, 3, 1));
}
END_TEST

/* ---- the journal across an agent crash ---- */

/* The "agent" of the crash test: starts `sleep 30` as pid 7 attempt 1,
 * reports its OS pid through `fd`, and dies without closing anything (sleep
 * 30: were the test to fail, the leftover goes away by itself). */
static void crashing_agent(int fd)
{
	const char *argv[] = {"/bin/sleep", "30", NULL};
	struct exec_spec spec = {7, 1, argv, default_env, NULL, 0};
	struct key k = {7, 1};
	uint64_t os_pid;

	/* No ck_assert here: a failure must not return into Check's runner. */
	if (uv_loop_init(&t.loop) != 0 || uv_timer_init(&t.loop, &t.tick) != 0 ||
	    exec_init(&t.x, &t.loop, t.journal, &callbacks, NULL, &t.lg, NULL, NULL) != 0 ||
	    exec_start(&t.x, &spec) != 0 || !run_until(has_started, &k, 5000))
		_exit(1);
	os_pid = find('S', 7, 1)->os_pid;
	if (write(fd, &os_pid, sizeof os_pid) != sizeof os_pid)
		_exit(1);
	_exit(0);
}

/* A fresh world whose journal an agent (a child process, forked before this
 * process has any loop: reliability.md U4) left behind when it died with
 * attempt 7/1 running; returns that attempt's OS pid, still alive. */
static uint64_t crash_an_agent(void)
{
	uint64_t os_pid = 0;
	int fds[2], status;
	pid_t child;

	memset(&t, 0, sizeof t);
	logger_init(&t.lg, LOG_LEVEL_OFF);
	snprintf(t.dir, sizeof t.dir, "/tmp/logos-exec-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t.dir));
	snprintf(t.journal, sizeof t.journal, "%s/exec.journal", t.dir);
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		close(fds[0]);
		crashing_agent(fds[1]);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &os_pid, sizeof os_pid), sizeof os_pid);
	close(fds[0]);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(proc_state((long)os_pid, NULL), 'S'); /* survived the crash */
	return os_pid;
}

/* Opens the executor on that journal: the orphan `os_pid` must be gone
 * within 5 s (killed by exec_init); its orphan records are returned. */
static void open_and_expect_orphan_killed(uint64_t os_pid, struct exec_orphan **orphans,
					  size_t *norphans)
{
	long gone = (long)os_pid;
	bool killed;

	ck_assert_int_eq(uv_loop_init(&t.loop), 0);
	uv_timer_init(&t.loop, &t.tick);
	world_open_exec(orphans, norphans);
	killed = run_until(os_process_gone, &gone, 5000);
	if (!killed)
		kill((pid_t)os_pid, SIGKILL); /* leave nothing behind, then fail */
	ck_assert_msg(killed, "orphan %ld still alive", gone);
}

START_TEST(test_exec_journal_kills_orphans_after_a_crash)
{
	const char *argv[] = {"/bin/sleep", "30", NULL};
	struct exec_spec spec = {7, 1, argv, default_env, NULL, 0};
	struct exec_orphan *orphans;
	uint64_t os_pid = crash_an_agent();
	size_t norphans;

	open_and_expect_orphan_killed(os_pid, &orphans, &norphans);
	ck_assert_uint_eq(norphans, 1);
	ck_assert_uint_eq(orphans[0].pid, 7);
	ck_assert_uint_eq(orphans[0].attempt, 1);
	ck_assert_uint_eq(orphans[0].os_pid, os_pid);
	free(orphans);
	ck_assert(exec_known(&t.x, 7, 1));
	ck_assert(!exec_running(&t.x, 7, 1));
	ck_assert_int_eq(exec_start(&t.x, &spec), ERR_EXISTS);
	world_teardown();
}
END_TEST

/* The R record is written without a sync: an agent that died before it was
 * on disk (a machine crash, or a crash between the spawn and the write)
 * leaves an orphan with no OS pid. It is still found, by its environment,
 * and stopped. */
START_TEST(test_exec_journal_kills_orphans_without_their_r_record)
{
	struct exec_orphan *orphans;
	uint64_t os_pid = crash_an_agent();
	size_t norphans;
	int fd;
	char line[] = "S 7 1\n";

	/* The journal as a crash before the R record leaves it. */
	fd = open(t.journal, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	close(fd);

	open_and_expect_orphan_killed(os_pid, &orphans, &norphans);
	ck_assert_uint_eq(norphans, 1);
	ck_assert_uint_eq(orphans[0].pid, 7);
	ck_assert_uint_eq(orphans[0].os_pid, 0);
	free(orphans);
	ck_assert(exec_known(&t.x, 7, 1));
	world_teardown();
}
END_TEST

/* exec_start_many journals the whole batch before the first spawn (one
 * sync), refuses repeats one by one, and runs the others. */
START_TEST(test_exec_start_many_journals_the_batch_first)
{
	const char *argv[] = {"/bin/sh", "-c", "echo $LOGOS_PID", NULL};
	struct exec_spec specs[4] = {
		{21, 1, argv, default_env, NULL, 0},
		{22, 1, argv, default_env, NULL, 0},
		{21, 1, argv, default_env, NULL, 0}, /* again, in the same batch */
		{23, 1, NULL, default_env, NULL, 0}, /* no argv */
	};
	int results[4] = {-1, -1, -1, -1};
	char buf[256], *out;
	ssize_t n;
	int fd;

	ck_assert_int_eq(exec_start_many(&t.x, specs, 4, results), 0);
	ck_assert_int_eq(results[0], 0);
	ck_assert_int_eq(results[1], 0);
	ck_assert_int_eq(results[2], ERR_EXISTS);
	ck_assert_int_eq(results[3], ERR_INVALID);
	ck_assert_uint_eq(t.nev, 0); /* nothing from inside the call */
	/* Both S records come before any R record. */
	fd = open(t.journal, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strncmp(buf, "S 21 1\nS 22 1\nR 21 1 ", 21) == 0, "journal: %s", buf);
	wait_exit(21, 1, 5000);
	wait_exit(22, 1, 5000);
	out = output_of(22, 1, 1, NULL);
	ck_assert_str_eq(out, "22\n");
	free(out);
	ck_assert(exec_known(&t.x, 21, 1));
	ck_assert(!exec_known(&t.x, 23, 1));
	ck_assert_int_eq(exec_start_many(&t.x, specs, 1, results), 0);
	ck_assert_int_eq(results[0], ERR_EXISTS);
}
END_TEST

static void on_unrelated_exit(uv_process_t *p, int64_t status, int sig)
{
	*(int *)p->data = sig;
}

static bool got_signal(const void *arg)
{
	return *(const int *)arg != 0;
}

START_TEST(test_exec_journal_spares_unrelated_processes)
{
	/* The journal claims pid 9 attempt 1 runs as this sleep's OS pid, but
	 * its environment names attempt 2: an OS pid reused by someone else. */
	char *argv[] = {"/bin/sleep", "30", NULL};
	char *env[] = {"LOGOS_PID=9", "LOGOS_ATTEMPT=2", NULL};
	/* Static: the handle is closed for good only in the teardown. */
	static uv_process_t process;
	static int sig;
	uv_process_options_t opts = {0};
	struct exec_orphan *orphans;
	size_t norphans;
	char line[64];
	bool spared;
	int fd;

	opts.exit_cb = on_unrelated_exit;
	opts.file = argv[0];
	opts.args = argv;
	opts.env = env;
	opts.flags = UV_PROCESS_DETACHED;
	ck_assert_int_eq(uv_spawn(&t.loop, &process, &opts), 0);
	process.data = &sig;
	snprintf(line, sizeof line, "S 9 1\nR 9 1 %d\n", process.pid);
	fd = open(t.journal, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	close(fd);

	world_open_exec(&orphans, &norphans);
	run_for(200);
	spared = sig == 0 && proc_state(process.pid, NULL) == 'S';
	uv_process_kill(&process, SIGKILL); /* before any assertion can fail */
	ck_assert(run_until(got_signal, &sig, 5000));
	uv_close((uv_handle_t *)&process, NULL);
	ck_assert_msg(spared, "the unrelated process was killed");
	ck_assert_int_eq(sig, SIGKILL);
	ck_assert_uint_eq(norphans, 1);
	ck_assert_uint_eq(orphans[0].os_pid, (uint64_t)process.pid);
	free(orphans);
}
END_TEST

START_TEST(test_exec_journal_skips_malformed_lines)
{
	const char *text = "K 1 1\nS 2 1\nxx\nE 3\nS 4 1\nE 4 1\nR 6 1 0\nS -1 2\n"
			   "S 8 99999999999\nE 2 1 5\nS 5 1";
	struct exec_orphan *orphans;
	size_t norphans;
	char buf[256];
	ssize_t n;
	int fd;

	fd = open(t.journal, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);

	world_open_exec(&orphans, &norphans);
	ck_assert_uint_eq(norphans, 1);
	ck_assert_uint_eq(orphans[0].pid, 2);
	ck_assert_uint_eq(orphans[0].attempt, 1);
	ck_assert_uint_eq(orphans[0].os_pid, 0);
	free(orphans);
	ck_assert(exec_known(&t.x, 1, 1));
	ck_assert(exec_known(&t.x, 2, 1));
	ck_assert(exec_known(&t.x, 4, 1));
	ck_assert(!exec_known(&t.x, 5, 1)); /* partial: it was never spawned */
	ck_assert(!exec_known(&t.x, 6, 1));

	/* Compacted to one K line per known attempt. */
	fd = open(t.journal, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_uint_eq(strlen(buf), strlen("K 1 1\nK 2 1\nK 4 1\n"));
	ck_assert_ptr_nonnull(strstr(buf, "K 1 1\n"));
	ck_assert_ptr_nonnull(strstr(buf, "K 2 1\n"));
	ck_assert_ptr_nonnull(strstr(buf, "K 4 1\n"));
}
END_TEST

START_TEST(test_exec_journal_records_before_and_after)
{
	const char *argv[] = {"/bin/sh", "-c", "exit 0", NULL};
	char buf[256], want[128];
	ssize_t n;
	uint64_t os_pid;
	int fd;

	start(11, 2, argv);
	/* S is on disk before anything ran (exec_start returned). */
	fd = open(t.journal, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof buf - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "S 11 2\n"));
	os_pid = wait_started(11, 2);
	wait_exit(11, 2, 5000);
	n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	buf[n] = '\0';
	snprintf(want, sizeof want, "S 11 2\nR 11 2 %llu\nE 11 2\n", (unsigned long long)os_pid);
	ck_assert_str_eq(buf, want);
}
END_TEST

Suite *exec_suite(void)
{
	Suite *s = suite_create("exec");
	TCase *tc = tcase_create("run");
	TCase *slow = tcase_create("slow");
	TCase *journal = tcase_create("journal");
	TCase *crash = tcase_create("crash");

	tcase_add_checked_fixture(tc, world_setup, world_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_exec_echo_reports_in_order);
	tcase_add_test(tc, test_exec_separates_stdout_and_stderr);
	tcase_add_test(tc, test_exec_reports_exit_code);
	tcase_add_test(tc, test_exec_signal_kills);
	tcase_add_test(tc, test_exec_signal_reaches_the_group);
	tcase_add_test(tc, test_exec_large_output_complete_in_order);
	tcase_add_test(tc, test_exec_output_arrives_before_the_exit);
	tcase_add_test(tc, test_exec_missing_program_exits_127);
	tcase_add_test(tc, test_exec_missing_cwd_exits_127);
	tcase_add_test(tc, test_exec_start_twice_exists);
	tcase_add_test(tc, test_exec_timeout_terminates);
	tcase_add_test(tc, test_exec_env_is_exactly_the_given_one);
	tcase_add_test(tc, test_exec_env_gets_the_logos_ids);
	tcase_add_test(tc, test_exec_cwd_is_honoured);
	tcase_add_test(tc, test_exec_inherits_only_std_fds);
	tcase_add_test(tc, test_exec_grandchild_holding_the_pipe);
	tcase_add_test(tc, test_exec_exited_comes_after_the_last_output);
	tcase_add_test(tc, test_exec_foreach_lists_running);
	tcase_add_test(tc, test_exec_close_kills_children_without_zombies);
	tcase_add_test(tc, test_exec_close_leaves_orphans_for_the_next_life);
	tcase_add_test(tc, test_exec_journal_records_before_and_after);
	tcase_add_test(tc, test_exec_start_many_journals_the_batch_first);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(slow, world_setup, world_teardown);
	tcase_set_timeout(slow, 30);
	tcase_add_test(slow, test_exec_timeout_kills_when_term_is_ignored);
	suite_add_tcase(s, slow);

	/* These write the journal before exec_init. */
	tcase_add_checked_fixture(journal, world_prepare, world_teardown);
	tcase_set_timeout(journal, 30);
	tcase_add_test(journal, test_exec_journal_spares_unrelated_processes);
	tcase_add_test(journal, test_exec_journal_skips_malformed_lines);
	suite_add_tcase(s, journal);

	/* No fixture: it forks before creating its loop. */
	tcase_set_timeout(crash, 30);
	tcase_add_test(crash, test_exec_journal_kills_orphans_after_a_crash);
	tcase_add_test(crash, test_exec_journal_kills_orphans_without_their_r_record);
	suite_add_tcase(s, crash);
	return s;
}
