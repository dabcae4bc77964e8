/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon - sav-milter's start-up pieces that run as root before any
 * thread: the configuration with the -p override, the listening
 * socket (libmilter's syntax, stale unix sockets, Nagle off), the
 * user and group ids, the pid file, and dropping privileges for good.
 * Each returns 0, or -1 with a reason in err (for the caller to log).
 */
#ifndef SAV_MILTER_DAEMON_H
#define SAV_MILTER_DAEMON_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <stddef.h>

#include "conf.h"

/* the listening socket, parsed (libmilter's syntax) */
struct sockspec {
	int	family;			/* AF_UNIX, AF_INET, AF_INET6 */
	char	path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct sockaddr_storage ss;	/* inet: where to connect to wake the listener */
	socklen_t sslen;
};

/* daemon_load - the configuration at path (defaults when it is absent and not explicit), with the -p override */
int	daemon_load(struct conf *c, const char *path, int explicit, const char *socket_override,
		    char *err, size_t errlen);

/*
 * daemon_sock_parse - libmilter's socket syntax: [unix:|local:]/path,
 * inet:port[@host], inet6:port[@host]; host may be [literal]. Fills
 * the address used to wake the listener (a wildcard host becomes
 * loopback).
 */
int	daemon_sock_parse(const char *spec, struct sockspec *s, char *err, size_t errlen);

/* daemon_sock_clear_stale - remove a unix socket left by an earlier run; refuse a live one or a non-socket */
int	daemon_sock_clear_stale(const struct sockspec *s, char *err, size_t errlen);

/* daemon_sock_nodelay - Nagle off on libmilter's inet listener (inherited by accepted sockets); -1 with errno */
int	daemon_sock_nodelay(const struct sockspec *s);

/* daemon_sock_connect - connect to the listening socket (to test it or to wake the listener); fd or -1 */
int	daemon_sock_connect(const struct sockspec *s);

/* daemon_lookup_ids - UserID and SocketGroup to ids; (uid_t)-1 / (gid_t)-1 when not set */
int	daemon_lookup_ids(const struct conf *c, uid_t *uid, gid_t *ugid, gid_t *sgid,
			  char *err, size_t errlen);

/* daemon_drop_privileges - become UserID for good and check root cannot be regained */
int	daemon_drop_privileges(const char *user, uid_t uid, gid_t gid, char *err, size_t errlen);

/* daemon_write_pidfile - write our pid (O_NOFOLLOW); "" means no pid file */
int	daemon_write_pidfile(const char *path, char *err, size_t errlen);

#endif
