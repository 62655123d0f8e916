/*
 * logosd's flags and config file (agent/options.h). Table-driven: one row per
 * option gives its name, whether it takes a value, where it goes, and its help.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/options.h"

enum opt_kind {
	OPT_FLAG,
	OPT_STR,
	OPT_UINT
};

struct option {
	const char *name;
	enum opt_kind kind;
	size_t offset; /* into struct agent_config */
	size_t size;   /* of a string field */
	const char *arg;
	const char *help;
};

static const struct option options[] = {
	{"init", OPT_FLAG, offsetof(struct agent_config, init), 0, NULL,
	 "bootstrap a new cluster with this host as its first node"},
	{"join", OPT_STR, offsetof(struct agent_config, join_addr),
	 sizeof(((struct agent_config *)0)->join_addr), "ADDR",
	 "join the cluster through the member whose HTTP API is at ADDR"},
	{"token", OPT_STR, offsetof(struct agent_config, token),
	 sizeof(((struct agent_config *)0)->token), "TOKEN",
	 "the join token printed by 'logosd --init' (also in <data-dir>/join-token)"},
	{"name", OPT_STR, offsetof(struct agent_config, name),
	 sizeof(((struct agent_config *)0)->name), "NAME",
	 "this host's name in the cluster (default: the host name)"},
	{"data-dir", OPT_STR, offsetof(struct agent_config, data_dir),
	 sizeof(((struct agent_config *)0)->data_dir), "DIR",
	 "where the state, the raft log and the process journal live (default /var/lib/logos)"},
	{"raft", OPT_STR, offsetof(struct agent_config, raft_addr),
	 sizeof(((struct agent_config *)0)->raft_addr), "IP:PORT",
	 "address for raft traffic between agents (default 127.0.0.1:7701)"},
	{"http", OPT_STR, offsetof(struct agent_config, http_addr),
	 sizeof(((struct agent_config *)0)->http_addr), "IP:PORT",
	 "address of the HTTP API (default 127.0.0.1:7700)"},
	{"dev", OPT_FLAG, offsetof(struct agent_config, dev), 0, NULL,
	 "a single-node cluster in a temporary directory, API on 127.0.0.1:7700"},
	{"log-level", OPT_STR, offsetof(struct agent_config, log_level),
	 sizeof(((struct agent_config *)0)->log_level), "LEVEL",
	 "debug, info, warn or error (default info)"},
	{"election-timeout", OPT_UINT, offsetof(struct agent_config, election_timeout_ms), 0, "MS",
	 "raft election timeout in milliseconds (default 1000)"},
	{"heartbeat", OPT_UINT, offsetof(struct agent_config, heartbeat_ms), 0, "MS",
	 "raft heartbeat interval in milliseconds (default 100)"},
	{"down-after", OPT_UINT, offsetof(struct agent_config, down_after_ms), 0, "MS",
	 "a host silent this long is marked down and its processes restarted elsewhere "
	 "(default 5000)"},
	{"snapshot-threshold", OPT_UINT, offsetof(struct agent_config, snapshot_threshold), 0, "N",
	 "the fewest log entries between raft snapshots; one is also due only once the "
	 "entries since the last add up to half its size (default 8192)"},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

static void usage(FILE *f)
{
	size_t i;
	char left[64];

	fprintf(f,
		"usage: logosd [OPTIONS]\n\n"
		"The logos agent: one per host. The agents form a Raft group whose state\n"
		"machine holds the cluster's processes, queues and files.\n\n"
		"  logosd --init --name h1 --data-dir /var/lib/logos --raft IP:7701 --http IP:7700\n"
		"  logosd --join IP:7700 --token TOKEN --name h2 --data-dir DIR --raft ... --http ...\n"
		"  logosd --dev\n\n"
		"Options:\n");
	for (i = 0; i < N_OPTIONS; i++) {
		snprintf(left, sizeof left, "--%s%s%s", options[i].name, options[i].arg ? " " : "",
			 options[i].arg ? options[i].arg : "");
		fprintf(f, "  %-26s %s\n", left, options[i].help);
	}
	fprintf(f, "  %-26s %s\n", "--config FILE",
		"read options from FILE: one 'name = value' per line, '#' comments;"
		" command-line flags win");
	fprintf(f, "  %-26s %s\n", "--help", "show this help");
	fprintf(f, "  %-26s %s\n", "--version", "show the version");
	fprintf(f, "\nRestarting with an existing --data-dir rejoins the cluster as before.\n"
		   "See logosd(8) and docs/INSTALL.md.\n");
}

static const struct option *find(const char *name)
{
	size_t i;

	for (i = 0; i < N_OPTIONS; i++)
		if (strcmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

/* Sets one option; `src` names where it came from for messages. */
static int set(struct agent_config *cfg, const struct option *o, const char *value, const char *src)
{
	char *field = (char *)cfg + o->offset;
	unsigned long v;
	char *end;

	switch (o->kind) {
	case OPT_FLAG:
		if (value != NULL && strcmp(value, "true") != 0 && strcmp(value, "yes") != 0 &&
		    strcmp(value, "1") != 0) {
			if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
			    strcmp(value, "0") == 0) {
				*(bool *)(void *)field = false;
				return 0;
			}
			fprintf(stderr, "logosd: %s: --%s takes no value or true/false, not '%s'\n",
				src, o->name, value);
			return 2;
		}
		*(bool *)(void *)field = true;
		return 0;
	case OPT_STR:
		if (strlen(value) >= o->size) {
			fprintf(stderr, "logosd: %s: --%s is too long (at most %zu bytes)\n", src,
				o->name, o->size - 1);
			return 2;
		}
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case OPT_UINT:
		errno = 0;
		v = strtoul(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' || v == 0 || v > 3600000) {
			fprintf(stderr, "logosd: %s: --%s needs a positive number, not '%s'\n", src,
				o->name, value);
			return 2;
		}
		*(unsigned *)(void *)field = (unsigned)v;
		return 0;
	}
	return 2;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int read_file(struct agent_config *cfg, const char *path)
{
	char line[1024], src[600];
	const struct option *o;
	unsigned lineno = 0;
	char *name, *value, *eq;
	FILE *f;
	int rv;

	f = fopen(path, "re");
	if (f == NULL) {
		fprintf(stderr, "logosd: cannot read config file '%s': %s\n", path,
			strerror(errno));
		return 2;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		snprintf(src, sizeof src, "%s:%u", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "logosd: %s: line too long\n", src);
			fclose(f);
			return 2;
		}
		name = trim(line);
		if (*name == '\0' || *name == '#')
			continue;
		eq = strchr(name, '=');
		value = NULL;
		if (eq != NULL) {
			*eq = '\0';
			value = trim(eq + 1);
			name = trim(name);
		}
		o = find(name);
		if (o == NULL) {
			fprintf(stderr, "logosd: %s: unknown option '%s'\n", src, name);
			fclose(f);
			return 2;
		}
		if (o->kind != OPT_FLAG && (value == NULL || *value == '\0')) {
			fprintf(stderr, "logosd: %s: '%s' needs a value\n", src, name);
			fclose(f);
			return 2;
		}
		rv = set(cfg, o, value, src);
		if (rv != 0) {
			fclose(f);
			return rv;
		}
	}
	fclose(f);
	return 0;
}

static void defaults(struct agent_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	snprintf(cfg->data_dir, sizeof cfg->data_dir, "/var/lib/logos");
	snprintf(cfg->raft_addr, sizeof cfg->raft_addr, "127.0.0.1:7701");
	snprintf(cfg->http_addr, sizeof cfg->http_addr, "127.0.0.1:7700");
	snprintf(cfg->log_level, sizeof cfg->log_level, "info");
	cfg->election_timeout_ms = 1000;
	cfg->heartbeat_ms = 100;
	cfg->down_after_ms = 5000;
	cfg->snapshot_threshold = 8192;
}

int agent_config_parse(struct agent_config *cfg, int argc, char **argv)
{
	struct agent_config cli;
	bool given[N_OPTIONS] = {false};
	const char *config_file = NULL;
	const struct option *o;
	const char *arg, *value;
	char name[64];
	int i, rv;
	size_t j;

	defaults(cfg);
	defaults(&cli);
	/* First pass: the command line into `cli`, remembering what was given. */
	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			return 1;
		}
		if (strcmp(arg, "--version") == 0) {
			printf("logosd %s\n", PACKAGE_VERSION);
			return 1;
		}
		if (strncmp(arg, "--", 2) != 0) {
			fprintf(stderr, "logosd: unexpected argument '%s' (see logosd --help)\n",
				arg);
			return 2;
		}
		arg += 2;
		value = strchr(arg, '=');
		if (value != NULL) {
			snprintf(name, sizeof name, "%.*s", (int)(value - arg), arg);
			value++;
		} else {
			snprintf(name, sizeof name, "%s", arg);
		}
		if (strcmp(name, "config") == 0) {
			if (value == NULL && i + 1 < argc)
				value = argv[++i];
			if (value == NULL) {
				fprintf(stderr, "logosd: --config needs a file\n");
				return 2;
			}
			config_file = value;
			continue;
		}
		o = find(name);
		if (o == NULL) {
			fprintf(stderr, "logosd: unknown option '--%s' (see logosd --help)\n",
				name);
			return 2;
		}
		if (o->kind != OPT_FLAG && value == NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "logosd: --%s needs a value\n", name);
				return 2;
			}
			value = argv[++i];
		}
		rv = set(&cli, o, value, "command line");
		if (rv != 0)
			return rv;
		given[o - options] = true;
	}
	if (config_file != NULL) {
		rv = read_file(cfg, config_file);
		if (rv != 0)
			return rv;
	}
	/* Flags given on the command line win over the file. */
	for (j = 0; j < N_OPTIONS; j++) {
		if (!given[j])
			continue;
		o = &options[j];
		memcpy((char *)cfg + o->offset, (char *)&cli + o->offset,
		       o->kind == OPT_STR
			       ? o->size
			       : (o->kind == OPT_FLAG ? sizeof(bool) : sizeof(unsigned)));
	}
	if (cfg->init && cfg->join_addr[0] != '\0') {
		fprintf(stderr, "logosd: --init and --join cannot be used together\n");
		return 2;
	}
	if (cfg->join_addr[0] != '\0' && cfg->token[0] == '\0') {
		fprintf(stderr, "logosd: --join needs --token (printed by 'logosd --init')\n");
		return 2;
	}
	if (cfg->heartbeat_ms * 2 > cfg->election_timeout_ms) {
		fprintf(stderr,
			"logosd: --heartbeat (%u ms) must be at most half of --election-timeout "
			"(%u ms)\n",
			cfg->heartbeat_ms, cfg->election_timeout_ms);
		return 2;
	}
	if (cfg->log_level[0] != '\0' && strcmp(cfg->log_level, "debug") != 0 &&
	    strcmp(cfg->log_level, "info") != 0 && strcmp(cfg->log_level, "warn") != 0 &&
	    strcmp(cfg->log_level, "error") != 0) {
		fprintf(stderr,
			"logosd: --log-level must be debug, info, warn or error, not '%s'\n",
			cfg->log_level);
		return 2;
	}
	return 0;
}
