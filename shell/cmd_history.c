/*
 * The history commands (DESIGN §4.2, §6): log (GET /v1/log, -f with
 * /v1/watch), at (any read as of a log index: ?at=), diff (GET /v1/diff)
 * and rewind (POST /v1/rewind, ?plan=1 for the dry run).
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "shell/internal.h"

#define LOG_LIMIT_DEFAULT 20
#define LOG_FOLLOW_BATCH  1000

/* Node names by id, for the ORIGIN column; a failure leaves ids. */
static json_t *node_names(struct ctx *x)
{
	json_t *names = json_object(), *j, *n;
	size_t i;

	if (client_json(&x->cl, "GET", "/v1/nodes", NULL, &j) != 0)
		return names;
	json_array_foreach(json_object_get(j, "nodes"), i, n)
	{
		char id[24];

		snprintf(id, sizeof id, "%lld", jint(n, "id", 0));
		json_object_set_new(names, id, json_string(jstr(n, "name", "?")));
	}
	json_decref(j);
	return names;
}

static void log_print(const json_t *entries, const json_t *names, bool header)
{
	struct table t;
	json_t *e;
	size_t i;

	table_init(&t, 5, "INDEX", "TIME", "ORIGIN", "COMMAND", "SUMMARY");
	json_array_foreach(entries, i, e)
	{
		char ix[32], tm[32], origin[24], summary[600];
		const char *name;

		if (jint(e, "pos", 0) > 0)
			snprintf(ix, sizeof ix, "%lld.%lld", jint(e, "index", 0),
				 jint(e, "pos", 0));
		else
			snprintf(ix, sizeof ix, "%lld", jint(e, "index", 0));
		format_time((uint64_t)jint(e, "time", 0), tm, sizeof tm);
		snprintf(origin, sizeof origin, "%lld", jint(e, "origin", 0));
		name = jstr(names, origin, NULL);
		if (name != NULL)
			snprintf(origin, sizeof origin, "%s", name);
		if (jint(e, "code", 0) != 0)
			snprintf(summary, sizeof summary, "%s (rejected: %s)",
				 jstr(e, "summary", ""), jstr(e, "error", "?"));
		else
			snprintf(summary, sizeof summary, "%s", jstr(e, "summary", ""));
		table_row(&t, ix, tm, origin, jstr(e, "type", "?"), summary);
	}
	if (!header) {
		/* Follow mode: rows only, columns as wide as they come. */
		size_t r;

		for (r = 1; r < t.nrows; r++) {
			size_t c;

			for (c = 0; c < t.ncols; c++)
				printf("%s%s", t.cells[r * t.ncols + c],
				       c + 1 < t.ncols ? "  " : "\n");
		}
		fflush(stdout);
	} else {
		table_print(&t, stdout);
	}
	table_release(&t);
}

/* -f with --json: one compact document per line (JSON Lines). */
static void print_line(json_t *j)
{
	json_dumpf(j, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	fflush(stdout);
}

int cmd_log(struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{"from", required_argument, NULL, 'F'},
		{"limit", required_argument, NULL, 'l'},
		{"follow", no_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	uint64_t from = 0, limit = LOG_LIMIT_DEFAULT, next, applied;
	bool has_from = false, follow = false;
	char path[128];
	json_t *j, *names, *entries;
	int c, rv;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		switch (c) {
		case 'F':
			if (!parse_u64(optarg, &from))
				return usage_error(argv[0], "--from takes a log index, not '%s'",
						   optarg);
			has_from = true;
			break;
		case 'l':
			if (!parse_u64(optarg, &limit) || limit == 0)
				return usage_error(argv[0], "--limit takes a count, not '%s'",
						   optarg);
			break;
		case 'f':
			follow = true;
			break;
		default:
			return usage_error(argv[0], "unknown option or missing value: '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
	if (follow && x->cl.at[0] != '\0')
		return usage_error(argv[0], "-f follows the live log, not the past ('at')");
	if (has_from)
		snprintf(path, sizeof path, "/v1/log?from=%" PRIu64 "&limit=%" PRIu64, from, limit);
	else
		snprintf(path, sizeof path, "/v1/log?limit=%" PRIu64, limit);
	rv = client_json(&x->cl, "GET", path, NULL, &j);
	if (rv != 0)
		return rv;
	if (x->json && !follow) {
		print_json(j);
		json_decref(j);
		return EXIT_OK;
	}
	names = node_names(x);
	entries = json_object_get(j, "entries");
	if (x->json)
		print_line(j);
	else
		log_print(entries, names, true);
	applied = (uint64_t)jint(j, "applied_index", 0);
	next = json_array_size(entries) > 0
		       ? (uint64_t)jint(json_array_get(entries, json_array_size(entries) - 1),
					"index", 0) +
				 1
		       : applied + 1;
	json_decref(j);
	while (follow) {
		struct reply r;
		json_t *w;

		/* DESIGN §6: /v1/watch blocks until the applied index passes N. */
		snprintf(path, sizeof path, "/v1/watch?index=%" PRIu64 "&timeout=30", next - 1);
		rv = client_request(&x->cl, "GET", path, NULL, 0, NULL, NULL, 45, &r);
		if (rv != 0)
			break;
		w = json_loadb(r.body != NULL ? r.body : "", r.len, 0, NULL);
		applied = (uint64_t)jint(w, "index", 0);
		json_decref(w);
		reply_free(&r);
		if (applied < next) {
			if (r.status != 200)
				sleep(1);
			continue;
		}
		snprintf(path, sizeof path, "/v1/log?from=%" PRIu64 "&limit=%d", next,
			 LOG_FOLLOW_BATCH);
		rv = client_json(&x->cl, "GET", path, NULL, &j);
		if (rv != 0)
			break;
		entries = json_object_get(j, "entries");
		if (json_array_size(entries) > 0) {
			if (x->json)
				print_line(j);
			else
				log_print(entries, names, false);
			next = (uint64_t)jint(json_array_get(entries, json_array_size(entries) - 1),
					      "index", 0) +
			       1;
		}
		json_decref(j);
	}
	json_decref(names);
	return rv;
}

int cmd_at(struct ctx *x, int argc, char **argv)
{
	const struct command *c;
	uint64_t index;
	int rv;

	if (argc < 3)
		return usage_error(argv[0], "at takes a log index and a command");
	if (!parse_u64(argv[1], &index))
		return usage_error(argv[0], "'%s' is not a log index", argv[1]);
	c = command_find(argv[2]);
	if (c == NULL || !c->readonly)
		return usage_error(argv[0],
				   "'%s' is not a read command (status nodes ps logs get ls "
				   "queues log)",
				   argv[2]);
	snprintf(x->cl.at, sizeof x->cl.at, "%" PRIu64, index);
	rv = command_run(x, argc - 2, argv + 2);
	x->cl.at[0] = '\0';
	return rv;
}

/* A row's key as text: strings without their JSON quotes. Returns a
 * malloc'd string or NULL. */
static char *key_text(const json_t *key)
{
	if (json_is_string(key))
		return strdup(json_string_value(key));
	return json_dumps(key, JSON_ENCODE_ANY);
}

/* "state=running→exited exit_code=0→3" for the fields that differ. */
static void change_detail(const json_t *before, const json_t *after, char *out, size_t cap)
{
	const json_t *src = json_is_object(after) ? after : before;
	const char *key;
	json_t *v;
	size_t o = 0;

	out[0] = '\0';
	json_object_foreach((json_t *)src, key, v)
	{
		json_t *b = json_object_get(before, key), *a = json_object_get(after, key);
		char *bs = b != NULL ? json_dumps(b, JSON_ENCODE_ANY) : NULL;
		char *as = a != NULL ? json_dumps(a, JSON_ENCODE_ANY) : NULL;
		int n = 0;

		if (bs != NULL && as != NULL && strcmp(bs, as) != 0)
			n = snprintf(out + o, cap - o, "%s%s=%s→%s", o ? " " : "", key, bs, as);
		else if (bs == NULL && as != NULL)
			n = snprintf(out + o, cap - o, "%s%s=%s", o ? " " : "", key, as);
		else if (as == NULL && bs != NULL)
			n = snprintf(out + o, cap - o, "%s%s=%s", o ? " " : "", key, bs);
		free(bs);
		free(as);
		if (n < 0 || (size_t)n >= cap - o)
			break;
		o += (size_t)n;
	}
}

int cmd_diff(struct ctx *x, int argc, char **argv)
{
	uint64_t from, to;
	char path[128];
	struct table t;
	json_t *j, *c;
	size_t i;
	int rv;

	if (argc != 3)
		return usage_error(argv[0], "diff takes two log indexes");
	if (!parse_u64(argv[1], &from) || !parse_u64(argv[2], &to))
		return usage_error(argv[0], "'%s %s' are not two log indexes", argv[1], argv[2]);
	snprintf(path, sizeof path, "/v1/diff?from=%" PRIu64 "&to=%" PRIu64, from, to);
	rv = client_json(&x->cl, "GET", path, NULL, &j);
	if (rv != 0)
		return rv;
	if (x->json) {
		print_json(j);
		json_decref(j);
		return EXIT_OK;
	}
	table_init(&t, 4, "TABLE", "KEY", "CHANGE", "DETAIL");
	json_array_foreach(json_object_get(j, "changes"), i, c)
	{
		json_t *b = json_object_get(c, "before"), *a = json_object_get(c, "after");
		char *key = key_text(json_object_get(c, "key"));
		char detail[400];

		change_detail(b, a, detail, sizeof detail);
		table_row(&t, jstr(c, "table", "?"), key != NULL ? key : "?",
			  json_is_null(b)   ? "created"
			  : json_is_null(a) ? "deleted"
					    : "changed",
			  detail[0] != '\0' ? detail : "-");
		free(key);
	}
	printf("changes from index %lld to %lld: %lld\n", jint(j, "from", 0), jint(j, "to", 0),
	       jint(j, "total", 0));
	if (t.nrows > 1)
		table_print(&t, stdout);
	if (json_is_true(json_object_get(j, "truncated")))
		printf("(only the first %zu are listed)\n", t.nrows - 1);
	table_release(&t);
	json_decref(j);
	return EXIT_OK;
}

static void plan_print(const json_t *p)
{
	struct table t;
	json_t *c, *irr = json_object_get(p, "irreversible");
	size_t i;

	printf("rewinding from index %lld to %lld changes %lld rows:\n", jint(p, "index", 0),
	       jint(p, "target", 0), jint(p, "total", 0));
	table_init(&t, 3, "TABLE", "KEY", "ACTION");
	json_array_foreach(json_object_get(p, "changes"), i, c)
	{
		char *key = key_text(json_object_get(c, "key"));

		table_row(&t, jstr(c, "table", "?"), key != NULL ? key : "?",
			  jstr(c, "action", "?"));
		free(key);
	}
	if (t.nrows > 1)
		table_print(&t, stdout);
	table_release(&t);
	if (json_is_true(json_object_get(p, "truncated")))
		printf("(only the first %zu are listed)\n",
		       json_array_size(json_object_get(p, "changes")));
	if (json_array_size(irr) == 0) {
		printf("everything can be undone.\n");
		return;
	}
	printf("cannot be undone:\n");
	json_array_foreach(irr, i, c)
	{
		if (strcmp(jstr(c, "kind", ""), "process") == 0)
			printf("  process %lld (%s): %s\n", jint(c, "pid", 0),
			       jstr(c, "state", "?"), jstr(c, "reason", ""));
		else
			printf("  message %s/%lld: %s\n", jstr(c, "queue", "?"), jint(c, "seq", 0),
			       jstr(c, "reason", ""));
	}
}

int cmd_rewind(struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{"plan", no_argument, NULL, 'p'},
		{"yes", no_argument, NULL, 'y'},
		{NULL, 0, NULL, 0},
	};
	bool plan = false, yes = false;
	char answer[16] = "";
	uint64_t index;
	json_t *body, *j;
	int c, rv;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "y", opts, NULL)) != -1) {
		if (c == 'p')
			plan = true;
		else if (c == 'y')
			yes = true;
		else
			return usage_error(argv[0], "unknown option '%s'", argv[optind - 1]);
	}
	if (optind + 1 != argc)
		return usage_error(argv[0], "rewind takes one log index");
	if (!parse_u64(argv[optind], &index))
		return usage_error(argv[0], "'%s' is not a log index", argv[optind]);
	if (!plan && !yes && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "logos: refusing to rewind without --yes when not on a terminal\n");
		return EXIT_USAGE;
	}
	body = json_pack("{s:I}", "index", (json_int_t)index);
	if (plan || !yes) {
		rv = client_json(&x->cl, "POST", "/v1/rewind?plan=1", body, &j);
		if (rv != 0) {
			json_decref(body);
			return rv;
		}
		if (plan && x->json)
			print_json(j);
		else
			plan_print(j);
		json_decref(j);
		if (plan) {
			json_decref(body);
			return EXIT_OK;
		}
		printf("rewind the whole cluster to index %" PRIu64 "? [y/N] ", index);
		fflush(stdout);
		if (fgets(answer, sizeof answer, stdin) == NULL ||
		    (answer[0] != 'y' && answer[0] != 'Y')) {
			printf("not rewound.\n");
			json_decref(body);
			return EXIT_FAIL;
		}
	}
	rv = client_json(&x->cl, "POST", "/v1/rewind", body, &j);
	json_decref(body);
	if (rv != 0)
		return rv;
	if (x->json)
		print_json(j);
	else
		printf("rewound the cluster to index %" PRIu64 " (the rewind is index %lld)\n",
		       index, jint(j, "index", 0));
	json_decref(j);
	return EXIT_OK;
}
