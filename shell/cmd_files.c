/*
 * The file commands: put, get, ls, rm on the replicated tree of files
 * (DESIGN §5 "files", §6: PUT|GET|DELETE /v1/files/{path},
 * GET /v1/files?prefix=).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "shell/internal.h"

#define READ_MAX ((size_t)2 << 20) /* more than any file or message may hold */

char *read_all(FILE *f, size_t *n)
{
	size_t cap = 65536, len = 0;
	char *b = malloc(cap);

	if (b == NULL)
		return NULL;
	for (;;) {
		size_t got;

		if (len == cap) {
			char *nb;

			if (cap > READ_MAX)
				break;
			cap *= 2;
			nb = realloc(b, cap);
			if (nb == NULL) {
				free(b);
				return NULL;
			}
			b = nb;
		}
		got = fread(b + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			if (ferror(f)) {
				free(b);
				return NULL;
			}
			break;
		}
	}
	*n = len;
	return b;
}

/* "/v1/files/<path without its leading '/', escaped>"; NULL if no memory. */
static char *file_url(const char *path)
{
	char *esc, *url;

	while (*path == '/')
		path++;
	esc = url_escape(path, true);
	if (esc == NULL || asprintf(&url, "/v1/files/%s", esc) < 0)
		url = NULL;
	free(esc);
	return url;
}

/* The path as the tree names it: absolute. */
static void abs_path(const char *path, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s", path[0] == '/' ? "" : "/", path);
}

int cmd_put(struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {{"if-version", required_argument, NULL, 'v'},
					     {NULL, 0, NULL, 0}};
	const char *path, *file = "-";
	char *url = NULL, *data = NULL, ap[512];
	uint64_t ifv = 0;
	bool has_ifv = false;
	struct reply r;
	size_t n;
	int c, rv;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'v')
			return usage_error(argv[0], "unknown option or missing value: '%s'",
					   argv[optind - 1]);
		if (!parse_u64(optarg, &ifv))
			return usage_error(argv[0], "--if-version takes a version, not '%s'",
					   optarg);
		has_ifv = true;
	}
	if (optind >= argc || argc - optind > 2)
		return usage_error(argv[0], "put takes a path and a file");
	path = argv[optind];
	if (argc - optind == 2)
		file = argv[optind + 1];
	if (strcmp(file, "-") == 0) {
		data = read_all(stdin, &n);
	} else {
		FILE *f = fopen(file, "rb");

		if (f == NULL) {
			fprintf(stderr, "logos: open '%s': %s\n", file, strerror(errno));
			return EXIT_FAIL;
		}
		data = read_all(f, &n);
		fclose(f);
	}
	if (data == NULL) {
		fprintf(stderr, "logos: read '%s': %s\n", file, strerror(errno));
		return EXIT_FAIL;
	}
	url = file_url(path);
	if (url != NULL && has_ifv) {
		char *u2;

		if (asprintf(&u2, "%s?if_version=%llu", url, (unsigned long long)ifv) < 0)
			u2 = NULL;
		free(url);
		url = u2;
	}
	if (url == NULL) {
		free(data);
		fprintf(stderr, "logos: out of memory\n");
		return EXIT_FAIL;
	}
	rv = client_request(&x->cl, "PUT", url, data, n, "application/octet-stream", NULL, -1, &r);
	free(url);
	free(data);
	if (rv != 0)
		return rv;
	if (r.status != 200) {
		rv = client_api_error(&x->cl, &r);
	} else if (x->json) {
		printf("%.*s\n", (int)r.len, r.body);
	} else {
		json_t *j = json_loadb(r.body, r.len, 0, NULL);

		abs_path(path, ap, sizeof ap);
		printf("%s: version %lld, %zu bytes (index %lld)\n", ap, jint(j, "version", 0), n,
		       jint(j, "index", 0));
		json_decref(j);
	}
	reply_free(&r);
	return rv;
}

int cmd_get(struct ctx *x, int argc, char **argv)
{
	struct reply r;
	char *url, ap[512];
	int rv;

	if (argc != 2)
		return usage_error(argv[0], "get takes one path");
	url = file_url(argv[1]);
	if (url == NULL)
		return EXIT_FAIL;
	rv = client_request(&x->cl, "GET", url, NULL, 0, NULL, NULL, -1, &r);
	free(url);
	if (rv != 0)
		return rv;
	if (r.status != 200) {
		rv = client_api_error(&x->cl, &r);
	} else if (x->json) {
		json_t *j = json_object(), *content = json_stringn(r.body ? r.body : "", r.len);

		abs_path(argv[1], ap, sizeof ap);
		json_object_set_new(j, "path", json_string(ap));
		json_object_set_new(j, "version", json_integer(atoll(r.version)));
		json_object_set_new(j, "index", json_integer(atoll(r.index)));
		json_object_set_new(j, "size", json_integer((json_int_t)r.len));
		if (content != NULL) {
			json_object_set_new(j, "content", content);
		} else {
			char *b = b64_encode(r.body, r.len);

			json_object_set_new(j, "content_base64", json_string(b != NULL ? b : ""));
			free(b);
		}
		print_json(j);
		json_decref(j);
	} else {
		fwrite(r.body != NULL ? r.body : "", 1, r.len, stdout);
		fflush(stdout);
	}
	reply_free(&r);
	return rv;
}

int cmd_ls(struct ctx *x, int argc, char **argv)
{
	char *esc = NULL, *url;
	struct table t;
	json_t *j, *f;
	size_t i;
	int rv;

	if (argc > 2)
		return usage_error(argv[0], "ls takes at most one prefix");
	if (argc == 2) {
		char ap[512];

		abs_path(argv[1], ap, sizeof ap);
		esc = url_escape(ap, true);
	}
	if (asprintf(&url, "/v1/files%s%s", esc != NULL ? "?prefix=" : "", esc != NULL ? esc : "") <
	    0) {
		free(esc);
		return EXIT_FAIL;
	}
	free(esc);
	rv = client_json(&x->cl, "GET", url, NULL, &j);
	free(url);
	if (rv != 0)
		return rv;
	if (x->json) {
		print_json(j);
		json_decref(j);
		return EXIT_OK;
	}
	table_init(&t, 5, "PATH", "VERSION", "SIZE", "MODIFIED", "INDEX");
	json_array_foreach(json_object_get(j, "files"), i, f)
	{
		char v[24], s[24], m[32], ix[24];

		snprintf(v, sizeof v, "%lld", jint(f, "version", 0));
		snprintf(s, sizeof s, "%lld", jint(f, "size", 0));
		format_time((uint64_t)jint(f, "modified_ms", 0), m, sizeof m);
		snprintf(ix, sizeof ix, "%lld", jint(f, "modified_index", 0));
		table_row(&t, jstr(f, "path", "?"), v, s, m, ix);
	}
	table_print(&t, stdout);
	table_release(&t);
	json_decref(j);
	return EXIT_OK;
}

int cmd_rm(struct ctx *x, int argc, char **argv)
{
	char *url, ap[512];
	json_t *j;
	int rv;

	if (argc != 2)
		return usage_error(argv[0], "rm takes one path");
	url = file_url(argv[1]);
	if (url == NULL)
		return EXIT_FAIL;
	rv = client_json(&x->cl, "DELETE", url, NULL, &j);
	free(url);
	if (rv != 0)
		return rv;
	abs_path(argv[1], ap, sizeof ap);
	if (x->json)
		print_json(j);
	else
		printf("removed %s (index %lld)\n", ap, jint(j, "index", 0));
	json_decref(j);
	return EXIT_OK;
}
