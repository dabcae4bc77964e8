/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * util - small shared helpers: monotonic clock, deadlines, the trace
 * sink used by -v, and the one text sanitiser every piece of remote
 * or input text passes through before it reaches a log, a terminal
 * or an SMTP reply.
 *
 * Thread rules: all functions are reentrant; nothing here keeps state.
 */
#ifndef SAV_UTIL_H
#define SAV_UTIL_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t msec_t;

/* util_now_ms - CLOCK_MONOTONIC in milliseconds */
msec_t	util_now_ms(void);

/* util_left_ms - milliseconds left until deadline (0 when past), capped at cap_ms when cap_ms > 0 */
msec_t	util_left_ms(msec_t deadline, msec_t cap_ms);

/*
 * A trace sink receives one finished line at a time (no newline).
 * fn == NULL means tracing is off. Used for `sav-probe -v`.
 */
struct trace {
	void	(*fn)(void *arg, const char *line);
	void	*arg;
};

void	trace_printf(const struct trace *t, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
static inline int trace_on(const struct trace *t) { return t != NULL && t->fn != NULL; }

/*
 * util_sanitize - copy at most len bytes of src into dst (size bytes,
 * always NUL-terminated when size > 0) keeping printable ASCII
 * (0x20-0x7e) and writing every other byte as '?'. CR/LF/TAB become a
 * space. Returns the number of bytes written (excluding NUL). When the
 * input does not fit, the output ends in "..." so truncation is visible.
 */
size_t	util_sanitize(char *dst, size_t size, const char *src, size_t len);

/*
 * util_ref - the short reference of a cache key ("a:local@domain"):
 * 8 lowercase hex digits (FNV-1a, 32 bits) in out (9 bytes). The
 * milter's reply text carries it (RejectReference) and sav-cache why
 * takes it; it names an entry, it is not a secret.
 */
void	util_ref(const char *key, char out[9]);

/*
 * util_strlcpy - bounded copy; returns strlen(src) so that a result
 * >= size means the copy was truncated (treat as an error).
 */
size_t	util_strlcpy(char *dst, const char *src, size_t size);

/*
 * util_json_str - write s as a JSON string to fp: '"' and '\\' escaped,
 * control characters as \u00XX, well-formed UTF-8 passed through and
 * any other byte >= 0x80 written as \ufffd, so the output is always
 * valid JSON whatever the input (the cache file is untrusted too).
 */
#include <stdio.h>
void	util_json_str(FILE *fp, const char *s);

/* util_is_alnum - ASCII letter or digit, whatever the locale (c: a char's value or an unsigned char) */
static inline int
util_is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/*
 * util_errno_local - e says this host ran out of something (descriptors,
 * buffers, memory), not that the other end failed: such a failure is
 * never a fact about a remote server
 */
int	util_errno_local(int e);

/* util_parse_duration - "30", "30s", "5m", "3h", "7d" -> seconds; -1 on error */
long	util_parse_duration(const char *s);

#endif
