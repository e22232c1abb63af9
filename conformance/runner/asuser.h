/* handoff-conform — a connection made by another user: a forked child
 * takes the credentials of 'nobody', connects to an endpoint of the SUT and
 * hands the connected socket back, so that the SUT sees that user's
 * credentials (SO_PEERCRED is taken at connect time) while the runner does
 * the talking. Needs root. */
#ifndef CF_ASUSER_H
#define CF_ASUSER_H

#include "ctx.h"

/* Connect to `path` as user 'nobody'. Returns the connected socket, or -1
 * after recording a SKIP (not root, no such user, cannot connect) or an
 * ERROR. The directory of the case is opened to the user only for the
 * moment of the connect. */
int cf_connect_as_nobody(cf_ctx *ctx, const char *path);

#endif
