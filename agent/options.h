/*
 * logosd's configuration: command-line flags, optionally read from a config
 * file (--config FILE: one "flag = value" per line, '#' comments, the same
 * names as the long flags). Flags given on the command line win.
 */
#ifndef LOGOS_AGENT_OPTIONS_H
#define LOGOS_AGENT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

struct agent_config {
	char name[64];
	char data_dir[256];
	char raft_addr[64];
	char http_addr[64];
	char join_addr[128]; /* --join: an existing member's HTTP address */
	char token[128];     /* --token */
	bool init;           /* --init: bootstrap a new cluster */
	bool dev;            /* --dev: single node in a temporary directory */
	char log_level[16];
	unsigned election_timeout_ms;
	unsigned heartbeat_ms;
	unsigned down_after_ms; /* a node silent this long is committed as down */
	unsigned snapshot_threshold;
};

/* Fills defaults, then the config file if any, then the flags. Returns 0, 1
 * when --help or --version was printed (exit 0), or 2 for a usage error (a
 * message was printed to stderr). */
int agent_config_parse(struct agent_config *cfg, int argc, char **argv);

#endif /* LOGOS_AGENT_OPTIONS_H */
