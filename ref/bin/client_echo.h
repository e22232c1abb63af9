/* handoff-client and handoff-client.exe: the part after the handoff —
 * the echo rounds and the one-line report — written once for both
 * transports (the client.h I/O calls are implemented by each). */
#ifndef HANDOFF_BIN_CLIENT_ECHO_H
#define HANDOFF_BIN_CLIENT_ECHO_H

#include <stdbool.h>
#include <stddef.h>

#include "handoff/client.h"

/* Send `message` (mlen > 0 bytes) `count` times on r->conn, each time
 * reading the echo back (the first round's bytes that came with the reply,
 * r->pending, first), then print the route, timings and error as one JSON
 * object (json) or key=value line on stdout. Leaves r->conn open (the
 * caller closes it). Returns the exit status: 0, 1 (I/O error) or 3 (the echo differed). */
int cli_client_echo(const ho_client_result *r, const char *message, size_t mlen, long count, bool json);

#endif
