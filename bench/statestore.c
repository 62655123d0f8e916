/*
 * Benchmark of the state store (statestore/store.h; DESIGN §4.2, §8). In a
 * fresh temporary directory, removed at the end, it measures
 *   - write throughput: small rows (8-byte big-endian keys, 32-byte values)
 *     put into a versioned table (STORE_FILES) in batches of 1000 rows, each
 *     batch one applied index, that is one store_apply and one synced LMDB
 *     commit; once with sequential keys and once with scattered keys;
 *   - as-of read latency: store_get of a random row at a random past index,
 *     for growing lengths of history (history entries = versioned writes
 *     recorded, built by overwriting a fixed set of 1000 rows, 100 per index).
 *     DESIGN §4.2 promises one ordered seek, so the median should barely move
 *     as the history grows. Reads at the latest index, which skip the
 *     history, give the yardstick: in the same table, and in a table of as
 *     many rows as the longest history has entries;
 *   - rewind time: one store_apply whose work is store_rewind() back over N
 *     rows changed since the target index, commit included.
 * Every read and every rewind is checked against the expected answer, so a
 * wrong result fails the run instead of yielding a fast figure. The report is
 * markdown on stdout. Benchmarks assert no timings and `make check` never runs
 * this program (DESIGN §8: tests assert behaviour, never timings).
 *
 * Usage: bench_statestore [--quick] [--dir DIR]
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "common/buf.h"
#include "common/error.h"
#include "statestore/store.h"

#define KEY_LEN        8
#define VALUE_LEN      32
#define ROWS_PER_APPLY 1000 /* Rows per index in the write and rewind runs. */
#define READS_PER_TXN  1000 /* store_get calls per read transaction. */
#define MAX_STEPS      3
#define TIMER_SAMPLES  100000
#define MAP_SIZE       ((size_t)4 << 30)

/* The history run overwrites HIST_ROWS_PER_IX of a fixed set of HIST_KEYS rows
 * per index, so each row changes every HIST_PERIOD indexes. */
#define HIST_KEYS        1000
#define HIST_ROWS_PER_IX 100
#define HIST_PERIOD      (HIST_KEYS / HIST_ROWS_PER_IX)

/* What one run measures. */
struct plan {
	const char *name;
	uint64_t write_rows;
	uint64_t history[MAX_STEPS]; /* History lengths, increasing. */
	uint64_t reads;              /* Reads per history length. */
	uint64_t rewind[MAX_STEPS];  /* Changed rows per rewind; 0 ends the list. */
};

static const struct plan full_plan = {
	.name = "full",
	.write_rows = 1000000,
	.history = {1000, 100000, 1000000},
	.reads = 100000,
	.rewind = {10000, 100000},
};

static const struct plan quick_plan = {
	.name = "quick",
	.write_rows = 100000,
	.history = {1000, 10000, 100000},
	.reads = 10000,
	.rewind = {1000, 10000},
};

/* The temporary directory and the store being measured in it. */
struct bench {
	char root[PATH_MAX / 2];
	char path[PATH_MAX];
	struct store store;
	bool open;
};

/* Percentiles of one set of latency samples, in nanoseconds. */
struct latency {
	double mean;
	uint32_t p50, p99, max;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: a small, fast generator; the state is the caller's. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* A bijection of 64-bit integers that scatters consecutive ones: distinct row
 * numbers give distinct keys spread over the whole key space. */
static uint64_t scatter(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* A row's value records the index that wrote it and its key, so a read can be
 * checked: [index u64be][key u64be][16 filler bytes]. */
static void make_value(uint8_t *v, uint64_t index, uint64_t key)
{
	be64_put(v, index);
	be64_put(v + 8, key);
	memset(v + 16, 0x5a, VALUE_LEN - 16);
}

static int compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts `samples` in place and summarises them. */
static struct latency summarise(uint32_t *samples, size_t n)
{
	struct latency l;
	double sum = 0;
	size_t i;

	qsort(samples, n, sizeof *samples, compare_u32);
	for (i = 0; i < n; i++)
		sum += samples[i];
	l.mean = sum / (double)n;
	l.p50 = samples[n / 2];
	l.p99 = samples[n * 99 / 100];
	l.max = samples[n - 1];
	return l;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static void remove_tree(const char *path)
{
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
		fprintf(stderr, "bench_statestore: remove '%s': %s\n", path, strerror(errno));
}

/* Opens a fresh store in the subdirectory `name` of the temporary directory. */
static int bench_open(struct bench *b, const char *name)
{
	/* A map far larger than any store of a run (growing it would abort and
	 * retry a timed transaction), yet small enough for valgrind, which
	 * cannot map the default 64 GiB. */
	struct store_options opts = {.map_size = MAP_SIZE};
	int rc;

	snprintf(b->path, sizeof b->path, "%s/%s", b->root, name);
	rc = store_open(&b->store, b->path, &opts);
	if (rc != 0) {
		fprintf(stderr, "bench_statestore: %s\n", b->store.errmsg);
		return rc;
	}
	b->open = true;
	return 0;
}

/* Closes the current store and deletes its files, keeping the disk use of a
 * run to one store at a time. */
static void bench_close(struct bench *b)
{
	if (!b->open)
		return;
	store_close(&b->store);
	b->open = false;
	remove_tree(b->path);
}

static int bench_fail(struct bench *b, int rc, const char *what)
{
	fprintf(stderr, "bench_statestore: %s: %s (%s)\n", what, b->store.errmsg, err_str(rc));
	return rc;
}

/* Size of the current store's data file, in MiB. */
static double store_mib(const struct bench *b)
{
	char file[PATH_MAX + 16];
	struct stat st;

	snprintf(file, sizeof file, "%s/data.mdb", b->path);
	if (stat(file, &st) != 0)
		return 0;
	return (double)st.st_size / (1024.0 * 1024.0);
}

/* --- Timed reads ------------------------------------------------------- */

/* What a timed read run reads: a random one of rows 0 .. rows - 1 at a random
 * index, or at the latest. */
struct read_set {
	uint64_t rows;
	bool latest;
	/* The index whose write a read of row `key` at `at` must return; 0 when
	 * the row did not exist then. */
	uint64_t (*writer)(uint64_t key, uint64_t at);
};

/*
 * Times `n` store_get calls on the rows of `set`, READS_PER_TXN per read
 * transaction, into `samples` (nanoseconds), and checks every answer. An
 * as-of index is drawn from 0 .. applied - 1 (nothing is compacted here): a
 * read at the applied index itself skips the history, which is what the
 * "latest" runs measure.
 */
static int time_reads(struct bench *b, const struct read_set *set, uint64_t n, uint64_t seed,
		      uint32_t *samples)
{
	struct store *s = &b->store;
	uint8_t key[KEY_LEN];
	const void *val;
	struct store_txn t;
	uint64_t done = 0, i, chunk, k, at, want, start, end;
	size_t vlen;
	int rc;

	while (done < n) {
		rc = store_read(s, &t);
		if (rc != 0)
			return bench_fail(b, rc, "begin read");
		chunk = n - done < READS_PER_TXN ? n - done : READS_PER_TXN;
		for (i = 0; i < chunk; i++) {
			k = rng_next(&seed) % set->rows;
			at = set->latest ? STORE_AT_LATEST : rng_next(&seed) % t.index;
			be64_put(key, k);
			start = now_ns();
			rc = store_get(&t, STORE_FILES, key, sizeof key, at, &val, &vlen);
			end = now_ns();
			samples[done + i] =
				end - start > UINT32_MAX ? UINT32_MAX : (uint32_t)(end - start);
			want = set->writer(k, set->latest ? t.index : at);
			if (want == 0 ? rc == ERR_NOTFOUND
				      : rc == 0 && vlen == VALUE_LEN && be64_get(val) == want &&
						be64_get((const uint8_t *)val + 8) == k)
				continue;
			store_read_end(&t);
			if (rc != 0 && rc != ERR_NOTFOUND)
				return bench_fail(b, rc, "read");
			fprintf(stderr,
				"bench_statestore: wrong read: row %llu at index %llu: expected %s "
				"%llu, got %s %llu\n",
				(unsigned long long)k, (unsigned long long)at,
				want ? "the value of index" : "no row", (unsigned long long)want,
				rc == 0 ? "the value of index" : "no row",
				rc == 0 ? (unsigned long long)be64_get(val) : 0ull);
			return ERR_INTERNAL;
		}
		store_read_end(&t);
		done += chunk;
	}
	return 0;
}

/* Entries and B-tree depth of one LMDB database of the current store. */
static int tree_stat(struct bench *b, MDB_dbi dbi, MDB_stat *st)
{
	struct store_txn t;
	int rc;

	rc = store_read(&b->store, &t);
	if (rc != 0)
		return bench_fail(b, rc, "begin read");
	rc = mdb_stat(t.txn, dbi, st);
	store_read_end(&t);
	if (rc != 0) {
		fprintf(stderr, "bench_statestore: mdb_stat: %s\n", mdb_strerror(rc));
		return ERR_IO;
	}
	return 0;
}

/* One line of the reads table. */
struct read_row {
	const char *what;
	uint64_t rows;
	uint64_t entries; /* History entries. */
	uint64_t indexes;
	unsigned depth; /* Of the B-tree the read searches. */
	struct latency l;
};

static void print_read_row(const struct read_row *r)
{
	printf("| %s | %llu | %llu | %llu | %u | %.2f | %.2f | %.2f | %.1f |\n", r->what,
	       (unsigned long long)r->rows, (unsigned long long)r->entries,
	       (unsigned long long)r->indexes, r->depth, r->l.p50 / 1e3, r->l.p99 / 1e3,
	       r->l.mean / 1e3, r->l.max / 1e3);
}

/* --- Writes ------------------------------------------------------------- */

/* The work of one index: put rows first .. first + count - 1. */
struct row_batch {
	uint64_t first;
	uint64_t count;
	bool scattered;
};

static int put_rows(struct store_txn *t, void *arg)
{
	const struct row_batch *batch = arg;
	uint8_t key[KEY_LEN], val[VALUE_LEN];
	uint64_t i, k;
	int rc;

	for (i = 0; i < batch->count; i++) {
		k = batch->first + i;
		if (batch->scattered)
			k = scatter(k);
		be64_put(key, k);
		make_value(val, t->index, k);
		rc = store_put(t, STORE_FILES, key, sizeof key, val, sizeof val);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Puts rows 0 .. count - 1, ROWS_PER_APPLY per index, after the applied index. */
static int put_row_range(struct store *s, uint64_t count, bool scattered)
{
	struct row_batch batch = {0, 0, scattered};
	uint64_t done;
	int rc;

	for (done = 0; done < count; done += batch.count) {
		batch.first = done;
		batch.count = count - done < ROWS_PER_APPLY ? count - done : ROWS_PER_APPLY;
		rc = store_apply(s, store_applied_index(s) + 1, put_rows, &batch);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Row k of the sequential write run was written once, by index
 * k / ROWS_PER_APPLY + 1. */
static uint64_t sequential_writer(uint64_t k, uint64_t at)
{
	return k / ROWS_PER_APPLY + 1;
}

/*
 * Times the writes, and, in the table of sequential keys, reads at the latest
 * index: the cost of one lookup in a B-tree as large as the longest history,
 * the yardstick of the as-of reads (into *baseline).
 */
static int run_writes(struct bench *b, const struct plan *p, uint32_t *samples,
		      struct read_row *baseline)
{
	static const char *const kinds[] = {"sequential", "scattered"};
	struct read_set set = {p->write_rows, true, sequential_writer};
	uint64_t start, elapsed;
	MDB_stat st;
	int kind, rc;

	printf("## Writes\n\n");
	printf("%llu rows of %d-byte keys and %d-byte values into a versioned table, "
	       "%d rows per applied index (one store_apply, one synced commit each). "
	       "Sequential keys count up; scattered keys are the same numbers through a "
	       "bijective mix, spread over the key space.\n\n",
	       (unsigned long long)p->write_rows, KEY_LEN, VALUE_LEN, ROWS_PER_APPLY);
	printf("| keys | rows | indexes | seconds | writes/s | store MiB |\n");
	printf("|---|--:|--:|--:|--:|--:|\n");
	fflush(stdout);
	for (kind = 0; kind < 2; kind++) {
		rc = bench_open(b, kinds[kind]);
		if (rc != 0)
			return rc;
		start = now_ns();
		rc = put_row_range(&b->store, p->write_rows, kind == 1);
		elapsed = now_ns() - start;
		if (rc != 0)
			return bench_fail(b, rc, "writes");
		printf("| %s | %llu | %llu | %.2f | %.0f | %.0f |\n", kinds[kind],
		       (unsigned long long)p->write_rows,
		       (unsigned long long)store_applied_index(&b->store), elapsed / 1e9,
		       p->write_rows / (elapsed / 1e9), store_mib(b));
		fflush(stdout);
		if (kind == 0) {
			rc = tree_stat(b, b->store.tables[STORE_FILES], &st);
			if (rc == 0)
				rc = time_reads(b, &set, p->reads, 3, samples);
			if (rc != 0)
				return rc;
			baseline->what = "latest";
			baseline->rows = p->write_rows;
			baseline->entries = p->write_rows;
			baseline->indexes = store_applied_index(&b->store);
			baseline->depth = st.ms_depth;
			baseline->l = summarise(samples, p->reads);
		}
		bench_close(b);
	}
	printf("\n");
	return 0;
}

/* --- As-of reads -------------------------------------------------------- */

/* The work of index i: overwrite the i-th block of HIST_ROWS_PER_IX rows of
 * the HIST_KEYS rows, cycling, so row k changes at the indexes
 * i ≡ k / HIST_ROWS_PER_IX + 1 (mod HIST_PERIOD). */
static int put_history(struct store_txn *t, void *arg)
{
	uint64_t block = (t->index - 1) % HIST_PERIOD, k;
	uint8_t key[KEY_LEN], val[VALUE_LEN];
	int i, rc;

	for (i = 0; i < HIST_ROWS_PER_IX; i++) {
		k = block * HIST_ROWS_PER_IX + (uint64_t)i;
		be64_put(key, k);
		make_value(val, t->index, k);
		rc = store_put(t, STORE_FILES, key, sizeof key, val, sizeof val);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The index that wrote the value row `k` of the history run has at index
 * `at`, or 0 if the row did not exist yet. */
static uint64_t history_writer(uint64_t k, uint64_t at)
{
	uint64_t first = k / HIST_ROWS_PER_IX + 1;

	if (at < first)
		return 0;
	return at - (at - first) % HIST_PERIOD;
}

static int run_reads(struct bench *b, const struct plan *p, uint32_t *samples,
		     const struct read_row *baseline)
{
	struct read_set set = {HIST_KEYS, false, history_writer};
	struct read_row row = {"as of N", HIST_KEYS, 0, 0, 0, {0, 0, 0, 0}};
	MDB_stat st;
	int step, rc;

	rc = bench_open(b, "history");
	if (rc != 0)
		return rc;
	printf("## Reads\n\n");
	printf("\"as of N\": store_get of a random one of %d rows at a random index N below "
	       "the applied one; %d of the rows are overwritten per index, so each row has "
	       "one version per %d indexes. \"latest\": store_get at the applied index (no "
	       "history involved), in the same table and in the %llu-row table of the "
	       "sequential writes. %llu reads per line, %d per read transaction; depth of "
	       "the B-tree searched (history or table); latencies in µs, each including the "
	       "timer.\n\n",
	       HIST_KEYS, HIST_ROWS_PER_IX, HIST_PERIOD, (unsigned long long)p->write_rows,
	       (unsigned long long)p->reads, READS_PER_TXN);
	printf("| read | table rows | history entries | indexes | depth | p50 | p99 | mean | "
	       "max |\n");
	printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
	fflush(stdout);
	for (step = 0; step < MAX_STEPS && p->history[step] != 0; step++) {
		while (row.entries < p->history[step]) {
			rc = store_apply(&b->store, store_applied_index(&b->store) + 1, put_history,
					 NULL);
			if (rc != 0) {
				rc = bench_fail(b, rc, "build history");
				goto out;
			}
			row.entries += HIST_ROWS_PER_IX;
		}
		if ((rc = tree_stat(b, b->store.hist_key, &st)) != 0)
			goto out;
		if (st.ms_entries != row.entries) {
			fprintf(stderr,
				"bench_statestore: the history holds %zu entries after %llu "
				"versioned writes\n",
				st.ms_entries, (unsigned long long)row.entries);
			rc = ERR_INTERNAL;
			goto out;
		}
		rc = time_reads(b, &set, p->reads, 42 + (uint64_t)step, samples);
		if (rc != 0)
			goto out;
		row.indexes = store_applied_index(&b->store);
		row.depth = st.ms_depth;
		row.l = summarise(samples, p->reads);
		print_read_row(&row);
		fflush(stdout);
	}
	set.latest = true;
	if ((rc = tree_stat(b, b->store.tables[STORE_FILES], &st)) != 0 ||
	    (rc = time_reads(b, &set, p->reads, 7, samples)) != 0)
		goto out;
	row.what = "latest";
	row.depth = st.ms_depth;
	row.l = summarise(samples, p->reads);
	print_read_row(&row);
	print_read_row(baseline);
	printf("\n");
out:
	bench_close(b);
	return rc;
}

/* --- Rewind ------------------------------------------------------------- */

static int rewind_to(struct store_txn *t, void *arg)
{
	return store_rewind(t, *(const uint64_t *)arg);
}

static int run_rewinds(struct bench *b, const struct plan *p)
{
	struct hash128 at_target;
	uint64_t target, start, elapsed;
	char name[32];
	int step, rc;

	printf("## Rewind\n\n");
	printf("N rows put at or before index T, then all N overwritten after T (%d per index); "
	       "timed: one store_apply whose work is store_rewind(T), commit included. "
	       "Checked: the digest afterwards equals the digest at T.\n\n",
	       ROWS_PER_APPLY);
	printf("| changed rows | indexes rewound | ms | rows/s |\n");
	printf("|--:|--:|--:|--:|\n");
	fflush(stdout);
	for (step = 0; step < MAX_STEPS && p->rewind[step] != 0; step++) {
		snprintf(name, sizeof name, "rewind-%llu", (unsigned long long)p->rewind[step]);
		if ((rc = bench_open(b, name)) != 0)
			return rc;
		rc = put_row_range(&b->store, p->rewind[step], false);
		if (rc != 0)
			return bench_fail(b, rc, "rewind set-up");
		target = store_applied_index(&b->store);
		at_target = store_digest(&b->store);
		/* The same rows again: each value records its index, so all change. */
		rc = put_row_range(&b->store, p->rewind[step], false);
		if (rc != 0)
			return bench_fail(b, rc, "rewind set-up");
		start = now_ns();
		rc = store_apply(&b->store, store_applied_index(&b->store) + 1, rewind_to, &target);
		elapsed = now_ns() - start;
		if (rc != 0)
			return bench_fail(b, rc, "rewind");
		if (!digest_equal(store_digest(&b->store), at_target)) {
			fprintf(stderr,
				"bench_statestore: the digest after rewinding to index %llu "
				"differs from the digest at %llu\n",
				(unsigned long long)target, (unsigned long long)target);
			return ERR_INTERNAL;
		}
		printf("| %llu | %llu | %.1f | %.0f |\n", (unsigned long long)p->rewind[step],
		       (unsigned long long)(store_applied_index(&b->store) - 1 - target),
		       elapsed / 1e6, p->rewind[step] / (elapsed / 1e9));
		fflush(stdout);
		bench_close(b);
	}
	printf("\n");
	return 0;
}

/* --- The machine -------------------------------------------------------- */

static void cpu_model(char *out, size_t size)
{
	char line[512], *colon;
	FILE *f;

	snprintf(out, size, "unknown");
	f = fopen("/proc/cpuinfo", "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "model name", 10) != 0 || (colon = strchr(line, ':')) == NULL)
			continue;
		colon += strspn(colon + 1, " \t") + 1;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(out, size, "%s", colon);
		break;
	}
	fclose(f);
}

static const char *fs_name(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) != 0)
		return "unknown";
	switch ((unsigned long)sf.f_type) {
	case 0xef53:
		return "ext4";
	case 0x01021994:
		return "tmpfs";
	case 0x58465342:
		return "xfs";
	case 0x9123683e:
		return "btrfs";
	case 0x794c7630:
		return "overlayfs";
	default:
		return "other";
	}
}

/* The cost of the timer itself (the two clock_gettime calls around each
 * sample), included in every latency. */
static uint32_t timer_overhead(void)
{
	uint32_t *samples = malloc(TIMER_SAMPLES * sizeof *samples), p50;
	uint64_t start;
	int i;

	if (samples == NULL)
		return 0;
	for (i = 0; i < TIMER_SAMPLES; i++) {
		start = now_ns();
		samples[i] = (uint32_t)(now_ns() - start);
	}
	p50 = summarise(samples, TIMER_SAMPLES).p50;
	free(samples);
	return p50;
}

static void print_machine(const struct bench *b, const struct plan *p)
{
	struct utsname u;
	char model[256];

	cpu_model(model, sizeof model);
	if (uname(&u) != 0)
		snprintf(u.release, sizeof u.release, "unknown");
	printf("# logos state store benchmark (%s run)\n\n", p->name);
	printf("| | |\n|---|---|\n");
	printf("| CPU | %s, %ld online |\n", model, sysconf(_SC_NPROCESSORS_ONLN));
	printf("| kernel | %s %s %s |\n", u.sysname, u.release, u.machine);
	printf("| LMDB | %s |\n", mdb_version(NULL, NULL, NULL));
#ifdef NDEBUG
	printf("| build | assertions off |\n");
#else
	printf("| build | assertions on (debug build: not for figures) |\n");
#endif
	printf("| directory | %s (%s) |\n", b->root, fs_name(b->root));
	printf("| timer | clock_gettime(CLOCK_MONOTONIC), %u ns per timed sample |\n\n",
	       timer_overhead());
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_statestore [--quick] [--dir DIR]\n"
		   "  --quick    a reduced run (a smoke test of the benchmark)\n"
		   "  --dir DIR  where the temporary directory goes (default: $TMPDIR or /tmp)\n");
}

int main(int argc, char **argv)
{
	const struct plan *p = &full_plan;
	const char *dir = getenv("TMPDIR");
	struct read_row baseline;
	uint32_t *samples;
	struct bench b;
	uint64_t start;
	int i, rc;

	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			p = &quick_plan;
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}

	memset(&b, 0, sizeof b);
	if ((size_t)snprintf(b.root, sizeof b.root, "%s/logos-bench-XXXXXX", dir) >=
	    sizeof b.root) {
		fprintf(stderr, "bench_statestore: directory name '%s' is too long\n", dir);
		return 1;
	}
	if (mkdtemp(b.root) == NULL) {
		fprintf(stderr, "bench_statestore: create a directory in '%s': %s\n", dir,
			strerror(errno));
		return 1;
	}
	samples = malloc(p->reads * sizeof *samples);
	if (samples == NULL) {
		fprintf(stderr, "bench_statestore: out of memory\n");
		rc = ERR_NOMEM;
		goto out_remove;
	}
	start = now_ns();
	print_machine(&b, p);
	if ((rc = run_writes(&b, p, samples, &baseline)) == 0 &&
	    (rc = run_reads(&b, p, samples, &baseline)) == 0)
		rc = run_rewinds(&b, p);
	bench_close(&b);
	free(samples);
out_remove:
	remove_tree(b.root);
	if (rc != 0)
		return 1;
	printf("Total time: %.1f s.\n", (now_ns() - start) / 1e9);
	return 0;
}
