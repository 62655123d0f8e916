/*
 * The queue commands: send, recv, queues (DESIGN §5 "msg", §6:
 * POST /v1/queues/{q}, POST /v1/queues/{q}/recv?wait=S, GET /v1/queues).
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

int cmd_send(struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
					     {NULL, 0, NULL, 0}};
	const char *key = NULL, *msg = NULL;
	char *data = NULL, *q, path[512];
	struct reply r;
	size_t n;
	int c, rv;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'k')
			return usage_error(argv[0], "unknown option or missing value: '%s'",
					   argv[optind - 1]);
		key = optarg;
	}
	if (optind >= argc || argc - optind > 2)
		return usage_error(argv[0], "send takes a queue and a message");
	if (argc - optind == 2 && strcmp(argv[optind + 1], "-") != 0) {
		msg = argv[optind + 1];
		n = strlen(msg);
	} else {
		data = read_all(stdin, &n);
		if (data == NULL) {
			fprintf(stderr, "logos: read standard input: %s\n", strerror(errno));
			return EXIT_FAIL;
		}
		msg = data;
	}
	q = url_escape(argv[optind], false);
	snprintf(path, sizeof path, "/v1/queues/%s", q != NULL ? q : "");
	free(q);
	rv = client_request(&x->cl, "POST", path, msg, n, "application/octet-stream", key, -1, &r);
	free(data);
	if (rv != 0)
		return rv;
	if (r.status != 200) {
		rv = client_api_error(&x->cl, &r);
	} else if (x->json) {
		printf("%.*s\n", (int)r.len, r.body);
	} else {
		json_t *j = json_loadb(r.body, r.len, 0, NULL);

		printf("sent to %s: seq %lld (index %lld)\n", argv[optind], jint(j, "seq", 0),
		       jint(j, "index", 0));
		json_decref(j);
	}
	reply_free(&r);
	return rv;
}

int cmd_recv(struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {{"wait", required_argument, NULL, 'w'},
					     {"key", required_argument, NULL, 'k'},
					     {NULL, 0, NULL, 0}};
	const char *key = NULL;
	uint64_t wait = 0;
	char *q, path[512];
	struct reply r;
	int c, rv;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'k') {
			key = optarg;
		} else if (c == 'w') {
			if (!parse_u64(optarg, &wait) || wait > 3600)
				return usage_error(
					argv[0], "--wait takes seconds, 0..3600, not '%s'", optarg);
		} else {
			return usage_error(argv[0], "unknown option or missing value: '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return usage_error(argv[0], "recv takes one queue");
	q = url_escape(argv[optind], false);
	snprintf(path, sizeof path, "/v1/queues/%s/recv?wait=%llu", q != NULL ? q : "",
		 (unsigned long long)wait);
	free(q);
	/* A long poll: the wait plus the usual time for the request. */
	rv = client_request(&x->cl, "POST", path, NULL, 0, "application/octet-stream", key,
			    x->cl.timeout_s + (long)wait, &r);
	if (rv != 0)
		return rv;
	if (r.status == 204) {
		if (x->json) {
			json_t *j = json_pack("{s:s,s:n}", "queue", argv[optind], "message");

			print_json(j);
			json_decref(j);
		} else
			fprintf(stderr, "logos: no message in queue '%s'%s\n", argv[optind],
				wait > 0 ? " (waited)" : "");
		rv = EXIT_FAIL;
	} else if (r.status != 200) {
		rv = client_api_error(&x->cl, &r);
	} else if (x->json) {
		json_t *j = json_object(), *m = json_stringn(r.body ? r.body : "", r.len);

		json_object_set_new(j, "queue", json_string(argv[optind]));
		json_object_set_new(j, "seq", json_integer(atoll(r.seq)));
		json_object_set_new(j, "index", json_integer(atoll(r.index)));
		if (m != NULL) {
			json_object_set_new(j, "message", m);
		} else {
			char *b = b64_encode(r.body, r.len);

			json_object_set_new(j, "message_base64", json_string(b != NULL ? b : ""));
			free(b);
		}
		print_json(j);
		json_decref(j);
	} else {
		fwrite(r.body != NULL ? r.body : "", 1, r.len, stdout);
		/* A terminal gets its line end; a pipe gets the bytes as sent. */
		if (isatty(STDOUT_FILENO) && (r.len == 0 || r.body[r.len - 1] != '\n'))
			fputc('\n', stdout);
		fflush(stdout);
	}
	reply_free(&r);
	return rv;
}

int cmd_queues(struct ctx *x, int argc, char **argv)
{
	struct table t;
	json_t *j, *q;
	size_t i;
	int rv;

	if (argc > 1)
		return usage_error(argv[0], "unexpected argument '%s'", argv[1]);
	rv = client_json(&x->cl, "GET", "/v1/queues", NULL, &j);
	if (rv != 0)
		return rv;
	if (x->json) {
		print_json(j);
		json_decref(j);
		return EXIT_OK;
	}
	table_init(&t, 5, "QUEUE", "MESSAGES", "BYTES", "HEAD", "NEXT");
	json_array_foreach(json_object_get(j, "queues"), i, q)
	{
		char c[24], b[24], h[24], n[24];

		snprintf(c, sizeof c, "%lld", jint(q, "count", 0));
		snprintf(b, sizeof b, "%lld", jint(q, "bytes", 0));
		snprintf(h, sizeof h, "%lld", jint(q, "head_seq", 0));
		snprintf(n, sizeof n, "%lld", jint(q, "next_seq", 0));
		table_row(&t, jstr(q, "name", "?"), c, b, h, n);
	}
	table_print(&t, stdout);
	table_release(&t);
	json_decref(j);
	return EXIT_OK;
}
