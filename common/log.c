/*
 * The injected logger of common/log.h.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void logger_init(struct logger *lg, int level)
{
	memset(lg, 0, sizeof *lg);
	lg->level = level;
}

int logger_level_parse(const char *name)
{
	int i;

	for (i = 0; i <= LOG_LEVEL_OFF; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

void logger_vlog(const struct logger *lg, int level, const char *fmt, va_list ap)
{
	char line[1024];
	int n = 0;

	if (!logger_enabled(lg, level) || level >= LOG_LEVEL_OFF)
		return;
	if (lg->prefix != NULL)
		n = snprintf(line, sizeof line, "%s ", lg->prefix);
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	if (lg->emit != NULL) {
		lg->emit(lg->data, level, line);
		return;
	}
	fprintf(stderr, "level=%s %s\n", level_names[level], line);
}

void logger_log(const struct logger *lg, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	logger_vlog(lg, level, fmt, ap);
	va_end(ap);
}
