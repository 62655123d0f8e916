/*
 * logos step NAME -- PROGRAM [ARGS...]: a durable step (DESIGN §5). Inside a
 * program started by logos (LOGOS_PID, LOGOS_ATTEMPT and LOGOS_ADDR in its
 * environment), the step runs PROGRAM once: GET /v1/procs/{pid}/steps/{name}
 * tells whether an earlier attempt recorded it; if so its output is replayed
 * and its exit code returned without running anything; if not PROGRAM runs
 * here, its stdout passed through and captured, and the outcome recorded with
 * POST /v1/procs/{pid}/steps/{name} (output in base64, at most
 * STEP_OUTPUT_MAX bytes kept). A program killed by a signal is not recorded:
 * most likely the attempt itself is being stopped, and the next one should
 * run the step again.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "shell/internal.h"

/* The agent keeps at most this much of a step's output (CMD_STEP_OUTPUT_MAX
 * of services/command.h, which the shell may not include: DESIGN §3). */
#define STEP_OUTPUT_MAX (64u << 10)

static void write_out(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Runs argv with stdout through a pipe: passed on and the first
 * STEP_OUTPUT_MAX bytes kept in `out`. Returns the exit code (128+N for
 * signal N; 127 if it cannot be started), *signaled when a signal ended it. */
static int run_local(char **argv, char *out, size_t *outlen, bool *signaled)
{
	int fds[2], status;
	pid_t child;
	char buf[8192];

	*outlen = 0;
	*signaled = false;
	if (pipe(fds) != 0) {
		fprintf(stderr, "logos: step: pipe: %s\n", strerror(errno));
		return EXIT_FAIL;
	}
	fflush(stdout);
	child = fork();
	if (child < 0) {
		fprintf(stderr, "logos: step: fork: %s\n", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return EXIT_FAIL;
	}
	if (child == 0) {
		close(fds[0]);
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(127);
		close(fds[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "logos: step: cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(fds[1]);
	for (;;) {
		ssize_t n = read(fds[0], buf, sizeof buf);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		write_out(buf, (size_t)n);
		if (*outlen < STEP_OUTPUT_MAX) {
			size_t keep = (size_t)n < STEP_OUTPUT_MAX - *outlen
					      ? (size_t)n
					      : STEP_OUTPUT_MAX - *outlen;

			memcpy(out + *outlen, buf, keep);
			*outlen += keep;
		}
	}
	close(fds[0]);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return EXIT_FAIL;
	if (WIFSIGNALED(status)) {
		*signaled = true;
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}

int cmd_step(struct ctx *x, int argc, char **argv)
{
	const char *pid_s = getenv("LOGOS_PID"), *att_s = getenv("LOGOS_ATTEMPT");
	const char *addr = getenv("LOGOS_ADDR");
	uint64_t pid, attempt;
	char *name, path[512], *out = NULL, *b64;
	struct reply r;
	size_t outlen;
	bool signaled;
	json_t *j, *body;
	int first, code, rv;

	if (argc < 2)
		return usage_error(argv[0], "step takes a name and a program");
	first = 2;
	if (first < argc && strcmp(argv[first], "--") == 0)
		first++;
	if (first >= argc)
		return usage_error(argv[0], "no program for step '%s' (put it after --)", argv[1]);
	if (argv[1][0] == '\0' || strlen(argv[1]) > 128)
		return usage_error(argv[0], "a step name is 1..128 bytes");
	if (pid_s == NULL || att_s == NULL || addr == NULL || !parse_u64(pid_s, &pid) ||
	    !parse_u64(att_s, &attempt)) {
		fprintf(stderr, "logos: step needs LOGOS_PID, LOGOS_ATTEMPT and LOGOS_ADDR: run it "
				"inside a program started by logos (logos run -- ./script)\n");
		return EXIT_USAGE;
	}
	name = url_escape(argv[1], false);
	if (name == NULL)
		return EXIT_FAIL;
	snprintf(path, sizeof path, "/v1/procs/%" PRIu64 "/steps/%s", pid, name);
	free(name);

	/* Recorded by an earlier attempt? Then replay it. */
	rv = client_request(&x->cl, "GET", path, NULL, 0, NULL, NULL, -1, &r);
	if (rv != 0)
		return rv;
	if (r.status == 200) {
		json_t *o;
		void *data;
		size_t n = 0;

		j = json_loadb(r.body, r.len, 0, NULL);
		reply_free(&r);
		o = json_object_get(j, "output");
		data = b64_decode(json_is_string(o) ? json_string_value(o) : "",
				  json_is_string(o) ? json_string_length(o) : 0, &n);
		if (data == NULL) {
			fprintf(stderr, "logos: step '%s': the recorded output is not base64\n",
				argv[1]);
			json_decref(j);
			return EXIT_FAIL;
		}
		write_out(data, n);
		free(data);
		code = (int)jint(j, "exit_code", 1);
		json_decref(j);
		return code & 255;
	}
	if (r.status != 404) {
		rv = client_api_error(&x->cl, &r);
		reply_free(&r);
		return rv;
	}
	reply_free(&r);

	out = malloc(STEP_OUTPUT_MAX);
	if (out == NULL)
		return EXIT_FAIL;
	code = run_local(argv + first, out, &outlen, &signaled);
	if (signaled) {
		free(out);
		return code;
	}
	b64 = b64_encode(out, outlen);
	free(out);
	if (b64 == NULL)
		return EXIT_FAIL;
	body = json_pack("{s:I,s:i,s:s}", "attempt", (json_int_t)attempt, "exit_code", code,
			 "output", b64);
	free(b64);
	rv = client_json(&x->cl, "POST", path, body, &j);
	json_decref(body);
	if (rv != 0) {
		fprintf(stderr, "logos: step '%s' ran (exit %d) but could not be recorded\n",
			argv[1], code);
		return rv;
	}
	json_decref(j);
	return code;
}
