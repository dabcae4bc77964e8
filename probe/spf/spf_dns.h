/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * spf_dns - run spf_check() against real DNS with the probe's resolver
 * settings (Resolver, the DNS time-outs), all within one deadline.
 */
#ifndef SAV_SPF_DNS_H
#define SAV_SPF_DNS_H

#include "util.h"
#include "dns.h"
#include "spf.h"

/*
 * spf_check_dns - check_host() for req; questions past deadline are
 * temperrors. Steps go to t as "spf: ..." lines when tracing.
 */
enum spf_result spf_check_dns(const struct dns_conf *c, const struct spf_req *req,
			      msec_t deadline, const struct trace *t,
			      struct spf_out *out);

#endif
