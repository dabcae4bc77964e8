/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tls - fake_smtpd's server side of TLS, with OpenSSL 3: the context
 * with the certificate and key given on the command line (-C, -K),
 * loaded once by the parent before any fork, and per connection the
 * handshake and the record I/O the connection code uses once TLS is
 * up. The hostile behaviours after "220 Ready to start TLS" (garbage,
 * close, injection, stall) need no OpenSSL and live in conn.c; this
 * file only does real TLS.
 *
 * The certificate is whatever the file holds: self-signed, expired,
 * issued for another name. Nothing here checks it; the lab makes such
 * certificates on purpose. No client certificate is asked for.
 *
 * Sockets stay blocking; every handshake step and every later read and
 * write is bounded by SO_RCVTIMEO and SO_SNDTIMEO, so a client that
 * stops in the middle of a record cannot hold a child forever (the
 * parent's lifetime cap, an alarm, is the last resort).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "fake_smtpd.h"

static SSL_CTX *ctx;		/* set once in the parent, read by the children */

static const char *const mode_names[] = {
	[TLS_OFF] = "off", [TLS_HANDSHAKE] = "handshake", [TLS_GARBAGE] = "garbage",
	[TLS_CLOSE] = "close", [TLS_INJECT] = "inject", [TLS_STALL] = "stall",
	[TLS_TRICKLE] = "trickle",
};

/* tls_mode_name - the script word of a mode, for the transcript */
const char *
tls_mode_name(enum tls_mode m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

/* ssl_why - the first queued OpenSSL error as text, or dflt */
static void
ssl_why(char *buf, size_t size, const char *dflt)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, size, "%s", dflt);
	else
		ERR_error_string_n(e, buf, size);
	ERR_clear_error();
}

/*
 * tls_load - make the server context from a PEM certificate (chain)
 * file and a PEM key file: TLS 1.2 or later. Ends the program when
 * either cannot be used. Called once, before the listeners fork.
 */
void
tls_load(const char *cert, const char *key)
{
	char why[256];

	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		die("TLS: no context");
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		die("TLS: cannot require TLS 1.2");
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_why(why, sizeof(why), "unreadable");
		die("-C %s: %s", cert, why);
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_why(why, sizeof(why), "unreadable");
		die("-K %s: %s", key, why);
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
		die("-K %s does not match the certificate -C %s", key, cert);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* no session cache across children: each connection is a full handshake */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	(void)SSL_CTX_set_num_tickets(ctx, 0);
}

/* tls_loaded - whether -C/-K gave a certificate */
int
tls_loaded(void)
{
	return ctx != NULL;
}

static void
set_timeouts(int fd, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/*
 * ssl_new - a server connection from the context; max_version (a
 * TLS1_x_VERSION, 0: none) caps the protocol, and below TLS 1.2 also
 * lowers the floor and the security level so that the old protocol
 * can be offered at all. NULL when OpenSSL cannot make one.
 */
static SSL *
ssl_new(int max_version)
{
	SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;

	if (ssl == NULL || max_version == 0)
		return ssl;
	if (max_version < TLS1_2_VERSION) {
		SSL_set_security_level(ssl, 0);
		(void)SSL_set_min_proto_version(ssl, TLS1_VERSION);
		(void)SSL_set_cipher_list(ssl, "DEFAULT:@SECLEVEL=0");
	}
	(void)SSL_set_max_proto_version(ssl, max_version);
	return ssl;
}

/* log_established - "ID TLS established PROTOCOL CIPHER sni=NAME" */
static void
log_established(SSL *ssl, unsigned long id)
{
	char sni[LOG_TEXT_MAX * 4 + 64];
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (name != NULL)
		esc(sni, sizeof(sni), name, strlen(name));
	else
		snprintf(sni, sizeof(sni), "-");
	tlog("%lu TLS established %s %s sni=%s", id, SSL_get_version(ssl),
	     SSL_get_cipher_name(ssl), sni);
}

/*
 * tls_accept - the server handshake on fd, each read and write bounded
 * by timeout_ms, the protocol capped by max_version (ssl_new). Logs
 * "ID TLS established PROTOCOL CIPHER sni=NAME" (NAME escaped, "-"
 * without SNI) or "ID TLS failed WHY". Returns the connection, or NULL
 * (the caller closes).
 */
struct ssl_st *
tls_accept(int fd, unsigned long id, long timeout_ms, int max_version)
{
	char why[256];
	SSL *ssl;
	int rc, err;

	if (ctx == NULL)
		return NULL;
	set_timeouts(fd, timeout_ms);
	if ((ssl = ssl_new(max_version)) == NULL || SSL_set_fd(ssl, fd) != 1) {
		tlog("%lu TLS failed no SSL object", id);
		SSL_free(ssl);
		return NULL;
	}
	errno = 0;
	rc = SSL_accept(ssl);
	if (rc != 1) {
		err = SSL_get_error(ssl, rc);
		if (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
			snprintf(why, sizeof(why), "timeout after %ld ms", timeout_ms);
		else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
			snprintf(why, sizeof(why), "client closed (%s)",
				 errno != 0 ? strerror(errno) : "EOF");
		else
			ssl_why(why, sizeof(why), "handshake failed");
		ERR_clear_error();
		tlog("%lu TLS failed %s", id, why);
		SSL_free(ssl);
		return NULL;
	}
	log_established(ssl, id);
	return ssl;
}

/*
 * pump_in - wait up to ms for the client's bytes and hand them to the
 * handshake's input BIO. Returns 1 (bytes), 0 (nothing within ms) or
 * -1 (the client closed or failed).
 */
static int
pump_in(int fd, BIO *rb, long ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	char buf[4096];
	ssize_t r;
	int rc;

	do
		rc = poll(&pfd, 1, (int)ms);
	while (rc < 0 && errno == EINTR);
	if (rc <= 0)
		return rc < 0 ? -1 : 0;
	do
		r = read(fd, buf, sizeof(buf));
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return -1;
	return BIO_write(rb, buf, (int)r) == (int)r ? 1 : -1;
}

/*
 * tls_accept_trickle - the handshake of tls_accept, but what the
 * server says goes out bytes at a time, ms apart: the handshake runs
 * on memory BIOs and this pumps them, reading the client between
 * pieces. After it the connection is moved onto fd as usual. Logs
 * "ID TLS trickle: sent N bytes in MS ms" and then as tls_accept, or
 * "ID TLS failed client closed after MS ms, N bytes of the handshake
 * sent" when the client gives up first (the point of the mode).
 */
struct ssl_st *
tls_accept_trickle(int fd, unsigned long id, long timeout_ms, int max_version,
		   long bytes, long ms)
{
	char out[4096], why[256];
	long t0 = now_ms(), left;
	unsigned long sent = 0;
	BIO *rb, *wb;
	SSL *ssl;
	int rc, n, off, k;

	if (ctx == NULL)
		return NULL;
	set_timeouts(fd, timeout_ms);
	ssl = ssl_new(max_version);
	rb = BIO_new(BIO_s_mem());
	wb = BIO_new(BIO_s_mem());
	if (ssl == NULL || rb == NULL || wb == NULL) {
		tlog("%lu TLS failed no SSL object", id);
		BIO_free(rb);
		BIO_free(wb);
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_bio(ssl, rb, wb);
	SSL_set_accept_state(ssl);
	for (;;) {
		rc = SSL_do_handshake(ssl);
		while ((n = BIO_read(wb, out, sizeof(out))) > 0) {
			for (off = 0; off < n; off += k) {
				k = n - off < bytes ? n - off : (int)bytes;
				if (send(fd, out + off, (size_t)k, MSG_NOSIGNAL) != k)
					goto gone;
				sent += (unsigned long)k;
				/* the pause reads the client: it may give up meanwhile */
				if (off + k < n && pump_in(fd, rb, ms) < 0)
					goto gone;
			}
		}
		if (rc == 1)
			break;
		if (SSL_get_error(ssl, rc) != SSL_ERROR_WANT_READ) {
			ssl_why(why, sizeof(why), "handshake failed");
			tlog("%lu TLS failed %s (%lu bytes of the handshake sent)", id, why, sent);
			SSL_free(ssl);
			return NULL;
		}
		left = t0 + timeout_ms - now_ms();
		if (left <= 0 || (rc = pump_in(fd, rb, left)) == 0) {
			tlog("%lu TLS failed timeout after %ld ms", id, now_ms() - t0);
			SSL_free(ssl);
			return NULL;
		}
		if (rc < 0)
			goto gone;
	}
	tlog("%lu TLS trickle: sent %lu bytes in %ld ms", id, sent, now_ms() - t0);
	if (BIO_ctrl_pending(rb) > 0 || SSL_set_fd(ssl, fd) != 1) {
		tlog("%lu TLS failed client data beyond the handshake", id);
		SSL_free(ssl);
		return NULL;
	}
	log_established(ssl, id);
	return ssl;
gone:
	tlog("%lu TLS failed client closed after %ld ms, %lu bytes of the handshake sent", id,
	     now_ms() - t0, sent);
	ERR_clear_error();
	SSL_free(ssl);
	return NULL;
}

/* tls_read - one SSL_read: bytes, 0 at the end, -1 on error or time-out */
long
tls_read(struct ssl_st *ssl, void *buf, size_t len)
{
	int n = len > 65536 ? 65536 : (int)len;
	int rc = SSL_read(ssl, buf, n);

	if (rc > 0)
		return rc;
	rc = SSL_get_error(ssl, rc);
	ERR_clear_error();
	return rc == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

/* tls_write - SSL_write of len bytes (one or more records): len or -1 */
long
tls_write(struct ssl_st *ssl, const void *buf, size_t len)
{
	size_t off = 0;
	int n, rc;

	while (off < len) {
		n = len - off > 65536 ? 65536 : (int)(len - off);
		rc = SSL_write(ssl, (const char *)buf + off, n);
		if (rc <= 0) {
			ERR_clear_error();
			return -1;
		}
		off += (size_t)rc;
	}
	return (long)len;
}

/* tls_pending - decrypted bytes OpenSSL holds that poll() cannot see */
int
tls_pending(struct ssl_st *ssl)
{
	return SSL_pending(ssl);
}

/*
 * tls_end - free the connection; notify: send close_notify first
 * (without waiting for the client's), else the TLS layer just stops
 */
void
tls_end(struct ssl_st *ssl, int notify)
{
	if (ssl == NULL)
		return;
	if (notify)
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
	SSL_free(ssl);
}
