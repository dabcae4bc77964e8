/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache_env - opening and closing the verdict cache: the LMDB
 * environment of one file (MDB_NOSUBDIR) and its "-lock" file, the
 * checks on both paths, creating them, moving a corrupt file aside,
 * the fall-back to read-only, and the registry that keeps one open
 * per file per process; and the handle's small accessors (clock,
 * read-only). Look-ups and the write rules are cache.c; see there for
 * the module.
 *
 * FILE AND PROCESS RULES
 *	One struct cache (one MDB_env) per file per process: LMDB's
 *	fcntl locks belong to the process, so opening the same file twice
 *	and closing one handle would drop the other's locks (lmdb.h,
 *	Caveats). cache_open refuses a second open of the same file in
 *	the same process (the registry below, by device and inode). The
 *	env is opened with MDB_NOTLS, so reader slots follow transactions,
 *	not threads (libmilter maps N connections onto M threads). An env
 *	must not be used across fork(); a child opens its own.
 *
 * SECURITY
 *	The path must not be a symbolic link (lstat before open, and the
 *	descriptor LMDB opened is compared with the path afterwards); new
 *	files are created 0600 with O_NOFOLLOW, the lock file too;
 *	anything but a regular file is refused, and so, for a read-write
 *	open, is a cache file, lock file or directory writable by group or
 *	others (check_writers); a read-only open refuses a file writable
 *	by others.
 *
 * FAILURE
 *	A file LMDB calls invalid, corrupt or of another version, or one
 *	shorter than its own meta page says (a truncated file would fault
 *	on first touch), is renamed to <path>.corrupt-<unixtime> (its lock
 *	file likewise) and recreated, with one warning. A read-only file
 *	system gives a read-only cache with one warning. A read-only open
 *	(the commands) never moves or creates anything: it reports.
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

/* ---- open / close ---- */

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

/*
 * check_writers - nobody but the file's owner may change what the cache
 * says. A read-write open (the milter, sav-probe --cache) refuses a
 * cache file or lock file writable by group or others, and a directory
 * writable by group or others (sticky or not: another user could put a
 * file of theirs under the cache's name before it is created, or hard
 * link one of ours there). A read-only open (sav-cache list, get,
 * stats) refuses only a file writable by others. Returns 0, or -1 with
 * a message in err naming the path, its mode and what to do.
 */
static int
check_writers(const char *path, const char *lpath, const struct stat *st, int rdonly,
	      char *err, size_t errlen)
{
	mode_t bad = rdonly ? S_IWOTH : (S_IWGRP | S_IWOTH);
	char dir[PATH_MAX];
	struct stat ds, ls;
	char *slash;

	errno = EPERM;
	if (st->st_mode & bad) {
		snprintf(err, errlen, "%s: writable by %s (mode %04o); refusing to use it "
		    "(chmod go-w)", path, st->st_mode & S_IWGRP && !rdonly ? "group or others" :
		    "others", (unsigned)(st->st_mode & 07777));
		return -1;
	}
	if (rdonly)
		return 0;
	if (lstat(lpath, &ls) == 0 && (ls.st_mode & bad)) {
		snprintf(err, errlen, "%s: writable by group or others (mode %04o); refusing to "
		    "use the cache (chmod go-w)", lpath, (unsigned)(ls.st_mode & 07777));
		return -1;
	}
	util_strlcpy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) == NULL)
		util_strlcpy(dir, ".", sizeof(dir));
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &ds) != 0) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", dir, strerror(e));
		errno = e;
		return -1;
	}
	if (ds.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "%s: the cache's directory is writable by group or others "
		    "(mode %04o): another user could replace the cache; refusing to use %s "
		    "(put it in a directory of its own, such as /var/lib/sav-milter)",
		    dir, (unsigned)(ds.st_mode & 07777), path);
		return -1;
	}
	errno = 0;
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
	if (check_writers(path, lpath, &st, rdonly, err, errlen) != 0)
		return OPEN_FAIL;
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
	/*
	 * The size must be read after the meta page: another process may
	 * have committed (and grown the file) since the fstat above, and a
	 * size older than the meta would make a healthy file look
	 * truncated - and moved aside. Commits write their pages before
	 * the meta, so a size taken now covers every page the meta names.
	 */
	if (fstat(fd, &fst) != 0) {
		rc = errno;
		goto fail;
	}
	if ((unsigned long long)fst.st_size < ((unsigned long long)info.me_last_pgno + 1) * ms.ms_psize) {
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
