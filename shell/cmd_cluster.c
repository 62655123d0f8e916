/*
 * The cluster commands: status, nodes, node drain|remove (GET /v1/status,
 * GET /v1/nodes, POST /v1/nodes/{id}/drain, DELETE /v1/nodes/{id}).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "shell/internal.h"

int cmd_status(struct ctx *x, int argc, char **argv)
{
	json_t *j, *node, *leader;
	int rv;

	if (argc > 1)
		return usage_error(argv[0], "unexpected argument '%s'", argv[1]);
	rv = client_json(&x->cl, "GET", "/v1/status", NULL, &j);
	if (rv != 0)
		return rv;
	if (x->json) {
		print_json(j);
		json_decref(j);
		return EXIT_OK;
	}
	node = json_object_get(j, "node");
	leader = json_object_get(j, "leader");
	printf("node      %s (id %lld)\n", jstr(node, "name", "?"), jint(node, "id", 0));
	if (jint(leader, "id", 0) != 0)
		printf("leader    %s (id %lld, %s)\n", jstr(leader, "name", "?"),
		       jint(leader, "id", 0), jstr(leader, "http", "?"));
	else
		printf("leader    none known\n");
	printf("term      %lld\n", jint(j, "term", 0));
	printf("applied   %lld\n", jint(j, "applied_index", 0));
	printf("commit    %lld\n", jint(j, "commit_index", 0));
	printf("oldest    %lld\n", jint(j, "oldest_index", 0));
	if (json_object_get(j, "at") != NULL)
		printf("at        %lld\n", jint(j, "at", 0));
	printf("digest    %s\n", jstr(j, "digest", "?"));
	json_decref(j);
	return EXIT_OK;
}

int cmd_nodes(struct ctx *x, int argc, char **argv)
{
	struct table t;
	json_t *j, *n;
	size_t i;
	int rv;

	if (argc > 1)
		return usage_error(argv[0], "unexpected argument '%s'", argv[1]);
	rv = client_json(&x->cl, "GET", "/v1/nodes", NULL, &j);
	if (rv != 0)
		return rv;
	if (x->json) {
		print_json(j);
		json_decref(j);
		return EXIT_OK;
	}
	table_init(&t, 7, "ID", "NAME", "ROLE", "STATE", "RAFT", "HTTP", "LEADER");
	json_array_foreach(json_object_get(j, "nodes"), i, n)
	{
		char id[24];

		snprintf(id, sizeof id, "%lld", jint(n, "id", 0));
		table_row(&t, id, jstr(n, "name", "?"), jstr(n, "role", "?"), jstr(n, "state", "?"),
			  jstr(n, "raft", ""), jstr(n, "http", ""),
			  json_is_true(json_object_get(n, "leader")) ? "*" : "");
	}
	table_print(&t, stdout);
	table_release(&t);
	json_decref(j);
	return EXIT_OK;
}

/* The id of node `arg`: a number, or a name looked up in /v1/nodes. */
static int node_id(struct ctx *x, const char *arg, uint64_t *id, char *name, size_t cap)
{
	json_t *j, *n;
	size_t i;
	int rv;

	rv = client_json(&x->cl, "GET", "/v1/nodes", NULL, &j);
	if (rv != 0)
		return rv;
	json_array_foreach(json_object_get(j, "nodes"), i, n)
	{
		char idstr[24];

		snprintf(idstr, sizeof idstr, "%lld", jint(n, "id", 0));
		if (strcmp(arg, idstr) == 0 || strcmp(arg, jstr(n, "name", "")) == 0) {
			*id = (uint64_t)jint(n, "id", 0);
			snprintf(name, cap, "%s", jstr(n, "name", "?"));
			json_decref(j);
			return 0;
		}
	}
	json_decref(j);
	fprintf(stderr, "logos: no node '%s' (see 'logos nodes')\n", arg);
	return EXIT_FAIL;
}

int cmd_node(struct ctx *x, int argc, char **argv)
{
	char path[64], name[128];
	bool drain;
	uint64_t id;
	json_t *j;
	int rv;

	if (argc < 2)
		return usage_error(argv[0], "drain or remove?");
	if (strcmp(argv[1], "drain") != 0 && strcmp(argv[1], "remove") != 0)
		return usage_error(argv[0], "'%s' is not drain or remove", argv[1]);
	if (argc != 3)
		return usage_error(argv[0], "node %s takes one node id", argv[1]);
	drain = strcmp(argv[1], "drain") == 0;
	rv = node_id(x, argv[2], &id, name, sizeof name);
	if (rv != 0)
		return rv;
	snprintf(path, sizeof path, "/v1/nodes/%llu%s", (unsigned long long)id,
		 drain ? "/drain" : "");
	rv = client_json(&x->cl, drain ? "POST" : "DELETE", path, NULL, &j);
	if (rv != 0)
		return rv;
	if (x->json)
		print_json(j);
	else
		printf("node %llu (%s) %s (index %lld)\n", (unsigned long long)id, name,
		       drain ? "is draining" : "removed", jint(j, "index", 0));
	json_decref(j);
	return EXIT_OK;
}
