/*
 * logos, the shell of the cluster (DESIGN §1): global options, the command
 * table and dispatch. Modelled on OpenBSD's ospfctl (a small table-driven
 * parser in front of a daemon's control API) and git (one file per command
 * group, shell/cmd_*.c). With no command on a terminal it starts the
 * interactive shell of shell/repl.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "shell/internal.h"

const struct command commands[] = {
	{"status", cmd_status, "the agent, the leader, the log indexes and the state digest", "",
	 "", true},
	{"nodes", cmd_nodes, "the cluster's nodes: ids, names, roles, states, the leader", "", "",
	 true},
	{"node", cmd_node, "drain or remove a node", "drain|remove ID",
	 "  drain ID     stop placing processes on node ID (an id or a name)\n"
	 "  remove ID    remove node ID from the cluster\n",
	 false},
	{"run", cmd_run, "run a program in the cluster, stream its output, exit with its code",
	 "[--on NODE | --all] [--count N] [--restart POLICY] [--key K] [--env K=V]... "
	 "[--cwd DIR] [--timeout S] [--detach] -- PROGRAM [ARGS...]",
	 "  --on NODE          run on node NODE (a name)\n"
	 "  --all              one run per node; lines are prefixed by the node name\n"
	 "  --count N          N copies (1..10000), each its own pid, spread over the\n"
	 "                     least-loaded nodes (or all on --on NODE), submitted as\n"
	 "                     one command; lines are prefixed by node/pid\n"
	 "  --restart POLICY   no | on-failure[:N] | always (default no)\n"
	 "  --key K            idempotency key: the same key submits once\n"
	 "  --env K=V          set an environment variable (repeatable)\n"
	 "  --cwd DIR          working directory on the node\n"
	 "  --timeout S        kill the program after S seconds\n"
	 "  --detach           print the pid(s) and return at once\n"
	 "Ctrl-C sends SIGINT to the program and keeps streaming; a second Ctrl-C exits.\n",
	 false},
	{"ps", cmd_ps, "list processes (pending and running; --all for every one)", "[--all]",
	 "  --all    also the processes that ended\n", true},
	{"logs", cmd_logs, "the output of a process", "[-f] [--stdout|--stderr] PID",
	 "  -f, --follow   keep streaming until the process ends\n"
	 "  --stdout       only standard output\n"
	 "  --stderr       only standard error\n",
	 true},
	{"wait", cmd_wait, "wait for a process to end; exit with its code", "PID", "", false},
	{"kill", cmd_kill, "send a signal to a process", "[-s SIGNAL] PID",
	 "  -s, --signal SIGNAL   a name (TERM, SIGKILL) or a number; default TERM\n", false},
	{"step", cmd_step, "a durable step inside a logos program: run once, replay after",
	 "NAME -- PROGRAM [ARGS...]",
	 "Runs PROGRAM unless step NAME of this process ($LOGOS_PID) was recorded by an\n"
	 "earlier attempt; then replays its output and exit code instead.\n",
	 false},
	{"put", cmd_put, "write a file of the replicated tree", "PATH [FILE|-] [--if-version V]",
	 "  FILE, -            the content (default: standard input)\n"
	 "  --if-version V     only if the file is at version V (0: must not exist)\n",
	 false},
	{"get", cmd_get, "print a file of the replicated tree", "PATH", "", true},
	{"ls", cmd_ls, "list files under a prefix", "[PREFIX]", "", true},
	{"rm", cmd_rm, "remove a file", "PATH", "", false},
	{"send", cmd_send, "send a message to a queue", "QUEUE [MESSAGE|-] [--key K]",
	 "  MESSAGE, -    the message (default: standard input)\n"
	 "  --key K       idempotency key: the same key sends once\n",
	 false},
	{"recv", cmd_recv, "receive (dequeue) a message from a queue", "QUEUE [--wait S] [--key K]",
	 "  --wait S    wait up to S seconds for a message (default: do not wait)\n"
	 "  --key K     idempotency key: a retry with K returns the same message\n",
	 false},
	{"queues", cmd_queues, "list the message queues", "", "", true},
	{"log", cmd_log, "the history: index, time, origin node, command, summary",
	 "[--from I] [--limit N] [-f]",
	 "  --from I       start at log index I (default: the newest N)\n"
	 "  --limit N      at most N entries (default 20)\n"
	 "  -f, --follow   keep printing new entries\n",
	 true},
	{"at", cmd_at, "run a read command as of a log index", "INDEX COMMAND [ARGS...]",
	 "  COMMAND is one of: status nodes ps logs get ls queues log\n", false},
	{"diff", cmd_diff, "what changed between two log indexes", "I J", "", false},
	{"rewind", cmd_rewind, "rewind the whole cluster to a log index", "INDEX [--plan] [--yes]",
	 "  --plan    print what would change and what cannot be undone; change nothing\n"
	 "  --yes     do not ask for confirmation\n",
	 false},
	{NULL, NULL, NULL, NULL, NULL, false},
};

const struct command *command_find(const char *name)
{
	const struct command *c;

	for (c = commands; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static void command_help(const struct command *c)
{
	printf("usage: logos %s%s%s\n\n%s.\n", c->name, c->usage[0] != '\0' ? " " : "", c->usage,
	       c->summary);
	if (c->help[0] != '\0')
		printf("\n%s", c->help);
}

static void usage(FILE *f)
{
	const struct command *c;

	fprintf(f, "usage: logos [--addr URL] [--json] [--timeout S] COMMAND [ARGS...]\n"
		   "       logos            (on a terminal: the interactive shell)\n\n"
		   "Global options:\n"
		   "  --addr URL     the agent (default $LOGOS_ADDR or " ADDR_DEFAULT ")\n"
		   "  --json         print the API's JSON, one document\n"
		   "  --timeout S    seconds per request (default 30)\n"
		   "  --version      print the version\n"
		   "  --help         this text; 'logos COMMAND --help' for a command\n\n"
		   "Commands:\n");
	for (c = commands; c->name != NULL; c++)
		fprintf(f, "  %-8s %s\n", c->name, c->summary);
}

int command_run(struct ctx *x, int argc, char **argv)
{
	const struct command *c;
	int i;

	if (argc < 1)
		return usage_error(NULL, "no command");
	c = command_find(argv[0]);
	if (c == NULL)
		return usage_error(NULL, "'%s' is not a command (see 'logos --help')", argv[0]);
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			command_help(c);
			return EXIT_OK;
		}
		/* `at I COMMAND --help` is the help of COMMAND. */
		if (c->fn == cmd_at && i >= 2)
			break;
	}
	return c->fn(x, argc, argv);
}

int main(int argc, char **argv)
{
	const char *addr = getenv("LOGOS_ADDR");
	struct ctx x;
	long timeout = 30;
	uint64_t v;
	int i, rv;

	memset(&x, 0, sizeof x);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *val = NULL;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return EXIT_OK;
		}
		if (strcmp(a, "--version") == 0) {
			printf("logos %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		}
		if (strcmp(a, "--json") == 0) {
			x.json = true;
			continue;
		}
		if (strncmp(a, "--addr=", 7) == 0 || strncmp(a, "--timeout=", 10) == 0) {
			val = strchr(a, '=') + 1;
		} else if (strcmp(a, "--addr") == 0 || strcmp(a, "--timeout") == 0) {
			if (i + 1 >= argc)
				return usage_error(NULL, "%s needs a value", a);
			val = argv[++i];
		} else {
			return usage_error(NULL, "unknown option '%s'", a);
		}
		if (strncmp(a, "--addr", 6) == 0) {
			addr = val;
		} else {
			if (!parse_u64(val, &v) || v == 0 || v > 86400)
				return usage_error(
					NULL, "--timeout takes seconds, 1..86400, not '%s'", val);
			timeout = (long)v;
		}
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "logos: cannot start libcurl\n");
		return EXIT_FAIL;
	}
	rv = client_init(&x.cl, addr, timeout);
	if (rv != 0)
		return rv;
	if (i >= argc) {
		if (isatty(STDIN_FILENO)) {
			x.interactive = true;
			rv = repl_run(&x);
		} else {
			usage(stderr);
			rv = EXIT_USAGE;
		}
	} else {
		rv = command_run(&x, argc - i, argv + i);
	}
	client_close(&x.cl);
	curl_global_cleanup();
	return rv;
}
