/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench_cache - how fast and how big the verdict cache is (make bench;
 * not a test: it prints figures, it does not judge them, except for a
 * "target met" column against the targets).
 *
 *	bench_cache [-n ENTRIES] [-l LOOKUPS] [-d DIR] [-k]
 *
 * Fills a fresh cache in DIR (default: a new directory under /tmp,
 * removed at the end unless -k) with ENTRIES address verdicts
 * (default 1,000,000) through cache_put_result with CACHE_NOSYNC, in a
 * random key order, with a realistic mix of records (75% valid with a
 * short reply, 15% invalid with a long one, 5% greylisted, 5%
 * catch-all, which also writes domain records; half the domains use
 * their own MX, half a provider's). Then it times LOOKUPS
 * random look-ups (default 1,000,000) of existing keys with
 * cache_get_addr, one clock_gettime pair around each, in one thread
 * and in two, and the same key sequence against an in-memory hash
 * table holding the same fields and copying them out the same way
 * (the baseline), plus look-ups of absent keys. Bytes per entry are
 * the file size divided by the records in it. The page cache is warm
 * (the file was just written): these are in-memory figures for LMDB.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "util.h"

#define TARGET_P99_NS	20000.0
#define TARGET_BYTES	200.0

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t
rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *const firsts[] = {
	"john", "mary", "anna", "peter", "info", "sales", "admin", "j.smith", "m.mueller",
	"noreply", "support", "newsletter", "bounce", "k.tanaka", "li.wei", "s.garcia",
};
static const char *const tlds[] = { "com", "org", "net", "de", "fr", "co.uk", "io", "example" };

struct entry {
	char	*key;			/* "a:local@domain" */
	char	*domain;
	struct probe_result r;		/* what was stored (also the hash baseline's data) */
};

/* the in-memory baseline: the same fields, copied out the same way */
struct hent {
	const char *key;
	enum verdict verdict;
	int	code, catch_all;
	enum reason reason;
	const char *enhanced, *text, *mx, *ip;
};

struct htab {
	size_t	mask;
	int32_t	*slot;			/* index into ents, -1 empty */
	struct hent *ents;
};

static uint32_t
fnv(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static void
h_put(struct htab *t, int32_t i)
{
	size_t p = fnv(t->ents[i].key) & t->mask;

	while (t->slot[p] >= 0)
		p = (p + 1) & t->mask;
	t->slot[p] = i;
}

static int
h_get(const struct htab *t, const char *key, struct probe_result *out)
{
	size_t p = fnv(key) & t->mask;
	const struct hent *e;

	for (; t->slot[p] >= 0; p = (p + 1) & t->mask) {
		e = &t->ents[t->slot[p]];
		if (strcmp(e->key, key) != 0)
			continue;
		memset(out, 0, sizeof(*out));
		util_strlcpy(out->address, key + 2, sizeof(out->address));
		out->verdict = e->verdict;
		out->reason = e->reason;
		out->code = e->code;
		util_strlcpy(out->enhanced, e->enhanced, sizeof(out->enhanced));
		util_strlcpy(out->text, e->text, sizeof(out->text));
		util_strlcpy(out->mx, e->mx, sizeof(out->mx));
		util_strlcpy(out->ip, e->ip, sizeof(out->ip));
		out->catch_all = e->catch_all;
		out->cached = 1;
		return 1;
	}
	return 0;
}

static void
make_entry(struct entry *e, size_t i)
{
	char local[40], domain[64], key[160];
	unsigned kind = (unsigned)(rng() % 100);
	struct probe_result *r = &e->r;

	snprintf(local, sizeof(local), "%s%u", firsts[rng() % 16], (unsigned)(i % 100000));
	snprintf(domain, sizeof(domain), "mail-%u.host%u.%s", (unsigned)(rng() % 50000),
	    (unsigned)(rng() % 100), tlds[rng() % 8]);
	snprintf(key, sizeof(key), "a:%s@%s", local, domain);
	e->key = strdup(key);
	e->domain = strdup(domain);
	memset(r, 0, sizeof(*r));
	/* half the domains have their own MX, half a provider's (no relative MX then) */
	switch (rng() % 8) {
	case 0: case 1: case 2: case 3:
		snprintf(r->mx, sizeof(r->mx), "mx%u.%s", (unsigned)(rng() % 3), domain);
		break;
	case 4:
		snprintf(r->mx, sizeof(r->mx), "aspmx.l.google.com");
		break;
	case 5: {
		char dashed[64];
		size_t k;

		snprintf(dashed, sizeof(dashed), "%s", domain);
		for (k = 0; dashed[k] != '\0'; k++)
			if (dashed[k] == '.')
				dashed[k] = '-';
		snprintf(r->mx, sizeof(r->mx), "%s.mail.protection.outlook.com", dashed);
		break;
	}
	case 6:
		snprintf(r->mx, sizeof(r->mx), "mx%u.mail.ovh.net", (unsigned)(rng() % 4));
		break;
	default:
		snprintf(r->mx, sizeof(r->mx), "mx%02u.ionos.de", (unsigned)(rng() % 2));
		break;
	}
	snprintf(r->ip, sizeof(r->ip), "198.51.%u.%u", (unsigned)(rng() % 256), (unsigned)(rng() % 256));
	if (kind < 75) {
		r->verdict = VERDICT_VALID;
		r->reason = R_USER_OK;
		r->code = 250;
		snprintf(r->enhanced, sizeof(r->enhanced), "2.1.5");
		snprintf(r->text, sizeof(r->text), "Ok");
	} else if (kind < 90) {
		r->verdict = VERDICT_INVALID;
		r->reason = R_USER_UNKNOWN;
		r->code = 550;
		snprintf(r->enhanced, sizeof(r->enhanced), "5.1.1");
		snprintf(r->text, sizeof(r->text), "<%.30s@%.50s>: Recipient address rejected: "
		    "User unknown in virtual mailbox table", local, domain);
	} else if (kind < 95) {
		r->verdict = VERDICT_TEMPFAIL;
		r->reason = R_GREYLISTED;
		r->code = 450;
		snprintf(r->enhanced, sizeof(r->enhanced), "4.7.1");
		snprintf(r->text, sizeof(r->text), "<%.30s@%.50s>: Recipient address rejected: "
		    "Greylisted, see http://postgrey.schweikert.ch/help/%.50s.html", local, domain, domain);
	} else {
		r->verdict = VERDICT_CATCH_ALL;
		r->reason = R_CATCH_ALL;
		r->code = 250;
		snprintf(r->enhanced, sizeof(r->enhanced), "2.1.5");
		snprintf(r->text, sizeof(r->text), "Ok");
		r->catch_all = 1;
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct run {
	double	p50, p99, p999, max;	/* ns */
	double	per_sec;
	size_t	hits, n;
};

static void
summarise(uint64_t *ns, size_t n, uint64_t wall_ns, struct run *out)
{
	qsort(ns, n, sizeof(*ns), cmp_u64);
	out->n = n;
	out->p50 = (double)ns[n / 2];
	out->p99 = (double)ns[(size_t)((double)n * 0.99)];
	out->p999 = (double)ns[(size_t)((double)n * 0.999)];
	out->max = (double)ns[n - 1];
	out->per_sec = (double)n / ((double)wall_ns / 1e9);
}

struct worker {
	struct cache *c;
	const struct htab *h;		/* baseline when set */
	struct entry *ents;
	const uint32_t *seq;		/* entry indexes to look up */
	const char *const *miss;	/* or absent keys */
	size_t	from, to;
	uint64_t *ns;
	size_t	hits;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct probe_result r;
	size_t i;
	int stale;

	for (i = w->from; i < w->to; i++) {
		const char *key = w->miss != NULL ? w->miss[i] : w->ents[w->seq[i]].key;
		uint64_t t0 = now_ns();
		int hit;

		if (w->h != NULL)
			hit = h_get(w->h, key, &r);
		else
			hit = cache_get_addr(w->c, key, &r, &stale) == CACHE_HIT;
		w->ns[i] = now_ns() - t0;
		w->hits += (size_t)hit;
	}
	return NULL;
}

/* time lookups in nthreads threads; fills *out */
static void
run_lookups(struct cache *c, const struct htab *h, struct entry *ents, const uint32_t *seq,
	    const char *const *miss, size_t n, int nthreads, struct run *out)
{
	struct worker w[8];
	pthread_t th[8];
	uint64_t *ns = malloc(n * sizeof(*ns)), t0, wall;
	int i;

	if (ns == NULL) {
		fprintf(stderr, "bench_cache: out of memory\n");
		exit(1);
	}
	for (i = 0; i < nthreads; i++) {
		w[i].c = c;
		w[i].h = h;
		w[i].ents = ents;
		w[i].seq = seq;
		w[i].miss = miss;
		w[i].from = n * (size_t)i / (size_t)nthreads;
		w[i].to = n * (size_t)(i + 1) / (size_t)nthreads;
		w[i].ns = ns;
		w[i].hits = 0;
	}
	t0 = now_ns();
	for (i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, work, &w[i]);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	wall = now_ns() - t0;
	summarise(ns, n, wall, out);
	out->hits = 0;
	for (i = 0; i < nthreads; i++)
		out->hits += w[i].hits;
	free(ns);
}

static void
row(const char *name, const struct run *r, int show_target)
{
	printf("%-30s %8.2f %8.2f %8.2f %9.1f %12.0f   %s\n", name, r->p50 / 1000, r->p99 / 1000,
	    r->p999 / 1000, r->max / 1000, r->per_sec,
	    show_target ? (r->p99 <= TARGET_P99_NS ? "p99 <= 20 us: met" : "p99 <= 20 us: NOT met") : "");
}

static int
count_cb(const struct cache_entry *e, void *arg)
{
	(void)e;
	(*(size_t *)arg)++;
	return 0;
}

int
main(int argc, char **argv)
{
	size_t nent = 1000000, nlook = 1000000, i, records = 0;
	char dir[256] = "", path[300], err[512];
	int keep = 0, opt, ok_fill = 0;
	struct entry *ents;
	uint32_t *seq;
	char **miss;
	struct cache *c;
	struct htab h;
	struct stat st;
	struct run lm1, lm2, hm, miss1;
	uint64_t t0, fill_ns;
	double bpe;

	while ((opt = getopt(argc, argv, "n:l:d:k")) != -1) {
		switch (opt) {
		case 'n':
			nent = strtoul(optarg, NULL, 10);
			break;
		case 'l':
			nlook = strtoul(optarg, NULL, 10);
			break;
		case 'd':
			snprintf(dir, sizeof(dir), "%s", optarg);
			break;
		case 'k':
			keep = 1;
			break;
		default:
			fprintf(stderr, "usage: bench_cache [-n ENTRIES] [-l LOOKUPS] [-d DIR] [-k]\n");
			return 64;
		}
	}
	if (nent < 1000 || nent > 50000000 || nlook < 1000 || nlook > 100000000) {
		fprintf(stderr, "bench_cache: -n 1000..50000000, -l 1000..100000000\n");
		return 64;
	}
	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/sav-bench-XXXXXX");
		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			return 1;
		}
	}
	snprintf(path, sizeof(path), "%s/cache.mdb", dir);

	ents = calloc(nent, sizeof(*ents));
	seq = malloc(nlook * sizeof(*seq));
	miss = malloc(nlook * sizeof(*miss));
	if (ents == NULL || seq == NULL || miss == NULL) {
		fprintf(stderr, "bench_cache: out of memory\n");
		return 1;
	}
	for (i = 0; i < nent; i++)
		make_entry(&ents[i], i);
	for (i = 0; i < nlook; i++) {
		const char *k = ents[rng() % nent].key, *at = strrchr(k, '@');
		char absent[200];

		seq[i] = (uint32_t)(rng() % nent);
		/* next to a stored key, so absent keys are spread over the tree too */
		snprintf(absent, sizeof(absent), "%.*s-x%s", (int)(at - k), k, at);
		miss[i] = strdup(absent);
	}

	/* fill, through the real write path (rules, domain facts, sweep) */
	c = cache_open(path, NULL, (size_t)8 << 30, CACHE_NOSYNC, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "bench_cache: %s\n", err);
		return 1;
	}
	fprintf(stderr, "filling %zu entries into %s ...\n", nent, path);
	t0 = now_ns();
	for (i = 0; i < nent; i++)
		if (cache_put_result(c, ents[i].key, ents[i].domain, &ents[i].r) == CACHE_HIT)
			ok_fill++;
	fill_ns = now_ns() - t0;
	cache_iterate(c, NULL, count_cb, &records);
	cache_close(c);
	if (stat(path, &st) != 0) {
		perror(path);
		return 1;
	}
	bpe = records > 0 ? (double)st.st_size / (double)records : 0;

	/* look up, reopened */
	c = cache_open(path, NULL, (size_t)8 << 30, CACHE_NOSYNC, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "bench_cache: %s\n", err);
		return 1;
	}
	fprintf(stderr, "looking up %zu random keys ...\n", nlook);
	run_lookups(c, NULL, ents, seq, NULL, nlook / 10, 1, &lm1);	/* warm-up */
	run_lookups(c, NULL, ents, seq, NULL, nlook, 1, &lm1);
	run_lookups(c, NULL, ents, seq, NULL, nlook, 2, &lm2);
	run_lookups(c, NULL, ents, seq, (const char *const *)miss, nlook, 1, &miss1);
	cache_close(c);

	/* the baseline */
	memset(&h, 0, sizeof(h));
	for (h.mask = 1; h.mask < nent * 2; h.mask <<= 1)
		;
	h.slot = malloc(h.mask * sizeof(*h.slot));
	h.ents = calloc(nent, sizeof(*h.ents));
	if (h.slot == NULL || h.ents == NULL) {
		fprintf(stderr, "bench_cache: out of memory\n");
		return 1;
	}
	memset(h.slot, 0xff, h.mask * sizeof(*h.slot));
	h.mask--;
	for (i = 0; i < nent; i++) {
		struct hent *e = &h.ents[i];
		const struct probe_result *r = &ents[i].r;

		e->key = ents[i].key;
		e->verdict = r->verdict;
		e->code = r->code;
		e->catch_all = r->catch_all;
		e->reason = r->reason;
		e->enhanced = r->enhanced;
		e->text = r->text;
		e->mx = r->mx;
		e->ip = r->ip;
		h_put(&h, (int32_t)i);
	}
	run_lookups(NULL, &h, ents, seq, NULL, nlook / 10, 1, &hm);
	run_lookups(NULL, &h, ents, seq, NULL, nlook, 1, &hm);

	printf("\nsav-milter verdict cache benchmark (%ld CPUs, LMDB, warm page cache)\n",
	    sysconf(_SC_NPROCESSORS_ONLN));
	printf("fill: %zu cache_put_result calls in %.1f s (%.0f/s, CACHE_NOSYNC), %d stored, "
	    "%zu records (address + domain)\n", nent, (double)fill_ns / 1e9,
	    (double)nent / ((double)fill_ns / 1e9), ok_fill, records);
	printf("file: %lld bytes = %.1f bytes per record, %.1f per address entry "
	    "(target <= %.0f: %s)\n\n", (long long)st.st_size, bpe,
	    (double)st.st_size / (double)nent, TARGET_BYTES,
	    (double)st.st_size / (double)nent <= TARGET_BYTES ? "met" : "NOT met");
	printf("%-30s %8s %8s %8s %9s %12s\n", "lookups (us per lookup)", "p50", "p99", "p99.9",
	    "max", "lookups/s");
	row("cache_get_addr, 1 thread", &lm1, 1);
	row("cache_get_addr, 2 threads", &lm2, 1);
	row("cache_get_addr, absent keys", &miss1, 1);
	row("in-memory hash (baseline)", &hm, 0);
	printf("%-30s %7.1fx %7.1fx %8s %9s %11.1fx\n", "ratio cache / hash", lm1.p50 / hm.p50,
	    lm1.p99 / hm.p99, "", "", hm.per_sec / lm1.per_sec);
	printf("\nhits: cache %zu/%zu, 2 threads %zu/%zu, absent %zu/%zu, hash %zu/%zu\n",
	    lm1.hits, lm1.n, lm2.hits, lm2.n, miss1.hits, miss1.n, hm.hits, hm.n);
	printf("(tempfail records are 5 minutes old at most when looked up; every key looked up "
	    "was stored, so hits below %zu mean records were not found)\n", lm1.n);

	if (!keep) {
		char lock[320];

		snprintf(lock, sizeof(lock), "%s-lock", path);
		unlink(path);
		unlink(lock);
		rmdir(dir);
	} else
		printf("kept %s\n", path);
	return lm1.hits == lm1.n && hm.hits == hm.n ? 0 : 1;
}
