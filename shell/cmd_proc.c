/*
 * The process commands: run, ps, logs, wait, kill (DESIGN §1, §6).
 *
 * `run` and `logs -f` share one streaming engine: for each process two
 * follows, GET /v1/procs/{pid}/output?follow=1&stream=stdout|stderr, run
 * side by side on a curl multi handle, so that stdout and stderr reach the
 * terminal live and apart. A follow ends when its attempt ends; the engine
 * then reads the process and either has its final state, or follows the next
 * attempt (restart policies), or waits for the state to settle.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "shell/internal.h"

#define PS_AGE_MAX 200 /* rows of `ps` whose age is looked up */

/* Writes all of `p` to `fd`; errors (a closed pipe) are ignored: the
 * program's fate, not ours, decides the exit code. */
static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* ---- The streaming engine --------------------------------------------- */

struct job;

struct stream {
	struct job *job;
	int fd; /* 1 or 2: where its bytes go, and which stream it is */
	CURL *easy;
	bool active;
	char *part; /* an incomplete line, when lines are prefixed */
	size_t partlen;
	char attempt[24]; /* X-Logos-Attempt of the follow */
	char errbuf[CURL_ERROR_SIZE];
};

struct job {
	uint64_t pid;
	char node[128]; /* the line prefix, with --all or --count */
	uint32_t attempt;
	struct stream s[2];
	bool done;
	int code;
	struct timespec recheck; /* not final yet: read the state again then */
	bool waiting;
};

struct engine {
	struct ctx *x;
	CURLM *multi;
	struct job *jobs;
	size_t n;
	bool prefix;     /* --all: "node: line"; --count: "node/pid: line" */
	bool streams[2]; /* follow stdout, stderr */
	bool forward;    /* run: Ctrl-C forwards SIGINT to the processes */
	int failed;      /* a transport or API error (printed) */
};

static void stream_emit(struct stream *s, const char *p, size_t n)
{
	struct job *j = s->job;
	const char *nl;

	if (j->node[0] == '\0') {
		write_all(s->fd, p, n);
		return;
	}
	/* Prefixed: whole lines only, the last partial one kept. */
	while (n > 0 && (nl = memchr(p, '\n', n)) != NULL) {
		size_t len = (size_t)(nl - p) + 1;

		write_all(s->fd, j->node, strlen(j->node));
		write_all(s->fd, ": ", 2);
		write_all(s->fd, s->part, s->partlen);
		write_all(s->fd, p, len);
		s->partlen = 0;
		p += len;
		n -= len;
	}
	if (n > 0) {
		char *np = realloc(s->part, s->partlen + n);

		if (np == NULL)
			return;
		s->part = np;
		memcpy(s->part + s->partlen, p, n);
		s->partlen += n;
	}
}

static void stream_flush(struct stream *s)
{
	if (s->partlen > 0)
		stream_emit(s, "\n", 1);
}

static size_t on_stream_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct stream *s = arg;
	long status = 0;

	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return size * nmemb; /* an error body: not output */
	stream_emit(s, p, size * nmemb);
	return size * nmemb;
}

static size_t on_stream_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct stream *s = arg;
	size_t n = size * nmemb;

	if (n > 16 && strncasecmp(p, "x-logos-attempt:", 16) == 0)
		snprintf(s->attempt, sizeof s->attempt, "%.*s", (int)(n - 16), p + 16);
	return n;
}

static int stream_start(struct engine *e, struct stream *s)
{
	char url[700];

	if (s->easy == NULL)
		s->easy = curl_easy_init();
	if (s->easy == NULL) {
		fprintf(stderr, "logos: out of memory\n");
		return EXIT_FAIL;
	}
	curl_easy_reset(s->easy);
	if (s->job->attempt > 0)
		snprintf(url, sizeof url,
			 "%s/v1/procs/%" PRIu64 "/output?follow=1&stream=%s&attempt=%" PRIu32,
			 e->x->cl.base, s->job->pid, s->fd == 1 ? "stdout" : "stderr",
			 s->job->attempt);
	else
		snprintf(url, sizeof url, "%s/v1/procs/%" PRIu64 "/output?follow=1&stream=%s",
			 e->x->cl.base, s->job->pid, s->fd == 1 ? "stdout" : "stderr");
	s->attempt[0] = '\0';
	s->errbuf[0] = '\0';
	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_stream_data);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, on_stream_header);
	curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->easy, CURLOPT_USERAGENT, "logos/" PACKAGE_VERSION);
	if (curl_multi_add_handle(e->multi, s->easy) != CURLM_OK) {
		fprintf(stderr, "logos: cannot start the output stream of pid %" PRIu64 "\n",
			s->job->pid);
		return EXIT_FAIL;
	}
	s->active = true;
	return 0;
}

static int job_start(struct engine *e, struct job *j)
{
	int i, rv;

	j->waiting = false;
	for (i = 0; i < 2; i++) {
		if (!e->streams[i])
			continue;
		rv = stream_start(e, &j->s[i]);
		if (rv != 0)
			return rv;
	}
	return 0;
}

static void later(struct timespec *t, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_nsec += ms * 1000000L;
	t->tv_sec += t->tv_nsec / 1000000000L;
	t->tv_nsec %= 1000000000L;
}

static bool passed(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Both follows of `j` ended: final state, the next attempt, or wait. */
static int job_check(struct engine *e, struct job *j)
{
	char path[64];
	json_t *p;
	uint32_t attempt;
	int rv;

	snprintf(path, sizeof path, "/v1/procs/%" PRIu64, j->pid);
	rv = client_json(&e->x->cl, "GET", path, NULL, &p);
	if (rv != 0)
		return rv;
	attempt = (uint32_t)jint(p, "attempt", 0);
	if (proc_state_is_final(jstr(p, "state", ""))) {
		j->done = true;
		j->code = proc_exit_code(p);
		if (strcmp(jstr(p, "state", ""), "lost") == 0)
			fprintf(stderr, "logos: process %" PRIu64 " was lost (its node failed)\n",
				j->pid);
	} else if (attempt > j->attempt && j->attempt > 0) {
		/* Restarted: follow the next attempt from its first byte. */
		j->attempt++;
		rv = job_start(e, j);
	} else if (attempt > j->attempt) {
		j->attempt = attempt;
		rv = job_start(e, j);
	} else {
		j->waiting = true;
		later(&j->recheck, 300);
	}
	json_decref(p);
	return rv;
}

static void forward_interrupt(struct engine *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		char path[64];
		json_t *body, *r = NULL;

		if (e->jobs[i].done)
			continue;
		snprintf(path, sizeof path, "/v1/procs/%" PRIu64 "/kill", e->jobs[i].pid);
		body = json_pack("{s:s}", "signal", "INT");
		/* client_interrupted is set: lift it for the kill request itself. */
		client_interrupt_reset();
		if (client_json(&e->x->cl, "POST", path, body, &r) == 0)
			fprintf(stderr,
				"logos: sent SIGINT to process %" PRIu64
				" (Ctrl-C again to stop waiting for it)\n",
				e->jobs[i].pid);
		client_interrupted = 1;
		json_decref(body);
		json_decref(r);
	}
}

/* Streams until every job is done. Returns 0, or an exit code. */
static int engine_run(struct engine *e)
{
	bool forwarded = false;
	size_t i, left;
	int k, rv = 0;

	e->multi = curl_multi_init();
	if (e->multi == NULL) {
		fprintf(stderr, "logos: out of memory\n");
		return EXIT_FAIL;
	}
	for (i = 0; i < e->n && rv == 0; i++)
		rv = job_start(e, &e->jobs[i]);
	while (rv == 0) {
		CURLMsg *m;
		int running, queued;

		for (left = 0, i = 0; i < e->n; i++)
			left += !e->jobs[i].done;
		if (left == 0)
			break;
		if (client_interrupted >= 2 || (client_interrupted >= 1 && !e->forward)) {
			rv = EXIT_INTERRUPTED;
			break;
		}
		if (client_interrupted == 1 && !forwarded) {
			forwarded = true;
			forward_interrupt(e);
		}
		curl_multi_perform(e->multi, &running);
		while ((m = curl_multi_info_read(e->multi, &queued)) != NULL) {
			struct stream *s;
			long status = 0;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			curl_multi_remove_handle(e->multi, m->easy_handle);
			s->active = false;
			if (m->data.result != CURLE_OK) {
				fprintf(stderr,
					"logos: lost the output stream of process %" PRIu64
					" from %s: %s\n",
					s->job->pid, e->x->cl.base,
					s->errbuf[0] ? s->errbuf
						     : curl_easy_strerror(m->data.result));
				rv = EXIT_FAIL;
				break;
			}
			if (s->attempt[0] != '\0' && s->job->attempt == 0)
				s->job->attempt = (uint32_t)strtoul(s->attempt, NULL, 10);
			(void)status;
		}
		for (i = 0; i < e->n && rv == 0; i++) {
			struct job *j = &e->jobs[i];

			if (j->done || j->s[0].active || j->s[1].active)
				continue;
			if (j->waiting && !passed(&j->recheck))
				continue;
			for (k = 0; k < 2; k++)
				stream_flush(&j->s[k]);
			rv = job_check(e, j);
		}
		if (rv == 0)
			curl_multi_poll(e->multi, NULL, 0, 100, NULL);
	}
	for (i = 0; i < e->n; i++)
		for (k = 0; k < 2; k++) {
			struct stream *s = &e->jobs[i].s[k];

			if (s->easy != NULL) {
				if (s->active)
					curl_multi_remove_handle(e->multi, s->easy);
				curl_easy_cleanup(s->easy);
			}
			free(s->part);
		}
	curl_multi_cleanup(e->multi);
	return rv;
}

static void on_sigint(int sig)
{
	(void)sig;
	if (client_interrupted < 2)
		client_interrupted++;
}

/* Installs the counting SIGINT handler (not restarting system calls) for
 * the streams; `old` receives the previous one. */
static void sigint_catch(struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, old);
}

/* With `prefix`, each job's lines are prefixed by its node's name, and with
 * `with_pid` by "node/pid" (several copies on one node). */
static struct job *jobs_new(struct ctx *x, json_t *pids, bool prefix, bool with_pid, size_t *n)
{
	struct job *jobs = calloc(json_array_size(pids) + 1, sizeof *jobs);
	json_t *v;
	size_t i;

	if (jobs == NULL)
		return NULL;
	json_array_foreach(pids, i, v)
	{
		struct job *j = &jobs[i];

		j->pid = (uint64_t)json_integer_value(v);
		j->s[0].job = j->s[1].job = j;
		j->s[0].fd = 1;
		j->s[1].fd = 2;
		if (prefix) {
			char path[64];
			json_t *p;

			snprintf(path, sizeof path, "/v1/procs/%" PRIu64, j->pid);
			if (client_json(&x->cl, "GET", path, NULL, &p) == 0) {
				if (with_pid)
					snprintf(j->node, sizeof j->node, "%.100s/%" PRIu64,
						 jstr(p, "node", "?"), j->pid);
				else
					snprintf(j->node, sizeof j->node, "%s",
						 jstr(p, "node", "?"));
				json_decref(p);
			} else {
				snprintf(j->node, sizeof j->node, "%" PRIu64, j->pid);
			}
		}
	}
	*n = json_array_size(pids);
	return jobs;
}

/* ---- run -------------------------------------------------------------- */

int cmd_run(struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{"on", required_argument, NULL, 'o'},      {"all", no_argument, NULL, 'a'},
		{"restart", required_argument, NULL, 'r'}, {"key", required_argument, NULL, 'k'},
		{"env", required_argument, NULL, 'e'},     {"cwd", required_argument, NULL, 'c'},
		{"timeout", required_argument, NULL, 't'}, {"detach", no_argument, NULL, 'd'},
		{"count", required_argument, NULL, 'n'},   {NULL, 0, NULL, 0},
	};
	json_t *req = json_object(), *env = json_object(), *args = json_array(), *res = NULL;
	const char *on = NULL;
	bool all = false, detach = false, many;
	long count = 1;
	struct engine e;
	struct sigaction old;
	int c, i, rv = EXIT_USAGE;
	size_t k;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			on = optarg;
			break;
		case 'a':
			all = true;
			break;
		case 'r':
			json_object_set_new(req, "restart", json_string(optarg));
			break;
		case 'k':
			json_object_set_new(req, "key", json_string(optarg));
			break;
		case 'e': {
			char *eq = strchr(optarg, '=');

			if (eq == NULL || eq == optarg) {
				rv = usage_error(argv[0], "--env takes NAME=VALUE, not '%s'",
						 optarg);
				goto out;
			}
			*eq = '\0';
			json_object_set_new(env, optarg, json_string(eq + 1));
			*eq = '=';
			break;
		}
		case 'c':
			json_object_set_new(req, "cwd", json_string(optarg));
			break;
		case 't': {
			char *end;
			double s = strtod(optarg, &end);

			if (*end != '\0' || end == optarg || s < 0) {
				rv = usage_error(argv[0], "--timeout takes seconds, not '%s'",
						 optarg);
				goto out;
			}
			json_object_set_new(req, "timeout", json_real(s));
			break;
		}
		case 'd':
			detach = true;
			break;
		case 'n': {
			char *end;

			errno = 0;
			count = strtol(optarg, &end, 10);
			if (*end != '\0' || end == optarg || errno != 0 || count < 1 ||
			    count > 10000) {
				rv = usage_error(argv[0],
						 "--count takes a number from 1 to 10000, not '%s'",
						 optarg);
				goto out;
			}
			break;
		}
		default:
			rv = usage_error(argv[0], "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind >= argc) {
		rv = usage_error(argv[0], "no program to run (put it after --)");
		goto out;
	}
	if (on != NULL && all) {
		rv = usage_error(argv[0], "--on and --all exclude each other");
		goto out;
	}
	if (all && count > 1) {
		rv = usage_error(argv[0], "--count and --all exclude each other");
		goto out;
	}
	/* Several processes: lines are prefixed, any failure is exit 1. */
	many = all || count > 1;
	for (i = optind; i < argc; i++)
		json_array_append_new(args, json_string(argv[i]));
	json_object_set(req, "argv", args);
	if (json_object_size(env) > 0)
		json_object_set(req, "env", env);
	if (on != NULL)
		json_object_set_new(req, "node", json_string(on));
	if (all)
		json_object_set_new(req, "placement", json_string("all"));
	if (count > 1)
		json_object_set_new(req, "count", json_integer(count));

	if (x->json && !detach) {
		/* One document at the end: the submit's ?wait=1 reply. */
		char *text = json_dumps(req, JSON_COMPACT);
		struct reply r;
		json_t *p;

		rv = client_request(&x->cl, "POST", "/v1/procs?wait=1", text, strlen(text),
				    "application/json", NULL, 0, &r);
		free(text);
		if (rv != 0)
			goto out;
		if (r.status != 200) {
			rv = client_api_error(&x->cl, &r);
			reply_free(&r);
			goto out;
		}
		res = json_loadb(r.body, r.len, 0, NULL);
		reply_free(&r);
		print_json(res);
		rv = 0;
		json_array_foreach(json_object_get(res, "procs"), k, p)
		{
			int code = proc_exit_code(p);

			if (code != 0)
				rv = many ? EXIT_FAIL : code;
		}
		goto out;
	}
	rv = client_json(&x->cl, "POST", "/v1/procs", req, &res);
	if (rv != 0)
		goto out;
	if (detach) {
		json_t *v;

		if (x->json) {
			print_json(res);
		} else {
			json_array_foreach(json_object_get(res, "pids"), k, v)
				printf("%lld\n", (long long)json_integer_value(v));
		}
		rv = EXIT_OK;
		goto out;
	}
	memset(&e, 0, sizeof e);
	e.x = x;
	e.prefix = many;
	e.streams[0] = e.streams[1] = true;
	e.forward = true;
	e.jobs = jobs_new(x, json_object_get(res, "pids"), many, count > 1, &e.n);
	if (e.jobs == NULL) {
		rv = EXIT_FAIL;
		goto out;
	}
	client_interrupt_reset();
	sigint_catch(&old);
	rv = engine_run(&e);
	sigaction(SIGINT, &old, NULL);
	if (rv == 0) {
		for (k = 0; k < e.n; k++)
			if (e.jobs[k].code != 0)
				rv = many ? EXIT_FAIL : e.jobs[k].code;
	}
	if (rv == EXIT_INTERRUPTED && x->interactive)
		client_interrupt_reset();
	free(e.jobs);
out:
	json_decref(req);
	json_decref(env);
	json_decref(args);
	json_decref(res);
	return rv;
}

/* ---- ps --------------------------------------------------------------- */

static void argv_line(const json_t *argv, char *out, size_t cap)
{
	size_t i, o = 0;
	json_t *v;

	out[0] = '\0';
	json_array_foreach(argv, i, v)
	{
		int n = snprintf(out + o, cap - o, "%s%s", i > 0 ? " " : "",
				 json_is_string(v) ? json_string_value(v) : "?");

		if (n < 0 || (size_t)n >= cap - o) {
			if (cap > 4)
				strcpy(out + cap - 4, "...");
			return;
		}
		o += (size_t)n;
	}
}

int cmd_ps(struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {{"all", no_argument, NULL, 'a'}, {NULL, 0, NULL, 0}};
	bool all = false;
	json_t *j, *procs, *keep, *p;
	struct table t;
	size_t i;
	int c, rv;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "a", opts, NULL)) != -1) {
		if (c != 'a')
			return usage_error(argv[0], "unknown option '%s'", argv[optind - 1]);
		all = true;
	}
	if (optind < argc)
		return usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
	rv = client_json(&x->cl, "GET", "/v1/procs", NULL, &j);
	if (rv != 0)
		return rv;
	procs = json_object_get(j, "procs");
	keep = json_array();
	json_array_foreach(procs, i, p)
	{
		const char *st = jstr(p, "state", "");

		if (all || strcmp(st, "pending") == 0 || strcmp(st, "running") == 0)
			json_array_append(keep, p);
	}
	json_object_set_new(j, "procs", keep);
	if (x->json) {
		print_json(j);
		json_decref(j);
		return EXIT_OK;
	}
	table_init(&t, 7, "PID", "NODE", "STATE", "ATTEMPT", "EXIT", "AGE", "COMMAND");
	json_array_foreach(keep, i, p)
	{
		char pid[24], att[16], code[24], age[16] = "-", cmd[80], path[64];
		json_t *full;

		snprintf(pid, sizeof pid, "%lld", jint(p, "pid", 0));
		snprintf(att, sizeof att, "%lld", jint(p, "attempt", 0));
		if (jint(p, "signal", 0) > 0)
			snprintf(code, sizeof code, "sig %lld", jint(p, "signal", 0));
		else if (json_is_integer(json_object_get(p, "exit_code")))
			snprintf(code, sizeof code, "%lld", jint(p, "exit_code", 0));
		else
			snprintf(code, sizeof code, "-");
		/* The list has no times; the process itself has (few rows). */
		if (i < PS_AGE_MAX) {
			snprintf(path, sizeof path, "/v1/procs/%s", pid);
			if (client_json(&x->cl, "GET", path, NULL, &full) == 0) {
				format_age((uint64_t)jint(full, "submitted_ms", 0), age,
					   sizeof age);
				json_decref(full);
			}
		}
		argv_line(json_object_get(p, "argv"), cmd, sizeof cmd);
		table_row(&t, pid, jstr(p, "node", "-"), jstr(p, "state", "?"), att, code, age,
			  cmd);
	}
	table_print(&t, stdout);
	table_release(&t);
	json_decref(j);
	return EXIT_OK;
}

/* ---- logs ------------------------------------------------------------- */

static bool parse_pid(const char *s, uint64_t *pid)
{
	return parse_u64(s, pid) && *pid > 0;
}

/* GET the whole output of one stream into `r` (2xx checked). */
static int output_get(struct ctx *x, uint64_t pid, const char *stream, struct reply *r)
{
	char path[96];
	int rv;

	snprintf(path, sizeof path, "/v1/procs/%" PRIu64 "/output?stream=%s", pid, stream);
	rv = client_request(&x->cl, "GET", path, NULL, 0, NULL, NULL, -1, r);
	if (rv != 0)
		return rv;
	if (r->status != 200) {
		rv = client_api_error(&x->cl, r);
		reply_free(r);
	}
	return rv;
}

static json_t *bytes_json(const char *p, size_t n)
{
	json_t *s = json_stringn(p != NULL ? p : "", n);

	return s != NULL ? s : json_string("");
}

int cmd_logs(struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{"follow", no_argument, NULL, 'f'},
		{"stdout", no_argument, NULL, 'o'},
		{"stderr", no_argument, NULL, 'e'},
		{NULL, 0, NULL, 0},
	};
	bool follow = false, want[2] = {false, false};
	uint64_t pid;
	int c, i, rv = 0;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		if (c == 'f')
			follow = true;
		else if (c == 'o')
			want[0] = true;
		else if (c == 'e')
			want[1] = true;
		else
			return usage_error(argv[0], "unknown option '%s'", argv[optind - 1]);
	}
	if (optind + 1 != argc)
		return usage_error(argv[0], "logs takes one pid");
	if (!parse_pid(argv[optind], &pid))
		return usage_error(argv[0], "'%s' is not a pid", argv[optind]);
	if (!want[0] && !want[1])
		want[0] = want[1] = true;
	if (follow && x->cl.at[0] != '\0')
		return usage_error(argv[0], "-f follows live output, not the past ('at')");
	if (follow && !x->json) {
		struct engine e;
		struct sigaction old;
		json_t *pids = json_pack("[I]", (json_int_t)pid);

		memset(&e, 0, sizeof e);
		e.x = x;
		e.streams[0] = want[0];
		e.streams[1] = want[1];
		e.jobs = jobs_new(x, pids, false, false, &e.n);
		json_decref(pids);
		if (e.jobs == NULL)
			return EXIT_FAIL;
		client_interrupt_reset();
		sigint_catch(&old);
		rv = engine_run(&e);
		sigaction(SIGINT, &old, NULL);
		free(e.jobs);
		return rv;
	}
	if (x->json) {
		json_t *j = json_object();

		json_object_set_new(j, "pid", json_integer((json_int_t)pid));
		for (i = 0; i < 2 && rv == 0; i++) {
			struct reply r;

			if (!want[i])
				continue;
			rv = output_get(x, pid, i == 0 ? "stdout" : "stderr", &r);
			if (rv == 0) {
				json_object_set_new(j, i == 0 ? "stdout" : "stderr",
						    bytes_json(r.body, r.len));
				reply_free(&r);
			}
		}
		if (rv == 0)
			print_json(j);
		json_decref(j);
		return rv;
	}
	for (i = 0; i < 2 && rv == 0; i++) {
		struct reply r;

		if (!want[i])
			continue;
		rv = output_get(x, pid, i == 0 ? "stdout" : "stderr", &r);
		if (rv == 0) {
			write_all(i == 0 ? 1 : 2, r.body != NULL ? r.body : "", r.len);
			reply_free(&r);
		}
	}
	return rv;
}

/* ---- wait ------------------------------------------------------------- */

int cmd_wait(struct ctx *x, int argc, char **argv)
{
	char path[64], wpath[96];
	uint64_t pid, index = 0;
	json_t *p, *st;
	int rv;

	if (argc != 2)
		return usage_error(argv[0], "wait takes one pid");
	if (!parse_pid(argv[1], &pid))
		return usage_error(argv[0], "'%s' is not a pid", argv[1]);
	rv = client_json(&x->cl, "GET", "/v1/status", NULL, &st);
	if (rv != 0)
		return rv;
	index = (uint64_t)jint(st, "applied_index", 0);
	json_decref(st);
	snprintf(path, sizeof path, "/v1/procs/%" PRIu64, pid);
	for (;;) {
		struct reply r;

		rv = client_json(&x->cl, "GET", path, NULL, &p);
		if (rv != 0)
			return rv;
		if (proc_state_is_final(jstr(p, "state", ""))) {
			rv = proc_exit_code(p);
			if (x->json)
				print_json(p);
			json_decref(p);
			return rv;
		}
		json_decref(p);
		/* Block until the log moves past what we read (DESIGN §6 watch). */
		snprintf(wpath, sizeof wpath, "/v1/watch?index=%" PRIu64 "&timeout=30", index);
		rv = client_request(&x->cl, "GET", wpath, NULL, 0, NULL, NULL, 45, &r);
		if (rv != 0)
			return rv;
		if (r.status == 200) {
			json_t *w = json_loadb(r.body, r.len, 0, NULL);

			index = (uint64_t)jint(w, "index", (long long)index);
			json_decref(w);
		} else {
			usleep(200000);
		}
		reply_free(&r);
	}
}

/* ---- kill ------------------------------------------------------------- */

int cmd_kill(struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {{"signal", required_argument, NULL, 's'},
					     {NULL, 0, NULL, 0}};
	const char *sig = "TERM";
	char path[64];
	uint64_t pid, num;
	json_t *body, *r;
	int c, rv;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
		if (c != 's')
			return usage_error(argv[0], "unknown option or missing value: '%s'",
					   argv[optind - 1]);
		sig = optarg;
	}
	if (optind + 1 != argc)
		return usage_error(argv[0], "kill takes one pid");
	if (!parse_pid(argv[optind], &pid))
		return usage_error(argv[0], "'%s' is not a pid", argv[optind]);
	if (parse_u64(sig, &num))
		body = json_pack("{s:I}", "signal", (json_int_t)num);
	else
		body = json_pack("{s:s}", "signal", sig);
	snprintf(path, sizeof path, "/v1/procs/%" PRIu64 "/kill", pid);
	rv = client_json(&x->cl, "POST", path, body, &r);
	json_decref(body);
	if (rv != 0)
		return rv;
	if (x->json)
		print_json(r);
	else
		printf("sent %s%s to process %" PRIu64 " (index %lld)\n",
		       parse_u64(sig, &num) || strncasecmp(sig, "SIG", 3) == 0 ? "" : "SIG", sig,
		       pid, jint(r, "index", 0));
	json_decref(r);
	return EXIT_OK;
}
