/*
 * sav-milter - the daemon: options, configuration, the listening
 * socket, the cache, privileges, signals; then libmilter's smfi_main.
 *
 *   sav-milter [-c CONF] [-p SOCKET] [-f] [-h]
 *
 * Start-up order, and why:
 *   1. load and validate the configuration (errors name file, line and
 *      key; exit 78), so nothing is touched for a broken file;
 *   2. open the listening socket as root: a stale unix socket is
 *      removed, a live one (another instance) is refused; then chmod
 *      SocketMode and chown to UserID / SocketGroup, so Postfix's
 *      smtpd (user postfix) can connect;
 *   3. detach (unless -f), before any thread exists;
 *   4. open the cache and hand the file and its lock file to UserID,
 *      write the PidFile, then drop privileges (setgroups, setgid,
 *      setuid) and check they cannot be regained;
 *   5. run smfi_main in its own thread; this thread handles signals.
 *
 * Signals. libmilter starts its own signal thread in smfi_main, which
 * sigwait()s for SIGHUP, SIGTERM and SIGINT and stops the filter on
 * any of them, and its listener only notices a stop when its 5 second
 * select() times out (LAB.md 2: about 5 s to exit). We want SIGHUP to
 * reload and SIGTERM to stop within a second, so:
 *   - smfi_main runs in a second thread, so the blocked signal mask it
 *     sets (and every libmilter thread inherits) is not the main
 *     thread's;
 *   - the main thread keeps the three signals unblocked with handlers
 *     that write to a self-pipe. Linux offers a process-directed
 *     signal to the thread-group leader first whenever that thread
 *     does not block it, so libmilter's sigwait() never sees them;
 *     the main thread never blocks them after start-up;
 *   - to stop, smfi_stop() runs in a helper thread (it waits for the
 *     listener's lock), and the main thread connects to the listening
 *     socket to wake the listener's select() at once. Connections in
 *     progress get a short grace period.
 * SIGHUP re-reads the configuration and installs it only if it loads
 * cleanly; each connection keeps the snapshot it started with (ctx.c),
 * so nothing is dropped. Socket, UserID, PidFile, CacheFile, CacheSize,
 * the limits and SyslogFacility need a restart (a warning says so).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "cache.h"
#include "conf.h"
#include "ctx.h"
#include "handlers.h"
#include "limit.h"
#include "log.h"
#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF	SYSCONFDIR "/sav-milter.conf"

#define STOP_GRACE_MS	600	/* connections in progress, after the listener stopped */

/* the listening socket, parsed (libmilter's syntax) */
struct sockspec {
	int	family;			/* AF_UNIX, AF_INET, AF_INET6 */
	char	path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct sockaddr_storage ss;	/* inet: where to connect to wake the listener */
	socklen_t sslen;
};

static int sigpipe_fd[2] = { -1, -1 };
static atomic_int smfi_done;
static int smfi_result;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: sav-milter [-f] [-c CONF] [-p SOCKET]\n"
	    "  -c CONF    configuration file (default " DEFAULT_CONF ")\n"
	    "  -p SOCKET  listening socket, overrides Socket: unix:/path,\n"
	    "             inet:port@host, inet6:port@[::1]\n"
	    "  -f         stay in the foreground and log to stderr too\n"
	    "  -h         this help\n");
}

/*
 * sock_parse - libmilter's socket syntax: [unix:|local:]/path,
 * inet:port[@host], inet6:port[@host]; host may be [literal]. Fills
 * the address used to wake the listener (a wildcard host becomes
 * loopback). Returns 0, or -1 with a reason in err.
 */
static int
sock_parse(const char *spec, struct sockspec *s, char *err, size_t errlen)
{
	const char *colon, *rest, *at;
	char port[16], host[256];
	struct addrinfo hints, *ai;
	size_t n;
	int rc;

	memset(s, 0, sizeof(*s));
	colon = strchr(spec, ':');
	rest = colon != NULL ? colon + 1 : spec;
	if (colon == NULL || (colon - spec == 4 && strncasecmp(spec, "unix", 4) == 0) ||
	    (colon - spec == 5 && strncasecmp(spec, "local", 5) == 0) || colon == spec) {
		s->family = AF_UNIX;
		if (rest[0] != '/') {
			snprintf(err, errlen, "unix socket path must be absolute: %s", rest);
			return -1;
		}
		if (util_strlcpy(s->path, rest, sizeof(s->path)) >= sizeof(s->path)) {
			snprintf(err, errlen, "unix socket path too long");
			return -1;
		}
		return 0;
	}
	if (colon - spec == 4 && strncasecmp(spec, "inet", 4) == 0)
		s->family = AF_INET;
	else if (colon - spec == 5 && strncasecmp(spec, "inet6", 5) == 0)
		s->family = AF_INET6;
	else {
		snprintf(err, errlen, "unknown socket type (want unix:, inet: or inet6:)");
		return -1;
	}
	at = strchr(rest, '@');
	n = at != NULL ? (size_t)(at - rest) : strlen(rest);
	if (n == 0 || n >= sizeof(port) || strspn(rest, "0123456789") != n) {
		snprintf(err, errlen, "bad port (want inet:PORT@HOST)");
		return -1;
	}
	memcpy(port, rest, n);
	port[n] = '\0';
	if (atoi(port) < 1 || atoi(port) > 65535) {
		snprintf(err, errlen, "port out of range: %s", port);
		return -1;
	}
	host[0] = '\0';
	if (at != NULL) {
		const char *h = at + 1;

		n = strlen(h);
		if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
			h++;
			n -= 2;
		}
		if (n == 0 || n >= sizeof(host)) {
			snprintf(err, errlen, "bad host");
			return -1;
		}
		memcpy(host, h, n);
		host[n] = '\0';
	}
	if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
		util_strlcpy(host, s->family == AF_INET ? "127.0.0.1" : "::1", sizeof(host));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = s->family;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "host %s: %s", host, gai_strerror(rc));
		return -1;
	}
	memcpy(&s->ss, ai->ai_addr, ai->ai_addrlen);
	s->sslen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/*
 * sock_nodelay - switch Nagle's algorithm off on libmilter's listening
 * inet socket; Linux hands TCP_NODELAY on to every accepted socket.
 * libmilter writes a header change and the end-of-message reply as two
 * writes, and with Nagle on the second would wait for the MTA's delayed
 * ACK of the first (40 ms a message in monitor mode). libmilter does
 * not tell its listening descriptor, so find it: a listening stream
 * socket of our family bound to our port. Returns 0 when set, -1 when
 * it was not found (a warning; mail still flows, only slower).
 */
static int
sock_nodelay(const struct sockspec *s)
{
	struct sockaddr_storage got;
	socklen_t len;
	int fd, v, one = 1;
	in_port_t want, port;

	if (s->family == AF_UNIX)
		return 0;
	want = s->family == AF_INET ? ((const struct sockaddr_in *)&s->ss)->sin_port :
	    ((const struct sockaddr_in6 *)&s->ss)->sin6_port;
	for (fd = 0; fd < 1024; fd++) {
		len = sizeof(v);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || v != 1)
			continue;
		len = sizeof(v);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != s->family)
			continue;
		len = sizeof(got);
		if (getsockname(fd, (struct sockaddr *)&got, &len) < 0)
			continue;
		port = got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port :
		    ((struct sockaddr_in6 *)&got)->sin6_port;
		if (port != want)
			continue;
		return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	errno = 0;
	return -1;
}

/* sock_connect - connect to the listening socket (to test it or to wake the listener); returns fd or -1 */
static int
sock_connect(const struct sockspec *s)
{
	struct sockaddr_un sun;
	int fd;

	if ((fd = socket(s->family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (s->family == AF_UNIX) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		util_strlcpy(sun.sun_path, s->path, sizeof(sun.sun_path));
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
	} else if (connect(fd, (struct sockaddr *)&s->ss, s->sslen) == 0)
		return fd;
	close(fd);
	return -1;
}

/*
 * sock_clear_stale - a unix socket file left by an earlier run is
 * removed; one that answers belongs to a running instance and is left
 * alone (returns -1), as is anything that is not a socket.
 */
static int
sock_clear_stale(const struct sockspec *s, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (s->family != AF_UNIX)
		return 0;
	if (lstat(s->path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", s->path);
		return -1;
	}
	if ((fd = sock_connect(s)) >= 0) {
		close(fd);
		snprintf(err, errlen, "%s is in use by a running milter", s->path);
		return -1;
	}
	if (unlink(s->path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale %s: %s", s->path, strerror(errno));
		return -1;
	}
	return 0;
}

/* lookup_ids - UserID and SocketGroup to ids; -1 when not set */
static int
lookup_ids(const struct conf *c, uid_t *uid, gid_t *ugid, gid_t *sgid,
	   char *err, size_t errlen)
{
	struct passwd *pw;
	struct group *gr;

	*uid = (uid_t)-1;
	*ugid = (gid_t)-1;
	*sgid = (gid_t)-1;
	if (c->user[0] != '\0') {
		if ((pw = getpwnam(c->user)) == NULL) {
			snprintf(err, errlen, "UserID: no such user: %s", c->user);
			return -1;
		}
		*uid = pw->pw_uid;
		*ugid = pw->pw_gid;
	}
	if (c->socket_group[0] != '\0') {
		if ((gr = getgrnam(c->socket_group)) == NULL) {
			snprintf(err, errlen, "SocketGroup: no such group: %s", c->socket_group);
			return -1;
		}
		*sgid = gr->gr_gid;
	}
	return 0;
}

/* drop_privileges - become UserID for good */
static int
drop_privileges(const char *user, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (uid == (uid_t)-1)
		return 0;
	if (geteuid() == uid && getuid() == uid)
		return 0;
	if (geteuid() != 0) {
		snprintf(err, errlen, "UserID %s: not root, cannot switch user", user);
		return -1;
	}
	if (initgroups(user, gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		snprintf(err, errlen, "UserID %s: cannot switch: %s", user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		snprintf(err, errlen, "UserID %s: root privileges could be regained", user);
		return -1;
	}
	return 0;
}

static int
write_pidfile(const char *path, char *err, size_t errlen)
{
	char buf[32];
	int fd, n;

	if (path[0] == '\0')
		return 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "PidFile %s: %s", path, strerror(errno));
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		snprintf(err, errlen, "PidFile %s: write failed", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* load - the configuration at path with the -p override; errors go to err */
static int
load(struct conf *c, const char *path, int explicit, const char *socket_override,
     char *err, size_t errlen)
{
	if (path != NULL && (explicit || access(path, F_OK) == 0)) {
		if (conf_load(c, path, err, errlen) < 0)
			return -1;
	} else
		conf_defaults(c);
	if (socket_override != NULL &&
	    conf_set(c, "Socket", socket_override, err, errlen) < 0) {
		conf_free(c);
		return -1;
	}
	return 0;
}

static void
on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	if (write(sigpipe_fd[1], &b, 1) < 0) {
		/* the pipe is full: a signal of this kind is pending anyway */
	}
	errno = saved;
}

static void *
smfi_thread(void *arg)
{
	smfi_result = smfi_main();
	atomic_store(&smfi_done, 1);
	/* wake the main thread's poll */
	on_signal(0);
	return NULL;
}

static void *
stop_thread(void *arg)
{
	smfi_stop();
	return NULL;
}

/* reload - SIGHUP: install the new configuration only if it is valid */
static void
reload(const char *path, int explicit, const char *socket_override)
{
	struct snap *s, *cur;
	char err[1024];
	const struct conf *o, *n;

	if ((s = snap_new()) == NULL) {
		log_msg(LOG_ERR, "reload: out of memory; keeping the running configuration");
		return;
	}
	if (load(&s->conf, path, explicit, socket_override, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "reload: %s; keeping the running configuration", err);
		free(s);
		return;
	}
	cur = snap_acquire();
	o = &cur->conf;
	n = &s->conf;
	if (strcmp(o->socket, n->socket) != 0 || strcmp(o->user, n->user) != 0 ||
	    strcmp(o->pidfile, n->pidfile) != 0 || strcmp(o->cachefile, n->cachefile) != 0 ||
	    o->cache_size != n->cache_size || o->socket_mode != n->socket_mode ||
	    strcmp(o->socket_group, n->socket_group) != 0 ||
	    memcmp(&o->limits, &n->limits, sizeof(o->limits)) != 0 ||
	    o->facility != n->facility)
		log_msg(LOG_WARNING, "reload: Socket, SocketMode, SocketGroup, UserID, PidFile, "
			"CacheFile, CacheSize, limits and SyslogFacility change only on restart");
	snap_release(cur);
	s->conf.probe.cache = milter.cache;
	snap_install(s);
	log_msg(LOG_INFO, "configuration reloaded from %s%s", path,
		access(path, F_OK) == 0 ? "" : " (defaults)");
}

/*
 * stop - SIGTERM: stop the listener at once (smfi_stop plus a wake-up
 * connection), give connections in progress a short grace period.
 */
static void
stop(const struct sockspec *ss)
{
	pthread_t t;
	msec_t deadline;
	int fd;

	if (pthread_create(&t, NULL, stop_thread, NULL) == 0)
		pthread_detach(t);
	else
		log_msg(LOG_ERR, "cannot start the stop thread");
	deadline = util_now_ms() + 2000;
	while (!atomic_load(&smfi_done) && util_now_ms() < deadline) {
		/* the poke lands in the listener's accept() and is closed at once */
		if ((fd = sock_connect(ss)) >= 0)
			close(fd);
		poll(NULL, 0, 20);
	}
	deadline = util_now_ms() + STOP_GRACE_MS;
	while (ctx_sessions() > 0 && util_now_ms() < deadline)
		poll(NULL, 0, 10);
}

int
main(int argc, char **argv)
{
	const char *confpath = DEFAULT_CONF, *socket_override = NULL;
	int explicit = 0, foreground = 0, ch, i;
	struct snap *s;
	struct conf *c;
	struct sockspec ss;
	char err[1024];
	uid_t uid;
	gid_t ugid, sgid;
	sigset_t set;
	pthread_t tid;
	struct sigaction sa;
	int sigs[] = { SIGHUP, SIGTERM, SIGINT };
	int exitcode = EX_OK;
	char pidfile[sizeof(c->pidfile)];

	while ((ch = getopt(argc, argv, "c:p:fh")) != -1) {
		switch (ch) {
		case 'c':
			confpath = optarg;
			explicit = 1;
			break;
		case 'p':
			socket_override = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	log_open("sav-milter", LOG_MAIL, 0, 1);

	/* 1. configuration */
	if ((s = snap_new()) == NULL) {
		log_msg(LOG_ERR, "out of memory");
		return EX_OSERR;
	}
	c = &s->conf;
	if (load(c, confpath, explicit, socket_override, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "%s", err);
		free(s);
		return EX_CONFIG;
	}
	if (sock_parse(c->socket, &ss, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "%s: Socket: %s", socket_override != NULL ? "-p" : confpath, err);
		exitcode = EX_CONFIG;
		goto fail;
	}
	if (lookup_ids(c, &uid, &ugid, &sgid, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "%s: %s", confpath, err);
		exitcode = EX_CONFIG;
		goto fail;
	}
	log_open("sav-milter", c->facility, 1, foreground);

	/* 2. the socket */
	if (smfi_setconn(c->socket) != MI_SUCCESS || smfi_register(*handlers_desc()) != MI_SUCCESS) {
		log_msg(LOG_ERR, "libmilter refused the filter description or socket %s", c->socket);
		exitcode = EX_SOFTWARE;
		goto fail;
	}
	if (sock_clear_stale(&ss, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "%s", err);
		exitcode = EX_UNAVAILABLE;
		goto fail;
	}
	errno = 0;
	if (smfi_opensocket(false) != MI_SUCCESS) {
		log_msg(LOG_ERR, "cannot listen on %s%s%s", c->socket,
			errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		exitcode = EX_CANTCREAT;
		goto fail;
	}
	if (sock_nodelay(&ss) < 0)
		log_msg(LOG_WARNING, "%s: cannot switch Nagle's algorithm off: %s", c->socket,
			errno != 0 ? strerror(errno) : "listening socket not found");
	if (ss.family == AF_UNIX) {
		if (chmod(ss.path, (mode_t)c->socket_mode) < 0 ||
		    ((uid != (uid_t)-1 || sgid != (gid_t)-1) &&
		     chown(ss.path, uid, sgid) < 0)) {
			log_msg(LOG_ERR, "%s: cannot set mode/owner: %s", ss.path, strerror(errno));
			unlink(ss.path);
			exitcode = EX_NOPERM;
			goto fail;
		}
	}

	/* 3. detach */
	if (!foreground && daemon(0, 0) < 0) {
		log_msg(LOG_ERR, "daemon: %s", strerror(errno));
		exitcode = EX_OSERR;
		goto fail;
	}

	/*
	 * Every thread from here on (the limiter's, libmilter's) inherits
	 * a mask with the three signals blocked; only this thread takes
	 * them, once it unblocks them below.
	 */
	sigemptyset(&set);
	for (i = 0; i < 3; i++)
		sigaddset(&set, sigs[i]);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* 4. cache, pid file, privileges */
	if (c->cachefile[0] != '\0') {
		milter.cache = cache_open(c->cachefile, &c->ttl, c->cache_size, 0, err, sizeof(err));
		if (milter.cache == NULL)
			log_msg(LOG_WARNING, "cache %s: %s; verdicts are not cached", c->cachefile, err);
		else if (uid != (uid_t)-1) {
			char lock[sizeof(c->cachefile) + 8];

			snprintf(lock, sizeof(lock), "%s-lock", c->cachefile);
			if (chown(c->cachefile, uid, ugid) < 0 || chown(lock, uid, ugid) < 0)
				log_msg(LOG_WARNING, "cache %s: cannot hand it to %s: %s",
					c->cachefile, c->user, strerror(errno));
		}
	}
	c->probe.cache = milter.cache;
	if ((milter.limiter = limit_new(&c->limits, milter.cache)) == NULL) {
		log_msg(LOG_ERR, "cannot set up the probe limiter");
		exitcode = EX_OSERR;
		goto fail;
	}
	if (write_pidfile(c->pidfile, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "%s", err);
		exitcode = EX_CANTCREAT;
		goto fail;
	}
	if (c->pidfile[0] != '\0' && uid != (uid_t)-1 && chown(c->pidfile, uid, ugid) < 0)
		log_msg(LOG_WARNING, "PidFile %s: chown: %s", c->pidfile, strerror(errno));
	if (drop_privileges(c->user, uid, ugid, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "%s", err);
		exitcode = EX_NOPERM;
		goto fail;
	}
	/* c belongs to the snapshot from here on; a reload may free it */
	util_strlcpy(pidfile, c->pidfile, sizeof(pidfile));
	log_msg(LOG_INFO, "starting: socket %s, cache %s, mode %s, ProbeWait %lds",
		c->socket, milter.cache != NULL ? c->cachefile : "none",
		c->monitor ? "monitor" : "enforce", (long)(c->probe_wait_ms / 1000));
	snap_install(s);
	c = NULL;

	/* 5. run */
	if (pipe2(sigpipe_fd, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_msg(LOG_ERR, "pipe: %s", strerror(errno));
		return EX_OSERR;
	}
	if (pthread_create(&tid, NULL, smfi_thread, NULL) != 0) {
		log_msg(LOG_ERR, "cannot start the milter thread");
		return EX_OSERR;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, NULL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	for (;;) {
		struct pollfd pfd = { .fd = sigpipe_fd[0], .events = POLLIN };
		unsigned char b;
		int stopping = 0;

		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		while (read(sigpipe_fd[0], &b, 1) == 1) {
			if (b == SIGHUP)
				reload(confpath, explicit, socket_override);
			else if (b == SIGTERM || b == SIGINT)
				stopping = 1;
		}
		if (stopping) {
			log_msg(LOG_INFO, "stopping");
			stop(&ss);
			break;
		}
		if (atomic_load(&smfi_done)) {
			log_msg(LOG_ERR, "libmilter stopped on its own (%s)",
				smfi_result == MI_SUCCESS ? "no error" : "failure");
			exitcode = smfi_result == MI_SUCCESS ? EX_OK : EX_SOFTWARE;
			break;
		}
	}

	if (atomic_load(&smfi_done))
		pthread_join(tid, NULL);
	if (ss.family == AF_UNIX)
		unlink(ss.path);	/* libmilter only removes it when not root */
	if (pidfile[0] != '\0')
		unlink(pidfile);
	if (ctx_sessions() == 0) {
		/* a background probe still running uses the cache: leave it open then */
		if (limit_free(milter.limiter, 200) == 0 && milter.cache != NULL)
			cache_close(milter.cache);
		log_msg(LOG_INFO, "stopped");
	} else
		log_msg(LOG_WARNING, "stopped with %d connections still open", ctx_sessions());
	return exitcode;

fail:
	/* start-up failed: nothing runs yet, release what was set up */
	if (milter.limiter != NULL)
		limit_free(milter.limiter, 0);
	if (milter.cache != NULL)
		cache_close(milter.cache);
	conf_free(&s->conf);
	free(s);
	return exitcode;
}
