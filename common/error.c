/*
 * The error table of common/error.h: codes, strings and message helpers.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

static const char *const strs[] = {[ERR_OK] = "success",
#define ERR__STR(name, slug, str) [ERR_##name] = str,
				   LOGOS_ERRORS(ERR__STR)
#undef ERR__STR
};

static const char *const names[] = {[ERR_OK] = "ok",
#define ERR__NAME(name, slug, str) [ERR_##name] = slug,
				    LOGOS_ERRORS(ERR__NAME)
#undef ERR__NAME
};

const char *err_str(int code)
{
	if (code < 0 || code >= ERR__COUNT)
		return "unknown error";
	return strs[code];
}

const char *err_name(int code)
{
	if (code < 0 || code >= ERR__COUNT)
		return "unknown";
	return names[code];
}

int err_set(char *buf, size_t size, int code, const char *fmt, ...)
{
	va_list ap;

	if (buf != NULL && size > 0) {
		va_start(ap, fmt);
		vsnprintf(buf, size, fmt, ap);
		va_end(ap);
	}
	return code;
}

int err_wrap(char *buf, size_t size, int code, const char *fmt, ...)
{
	char old[512];
	char ctx[256];
	va_list ap;

	if (buf == NULL || size == 0)
		return code;
	snprintf(old, sizeof old, "%s", buf);
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof ctx, fmt, ap);
	va_end(ap);
	if (old[0] != '\0')
		snprintf(buf, size, "%s: %s", ctx, old);
	else
		snprintf(buf, size, "%s: %s", ctx, err_str(code));
	return code;
}
