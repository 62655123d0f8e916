/*
 * The interactive shell (DESIGN §1: `logos` with no arguments on a
 * terminal): libedit's readline interface with history in ~/.logos_history
 * and tab completion of command names; each line is split into words like a
 * shell does (quotes and backslashes) and run through the same command table
 * as the command line. The prompt names the connected node and the leader,
 * read from GET /v1/status before each line.
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>
#include <jansson.h>

#include "shell/internal.h"

#define WORDS_MAX 256

/*
 * Splits `line` in place into at most WORDS_MAX words: blanks separate
 * words, '...' quotes literally, "..." quotes with backslash escapes of
 * \\ \" \$ \`, and a backslash outside quotes escapes the next character.
 * Returns the count, or -1 with a message for an unterminated quote.
 */
static int split_words(char *line, char **words, const char **err)
{
	char *r = line, *w = line;
	int n = 0;

	for (;;) {
		while (*r == ' ' || *r == '\t' || *r == '\n')
			r++;
		if (*r == '\0')
			return n;
		if (n == WORDS_MAX) {
			*err = "too many words";
			return -1;
		}
		words[n++] = w;
		while (*r != '\0' && *r != ' ' && *r != '\t' && *r != '\n') {
			if (*r == '\'') {
				r++;
				while (*r != '\0' && *r != '\'')
					*w++ = *r++;
				if (*r != '\'') {
					*err = "unterminated ' quote";
					return -1;
				}
				r++;
			} else if (*r == '"') {
				r++;
				while (*r != '\0' && *r != '"') {
					if (*r == '\\' && r[1] != '\0' && strchr("\\\"$`", r[1]))
						r++;
					*w++ = *r++;
				}
				if (*r != '"') {
					*err = "unterminated \" quote";
					return -1;
				}
				r++;
			} else if (*r == '\\' && r[1] != '\0') {
				r++;
				*w++ = *r++;
			} else {
				*w++ = *r++;
			}
		}
		if (*r != '\0')
			r++;
		*w++ = '\0';
		/* The writer never passes the reader: w <= r holds throughout. */
	}
}

/* The words of the shell besides the commands. */
static const char *const builtins[] = {"exit", "quit", "help", NULL};

/* readline's generator: the names starting with `text`, one per call
 * (state 0 starts over): the commands, then the builtins. The static cursor
 * is readline's protocol. */
static char *complete_command(const char *text, int state)
{
	static size_t i, k, len;
	const char *name;

	if (state == 0) {
		i = k = 0;
		len = strlen(text);
	}
	while (commands[i].name != NULL) {
		name = commands[i++].name;
		if (strncmp(name, text, len) == 0)
			return strdup(name);
	}
	while (builtins[k] != NULL) {
		name = builtins[k++];
		if (strncmp(name, text, len) == 0)
			return strdup(name);
	}
	return NULL;
}

static char **complete(const char *text, int start, int end)
{
	(void)end;
	rl_attempted_completion_over = 1;
	/* Command names complete the first word only. */
	if (start != 0)
		return NULL;
	return rl_completion_matches(text, complete_command);
}

/* The prompt: "logos h1 (leader h1)> ". A short look (the prompt must not
 * hang on a dead agent) whose errors are the next command's to report:
 * stderr (fd 2) points at `devnull` meanwhile. */
static void prompt_make(struct ctx *x, int devnull, char *out, size_t cap)
{
	long saved = x->cl.timeout_s;
	int err = dup(STDERR_FILENO);
	json_t *j = NULL;

	x->cl.timeout_s = 3;
	fflush(stderr);
	if (err >= 0 && devnull >= 0)
		dup2(devnull, STDERR_FILENO);
	if (client_json(&x->cl, "GET", "/v1/status?stale=1", NULL, &j) == 0) {
		json_t *leader = json_object_get(j, "leader");

		snprintf(out, cap, "logos %s (leader %s)> ",
			 jstr(json_object_get(j, "node"), "name", "?"),
			 jint(leader, "id", 0) != 0 ? jstr(leader, "name", "?") : "none");
	} else {
		snprintf(out, cap, "logos (unreachable)> ");
	}
	fflush(stderr);
	if (err >= 0) {
		dup2(err, STDERR_FILENO);
		close(err);
	}
	json_decref(j);
	x->cl.timeout_s = saved;
}

static void on_sigint(int sig)
{
	(void)sig;
	if (client_interrupted < 2)
		client_interrupted++;
}

int repl_run(struct ctx *x)
{
	char hist[4096], prompt[256], *line, *words[WORDS_MAX + 1];
	const char *home = getenv("HOME"), *err = NULL;
	struct sigaction sa;
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC), rv;
	hist[0] = '\0';
	if (home != NULL && home[0] != '\0') {
		snprintf(hist, sizeof hist, "%s/.logos_history", home);
		using_history();
		read_history(hist);
	}
	rl_readline_name = "logos";
	rl_attempted_completion_function = complete;
	/* Ctrl-C abandons the running command, not the shell. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	printf("logos %s, connected to %s. 'help' lists the commands, 'exit' leaves.\n",
	       PACKAGE_VERSION, x->cl.base);
	for (;;) {
		int n;

		prompt_make(x, devnull, prompt, sizeof prompt);
		client_interrupt_reset();
		line = readline(prompt);
		if (line == NULL) {
			putchar('\n');
			break;
		}
		if (line[strspn(line, " \t")] != '\0') {
			add_history(line);
			if (hist[0] != '\0')
				write_history(hist);
		}
		n = split_words(line, words, &err);
		if (n < 0) {
			fprintf(stderr, "logos: %s\n", err);
			free(line);
			continue;
		}
		words[n] = NULL;
		if (n == 0) {
			free(line);
			continue;
		}
		if (strcmp(words[0], "exit") == 0 || strcmp(words[0], "quit") == 0) {
			free(line);
			break;
		}
		if (strcmp(words[0], "help") == 0 || strcmp(words[0], "?") == 0) {
			const struct command *c;

			for (c = commands; c->name != NULL; c++)
				printf("  %-8s %s\n", c->name, c->summary);
			printf("  %-8s %s\n", "exit", "leave the shell (also quit, Ctrl-D)");
		} else {
			rv = command_run(x, n, words);
			if (rv != 0 && rv != EXIT_USAGE)
				fprintf(stderr, "(exit %d)\n", rv);
		}
		fflush(stdout);
		free(line);
	}
	if (devnull >= 0)
		close(devnull);
	return EXIT_OK;
}
