/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * logline - the milter's decision line (see logline.h): built here from
 * the result and the transaction's facts, written through the log sink
 * (log.c) at LOG_INFO. Thread-safe: everything is on the stack.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"
#include "logline.h"

static size_t
kv(char *buf, size_t size, size_t off, const char *key, const char *val)
{
	char esc[700];

	if (off >= size)
		return off;
	log_escape(esc, sizeof(esc), val);
	off += (size_t)snprintf(buf + off, size - off, "%s%s=%s", off ? " " : "", key, esc);
	return off < size ? off : size - 1;
}

size_t
log_format_decision(char *buf, size_t size, const struct log_decision *d)
{
	const struct probe_result *r = d->r;
	char tmp[700], num[32];
	size_t off = 0;

	buf[0] = '\0';
	/* sender and client carry their brackets: sender=<...> client=[...] (sav-milter(8)) */
	snprintf(tmp, sizeof(tmp), "<%s>", d->sender ? d->sender : "");
	off = kv(buf, size, off, "sender", tmp);
	if (d->client) {
		snprintf(tmp, sizeof(tmp), "[%s]", d->client);
		off = kv(buf, size, off, "client", tmp);
	}
	if (d->qid && *d->qid)
		off = kv(buf, size, off, "qid", d->qid);
	off = kv(buf, size, off, "verdict", verdict_str(r->verdict));
	if (r->reason != R_NONE)
		off = kv(buf, size, off, "reason", reason_str(r->reason));
	if (d->action)
		off = kv(buf, size, off, "action", d->action);
	if (d->mode)
		off = kv(buf, size, off, "mode", d->mode);
	if (r->mx[0])
		off = kv(buf, size, off, "mx", r->mx);
	if (r->ip[0])
		off = kv(buf, size, off, "ip", r->ip);
	if (r->code) {
		snprintf(num, sizeof(num), "%d", r->code);
		off = kv(buf, size, off, "code", num);
	}
	if (r->enhanced[0])
		off = kv(buf, size, off, "dsn", r->enhanced);
	if (d->spf) {
		off = kv(buf, size, off, "spf", d->spf);
		if (d->spf_ms >= 0) {
			snprintf(num, sizeof(num), "%ld", d->spf_ms);
			off = kv(buf, size, off, "spf_ms", num);
		}
	}
	if (r->verdict != VERDICT_SKIPPED)
		off = kv(buf, size, off, "cache", !r->cached ? "miss" :
		    r->cached == RESULT_CACHED_SHARED ? "shared" : "hit");
	/* a fresh probe says whether its deciding session was in TLS */
	if (r->verdict != VERDICT_SKIPPED && !r->cached)
		off = kv(buf, size, off, "tls", r->tls[0] ? r->tls : "none");
	snprintf(num, sizeof(num), "%ld", r->elapsed_ms);
	off = kv(buf, size, off, "ms", num);
	return off;
}

void
log_decision(const struct log_decision *d)
{
	char line[2048];

	log_format_decision(line, sizeof(line), d);
	log_msg(LOG_INFO, "%s", line);
}
