/*
 * Helpers the commands share (shell/internal.h): usage errors, numbers,
 * times, JSON accessors and aligned tables.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>

#include "shell/internal.h"

int usage_error(const char *cmd, const char *fmt, ...)
{
	const struct command *c = cmd != NULL ? command_find(cmd) : NULL;
	va_list ap;

	fputs("logos: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c != NULL)
		fprintf(stderr, "usage: logos %s %s\n", c->name, c->usage);
	else
		fprintf(stderr, "usage: logos [--addr URL] [--json] [--timeout S] COMMAND [ARGS]\n"
				"       logos --help lists the commands\n");
	return EXIT_USAGE;
}

bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long u;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	u = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*v = u;
	return true;
}

int print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	fflush(stdout);
	return EXIT_OK;
}

long long jint(const json_t *o, const char *key, long long def)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

const char *jstr(const json_t *o, const char *key, const char *def)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : def;
}

static uint64_t now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

void format_age(uint64_t ms, char *out, size_t cap)
{
	uint64_t now = now_ms(), s;

	if (ms == 0) {
		snprintf(out, cap, "-");
		return;
	}
	s = now > ms ? (now - ms) / 1000 : 0;
	if (s < 120)
		snprintf(out, cap, "%llus", (unsigned long long)s);
	else if (s < 2 * 3600)
		snprintf(out, cap, "%llum", (unsigned long long)(s / 60));
	else if (s < 2 * 86400)
		snprintf(out, cap, "%lluh", (unsigned long long)(s / 3600));
	else
		snprintf(out, cap, "%llud", (unsigned long long)(s / 86400));
}

void format_time(uint64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms == 0 || localtime_r(&t, &tm) == NULL) {
		snprintf(out, cap, "-");
		return;
	}
	strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

bool proc_state_is_final(const char *state)
{
	return state != NULL && (strcmp(state, "exited") == 0 || strcmp(state, "failed") == 0 ||
				 strcmp(state, "killed") == 0 || strcmp(state, "lost") == 0 ||
				 strcmp(state, "absent") == 0);
}

int proc_exit_code(const json_t *p)
{
	json_t *code = json_object_get(p, "exit_code");
	long long sig = jint(p, "signal", 0);
	const char *state = jstr(p, "state", "");

	if (sig > 0)
		return 128 + (int)sig;
	if (json_is_integer(code) && (strcmp(state, "exited") == 0 || strcmp(state, "failed") == 0))
		return (int)(json_integer_value(code) & 255);
	if (strcmp(state, "killed") == 0) {
		sig = jint(p, "kill_signal", 15);
		return 128 + (int)(sig > 0 ? sig : 15);
	}
	/* lost, absent: the program's fate is unknown. */
	return EXIT_FAIL;
}

/* ---- Tables ----------------------------------------------------------- */

static void table_grow(struct table *t)
{
	size_t need = (t->nrows + 1) * t->ncols;

	if (need > t->cap) {
		size_t ncap = t->cap > 0 ? t->cap * 2 : 16 * t->ncols;
		char **nc;

		while (ncap < need)
			ncap *= 2;
		nc = realloc(t->cells, ncap * sizeof *nc);
		if (nc == NULL) {
			fprintf(stderr, "logos: out of memory\n");
			exit(EXIT_FAIL);
		}
		t->cells = nc;
		t->cap = ncap;
	}
}

static void table_vrow(struct table *t, va_list ap)
{
	size_t i;

	table_grow(t);
	for (i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);
		char *d = strdup(s != NULL ? s : "");

		if (d == NULL) {
			fprintf(stderr, "logos: out of memory\n");
			exit(EXIT_FAIL);
		}
		t->cells[t->nrows * t->ncols + i] = d;
	}
	t->nrows++;
}

void table_init(struct table *t, size_t ncols, ...)
{
	va_list ap;

	memset(t, 0, sizeof *t);
	t->ncols = ncols;
	va_start(ap, ncols);
	table_vrow(t, ap);
	va_end(ap);
}

void table_row(struct table *t, ...)
{
	va_list ap;

	va_start(ap, t);
	table_vrow(t, ap);
	va_end(ap);
}

void table_print(const struct table *t, FILE *f)
{
	size_t *w = calloc(t->ncols, sizeof *w), r, c;

	if (w == NULL)
		return;
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			size_t n = strlen(t->cells[r * t->ncols + c]);

			if (n > w[c])
				w[c] = n;
		}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c + 1 == t->ncols)
				fprintf(f, "%s\n", s);
			else
				fprintf(f, "%-*s  ", (int)w[c], s);
		}
	}
	fflush(f);
	free(w);
}

void table_release(struct table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof *t);
}
