/*
 * Tests of the HTTP API's handlers (agent/api_*.c) against a real single-node
 * agent started in the test's own process (logosd --init on 127.0.0.1, free
 * ports, a temporary data directory), one request at a time from a client on
 * the agent's loop. They are the regression tests of what the fuzzer
 * (tests/fuzz/fuzz_http.c) found: each sends the request that failed and
 * checks the answer a client must get.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/options.h"
#include "agent/forward.h"
#include "common/buf.h"
#include "common/error.h"
#include "services/command.h"
#include "tests/lib/net.h"
#include "tests/unit/agent/suites.h"

/* The world of one test (Check runs each test in its own process). */
static struct {
	char dir[64];
	struct agent a;
	struct sockaddr_in sa;
	char secret_hex[2 * TRANSPORT_SECRET_LEN + 1];
	uv_tcp_t client;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_timer_t deadline;
	bool eof, expired, closed;
	struct buf req, resp;
} t;

static void free_address(char *out, size_t size)
{
	ck_assert_int_eq(test_free_address(out, size), 0);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	ck_assert_int_eq(buf_reserve(&t.resp, 65536), 0);
	b->base = (char *)t.resp.data + t.resp.len;
	b->len = 65536;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	if (n < 0)
		t.eof = true;
	else
		t.resp.len += (size_t)n;
}

static void write_cb(uv_write_t *w, int status)
{
}

static void connect_cb(uv_connect_t *c, int status)
{
	uv_buf_t b = uv_buf_init((char *)t.req.data, (unsigned)t.req.len);

	ck_assert_msg(status == 0, "connect to the agent: %s", uv_strerror(status));
	uv_read_start((uv_stream_t *)&t.client, alloc_cb, read_cb);
	uv_write(&t.wreq, (uv_stream_t *)&t.client, &b, 1, write_cb);
}

static void on_deadline(uv_timer_t *timer)
{
	t.expired = true;
}

static void close_cb(uv_handle_t *h)
{
	t.closed = true;
}

/*
 * Sends "METHOD TARGET HTTP/1.1", `headers` (each line ending in \r\n, may be
 * ""), Connection: close and `body`; runs the agent's loop until the answer is
 * complete (the agent closes the connection) or `ms` pass. Returns the
 * status (0 if none); the body is at *body (NUL-terminated, in t.resp).
 */
static int request(const char *method, const char *target, const char *headers, const void *body,
		   size_t blen, uint64_t ms, const char **answer)
{
	char head[512];
	const char *p;

	snprintf(
		head, sizeof head,
		"%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n",
		method, target, headers, blen);
	t.req.len = t.resp.len = 0;
	ck_assert_int_eq(buf_append(&t.req, head, strlen(head)), 0);
	ck_assert_int_eq(buf_append(&t.req, body, blen), 0);
	t.eof = t.expired = t.closed = false;
	uv_tcp_init(&t.a.loop, &t.client);
	ck_assert_int_eq(uv_tcp_connect(&t.creq, &t.client, (struct sockaddr *)&t.sa, connect_cb),
			 0);
	uv_timer_start(&t.deadline, on_deadline, ms, 0);
	while (!t.eof && !t.expired)
		uv_run(&t.a.loop, UV_RUN_ONCE);
	uv_timer_stop(&t.deadline);
	uv_close((uv_handle_t *)&t.client, close_cb);
	while (!t.closed)
		uv_run(&t.a.loop, UV_RUN_ONCE);
	ck_assert_int_eq(buf_append(&t.resp, "", 1), 0);
	t.resp.len--;
	p = strstr((const char *)t.resp.data, "\r\n\r\n");
	*answer = p != NULL ? p + 4 : "";
	if (t.resp.len < 12 || memcmp(t.resp.data, "HTTP/1.1 ", 9) != 0)
		return 0;
	return atoi((const char *)t.resp.data + 9);
}

static void setup(void)
{
	char raft_addr[32], http_addr[32], data_dir[96], host[32];
	char *args[] = {"logosd",
			"--init",
			"--name",
			"test",
			"--data-dir",
			data_dir,
			"--raft",
			raft_addr,
			"--http",
			http_addr,
			"--log-level",
			"error",
			"--election-timeout",
			"200",
			"--heartbeat",
			"40",
			NULL};
	struct agent_config cfg;
	const char *answer;
	int status = 0, i;

	signal(SIGPIPE, SIG_IGN);
	snprintf(t.dir, sizeof t.dir, "/tmp/logos-test-api-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t.dir));
	snprintf(data_dir, sizeof data_dir, "%s/data", t.dir);
	free_address(raft_addr, sizeof raft_addr);
	free_address(http_addr, sizeof http_addr);
	ck_assert_int_eq(agent_config_parse(&cfg, (int)(sizeof args / sizeof args[0]) - 1, args),
			 0);
	ck_assert_int_eq(agent_init(&t.a, &cfg), 0);
	sodium_bin2hex(t.secret_hex, sizeof t.secret_hex, agent_secret(&t.a), TRANSPORT_SECRET_LEN);
	*strrchr(http_addr, ':') = '\0';
	snprintf(host, sizeof host, "%s", http_addr);
	ck_assert_int_eq(uv_ip4_addr(host, atoi(http_addr + strlen(http_addr) + 1), &t.sa), 0);
	uv_timer_init(&t.a.loop, &t.deadline);
	/* Ready when a write commits (at most 30 s). */
	for (i = 0; i < 30 && status != 200; i++)
		status = request("PUT", "/v1/files/ready", "", "1", 1, 1000, &answer);
	ck_assert_msg(status == 200, "the agent did not accept a write: %d %s", status, answer);
}

static void teardown(void)
{
	char cmd[128];

	/* The process ends with the test: the agent goes with it. */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", t.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", t.dir);
}

/* Fuzzer finding: an unknown signal name freed the JSON body before the
 * error message was chosen from it (a use after free under ASan). */
START_TEST(test_api_kill_with_a_bad_signal_name_is_400)
{
	static const char body[] = "{\"signal\": \")ERM\"}";
	const char *answer;
	int status;

	status = request("POST", "/v1/procs/1/kill", "", body, sizeof body - 1, 5000, &answer);
	ck_assert_int_eq(status, 400);
	ck_assert_msg(strstr(answer, "\"error\":\"invalid\"") != NULL, "answer: %s", answer);
	ck_assert_msg(strstr(answer, ")ERM") != NULL, "answer: %s", answer);
}
END_TEST

/* Fuzzer finding: a forwarded body that is not a command was a 500. It is
 * the client's fault: 400, with the decoder's reason. */
START_TEST(test_api_propose_of_an_undecodable_command_is_400)
{
	static const uint8_t body[] = {0x99, 0x01, 0x0a, 0xcf, 0x00, 0x01, 0xff};
	char headers[128];
	const char *answer;
	int status;

	snprintf(headers, sizeof headers, "X-Logos-Secret: %s\r\n", t.secret_hex);
	status = request("POST", "/v1/internal/propose", headers, body, sizeof body, 5000, &answer);
	ck_assert_msg(status == 400, "status %d: %s", status, answer);
	ck_assert_msg(strstr(answer, "propose: ") != NULL, "answer: %s", answer);
}
END_TEST

/* A file.put as a follower would forward it (stamped by "node 99"). */
static void put_cmd(struct buf *out, uint64_t request_id, const char *path, const char *data,
		    int64_t if_version)
{
	struct cmd c;

	memset(&c, 0, sizeof c);
	c.version = CMD_VERSION;
	c.type = CMD_FILE_PUT;
	c.time_ms = 1;
	c.origin = 99;
	c.request_id = request_id;
	c.principal.p = "test";
	c.principal.n = 4;
	c.u.put.path.p = path;
	c.u.put.path.n = strlen(path);
	c.u.put.data.p = (const uint8_t *)data;
	c.u.put.data.n = strlen(data);
	c.u.put.if_version = if_version;
	buf_init(out);
	ck_assert_int_eq(cmd_encode(&c, out), 0);
}

static int propose_batch(const struct buf *body, const char **answer, size_t *alen)
{
	char headers[160];
	int status;

	snprintf(headers, sizeof headers, "X-Logos-Secret: %s\r\n", t.secret_hex);
	status = request("POST", "/v1/internal/propose_batch", headers, body->data, body->len, 5000,
			 answer);
	*alen = t.resp.len - (size_t)(*answer - (const char *)t.resp.data);
	return status;
}

/* What a follower's batch gets: each command's own result, in order. */
START_TEST(test_api_propose_batch_answers_each_command_in_order)
{
	struct buf c1, c2, c3, body;
	struct forward_reader rd;
	struct agent_result r[3];
	const char *answer;
	char err[160];
	size_t alen, i;
	int status;

	put_cmd(&c1, 1, "/batch/one", "1", -1);
	put_cmd(&c2, 2, "/batch/two", "2", 7); /* not at version 7: a conflict */
	put_cmd(&c3, 3, "/batch/three", "3", 0);
	buf_init(&body);
	ck_assert_int_eq(forward_begin(&body), 0);
	ck_assert_int_eq(forward_add_cmd(&body, c1.data, c1.len), 0);
	ck_assert_int_eq(forward_add_cmd(&body, c2.data, c2.len), 0);
	ck_assert_int_eq(forward_add_cmd(&body, c3.data, c3.len), 0);
	status = propose_batch(&body, &answer, &alen);
	ck_assert_msg(status == 200, "status %d: %s", status, answer);
	ck_assert_msg(forward_results_open(&rd, answer, alen, 3, err, sizeof err) == 0, "%s", err);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(forward_results_next(&rd, &r[i]), 0);
	for (i = 0; i < 3; i++)
		ck_assert_msg(r[i].status == 0 && r[i].index > 0, "result %zu: status %d", i,
			      r[i].status);
	ck_assert_int_eq(r[0].code, 0);
	ck_assert_int_eq(r[1].code, ERR_CONFLICT);
	ck_assert_msg(r[1].message_len > 0, "a conflict without a message");
	ck_assert_int_eq(r[2].code, 0);
	/* Arriving together, they went into one entry. */
	ck_assert_uint_eq(r[0].index, r[2].index);
	status = request("GET", "/v1/files/batch/three", "", NULL, 0, 5000, &answer);
	ck_assert_int_eq(status, 200);
	ck_assert_str_eq(answer, "3");
	status = request("GET", "/v1/files/batch/two", "", NULL, 0, 5000, &answer);
	ck_assert_int_eq(status, 404);
	buf_release(&c1);
	buf_release(&c2);
	buf_release(&c3);
	buf_release(&body);
}
END_TEST

/* A batch with one bad command, or one bad length, is a 400 that says which
 * and why, and proposes none of its commands. */
START_TEST(test_api_propose_batch_with_a_bad_part_changes_nothing)
{
	static const uint8_t junk[] = {0x99, 0x01, 0x0a, 0xcf, 0x00, 0x01, 0xff};
	struct buf c1, body;
	const char *answer;
	size_t alen;
	int status;

	put_cmd(&c1, 1, "/bad/one", "1", -1);
	buf_init(&body);
	ck_assert_int_eq(forward_begin(&body), 0);
	ck_assert_int_eq(forward_add_cmd(&body, c1.data, c1.len), 0);
	ck_assert_int_eq(forward_add_cmd(&body, junk, sizeof junk), 0);
	status = propose_batch(&body, &answer, &alen);
	ck_assert_msg(status == 400, "status %d: %s", status, answer);
	ck_assert_msg(strstr(answer, "command 2 of 2") != NULL, "answer: %s", answer);

	/* The second command's length one byte longer than the body. */
	body.data[4 + 4 + c1.len + 3]++;
	status = propose_batch(&body, &answer, &alen);
	ck_assert_msg(status == 400, "status %d: %s", status, answer);
	ck_assert_msg(strstr(answer, "command 2 of 2 has length") != NULL, "answer: %s", answer);

	/* Cut short, empty. */
	body.len = 6;
	status = propose_batch(&body, &answer, &alen);
	ck_assert_msg(status == 400, "status %d: %s", status, answer);
	body.len = 0;
	status = propose_batch(&body, &answer, &alen);
	ck_assert_msg(status == 400, "status %d: %s", status, answer);

	status = request("GET", "/v1/files/bad/one", "", NULL, 0, 5000, &answer);
	ck_assert_msg(status == 404, "a command of a rejected batch was applied: %d", status);
	buf_release(&c1);
	buf_release(&body);
}
END_TEST

START_TEST(test_api_propose_batch_without_the_secret_is_403)
{
	struct buf c1, body;
	const char *answer;
	int status;

	put_cmd(&c1, 1, "/denied/one", "1", -1);
	buf_init(&body);
	ck_assert_int_eq(forward_begin(&body), 0);
	ck_assert_int_eq(forward_add_cmd(&body, c1.data, c1.len), 0);
	status = request("POST", "/v1/internal/propose_batch", "", body.data, body.len, 5000,
			 &answer);
	ck_assert_int_eq(status, 403);
	status = request("GET", "/v1/files/denied/one", "", NULL, 0, 5000, &answer);
	ck_assert_int_eq(status, 404);
	buf_release(&c1);
	buf_release(&body);
}
END_TEST

Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("regressions");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_api_kill_with_a_bad_signal_name_is_400);
	tcase_add_test(tc, test_api_propose_of_an_undecodable_command_is_400);
	tcase_add_test(tc, test_api_propose_batch_answers_each_command_in_order);
	tcase_add_test(tc, test_api_propose_batch_with_a_bad_part_changes_nothing);
	tcase_add_test(tc, test_api_propose_batch_without_the_secret_is_403);
	suite_add_tcase(s, tc);
	return s;
}
