/*
 * libFuzzer target of the HTTP API (agent/http.c, agent/http_parse.c,
 * agent/api_*.c), driven for real: LLVMFuzzerInitialize starts one
 * single-node agent in this process (logosd --init on 127.0.0.1, free ports,
 * a temporary data directory, raft snapshots every 256 entries), and each
 * input is one HTTP/1.1 request written to its socket from a client on the
 * agent's own loop. Writes commit through the real raft log and LMDB.
 *
 * Input (text, so that seeds are readable):
 *     METHOD TARGET\n
 *     Header: value\n        (any number of lines, up to an empty one)
 *     \n
 *     BODY
 * The harness sends "METHOD TARGET HTTP/1.1", the header lines, Host,
 * "Connection: close" and a Content-Length of the body. "@SECRET@" in a
 * header line becomes the cluster secret in hex, so that the internal
 * endpoints (X-Logos-Secret) are reached too. An input may hold up to four
 * requests separated by lines "===": they are sent at the same time, each on
 * its own connection (a long poll and the write that ends it, a follow and
 * the kill of its process, ...).
 *
 * The requests get 100 ms of the agent's loop: long polls (watch, recv with
 * wait, follow, ?wait=1) still open then are abandoned by closing the
 * connection, which exercises the server's clean-up of requests whose client
 * went away.
 * Properties (any violation abort()s): an answer is a well-formed HTTP/1.1
 * status line; no 5xx but 503; a JSON error answer is an object with string
 * "error" and "message"; the agent keeps running. Memory errors are ASan's
 * and UBSan's.
 *
 * The agent's state carries over from one input to the next (as a server's
 * does), so a failure may depend on earlier inputs: reproduce with the
 * artifact first, then with the run's corpus (see docs/TESTING.md).
 *
 * Processes: the agent's executor runs what POST /v1/procs asks for. The
 * fuzzer must never run programs it made up, so scripts/fuzz links this
 * target with -Wl,--wrap=uv_spawn and __wrap_uv_spawn below replaces
 * every program with "/bin/sleep 1" in a fixed environment (the spawn, the
 * reports, restarts and kills stay real).
 *
 * Built and run by scripts/fuzz. Compiled with -DFUZZ_MAKE_CORPUS (and
 * without -fsanitize=fuzzer) it is instead a program that writes the seeds:
 *     fuzz_http DIR
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/exec.h"
#include "agent/forward.h"
#include "agent/options.h"
#include "common/buf.h"
#include "services/command.h"
#include "tests/lib/net.h"

#define REQUEST_MS  100
#define READY_MS    30000
#define CLIENTS_MAX 4

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int __real_uv_spawn(uv_loop_t *loop, uv_process_t *handle, const uv_process_options_t *options);
int __wrap_uv_spawn(uv_loop_t *loop, uv_process_t *handle, const uv_process_options_t *options);

/* Never the program of a fuzzed request: see the top of the file. Every
 * spawn of the process goes through here, whatever path of the executor
 * asked for it. */
int __wrap_uv_spawn(uv_loop_t *loop, uv_process_t *handle, const uv_process_options_t *options)
{
	static char *argv[] = {"/bin/sleep", "1", NULL};
	static char *env[] = {"PATH=/usr/bin:/bin", NULL};
	uv_process_options_t safe = *options;

	safe.file = argv[0];
	safe.args = argv;
	safe.env = env;
	safe.cwd = NULL;
	return __real_uv_spawn(loop, handle, &safe);
}

/* One connection: a request and its answer. */
struct client {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	bool open, eof;
	struct buf req;
	struct buf resp;
};

static struct {
	struct agent a;
	char dir[256];
	char http_addr[32];
	char secret_hex[2 * TRANSPORT_SECRET_LEN + 1];
	struct sockaddr_in sa;
	/* The requests of one input, each on its own connection. */
	struct client c[CLIENTS_MAX];
	size_t nc;
	uv_timer_t deadline;
	bool expired;
	unsigned nclosing;
} g;

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_http: %s\n", what);
	abort();
}

static void free_address(char *out, size_t size)
{
	if (test_free_address(out, size) != 0)
		fail("cannot reserve a port");
}

static void client_close_cb(uv_handle_t *h)
{
	g.nclosing--;
}

static void client_close(struct client *c)
{
	if (!c->open)
		return;
	c->open = false;
	g.nclosing++;
	uv_close((uv_handle_t *)&c->tcp, client_close_cb);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct client *c = h->data;

	if (buf_reserve(&c->resp, 65536) != 0)
		fail("out of memory");
	b->base = (char *)c->resp.data + c->resp.len;
	b->len = 65536;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct client *c = s->data;

	if (n < 0) {
		c->eof = true;
		uv_read_stop(s);
		return;
	}
	c->resp.len += (size_t)n;
	if (c->resp.len > (64u << 20))
		fail("an answer of more than 64 MiB");
}

static void write_cb(uv_write_t *w, int status)
{
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct client *c = req->data;
	uv_buf_t b = uv_buf_init((char *)c->req.data, (unsigned)c->req.len);

	if (status != 0) {
		fprintf(stderr, "fuzz_http: connect to %s: %s\n", g.http_addr, uv_strerror(status));
		fail("cannot connect to the agent");
	}
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
}

static void on_deadline(uv_timer_t *t)
{
	g.expired = true;
}

static bool all_answered(void)
{
	size_t i;

	for (i = 0; i < g.nc; i++)
		if (!g.c[i].eof)
			return false;
	return true;
}

/* Sends the requests g.c[0..g.nc) at once, each on its own connection, and
 * collects the answers until the agent closed every connection or `ms`
 * pass; then closes what is left open (a client going away). */
static void exchange(uint64_t ms)
{
	struct client *c;
	size_t i;

	g.expired = false;
	for (i = 0; i < g.nc; i++) {
		c = &g.c[i];
		c->resp.len = 0;
		c->eof = false;
		uv_tcp_init(&g.a.loop, &c->tcp);
		c->tcp.data = c->creq.data = c;
		c->open = true;
		if (uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&g.sa, connect_cb) != 0)
			fail("uv_tcp_connect");
	}
	uv_timer_start(&g.deadline, on_deadline, ms, 0);
	while (!all_answered() && !g.expired && !g.a.stopping)
		uv_run(&g.a.loop, UV_RUN_ONCE);
	uv_timer_stop(&g.deadline);
	if (g.a.stopping)
		fail("the agent stopped");
	for (i = 0; i < g.nc; i++)
		client_close(&g.c[i]);
	while (g.nclosing > 0)
		uv_run(&g.a.loop, UV_RUN_ONCE);
}

/* The status of the answer in c->resp, 0 if none, -1 if malformed. */
static int answer_status(const struct client *c)
{
	const char *p = (const char *)c->resp.data;

	if (c->resp.len == 0)
		return 0;
	if (c->resp.len < 13 || memcmp(p, "HTTP/1.1 ", 9) != 0 || !isdigit((unsigned char)p[9]) ||
	    !isdigit((unsigned char)p[10]) || !isdigit((unsigned char)p[11]) || p[12] != ' ')
		return -1;
	return (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
}

/* Case-insensitive search in the header block [p, end). */
static bool header_has(const char *p, const char *end, const char *text)
{
	size_t n = strlen(text);

	for (; p + n <= end; p++)
		if (strncasecmp(p, text, n) == 0)
			return true;
	return false;
}

static void dump_and_fail(const struct client *c, const char *what)
{
	fprintf(stderr, "fuzz_http: request:\n%.*s\nfuzz_http: answer:\n%.*s\n", (int)c->req.len,
		(const char *)c->req.data, (int)(c->resp.len > 4096 ? 4096 : c->resp.len),
		(const char *)c->resp.data);
	fail(what);
}

/* Checks the answer in c->resp. */
static void check_answer(const struct client *c)
{
	const char *p = (const char *)c->resp.data, *head_end, *body;
	int status = answer_status(c);
	json_t *j, *e, *m;
	size_t blen;

	if (status == 0)
		return; /* abandoned long poll, or closed without an answer */
	if (status < 0)
		dump_and_fail(c, "malformed status line");
	if (status >= 500 && status != 503)
		dump_and_fail(c, "a 5xx answer other than 503");
	head_end = memmem(p, c->resp.len, "\r\n\r\n", 4);
	if (head_end == NULL || status < 400)
		return;
	if (!header_has(p, head_end, "\ncontent-type: application/json") ||
	    header_has(p, head_end, "\ntransfer-encoding:"))
		return;
	body = head_end + 4;
	blen = c->resp.len - (size_t)(body - p);
	j = json_loadb(body, blen, 0, NULL);
	e = json_object_get(j, "error");
	m = json_object_get(j, "message");
	if (!json_is_object(j) || !json_is_string(e) || !json_is_string(m) ||
	    json_string_length(m) == 0)
		dump_and_fail(c, "an error answer without {\"error\", \"message\"}");
	json_decref(j);
}

static int append(struct client *c, const void *p, size_t n)
{
	return buf_append(&c->req, p, n);
}

static int appends(struct client *c, const char *s)
{
	return append(c, s, strlen(s));
}

/* Builds c->req from one request of an input (see the top of the file). */
static void build_request(struct client *c, const uint8_t *data, size_t size)
{
	const uint8_t *end = data + size, *nl, *line, *body;
	char cl[64];
	size_t n;

	c->req.len = 0;
	nl = memchr(data, '\n', size);
	line = nl ? nl : end;
	if (append(c, data, (size_t)(line - data)) != 0 || appends(c, " HTTP/1.1\r\n") != 0)
		fail("out of memory");
	body = end;
	/* Header lines up to an empty one. */
	while (nl != NULL) {
		line = nl + 1;
		nl = memchr(line, '\n', (size_t)(end - line));
		n = (size_t)((nl ? nl : end) - line);
		if (n == 0) {
			body = nl ? nl + 1 : end;
			break;
		}
		for (const uint8_t *q = line; q < line + n;) {
			const uint8_t *at = memmem(q, (size_t)(line + n - q), "@SECRET@", 8);
			size_t k = (size_t)((at ? at : line + n) - q);

			if (append(c, q, k) != 0 || (at != NULL && appends(c, g.secret_hex) != 0))
				fail("out of memory");
			q += k + (at ? 8 : 0);
		}
		if (appends(c, "\r\n") != 0)
			fail("out of memory");
		if (nl == NULL)
			body = end;
	}
	snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", (size_t)(end - body));
	if (appends(c, "Host: fuzz\r\nConnection: close\r\n") != 0 || appends(c, cl) != 0 ||
	    append(c, body, (size_t)(end - body)) != 0)
		fail("out of memory");
}

static void remove_dir(void)
{
	char cmd[512];

	/* The data directory of the agent (raft log, store, journal). */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", g.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_http: could not remove '%s'\n", g.dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	char raft_addr[32], data_dir[300];
	char *args[] = {"logosd",
			"--init",
			"--name",
			"fuzz",
			"--data-dir",
			data_dir,
			"--raft",
			raft_addr,
			"--http",
			g.http_addr,
			"--log-level",
			"error",
			"--snapshot-threshold",
			"256",
			NULL};
	struct agent_config cfg;
	const char *ready = "PUT /v1/files/fuzz/ready\n\nready";
	uint64_t start;
	char host[32];

	signal(SIGPIPE, SIG_IGN);
	snprintf(g.dir, sizeof g.dir, "%s/logos-fuzz-http-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(g.dir) == NULL)
		fail("cannot make a temporary directory");
	atexit(remove_dir);
	snprintf(data_dir, sizeof data_dir, "%s/data", g.dir);
	free_address(raft_addr, sizeof raft_addr);
	free_address(g.http_addr, sizeof g.http_addr);
	if (agent_config_parse(&cfg, (int)(sizeof args / sizeof args[0]) - 1, args) != 0)
		fail("agent_config_parse");
	if (agent_init(&g.a, &cfg) != 0)
		fail("the agent did not start");
	sodium_bin2hex(g.secret_hex, sizeof g.secret_hex, agent_secret(&g.a), TRANSPORT_SECRET_LEN);
	snprintf(host, sizeof host, "%.*s", (int)(strrchr(g.http_addr, ':') - g.http_addr),
		 g.http_addr);
	uv_ip4_addr(host, atoi(strrchr(g.http_addr, ':') + 1), &g.sa);
	uv_timer_init(&g.a.loop, &g.deadline);

	/* Ready when a write commits. */
	start = uv_now(&g.a.loop);
	g.nc = 1;
	for (;;) {
		build_request(&g.c[0], (const uint8_t *)ready, strlen(ready));
		exchange(1000);
		if (answer_status(&g.c[0]) == 200)
			break;
		uv_update_time(&g.a.loop);
		if (uv_now(&g.a.loop) - start > READY_MS)
			fail("the agent did not accept a write within 30 s");
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size, *sep;
	size_t i;

	/* Requests separated by a line "===", sent at the same time. */
	for (g.nc = 0; g.nc < CLIENTS_MAX; g.nc++) {
		sep = g.nc + 1 < CLIENTS_MAX ? memmem(p, (size_t)(end - p), "\n===\n", 5) : NULL;
		build_request(&g.c[g.nc], p, (size_t)((sep ? sep : end) - p));
		if (sep == NULL) {
			g.nc++;
			break;
		}
		p = sep + 5;
	}
	exchange(REQUEST_MS);
	for (i = 0; i < g.nc; i++) {
		if (getenv("FUZZ_VERBOSE") != NULL) {
			const struct client *c = &g.c[i];
			const uint8_t *cr = memchr(c->req.data, '\r', c->req.len);

			fprintf(stderr, "fuzz_http: %.*s -> %d\n", (int)(cr ? cr - c->req.data : 0),
				(const char *)c->req.data, answer_status(c));
		}
		check_answer(&g.c[i]);
	}
	return 0;
}

#ifdef FUZZ_MAKE_CORPUS
/* One request per endpoint of DESIGN §6 and http.c's routes, good and bad. */
static const char *const seeds[][2] = {
	{"status", "GET /v1/status\n"},
	{"status-stale", "GET /v1/status?stale=1\n"},
	{"nodes", "GET /v1/nodes\n"},
	{"nodes-join-bad-token",
	 "POST /v1/nodes\nContent-Type: application/json\n\n{\"token\": \"00\", \"name\": \"h2\", "
	 "\"raft\": \"127.0.0.1:1\", \"http\": \"127.0.0.1:2\"}"},
	{"nodes-drain-unknown", "POST /v1/nodes/9/drain\n"},
	{"nodes-remove-unknown", "DELETE /v1/nodes/9\n"},
	{"procs-submit",
	 "POST /v1/procs\nContent-Type: application/json\nIdempotency-Key: k1\n\n{\"argv\": "
	 "[\"/bin/echo\", \"hi\"], \"node\": \"fuzz\", \"restart\": \"on-failure:2\", \"env\": "
	 "{\"A\": \"b\"}, \"cwd\": \"/tmp\", \"timeout\": 5}"},
	{"procs-submit-wait", "POST /v1/procs?wait=1\n\n{\"argv\": [\"/bin/true\"]}"},
	{"procs-submit-all", "POST /v1/procs\n\n{\"argv\": [\"x\"], \"placement\": \"all\", "
			     "\"restart\": \"always\", \"key\": \"k2\"}"},
	{"procs-submit-bad-json", "POST /v1/procs\n\n{\"argv\": [\"x\""},
	{"procs-submit-unknown-field", "POST /v1/procs\n\n{\"argv\": [\"x\"], \"what\": 1}"},
	{"procs-list", "GET /v1/procs?state=running\n"},
	{"procs-get", "GET /v1/procs/1\n"},
	{"procs-get-bad", "GET /v1/procs/-1\n"},
	{"procs-output", "GET /v1/procs/1/output?attempt=1&stream=stdout&seq=0\n"},
	{"procs-output-follow", "GET /v1/procs/1/output?follow=1\n"},
	{"procs-kill", "POST /v1/procs/1/kill\n\n{\"signal\": \"TERM\"}"},
	{"procs-step", "POST /v1/procs/1/steps/fetch\n\n{\"exit_code\": 0, \"output\": \"ok\"}"},
	{"procs-step-get", "GET /v1/procs/1/steps/fetch\n"},
	{"files-put", "PUT /v1/files/a/b\n\nhello"},
	{"files-put-cas", "PUT /v1/files/a/b?if_version=1\n\nagain"},
	{"files-put-new-only", "PUT /v1/files/a/c?if_version=0\n\n"},
	{"files-put-escaped", "PUT /v1/files/a%20b/%E2%9C%93\n\nx"},
	{"files-put-nul", "PUT /v1/files/a%00b\n\nx"},
	{"files-get", "GET /v1/files/a/b\n"},
	{"files-get-at", "GET /v1/files/a/b?at=3\n"},
	{"files-get-stale", "GET /v1/files/a/b?stale=1&at=1\n"},
	{"files-list", "GET /v1/files?prefix=/a\n"},
	{"files-del", "DELETE /v1/files/a/b?if_version=2\n"},
	{"files-dotdot", "GET /v1/files/a/../b\n"},
	{"queues-send", "POST /v1/queues/jobs\n\nmessage"},
	{"queues-recv", "POST /v1/queues/jobs/recv\n"},
	{"queues-recv-wait", "POST /v1/queues/jobs/recv?wait=1\n"},
	{"queues-list", "GET /v1/queues\n"},
	{"log", "GET /v1/log?from=1&limit=5\n"},
	{"diff", "GET /v1/diff?from=1&to=3&limit=10\n"},
	{"watch", "GET /v1/watch?index=1&timeout=100\n"},
	{"rewind-plan", "POST /v1/rewind?plan=1\n\n{\"index\": 2}"},
	{"rewind", "POST /v1/rewind\nContent-Type: application/json\n\n{\"index\": 3}"},
	{"metrics", "GET /metrics\n"},
	{"unknown", "GET /v2/nothing?x=%zz\n"},
	{"method", "PATCH /v1/files/a\n"},
	{"internal-heartbeat", "POST /v1/internal/heartbeat?id=1\nX-Logos-Secret: @SECRET@\n"},
	{"internal-read-index", "POST /v1/internal/read_index\nX-Logos-Secret: @SECRET@\n"},
	{"internal-no-secret", "POST /v1/internal/read_index\nX-Logos-Secret: 00\n"},
	{"together-watch-put",
	 "GET /v1/watch?index=1000000&timeout=150\n===\nPUT /v1/files/w\n\nx"},
	{"together-recv-send",
	 "POST /v1/queues/q2/recv?wait=1\n===\nPOST /v1/queues/q2\n\nm\n===\nPOST "
	 "/v1/queues/q2/recv\n"},
	{"together-wait-kill", "POST /v1/procs?wait=1\n\n{\"argv\": [\"x\"]}\n===\nPOST "
			       "/v1/procs/1/kill\n\n{\"signal\": 9}"},
	{"together-follow-kill", "GET /v1/procs/1/output?follow=1\n===\nPOST /v1/procs/1/kill\n"},
	{"together-cas",
	 "PUT /v1/files/c?if_version=0\n\na\n===\nPUT /v1/files/c?if_version=0\n\nb"},
	{"together-rewind-read",
	 "POST /v1/rewind\n\n{\"index\": 2}\n===\nGET /v1/files?prefix=/\n===\nGET /v1/status\n"},
};

static void write_seed(const char *dir, const char *name, const void *p, size_t len)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const char head[] = "POST /v1/internal/propose\nX-Logos-Secret: @SECRET@\n"
				   "Content-Type: application/octet-stream\n\n";
	static const char bhead[] = "POST /v1/internal/propose_batch\nX-Logos-Secret: @SECRET@\n"
				    "Content-Type: application/octet-stream\n\n";
	struct cmd c = {.type = CMD_FILE_PUT};
	struct buf b = {0}, one = {0}, batch = {0};
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
		write_seed(argv[1], seeds[i][0], seeds[i][1], strlen(seeds[i][1]));
	/* A forwarded command, as a follower sends it to the leader. */
	c.time_ms = 1700000000000ull;
	c.origin = 1;
	c.term = 1;
	c.request_id = 7;
	c.principal = (struct strref){"root", 4};
	c.u.put = (struct cmd_file_put){{"/x", 2}, {(const uint8_t *)"y", 1}, -1};
	if (buf_append(&b, head, sizeof head - 1) != 0 || cmd_encode(&c, &b) != 0)
		return 1;
	write_seed(argv[1], "internal-propose", b.data, b.len);
	/* The same command twice in a batch, as a follower forwards them. */
	b.len = 0;
	if (cmd_encode(&c, &one) != 0 || buf_append(&b, bhead, sizeof bhead - 1) != 0)
		return 1;
	if (forward_begin(&batch) != 0 || forward_add_cmd(&batch, one.data, one.len) != 0 ||
	    forward_add_cmd(&batch, one.data, one.len) != 0 ||
	    buf_append(&b, batch.data, batch.len) != 0)
		return 1;
	buf_release(&batch);
	write_seed(argv[1], "internal-propose-batch", b.data, b.len);
	buf_release(&one);
	buf_release(&b);
	return 0;
}
#endif /* FUZZ_MAKE_CORPUS */
