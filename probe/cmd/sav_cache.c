/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sav-cache - inspect and maintain the sav-milter verdict cache
 * (see sav-cache(8); the cache itself is probe/cache/cache.c).
 *
 *   sav-cache [-c CONF | -f FILE] list [--verdict V] [--domain D] [--all] [--json]
 *   sav-cache [-c CONF | -f FILE] get ADDRESS|DOMAIN
 *   sav-cache [-c CONF | -f FILE] del ADDRESS | del --domain DOMAIN
 *   sav-cache [-c CONF | -f FILE] purge [--all]
 *   sav-cache [-c CONF | -f FILE] stats [--json]
 *
 * The reading commands open the cache read-only; del and purge open it
 * for writing next to a running milter (LMDB serialises writers, so
 * this is safe). A cache file that does not exist is never created
 * here, and a damaged one is reported, not repaired: the milter moves
 * a damaged file aside when it starts.
 *
 * Arguments are never handed to a subprocess or a shell; everything
 * printed from the cache was sanitised when it was stored and is
 * checked again when read (printable ASCII only).
 *
 * Exit status: 0 done; 1 not found (get, del); 64 usage; 66 the cache
 * file is missing or cannot be read; 74 I/O error or a damaged cache;
 * 78 configuration.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "cache.h"
#include "conf.h"
#include "log.h"
#include "print.h"
#include "radmin.h"
#include "rconn.h"
#include "util.h"

/* get, del: not in the cache; the other statuses are <sysexits.h>'s */
#define EXIT_NOTFOUND	1

#define DEFAULT_CONF	"/etc/sav-milter.conf"

static const char help_text[] =
"NAME\n"
"    sav-cache - inspect and maintain the sav-milter verdict cache\n"
"\n"
"SYNOPSIS\n"
"    sav-cache [-c CONF | -f FILE] list [--verdict V] [--domain D] [--all] [--json]\n"
"    sav-cache [-c CONF | -f FILE] get ADDRESS | DOMAIN\n"
"    sav-cache [-c CONF | -f FILE] del ADDRESS\n"
"    sav-cache [-c CONF | -f FILE] del --domain DOMAIN\n"
"    sav-cache [-c CONF | -f FILE] purge [--all]\n"
"    sav-cache [-c CONF | -f FILE] stats [--json]\n"
"    sav-cache -h | --help\n"
"\n"
"DESCRIPTION\n"
"    sav-milter and sav-probe --cache keep the verdicts of their probes in\n"
"    one LMDB file, so that a sender seen again is answered in microseconds\n"
"    without asking its mail server. sav-cache shows what is in that file,\n"
"    deletes entries (after fixing a sender's mail server, say), and purges\n"
"    expired ones. It is safe to run while the milter is running.\n"
"\n"
"    The cache holds two kinds of records. An address record is the verdict\n"
"    for one sender (key a:LOCAL@DOMAIN: the local part as given, the domain\n"
"    in lower case and ASCII form). A domain record holds facts learnt about\n"
"    a domain (key d:DOMAIN): catch-all (accepts any recipient), refuses-null\n"
"    (refuses the null sender <> the probes use), blocks-us (refuses our\n"
"    probes), no-mail (the domain cannot receive mail) and unreachable (no\n"
"    mail server answered). While a fact lasts the milter does not contact\n"
"    the domain again for it.\n"
"\n"
"    Lifetimes are judged when a record is read, from the time it was\n"
"    created and the lifetimes configured now (CacheTTL.* in sav-milter.conf;\n"
"    defaults: valid 30 days, re-probed in the background after 7; invalid,\n"
"    bad-domain and bad-syntax 3 hours; unknown and catch-all 1 hour;\n"
"    tempfail 5 minutes; domain facts 1 day, no-mail and unreachable 3\n"
"    hours). A record past its lifetime is never used and is purged.\n"
"\n"
"COMMANDS\n"
"    list    One line per record in force: verdict, address, reason, SMTP\n"
"            code, age and time left. Domain records show their facts.\n"
"            --verdict V   only address records with verdict V (valid,\n"
"                          invalid, bad-domain, bad-syntax, catch-all,\n"
"                          unknown, tempfail)\n"
"            --domain D    only records of domain D (addresses and facts)\n"
"            --all         expired and damaged records too\n"
"            --json        one JSON object per line instead\n"
"\n"
"    get ADDRESS | DOMAIN\n"
"            Everything stored for one address (verdict, reason, the server's\n"
"            reply, the MX that gave it, when it was stored, when it expires,\n"
"            in words) and the facts known for its domain. A DOMAIN (no @)\n"
"            shows the domain's facts. The address is normalised as the\n"
"            milter does it (<> and source routes stripped, domain lower\n"
"            case, IDN to A-label); a raw key a:... or d:... is used as is.\n"
"            With SharedCache set, a last line shows the shared copy.\n"
"\n"
"    del ADDRESS | del --domain DOMAIN\n"
"            Delete one address record, or every record of a domain (its\n"
"            addresses and its facts). The next message from such a sender\n"
"            is probed again.\n"
"            With SharedCache set in CONF, the shared copies go too, and\n"
"            every host probes the sender again within a minute.\n"
"\n"
"    purge [--all]\n"
"            Delete expired and damaged records (the milter does this as it\n"
"            goes, too). With --all, delete every record.\n"
"            With SharedCache set: in Redis too (damaged values and keys\n"
"            without a lifetime; with --all, every key under the prefix).\n"
"\n"
"    stats [--json]\n"
"            Records by verdict, domain facts, expired and damaged records,\n"
"            the oldest and newest record, file size and map use.\n"
"            With SharedCache set, also the shared cache: keys by kind and\n"
"            the server's memory.\n"
"\n"
"OPTIONS\n"
"    -c CONF   Read CacheFile, CacheSize and CacheTTL.* from CONF.\n"
"    -f FILE   Use the cache file FILE, with the default lifetimes.\n"
"              Without -c and -f, " DEFAULT_CONF " is read.\n"
"    -h, --help  This text.\n"
"    --        Ends the options, for an address that starts with '-'.\n"
"\n"
"FILES\n"
"    " DEFAULT_CONF "   configuration (CacheFile names the cache)\n"
"    FILE-lock   LMDB's lock file next to the cache, mode 0600\n"
"    FILE.corrupt-TIME   a damaged cache the milter moved aside at start\n"
"\n"
"EXIT STATUS\n"
"    0   done (list and purge: also when nothing matched)\n"
"    1   get or del found no such record\n"
"    69  the shared cache could not be reached (done on this host only)\n"
"    64  usage error\n"
"    66  the cache file does not exist or cannot be read\n"
"    74  I/O error, or the cache file is damaged\n"
"    78  configuration error\n"
"\n"
"EXAMPLES\n"
"    sav-cache get alice@example.org\n"
"    sav-cache list --verdict invalid --domain example.org\n"
"    sav-cache -f /var/lib/sav-milter/cache.mdb del --domain example.org\n"
"    sav-cache list --json | jq -r 'select(.verdict==\"tempfail\") | .address'\n"
"\n"
"SEE ALSO\n"
"    sav-milter(8), sav-milter.conf(5), sav-probe(1), mdb_stat(1)\n";

struct ctx {
	struct conf conf;
	int	have_conf;
	const char *file;
	struct cache *cache;
	time_t	now;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sav-cache: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(sav-cache --help for usage)\n", stderr);
	return EX_USAGE;
}

/* ---- words for times ---- */

/* span - "3 hours", "1 day", "45 seconds" (whole units, rounded down) */
static void
span(char *buf, size_t size, long long s)
{
	static const struct { long long secs; const char *name; } units[] = {
		{ 86400, "day" }, { 3600, "hour" }, { 60, "minute" }, { 1, "second" },
	};
	size_t i;

	if (s < 0)
		s = -s;
	for (i = 0; i < sizeof(units) / sizeof(units[0]) - 1; i++)
		if (s >= units[i].secs)
			break;
	s /= units[i].secs;
	snprintf(buf, size, "%lld %s%s", s, units[i].name, s == 1 ? "" : "s");
}

/* ago - "3 hours ago", "just now", "in 2 days" (a time in the future) */
static void
ago(char *buf, size_t size, time_t t, time_t now)
{
	char s[48];

	if (t == now) {
		snprintf(buf, size, "just now");
		return;
	}
	span(s, sizeof(s), (long long)now - t);
	snprintf(buf, size, t < now ? "%s ago" : "in %s (in the future: clock skew?)", s);
}

/* until - "expires in 2 days" / "expired 3 hours ago" */
static void
until(char *buf, size_t size, time_t t, time_t now)
{
	char s[48];

	span(s, sizeof(s), (long long)t - now);
	snprintf(buf, size, t > now ? "expires in %s" : "expired %s ago", s);
}

static void
stamp(char *buf, size_t size, time_t t)
{
	struct tm tm;

	if (t == 0 || localtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(buf, size, "-");
}

/* short form for list: "3h", "29d", "12m", "40s" */
static void
brief(char *buf, size_t size, long long s)
{
	if (s < 0)
		s = -s;
	if (s >= 86400)
		snprintf(buf, size, "%lldd", s / 86400);
	else if (s >= 3600)
		snprintf(buf, size, "%lldh", s / 3600);
	else if (s >= 60)
		snprintf(buf, size, "%lldm", s / 60);
	else
		snprintf(buf, size, "%llds", s);
}

/* ---- JSON ---- */

static void
json_facts(FILE *fp, unsigned facts)
{
	unsigned b;
	int first = 1;

	fputc('[', fp);
	for (b = 1; b <= FACT_NEEDS_TLS; b <<= 1) {
		if (!(facts & b))
			continue;
		if (!first)
			fputc(',', fp);
		util_json_str(fp, cache_fact_str(b));
		first = 0;
	}
	fputc(']', fp);
}

static void
facts_text(char *buf, size_t size, unsigned facts)
{
	unsigned b;
	size_t n = 0;

	buf[0] = '\0';
	for (b = 1; b <= FACT_NEEDS_TLS && n < size; b <<= 1)
		if (facts & b)
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "," : "", cache_fact_str(b));
	if (buf[0] == '\0')
		snprintf(buf, size, "none in force");
}

/* ---- opening ---- */

/* exit status for a failed open, from errno */
static int
open_status(int e)
{
	return e == ENOENT || e == EACCES || e == EPERM || e == ENOTDIR || e == ELOOP ||
	    e == EISDIR ? EX_NOINPUT : EX_IOERR;
}

static int
open_cache(struct ctx *x, int rdonly)
{
	const char *path = x->have_conf ? x->conf.cachefile : x->file;
	struct cache_ttl ttl;
	struct stat st;
	char err[1024];
	int e;

	if (x->have_conf)
		ttl = x->conf.ttl;
	else
		cache_ttl_defaults(&ttl);
	if (lstat(path, &st) != 0) {
		e = errno;
		fprintf(stderr, "sav-cache: %s: %s%s\n", path, strerror(e),
		    e == ENOENT ? " (the milter creates it when it starts with CacheFile set)" : "");
		return open_status(e);
	}
	if (access(path, R_OK) != 0) {
		e = errno;
		fprintf(stderr, "sav-cache: %s: cannot read: %s\n", path, strerror(e));
		return EX_NOINPUT;
	}
	/*
	 * Check the file read-only first, also before writing: a damaged
	 * file is reported, never moved aside from here under a running
	 * milter.
	 */
	errno = 0;
	x->cache = cache_open(path, &ttl, x->have_conf ? x->conf.cache_size : 0,
	    CACHE_RDONLY, err, sizeof(err));
	if (x->cache == NULL) {
		char lock[PATH_MAX + 8];

		e = errno;
		fprintf(stderr, "sav-cache: %s\n", err);
		if (e == EACCES && (size_t)snprintf(lock, sizeof(lock), "%s-lock", path) < sizeof(lock) &&
		    access(lock, W_OK) != 0)
			fprintf(stderr, "sav-cache: %s: not writable by this user, and LMDB readers "
			    "need to write to it: run as the milter's user\n", lock);
		if (strstr(err, "truncated") != NULL || strstr(err, "MDB_") != NULL)
			fprintf(stderr, "sav-cache: the file looks damaged: sav-milter moves it aside "
			    "and starts a new one when it starts\n");
		return open_status(e);
	}
	if (rdonly)
		return EX_OK;
	cache_close(x->cache);
	x->cache = cache_open(path, &ttl, x->have_conf ? x->conf.cache_size : 0, 0, err, sizeof(err));
	if (x->cache == NULL) {
		e = errno;
		fprintf(stderr, "sav-cache: %s\n", err);
		return open_status(e);
	}
	if (cache_readonly(x->cache)) {
		fprintf(stderr, "sav-cache: %s: read-only, cannot change it\n", path);
		return EX_IOERR;
	}
	return EX_OK;
}

/*
 * key_for - the cache key for an argument: a raw "a:..."/"d:..." key as
 * is, an address the way the milter normalises it, or (no '@') a
 * domain. Returns 0, or an exit status after a message.
 */
static int
key_for(const char *arg, char *key, size_t size, char *domain, size_t dsize)
{
	struct addr a;
	const char *why = NULL;
	enum addr_status st;
	char tmp[ADDR_INPUT_MAX + 16];

	domain[0] = '\0';
	if (strncmp(arg, "a:", 2) == 0 || strncmp(arg, "d:", 2) == 0) {
		const char *at = strrchr(arg, '@');

		if (util_strlcpy(key, arg, size) >= size)
			return usage_error("key too long");
		if (arg[0] == 'd')
			util_strlcpy(domain, arg + 2, dsize);
		else if (at != NULL)
			util_strlcpy(domain, at + 1, dsize);
		return 0;
	}
	if (strchr(arg, '@') == NULL) {
		/* a domain: normalise it through the address parser */
		if ((size_t)snprintf(tmp, sizeof(tmp), "postmaster@%s", arg) >= sizeof(tmp))
			return usage_error("domain too long");
		st = addr_parse(tmp, strlen(tmp), &a, &why);
		if (st != ADDR_OK || a.is_literal)
			return usage_error("%s: not a mail domain (%s)", arg,
			    why != NULL ? why : addr_status_str(st));
		util_strlcpy(domain, a.domain, dsize);
		if ((size_t)snprintf(key, size, "d:%s", a.domain) >= size)
			return usage_error("domain too long");
		return 0;
	}
	st = addr_parse(arg, strlen(arg), &a, &why);
	if (st != ADDR_OK)
		return usage_error("%s: not an address the milter would look up (%s)", arg,
		    why != NULL ? why : addr_status_str(st));
	if (addr_cache_key(&a, key, size) < 0)
		return usage_error("address too long");
	util_strlcpy(domain, a.domain, dsize);
	return 0;
}

/* ---- list ---- */

struct list_opts {
	int	json, all, nlisted;
	int	have_verdict;
	enum verdict verdict;
	const char *domain;
	time_t	now;
};

/* does key belong to domain (a:...@domain or d:domain)? */
static int
key_in_domain(const char *key, const char *domain)
{
	const char *at;

	if (strncmp(key, "d:", 2) == 0)
		return strcmp(key + 2, domain) == 0;
	at = strrchr(key, '@');
	return at != NULL && strcmp(at + 1, domain) == 0;
}

static void
print_json(const struct cache_entry *e, time_t now)
{
	const struct probe_result *r = &e->r;

	fputs("{\"key\":", stdout);
	util_json_str(stdout, e->key);
	if (!e->ok) {
		fputs(",\"type\":\"damaged\"}\n", stdout);
		return;
	}
	if (e->domain) {
		fputs(",\"type\":\"domain\",\"domain\":", stdout);
		util_json_str(stdout, e->key + 2);
		fputs(",\"facts\":", stdout);
		json_facts(stdout, e->facts);
		print_json_reply(stdout, r);
	} else {
		fputs(",\"type\":\"address\",", stdout);
		print_json_result(stdout, r);
	}
	printf(",\"created\":%lld,\"expires\":%lld,\"age\":%lld,"
	    "\"expired\":%s,\"stale\":%s}\n",
	    (long long)e->created, (long long)e->expires,
	    (long long)(now - e->created), e->expired ? "true" : "false",
	    e->stale ? "true" : "false");
}

static void
print_line(const struct cache_entry *e, time_t now)
{
	char age[32], left[48], code[8], facts[96];

	if (!e->ok) {
		printf("%-10s  %s\n", "damaged", e->key);
		return;
	}
	brief(age, sizeof(age), (long long)now - e->created);
	if (e->expired)
		snprintf(left, sizeof(left), "expired");
	else {
		char b[32];

		brief(b, sizeof(b), (long long)e->expires - now);
		snprintf(left, sizeof(left), "%s%s", b, e->stale ? " refresh" : "");
	}
	if (e->r.code != 0)
		snprintf(code, sizeof(code), "%d", e->r.code);
	else
		snprintf(code, sizeof(code), "-");
	if (e->domain) {
		facts_text(facts, sizeof(facts), e->facts);
		printf("%-10s  %-40s  %-22s  %-4s  %5s  %s\n", "domain", e->key + 2, facts, code, age, left);
	} else
		printf("%-10s  %-40s  %-22s  %-4s  %5s  %s\n", verdict_str(e->r.verdict), e->r.address,
		    e->r.reason != R_NONE ? reason_str(e->r.reason) : "-", code, age, left);
}

static int
list_one(const struct cache_entry *e, void *arg)
{
	struct list_opts *o = arg;

	if (!o->all && (!e->ok || e->expired))
		return 0;
	if (o->domain != NULL && !key_in_domain(e->key, o->domain))
		return 0;
	if (o->have_verdict && (!e->ok || e->domain || e->r.verdict != o->verdict))
		return 0;
	if (o->json)
		print_json(e, o->now);
	else {
		if (o->nlisted == 0)
			printf("%-10s  %-40s  %-22s  %-4s  %5s  %s\n", "VERDICT", "ADDRESS", "REASON",
			    "CODE", "AGE", "LEFT");
		print_line(e, o->now);
	}
	o->nlisted++;
	return 0;
}

static int
cmd_list(struct ctx *x, int argc, char **argv)
{
	struct list_opts o;
	char dom[ADDR_DOMAIN_MAX + 1], key[ADDR_DOMAIN_MAX + 8];
	int i, rc;

	memset(&o, 0, sizeof(o));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			o.json = 1;
		else if (strcmp(argv[i], "--all") == 0)
			o.all = 1;
		else if (strcmp(argv[i], "--verdict") == 0 && i + 1 < argc) {
			if (verdict_parse(argv[++i], &o.verdict) != 0 || o.verdict == VERDICT_SKIPPED ||
			    o.verdict == VERDICT_ERROR)
				return usage_error("list: unknown verdict \"%s\"", argv[i]);
			o.have_verdict = 1;
		} else if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc) {
			if (strchr(argv[i + 1], '@') != NULL)
				return usage_error("list --domain: give a domain, not an address");
			if ((rc = key_for(argv[++i], key, sizeof(key), dom, sizeof(dom))) != 0)
				return rc;
			o.domain = dom;
		} else
			return usage_error("list: unknown argument \"%s\"", argv[i]);
	}
	if ((rc = open_cache(x, 1)) != EX_OK)
		return rc;
	o.now = time(NULL);
	if (cache_iterate(x->cache, NULL, list_one, &o) != 0) {
		fprintf(stderr, "sav-cache: reading the cache failed\n");
		return EX_IOERR;
	}
	if (!o.json && o.nlisted == 0)
		fprintf(stderr, "sav-cache: no records%s\n", o.all ? "" : " in force (--all shows expired ones)");
	return EX_OK;
}

/* ---- get ---- */

static void
show_domain(const struct cache_entry *d, time_t now, const char *indent)
{
	char facts[96], w1[64], w2[64], ts[64];

	facts_text(facts, sizeof(facts), d->facts);
	ago(w1, sizeof(w1), d->created, now);
	until(w2, sizeof(w2), d->expires, now);
	stamp(ts, sizeof(ts), d->created);
	printf("%sfacts:     %s\n", indent, facts);
	printf("%slearnt:    %s (%s)\n", indent, ts, w1);
	printf("%slasts:     %s\n", indent, w2);
	printf("%sbecause:   %s (%s)", indent, verdict_str(d->r.verdict), d->r.reason != R_NONE ? reason_str(d->r.reason) : "-");
	if (d->r.code) {
		fputs(", ", stdout);
		print_reply(stdout, &d->r);
	}
	if (d->r.mx[0]) {
		fputs(" from ", stdout);
		print_mx(stdout, &d->r);
	}
	putchar('\n');
}

/* shared_get - with SharedCache set, one line on the shared copy of key; radmin_get's status */
static int
shared_get(const char *key, time_t now)
{
	struct rrec rec;
	char w[64];
	int rc;

	if (!rconn_enabled())
		return -1;
	switch ((rc = radmin_get(key, &rec))) {
	case 1:
		until(w, sizeof(w), rec.expires, now);
		if (rec.type == RREC_DOMAIN)
			printf("shared:    facts 0x%x, %s\n", rec.facts, w);
		else
			printf("shared:    %s (%s), %s\n", verdict_str(rec.r.verdict),
			    rec.r.reason != R_NONE ? reason_str(rec.r.reason) : "-", w);
		break;
	case 0:
		printf("shared:    none\n");
		break;
	case 2:
		printf("shared:    damaged value (a miss for every host; purge deletes it)\n");
		break;
	default:
		printf("shared:    unavailable\n");
		break;
	}
	return rc;
}

static int
cmd_get(struct ctx *x, int argc, char **argv)
{
	char key[PROBE_ADDR_MAX + 8] = "", dom[ADDR_DOMAIN_MAX + 1] = "", dkey[ADDR_DOMAIN_MAX + 8];
	char w1[64], w2[64], ts1[64], ts2[64];
	struct cache_entry e, d;
	enum cache_status st, dst = CACHE_MISS;
	const char *arg;
	int rc, i = 1;
	time_t now;

	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i + 1 != argc)
		return usage_error("get: give one address or domain");
	arg = argv[i];
	if ((rc = key_for(arg, key, sizeof(key), dom, sizeof(dom))) != 0)
		return rc;
	if ((rc = open_cache(x, 1)) != EX_OK)
		return rc;
	now = time(NULL);
	st = cache_get_entry(x->cache, key, &e);
	if (st == CACHE_ERR) {
		fprintf(stderr, "sav-cache: reading the cache failed\n");
		return EX_IOERR;
	}
	if (key[0] == 'a' && dom[0] != '\0' &&
	    (size_t)snprintf(dkey, sizeof(dkey), "d:%s", dom) < sizeof(dkey))
		dst = cache_get_entry(x->cache, dkey, &d);
	if (st == CACHE_MISS && dst != CACHE_HIT) {
		fprintf(stderr, "sav-cache: %s: not in the cache\n", key + 2);
		return shared_get(key, now) == 1 ? EX_OK : EXIT_NOTFOUND;
	}
	if (st == CACHE_MISS)
		printf("%s: no address record\n", key + 2);
	else if (!e.ok)
		printf("key:       %s\nrecord:    damaged (ignored by the milter; purge deletes it)\n", e.key);
	else if (e.domain) {
		printf("domain:    %s\n", e.key + 2);
		show_domain(&e, now, "");
		if (e.expired)
			printf("state:     expired: no longer used\n");
	} else {
		const struct probe_result *r = &e.r;

		ago(w1, sizeof(w1), e.created, now);
		until(w2, sizeof(w2), e.expires, now);
		stamp(ts1, sizeof(ts1), e.created);
		stamp(ts2, sizeof(ts2), e.expires);
		printf("address:   %s\n", r->address);
		printf("verdict:   %s%s\n", verdict_str(r->verdict), e.expired ? " (expired: no longer used)" : "");
		printf("reason:    %s\n", r->reason != R_NONE ? reason_str(r->reason) : "-");
		if (r->code) {
			fputs("reply:     ", stdout);
			print_reply(stdout, r);
			putchar('\n');
		}
		if (r->mx[0]) {
			fputs("mx:        ", stdout);
			print_mx(stdout, r);
			putchar('\n');
		}
		if (r->catch_all)
			printf("catch-all: yes (the server accepts any recipient)\n");
		printf("stored:    %s (%s)\n", ts1, w1);
		printf("expiry:    %s (%s)\n", ts2, w2);
		if (e.stale)
			printf("refresh:   due: the next message from this sender is answered from here\n"
			    "           and the address is probed again in the background\n");
		if (e.tried) {
			ago(w1, sizeof(w1), e.tried, now);
			printf("refreshed: last tried %s, without a new verdict\n", w1);
		}
	}
	if (dst == CACHE_HIT && d.ok && !d.expired) {
		printf("domain %s:\n", dom);
		show_domain(&d, now, "  ");
	}
	shared_get(key, now);
	return EX_OK;
}

/* ---- del, purge ---- */

/*
 * shared_done - with SharedCache set, say what the fleet-wide half of a
 * del or purge did (n keys deleted, -1: not reached) and give the exit
 * status: rc, or EX_OK when only the shared cache had it, or
 * EX_UNAVAILABLE when it could not be reached (the local half is done).
 */
static int
shared_done(int rc, long n)
{
	if (!rconn_enabled())
		return rc;
	if (n < 0) {
		fprintf(stderr, "sav-cache: the shared cache is unavailable: done on this host only\n");
		return EX_UNAVAILABLE;
	}
	printf("shared cache: deleted %ld key%s\n", n, n == 1 ? "" : "s");
	return n > 0 && rc == EXIT_NOTFOUND ? EX_OK : rc;
}

static int
cmd_del(struct ctx *x, int argc, char **argv)
{
	char key[PROBE_ADDR_MAX + 8] = "", dom[ADDR_DOMAIN_MAX + 1] = "";
	enum cache_status st;
	int rc, i = 1, bydomain = 0;
	long n;

	if (i < argc && strcmp(argv[i], "--domain") == 0) {
		bydomain = 1;
		i++;
	}
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i + 1 != argc)
		return usage_error(bydomain ? "del --domain: give one domain" : "del: give one address");
	if (bydomain && strchr(argv[i], '@') != NULL)
		return usage_error("del --domain: give a domain, not an address");
	if ((rc = key_for(argv[i], key, sizeof(key), dom, sizeof(dom))) != 0)
		return rc;
	if (!bydomain && key[0] == 'd' && strncmp(argv[i], "d:", 2) != 0)
		return usage_error("del: %s is a domain: use del --domain %s", argv[i], argv[i]);
	if ((rc = open_cache(x, 0)) != EX_OK)
		return rc;
	if (bydomain) {
		n = cache_del_domain(x->cache, dom);
		if (n < 0) {
			fprintf(stderr, "sav-cache: deleting failed\n");
			return EX_IOERR;
		}
		printf("deleted %ld record%s of %s\n", n, n == 1 ? "" : "s", dom);
		return shared_done(n > 0 ? EX_OK : EXIT_NOTFOUND, radmin_del_domain(dom));
	}
	st = cache_del(x->cache, key);
	if (st == CACHE_ERR) {
		fprintf(stderr, "sav-cache: deleting failed\n");
		return EX_IOERR;
	}
	if (st == CACHE_MISS)
		fprintf(stderr, "sav-cache: %s: not in the cache\n", key + 2);
	else
		printf("deleted %s\n", key + 2);
	return shared_done(st == CACHE_MISS ? EXIT_NOTFOUND : EX_OK, radmin_del(key));
}

static int
cmd_purge(struct ctx *x, int argc, char **argv)
{
	int all = 0, rc;
	long n;

	if (argc == 2 && strcmp(argv[1], "--all") == 0)
		all = 1;
	else if (argc != 1)
		return usage_error("purge: unknown argument \"%s\"", argv[1]);
	if ((rc = open_cache(x, 0)) != EX_OK)
		return rc;
	n = cache_purge(x->cache, all);
	if (n < 0) {
		fprintf(stderr, "sav-cache: purging failed\n");
		return EX_IOERR;
	}
	printf("purged %ld %srecord%s\n", n, all ? "" : "expired or damaged ", n == 1 ? "" : "s");
	return shared_done(EX_OK, rconn_enabled() ? radmin_purge(all) : 0);
}

/* ---- stats ---- */

static void
human(char *buf, size_t size, long long b)
{
	if (b >= 1LL << 30)
		snprintf(buf, size, "%.1f GiB", (double)b / (1LL << 30));
	else if (b >= 1LL << 20)
		snprintf(buf, size, "%.1f MiB", (double)b / (1LL << 20));
	else if (b >= 1LL << 10)
		snprintf(buf, size, "%.1f KiB", (double)b / (1LL << 10));
	else
		snprintf(buf, size, "%lld bytes", b);
}

/* shared_stats - with SharedCache set, its section of stats: keys by kind, memory */
static void
shared_stats(int json)
{
	struct radmin_stats r;
	char a[32], b[32];
	int up;

	if (!rconn_enabled())
		return;
	up = radmin_stats(&r) == 0;
	if (json) {
		printf(",\"shared\":{\"reachable\":%s", up ? "true" : "false");
		if (up) {
			printf(",\"addresses\":%ld,\"domains\":%ld,\"refresh\":%ld,\"coordination\":%ld,"
			    "\"other\":%ld,\"capped\":%s,\"used_memory\":%lld,\"maxmemory\":%lld,"
			    "\"maxmemory_policy\":",
			    r.addrs, r.domains, r.refresh, r.coord, r.other, r.capped ? "true" : "false",
			    r.used_memory, r.maxmemory);
			util_json_str(stdout, r.policy);
		}
		putchar('}');
		return;
	}
	printf("shared cache (%s%s):\n", rconn_prefix(), up ? "" : ": unavailable");
	if (!up)
		return;
	printf("  addresses  %8ld%s\n  domains    %8ld\n  refreshing %8ld\n  locks and limits %2ld\n"
	    "  other keys %8ld\n", r.addrs, r.capped ? "+ (counting stopped)" : "", r.domains, r.refresh,
	    r.coord, r.other);
	if (r.used_memory >= 0) {
		human(a, sizeof(a), r.used_memory);
		human(b, sizeof(b), r.maxmemory);
		printf("  memory     %s used, %s%s, policy %s (Redis %s)\n", a,
		    r.maxmemory > 0 ? b : "no", r.maxmemory > 0 ? " at most" : " limit",
		    r.policy[0] ? r.policy : "?", r.version[0] ? r.version : "?");
	}
}

static int
cmd_stats(struct ctx *x, int argc, char **argv)
{
	struct cache_stats s;
	char a[32], b[32], c[32], w[64], ts[64];
	const char *path = x->have_conf ? x->conf.cachefile : x->file;
	long inforce = 0;
	int json = 0, rc, v, i;
	time_t now;

	if (argc == 2 && strcmp(argv[1], "--json") == 0)
		json = 1;
	else if (argc != 1)
		return usage_error("stats: unknown argument \"%s\"", argv[1]);
	if ((rc = open_cache(x, 1)) != EX_OK)
		return rc;
	if (cache_stats(x->cache, &s) != 0) {
		fprintf(stderr, "sav-cache: reading the cache failed\n");
		return EX_IOERR;
	}
	now = time(NULL);
	for (v = 0; v < VERDICT_COUNT; v++)
		inforce += s.by_verdict[v];
	if (json) {
		fputs("{\"file\":", stdout);
		util_json_str(stdout, path);
		printf(",\"file_size\":%lld,\"map_size\":%lld,\"used\":%lld,\"records\":%ld,"
		    "\"addresses\":%ld,\"by_verdict\":{", s.file_size, s.map_size, s.used, s.entries, inforce);
		for (v = 0, i = 0; v < VERDICT_COUNT; v++) {
			if (v == VERDICT_SKIPPED || v == VERDICT_ERROR)
				continue;
			printf("%s\"%s\":%ld", i++ ? "," : "", verdict_str((enum verdict)v), s.by_verdict[v]);
		}
		printf("},\"stale\":%ld,\"domains\":%ld,\"by_fact\":{", s.stale, s.domains);
		for (i = 0; i < FACT_COUNT; i++)
			printf("%s\"%s\":%ld", i ? "," : "", cache_fact_str(1u << i), s.by_fact[i]);
		printf("},\"expired\":%ld,\"damaged\":%ld,\"oldest\":%lld,\"newest\":%lld",
		    s.expired, s.malformed, (long long)s.oldest, (long long)s.newest);
		shared_stats(1);
		puts("}");
		return EX_OK;
	}
	human(a, sizeof(a), s.file_size);
	human(b, sizeof(b), s.used);
	human(c, sizeof(c), s.map_size);
	printf("file:       %s\n", path);
	printf("size:       %s on disk, %s of a %s map in use\n", a, b, c);
	printf("records:    %ld (%ld addresses and %ld domains in force, %ld expired, %ld damaged)\n",
	    s.entries, inforce, s.domains, s.expired, s.malformed);
	printf("addresses:\n");
	for (v = 0; v < VERDICT_COUNT; v++) {
		if (v == VERDICT_SKIPPED || v == VERDICT_ERROR)
			continue;
		printf("  %-11s %8ld", verdict_str((enum verdict)v), s.by_verdict[v]);
		if (v == VERDICT_VALID && s.stale > 0)
			printf("   (%ld due for a background re-probe)", s.stale);
		putchar('\n');
	}
	printf("domain facts:\n");
	for (i = 0; i < FACT_COUNT; i++)
		printf("  %-12s %7ld\n", cache_fact_str(1u << i), s.by_fact[i]);
	if (s.oldest != 0) {
		stamp(ts, sizeof(ts), s.oldest);
		ago(w, sizeof(w), s.oldest, now);
		printf("oldest:     %s (%s)\n", ts, w);
		stamp(ts, sizeof(ts), s.newest);
		ago(w, sizeof(w), s.newest, now);
		printf("newest:     %s (%s)\n", ts, w);
	}
	shared_stats(0);
	return EX_OK;
}

int
main(int argc, char **argv)
{
	struct ctx x;
	const char *conffile = NULL, *cmd;
	char err[1024];
	int i, rc;

	memset(&x, 0, sizeof(x));
	log_open("sav-cache", LOG_MAIL, 0, 1);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(help_text, stdout);
			return EX_OK;
		}
		if (strcmp(a, "-c") == 0 || strcmp(a, "-f") == 0) {
			if (i + 1 >= argc)
				return usage_error("%s needs a value", a);
			if (conffile != NULL || x.file != NULL)
				return usage_error("give one of -c CONF and -f FILE");
			if (a[1] == 'c')
				conffile = argv[++i];
			else
				x.file = argv[++i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] == '-')
			return usage_error("unknown option %s", a);
		break;
	}
	if (i >= argc)
		return usage_error("no command (list, get, del, purge, stats)");
	cmd = argv[i];
	if (x.file == NULL) {
		if (conffile == NULL) {
			if (access(DEFAULT_CONF, F_OK) != 0)
				return usage_error("no cache given: use -f FILE or -c CONF (%s does not exist)",
				    DEFAULT_CONF);
			conffile = DEFAULT_CONF;
		}
		if (conf_load(&x.conf, conffile, err, sizeof(err)) < 0) {
			fprintf(stderr, "sav-cache: %s\n", err);
			return EX_CONFIG;
		}
		x.have_conf = 1;
		if (x.conf.cachefile[0] == '\0') {
			fprintf(stderr, "sav-cache: %s: CacheFile is not set: there is no cache\n", conffile);
			conf_free(&x.conf);
			return EX_CONFIG;
		}
		/* SharedCache: del and purge act on the whole fleet, stats shows it */
		if (rconn_init(&x.conf.shared) < 0) {
			conf_free(&x.conf);
			return EX_CONFIG;
		}
	} else if (x.file[0] == '\0')
		return usage_error("-f: empty file name");

	argc -= i;
	argv += i;
	if (strcmp(cmd, "list") == 0)
		rc = cmd_list(&x, argc, argv);
	else if (strcmp(cmd, "get") == 0)
		rc = cmd_get(&x, argc, argv);
	else if (strcmp(cmd, "del") == 0 || strcmp(cmd, "delete") == 0)
		rc = cmd_del(&x, argc, argv);
	else if (strcmp(cmd, "purge") == 0)
		rc = cmd_purge(&x, argc, argv);
	else if (strcmp(cmd, "stats") == 0)
		rc = cmd_stats(&x, argc, argv);
	else if (strcmp(cmd, "help") == 0) {
		fputs(help_text, stdout);
		rc = EX_OK;
	} else
		rc = usage_error("unknown command \"%s\"", cmd);
	if (x.cache != NULL)
		cache_close(x.cache);
	if (x.have_conf)
		conf_free(&x.conf);
	if (fflush(stdout) != 0 && rc == EX_OK) {
		fprintf(stderr, "sav-cache: writing the output failed\n");
		rc = EX_IOERR;
	}
	return rc;
}
