/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * util - monotonic clock, deadlines, trace sink, text sanitiser.
 * See util.h. Reentrant; no state.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

msec_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (msec_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

msec_t
util_left_ms(msec_t deadline, msec_t cap_ms)
{
	msec_t left = deadline - util_now_ms();

	if (left < 0)
		left = 0;
	if (cap_ms > 0 && left > cap_ms)
		left = cap_ms;
	return left;
}

void
trace_printf(const struct trace *t, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!trace_on(t))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	t->fn(t->arg, line);
}

int
util_errno_local(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

size_t
util_sanitize(char *dst, size_t size, const char *src, size_t len)
{
	size_t i, n = 0;

	if (size == 0)
		return 0;
	for (i = 0; i < len && src[i] != '\0'; i++) {
		unsigned char c = (unsigned char)src[i];

		if (n + 1 >= size) {
			/* visible truncation: end in "..." */
			size_t k = size - 1 >= 3 ? 3 : size - 1;

			memset(dst + size - 1 - k, '.', k);
			n = size - 1;
			break;
		}
		if (c == '\r' || c == '\n' || c == '\t')
			dst[n++] = ' ';
		else if (c >= 0x20 && c < 0x7f)
			dst[n++] = (char)c;
		else
			dst[n++] = '?';
	}
	dst[n] = '\0';
	return n;
}

size_t
util_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

/* utf8_len - length of the well-formed UTF-8 sequence at p, 0 if none */
static size_t
utf8_len(const unsigned char *p)
{
	size_t n, i;
	unsigned long cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* no overlong forms, no surrogates, nothing past U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void
util_json_str(FILE *fp, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', fp);
	while (*p) {
		if (*p == '"' || *p == '\\') {
			fprintf(fp, "\\%c", *p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(fp, "\\u%04x", *p++);
		} else if (*p < 0x80) {
			fputc(*p++, fp);
		} else if ((n = utf8_len(p)) > 0) {
			fwrite(p, 1, n, fp);
			p += n;
		} else {
			fputs("\\ufffd", fp);
			p++;
		}
	}
	fputc('"', fp);
}

long
util_parse_duration(const char *s)
{
	char *end;
	long v, mul = 1;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || v < 0)
		return -1;
	if (*end != '\0') {
		switch (*end) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default: return -1;
		}
		if (end[1] != '\0')
			return -1;
	}
	if (v > 100L * 365 * 86400 / mul)
		return -1;
	return v * mul;
}

void
util_ref(const char *key, char out[9])
{
	uint32_t h = 2166136261u;
	const unsigned char *p;

	for (p = (const unsigned char *)key; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	snprintf(out, 9, "%08x", (unsigned)h);
}
