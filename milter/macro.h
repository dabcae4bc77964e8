/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * macro - read the MTA's macros without letting a malformed macro
 * packet crash the milter (see macro.c for libmilter's flaw).
 */
#ifndef SAV_MILTER_MACRO_H
#define SAV_MILTER_MACRO_H

#include <libmilter/mfapi.h>

/*
 * macro_get - the value of macro name ("i", "{auth_authen}") for the
 * connection whose private data is priv (what smfi_setpriv was given;
 * not NULL), or NULL when it is absent, empty, or cannot be read
 * safely: a macro list of the wrong shape, or a libmilter whose
 * context this code does not recognise. Logs a warning for the first
 * such case of a connection (*warned set, never cleared here).
 */
const char *macro_get(SMFICTX *mctx, const void *priv, const char *name, int *warned);

#endif
