/*
 * libFuzzer target of the snapshot loader (store_restore, statestore/store.h).
 * One store in a temporary directory, opened once per process and reused
 * across inputs. Each input is restored twice: as it is, and with its trailing
 * hash recomputed, so that mutations reach the checks behind the hash
 * (structure, order, the meta record, the digest of the rows).
 *
 * Properties checked (any violation abort()s):
 *   - a rejected restore returns a documented code with a message and changes
 *     nothing: a snapshot of the store taken afterwards is byte-for-byte the
 *     one taken before;
 *   - an accepted restore of a state the store had already applied (at or past
 *     the snapshot's index, with the snapshot's digest there) changes nothing;
 *   - any other accepted restore leaves a store whose applied index, oldest index and
 *     digest are the header's, whose digest recomputed from its rows is that
 *     digest, whose snapshot is byte-for-byte the input (a restore is exact),
 *     whose recorded digests and as-of reads can be read without error
 *     beyond ERR_RANGE/ERR_NOTFOUND/ERR_CORRUPT, and which can be rewound to
 *     its oldest index (an error is allowed, a crash or a loop is not).
 *
 * Built and run by scripts/fuzz. Compiled with -DFUZZ_MAKE_CORPUS (and
 * without -fsanitize=fuzzer) it is instead a program that writes the seed
 * corpus, snapshots of stores built by applying real commands:
 *     fuzz_snapshot DIR
 */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/pack.h"
#include "services/command.h"
#include "statestore/apply.h"
#include "statestore/internal.h"
#include "statestore/store.h"

/* The snapshot format of statestore/snapshot.c (private there). */
#define SNAP_HEADER_LEN  (8 + 4 + 8 + 8 + 16)
#define SNAP_TRAILER_LEN 16
#define SNAP_HASH_SEED   0x534e4150ULL

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small map so that restores of bigger inputs exercise growing it. */
static const struct store_options options = {1u << 20, 256u << 20};

static struct {
	char dir[PATH_MAX];
	struct store s;
	struct buf before; /* snapshot of the store's current state */
	struct buf after;
	struct buf copy;
} g;

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_snapshot: %s\n", what);
	abort();
}

static void remove_dir(void)
{
	char path[PATH_MAX + 32];

	snprintf(path, sizeof path, "%s/data.mdb", g.dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/lock.mdb", g.dir);
	unlink(path);
	rmdir(g.dir);
}

static void take(struct buf *out)
{
	out->len = 0;
	if (store_snapshot(&g.s, out) != 0)
		fail(g.s.errmsg);
}

/* Recomputes the digest of the latest versioned rows through the public
 * scan, independently of the loader's own check. */
static struct hash128 recompute_digest(void)
{
	struct store_txn t;
	struct store_iter it;
	struct hash128 d = {0, 0};
	const void *k, *v;
	size_t kl, vl;
	int table, rv;

	if (store_read(&g.s, &t) != 0)
		fail(g.s.errmsg);
	for (table = 0; table < STORE_N_VERSIONED; table++) {
		if (store_iter_init(&it, &t, table, NULL, 0, STORE_AT_LATEST) != 0)
			fail("cannot scan a restored table");
		while ((rv = store_iter_next(&it, &k, &kl, &v, &vl)) == 0)
			d = digest_add(d, store__row_hash(table, k, kl, v, vl));
		if (rv != ERR_NOTFOUND)
			fail("scan of a restored table failed");
		store_iter_close(&it);
	}
	store_read_end(&t);
	return d;
}

/* Reads a restored store as of its oldest and its applied index: what a
 * replica serves right after installing a snapshot. Damaged history may be
 * reported (ERR_CORRUPT), never crash. */
static void read_history(void)
{
	struct store_txn t;
	struct store_iter it;
	struct hash128 d;
	const void *k, *v;
	size_t kl, vl;
	uint64_t at[2];
	int table, rv, i, n;

	if (store_read(&g.s, &t) != 0)
		fail(g.s.errmsg);
	at[0] = t.oldest;
	at[1] = t.index;
	for (i = 0; i < 2; i++) {
		rv = store_digest_at(&t, at[i], &d);
		if (rv != 0 && rv != ERR_RANGE && rv != ERR_CORRUPT && rv != ERR_NOTFOUND)
			fail("store_digest_at returned an undocumented code");
		for (table = 0; table < STORE_N_TABLES; table++) {
			if (store_iter_init(&it, &t, table, NULL, 0, at[i]) != 0)
				continue;
			for (n = 0; n < 1000 && (rv = store_iter_next(&it, &k, &kl, &v, &vl)) == 0;
			     n++)
				;
			store_iter_close(&it);
		}
	}
	store_read_end(&t);
}

static int rewind_fn(struct store_txn *t, void *arg)
{
	int rv = store_rewind(t, *(uint64_t *)arg);

	if (rv != 0 && rv != ERR_RANGE && rv != ERR_CORRUPT && rv != ERR_FULL && rv != ERR_NOMEM)
		fail("store_rewind returned an undocumented code");
	return rv;
}

/* Rewinds a restored store to its oldest index, as the next applied index:
 * what the history is for. Damaged history may be reported, never crash or
 * loop. */
static void rewind_history(void)
{
	uint64_t applied = store_applied_index(&g.s), target = store_oldest_index(&g.s);
	int rv;

	if (applied >= UINT64_MAX - 1 || target >= applied)
		return;
	rv = store_apply(&g.s, applied + 1, rewind_fn, &target);
	if (rv != 0 && rv != ERR_RANGE && rv != ERR_CORRUPT && rv != ERR_FULL && rv != ERR_NOMEM)
		fail("store_apply of a rewind returned an undocumented code");
	take(&g.before);
}

/* Whether the store has applied the state of a snapshot with this header
 * already (at or past its index, with its digest there): then an accepted
 * restore changes nothing (store_restore). */
static bool already_applied(const uint8_t *p, size_t n)
{
	struct store_txn t;
	struct hash128 d;
	uint64_t at;
	bool same;

	if (n < 44)
		return false;
	at = be64_get(p + 12);
	if (at == 0 || at > store_applied_index(&g.s) || store_read(&g.s, &t) != 0)
		return false;
	same = store_digest_at(&t, at, &d) == 0 && digest_equal(d, digest_get(p + 28));
	store_read_end(&t);
	return same;
}

static void restore_one(const uint8_t *p, size_t n)
{
	struct hash128 claimed;
	bool held = already_applied(p, n);
	int rv;

	rv = store_restore(&g.s, p, n);
	if (rv != 0) {
		if (rv != ERR_CORRUPT && rv != ERR_UNSUPPORTED && rv != ERR_FULL)
			fail("store_restore returned an undocumented code");
		if (g.s.errmsg[0] == '\0')
			fail("store_restore failed without a message");
		take(&g.after);
		if (g.after.len != g.before.len ||
		    memcmp(g.after.data, g.before.data, g.before.len))
			fail("a rejected restore changed the store");
		return;
	}
	if (held) {
		take(&g.after);
		if (g.after.len != g.before.len ||
		    memcmp(g.after.data, g.before.data, g.before.len))
			fail("a restore of a state the store had applied changed the store");
		return;
	}
	claimed = digest_get(p + 28);
	if (store_applied_index(&g.s) != be64_get(p + 12) ||
	    store_oldest_index(&g.s) != be64_get(p + 20) ||
	    !digest_equal(store_digest(&g.s), claimed))
		fail("an accepted restore does not give the header's state");
	if (!digest_equal(recompute_digest(), claimed))
		fail("an accepted restore holds rows that do not match its digest");
	take(&g.before);
	if (g.before.len != n || memcmp(g.before.data, p, n) != 0)
		fail("the snapshot of a restored store is not the snapshot restored");
	read_history();
	rewind_history();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(g.dir, sizeof g.dir, "%s/logos-fuzz-snapshot-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(g.dir) == NULL)
		fail("cannot make a temporary directory");
	if (store_open(&g.s, g.dir, &options) != 0)
		fail(g.s.errmsg);
	atexit(remove_dir);
	take(&g.before);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	restore_one(data, size);
	if (size >= SNAP_HEADER_LEN + SNAP_TRAILER_LEN) {
		struct hash128 h = hash128(data, size - SNAP_TRAILER_LEN, SNAP_HASH_SEED);
		uint8_t tail[SNAP_TRAILER_LEN];

		digest_put(tail, h);
		if (memcmp(tail, data + size - SNAP_TRAILER_LEN, SNAP_TRAILER_LEN) != 0) {
			g.copy.len = 0;
			if (buf_append(&g.copy, data, size) != 0)
				fail("out of memory");
			memcpy(g.copy.data + size - SNAP_TRAILER_LEN, tail, SNAP_TRAILER_LEN);
			restore_one(g.copy.data, size);
		}
	}
	return 0;
}

#ifdef FUZZ_MAKE_CORPUS
/* Builds stores by applying real commands and writes snapshots of them. */

static struct {
	struct applier ap;
	struct sm sm;
	uint64_t index;
	uint64_t request_id;
	const char *dir;
} mk;

static void write_seed(const char *name, const void *p, size_t len)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", mk.dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void snap(const char *name)
{
	struct buf b = {0};

	if (store_snapshot(&g.s, &b) != 0)
		fail(g.s.errmsg);
	write_seed(name, b.data, b.len);
	buf_release(&b);
}

/* Applies `c` alone as the next index. */
static void apply(struct cmd *c)
{
	struct buf cb = {0}, e = {0};
	struct entry_builder eb;

	c->time_ms = 1700000000000ull + mk.index;
	c->origin = 1;
	c->term = 1;
	c->request_id = ++mk.request_id;
	c->principal = (struct strref){"root", 4};
	if (cmd_encode(c, &cb) != 0 || entry_begin(&eb, &e) != 0 ||
	    entry_add(&eb, cb.data, cb.len) != 0 || entry_finish(&eb) != 0)
		fail("cannot encode a command");
	if (applier_apply(&mk.ap, ++mk.index, e.data, e.len) != 0)
		fail(g.s.errmsg);
	buf_release(&cb);
	buf_release(&e);
}

static void put(const char *path, const char *data)
{
	struct cmd c = {.type = CMD_FILE_PUT};

	c.u.put = (struct cmd_file_put){
		{path, strlen(path)}, {(const uint8_t *)data, strlen(data)}, -1};
	apply(&c);
}

static void send_msg(const char *queue, const char *data)
{
	struct cmd c = {.type = CMD_MSG_SEND};

	c.u.send = (struct cmd_msg_send){{queue, strlen(queue)},
					 {(const uint8_t *)data, strlen(data)}};
	apply(&c);
}

static void history(uint32_t type, uint64_t target)
{
	struct cmd c = {.type = type};

	c.u.history.target = target;
	apply(&c);
}

int main(int argc, char **argv)
{
	struct buf argvb = {0}, envb = {0};
	struct packer pk;
	struct cmd c;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	mk.dir = argv[1];
	LLVMFuzzerInitialize(NULL, NULL);
	applier_init(&mk.ap, &g.s, &mk.sm, NULL, NULL);
	snap("empty");

	memset(&c, 0, sizeof c);
	c.type = CMD_NODE_JOIN;
	c.u.join = (struct cmd_node_join){
		0, {"n1", 2}, {"127.0.0.1:7701", 14}, {"127.0.0.1:7700", 14}};
	apply(&c);
	snap("node");

	put("/etc/motd", "hello");
	put("/a/b", "1");
	snap("files");
	put("/a/b", "2");
	{
		struct cmd d = {.type = CMD_FILE_DEL};
		d.u.del = (struct cmd_file_del){{"/etc/motd", 9}, -1};
		apply(&d);
	}
	snap("files-history");

	send_msg("jobs", "one");
	send_msg("jobs", "two");
	memset(&c, 0, sizeof c);
	c.type = CMD_MSG_RECV;
	c.u.recv = (struct cmd_msg_recv){{"jobs", 4}};
	apply(&c);
	snap("queue");

	packer_init(&pk, &argvb);
	pack_array(&pk, 2);
	pack_cstr(&pk, "/bin/echo");
	pack_cstr(&pk, "hi");
	packer_init(&pk, &envb);
	pack_map(&pk, 1);
	pack_cstr(&pk, "PATH");
	pack_cstr(&pk, "/bin");
	memset(&c, 0, sizeof c);
	c.type = CMD_PROC_SUBMIT;
	c.key = (struct strref){"k1", 2};
	c.u.submit = (struct cmd_proc_submit){{argvb.data, argvb.len, 2},
					      {envb.data, envb.len, 1},
					      {"/tmp", 4},
					      PLACE_NODE,
					      {"n1", 2},
					      RESTART_NO,
					      0,
					      0};
	apply(&c);
	snap("proc");
	memset(&c, 0, sizeof c);
	c.type = CMD_PROC_STARTED;
	c.u.started = (struct cmd_proc_started){1, 1, 4242};
	apply(&c);
	memset(&c, 0, sizeof c);
	c.type = CMD_PROC_OUTPUT;
	c.u.output = (struct cmd_proc_output){1, 1, STREAM_STDOUT, 0, {(const uint8_t *)"hi\n", 3}};
	apply(&c);
	memset(&c, 0, sizeof c);
	c.type = CMD_STEP_RECORD;
	c.u.step = (struct cmd_step_record){1, 1, {"fetch", 5}, 0, {(const uint8_t *)"ok", 2}};
	apply(&c);
	memset(&c, 0, sizeof c);
	c.type = CMD_PROC_EXITED;
	c.u.exited = (struct cmd_proc_exited){1, 1, 0, 0};
	apply(&c);
	snap("proc-ran");

	history(CMD_REWIND, 3);
	snap("rewound");
	put("/after", "rewind");
	history(CMD_COMPACT, 6);
	snap("compacted");
	history(CMD_REWIND, 8);
	history(CMD_COMPACT, 12);
	snap("rewound-compacted");

	applier_close(&mk.ap);
	store_close(&g.s);
	buf_release(&argvb);
	buf_release(&envb);
	return 0;
}
#endif /* FUZZ_MAKE_CORPUS */
