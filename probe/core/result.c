/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * result - building the one result type (result.h). Reentrant; no state.
 */
#include <string.h>

#include "result.h"
#include "util.h"

void
result_set(struct probe_result *r, const char *address, enum verdict v, enum reason reason)
{
	memset(r, 0, sizeof(*r));
	if (address != NULL)
		util_strlcpy(r->address, address, sizeof(r->address));
	r->verdict = v;
	r->reason = reason;
}
