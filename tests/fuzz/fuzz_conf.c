/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_conf - the configuration parser.
 *
 * Input, first byte even: a whole sav-milter.conf, loaded with
 * conf_load() from an in-memory file. First byte odd: a key picked by
 * the second byte from the keys that shape what goes on the wire or
 * into a log, and the rest as its value, through conf_set() (as
 * sav-probe's --helo, --sender, ... do).
 *
 * Oracles: a configuration that loads (or a value that is taken) never
 * leaves a control character, CR or LF in HeloName, ProbeSender,
 * RetrySender or MonitorHeader; HeloName is a host name; a sender is
 * "" or parses as an address; every string field is terminated; a
 * failure always says why. Lists naming a file (a value starting with
 * '/') are kept off /dev, /proc and /sys, whose endless files would
 * only test the fuzzer's patience.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"

static const char *const wire_keys[] = {
	"HeloName", "ProbeSender", "RetrySender", "MonitorHeader", "Resolver",
	"TrustedNetworks", "ExemptDomains", "ProbeWait", "Socket", "Action.invalid",
};

static void
die(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_conf: oracle: %s: [%s]\n", what, s);
	abort();
}

static void
clean(const char *s, size_t size, const char *what)
{
	const unsigned char *p;

	if (strnlen(s, size) >= size)
		die(what, "not terminated");
	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			die(what, s);
}

static void
sender_ok(const char *s, size_t size, const char *what)
{
	struct addr a;
	const char *why;

	clean(s, size, what);
	if (s[0] != '\0' && addr_parse(s, strlen(s), &a, &why) != ADDR_OK)
		die(what, s);
}

static void
check(const struct conf *c)
{
	size_t i;

	clean(c->probe.helo, sizeof(c->probe.helo), "HeloName");
	if (c->probe.helo[0] == '\0' || strchr(c->probe.helo, ' ') != NULL)
		die("HeloName is not a host name", c->probe.helo);
	sender_ok(c->probe.sender, sizeof(c->probe.sender), "ProbeSender");
	sender_ok(c->probe.retry_sender, sizeof(c->probe.retry_sender), "RetrySender");
	clean(c->header, sizeof(c->header), "MonitorHeader");
	for (i = 0; i < sizeof(c->header) && c->header[i]; i++)
		if (c->header[i] == ':' || c->header[i] == ' ')
			die("MonitorHeader is not a field name", c->header);
	clean(c->socket, sizeof(c->socket), "Socket");
	clean(c->cachefile, sizeof(c->cachefile), "CacheFile");
}

static int
risky(const uint8_t *d, size_t n)
{
	static const char *const bad[] = { "/dev", "/proc", "/sys", "/run" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (memmem(d, n, bad[i], strlen(bad[i])) != NULL)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int mfd = -1;
	static struct conf c;
	char path[64], err[1024], *val;

	if (size < 2 || size > 65536 || risky(data, size))
		return 0;
	err[0] = '\0';
	if ((data[0] & 1) == 0) {
		if (mfd < 0 && (mfd = memfd_create("fuzz.conf", 0)) < 0)
			abort();
		if (ftruncate(mfd, 0) != 0 || pwrite(mfd, data + 1, size - 1, 0) != (ssize_t)(size - 1))
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
		if (conf_load(&c, path, err, sizeof(err)) == 0) {
			check(&c);
			conf_free(&c);
		} else if (err[0] == '\0')
			die("refused without a reason", "");
		return 0;
	}
	if ((val = malloc(size - 1)) == NULL)
		return 0;
	memcpy(val, data + 2, size - 2);
	val[size - 2] = '\0';
	conf_defaults(&c);
	if (conf_set(&c, wire_keys[data[1] % (sizeof(wire_keys) / sizeof(wire_keys[0]))],
	    val, err, sizeof(err)) == 0)
		check(&c);
	else if (err[0] == '\0')
		die("refused without a reason", "");
	conf_free(&c);
	free(val);
	return 0;
}
