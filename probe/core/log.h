/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log - the log sink: syslog and/or stderr, one line per call, and the
 * escaping of values for key=value lines (the milter's decision line is
 * built in milter/logline.c).
 *
 * The milter logs to syslog (and stderr with -f); the commands to
 * stderr. Decisions at LOG_INFO, trouble at LOG_WARNING, internal
 * errors at LOG_ERR. Values are escaped: anything outside printable
 * ASCII, spaces, quotes and backslashes make the value quoted with
 * backslash escapes, so one line is always one decision.
 *
 * The sink can be swapped (log_set_hook) so tests can read lines.
 */
#ifndef SAV_LOG_H
#define SAV_LOG_H

#include <stddef.h>
#include <syslog.h>

/* log_open - ident, syslog facility (LOG_MAIL), use_syslog, use_stderr */
void	log_open(const char *ident, int facility, int use_syslog, int use_stderr);

void	log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* log_set_hook - every finished line also goes to fn (tests) */
void	log_set_hook(void (*fn)(int prio, const char *line, void *arg), void *arg);

/* log_escape - escape one value into buf as described above; returns length */
size_t	log_escape(char *buf, size_t size, const char *val);

#endif
