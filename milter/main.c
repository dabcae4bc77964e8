/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sav-milter - the daemon's main(): options, then the start-up steps in
 * this order, and why:
 *   1. load and validate the configuration (errors name file, line and
 *      key; exit 78), so nothing is touched for a broken file;
 *   2. open the listening socket as root: a stale unix socket is
 *      removed, a live one (another instance) is refused; then chmod
 *      SocketMode and chown to UserID / SocketGroup, so Postfix's
 *      smtpd (user postfix) can connect (daemon.c);
 *   3. detach (unless -f), before any thread exists, and block the
 *      signals that the main thread will take (signals.c);
 *   4. open the cache and hand the file and its lock file to UserID,
 *      write the PidFile, then drop privileges (setgroups, setgid,
 *      setuid) and check they cannot be regained (daemon.c);
 *   5. run smfi_main in its own thread while this thread takes the
 *      signals (run.c); then clean up.
 *
 *   sav-milter [-c CONF] [-p SOCKET] [-f] [-h]
 */
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "cache.h"
#include "conf.h"
#include "ctx.h"
#include "daemon.h"
#include "handlers.h"
#include "limit.h"
#include "log.h"
#include "rcache.h"
#include "rconn.h"
#include "run.h"
#include "signals.h"
#include "tls.h"
#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF	SYSCONFDIR "/sav-milter.conf"

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

int
main(int argc, char **argv)
{
	const char *confpath = DEFAULT_CONF, *socket_override = NULL;
	int explicit = 0, foreground = 0, ch;
	struct snap *s;
	struct conf *c;
	struct sockspec ss;
	struct run_args ra;
	mode_t old_umask;
	gid_t old_egid;
	int rc, saved_errno;
	char err[1024];
	uid_t uid;
	gid_t ugid, sgid;
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
	if (daemon_load(c, confpath, explicit, socket_override, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "%s", err);
		free(s);
		return EX_CONFIG;
	}
	if (daemon_sock_parse(c->socket, &ss, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "%s: Socket: %s", socket_override != NULL ? "-p" : confpath, err);
		exitcode = EX_CONFIG;
		goto fail;
	}
	if (daemon_lookup_ids(c, &uid, &ugid, &sgid, err, sizeof(err)) < 0) {
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
	if (daemon_sock_clear_stale(&ss, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "%s", err);
		exitcode = EX_UNAVAILABLE;
		goto fail;
	}
	/*
	 * A unix socket is born with its final mode and group (umask and
	 * effective group while libmilter binds it), so that an MTA that
	 * connects the moment it appears, as Postfix does after a restart,
	 * is never refused with "Permission denied" before our chmod and
	 * chown below.
	 */
	old_umask = umask(~(mode_t)c->socket_mode & 0777);
	old_egid = getegid();
	if (ss.family == AF_UNIX && sgid != (gid_t)-1 && setegid(sgid) < 0)
		log_msg(LOG_WARNING, "%s: cannot create it with group %s: %s", ss.path,
			c->socket_group, strerror(errno));
	errno = 0;
	rc = smfi_opensocket(false);
	saved_errno = errno;
	if (getegid() != old_egid && setegid(old_egid) < 0) {
		log_msg(LOG_ERR, "cannot restore the group id: %s", strerror(errno));
		exitcode = EX_OSERR;
		goto fail;
	}
	umask(old_umask);
	if (rc != MI_SUCCESS) {
		log_msg(LOG_ERR, "cannot listen on %s%s%s", c->socket,
			saved_errno != 0 ? ": " : "", saved_errno != 0 ? strerror(saved_errno) : "");
		exitcode = EX_CANTCREAT;
		goto fail;
	}
	if (daemon_sock_nodelay(&ss) < 0)
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
	signals_block();

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
	/* the trust store is read once, now, not in the first probe's handshake */
	if (c->probe.tls != SMTP_TLS_NEVER && tls_prepare(err, sizeof(err)) < 0)
		log_msg(LOG_WARNING, "TLS: %s; probes stay in plaintext", err);
	if ((milter.limiter = limit_new(&c->limits, milter.cache)) == NULL) {
		log_msg(LOG_ERR, "cannot set up the probe limiter");
		exitcode = EX_OSERR;
		goto fail;
	}
	/* the shared cache: its password file is read now, before privileges go */
	rcache_init(&c->ttl);
	if (rconn_init(&c->shared) < 0) {
		exitcode = EX_CONFIG;
		goto fail;
	}
	if (daemon_write_pidfile(c->pidfile, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "%s", err);
		exitcode = EX_CANTCREAT;
		goto fail;
	}
	if (c->pidfile[0] != '\0' && uid != (uid_t)-1 && chown(c->pidfile, uid, ugid) < 0)
		log_msg(LOG_WARNING, "PidFile %s: chown: %s", c->pidfile, strerror(errno));
	if (daemon_drop_privileges(c->user, uid, ugid, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "%s", err);
		exitcode = EX_NOPERM;
		goto fail;
	}
	/* c belongs to the snapshot from here on; a reload may free it */
	util_strlcpy(pidfile, c->pidfile, sizeof(pidfile));
	log_msg(LOG_INFO, "starting: socket %s, cache %s, shared cache %s, mode %s, ProbeWait %lds",
		c->socket, milter.cache != NULL ? c->cachefile : "none",
		c->shared.url[0] != '\0' ? c->shared.url : "none",
		c->monitor ? "monitor" : "enforce", (long)(c->probe_wait_ms / 1000));
	snap_install(s);
	c = NULL;

	/* 5. run */
	ra.confpath = confpath;
	ra.explicit = explicit;
	ra.socket_override = socket_override;
	ra.sock = &ss;
	exitcode = run_milter(&ra);

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
