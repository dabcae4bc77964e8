/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_tls - the STARTTLS layer (probe/net/tls.c): the trust words,
 * the response-injection check on a socketpair, and real handshakes
 * against an OpenSSL server thread on the other end of a socketpair
 * with a self-signed certificate made here (EC P-256, CN mx.lab.test):
 * the session's description, line I/O through netio inside TLS with the
 * same line limit as in plaintext, and the failures (the server closes,
 * answers plaintext instead of a ServerHello, stalls past the deadline,
 * or speaks only TLS 1.1), and a write to a peer that has gone (an
 * error, never SIGPIPE). Under ASan the leak check covers the
 * layer's frees (netio_close) and the failed starts'.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "netio.h"
#include "tls.h"
#include "util.h"

/* ---- trust words ---- */

static const struct {
	int	have_cert;
	long	verify;
	enum tls_trust want;
	const char *reason;
} trust_rows[] = {
	{ 0, X509_V_OK, TLS_ANONYMOUS, "" },
	{ 0, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, TLS_ANONYMOUS, "" },
	{ 1, X509_V_OK, TLS_TRUSTED, "" },
	{ 1, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, TLS_UNTRUSTED, "self-signed" },
	{ 1, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, TLS_UNTRUSTED, "self-signed" },
	{ 1, X509_V_ERR_CERT_HAS_EXPIRED, TLS_UNTRUSTED, "expired" },
	{ 1, X509_V_ERR_CERT_NOT_YET_VALID, TLS_UNTRUSTED, "not yet valid" },
	{ 1, X509_V_ERR_HOSTNAME_MISMATCH, TLS_UNTRUSTED, "name mismatch" },
	{ 1, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, TLS_UNTRUSTED, "unknown issuer" },
	{ 1, X509_V_ERR_CERT_REVOKED, TLS_UNTRUSTED, "revoked" },
	{ 1, X509_V_ERR_CERT_CHAIN_TOO_LONG, TLS_UNTRUSTED, "verification failed" },
};

START_TEST(test_trust)
{
	const char *reason = NULL;
	enum tls_trust t = tls_trust_of(trust_rows[_i].have_cert, trust_rows[_i].verify, &reason);

	ck_assert_msg(t == trust_rows[_i].want && strcmp(reason, trust_rows[_i].reason) == 0,
	    "row %d: got %s (%s), want %s (%s)", _i, tls_trust_str(t), reason,
	    tls_trust_str(trust_rows[_i].want), trust_rows[_i].reason);
}
END_TEST

/* several reasons at once, in a fixed order, as many whole words as fit */
START_TEST(test_trust_words)
{
	char buf[64], small[20];

	tls_trust_words(1u << 0 | 1u << 2, buf, sizeof(buf));
	ck_assert_str_eq(buf, "self-signed, expired");
	tls_trust_words(1u << 4 | 1u << 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "self-signed, name mismatch");
	tls_trust_words(1u << 2, buf, sizeof(buf));
	ck_assert_str_eq(buf, "expired");
	tls_trust_words(0x3ff, buf, sizeof(buf));
	ck_assert_uint_lt(strlen(buf), sizeof(buf));
	ck_assert(strncmp(buf, "self-signed, unknown issuer, expired", 36) == 0);
	ck_assert(buf[strlen(buf) - 1] != ' ' && buf[strlen(buf) - 1] != ',');
	tls_trust_words(1u << 0 | 1u << 2, small, sizeof(small));
	ck_assert_str_eq(small, "self-signed");
	tls_trust_words(1u << 31, buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_describe)
{
	struct tls_info i;
	char buf[160];

	memset(&i, 0, sizeof(i));
	strcpy(i.protocol, "TLSv1.3");
	strcpy(i.cipher, "TLS_AES_256_GCM_SHA384");
	i.trust = TLS_UNTRUSTED;
	strcpy(i.reason, "self-signed");
	tls_describe(&i, buf, sizeof(buf));
	ck_assert_str_eq(buf, "TLSv1.3 TLS_AES_256_GCM_SHA384, untrusted (self-signed)");
	i.trust = TLS_TRUSTED;
	tls_describe(&i, buf, sizeof(buf));
	ck_assert_str_eq(buf, "TLSv1.3 TLS_AES_256_GCM_SHA384, trusted");
	i.trust = TLS_ANONYMOUS;
	tls_describe(&i, buf, sizeof(buf));
	ck_assert_str_eq(buf, "TLSv1.3 TLS_AES_256_GCM_SHA384, anonymous");
}
END_TEST

/* ---- a socketpair as the connection ---- */

static void
pair(struct netio *n, int *peer)
{
	int sv[2];

	ck_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	ck_assert(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK) == 0);
	netio_init(n);
	n->fd = sv[0];
	*peer = sv[1];
}

static void
put(int fd, const char *s)
{
	ck_assert(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
}

/*
 * The injection check: whatever came after the 220, in netio's buffer
 * (the same segment) or still on the socket (a later one), refuses the
 * handshake before a byte of it is sent.
 */
START_TEST(test_injection)
{
	struct netio n;
	struct tls_info info;
	char line[600], err[128];
	size_t len;
	int peer;

	/* in the buffer, behind the 220 */
	pair(&n, &peer);
	put(peer, "220 2.0.0 Ready to start TLS\r\n250 2.1.5 injected\r\n");
	ck_assert_int_eq(netio_read_line(&n, line, sizeof(line), &len, util_now_ms() + 1000), NETIO_OK);
	ck_assert_str_eq(line, "220 2.0.0 Ready to start TLS");
	ck_assert_msg(tls_injected(&n), "bytes in the buffer after the 220: not seen");
	ck_assert_int_eq(tls_start(&n, "mx.lab.test", util_now_ms() + 1000, &info, err, sizeof(err)),
			 TLS_INJECTED);
	ck_assert_msg(strstr(err, "after the 220") != NULL, "err: %s", err);
	ck_assert_msg(n.ops == NULL, "a layer was set after an injection");
	netio_close(&n);
	close(peer);

	/* on the socket, after the 220 was read */
	pair(&n, &peer);
	put(peer, "220 2.0.0 Ready to start TLS\r\n");
	ck_assert_int_eq(netio_read_line(&n, line, sizeof(line), &len, util_now_ms() + 1000), NETIO_OK);
	ck_assert_msg(!tls_injected(&n), "clean 220 seen as injected");
	put(peer, "250 x\r\n");
	ck_assert_msg(tls_injected(&n), "bytes on the socket after the 220: not seen");
	ck_assert_int_eq(tls_start(&n, "mx.lab.test", util_now_ms() + 1000, &info, err, sizeof(err)),
			 TLS_INJECTED);
	netio_close(&n);
	close(peer);
}
END_TEST

/* ---- a TLS server thread on the peer end ---- */

enum srv_mode { SRV_OK, SRV_CLOSE, SRV_PLAIN, SRV_STALL, SRV_TLS11, SRV_TLS12 };

struct srv {
	int	fd;
	enum srv_mode mode;
	EVP_PKEY *key;
	X509	*cert;
	char	sni[128];		/* what the client sent as SNI */
	char	got[256];		/* what the client wrote inside TLS */
	pthread_t tid;
};

static void
make_cert(struct srv *s)
{
	X509_NAME *nm;

	s->key = EVP_EC_gen("P-256");
	ck_assert(s->key != NULL);
	s->cert = X509_new();
	ck_assert(s->cert != NULL);
	X509_set_version(s->cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(s->cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(s->cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(s->cert), 2 * 86400);
	X509_set_pubkey(s->cert, s->key);
	nm = X509_get_subject_name(s->cert);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"mx.lab.test", -1, -1, 0);
	X509_set_issuer_name(s->cert, nm);
	ck_assert(X509_sign(s->cert, s->key, EVP_sha256()) > 0);
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	char buf[512], big[5000];
	SSL_CTX *ctx;
	SSL *ssl;
	const char *name;
	size_t n;
	int r;

	switch (s->mode) {
	case SRV_CLOSE:
		shutdown(s->fd, SHUT_RDWR);
		return NULL;
	case SRV_PLAIN:
		(void)read(s->fd, buf, sizeof(buf));
		(void)write(s->fd, "500 5.5.1 what?\r\n", 17);
		shutdown(s->fd, SHUT_RDWR);
		return NULL;
	case SRV_STALL:
		(void)read(s->fd, buf, sizeof(buf));
		sleep(2);
		return NULL;
	default:
		break;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_use_certificate(ctx, s->cert);
	SSL_CTX_use_PrivateKey(ctx, s->key);
	if (s->mode == SRV_TLS11) {
		SSL_CTX_set_security_level(ctx, 0);
		SSL_CTX_set_min_proto_version(ctx, TLS1_1_VERSION);
		SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION);
	} else if (s->mode == SRV_TLS12)
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, s->fd);
	if (SSL_accept(ssl) == 1) {
		name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
		util_strlcpy(s->sni, name != NULL ? name : "", sizeof(s->sni));
		r = SSL_read_ex(ssl, s->got, sizeof(s->got) - 1, &n);
		s->got[r == 1 ? n : 0] = '\0';
		if (s->mode != SRV_OK)
			goto out;	/* the client has gone: no write (SIGPIPE) */
		SSL_write_ex(ssl, "250-mx.lab.test\r\n250 SIZE 1000\r\n", 32, &n);
		/* one line over the client's buffer: the limit holds inside TLS */
		memset(big, 'x', sizeof(big));
		memcpy(big, "250 ", 4);
		memcpy(big + sizeof(big) - 2, "\r\n", 2);
		SSL_write_ex(ssl, big, sizeof(big), &n);
		SSL_write_ex(ssl, "221 2.0.0 Bye\r\n", 15, &n);
		SSL_shutdown(ssl);
	}
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

static void
srv_start(struct srv *s, int fd, enum srv_mode mode)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->mode = mode;
	make_cert(s);
	ck_assert(pthread_create(&s->tid, NULL, srv_main, s) == 0);
}

static void
srv_stop(struct srv *s)
{
	pthread_join(s->tid, NULL);
	close(s->fd);
	X509_free(s->cert);
	EVP_PKEY_free(s->key);
}

START_TEST(test_handshake)
{
	struct netio n;
	struct tls_info info;
	struct srv s;
	char line[513], err[128], desc[160];
	size_t len;
	int peer;
	msec_t dl;

	pair(&n, &peer);
	srv_start(&s, peer, SRV_OK);
	dl = util_now_ms() + 3000;
	ck_assert_msg(tls_start(&n, "mx.lab.test", dl, &info, err, sizeof(err)) == TLS_OK, "start: %s", err);
	tls_describe(&info, desc, sizeof(desc));
	ck_assert_msg(strncmp(desc, "TLSv1.3 TLS_", 12) == 0 &&
	    strstr(desc, ", untrusted (self-signed)") != NULL, "got %s", desc);
	ck_assert_int_eq(netio_write(&n, "EHLO probe.test\r\n", 17, dl), NETIO_OK);
	ck_assert_int_eq(netio_read_line(&n, line, sizeof(line), &len, dl), NETIO_OK);
	ck_assert_str_eq(line, "250-mx.lab.test");
	ck_assert_int_eq(netio_read_line(&n, line, sizeof(line), &len, dl), NETIO_OK);
	ck_assert_str_eq(line, "250 SIZE 1000");
	ck_assert_int_eq(netio_read_line(&n, line, sizeof(line), &len, dl), NETIO_TOOLONG);
	ck_assert_int_eq(netio_read_line(&n, line, sizeof(line), &len, dl), NETIO_OK);
	ck_assert_str_eq(line, "221 2.0.0 Bye");
	ck_assert_int_eq(netio_read_line(&n, line, sizeof(line), &len, dl), NETIO_EOF);
	netio_close(&n);
	srv_stop(&s);
	ck_assert_str_eq(s.sni, "mx.lab.test");
	ck_assert_str_eq(s.got, "EHLO probe.test\r\n");
}
END_TEST

START_TEST(test_no_sni_for_literal)
{
	struct netio n;
	struct tls_info info;
	struct srv s;
	char err[128];
	int peer;

	pair(&n, &peer);
	srv_start(&s, peer, SRV_TLS12);
	ck_assert_msg(tls_start(&n, "192.0.2.1", util_now_ms() + 3000, &info, err, sizeof(err)) == TLS_OK,
	    "start: %s", err);
	ck_assert_str_eq(info.protocol, "TLSv1.2");
	ck_assert_int_eq(netio_write(&n, "QUIT\r\n", 6, util_now_ms() + 1000), NETIO_OK);
	srv_stop(&s);
	/* the peer is gone: writing through TLS fails, and raises no SIGPIPE */
	(void)netio_write(&n, "NOOP\r\n", 6, util_now_ms() + 1000);
	ck_assert_int_ne(netio_write(&n, "NOOP\r\n", 6, util_now_ms() + 1000), NETIO_OK);
	netio_close(&n);
	ck_assert_msg(s.sni[0] == '\0', "SNI %s sent for an address literal", s.sni);
}
END_TEST

static const struct {
	const char *what;
	enum srv_mode mode;
	msec_t	deadline_ms;
	enum tls_status want;
	msec_t	max_ms;
} fail_rows[] = {
	{ "server closes", SRV_CLOSE, 3000, TLS_FAILED, 1500 },
	{ "plaintext instead of a ServerHello", SRV_PLAIN, 3000, TLS_FAILED, 1500 },
	{ "handshake stalls", SRV_STALL, 300, TLS_TIMEOUT, 1000 },
	{ "TLS 1.1 only", SRV_TLS11, 3000, TLS_FAILED, 1500 },
};

START_TEST(test_fail)
{
	struct netio n;
	struct tls_info info;
	struct srv s;
	char err[128];
	enum tls_status st;
	msec_t t0, took;
	int peer;

	pair(&n, &peer);
	srv_start(&s, peer, fail_rows[_i].mode);
	t0 = util_now_ms();
	st = tls_start(&n, "mx.lab.test", t0 + fail_rows[_i].deadline_ms, &info, err, sizeof(err));
	took = util_now_ms() - t0;
	ck_assert_msg(st == fail_rows[_i].want, "%s: got %d (%s), want %d", fail_rows[_i].what,
	    st, err, fail_rows[_i].want);
	ck_assert_msg(took <= fail_rows[_i].max_ms, "%s: took %lld ms", fail_rows[_i].what, (long long)took);
	ck_assert_msg(n.ops == NULL && info.protocol[0] == '\0', "%s: a layer after a failure",
	    fail_rows[_i].what);
	ck_assert_msg(err[0] != '\0', "%s: no reason", fail_rows[_i].what);
	netio_close(&n);
	srv_stop(&s);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("tls");

	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_trust, 0, sizeof(trust_rows) / sizeof(trust_rows[0]));
	tcase_add_test(tc, test_trust_words);
	tcase_add_test(tc, test_describe);
	tcase_add_test(tc, test_injection);
	tcase_add_test(tc, test_handshake);
	tcase_add_test(tc, test_no_sni_for_literal);
	tcase_add_loop_test(tc, test_fail, 0, sizeof(fail_rows) / sizeof(fail_rows[0]));
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
