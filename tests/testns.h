/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * testns.h - run ldns-testns (ldnsutils) as a fake DNS server for a test
 * on loopback. Header-only: static functions, include it from one test
 * file.
 *
 *	struct testns ns;
 *	if (testns_start(&ns, zone) != 0)
 *		... ns.err says why (ldns-testns missing, bad data file) ...
 *	... query 127.0.0.1 port ns.port ...
 *	testns_stop(&ns);
 *
 * The zone text is ldns-testns data (ENTRY_BEGIN ... ENTRY_END, every
 * entry with ADJUST copy_id); see TESTNS_ENTRY below. testns_start()
 * writes it into a fresh mkdtemp() directory under /tmp, starts
 * `ldns-testns -r` (a random free port; it binds 0.0.0.0, we only ever
 * query 127.0.0.1), reads the port from its output and waits until it
 * answers a readiness query (TESTNS_READY_NAME, an entry prepended to
 * the data). The server gets SIGKILL when the process that started it
 * dies, so a crashed test leaves no server behind. A name with no
 * matching entry gets no reply at all, which is how tests make a DNS
 * timeout.
 *
 * Not thread-safe; one struct testns per server.
 */
#ifndef SAV_TESTNS_H
#define SAV_TESTNS_H

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#define TESTNS_BIN		"ldns-testns"
#define TESTNS_READY_NAME	"testns-ready.test"
#define TESTNS_START_MS		5000

/*
 * TESTNS_ENTRY - one answer, as a string literal: name without the
 * final dot, type, rcode and flags after "REPLY QR AA RD RA" (e.g.
 * "NOERROR"), and the answer section (zone lines, each ending in \n,
 * may be "").
 */
#define TESTNS_ENTRY(name, type, rcode, answer) \
	"ENTRY_BEGIN\n" \
	"MATCH opcode qtype qname\n" \
	"ADJUST copy_id\n" \
	"REPLY QR AA RD RA " rcode "\n" \
	"SECTION QUESTION\n" \
	name ". IN " type "\n" \
	"SECTION ANSWER\n" \
	answer \
	"ENTRY_END\n"

/* TESTNS_HOST4 - the A and (empty) AAAA entries of a host with one IPv4 address */
#define TESTNS_HOST4(name, ip) \
	TESTNS_ENTRY(name, "A", "NOERROR", name ". IN A " ip "\n") \
	TESTNS_ENTRY(name, "AAAA", "NOERROR", "")

struct testns {
	pid_t	pid;			/* 0: not running */
	int	port;
	char	dir[64];		/* mkdtemp directory, "" if none */
	char	data[128];		/* data file */
	char	log[128];		/* ldns-testns stdout and stderr */
	char	err[512];		/* why testns_start() failed */
};

#define TESTNS_FN static __attribute__((unused))

TESTNS_FN long
testns_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* testns_read_log - the server's output so far, for messages */
TESTNS_FN void
testns_read_log(const struct testns *ns, char *buf, size_t size)
{
	ssize_t n = -1;
	int fd;
	size_t i;

	buf[0] = '\0';
	if ((fd = open(ns->log, O_RDONLY)) >= 0) {
		n = read(fd, buf, size - 1);
		close(fd);
	}
	if (n > 0) {
		buf[n] = '\0';
		for (i = 0; i < (size_t)n; i++)
			if (buf[i] == '\n')
				buf[i] = ' ';
	}
}

/* testns_ping - does the server answer the readiness query? */
TESTNS_FN int
testns_ping(const struct testns *ns)
{
	ldns_resolver *r;
	ldns_rdf *srv, *name;
	ldns_pkt *p = NULL;
	ldns_status st;
	int ok = 0;

	if ((r = ldns_resolver_new()) == NULL)
		return 0;
	srv = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, "127.0.0.1");
	name = ldns_dname_new_frm_str(TESTNS_READY_NAME ".");
	if (srv != NULL && name != NULL &&
	    ldns_resolver_push_nameserver(r, srv) == LDNS_STATUS_OK) {
		ldns_resolver_set_port(r, (uint16_t)ns->port);
		ldns_resolver_set_timeout(r, (struct timeval){ 0, 100000 });
		ldns_resolver_set_retry(r, 1);
		ldns_resolver_set_retrans(r, 0);
		st = ldns_resolver_send(&p, r, name, LDNS_RR_TYPE_A,
		    LDNS_RR_CLASS_IN, LDNS_RD);
		ok = st == LDNS_STATUS_OK && p != NULL &&
		    ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR &&
		    ldns_pkt_ancount(p) == 1;
	}
	if (p != NULL)
		ldns_pkt_free(p);
	if (srv != NULL)
		ldns_rdf_deep_free(srv);
	if (name != NULL)
		ldns_rdf_deep_free(name);
	ldns_resolver_deep_free(r);
	return ok;
}

/* testns_stop - kill the server, remove its files; safe to call twice */
TESTNS_FN void
testns_stop(struct testns *ns)
{
	if (ns->pid > 0) {
		kill(ns->pid, SIGKILL);
		while (waitpid(ns->pid, NULL, 0) < 0 && errno == EINTR)
			;
		ns->pid = 0;
	}
	if (ns->dir[0] != '\0') {
		unlink(ns->data);
		unlink(ns->log);
		rmdir(ns->dir);
		ns->dir[0] = '\0';
	}
}

/* testns_start_once - one attempt of testns_start */
TESTNS_FN int
testns_start_once(struct testns *ns, const char *zone)
{
	static const char ready[] =
	    TESTNS_ENTRY(TESTNS_READY_NAME, "A", "NOERROR",
		TESTNS_READY_NAME ". 300 IN A 127.0.0.1\n");
	char out[4096];
	FILE *fp;
	pid_t parent = getpid();
	long t0;
	int status, fd;

	memset(ns, 0, sizeof(*ns));
	snprintf(ns->dir, sizeof(ns->dir), "/tmp/sav-testns.XXXXXX");
	if (mkdtemp(ns->dir) == NULL) {
		snprintf(ns->err, sizeof(ns->err), "mkdtemp: %s", strerror(errno));
		ns->dir[0] = '\0';
		return -1;
	}
	snprintf(ns->data, sizeof(ns->data), "%s/zone.data", ns->dir);
	snprintf(ns->log, sizeof(ns->log), "%s/testns.log", ns->dir);
	if ((fp = fopen(ns->data, "w")) == NULL ||
	    fprintf(fp, "$ORIGIN test.\n$TTL 300\n%s%s", ready, zone) < 0 ||
	    fclose(fp) != 0) {
		snprintf(ns->err, sizeof(ns->err), "write %s: %s", ns->data,
		    strerror(errno));
		testns_stop(ns);
		return -1;
	}

	ns->pid = fork();
	if (ns->pid < 0) {
		snprintf(ns->err, sizeof(ns->err), "fork: %s", strerror(errno));
		ns->pid = 0;
		testns_stop(ns);
		return -1;
	}
	if (ns->pid == 0) {
		/* die with whoever started us, even if it crashes */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		if ((fd = open(ns->log, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, 0);
			close(fd);
		}
		execlp(TESTNS_BIN, TESTNS_BIN, "-r", ns->data, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", TESTNS_BIN, strerror(errno));
		_exit(127);
	}

	for (t0 = testns_ms(); testns_ms() - t0 < TESTNS_START_MS;) {
		const char *p;

		if (waitpid(ns->pid, &status, WNOHANG) == ns->pid) {
			ns->pid = 0;
			testns_read_log(ns, out, sizeof(out));
			if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
				snprintf(ns->err, sizeof(ns->err), "%s is not "
				    "installed or not in PATH (Debian: apt-get "
				    "install ldnsutils): %.300s", TESTNS_BIN, out);
			else
				snprintf(ns->err, sizeof(ns->err), "%s exited "
				    "(status 0x%x): %.400s", TESTNS_BIN, status, out);
			testns_stop(ns);
			return -1;
		}
		if (ns->port == 0) {
			testns_read_log(ns, out, sizeof(out));
			if ((p = strstr(out, "Listening on port ")) != NULL)
				ns->port = atoi(p + strlen("Listening on port "));
		}
		if (ns->port > 0 && ns->port < 65536 && testns_ping(ns))
			return 0;
		usleep(20000);
	}
	testns_read_log(ns, out, sizeof(out));
	snprintf(ns->err, sizeof(ns->err), "%s did not answer within %d ms "
	    "(port %d): %.400s", TESTNS_BIN, TESTNS_START_MS, ns->port, out);
	testns_stop(ns);
	return -1;
}

/*
 * testns_start - write zone, start the server, wait until it answers.
 * Returns 0, or -1 with ns->err set (and nothing left running).
 * ldns-testns -r gives up when the first random port it picks is taken
 * (its second bind() on the same socket fails with EINVAL), which other
 * tests running at the same time make likely: that is tried again, with
 * new random ports, a few times.
 */
TESTNS_FN int
testns_start(struct testns *ns, const char *zone)
{
	int i, rc = -1;

	for (i = 0; i < 5; i++) {
		rc = testns_start_once(ns, zone);
		if (rc == 0 || strstr(ns->err, "bind()") == NULL)
			break;
	}
	return rc;
}

#endif
