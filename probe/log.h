/*
 * log - the log sink and the one key=value decision line.
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
#include "probe.h"

/* log_open - ident, syslog facility (LOG_MAIL), use_syslog, use_stderr */
void	log_open(const char *ident, int facility, int use_syslog, int use_stderr);

void	log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* log_set_hook - every finished line also goes to fn (tests) */
void	log_set_hook(void (*fn)(int prio, const char *line, void *arg), void *arg);

struct log_decision {
	const char *sender;		/* raw envelope sender as received (escaped here) */
	const char *client;		/* client IP text, or NULL */
	const char *qid;		/* queue id, or NULL */
	const struct probe_result *r;
	const char *action;		/* "accept" "tempfail" "reject" */
	const char *mode;		/* NULL, or "monitor" */
};

/*
 * log_format_decision - the line, fixed key order:
 *   sender=<x@example.org> client=[203.0.113.9] qid=... verdict=invalid
 *   reason=user-unknown action=reject mx=... ip=... code=550 dsn=5.1.1
 *   cache=miss ms=183
 * (qid only when known; mx/ip/code/dsn only when set). Returns length.
 */
size_t	log_format_decision(char *buf, size_t size, const struct log_decision *d);

/* log_decision - format and log at LOG_INFO */
void	log_decision(const struct log_decision *d);

/* log_escape - escape one value into buf as described above; returns length */
size_t	log_escape(char *buf, size_t size, const char *val);

#endif
