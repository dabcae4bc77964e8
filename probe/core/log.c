/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log - the log sink (syslog and/or stderr, plus a hook for tests) and
 * the escaping of key=value values. The milter's decision line is built
 * from these in milter/logline.c.
 *
 * Every value passes log_escape(): printable ASCII without spaces,
 * quotes or backslashes is written as is; anything else is written in
 * double quotes with \" \\ and \xHH escapes, bounded. So a hostile
 * sender or remote text can never forge a second line or a key.
 *
 * Thread rules: log_open/log_set_hook at start-up only; log_msg is
 * thread-safe (one write per line).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

static int use_syslog;
static int use_stderr = 1;
static const char *log_ident = "sav";
static void (*hook_fn)(int, const char *, void *);
static void *hook_arg;

void
log_open(const char *ident, int facility, int sys, int err)
{
	log_ident = ident;
	use_syslog = sys;
	use_stderr = err;
	if (sys)
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
}

void
log_set_hook(void (*fn)(int, const char *, void *), void *arg)
{
	hook_fn = fn;
	hook_arg = arg;
}

static void
emit(int prio, const char *line)
{
	if (use_syslog)
		syslog(prio, "%s", line);
	if (use_stderr) {
		static const char *names[] = { "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug" };
		char buf[2200];
		int n;

		n = snprintf(buf, sizeof(buf), "%s: %s%s%s\n", log_ident,
			     prio <= LOG_WARNING ? names[prio & 7] : "",
			     prio <= LOG_WARNING ? ": " : "", line);
		if (n > 0)
			fwrite(buf, 1, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, stderr);
	}
	if (hook_fn)
		hook_fn(prio, line, hook_arg);
}

void
log_msg(int prio, const char *fmt, ...)
{
	char line[1024], clean[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* messages may carry file names or remote text: one line, printable */
	util_sanitize(clean, sizeof(clean), line, strlen(line));
	emit(prio, clean);
}

size_t
log_escape(char *buf, size_t size, const char *val)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;
	size_t n = 0, max = 300;	/* bytes of input shown */
	int plain = val[0] != '\0';

	if (size == 0)
		return 0;
	for (p = (const unsigned char *)val; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '=')
			plain = 0;
	if (plain && strlen(val) <= max && strlen(val) < size)
		return util_strlcpy(buf, val, size);
#define PUT(c) do { if (n + 1 < size) buf[n++] = (c); } while (0)
	PUT('"');
	for (p = (const unsigned char *)val; *p && max > 0; p++, max--) {
		if (n + 6 >= size)
			break;
		if (*p == '"' || *p == '\\') {
			PUT('\\');
			PUT((char)*p);
		} else if (*p < 0x20 || *p >= 0x7f) {
			PUT('\\');
			PUT('x');
			PUT(hex[*p >> 4]);
			PUT(hex[*p & 15]);
		} else
			PUT((char)*p);
	}
	if (*p && n + 4 < size) {
		PUT('.');
		PUT('.');
		PUT('.');
	}
	PUT('"');
#undef PUT
	buf[n] = '\0';
	return n;
}
