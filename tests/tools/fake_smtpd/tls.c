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
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "fake_smtpd.h"

static SSL_CTX *ctx;		/* set once in the parent, read by the children */

static const char *const mode_names[] = {
	[TLS_OFF] = "off", [TLS_HANDSHAKE] = "handshake", [TLS_GARBAGE] = "garbage",
	[TLS_CLOSE] = "close", [TLS_INJECT] = "inject", [TLS_STALL] = "stall",
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
 * tls_accept - the server handshake on fd, each read and write bounded
 * by timeout_ms; max_version (a TLS1_x_VERSION, 0: none) caps the
 * protocol, and below TLS 1.2 also lowers the floor and the security
 * level so that the old protocol can be offered at all. Logs "ID TLS established PROTOCOL CIPHER sni=NAME"
 * (NAME escaped, "-" without SNI) or "ID TLS failed WHY". Returns the
 * connection, or NULL (the caller closes).
 */
struct ssl_st *
tls_accept(int fd, unsigned long id, long timeout_ms, int max_version)
{
	char why[256], sni[LOG_TEXT_MAX * 4 + 64];
	const char *name;
	SSL *ssl;
	int rc, err;

	if (ctx == NULL)
		return NULL;
	set_timeouts(fd, timeout_ms);
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1) {
		tlog("%lu TLS failed no SSL object", id);
		SSL_free(ssl);
		return NULL;
	}
	if (max_version != 0) {
		if (max_version < TLS1_2_VERSION) {
			SSL_set_security_level(ssl, 0);
			(void)SSL_set_min_proto_version(ssl, TLS1_VERSION);
			(void)SSL_set_cipher_list(ssl, "DEFAULT:@SECLEVEL=0");
		}
		(void)SSL_set_max_proto_version(ssl, max_version);
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
	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name != NULL)
		esc(sni, sizeof(sni), name, strlen(name));
	else
		snprintf(sni, sizeof(sni), "-");
	tlog("%lu TLS established %s %s sni=%s", id, SSL_get_version(ssl),
	     SSL_get_cipher_name(ssl), sni);
	return ssl;
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
