/* handoff-broker (Unix) and handoff-broker.exe (Windows): one option table,
 * one --help text and one filling of ho_broker_config for both programs
 * (broker_flags.c). */
#ifndef HANDOFF_BIN_BROKER_FLAGS_H
#define HANDOFF_BIN_BROKER_FLAGS_H

#include <sys/types.h>

#include "handoff/broker.h"

typedef struct broker_flags {
  const char *listen, *endpoint, *backend_pipe, *service;
  ho_broker_config cfg;          /* log_level, peer policy and the numbers filled */
  ho_peer_policy backend_policy; /* --backend-uid (Unix; spec: SEC-10) */
  uid_t backend_uid;
} broker_flags;

extern const char *const broker_prog_name; /* "handoff-broker" */

/* Parse argv into *f (defaults first). -1: go on; otherwise the program
 * exits with the status returned (0 after --help/--version, 2 on a usage
 * error, which is reported in one line). */
int broker_flags_parse(broker_flags *f, int argc, char **argv);

#endif
