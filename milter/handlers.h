/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * handlers - the libmilter callbacks (thin: unpack, decide, reply).
 */
#ifndef SAV_MILTER_HANDLERS_H
#define SAV_MILTER_HANDLERS_H

#include <libmilter/mfapi.h>

/* handlers_desc - the filter description passed to smfi_register */
struct smfiDesc *handlers_desc(void);

#endif
