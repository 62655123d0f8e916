/*
 * libFuzzer target of the pure parsers of the HTTP API (agent/http_parse.h),
 * the fast companion of the http target: the first input byte chooses a
 * parser, the rest is its argument. Besides memory errors it checks what the
 * handlers rely on (any violation abort()s):
 *   - percent-decoding stays within its buffer, never yields a NUL, and
 *     re-encoding what it decoded decodes to the same bytes;
 *   - a file path, queue name or node name the API accepts is accepted by the
 *     command codec too (cmd_encode then cmd_decode of the command that
 *     carries it), so that a request the API took is never a command the log
 *     cannot carry, and a path is absolute and normalized;
 *   - a restart policy or signal that parses has its documented range, and a
 *     policy formats back to text that parses to the same policy;
 *   - an integer that parses is all digits and its value;
 *   - a JSON body that is accepted is an object whose known fields have the
 *     declared types; a failure has a message.
 *
 * Built and run by scripts/fuzz. Compiled with -DFUZZ_MAKE_CORPUS (and
 * without -fsanitize=fuzzer) it is instead a program that writes the seeds:
 *     fuzz_parse DIR
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/http_parse.h"
#include "common/buf.h"
#include "common/error.h"
#include "services/command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	P_PCT,
	P_PCT_PLUS,
	P_QUERY,
	P_U64,
	P_BOOL,
	P_PATH,
	P_QUEUE,
	P_NODE,
	P_RESTART,
	P_SIGNAL,
	P_JSON,
	P_COUNT
};

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_parse: %s\n", what);
	abort();
}

static void check_err(int rv, const char *err)
{
	if (rv != ERR_INVALID && rv != ERR_TOOBIG)
		fail("a parser returned an undocumented code");
	if (err[0] == '\0')
		fail("a parser failed without a message");
}

/* Encodes a command carrying `s` where the API would put it and decodes it
 * back: the API and the codec must agree on what is valid. */
static void codec_takes(int type, const char *s, size_t n)
{
	struct cmd c, back;
	struct buf b = {0};
	char err[256];

	memset(&c, 0, sizeof c);
	c.type = type;
	c.time_ms = 1;
	c.origin = 1;
	c.term = 1;
	c.request_id = 1;
	c.principal = (struct strref){"root", 4};
	switch (type) {
	case CMD_FILE_PUT:
		c.u.put = (struct cmd_file_put){{s, n}, {(const uint8_t *)"x", 1}, -1};
		break;
	case CMD_MSG_SEND:
		c.u.send = (struct cmd_msg_send){{s, n}, {(const uint8_t *)"x", 1}};
		break;
	case CMD_NODE_JOIN:
		c.u.join =
			(struct cmd_node_join){0, {s, n}, {"127.0.0.1:1", 11}, {"127.0.0.1:2", 11}};
		break;
	}
	if (cmd_encode(&c, &b) != 0)
		fail("the codec refuses to encode what the API accepted");
	if (cmd_decode(b.data, b.len, &back, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_parse: %s\n", err);
		fail("the codec refuses to decode what the API accepted");
	}
	buf_release(&b);
}

static void pct(const char *s, size_t n, bool plus)
{
	char out[512], again[512], enc[3 * 512 + 1];
	size_t on = 0, an = 0, en = 0, i;
	char err[256] = "";
	int rv;

	rv = http_pct_decode(s, n, plus, out, sizeof out, &on, err, sizeof err);
	if (rv != 0) {
		check_err(rv, err);
		return;
	}
	if (on > sizeof out || on > n)
		fail("percent-decoding grew");
	if (memchr(out, '\0', on) != NULL)
		fail("percent-decoding gave a NUL");
	for (i = 0; i < on; i++)
		en += (size_t)snprintf(enc + en, 4, "%%%02X", (unsigned char)out[i]);
	if (http_pct_decode(enc, en, plus, again, sizeof again, &an, err, sizeof err) != 0 ||
	    an != on || memcmp(again, out, on) != 0)
		fail("re-encoding a decoded value does not decode to it");
}

static void path(const char *s, size_t n)
{
	char err[256] = "";
	int rv = http_path_check(s, n, err, sizeof err);

	if (rv != 0) {
		check_err(rv, err);
		return;
	}
	if (n < 2 || s[0] != '/' || s[n - 1] == '/' || memmem(s, n, "//", 2) != NULL ||
	    memmem(s, n, "/./", 3) != NULL || memmem(s, n, "/../", 4) != NULL ||
	    (n >= 2 && memcmp(s + n - 2, "/.", 2) == 0) ||
	    (n >= 3 && memcmp(s + n - 3, "/..", 3) == 0) || memchr(s, '\0', n) != NULL ||
	    n > CMD_PATH_MAX || !http_utf8_valid(s, n))
		fail("an accepted path is not absolute, normalized, short, clean UTF-8");
	codec_takes(CMD_FILE_PUT, s, n);
}

static void restart(const char *s, size_t n)
{
	char err[256] = "", text[64];
	int r, r2;
	uint32_t max, max2;
	int rv = http_restart_parse(s, n, &r, &max, err, sizeof err);

	if (rv != 0) {
		check_err(rv, err);
		return;
	}
	if (r != RESTART_NO && r != RESTART_ON_FAILURE && r != RESTART_ALWAYS)
		fail("a restart policy out of range");
	http_restart_format(r, max, text, sizeof text);
	if (http_restart_parse(text, strlen(text), &r2, &max2, err, sizeof err) != 0 || r2 != r ||
	    max2 != max)
		fail("a formatted restart policy does not parse back to itself");
}

static void json(const char *s, size_t n)
{
	static const struct http_field fields[] = {{"argv", JSON_ARRAY},
						   {"env", JSON_OBJECT},
						   {"cwd", JSON_STRING},
						   {"timeout", JSON_INTEGER},
						   {"signal", -1}};
	char err[256] = "";
	const char *str;
	size_t sn, i;
	json_t *j, *v;
	int rv =
		http_json_body(s, n, fields, sizeof fields / sizeof fields[0], &j, err, sizeof err);

	if (rv != 0) {
		check_err(rv, err);
		return;
	}
	if (!json_is_object(j))
		fail("an accepted body is not an object");
	for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		v = json_object_get(j, fields[i].name);
		if (v != NULL && fields[i].type >= 0 && (int)json_typeof(v) != fields[i].type &&
		    !(fields[i].type == JSON_INTEGER && json_is_integer(v)))
			fail("an accepted field has another type than declared");
	}
	v = json_object_get(j, "cwd");
	if (v != NULL && http_json_str(v, "cwd", &str, &sn, err, sizeof err) == 0 &&
	    memchr(str, '\0', sn) != NULL)
		fail("http_json_str gave a string with a NUL");
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data + 1;
	size_t n = size - 1;
	char err[256] = "";
	const char *v;
	size_t vn;
	uint64_t u;
	bool b;
	int rv, sig;
	static const char *const allowed[] = {"at", "stale", "wait", NULL};

	if (size < 1)
		return 0;
	switch (data[0] % P_COUNT) {
	case P_PCT:
		pct(s, n, false);
		break;
	case P_PCT_PLUS:
		pct(s, n, true);
		break;
	case P_QUERY:
		if (http_query_find(s, n, "at", &v, &vn) && (v < s || v + vn > s + n))
			fail("a query value outside the query");
		rv = http_query_check(s, n, allowed, err, sizeof err);
		if (rv != 0)
			check_err(rv, err);
		break;
	case P_U64:
		rv = http_u64_parse(s, n, "n", &u, err, sizeof err);
		if (rv != 0) {
			check_err(rv, err);
			break;
		}
		{
			char text[32];

			snprintf(text, sizeof text, "%llu", (unsigned long long)u);
			if (n == 0)
				fail("an empty integer was accepted");
			for (vn = 0; vn < n; vn++)
				if (s[vn] < '0' || s[vn] > '9')
					fail("an accepted integer has a non-digit");
			/* Leading zeros are allowed: compare the value. */
			for (vn = 0; vn + 1 < n && s[vn] == '0'; vn++)
				;
			if (n - vn != strlen(text) || memcmp(s + vn, text, n - vn) != 0)
				fail("an accepted integer has another value");
		}
		break;
	case P_BOOL:
		rv = http_bool_parse(s, n, "b", &b, err, sizeof err);
		if (rv != 0)
			check_err(rv, err);
		break;
	case P_PATH:
		path(s, n);
		break;
	case P_QUEUE:
		rv = http_queue_check(s, n, err, sizeof err);
		if (rv != 0)
			check_err(rv, err);
		else
			codec_takes(CMD_MSG_SEND, s, n);
		break;
	case P_NODE:
		rv = http_node_name_check(s, n, err, sizeof err);
		if (rv != 0)
			check_err(rv, err);
		else
			codec_takes(CMD_NODE_JOIN, s, n);
		break;
	case P_RESTART:
		restart(s, n);
		break;
	case P_SIGNAL:
		rv = http_signal_parse(s, n, &sig, err, sizeof err);
		if (rv != 0)
			check_err(rv, err);
		else if (sig < 1 || sig > 64)
			fail("a signal out of 1..64");
		break;
	case P_JSON:
		json(s, n);
		break;
	}
	return 0;
}

#ifdef FUZZ_MAKE_CORPUS
static const struct {
	int parser;
	const char *name;
	const char *arg;
} seeds[] = {
	{P_PCT, "pct", "a%20b%2Fc%e2%9c%93"},
	{P_PCT, "pct-bad", "a%2"},
	{P_PCT_PLUS, "pct-plus", "a+b%2B"},
	{P_QUERY, "query", "at=12&stale=1&wait"},
	{P_QUERY, "query-unknown", "at=1&what=2"},
	{P_U64, "u64", "18446744073709551615"},
	{P_U64, "u64-over", "18446744073709551616"},
	{P_BOOL, "bool", "true"},
	{P_PATH, "path", "/a/b/c.txt"},
	{P_PATH, "path-utf8", "/d\xc3\xa9j\xc3\xa0/\xe2\x9c\x93"},
	{P_PATH, "path-dotdot", "/a/../b"},
	{P_QUEUE, "queue", "jobs.high-1_x"},
	{P_NODE, "node", "host-1.example"},
	{P_RESTART, "restart", "on-failure:3"},
	{P_RESTART, "restart-always", "always"},
	{P_SIGNAL, "signal", "SIGTERM"},
	{P_SIGNAL, "signal-number", "9"},
	{P_JSON, "json",
	 "{\"argv\": [\"/bin/echo\", \"hi\"], \"env\": {\"A\": \"b\"}, "
	 "\"cwd\": \"/tmp\", \"timeout\": 5, \"signal\": \"TERM\"}"},
	{P_JSON, "json-dup", "{\"cwd\": \"a\", \"cwd\": \"b\"}"},
	{P_JSON, "json-nul", "{\"cwd\": \"a\\u0000b\"}"},
};

int main(int argc, char **argv)
{
	char path_[1024];
	size_t i;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		snprintf(path_, sizeof path_, "%s/%s", argv[1], seeds[i].name);
		f = fopen(path_, "wb");
		if (f == NULL || fputc(seeds[i].parser, f) == EOF ||
		    fwrite(seeds[i].arg, 1, strlen(seeds[i].arg), f) != strlen(seeds[i].arg) ||
		    fclose(f) != 0) {
			perror(path_);
			return 1;
		}
	}
	return 0;
}
#endif /* FUZZ_MAKE_CORPUS */
