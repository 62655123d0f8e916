/*
 * An injected logger. Nothing in logos logs through a global: whoever needs to
 * log is handed a `struct logger`. The level is checked before the message is
 * formatted, so a disabled debug line costs one comparison.
 *
 * Lines are one event each with key=value context, e.g.
 *     logger_info(lg, "applied index=%llu digest=%s", ...);
 */
#ifndef LOGOS_COMMON_LOG_H
#define LOGOS_COMMON_LOG_H

#include <stdarg.h>

enum {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_OFF,
};

/* Receives one formatted line (without a trailing newline). */
typedef void (*logger_emit_cb)(void *data, int level, const char *line);

struct logger {
	int level;           /* Lines below this level are dropped unformatted. */
	logger_emit_cb emit; /* NULL: lines go to stderr with a level prefix. */
	void *data;          /* Passed to emit. */
	const char *prefix;  /* Optional, e.g. "node=3"; prepended to every line. */
};

/* A logger that writes to stderr at `level`. */
void logger_init(struct logger *lg, int level);

/* Parses "debug", "info", "warn", "error" or "off"; -1 if unknown. */
int logger_level_parse(const char *name);

void logger_vlog(const struct logger *lg, int level, const char *fmt, va_list ap);
void logger_log(const struct logger *lg, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline int logger_enabled(const struct logger *lg, int level)
{
	return lg != 0 && level >= lg->level;
}

#define logger_debug(lg, ...)                                           \
	do {                                                            \
		if (logger_enabled((lg), LOG_LEVEL_DEBUG))              \
			logger_log((lg), LOG_LEVEL_DEBUG, __VA_ARGS__); \
	} while (0)
#define logger_info(lg, ...)                                           \
	do {                                                           \
		if (logger_enabled((lg), LOG_LEVEL_INFO))              \
			logger_log((lg), LOG_LEVEL_INFO, __VA_ARGS__); \
	} while (0)
#define logger_warn(lg, ...)                                           \
	do {                                                           \
		if (logger_enabled((lg), LOG_LEVEL_WARN))              \
			logger_log((lg), LOG_LEVEL_WARN, __VA_ARGS__); \
	} while (0)
#define logger_error(lg, ...)                                           \
	do {                                                            \
		if (logger_enabled((lg), LOG_LEVEL_ERROR))              \
			logger_log((lg), LOG_LEVEL_ERROR, __VA_ARGS__); \
	} while (0)

#endif /* LOGOS_COMMON_LOG_H */
