/*
 * The project's one error space. Every function that can fail returns 0 on
 * success or one of these codes; the table below is the single source of the
 * codes and their strings, so the two cannot drift. Modules that call a library
 * translate its error once, where they call it, and keep the library's text in
 * their error-message buffer.
 */
#ifndef LOGOS_COMMON_ERROR_H
#define LOGOS_COMMON_ERROR_H

#include <stddef.h>

/* X(NAME, machine name for API replies, description) */
#define LOGOS_ERRORS(X)                                      \
	X(NOMEM, "nomem", "out of memory")                   \
	X(INVALID, "invalid", "invalid argument")            \
	X(NOTFOUND, "notfound", "not found")                 \
	X(EXISTS, "exists", "already exists")                \
	X(CONFLICT, "conflict", "conflict")                  \
	X(TOOBIG, "toobig", "too big")                       \
	X(RANGE, "range", "index out of the readable range") \
	X(CORRUPT, "corrupt", "corrupt data")                \
	X(IO, "io", "input/output error")                    \
	X(FULL, "full", "storage full")                      \
	X(BUSY, "busy", "busy")                              \
	X(UNSUPPORTED, "unsupported", "unsupported")         \
	X(DENIED, "denied", "permission denied")             \
	X(NOTLEADER, "notleader", "not the leader")          \
	X(UNAVAILABLE, "unavailable", "no leader available") \
	X(CANCELED, "canceled", "canceled")                  \
	X(TIMEOUT, "timeout", "timed out")                   \
	X(INTERNAL, "internal", "internal error")

enum {
	ERR_OK = 0,
#define ERR__ENUM(name, slug, str) ERR_##name,
	LOGOS_ERRORS(ERR__ENUM)
#undef ERR__ENUM
	ERR__COUNT
};

/* The fixed description of `code`; never NULL, also for unknown codes. */
const char *err_str(int code);

/* The short machine name of `code` ("notfound", "range", ...), as used in API
 * error replies; "unknown" for codes outside the table. */
const char *err_name(int code);

/*
 * Formats a message into `buf` (of `size` bytes, always NUL-terminated) and
 * returns `code`, so that a failing path can read
 *     return err_set(s->errmsg, sizeof s->errmsg, ERR_INVALID, "bad key");
 */
int err_set(char *buf, size_t size, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prefixes the message already in `buf` with context: "ctx: <old message>". */
int err_wrap(char *buf, size_t size, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* LOGOS_COMMON_ERROR_H */
