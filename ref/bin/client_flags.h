/* handoff-client (Unix) and handoff-client.exe (Windows): one option
 * table, one --help text, one filling of ho_client_config and one failure
 * report for both programs (client_flags.c). */
#ifndef HANDOFF_BIN_CLIENT_FLAGS_H
#define HANDOFF_BIN_CLIENT_FLAGS_H

#include <stdbool.h>
#include <stddef.h>

#include "handoff/client.h"

typedef struct client_flags {
  ho_client_config cfg; /* connect_path, service_name, caps, ready timeout, request */
  const char *message;
  size_t mlen;
  long count;
  bool json;
  const char *cache; /* --early-data-cache (Unix only) */
} client_flags;

/* Parse argv into *f (defaults first; cfg.request is the message). -1: go
 * on; otherwise the program exits with the status returned (0 after
 * --help/--version, 2 on a usage error, which is reported in one line). */
int client_flags_parse(client_flags *f, int argc, char **argv);

/* ho_client_connect failed with rc: the report line (or JSON) on stdout,
 * the reason on stderr. Returns the exit status (1). */
int client_report_failure(int rc, ho_client_result *r, bool json);

#endif
