/*
 * The shell's HTTP client (shell/client.h): libcurl requests to one agent,
 * and the mapping of what can go wrong to one readable line on stderr.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "shell/client.h"

volatile sig_atomic_t client_interrupted;

void client_interrupt_reset(void)
{
	client_interrupted = 0;
}

int client_init(struct client *c, const char *addr, long timeout_s)
{
	size_t n;

	memset(c, 0, sizeof *c);
	c->timeout_s = timeout_s;
	if (addr == NULL || addr[0] == '\0')
		addr = ADDR_DEFAULT;
	if (strspn(addr, " \t") > 0 || strchr(addr, ' ') != NULL) {
		fprintf(stderr, "logos: '%s' is not an agent address (host:port or URL)\n", addr);
		return EXIT_USAGE;
	}
	/* Accept host:port without a scheme, as people type it. */
	if (strncmp(addr, "http://", 7) == 0 || strncmp(addr, "https://", 8) == 0)
		n = (size_t)snprintf(c->base, sizeof c->base, "%s", addr);
	else
		n = (size_t)snprintf(c->base, sizeof c->base, "http://%s", addr);
	if (n >= sizeof c->base) {
		fprintf(stderr, "logos: agent address '%.64s...' is too long\n", addr);
		return EXIT_USAGE;
	}
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	if (strstr(c->base, "://")[3] == '\0') {
		fprintf(stderr, "logos: '%s' is not an agent address (host:port or URL)\n", addr);
		return EXIT_USAGE;
	}
	c->easy = curl_easy_init();
	if (c->easy == NULL) {
		fprintf(stderr, "logos: cannot start libcurl\n");
		return EXIT_FAIL;
	}
	return 0;
}

void client_close(struct client *c)
{
	curl_easy_cleanup(c->easy);
	c->easy = NULL;
}

void reply_free(struct reply *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	size_t n = size * nmemb;
	char *nb = realloc(r->body, r->len + n + 1);

	if (nb == NULL)
		return 0; /* curl reports a write error */
	memcpy(nb + r->len, p, n);
	r->body = nb;
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* Copies the value of header `name` of the line `p`/`n` into `out`. */
static void header_value(const char *p, size_t n, const char *name, char *out, size_t cap)
{
	size_t k = strlen(name), len;

	if (n <= k || strncasecmp(p, name, k) != 0 || p[k] != ':')
		return;
	p += k + 1;
	n -= k + 1;
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
		n--;
	len = n < cap - 1 ? n : cap - 1;
	memcpy(out, p, len);
	out[len] = '\0';
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	size_t n = size * nmemb;

	header_value(p, n, "x-logos-version", r->version, sizeof r->version);
	header_value(p, n, "x-logos-index", r->index, sizeof r->index);
	header_value(p, n, "x-logos-seq", r->seq, sizeof r->seq);
	header_value(p, n, "x-logos-attempt", r->attempt, sizeof r->attempt);
	return n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)arg;
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return client_interrupted ? 1 : 0;
}

/* Prints why a transfer to the agent failed; returns the exit code. */
static int transport_error(const struct client *c, CURLcode rc, long timeout_s)
{
	const char *why = c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc);
	long os_errno = 0;

	curl_easy_getinfo(c->easy, CURLINFO_OS_ERRNO, &os_errno);

	switch (rc) {
	case CURLE_ABORTED_BY_CALLBACK:
		fprintf(stderr, "logos: interrupted\n");
		return EXIT_INTERRUPTED;
	case CURLE_COULDNT_CONNECT:
		/* The system's reason, not curl's sentence around it. */
		if (os_errno != 0)
			why = os_errno == ECONNREFUSED ? "connection refused"
						       : strerror((int)os_errno);
		fprintf(stderr,
			"logos: cannot reach the agent at %s: %s (is logosd running? try "
			"'logosd --dev')\n",
			c->base, why);
		return EXIT_FAIL;
	case CURLE_COULDNT_RESOLVE_HOST:
		fprintf(stderr, "logos: cannot reach the agent at %s: unknown host\n", c->base);
		return EXIT_FAIL;
	case CURLE_OPERATION_TIMEDOUT:
		fprintf(stderr,
			"logos: the agent at %s did not answer within %ld s (try --timeout)\n",
			c->base, timeout_s);
		return EXIT_FAIL;
	default:
		fprintf(stderr, "logos: request to the agent at %s failed: %s\n", c->base, why);
		return EXIT_FAIL;
	}
}

int client_request(struct client *c, const char *method, const char *path, const void *body,
		   size_t n, const char *ctype, const char *idem_key, long timeout_s,
		   struct reply *r)
{
	struct curl_slist *hs = NULL;
	char *url, hdr[256];
	bool get = strcmp(method, "GET") == 0;
	CURLcode rc;
	int len;

	memset(r, 0, sizeof *r);
	if (timeout_s < 0)
		timeout_s = c->timeout_s;
	if (get && c->at[0] != '\0')
		len = asprintf(&url, "%s%s%sat=%s", c->base, path,
			       strchr(path, '?') != NULL ? "&" : "?", c->at);
	else
		len = asprintf(&url, "%s%s", c->base, path);
	if (len < 0) {
		fprintf(stderr, "logos: out of memory\n");
		return EXIT_FAIL;
	}
	curl_easy_reset(c->easy);
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->easy, CURLOPT_URL, url);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c->easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c->easy, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "logos/" PACKAGE_VERSION);
	if (get) {
		curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method);
		if (strcmp(method, "DELETE") != 0 || body != NULL) {
			curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body != NULL ? body : "");
			curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
		}
		snprintf(hdr, sizeof hdr, "Content-Type: %s",
			 ctype != NULL ? ctype : "application/octet-stream");
		hs = curl_slist_append(hs, hdr);
		/* No "Expect: 100-continue" round trip for large bodies. */
		hs = curl_slist_append(hs, "Expect:");
	}
	if (idem_key != NULL) {
		snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", idem_key);
		hs = curl_slist_append(hs, hdr);
	}
	if (hs != NULL)
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hs);
	rc = curl_easy_perform(c->easy);
	curl_slist_free_all(hs);
	free(url);
	if (rc != CURLE_OK) {
		reply_free(r);
		return transport_error(c, rc, timeout_s);
	}
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r->status);
	return 0;
}

int client_api_error(const struct client *c, const struct reply *r)
{
	json_t *j = r->body != NULL ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(j, "message"));
	json_t *leader = json_object_get(j, "leader");

	if (msg != NULL && msg[0] != '\0')
		fprintf(stderr, "logos: %s\n", msg);
	else if (r->len > 0 && r->len < 300 && j == NULL)
		fprintf(stderr, "logos: %s: HTTP %ld: %.*s\n", c->base, r->status, (int)r->len,
			r->body);
	else
		fprintf(stderr, "logos: %s answered HTTP %ld\n", c->base, r->status);
	/* A follower without a leader says which leader it knew. */
	if (r->status == 503 && json_is_string(leader))
		fprintf(stderr, "logos: last known leader: %s\n", json_string_value(leader));
	json_decref(j);
	return EXIT_FAIL;
}

int client_json(struct client *c, const char *method, const char *path, json_t *body, json_t **out)
{
	struct reply r;
	json_error_t jerr;
	char *text = NULL;
	int rv;

	*out = NULL;
	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		if (text == NULL) {
			fprintf(stderr, "logos: out of memory\n");
			return EXIT_FAIL;
		}
	}
	rv = client_request(c, method, path, text, text != NULL ? strlen(text) : 0,
			    "application/json", NULL, -1, &r);
	free(text);
	if (rv != 0)
		return rv;
	if (r.status < 200 || r.status > 299) {
		rv = client_api_error(c, &r);
		reply_free(&r);
		return rv;
	}
	*out = json_loadb(r.body != NULL ? r.body : "", r.len, 0, &jerr);
	reply_free(&r);
	if (*out == NULL) {
		fprintf(stderr, "logos: %s sent a reply that is not JSON: %s\n", c->base,
			jerr.text);
		return EXIT_FAIL;
	}
	return 0;
}

char *url_escape(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' ||
		    (keep_slash && ch == '/')) {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *b64_encode(const void *data, size_t n)
{
	const unsigned char *p = data;
	char *s = malloc((n + 2) / 3 * 4 + 1);
	size_t i, k = 0;

	if (s == NULL)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		unsigned long v =
			(unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 | p[i + 2];

		s[k++] = b64[v >> 18 & 63];
		s[k++] = b64[v >> 12 & 63];
		s[k++] = b64[v >> 6 & 63];
		s[k++] = b64[v & 63];
	}
	if (i < n) {
		unsigned long v =
			(unsigned long)p[i] << 16 | (i + 1 < n ? (unsigned long)p[i + 1] << 8 : 0);

		s[k++] = b64[v >> 18 & 63];
		s[k++] = b64[v >> 12 & 63];
		s[k++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		s[k++] = '=';
	}
	s[k] = '\0';
	return s;
}

void *b64_decode(const char *s, size_t n, size_t *outlen)
{
	unsigned char *out = malloc(n / 4 * 3 + 3);
	unsigned long acc = 0;
	unsigned bits = 0;
	size_t i, k = 0;

	if (out == NULL)
		return NULL;
	while (n > 0 && s[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++) {
		const char *ch = s[i] != '\0' ? strchr(b64, s[i]) : NULL;

		if (ch == NULL) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (unsigned long)(ch - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[k++] = (unsigned char)(acc >> bits);
		}
	}
	*outlen = k;
	return out;
}
