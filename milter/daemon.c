/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon - the start-up steps of sav-milter that touch the system as
 * root (see daemon.h): parse and prepare the listening socket, look up
 * and drop to UserID, write the pid file, load the configuration. No
 * threads exist yet when these run; nothing here is thread-safe.
 *
 * SECURITY: the pid file is opened with O_NOFOLLOW; a stale unix socket
 * is removed only when it is a socket nobody answers on; after the
 * switch to UserID the code checks that root cannot be regained.
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
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "util.h"

/*
 * daemon_sock_parse - libmilter's socket syntax: [unix:|local:]/path,
 * inet:port[@host], inet6:port[@host]; host may be [literal]. Fills
 * the address used to wake the listener (a wildcard host becomes
 * loopback). Returns 0, or -1 with a reason in err.
 */
int
daemon_sock_parse(const char *spec, struct sockspec *s, char *err, size_t errlen)
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
 * daemon_sock_nodelay - switch Nagle's algorithm off on libmilter's listening
 * inet socket; Linux hands TCP_NODELAY on to every accepted socket.
 * libmilter writes a header change and the end-of-message reply as two
 * writes, and with Nagle on the second would wait for the MTA's delayed
 * ACK of the first (40 ms a message in monitor mode). libmilter does
 * not tell its listening descriptor, so find it: a listening stream
 * socket of our family bound to our port. Returns 0 when set, -1 when
 * it was not found (a warning; mail still flows, only slower).
 */
int
daemon_sock_nodelay(const struct sockspec *s)
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
		memset(&got, 0, sizeof(got));
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

/* daemon_sock_connect - connect to the listening socket (to test it or to wake the listener); returns fd or -1 */
int
daemon_sock_connect(const struct sockspec *s)
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
 * daemon_sock_clear_stale - a unix socket file left by an earlier run is
 * removed; one that answers belongs to a running instance and is left
 * alone (returns -1), as is anything that is not a socket.
 */
int
daemon_sock_clear_stale(const struct sockspec *s, char *err, size_t errlen)
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
	if ((fd = daemon_sock_connect(s)) >= 0) {
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

/* daemon_lookup_ids - UserID and SocketGroup to ids; -1 when not set */
int
daemon_lookup_ids(const struct conf *c, uid_t *uid, gid_t *ugid, gid_t *sgid,
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

/* daemon_drop_privileges - become UserID for good */
int
daemon_drop_privileges(const char *user, uid_t uid, gid_t gid, char *err, size_t errlen)
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

int
daemon_write_pidfile(const char *path, char *err, size_t errlen)
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
int
daemon_load(struct conf *c, const char *path, int explicit, const char *socket_override,
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
	/* the milter logs each TLS session's trust, as Postfix's smtp client does */
	c->probe.log_tls = 1;
	return 0;
}

