/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * macro - the milter's one way to read a macro the MTA sent.
 *
 * WHY NOT JUST smfi_getsymval
 *	libmilter keeps each stage's macros as the list of strings of
 *	the macro packet ("name\0value\0name\0value\0..."), NULL
 *	terminated, and smfi_getsymval() walks each list two entries at a
 *	time, checking only the name slot for the terminator. A packet
 *	with an odd number of strings (a name without a value: "j\0")
 *	makes the walk step over the terminator and read past the end of
 *	the list: strcmp() on whatever follows, a SEGV in sav-milter. The
 *	bytes come from whoever can write to the milter socket, and
 *	libmilter stores them before any callback of ours runs, so they
 *	cannot be refused earlier.
 *
 * WHAT IS DONE
 *	Before smfi_getsymval() is called, every stored list is checked:
 *	an even number of entries, each list where libmilter's context
 *	keeps it. The lists are not reachable through libmilter's API, so
 *	they are found in its context structure (struct smfi_str, private
 *	to libmilter) relative to the one field we can recognise, our own
 *	private-data pointer: in libmilter 8.14 and later (Debian 12 ships
 *	8.17) the private data follows the reply field, the macro-list
 *	names, the macro buffers and the macro lists, MACRO_STAGES
 *	pointers each. What is found is verified before it is trusted:
 *	each stage's list and buffer are both set or both unset, and a
 *	set list starts one byte into its buffer (after the stage letter),
 *	as libmilter builds them. A list of odd length makes every macro
 *	of the connection unreadable (NULL: not authenticated, no queue
 *	ID in the log); a context that fails verification makes macros
 *	unreadable for good, with one warning, so an unknown libmilter
 *	degrades to "no macros", never to a crash.
 *
 * SECURITY
 *	The milter socket should still be reachable by the MTA only
 *	(SocketMode, SocketGroup; sav-milter(8)): a process that can
 *	write to it can make verdicts skip (a forged {auth_authen}) or
 *	spend probes, whatever this module does.
 *
 * THREADS
 *	Reentrant: it reads the connection's own context, which libmilter
 *	changes only between callbacks of that connection.
 */
#include <stdint.h>
#include <string.h>
#include <syslog.h>

#include <libmilter/mfapi.h>

#include "log.h"
#include "macro.h"

#define MACRO_STAGES	7	/* libmilter's MAX_MACROS_ENTRIES since 8.14 */
#define MACRO_SCAN	64	/* words of the context searched for priv */
/* from the private-data word back to the first macro list */
#define MACRO_BACK	(1 + 3 * MACRO_STAGES)

/*
 * lists_find - the stage lists and buffers in libmilter's context:
 * 0 with *ptr and *buf set, -1 when the layout is not the expected one.
 */
static int
lists_find(SMFICTX *mctx, const void *priv, char ****ptr, char ***buf)
{
	void *const *w = (void *const *)mctx;
	size_t p;
	int i;

	for (p = 0; p < MACRO_SCAN; p++)
		if (w[p] == priv)
			break;
	if (p == MACRO_SCAN || p < MACRO_BACK)
		return -1;
	*ptr = (char ***)(uintptr_t)(w + p - MACRO_BACK);
	*buf = (char **)(uintptr_t)(w + p - MACRO_BACK + MACRO_STAGES);
	for (i = 0; i < MACRO_STAGES; i++) {
		char **l = (*ptr)[i], *b = (*buf)[i];

		if ((l == NULL) != (b == NULL))
			return -1;
		if (l != NULL && l[0] != b + 1)
			return -1;
	}
	return 0;
}

/* lists_even - every stored list has an even number of entries */
static int
lists_even(char ***ptr)
{
	int i;
	size_t n;

	for (i = 0; i < MACRO_STAGES; i++) {
		if (ptr[i] == NULL)
			continue;
		for (n = 0; ptr[i][n] != NULL; n++)
			;
		if (n % 2 != 0)
			return 0;
	}
	return 1;
}

const char *
macro_get(SMFICTX *mctx, const void *priv, const char *name, int *warned)
{
	char ***ptr, **buf;
	const char *v;

	if (mctx == NULL || priv == NULL)
		return NULL;
	if (lists_find(mctx, priv, &ptr, &buf) != 0) {
		if (!*warned)
			log_msg(LOG_WARNING, "libmilter's context is not laid out as expected: "
				"macros are not read ({auth_authen}, i)");
		*warned = 1;
		return NULL;
	}
	if (!lists_even(ptr)) {
		if (!*warned)
			log_msg(LOG_WARNING, "malformed macro packet from the MTA (a name "
				"without a value): macros of this connection are not read");
		*warned = 1;
		return NULL;
	}
	v = smfi_getsymval(mctx, (char *)name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}
