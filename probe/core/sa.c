/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sa - numeric IP addresses between text, octets and struct sockaddr.
 * See sa.h. Reentrant; no state; no name resolution.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "sa.h"
#include "util.h"

int
ip_ntop(int af, const void *a, char *buf, size_t size)
{
	if ((af != AF_INET && af != AF_INET6) ||
	    inet_ntop(af, a, buf, (socklen_t)size) == NULL) {
		util_strlcpy(buf, "?", size);
		return -1;
	}
	return 0;
}

int
ip_pton(const char *text, unsigned char out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, text, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, text, out) == 1)
		return AF_INET6;
	memset(out, 0, 16);
	return 0;
}

int
sa_ntop(const struct sockaddr *sa, char *buf, size_t size)
{
	if (sa->sa_family == AF_INET)
		return ip_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, size);
	if (sa->sa_family == AF_INET6)
		return ip_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, size);
	return ip_ntop(sa->sa_family, NULL, buf, size);
}

void
sa_from_ip(struct sockaddr_storage *ss, int af, const void *a, int port)
{
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, a, 4);
	} else if (af == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, a, 16);
	}
}

int
sa_pton(const char *text, int port, struct sockaddr_storage *ss)
{
	unsigned char a[16];
	int af = ip_pton(text, a);

	sa_from_ip(ss, af, a, port);
	return af != 0 ? 0 : -1;
}
