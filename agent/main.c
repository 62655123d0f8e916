/*
 * logosd: the logos agent (see logosd --help and logosd(8)).
 */
#include "config.h"

#include <stdio.h>
#include <signal.h>
#include <stdlib.h>

#include "agent/agent.h"

int main(int argc, char **argv)
{
	struct agent_config cfg;
	static struct agent a;
	int rv;

	rv = agent_config_parse(&cfg, argc, argv);
	if (rv == 1)
		return 0;
	if (rv != 0)
		return 2;
	setvbuf(stderr, NULL, _IOLBF, 0);
	/* A peer closing a socket must be an error return, not death. */
	signal(SIGPIPE, SIG_IGN);
	rv = agent_init(&a, &cfg);
	if (rv != 0) {
		fprintf(stderr, "logosd: could not start (see the log above)\n");
		return 1;
	}
	return agent_run(&a);
}
