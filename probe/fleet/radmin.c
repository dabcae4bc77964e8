/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * radmin - the shared cache's administration for sav-cache (see
 * radmin.h).
 *
 * Walks: SCAN cursor MATCH pattern COUNT SCAN_COUNT, the keys of each
 * batch deleted with one UNLINK (purge --all, del --domain) or first
 * checked with GETRANGE and PTTL, pipelined (purge). The pattern is the
 * prefix with the glob characters * ? [ ] \ escaped, so a prefix that
 * holds one matches only itself. A server reply that is not of the
 * shape SCAN promises stops the walk as an error.
 *
 * Single-threaded use (a command), but nothing here keeps state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "radmin.h"
#include "rconn.h"
#include "rrec.h"

#define SCAN_COUNT	500
#define PATTERN_MAX	(2 * RCONN_PREFIX_MAX + 600)

/* glob - "<prefix>v1:<tail>" with the prefix's glob characters escaped */
static int
glob(char *buf, size_t size, const char *tail)
{
	const char *p;
	size_t n = 0;
	int r;

	for (p = rconn_prefix(); *p; p++) {
		if (n + 2 >= size)
			return -1;
		if (strchr("*?[]\\", *p) != NULL)
			buf[n++] = '\\';
		buf[n++] = *p;
	}
	r = snprintf(buf + n, size - n, "v1:%s", tail);
	return r < 0 || (size_t)r >= size - n ? -1 : 0;
}

/* unlink_keys - UNLINK the n keys of arr; how many went, -1 on error */
static long
unlink_keys(redisContext *c, redisReply **arr, size_t n)
{
	const char **argv;
	size_t *lens, i;
	redisReply *r;
	long gone;

	if (n == 0)
		return 0;
	argv = calloc(n + 1, sizeof(*argv));
	lens = calloc(n + 1, sizeof(*lens));
	if (argv == NULL || lens == NULL) {
		free(argv);
		free(lens);
		return -1;
	}
	argv[0] = "UNLINK";
	lens[0] = 6;
	for (i = 0; i < n; i++) {
		argv[i + 1] = arr[i]->str;
		lens[i + 1] = arr[i]->len;
	}
	r = redisCommandArgv(c, (int)n + 1, argv, lens);
	free(argv);
	free(lens);
	if (r == NULL) {
		rconn_failed(c, "UNLINK");
		return -1;
	}
	gone = r->type == REDIS_REPLY_INTEGER ? (long)r->integer : -1;
	freeReplyObject(r);
	return gone;
}

/* doomed - purge without --all: is the key of arr (its value read with GETRANGE, its PTTL) of no use? */
static int
doomed(const redisReply *key, const redisReply *val, const redisReply *pttl, time_t now)
{
	char head[16];
	struct rrec rec;
	size_t plen = strlen(rconn_prefix());

	if (pttl->type == REDIS_REPLY_INTEGER && pttl->integer == -1)
		return 1;	/* we never write a key without a time to live */
	if (key->len < plen + 5)
		return 1;
	snprintf(head, sizeof(head), "%.*s", (int)(key->len - plen < 10 ? key->len - plen : 10),
	    key->str + plen);
	if (strncmp(head, "v1:a:", 5) != 0 && strncmp(head, "v1:d:", 5) != 0)
		return 0;	/* not a cache record (a refresh guard, a lock): left alone */
	if (val->type != REDIS_REPLY_STRING)
		return val->type == REDIS_REPLY_ERROR;	/* WRONGTYPE: another type under our name */
	if (rrec_decode(val->str, val->len, now, &rec) != 0)
		return 1;
	return (rec.type == RREC_ADDR) != (head[3] == 'a');
}

/*
 * walk - SCAN every key matching tail; mode 0: count them by kind into
 * *st, 1: UNLINK all, 2: UNLINK the doomed. Returns the keys deleted (or
 * counted), -1 on error.
 */
static long
walk(const char *tail, int mode, struct radmin_stats *st)
{
	char pat[PATTERN_MAX], cursor[32] = "0";
	size_t plen = strlen(rconn_prefix());
	redisContext *c;
	long total = 0;

	if (!rconn_enabled() || glob(pat, sizeof(pat), tail) < 0)
		return -1;
	if ((c = rconn_get()) == NULL)
		return -1;
	do {
		redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT %d", cursor, pat, SCAN_COUNT);
		redisReply *keys, *doom[SCAN_COUNT * 4];
		size_t i, nd = 0;
		long n;

		if (r == NULL) {
			rconn_failed(c, "SCAN");
			return -1;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof(cursor) || r->element[1]->type != REDIS_REPLY_ARRAY ||
		    r->element[1]->elements > sizeof(doom) / sizeof(doom[0])) {
			log_msg(LOG_ERR, "shared cache: SCAN: unexpected reply");
			freeReplyObject(r);
			return -1;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len);
		cursor[r->element[0]->len] = '\0';
		keys = r->element[1];
		for (i = 0; i < keys->elements; i++)
			if (keys->element[i]->type != REDIS_REPLY_STRING) {
				freeReplyObject(r);
				return -1;
			}
		if (mode == 0) {
			for (i = 0; i < keys->elements; i++) {
				const char *k = keys->element[i]->str + plen;
				size_t kl = keys->element[i]->len - plen;

				if (kl > 5 && strncmp(k, "v1:a:", 5) == 0)
					st->addrs++;
				else if (kl > 5 && strncmp(k, "v1:d:", 5) == 0)
					st->domains++;
				else if (kl > 11 && strncmp(k, "v1:refresh:", 11) == 0)
					st->refresh++;
				else if ((kl > 8 && strncmp(k, "v1:lock:", 8) == 0) ||
				    (kl > 6 && strncmp(k, "v1:cc:", 6) == 0) ||
				    (kl > 8 && strncmp(k, "v1:rate:", 8) == 0))
					st->coord++;
				else
					st->other++;
			}
			total += (long)keys->elements;
			if (total >= RADMIN_SCAN_CAP) {
				st->capped = 1;
				freeReplyObject(r);
				break;
			}
		} else if (mode == 1) {
			for (i = 0; i < keys->elements; i++)
				doom[nd++] = keys->element[i];
		} else if (keys->elements > 0) {
			time_t now = time(NULL);
			redisReply *v, *t;
			int bad = 0;

			for (i = 0; i < keys->elements; i++) {
				redisAppendCommand(c, "GETRANGE %b 0 %d", keys->element[i]->str,
				    keys->element[i]->len, RREC_MAX);
				redisAppendCommand(c, "PTTL %b", keys->element[i]->str, keys->element[i]->len);
			}
			for (i = 0; i < keys->elements; i++) {
				if (redisGetReply(c, (void **)&v) != REDIS_OK)
					bad = 1;
				else if (redisGetReply(c, (void **)&t) != REDIS_OK) {
					freeReplyObject(v);
					bad = 1;
				}
				if (bad) {
					freeReplyObject(r);
					rconn_failed(c, "GETRANGE");
					return -1;
				}
				if (doomed(keys->element[i], v, t, now))
					doom[nd++] = keys->element[i];
				freeReplyObject(v);
				freeReplyObject(t);
			}
		}
		if (mode != 0) {
			if ((n = unlink_keys(c, doom, nd)) < 0) {
				freeReplyObject(r);
				return -1;
			}
			total += n;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return total;
}

int
radmin_del(const char *key)
{
	char k[RCONN_KEY_MAX + 1];
	redisContext *c;
	redisReply *r;
	int n;

	if (!rconn_enabled() || (key[0] != 'a' && key[0] != 'd') || key[1] != ':' ||
	    rconn_key(k, sizeof(k), key[0] == 'a' ? "a" : "d", key + 2) < 0)
		return -1;
	if ((c = rconn_get()) == NULL)
		return -1;
	if ((r = redisCommand(c, "DEL %s", k)) == NULL) {
		rconn_failed(c, "DEL");
		return -1;
	}
	n = r->type == REDIS_REPLY_INTEGER ? r->integer > 0 : -1;
	freeReplyObject(r);
	return n;
}

int
radmin_get(const char *key, struct rrec *out)
{
	char k[RCONN_KEY_MAX + 1];
	redisContext *c;
	redisReply *r;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!rconn_enabled() || (key[0] != 'a' && key[0] != 'd') || key[1] != ':' ||
	    rconn_key(k, sizeof(k), key[0] == 'a' ? "a" : "d", key + 2) < 0)
		return -1;
	if ((c = rconn_get()) == NULL)
		return -1;
	if ((r = redisCommand(c, "GETRANGE %s 0 %d", k, RREC_MAX)) == NULL) {
		rconn_failed(c, "GETRANGE");
		return -1;
	}
	if (r->type == REDIS_REPLY_STRING && r->len == 0)
		rc = 0;		/* GETRANGE of a missing key */
	else if (r->type == REDIS_REPLY_STRING)
		rc = rrec_decode(r->str, r->len, time(NULL), out) == 0 &&
		    (out->type == RREC_ADDR) == (key[0] == 'a') ? 1 : 2;
	else
		rc = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "WRONGTYPE", 9) == 0 ? 2 : -1;
	freeReplyObject(r);
	return rc;
}

long
radmin_del_domain(const char *domain)
{
	char key[300], tail[300];
	long n;
	int d;

	if (snprintf(key, sizeof(key), "d:%s", domain) >= (int)sizeof(key) ||
	    snprintf(tail, sizeof(tail), "a:*@%s", domain) >= (int)sizeof(tail) ||
	    strpbrk(domain, "*?[]\\") != NULL)
		return -1;
	if ((d = radmin_del(key)) < 0 || (n = walk(tail, 1, NULL)) < 0)
		return -1;
	return n + d;
}

long
radmin_purge(int all)
{
	return walk("*", all ? 1 : 2, NULL);
}

/* info_field - "name:value" of an INFO reply into buf; 0 found */
static int
info_field(const char *info, const char *name, char *buf, size_t size)
{
	size_t nl = strlen(name);
	const char *p = info;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == info || p[-1] == '\n') && p[nl] == ':') {
			size_t vl = strcspn(p + nl + 1, "\r\n");

			util_sanitize(buf, size, p + nl + 1, vl);
			return 0;
		}
		p += nl;
	}
	return -1;
}

int
radmin_stats(struct radmin_stats *s)
{
	char v[64];
	redisContext *c;
	redisReply *r;

	memset(s, 0, sizeof(*s));
	s->used_memory = s->maxmemory = -1;
	if (walk("*", 0, s) < 0)
		return -1;
	if ((c = rconn_get()) == NULL)
		return -1;
	if ((r = redisCommand(c, "INFO")) == NULL) {
		rconn_failed(c, "INFO");
		return -1;
	}
	/* INFO may be refused by the ACL: the counts still stand */
	if (r->type == REDIS_REPLY_STRING) {
		if (info_field(r->str, "used_memory", v, sizeof(v)) == 0)
			s->used_memory = strtoll(v, NULL, 10);
		if (info_field(r->str, "maxmemory", v, sizeof(v)) == 0)
			s->maxmemory = strtoll(v, NULL, 10);
		info_field(r->str, "maxmemory_policy", s->policy, sizeof(s->policy));
		info_field(r->str, "redis_version", s->version, sizeof(s->version));
	}
	freeReplyObject(r);
	return 0;
}
