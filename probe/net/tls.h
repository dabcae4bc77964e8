/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tls - the client side of STARTTLS (RFC 3207) for the probe, with
 * OpenSSL 3, as a layer under netio (netio_ops): after tls_start the
 * dialogue's reads and writes go through TLS into netio's one buffer,
 * under the same deadlines and line limits as before.
 *
 * Opportunistic, as Postfix's smtp_tls_security_level = may: TLS 1.2
 * or later, SNI set to the MX host name, no certificate check that
 * could fail the session; the chain is still verified against the
 * system store and the result reported (tls_info.trust) as Postfix
 * logs it: trusted (the chain verifies and the name matches),
 * untrusted (with its reasons: self-signed, expired, name mismatch,
 * ...; every one the verification met), anonymous (no certificate).
 *
 * Threads: one SSL_CTX for the process, made on first use under
 * pthread_once and only read after; each session owns its SSL.
 */
#ifndef SAV_TLS_H
#define SAV_TLS_H

#include "netio.h"
#include "util.h"

enum tls_trust { TLS_ANONYMOUS, TLS_UNTRUSTED, TLS_TRUSTED };

struct tls_info {
	char	protocol[16];		/* "TLSv1.3", "" before a handshake */
	char	cipher[64];		/* "TLS_AES_256_GCM_SHA384" */
	enum tls_trust trust;
	char	reason[64];		/* untrusted: "self-signed", "expired", "name mismatch", ...
					   or several: "self-signed, expired" */
};

enum tls_status {
	TLS_OK,
	TLS_INJECTED,		/* bytes came after the 220 and before the handshake */
	TLS_TIMEOUT,		/* the handshake did not end before the deadline */
	TLS_FAILED,		/* handshake failure, closed or reset, no TLS library */
};

/*
 * tls_prepare - make the process's SSL_CTX now (the system trust store
 * is read once, some 25 ms of CPU) rather than in the first probe's
 * handshake; later calls do nothing. Returns 0, or -1 with err set
 * (tls_start then fails each session with the same reason).
 */
int	tls_prepare(char *err, size_t errlen);

/*
 * tls_injected - the response-injection check, for the moment the
 * 220 to STARTTLS has been read: non-zero when any byte is already in
 * netio's buffer or waiting on the socket (a server that means TLS
 * says nothing before our ClientHello; plaintext that arrives here
 * was written before the handshake, by it or by someone in the path,
 * and must never be read as a reply after it).
 */
int	tls_injected(const struct netio *n);

/*
 * tls_start - the client handshake on n's socket, which has just read
 * the 220 to STARTTLS, ending by deadline (non-blocking, poll()). name
 * is the MX host name for SNI and the name check (NULL, "" or an
 * address literal: no SNI, chain only). On TLS_OK n's reads and writes
 * go through TLS until netio_close, and *info describes the session;
 * otherwise err holds a sanitised reason and n is as it was (the
 * caller closes it). Runs tls_injected first.
 */
enum tls_status tls_start(struct netio *n, const char *name, msec_t deadline,
			  struct tls_info *info, char *err, size_t errlen);

/*
 * tls_trust_of - the trust word for a session: anonymous without a
 * peer certificate, trusted when verify (an X509_V_* code) is
 * X509_V_OK, else untrusted with a short reason in *reason.
 */
enum tls_trust tls_trust_of(int have_cert, long verify, const char **reason);

/*
 * tls_trust_words - the reasons of bits (1 << the index of each reason
 * in tls_trust_of's words, in that order) joined by ", " into buf; as
 * many whole words as fit
 */
void	tls_trust_words(unsigned bits, char *buf, size_t size);

/* tls_trust_str - "trusted", "untrusted", "anonymous" */
const char *tls_trust_str(enum tls_trust t);

/*
 * tls_describe - "TLSv1.3 TLS_AES_256_GCM_SHA384, untrusted (self-signed)"
 * into buf (the -v trace line after "tls: ").
 */
void	tls_describe(const struct tls_info *info, char *buf, size_t size);

/*
 * tls_thread_done - free the calling thread's OpenSSL state (its random
 * generators: ldns draws query IDs from them, TLS draws from them)
 * before the thread is counted out, so that a process exiting right
 * after its last probe thread never races that thread's clean-up.
 */
void	tls_thread_done(void);

#endif
