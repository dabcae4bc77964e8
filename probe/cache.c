/*
 * cache - the on-disk verdict cache: one LMDB file (MDB_NOSUBDIR) and
 * its "-lock" file, shared by the milter's threads, several milter
 * processes and the sav-cache command. See cache.h and DESIGN.md
 * "Cache"; the rules are CASES.md section F.
 *
 * The module is three files: cache.c (open, look-ups, the write rules),
 * cache_rec.c (the record format) and cache_admin.c (purge, eviction,
 * the commands' view); cache_int.h is what they share.
 *
 * FILE AND PROCESS RULES
 *	One struct cache (one MDB_env) per file per process: LMDB's
 *	fcntl locks belong to the process, so opening the same file twice
 *	and closing one handle would drop the other's locks (lmdb.h,
 *	Caveats). cache_open refuses a second open of the same file in
 *	the same process. The env is opened with MDB_NOTLS, so reader
 *	slots follow transactions, not threads (libmilter maps N
 *	connections onto M threads). Every call runs its own short
 *	transaction and copies the data out before it ends: nothing
 *	returned points into the map. An env must not be used across
 *	fork(); a child opens its own.
 *
 * SECURITY
 *	The file is untrusted input. Every record carries a magic byte,
 *	a format version, its type, explicit lengths and a CRC-32 over the
 *	payload; cache_rec_decode() checks all of them, the enum ranges and
 *	the character set of every string, and any failure is a miss, never
 *	a verdict (cache_rec.c). The path must not be a symbolic link (lstat before
 *	open, and the descriptor LMDB opened is compared with the path
 *	afterwards); new files are created 0600 with O_NOFOLLOW, the lock
 *	file too; a file writable by others is refused.
 *
 * FAILURE
 *	A file LMDB calls invalid, corrupt or of another version, or one
 *	shorter than its own meta page says (a truncated file would fault
 *	on first touch), is renamed to <path>.corrupt-<unixtime> (its lock
 *	file likewise) and recreated, with one warning. A read-only file
 *	system gives a read-only cache with one warning. Write failures
 *	(disk full, I/O error) turn writes off for a minute with one
 *	warning, and a notice when they work again; corruption found at
 *	run time turns the cache off (every lookup a miss) with one
 *	warning. Verdicts never depend on the cache working.
 *
 * EXPIRY
 *	Judged at read time from created and the TTLs in force now (F4);
 *	a created time in the future is expired. A valid record older than
 *	ttl.refresh is served with *stale = 1, unless a refresh was tried
 *	within the last ttl.tempfail (at least a minute), so a domain whose
 *	refreshes keep failing is not re-probed on every message. Domain
 *	facts keep one time per fact, so learning a new fact does not
 *	prolong an old one; "no mail" and "unreachable" last at most
 *	ttl.invalid (see ttl_fact).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_int.h"
#include "log.h"
#include "util.h"

/* ---- the process-wide registry of open files (see FILE AND PROCESS RULES) ---- */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	pid_t	pid;
	dev_t	dev;
	ino_t	ino;
} reg[REG_MAX];

static int
reg_add(dev_t dev, ino_t ino)
{
	pid_t pid = getpid();
	int i, slot = -1, rc = 0;

	pthread_mutex_lock(&reg_mu);
	for (i = 0; i < REG_MAX; i++) {
		if (reg[i].pid == pid && reg[i].dev == dev && reg[i].ino == ino) {
			rc = -1;
			break;
		}
		/* a slot of another pid was inherited over fork(): free */
		if (slot < 0 && reg[i].pid != pid)
			slot = i;
	}
	if (rc == 0 && slot < 0)
		rc = -2;
	if (rc == 0) {
		reg[slot].pid = pid;
		reg[slot].dev = dev;
		reg[slot].ino = ino;
	}
	pthread_mutex_unlock(&reg_mu);
	return rc;
}

static void
reg_del(dev_t dev, ino_t ino)
{
	pid_t pid = getpid();
	int i;

	pthread_mutex_lock(&reg_mu);
	for (i = 0; i < REG_MAX; i++)
		if (reg[i].pid == pid && reg[i].dev == dev && reg[i].ino == ino)
			reg[i].pid = 0;
	pthread_mutex_unlock(&reg_mu);
}

/* ---- clock and lifetimes ---- */

time_t
cache_int_now(const struct cache *c)
{
	return c->now != NULL ? c->now() : time(NULL);
}

size_t
cache_int_ttl(const struct cache *c, int type, enum verdict v)
{
	long t;

	if (type == REC_DOMAIN)
		t = c->ttl.domain;
	else {
		switch (v) {
		case VERDICT_VALID:
			t = c->ttl.valid;
			break;
		case VERDICT_INVALID:
		case VERDICT_BAD_DOMAIN:
		case VERDICT_BAD_SYNTAX:
			t = c->ttl.invalid;
			break;
		case VERDICT_TEMPFAIL:
			t = c->ttl.tempfail;
			break;
		default:
			t = c->ttl.unknown;
			break;
		}
	}
	return t > 0 ? (size_t)t : 0;
}

/* is a record created at t (with ttl) expired at time n? (F4) */
int
cache_int_expired(time_t t, size_t ttl, time_t n)
{
	if (t > n)
		return 1;
	return (unsigned long long)(n - t) >= (unsigned long long)ttl;
}

long
cache_int_refresh_retry(const struct cache *c)
{
	return c->ttl.tempfail > 60 ? c->ttl.tempfail : 60;
}

/*
 * ttl_fact - the lifetime of one domain fact: ttl.domain, except that
 * the two negative ones, "no mail" and "unreachable", last no longer
 * than a negative verdict (ttl.invalid, 3 h). The probe answers every
 * sender of such a domain from the fact (reject, tempfail) without
 * asking again; a day of that for a DNS or MX outage of minutes would
 * do more harm than the probes it saves, and it would outlive the
 * bad-domain verdicts themselves (Exim: callout_domain_negative_expire
 * 3 h; CASES.md F "domain-negative 3h").
 */
size_t
cache_int_ttl_fact(const struct cache *c, int i)
{
	size_t t = cache_int_ttl(c, REC_DOMAIN, VERDICT_UNKNOWN);
	unsigned b = 1u << i;

	if ((b == FACT_UNREACHABLE || b == FACT_NO_MAIL) && c->ttl.invalid >= 0 &&
	    (size_t)c->ttl.invalid < t)
		t = (size_t)c->ttl.invalid;
	return t;
}

/* facts still in force at n; sets *newest and *latest_expiry */
unsigned
cache_int_facts_live(const struct cache *c, const struct rec *r, time_t n, time_t *newest, time_t *expires)
{
	unsigned live = 0;
	size_t ttl;
	int i;

	*newest = 0;
	*expires = 0;
	for (i = 0; i < NFACTS; i++) {
		if (!(r->flags & (1u << i)))
			continue;
		ttl = cache_int_ttl_fact(c, i);
		if (r->fact_time[i] > *newest)
			*newest = r->fact_time[i];
		if (!cache_int_expired(r->fact_time[i], ttl, n)) {
			live |= 1u << i;
			if (r->fact_time[i] + (time_t)ttl > *expires)
				*expires = r->fact_time[i] + (time_t)ttl;
		}
	}
	return live;
}

/* ---- failure handling ---- */

int
cache_int_corrupt_rc(int rc)
{
	return rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID ||
	    rc == MDB_VERSION_MISMATCH || rc == MDB_PANIC;
}

/* runtime corruption: turn the cache off, warn once */
void
cache_int_broken(struct cache *c, int rc)
{
	if (atomic_exchange(&c->broken, 1) == 0)
		log_msg(LOG_WARNING, "cache %s: %s; cache off until restart "
		    "(the file is moved aside and recreated at the next start if it stays unreadable)",
		    c->path, mdb_strerror(rc));
}

int
cache_int_is_broken(struct cache *c)
{
	return atomic_load(&c->broken);
}

/* may we write now? (off after a failure, retried after WRITE_RETRY s) */
static int
write_ok(struct cache *c)
{
	int ok;

	if (c->rdonly)
		return 0;
	pthread_mutex_lock(&c->mu);
	ok = !atomic_load(&c->broken) && (!c->wfail || time(NULL) >= c->wretry);
	pthread_mutex_unlock(&c->mu);
	return ok;
}

static void
write_failed(struct cache *c, int rc)
{
	int first;

	pthread_mutex_lock(&c->mu);
	first = !c->wfail;
	c->wfail = 1;
	c->wretry = time(NULL) + WRITE_RETRY;
	pthread_mutex_unlock(&c->mu);
	if (first)
		log_msg(LOG_WARNING, "cache %s: write failed: %s; verdicts go on without "
		    "storing them (retrying every %d s, no further warnings)",
		    c->path, mdb_strerror(rc), WRITE_RETRY);
}

static void
write_worked(struct cache *c)
{
	int was;

	pthread_mutex_lock(&c->mu);
	was = c->wfail;
	c->wfail = 0;
	pthread_mutex_unlock(&c->mu);
	if (was)
		log_msg(LOG_NOTICE, "cache %s: writes work again", c->path);
}

/* ---- open / close ---- */

void
cache_ttl_defaults(struct cache_ttl *t)
{
	t->valid = 30L * 86400;
	t->refresh = 7L * 86400;
	t->invalid = 3L * 3600;
	t->tempfail = 5L * 60;
	t->domain = 86400;
	t->unknown = 3600;
}

/* create path 0600 without following a link; EEXIST is fine */
static int
precreate(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return errno == EEXIST ? 0 : -1;
	close(fd);
	return 0;
}

/* lstat path: refuse links and non-files */
static int
check_path(const char *path, struct stat *st, int must_exist, char *err, size_t errlen)
{
	if (lstat(path, st) != 0) {
		int e = errno;

		if (e == ENOENT && !must_exist)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (S_ISLNK(st->st_mode)) {
		errno = ELOOP;
		snprintf(err, errlen, "%s: is a symbolic link; refusing to use it", path);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		errno = S_ISDIR(st->st_mode) ? EISDIR : EINVAL;
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	return 0;
}

enum open_rc { OPEN_OK, OPEN_CORRUPT, OPEN_FAIL, OPEN_ROFS };

/*
 * open_env - one attempt at opening path into c. OPEN_CORRUPT means the
 * file is there but unusable as a cache (move it aside); OPEN_ROFS a
 * read-write open met a read-only file system.
 */
static enum open_rc
open_env(struct cache *c, const char *path, size_t mapsize, int rdonly,
	 char *err, size_t errlen)
{
	char lpath[PATH_MAX + 8];
	struct stat st, lst, fst;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	MDB_envinfo info;
	MDB_stat ms;
	unsigned fl;
	int rc, fd, dead, r;

	c->env = NULL;
	if ((size_t)snprintf(lpath, sizeof(lpath), "%s-lock", path) >= sizeof(lpath)) {
		errno = ENAMETOOLONG;
		snprintf(err, errlen, "%s: path too long", path);
		return OPEN_FAIL;
	}
	/* both names are checked before anything is created */
	r = check_path(lpath, &lst, 0, err, errlen);
	if (r < 0)
		return OPEN_FAIL;
	r = check_path(path, &st, rdonly, err, errlen);
	if (r < 0)
		return OPEN_FAIL;
	if (r == 1) {
		if (precreate(path) != 0) {
			int e = errno;

			snprintf(err, errlen, "%s: cannot create: %s", path, strerror(e));
			errno = e;
			return e == EROFS ? OPEN_ROFS : OPEN_FAIL;
		}
		if (check_path(path, &st, 1, err, errlen) != 0)
			return OPEN_FAIL;
	}
	if (st.st_mode & S_IWOTH) {
		errno = EPERM;
		snprintf(err, errlen, "%s: writable by others (mode %04o); refusing to use it",
		    path, (unsigned)(st.st_mode & 07777));
		return OPEN_FAIL;
	}
	if (rdonly && st.st_size == 0) {
		errno = EINVAL;
		snprintf(err, errlen, "%s: empty file, not a cache", path);
		return OPEN_FAIL;
	}
	if (access(lpath, F_OK) != 0)
		(void)precreate(lpath);	/* a read-only directory: LMDB reports it */

	if ((rc = mdb_env_create(&c->env)) != 0)
		goto fail;
	if ((rc = mdb_env_set_maxreaders(c->env, MAX_READERS)) != 0 ||
	    (rc = mdb_env_set_mapsize(c->env, mapsize)) != 0)
		goto fail;
	fl = MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD;
	if (rdonly)
		fl |= MDB_RDONLY;
	if (c->flags & CACHE_NOSYNC)
		fl |= MDB_NOSYNC;
	rc = mdb_env_open(c->env, path, fl, 0600);
	if (rc != 0)
		goto fail;

	/* the file LMDB opened must be the one we checked, not a link planted since */
	if ((rc = mdb_env_get_fd(c->env, &fd)) != 0)
		goto fail;
	if (fstat(fd, &fst) != 0 || check_path(path, &st, 1, err, errlen) != 0 ||
	    fst.st_dev != st.st_dev || fst.st_ino != st.st_ino) {
		mdb_env_close(c->env);
		c->env = NULL;
		errno = EPERM;
		snprintf(err, errlen, "%s: the file changed while it was being opened; refusing", path);
		return OPEN_FAIL;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	(void)mdb_reader_check(c->env, &dead);	/* slots of dead processes */

	/*
	 * A truncated file passes mdb_env_open (it reads only the meta
	 * pages) but the first touch of a page past the end would raise
	 * SIGBUS: compare the size with the last page the meta uses.
	 */
	if ((rc = mdb_env_info(c->env, &info)) != 0 || (rc = mdb_env_stat(c->env, &ms)) != 0)
		goto fail;
	if ((unsigned long long)fst.st_size < ((unsigned long long)info.me_last_pgno + 1) * ms.ms_psize) {
		rc = MDB_CORRUPTED;
		errno = EIO;
		snprintf(err, errlen, "%s: truncated (%lld bytes, pages in use need %llu)", path,
		    (long long)fst.st_size,
		    ((unsigned long long)info.me_last_pgno + 1) * ms.ms_psize);
		mdb_env_close(c->env);
		c->env = NULL;
		return rdonly ? OPEN_FAIL : OPEN_CORRUPT;
	}
	if ((rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, NULL, 0, &c->dbi)) != 0)
		goto fail;
	/* the first read: both ends of the tree */
	if ((rc = mdb_cursor_open(txn, c->dbi, &cur)) != 0)
		goto fail;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	mdb_cursor_close(cur);
	cur = NULL;
	if (rc != 0)
		goto fail;
	mdb_txn_abort(txn);
	c->maxkey = (unsigned)mdb_env_get_maxkeysize(c->env);
	return OPEN_OK;

fail:
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (c->env != NULL)
		mdb_env_close(c->env);
	c->env = NULL;
	if (cache_int_corrupt_rc(rc)) {
		snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
		errno = EIO;
		return rdonly ? OPEN_FAIL : OPEN_CORRUPT;
	}
	snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
	errno = rc > 0 ? rc : EIO;
	if (rc == EROFS && !rdonly)
		return OPEN_ROFS;
	return OPEN_FAIL;
}

/* move path and its lock file aside; returns 0 and the new name */
static int
move_aside(const char *path, char *moved, size_t size)
{
	char lpath[PATH_MAX + 8], lmoved[PATH_MAX + 128];
	long t = (long)time(NULL);
	struct stat st;
	int i, n;

	for (i = 0; i < 100; i++) {
		if (i == 0)
			n = snprintf(moved, size, "%s.corrupt-%ld", path, t);
		else
			n = snprintf(moved, size, "%s.corrupt-%ld.%d", path, t, i);
		if (n < 0 || (size_t)n >= size) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (lstat(moved, &st) != 0 && errno == ENOENT)
			break;
	}
	if (i == 100 || rename(path, moved) != 0)
		return -1;
	n = snprintf(lpath, sizeof(lpath), "%s-lock", path);
	if (n < 0 || (size_t)n >= sizeof(lpath) ||
	    (size_t)snprintf(lmoved, sizeof(lmoved), "%.*s-lock", PATH_MAX + 64, moved) >= sizeof(lmoved))
		return 0;
	/* the old lock file describes the old file only; keep it beside it */
	if (rename(lpath, lmoved) != 0 && errno != ENOENT)
		(void)unlink(lpath);
	return 0;
}

struct cache *
cache_open(const char *path, const struct cache_ttl *ttl, size_t mapsize,
	   int flags, char *err, size_t errlen)
{
	struct cache *c;
	char why[PATH_MAX + 128], moved[PATH_MAX + 64];
	enum open_rc orc;
	int rc, e;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (err == NULL)
		errlen = 0;
	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "no cache file given");
		errno = EINVAL;
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if (util_strlcpy(c->path, path, sizeof(c->path)) >= sizeof(c->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		free(c);
		errno = ENAMETOOLONG;
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	if (ttl != NULL)
		c->ttl = *ttl;
	else
		cache_ttl_defaults(&c->ttl);
	c->flags = flags;
	c->rdonly = (flags & CACHE_RDONLY) != 0;
	if (mapsize == 0)
		mapsize = DEFAULT_MAPSIZE;

	orc = open_env(c, path, mapsize, c->rdonly, why, sizeof(why));
	if (orc == OPEN_CORRUPT) {
		if (move_aside(path, moved, sizeof(moved)) != 0) {
			e = errno;
			snprintf(err, errlen, "%s; cannot move it aside: %s", why, strerror(e));
			goto fail;
		}
		orc = open_env(c, path, mapsize, 0, err, errlen);
		if (orc != OPEN_OK)
			goto fail;
		log_msg(LOG_WARNING, "cache %s: unusable (%s); moved aside to %s and recreated",
		    path, why, moved);
	} else if (orc == OPEN_ROFS) {
		c->rdonly = 1;
		orc = open_env(c, path, mapsize, 1, err, errlen);
		if (orc != OPEN_OK)
			goto fail;
		log_msg(LOG_WARNING, "cache %s: read-only file system; answering from the cache "
		    "without storing new verdicts", path);
	} else if (orc != OPEN_OK) {
		snprintf(err, errlen, "%s", why);
		goto fail;
	}
	rc = reg_add(c->dev, c->ino);
	if (rc != 0) {
		mdb_env_close(c->env);
		snprintf(err, errlen, rc == -1 ? "%s: already open in this process" :
		    "%s: too many caches open", path);
		errno = EBUSY;
		goto fail_nolog;
	}
	return c;

fail:
	e = errno;
	if (c->env != NULL)
		mdb_env_close(c->env);
	errno = e;
fail_nolog:
	e = errno;
	pthread_mutex_destroy(&c->mu);
	free(c);
	errno = e;
	return NULL;
}

void
cache_close(struct cache *c)
{
	if (c == NULL)
		return;
	reg_del(c->dev, c->ino);
	mdb_env_close(c->env);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void
cache_set_clock(struct cache *c, time_t (*fn)(void))
{
	c->now = fn;
}

int
cache_readonly(const struct cache *c)
{
	return c->rdonly;
}
/* ---- reads ---- */

/* read one raw record and decode it; 0 found and good, 1 absent, 2 malformed, -1 error */
static int
read_rec(struct cache *c, MDB_txn *txn, const char *key, size_t klen, struct rec *r)
{
	MDB_val k = { klen, (void *)key }, v;
	int rc;

	if (klen == 0 || klen > c->maxkey)
		return 1;
	rc = mdb_get(txn, c->dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0) {
		if (cache_int_corrupt_rc(rc))
			cache_int_broken(c, rc);
		return -1;
	}
	if (cache_rec_decode(v.mv_data, v.mv_size, key, klen, r) != 0)
		return 2;
	return 0;
}

int
cache_int_begin_read(struct cache *c, MDB_txn **txn)
{
	int rc;

	if (cache_int_is_broken(c))
		return -1;
	rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, txn);
	if (rc != 0) {
		if (cache_int_corrupt_rc(rc))
			cache_int_broken(c, rc);
		return -1;
	}
	return 0;
}

enum cache_status
cache_get_addr(struct cache *c, const char *key, struct probe_result *out, int *stale)
{
	MDB_txn *txn;
	struct rec r;
	size_t klen;
	time_t n;
	int rc;

	if (stale != NULL)
		*stale = 0;
	if (c == NULL || key == NULL)
		return CACHE_MISS;
	klen = strlen(key);
	if (cache_int_begin_read(c, &txn) != 0)
		return CACHE_ERR;
	rc = read_rec(c, txn, key, klen, &r);
	mdb_txn_abort(txn);
	if (rc < 0)
		return CACHE_ERR;
	if (rc > 0 || r.type != REC_ADDR)
		return CACHE_MISS;
	n = cache_int_now(c);
	if (cache_int_expired(r.created, cache_int_ttl(c, REC_ADDR, r.verdict), n))
		return CACHE_MISS;
	cache_rec_to_result(out, &r, key, klen);
	if (stale != NULL && r.verdict == VERDICT_VALID &&
	    cache_int_expired(r.created, (size_t)(c->ttl.refresh > 0 ? c->ttl.refresh : 0), n) &&
	    (r.tried == 0 || r.tried > n || n - r.tried >= cache_int_refresh_retry(c)))
		*stale = 1;
	return CACHE_HIT;
}

static int
domain_key(const char *domain, char *buf, size_t size)
{
	int n = snprintf(buf, size, "d:%s", domain);

	return n < 0 || (size_t)n >= size ? -1 : n;
}

enum cache_status
cache_get_domain(struct cache *c, const char *domain, struct cache_domain *out)
{
	char key[300];
	MDB_txn *txn;
	struct rec r;
	unsigned live;
	time_t newest, expires;
	int klen, rc;

	if (c == NULL || domain == NULL || (klen = domain_key(domain, key, sizeof(key))) < 0)
		return CACHE_MISS;
	if (cache_int_begin_read(c, &txn) != 0)
		return CACHE_ERR;
	rc = read_rec(c, txn, key, (size_t)klen, &r);
	mdb_txn_abort(txn);
	if (rc < 0)
		return CACHE_ERR;
	if (rc > 0 || r.type != REC_DOMAIN)
		return CACHE_MISS;
	live = cache_int_facts_live(c, &r, cache_int_now(c), &newest, &expires);
	if (live == 0)
		return CACHE_MISS;
	memset(out, 0, sizeof(*out));
	out->facts = live;
	out->created = newest;
	out->expires = expires;
	cache_rec_to_result(&out->why, &r, key, (size_t)klen);
	return CACHE_HIT;
}

/* expired_rec - has a decoded record (or the header of one) expired at n? */
static int
expired_rec(const struct cache *c, const struct rec *r, time_t n)
{
	time_t nw, ex;

	if (r->type == REC_DOMAIN)
		return cache_int_facts_live(c, r, n, &nw, &ex) == 0;
	return cache_int_expired(r->created, cache_int_ttl(c, REC_ADDR, r->verdict), n);
}

/*
 * should this record go? (all: every record; malformed and misfiled
 * ones always; those of a newer format version never)
 */
int
cache_int_purgeable(const struct cache *c, const MDB_val *k, const MDB_val *v, time_t n, int all)
{
	struct rec r;

	if (all)
		return 1;
	if (cache_rec_newer(v->mv_data, v->mv_size))
		return 0;
	if (cache_rec_decode(v->mv_data, v->mv_size, k->mv_data, k->mv_size, &r) != 0 ||
	    r.type != cache_rec_key_type(k))
		return 1;
	return expired_rec(c, &r, n);
}

/*
 * sweepable - the sweep's cheap version of cache_int_purgeable: the
 * header alone decides (no CRC, no strings), so a look at 64 records
 * costs a few microseconds per write; records that are damaged past
 * their header are left for cache_purge, and are a miss meanwhile.
 */
static int
sweepable(const struct cache *c, const MDB_val *k, const MDB_val *v, time_t n)
{
	struct rec r;

	if (cache_rec_newer(v->mv_data, v->mv_size))
		return 0;
	if (cache_rec_decode_head(v->mv_data, v->mv_size, &r) != 0 || r.type != cache_rec_key_type(k))
		return 1;
	return expired_rec(c, &r, n);
}

/* ---- writes ---- */

/* one incremental purge step inside a write transaction (errors ignored) */
static void
sweep_step(struct cache *c, MDB_txn *txn, time_t n)
{
	MDB_cursor *cur;
	MDB_val k, v;
	char pos[sizeof(c->sweep)];
	size_t poslen;
	int rc, i;

	if (mdb_cursor_open(txn, c->dbi, &cur) != 0)
		return;
	/* one writer at a time (LMDB's write lock): the copy is only for readers of mu */
	pthread_mutex_lock(&c->mu);
	poslen = c->sweeplen;
	memcpy(pos, c->sweep, poslen);
	pthread_mutex_unlock(&c->mu);
	k.mv_size = poslen;
	k.mv_data = pos;
	rc = poslen > 0 ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) :
	    mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	for (i = 0; rc == 0 && i < SWEEP_STEP; i++) {
		if (sweepable(c, &k, &v, n) && mdb_cursor_del(cur, 0) != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	pthread_mutex_lock(&c->mu);
	if (rc == 0 && k.mv_size <= sizeof(c->sweep)) {
		memcpy(c->sweep, k.mv_data, k.mv_size);
		c->sweeplen = k.mv_size;
	} else
		c->sweeplen = 0;	/* the end: start over next time */
	pthread_mutex_unlock(&c->mu);
	mdb_cursor_close(cur);
}

/*
 * A planned write: up to two puts (address record, domain record) and
 * one delete (domain record emptied), decided inside the transaction
 * by a callback so that the read-decide-write is atomic.
 */
struct wplan {
	const char *akey;
	size_t	aklen;
	const char *dkey;
	size_t	dklen;
	const char *domain_only;	/* cache_put_domain */
	unsigned dom_facts;
	const struct probe_result *res;
	int	wrote;
};

static int
put_rec(struct cache *c, MDB_txn *txn, const char *key, size_t klen, const struct rec *r)
{
	unsigned char buf[REC_MAX];
	MDB_val k = { klen, (void *)key }, v;
	size_t len = cache_rec_encode(r, key, klen, buf, sizeof(buf));

	if (len == 0)
		return EINVAL;
	v.mv_size = len;
	v.mv_data = buf;
	return mdb_put(txn, c->dbi, &k, &v, 0);
}

/* domain facts an inconclusive result establishes (F11) */
static unsigned
facts_of(const struct probe_result *r)
{
	unsigned f = 0;
	const char *why = r->reason;

	if (r->verdict == VERDICT_CATCH_ALL || r->catch_all)
		f |= FACT_CATCH_ALL;
	if (strcmp(why, R_NULL_SENDER_REFUSED) == 0)
		f |= FACT_REFUSES_NULL;
	if (strcmp(why, R_GREETING_REFUSED) == 0 || strcmp(why, R_POLICY_BLOCK) == 0)
		f |= FACT_BLOCKS_US;
	/* a temporary "no mail host" (nothing could be tried) is no fact */
	if (r->verdict == VERDICT_BAD_DOMAIN && (strcmp(why, R_NO_MAIL_HOST) == 0 ||
	    strcmp(why, R_NXDOMAIN) == 0 || strcmp(why, R_NULL_MX) == 0))
		f |= FACT_NO_MAIL;
	if (r->verdict == VERDICT_TEMPFAIL &&
	    (strcmp(why, R_CONNECT_FAILED) == 0 || strcmp(why, R_TIMEOUT) == 0))
		f |= FACT_UNREACHABLE;
	return f;
}

/* facts a conclusive answer about a mailbox disproves */
static unsigned
facts_cleared_by(const struct probe_result *r)
{
	unsigned f = 0;

	if ((r->verdict == VERDICT_VALID && !r->catch_all) || r->verdict == VERDICT_INVALID)
		f = FACT_REFUSES_NULL | FACT_BLOCKS_US | FACT_NO_MAIL | FACT_UNREACHABLE;
	if (r->verdict == VERDICT_INVALID)
		f |= FACT_CATCH_ALL;	/* a mailbox-level 5xx: not catch-all */
	return f;
}

/* update the domain record: add facts learnt now, drop cleared ones */
static int
apply_domain(struct cache *c, MDB_txn *txn, const char *dkey, size_t dklen,
	     unsigned add, unsigned clear, const struct probe_result *why, time_t n, int *wrote)
{
	struct rec old, r;
	unsigned live = 0, keep;
	time_t nw, ex;
	int rc, i;
	MDB_val k = { dklen, (void *)dkey };

	rc = read_rec(c, txn, dkey, dklen, &old);
	if (rc < 0)
		return EIO;
	if (rc == 0 && old.type == REC_DOMAIN)
		live = cache_int_facts_live(c, &old, n, &nw, &ex);
	keep = live & ~clear & ~add;
	if (add == 0 && keep == live && rc != 2)
		return 0;	/* nothing changes */
	if ((keep | add) == 0) {
		if (rc == 1)
			return 0;
		rc = mdb_del(txn, c->dbi, &k, NULL);
		if (rc == 0)
			*wrote = 1;
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	if (add != 0)
		cache_rec_from_result(&r, REC_DOMAIN, why, n);
	else
		r = old;	/* only clearing: keep the why of the facts that remain */
	r.type = REC_DOMAIN;
	r.flags = keep | add;
	r.tried = 0;
	r.created = 0;
	for (i = 0; i < NFACTS; i++) {
		unsigned b = 1u << i;

		r.fact_time[i] = (add & b) ? n : (keep & b) ? old.fact_time[i] : 0;
		if (r.fact_time[i] > r.created)
			r.created = r.fact_time[i];
	}
	rc = put_rec(c, txn, dkey, dklen, &r);
	if (rc == 0)
		*wrote = 1;
	return rc;
}

/* the address half of cache_put_result: the rules F2, F3 */
static int
apply_addr(struct cache *c, MDB_txn *txn, const char *key, size_t klen,
	   const struct probe_result *pr, time_t n, int *wrote)
{
	struct rec old, r;
	int rc, live_old;

	rc = read_rec(c, txn, key, klen, &old);
	if (rc < 0)
		return EIO;
	live_old = rc == 0 && old.type == REC_ADDR &&
	    !cache_int_expired(old.created, cache_int_ttl(c, REC_ADDR, old.verdict), n);
	if (pr->verdict != VERDICT_VALID && live_old && old.verdict == VERDICT_VALID) {
		/*
		 * F3: nothing but a fresh "valid" replaces a valid entry
		 * still in force (Postfix verify.c: "don't allow a failed
		 * probe to clobber an OK address"). Note the attempt so a
		 * failing refresh is not retried on every message.
		 */
		old.tried = n;
		rc = put_rec(c, txn, key, klen, &old);
		if (rc == 0)
			*wrote = 1;
		return rc;
	}
	/* F2: tempfail never replaces a verdict in force; stored as tempfail only */
	if (pr->verdict == VERDICT_TEMPFAIL && live_old && old.verdict != VERDICT_TEMPFAIL)
		return 0;
	cache_rec_from_result(&r, REC_ADDR, pr, n);
	rc = put_rec(c, txn, key, klen, &r);
	if (rc == 0)
		*wrote = 1;
	return rc;
}

/*
 * need_room - is the map nearly full? LMDB cannot reliably delete its
 * way out of a map that is completely full (deleting copies pages, and
 * pages freed by a transaction are reusable only two transactions
 * later), so room is made while ROOM_HIGH percent of the pages are in
 * use. Deleting scattered records frees space inside pages, not pages,
 * so after eviction the page count stays up while new records fill the
 * holes: room_mark (the entry count when room was last made) keeps
 * every write from evicting again until as many records are back.
 */
static int
need_room(struct cache *c, MDB_txn *txn)
{
	MDB_stat st;
	MDB_envinfo info;
	size_t pages, total, mark;

	if (mdb_stat(txn, c->dbi, &st) != 0 || mdb_env_info(c->env, &info) != 0 || st.ms_psize == 0)
		return 0;
	pages = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages + 2;
	total = info.me_mapsize / st.ms_psize;
	if (pages * 100 < total * ROOM_HIGH)
		return 0;
	pthread_mutex_lock(&c->mu);
	mark = c->room_mark;
	pthread_mutex_unlock(&c->mu);
	return st.ms_entries >= mark;
}

static int
run_plan(struct cache *c, struct wplan *p, int check_room)
{
	MDB_txn *txn;
	time_t n;
	int rc;

	p->wrote = 0;
	rc = mdb_txn_begin(c->env, NULL, 0, &txn);
	if (rc != 0)
		return rc;
	/*
	 * The time is taken once the write lock is held: a record another
	 * process committed while we waited for it must not look created
	 * in the future (F4), or the sweep would delete it.
	 */
	n = cache_int_now(c);
	if (check_room && need_room(c, txn)) {
		mdb_txn_abort(txn);
		return MDB_MAP_FULL;
	}
	if (p->domain_only != NULL) {
		if (p->dom_facts == 0) {
			MDB_val k = { p->dklen, (void *)p->dkey };

			rc = mdb_del(txn, c->dbi, &k, NULL);
			if (rc == 0)
				p->wrote = 1;
			else if (rc == MDB_NOTFOUND)
				rc = 0;
		} else
			rc = apply_domain(c, txn, p->dkey, p->dklen, p->dom_facts, 0,
			    p->res, n, &p->wrote);
	} else {
		rc = 0;
		if (p->akey != NULL)
			rc = apply_addr(c, txn, p->akey, p->aklen, p->res, n, &p->wrote);
		if (rc == 0 && p->dkey != NULL)
			rc = apply_domain(c, txn, p->dkey, p->dklen, facts_of(p->res),
			    facts_cleared_by(p->res), p->res, n, &p->wrote);
	}
	if (rc == 0 && p->wrote)
		sweep_step(c, txn, n);
	if (rc != 0 || !p->wrote) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

/* run a plan; on a full map make room and retry once */
static enum cache_status
write_plan(struct cache *c, struct wplan *p)
{
	int rc;

	if (!write_ok(c))
		return CACHE_MISS;
	rc = run_plan(c, p, 1);
	if (rc == MDB_MAP_FULL) {
		(void)cache_admin_make_room(c);
		rc = run_plan(c, p, 0);
	}
	if (rc != 0) {
		if (cache_int_corrupt_rc(rc))
			cache_int_broken(c, rc);
		else
			write_failed(c, rc);
		return CACHE_ERR;
	}
	write_worked(c);
	return p->wrote ? CACHE_HIT : CACHE_MISS;
}

enum cache_status
cache_put_result(struct cache *c, const char *key, const char *domain,
		 const struct probe_result *r)
{
	struct wplan p;
	char dkey[300];
	int dklen;

	if (c == NULL || r == NULL || !cache_rec_storable(r->verdict))
		return CACHE_MISS;	/* error and skipped are never stored */
	/*
	 * Results about us, not about the address: our own limits, the
	 * caller's budget, an internal error, an answer already taken
	 * from domain facts. Storing them would only hide the address.
	 */
	if (strcmp(r->reason, R_RATE_LIMITED) == 0 || strcmp(r->reason, R_BUDGET) == 0 ||
	    strcmp(r->reason, R_INTERNAL) == 0 || strcmp(r->reason, R_CACHED_DOMAIN) == 0)
		return CACHE_MISS;
	memset(&p, 0, sizeof(p));
	p.res = r;
	if (key != NULL && key[0] != '\0' && strlen(key) <= c->maxkey) {
		p.akey = key;
		p.aklen = strlen(key);
	}
	if (domain != NULL && domain[0] != '\0' &&
	    (dklen = domain_key(domain, dkey, sizeof(dkey))) > 0 && (unsigned)dklen <= c->maxkey) {
		p.dkey = dkey;
		p.dklen = (size_t)dklen;
	}
	if (p.akey == NULL && p.dkey == NULL)
		return CACHE_MISS;
	return write_plan(c, &p);
}

enum cache_status
cache_put_domain(struct cache *c, const char *domain, unsigned facts,
		 const struct probe_result *why)
{
	struct wplan p;
	struct probe_result none;
	char dkey[300];
	int dklen;

	if (c == NULL || domain == NULL || domain[0] == '\0' ||
	    (dklen = domain_key(domain, dkey, sizeof(dkey))) < 0 || (unsigned)dklen > c->maxkey)
		return CACHE_MISS;
	if (why == NULL || !cache_rec_storable(why->verdict)) {
		memset(&none, 0, sizeof(none));
		none.verdict = VERDICT_UNKNOWN;
		why = &none;
	}
	memset(&p, 0, sizeof(p));
	p.domain_only = domain;
	p.dkey = dkey;
	p.dklen = (size_t)dklen;
	p.dom_facts = facts & FACT_ALL;
	p.res = why;
	return write_plan(c, &p);
}

