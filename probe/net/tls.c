/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tls - STARTTLS for the probe (see tls.h): a TLS client layer under
 * netio, with OpenSSL 3.
 *
 * The handshake: tls_start first refuses a session with anything
 * already received after the 220 to STARTTLS (tls_injected: netio's
 * buffer, and a MSG_PEEK on the socket), the client side of
 * CVE-2011-0411: such bytes were sent before the handshake and, read
 * after it, would pass for replies that came through TLS. Then one SSL
 * on the socket, SSL_connect driven by poll() (netio_wait) until the
 * caller's deadline: no call ever blocks, a server that stalls in the
 * handshake costs the step's time and no more.
 *
 * The socket BIO: OpenSSL's own socket BIO writes with write(2), which
 * raises SIGPIPE on a connection the peer has closed; ours (tls_bio_*)
 * sends with MSG_NOSIGNAL, as netio does, and reports EOF to OpenSSL
 * (BIO_CTRL_EOF) so that a close without close_notify reads as an
 * ordinary end (SSL_OP_IGNORE_UNEXPECTED_EOF).
 *
 * The context: one SSL_CTX per process, made on first use under
 * pthread_once and never changed after (an SSL_CTX may be shared by
 * threads that only read it): TLS 1.2 at least, no renegotiation, the
 * system trust store (SSL_CTX_set_default_verify_paths) and
 * SSL_VERIFY_NONE: the chain is verified, its result only reported.
 *
 * SECURITY: nothing from the peer leaves this file but through
 * util_sanitize (error reasons) or OpenSSL's own fixed names
 * (protocol, cipher); the trust reason is one of ours.
 *
 * Memory: each session's SSL and its layer are freed by netio_close
 * (tls_close); a failed tls_start frees what it made. The SSL_CTX and
 * the BIO method live as long as the process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "tls.h"

struct tls_sock {
	int	fd;
	int	eof;
};

struct tls_layer {
	SSL	*ssl;
	struct tls_sock sock;
	unsigned verr;		/* every verification failure seen: 1 << reason index */
};

static SSL_CTX *tls_ctx;
static BIO_METHOD *tls_meth;
static char tls_init_err[96];
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

/* ---- trust words ---- */

/* the untrusted reasons, in the order they are listed */
static const char *const trust_words[] = {
	"self-signed", "unknown issuer", "expired", "not yet valid", "name mismatch",
	"revoked", "bad signature", "weak key or digest", "not for this use",
	"verification failed",
};
#define NWORDS	(sizeof(trust_words) / sizeof(trust_words[0]))

/* trust_word - the index into trust_words of an X509_V_ERR_* code */
static unsigned
trust_word(long verify)
{
	switch (verify) {
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return 0;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return 1;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return 2;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return 3;
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return 4;
	case X509_V_ERR_CERT_REVOKED:
		return 5;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return 6;
	case X509_V_ERR_EE_KEY_TOO_SMALL:
	case X509_V_ERR_CA_KEY_TOO_SMALL:
	case X509_V_ERR_CA_MD_TOO_WEAK:
		return 7;
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_INVALID_PURPOSE:
		return 8;
	default:
		return 9;
	}
}

/*
 * tls_verify_cb - OpenSSL's verification goes on past a failure when
 * this returns 1 (nothing depends on the answer: SSL_VERIFY_NONE), so
 * every reason is seen, not only the first: a self-signed certificate
 * that has also expired says both.
 */
static int
tls_verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_layer *l = ssl != NULL ? SSL_get_app_data(ssl) : NULL;

	if (!ok && l != NULL)
		l->verr |= 1u << trust_word(X509_STORE_CTX_get_error(xs));
	return 1;
}

void
tls_trust_words(unsigned bits, char *buf, size_t size)
{
	size_t i, n = 0, w;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < NWORDS; i++) {
		if (!(bits & (1u << i)))
			continue;
		w = strlen(trust_words[i]);
		if (n + (n > 0 ? 2 : 0) + w + 1 > size)
			break;
		if (n > 0) {
			memcpy(buf + n, ", ", 2);
			n += 2;
		}
		memcpy(buf + n, trust_words[i], w + 1);
		n += w;
	}
}

/* ---- the socket BIO ---- */

static int
tls_bio_write(BIO *b, const char *buf, int len)
{
	struct tls_sock *s = BIO_get_data(b);
	ssize_t w;

	BIO_clear_retry_flags(b);
	do
		w = send(s->fd, buf, (size_t)len, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_write(b);
	return (int)w;
}

static int
tls_bio_read(BIO *b, char *buf, int len)
{
	struct tls_sock *s = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	do
		r = recv(s->fd, buf, (size_t)len, 0);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		s->eof = 1;
	else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	return (int)r;
}

static long
tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_sock *s = BIO_get_data(b);

	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return s != NULL && s->eof;
	default:
		return 0;
	}
}

static void
tls_init(void)
{
	SSL_CTX *ctx;
	BIO_METHOD *m;

	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sav-socket");
	if (m == NULL || !BIO_meth_set_write(m, tls_bio_write) ||
	    !BIO_meth_set_read(m, tls_bio_read) || !BIO_meth_set_ctrl(m, tls_bio_ctrl)) {
		BIO_meth_free(m);
		snprintf(tls_init_err, sizeof(tls_init_err), "cannot make the TLS socket BIO");
		return;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		SSL_CTX_free(ctx);
		BIO_meth_free(m);
		snprintf(tls_init_err, sizeof(tls_init_err), "cannot make the TLS context");
		return;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, tls_verify_cb);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* without a store every chain is "unknown issuer"; still TLS */
	(void)SSL_CTX_set_default_verify_paths(ctx);
	ERR_clear_error();
	tls_meth = m;
	tls_ctx = ctx;
}

int
tls_prepare(char *err, size_t errlen)
{
	pthread_once(&tls_once, tls_init);
	if (tls_ctx != NULL)
		return 0;
	snprintf(err, errlen, "%s", tls_init_err);
	return -1;
}

/* ---- the netio layer ---- */

/* tls_seterr - n->err from the OpenSSL error queue (or errno) */
static void
tls_seterr(struct netio *n, const char *what, int sslerr)
{
	unsigned long e = ERR_peek_last_error();
	const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;
	char tmp[96];

	if (why == NULL && sslerr == SSL_ERROR_SYSCALL && errno != 0)
		why = strerror_r(errno, tmp, sizeof(tmp));
	snprintf(n->err, sizeof(n->err), "%s: TLS: %s", what, why != NULL ? why : "failed");
	ERR_clear_error();
}

/* tls_io_result - map a failed SSL_read_ex/SSL_write_ex to the netio_ops contract */
static ssize_t
tls_io_result(struct netio *n, SSL *ssl, const char *what, short *events)
{
	int e = SSL_get_error(ssl, 0);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*events = POLLIN;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*events = POLLOUT;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == 0 && ERR_peek_error() == 0)
			return 0;
		/* FALLTHROUGH */
	default:
		tls_seterr(n, what, e);
		errno = EPROTO;
		return -1;
	}
}

static ssize_t
tls_recv(struct netio *n, void *buf, size_t len, short *events)
{
	struct tls_layer *l = n->layer;
	size_t got = 0;

	ERR_clear_error();
	errno = 0;
	if (SSL_read_ex(l->ssl, buf, len, &got) == 1)
		return (ssize_t)got;
	return tls_io_result(n, l->ssl, "read", events);
}

static ssize_t
tls_send(struct netio *n, const void *buf, size_t len, short *events)
{
	struct tls_layer *l = n->layer;
	size_t put = 0;

	ERR_clear_error();
	errno = 0;
	if (SSL_write_ex(l->ssl, buf, len, &put) == 1)
		return (ssize_t)put;
	return tls_io_result(n, l->ssl, "write", events);
}

static void
tls_free(struct tls_layer *l)
{
	if (l == NULL)
		return;
	SSL_free(l->ssl);	/* frees the BIO too */
	free(l);
}

/* tls_close - one close_notify if it goes out at once (never waits), then free */
static void
tls_close(struct netio *n)
{
	struct tls_layer *l = n->layer;

	if (l == NULL)
		return;
	if (!l->sock.eof)
		(void)SSL_shutdown(l->ssl);
	ERR_clear_error();
	tls_free(l);
	n->layer = NULL;
}

static const struct netio_ops tls_ops = { tls_recv, tls_send, tls_close };

void
tls_thread_done(void)
{
	OPENSSL_thread_stop();
}

/* ---- the handshake ---- */

int
tls_injected(const struct netio *n)
{
	char c;
	ssize_t r;

	if (netio_pending(n) > 0)
		return 1;
	if (n->fd < 0)
		return 0;
	do
		r = recv(n->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

/* an address literal ("192.0.2.1", "2001:db8::1", "[...]") gets no SNI */
static int
tls_is_literal(const char *name)
{
	unsigned char b[16];

	return name[0] == '[' || inet_pton(AF_INET, name, b) == 1 ||
	    inet_pton(AF_INET6, name, b) == 1;
}

static enum tls_status __attribute__((format(printf, 5, 6)))
tls_fail(char *err, size_t errlen, struct tls_layer *l, enum tls_status st, const char *fmt, ...)
{
	char tmp[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	util_sanitize(err, errlen, tmp, strlen(tmp));
	ERR_clear_error();
	tls_free(l);
	return st;
}

enum tls_status
tls_start(struct netio *n, const char *name, msec_t deadline, struct tls_info *info,
	  char *err, size_t errlen)
{
	struct tls_layer *l;
	const char *reason;
	enum netio_status ns;
	unsigned long e;
	BIO *bio;
	int rc, se;

	memset(info, 0, sizeof(*info));
	if (tls_injected(n)) {
		snprintf(err, errlen, "data after the 220 to STARTTLS, before the handshake");
		return TLS_INJECTED;
	}
	if (tls_prepare(err, errlen) < 0)
		return tls_fail(err, errlen, NULL, TLS_FAILED, "%s", tls_init_err);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return tls_fail(err, errlen, NULL, TLS_FAILED, "%s", "out of memory");
	l->sock.fd = n->fd;
	if ((l->ssl = SSL_new(tls_ctx)) == NULL || (bio = BIO_new(tls_meth)) == NULL)
		return tls_fail(err, errlen, l, TLS_FAILED, "%s", "cannot make a TLS session");
	SSL_set_app_data(l->ssl, l);
	BIO_set_data(bio, &l->sock);
	BIO_set_init(bio, 1);
	SSL_set_bio(l->ssl, bio, bio);
	if (name != NULL && name[0] != '\0' && !tls_is_literal(name) &&
	    (!SSL_set_tlsext_host_name(l->ssl, name) || !SSL_set1_host(l->ssl, name)))
		return tls_fail(err, errlen, l, TLS_FAILED, "%s", "cannot set the server name");
	SSL_set_connect_state(l->ssl);
	/*
	 * TLS writes records one by one (the Finished, then the EHLO
	 * inside): with Nagle the second waits for the peer's delayed ACK
	 * of the first, 40 ms and more on every first contact. A unix
	 * socket (the tests) has no such option; nothing is lost then.
	 */
	(void)setsockopt(n->fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	for (;;) {
		if (util_left_ms(deadline, 0) <= 0)
			return tls_fail(err, errlen, l, TLS_TIMEOUT, "%s", "timeout in the TLS handshake");
		ERR_clear_error();
		errno = 0;
		rc = SSL_connect(l->ssl);
		if (rc == 1)
			break;
		se = SSL_get_error(l->ssl, rc);
		if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE) {
			ns = netio_wait(n, se == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
			if (ns == NETIO_TIMEOUT)
				return tls_fail(err, errlen, l, TLS_TIMEOUT, "%s",
						"timeout in the TLS handshake");
			if (ns != NETIO_OK)
				return tls_fail(err, errlen, l, TLS_FAILED, "TLS handshake: %s", n->err);
			continue;
		}
		e = ERR_peek_last_error();
		if (e != 0 && ERR_reason_error_string(e) != NULL)
			return tls_fail(err, errlen, l, TLS_FAILED, "TLS handshake failed: %s",
					ERR_reason_error_string(e));
		if (se == SSL_ERROR_SYSCALL && errno != 0)
			return tls_fail(err, errlen, l, TLS_FAILED, "TLS handshake failed: %s",
					strerror(errno));
		return tls_fail(err, errlen, l, TLS_FAILED, "%s",
				l->sock.eof ? "connection closed in the TLS handshake" :
				"TLS handshake failed");
	}
	util_strlcpy(info->protocol, SSL_get_version(l->ssl), sizeof(info->protocol));
	util_strlcpy(info->cipher, SSL_get_cipher_name(l->ssl), sizeof(info->cipher));
	info->trust = tls_trust_of(SSL_get0_peer_certificate(l->ssl) != NULL,
				   SSL_get_verify_result(l->ssl), &reason);
	util_strlcpy(info->reason, reason, sizeof(info->reason));
	/* every reason the verification met, in a fixed order */
	if (info->trust == TLS_UNTRUSTED && l->verr != 0)
		tls_trust_words(l->verr, info->reason, sizeof(info->reason));
	n->ops = &tls_ops;
	n->layer = l;
	return TLS_OK;
}

/* ---- words ---- */

enum tls_trust
tls_trust_of(int have_cert, long verify, const char **reason)
{
	*reason = "";
	if (!have_cert)
		return TLS_ANONYMOUS;
	if (verify == X509_V_OK)
		return TLS_TRUSTED;
	*reason = trust_words[trust_word(verify)];
	return TLS_UNTRUSTED;
}

const char *
tls_trust_str(enum tls_trust t)
{
	switch (t) {
	case TLS_TRUSTED:	return "trusted";
	case TLS_UNTRUSTED:	return "untrusted";
	case TLS_ANONYMOUS:	return "anonymous";
	}
	return "?";
}

void
tls_describe(const struct tls_info *info, char *buf, size_t size)
{
	snprintf(buf, size, "%s %s, %s%s%s%s", info->protocol, info->cipher,
		 tls_trust_str(info->trust), info->trust == TLS_UNTRUSTED ? " (" : "",
		 info->trust == TLS_UNTRUSTED ? info->reason : "",
		 info->trust == TLS_UNTRUSTED ? ")" : "");
}
