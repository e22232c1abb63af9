/* handoff-conform — what differs between the three modes around a case
 * (run.c calls these): the runner's own endpoints before the SUT starts,
 * the post-case probe that the SUT still does its job (ERR-4), the release
 * of the runner's side before the leak checks, and whether the SUT ends by
 * itself (a client does; a backend or broker runs until stopped).
 *
 *   backend  the runner is broker and client: route.c, client.c, ctl.c
 *   broker   the runner is clients and backend: bkend.c, hclient.c, bflow.c
 *   client   the runner is broker and backend: cbroker.c, cflow.c */
#ifndef CF_MODES_H
#define CF_MODES_H

#include <stdbool.h>

#include "ctx.h"

typedef struct cf_mode_ops {
  int (*prepare)(cf_ctx *ctx);      /* NULL, or 0 / -1 (recorded) */
  int (*still_serves)(cf_ctx *ctx); /* NULL, or 0 / -1 (recorded) */
  void (*finish)(cf_ctx *ctx);      /* NULL, or close the runner's side (registering what
                                       the SUT must then release) */
  bool exits;                       /* the SUT ends by itself */
} cf_mode_ops;

const cf_mode_ops *cf_mode_ops_get(int mode);

#endif
