/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats_file - StatsFile: every StatsInterval a thread renders the
 * counters (stats_fmt.c) and replaces the file atomically, so that the
 * textfile collector never reads half a file: PATH.tmp in the same
 * directory, written, fsync'ed, renamed over PATH, the directory
 * fsync'ed. Once more at a clean stop.
 *
 * SECURITY: the directory must not be writable by others (checked at
 * start-up, stats_file_check): there anyone could swap the file or
 * plant a link at PATH.tmp. The temporary file is opened with
 * O_NOFOLLOW and given mode 0644 whatever the umask; the file holds
 * counts only, no address.
 *
 * Threads: the writer thread, started by stats_writer_start and joined
 * by stats_writer_stop (both from the main thread), under one mutex
 * and a CLOCK_MONOTONIC condition variable for the stop.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "stats.h"
#include "util.h"

#define STATS_PATH_MAX	512

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t tid;
	int	running;
	int	stop;
	msec_t	interval_ms;
	char	path[STATS_PATH_MAX];
} w = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* dirname of path into dir; "/" for a file at the root */
static int
dir_of(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL)
		return -1;
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= size)
		return -1;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return 0;
}

int
stats_file_check(const char *path, char *err, size_t errlen)
{
	char dir[STATS_PATH_MAX];
	struct stat st;

	if (path[0] != '/' || strlen(path) + 5 > sizeof(dir) ||
	    dir_of(path, dir, sizeof(dir)) < 0 || path[strlen(path) - 1] == '/') {
		snprintf(err, errlen, "StatsFile %s: want an absolute file path", path);
		return -1;
	}
	if (stat(dir, &st) < 0) {
		snprintf(err, errlen, "StatsFile %s: directory %s: %s", path, dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "StatsFile %s: %s is not a directory", path, dir);
		return -1;
	}
	if ((st.st_mode & S_IWOTH) != 0) {
		snprintf(err, errlen, "StatsFile %s: directory %s is writable by others; "
		    "use a directory only the milter's user (and root) can write", path, dir);
		return -1;
	}
	if (access(dir, W_OK) < 0) {
		snprintf(err, errlen, "StatsFile %s: cannot write in %s: %s", path, dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* write_all - the whole buffer, or -1 */
static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int
stats_file_write(const char *path, char *err, size_t errlen)
{
	char tmp[STATS_PATH_MAX + 8], dir[STATS_PATH_MAX];
	struct stats_snap s;
	char *buf;
	int fd, n, dfd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp) ||
	    dir_of(path, dir, sizeof(dir)) < 0) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((buf = malloc(STATS_FILE_MAX)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	stats_snapshot(&s);
	if ((n = stats_format(&s, buf, STATS_FILE_MAX)) < 0) {
		snprintf(err, errlen, "the figures do not fit in %d bytes", STATS_FILE_MAX);
		free(buf);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		free(buf);
		return -1;
	}
	if (fchmod(fd, 0644) < 0 || write_all(fd, buf, (size_t)n) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		free(buf);
		return -1;
	}
	free(buf);
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* the rename itself survives a crash once the directory is on disk */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* one write; a failure is logged when the previous write worked */
static void
write_once(const char *path, int *failing)
{
	char err[512];

	if (stats_file_write(path, err, sizeof(err)) == 0) {
		if (*failing)
			log_msg(LOG_NOTICE, "StatsFile %s written again", path);
		*failing = 0;
		return;
	}
	stats_write_failed();
	if (!*failing)
		log_msg(LOG_WARNING, "StatsFile: %s; trying again every interval", err);
	*failing = 1;
}

static void *
writer_main(void *arg)
{
	struct timespec ts;
	msec_t next;
	int failing = 0;

	pthread_mutex_lock(&w.mu);
	next = util_now_ms();
	while (!w.stop) {
		if (util_now_ms() >= next) {
			pthread_mutex_unlock(&w.mu);
			write_once(w.path, &failing);
			pthread_mutex_lock(&w.mu);
			next += w.interval_ms;
			if (next <= util_now_ms())	/* a slow disk: no burst to catch up */
				next = util_now_ms() + w.interval_ms;
			continue;
		}
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000L;
		pthread_cond_timedwait(&w.cv, &w.mu, &ts);
	}
	pthread_mutex_unlock(&w.mu);
	/* the last figures, at a clean stop */
	write_once(w.path, &failing);
	return NULL;
}

int
stats_writer_start(const char *path, msec_t interval_ms)
{
	pthread_condattr_t a;
	int rc;

	if (w.running)
		return 0;
	if (util_strlcpy(w.path, path, sizeof(w.path)) >= sizeof(w.path)) {
		log_msg(LOG_ERR, "StatsFile: path too long");
		return -1;
	}
	w.interval_ms = interval_ms > 0 ? interval_ms : 15000;
	w.stop = 0;
	if (pthread_condattr_init(&a) != 0)
		return -1;
	rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&w.cv, &a);
	pthread_condattr_destroy(&a);
	if (rc == 0 && (rc = pthread_create(&w.tid, NULL, writer_main, NULL)) != 0)
		pthread_cond_destroy(&w.cv);
	if (rc != 0) {
		log_msg(LOG_ERR, "StatsFile: cannot start the writer thread: %s", strerror(rc));
		return -1;
	}
	w.running = 1;
	return 0;
}

void
stats_writer_stop(void)
{
	if (!w.running)
		return;
	pthread_mutex_lock(&w.mu);
	w.stop = 1;
	pthread_cond_signal(&w.cv);
	pthread_mutex_unlock(&w.mu);
	pthread_join(w.tid, NULL);
	pthread_cond_destroy(&w.cv);
	w.running = 0;
}
