/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sa - numeric IP addresses between text, raw octets and struct
 * sockaddr: the one place that calls inet_ntop and inet_pton. Only
 * AF_INET and AF_INET6; text is always numeric (never a host name, so
 * nothing here touches the resolver).
 *
 * Thread rules: all functions are reentrant; nothing here keeps state.
 */
#ifndef SAV_SA_H
#define SAV_SA_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * ip_ntop - the 4 (AF_INET) or 16 (AF_INET6) octets at a as text in
 * buf (INET6_ADDRSTRLEN is enough). Returns 0, or -1 with buf "?"
 * (another family, or buf too small).
 */
int	ip_ntop(int af, const void *a, char *buf, size_t size);

/*
 * ip_pton - numeric IPv4 or IPv6 text into out (16 octets; an IPv4
 * address takes the first 4). Returns AF_INET, AF_INET6, or 0 when the
 * text is neither.
 */
int	ip_pton(const char *text, unsigned char out[16]);

/* sa_ntop - the address (not the port) of sa as text; as ip_ntop */
int	sa_ntop(const struct sockaddr *sa, char *buf, size_t size);

/* sa_from_ip - ss = the 4 or 16 octets of family af at a, with port (host order) */
void	sa_from_ip(struct sockaddr_storage *ss, int af, const void *a, int port);

/*
 * sa_pton - numeric IPv4 or IPv6 text and a port (host order) into ss.
 * Returns 0, or -1 with ss zeroed (ss_family 0) when the text is
 * neither.
 */
int	sa_pton(const char *text, int port, struct sockaddr_storage *ss);

#endif
