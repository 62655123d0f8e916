/*
 * libFuzzer target of the command codec (services/command.h). The input is
 * read as an entry (entry_open, entry_next, cmd_decode of each command) and as
 * one command. Besides memory errors (ASan, UBSan) it checks the round-trip
 * property: a command that decodes is within the limits, so cmd_encode
 * accepts it, and decoding that encoding gives the same fields; and encoding
 * is deterministic. Any violation abort()s.
 *
 * Built and run by scripts/fuzz. Compiled with -DFUZZ_MAKE_CORPUS (and without
 * -fsanitize=fuzzer) it is instead a program that writes the seed corpus:
 *     fuzz_make_corpus DIR
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/pack.h"
#include "services/command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_command: %s\n", what);
	abort();
}

static void str_same(struct strref a, struct strref b, const char *what)
{
	if (a.n != b.n || (a.n > 0 && memcmp(a.p, b.p, a.n) != 0))
		fail(what);
}

static void bin_same(struct binref a, struct binref b, const char *what)
{
	if (a.n != b.n || (a.n > 0 && memcmp(a.p, b.p, a.n) != 0))
		fail(what);
}

static void raw_same(struct rawref a, struct rawref b, const char *what)
{
	if (a.count != b.count || a.n != b.n || memcmp(a.p, b.p, a.n) != 0)
		fail(what);
}

#define SAME(a, b)                                              \
	do {                                                    \
		if ((a) != (b))                                 \
			fail(#a " differs after a round trip"); \
	} while (0)

/* Aborts unless every field of `a` and `b` is equal. */
static void cmd_same(const struct cmd *a, const struct cmd *b)
{
	SAME(a->version, b->version);
	SAME(a->type, b->type);
	SAME(a->time_ms, b->time_ms);
	SAME(a->origin, b->origin);
	SAME(a->term, b->term);
	SAME(a->request_id, b->request_id);
	str_same(a->principal, b->principal, "principal");
	SAME(a->key.p == NULL, b->key.p == NULL);
	str_same(a->key, b->key, "key");
	switch (a->type) {
	case CMD_PROC_SUBMIT:
		raw_same(a->u.submit.argv, b->u.submit.argv, "argv");
		raw_same(a->u.submit.env, b->u.submit.env, "env");
		str_same(a->u.submit.cwd, b->u.submit.cwd, "cwd");
		SAME(a->u.submit.placement, b->u.submit.placement);
		str_same(a->u.submit.node, b->u.submit.node, "node");
		SAME(a->u.submit.restart, b->u.submit.restart);
		SAME(a->u.submit.max_restarts, b->u.submit.max_restarts);
		SAME(a->u.submit.timeout_ms, b->u.submit.timeout_ms);
		break;
	case CMD_PROC_STARTED:
		SAME(a->u.started.pid, b->u.started.pid);
		SAME(a->u.started.attempt, b->u.started.attempt);
		SAME(a->u.started.os_pid, b->u.started.os_pid);
		break;
	case CMD_PROC_OUTPUT:
		SAME(a->u.output.pid, b->u.output.pid);
		SAME(a->u.output.attempt, b->u.output.attempt);
		SAME(a->u.output.stream, b->u.output.stream);
		SAME(a->u.output.seq, b->u.output.seq);
		bin_same(a->u.output.data, b->u.output.data, "output data");
		break;
	case CMD_PROC_EXITED:
		SAME(a->u.exited.pid, b->u.exited.pid);
		SAME(a->u.exited.attempt, b->u.exited.attempt);
		SAME(a->u.exited.exit_code, b->u.exited.exit_code);
		SAME(a->u.exited.signal, b->u.exited.signal);
		break;
	case CMD_PROC_KILL:
		SAME(a->u.kill.pid, b->u.kill.pid);
		SAME(a->u.kill.signal, b->u.kill.signal);
		break;
	case CMD_PROC_LOST:
		SAME(a->u.lost.pid, b->u.lost.pid);
		SAME(a->u.lost.attempt, b->u.lost.attempt);
		str_same(a->u.lost.reason, b->u.lost.reason, "reason");
		break;
	case CMD_STEP_RECORD:
		SAME(a->u.step.pid, b->u.step.pid);
		SAME(a->u.step.attempt, b->u.step.attempt);
		str_same(a->u.step.name, b->u.step.name, "step name");
		SAME(a->u.step.exit_code, b->u.step.exit_code);
		bin_same(a->u.step.output, b->u.step.output, "step output");
		break;
	case CMD_MSG_SEND:
		str_same(a->u.send.queue, b->u.send.queue, "queue");
		bin_same(a->u.send.data, b->u.send.data, "message");
		break;
	case CMD_MSG_RECV:
		str_same(a->u.recv.queue, b->u.recv.queue, "queue");
		break;
	case CMD_FILE_PUT:
		str_same(a->u.put.path, b->u.put.path, "path");
		bin_same(a->u.put.data, b->u.put.data, "file data");
		SAME(a->u.put.if_version, b->u.put.if_version);
		break;
	case CMD_FILE_DEL:
		str_same(a->u.del.path, b->u.del.path, "path");
		SAME(a->u.del.if_version, b->u.del.if_version);
		break;
	case CMD_NODE_JOIN:
		SAME(a->u.join.id, b->u.join.id);
		str_same(a->u.join.name, b->u.join.name, "name");
		str_same(a->u.join.raft_addr, b->u.join.raft_addr, "raft_addr");
		str_same(a->u.join.http_addr, b->u.join.http_addr, "http_addr");
		break;
	case CMD_NODE_REMOVE:
	case CMD_NODE_DRAIN:
	case CMD_NODE_DOWN:
	case CMD_NODE_UP:
		SAME(a->u.node.node, b->u.node.node);
		break;
	case CMD_NODE_ROLE:
		SAME(a->u.role.node, b->u.role.node);
		SAME(a->u.role.role, b->u.role.role);
		break;
	case CMD_REWIND:
	case CMD_COMPACT:
		SAME(a->u.history.target, b->u.history.target);
		break;
	case CMD_NOOP:
		break;
	default:
		fail("decoded an unknown type");
	}
}

/* Decodes one command and checks the round trip. */
static void one_command(const uint8_t *p, size_t n)
{
	struct buf b = {0}, b2 = {0};
	struct cmd c, again;
	char err[256];
	int rv;

	rv = cmd_decode(p, n, &c, err, sizeof err);
	if (rv != 0) {
		if (rv != ERR_CORRUPT && rv != ERR_INVALID && rv != ERR_TOOBIG &&
		    rv != ERR_UNSUPPORTED)
			fail("cmd_decode returned an undocumented code");
		if (err[0] == '\0' || strlen(err) >= sizeof err)
			fail("cmd_decode failed without a message");
		return;
	}
	if (cmd_type_name(c.type) == NULL)
		fail("decoded a type without a name");
	if (c.body.p < p || c.body.p + c.body.n != p + n)
		fail("body is not the end of the command");
	if (cmd_encode(&c, &b) != 0)
		fail("cmd_encode refused a decoded command");
	if (cmd_decode(b.data, b.len, &again, err, sizeof err) != 0)
		fail("cmd_decode refused what cmd_encode wrote");
	cmd_same(&c, &again);
	if (cmd_encode(&again, &b2) != 0 || b2.len != b.len || memcmp(b.data, b2.data, b.len) != 0)
		fail("cmd_encode is not deterministic");
	buf_release(&b);
	buf_release(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct entry_reader r;
	const void *p;
	size_t n;
	uint32_t k = 0;
	char err[256];
	int rv;

	if (entry_open(&r, data, size, err, sizeof err) == 0) {
		if (entry_count(&r) == 0 || entry_count(&r) > CMD_BATCH_MAX)
			fail("entry count out of range");
		while ((rv = entry_next(&r, &p, &n)) == 0) {
			if ((const uint8_t *)p < data || (const uint8_t *)p + n > data + size)
				fail("command outside the entry");
			one_command(p, n);
			k++;
		}
		if (rv != ERR_NOTFOUND || k != entry_count(&r))
			fail("entry_next disagrees with entry_open");
	}
	one_command(data, size);
	return 0;
}

#ifdef FUZZ_MAKE_CORPUS
/* Writes `len` bytes to DIR/NAME. */
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
	static const uint8_t data[] = "hello, world\n";
	struct buf argvb = {0}, envb = {0}, b = {0}, e = {0};
	struct entry_builder eb;
	struct packer pk;
	struct cmd c[CMD_TYPE_COUNT];
	size_t at[CMD_TYPE_COUNT + 1];
	char name[64];
	uint32_t t;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	packer_init(&pk, &argvb);
	pack_array(&pk, 3);
	pack_cstr(&pk, "/bin/sh");
	pack_cstr(&pk, "-c");
	pack_cstr(&pk, "echo hi");
	packer_init(&pk, &envb);
	pack_map(&pk, 1);
	pack_cstr(&pk, "PATH");
	pack_cstr(&pk, "/bin");
	memset(c, 0, sizeof c);
	for (t = 1; t < CMD_TYPE_COUNT; t++) {
		c[t].type = t;
		c[t].time_ms = 1700000000000ull + t;
		c[t].origin = 1;
		c[t].term = 2;
		c[t].request_id = t;
		c[t].principal = (struct strref){"root", 4};
		if (t % 2 == 0)
			c[t].key = (struct strref){"k1", 2};
	}
	c[CMD_PROC_SUBMIT].u.submit = (struct cmd_proc_submit){{argvb.data, argvb.len, 3},
							       {envb.data, envb.len, 1},
							       {"/tmp", 4},
							       PLACE_NODE,
							       {"n1", 2},
							       RESTART_ON_FAILURE,
							       3,
							       1000};
	c[CMD_PROC_STARTED].u.started = (struct cmd_proc_started){7, 1, 4242};
	c[CMD_PROC_OUTPUT].u.output =
		(struct cmd_proc_output){7, 1, STREAM_STDOUT, 0, {data, sizeof data - 1}};
	c[CMD_PROC_EXITED].u.exited = (struct cmd_proc_exited){7, 1, -1, 9};
	c[CMD_PROC_KILL].u.kill = (struct cmd_proc_kill){7, 15};
	c[CMD_PROC_LOST].u.lost = (struct cmd_proc_lost){7, 1, {"agent restarted", 15}};
	c[CMD_STEP_RECORD].u.step =
		(struct cmd_step_record){7, 1, {"fetch", 5}, 0, {data, sizeof data - 1}};
	c[CMD_MSG_SEND].u.send = (struct cmd_msg_send){{"jobs", 4}, {data, 5}};
	c[CMD_MSG_RECV].u.recv = (struct cmd_msg_recv){{"jobs", 4}};
	c[CMD_FILE_PUT].u.put = (struct cmd_file_put){{"/etc/motd", 9}, {data, 5}, -1};
	c[CMD_FILE_DEL].u.del = (struct cmd_file_del){{"/etc/motd", 9}, 3};
	c[CMD_NODE_JOIN].u.join = (struct cmd_node_join){
		0, {"n2", 2}, {"127.0.0.1:7701", 14}, {"127.0.0.1:7700", 14}};
	c[CMD_NODE_REMOVE].u.node.node = 2;
	c[CMD_NODE_DRAIN].u.node.node = 2;
	c[CMD_NODE_DOWN].u.node.node = 2;
	c[CMD_NODE_UP].u.node.node = 2;
	c[CMD_NODE_ROLE].u.role = (struct cmd_node_role){2, ROLE_SPARE};
	c[CMD_REWIND].u.history.target = 10;
	c[CMD_COMPACT].u.history.target = 10;

	/* Each command alone, each as an entry of one, and one entry of all. */
	at[0] = 0;
	for (t = 1; t < CMD_TYPE_COUNT; t++) {
		if (cmd_encode(&c[t], &b) != 0) {
			fprintf(stderr, "cannot encode %s\n", cmd_type_name(t));
			return 1;
		}
		at[t] = b.len;
		snprintf(name, sizeof name, "cmd-%s", cmd_type_name(t));
		write_seed(argv[1], name, b.data + at[t - 1], at[t] - at[t - 1]);
		e.len = 0;
		if (entry_begin(&eb, &e) != 0 ||
		    entry_add(&eb, b.data + at[t - 1], at[t] - at[t - 1]) != 0 ||
		    entry_finish(&eb) != 0)
			return 1;
		snprintf(name, sizeof name, "entry-%s", cmd_type_name(t));
		write_seed(argv[1], name, e.data, e.len);
	}
	e.len = 0;
	if (entry_begin(&eb, &e) != 0)
		return 1;
	for (t = 1; t < CMD_TYPE_COUNT; t++)
		if (entry_add(&eb, b.data + at[t - 1], at[t] - at[t - 1]) != 0)
			return 1;
	if (entry_finish(&eb) != 0)
		return 1;
	write_seed(argv[1], "entry-all", e.data, e.len);
	buf_release(&argvb);
	buf_release(&envb);
	buf_release(&b);
	buf_release(&e);
	return 0;
}
#endif /* FUZZ_MAKE_CORPUS */
