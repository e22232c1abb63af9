/* handoff-conform decode — the SUT as a process (see decode.h): started
 * with {frame_type} filled in, in its own process group, stdin and stdout
 * pipes, stderr kept in a file; one record in, one line out, bounded. */
#ifndef CF_DECODE_IO_H
#define CF_DECODE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "decode.h"

typedef struct cf_dsut {
  char **argv;      /* with placeholders */
  int argc;
  const char *dir;  /* private directory (stderr log) */
  int type;         /* frame type index */
  int timeout_ms, grace_ms;
  pid_t pid;
  int in_fd, out_fd;
  char *buf;        /* stdout bytes not yet consumed */
  size_t have, cap;
  unsigned starts;  /* how often it was started */
  char start_error[512]; /* set when it could not be started at all */
} cf_dsut;

/* Check the placeholders of argv ({frame_type}, {dir}); 0 or -1 with why. */
int cf_dsut_check(char **argv, int argc, char *why, size_t cap);
/* Send one record and read the answer into v (CRASH and TIMEOUT included:
 * the SUT is then stopped and restarted for the next record). Returns 0, or
 * -1 when the SUT cannot even be started (v says why, kind CRASH). */
int cf_dsut_ask(cf_dsut *s, const uint8_t *in, size_t len, cf_dverdict *v);
/* Stop it for good and release the buffer. */
void cf_dsut_stop(cf_dsut *s);

#endif
