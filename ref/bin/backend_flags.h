/* handoff-backend (Unix) and handoff-backend.exe (Windows): one option
 * table, one --help text and one filling of ho_backend_config for both
 * programs (backend_flags.c). */
#ifndef HANDOFF_BIN_BACKEND_FLAGS_H
#define HANDOFF_BIN_BACKEND_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/backend.h"

typedef struct backend_flags {
  const char *endpoint, *pipe, *service, *exec_log;
  ho_backend_config cfg; /* ready mode, fault, offer timeout, replay capacity */
  int log_level;         /* 0 error .. 3 debug */
  bool takeover;         /* Unix only, like the three below */
  size_t max_ctl;
  uint32_t drain_ms;
} backend_flags;

/* Parse argv into *f (defaults first). -1: go on; otherwise the program
 * exits with the status returned (0 after --help/--version, 2 on a usage
 * error, which is reported in one line). */
int backend_flags_parse(backend_flags *f, int argc, char **argv);

#endif
