/* Unit tests of the client core (sans I/O) and the client shells: a base
 * configuration, the core's next action, a Negotiated frame, the end of a
 * run and its result (test_client_*.c). Header-only, static. */
#ifndef HANDOFF_TEST_CLIENT_CORE_FIXTURES_H
#define HANDOFF_TEST_CLIENT_CORE_FIXTURES_H

#include <criterion/criterion.h>
#include <string.h>

#include "handoff/client.h"
#include "handoff/error.h"
#include "handoff/frame.h"
#include "handoff/msg.h"

/* Service "echo" through the broker at `connect_path`, defaults otherwise. */
static inline ho_client_config cfx_config(const char *connect_path) {
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = connect_path;
  cfg.service_name = "echo";
  return cfg;
}

/* The core's next action, which must be due. */
static inline ho_client_action cfx_next(ho_client_core *c) {
  ho_client_action a;
  cr_assert_eq(ho_client_core_next(c, &a), 1, "an action is due");
  return a;
}

/* A Negotiated (protocol HO_PROTOCOL_VERSION) naming `pipe`, with `caps`,
 * the handle-passed token when `token` is not NULL and `connection_id`. */
static inline size_t cfx_negotiated(uint8_t *out, size_t cap, const char *pipe, uint64_t caps,
                                    const uint8_t *token, uint64_t connection_id) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.hello_reply.which = HO_REPLY_NEGOTIATED;
  m.hello_reply.negotiated.negotiated_protocol = HO_PROTOCOL_VERSION;
  cr_assert_lt(strlen(pipe), sizeof m.hello_reply.negotiated.backend_pipe);
  strcpy(m.hello_reply.negotiated.backend_pipe, pipe);
  m.hello_reply.negotiated.server_capabilities = caps;
  m.hello_reply.negotiated.connection_id = connection_id;
  if (token) {
    memcpy(m.hello_reply.negotiated.handle_passed_token, token, HO_TOKEN_BYTES);
    m.hello_reply.negotiated.handle_passed_token_len = HO_TOKEN_BYTES;
  }
  size_t len = 0;
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, &m, out, cap, &len), HO_OK);
  return len;
}

/* The core's result in *r (cleared first, no connection), then the core
 * deleted; returns the result's code. */
static inline int cfx_result_del(ho_client_core *c, ho_client_result *r) {
  memset(r, 0, sizeof *r);
  r->conn = HO_NO_HANDLE;
  int rc = ho_client_core_result(c, r);
  ho_client_core_del(c);
  return rc;
}

/* `a` (after a CLOSE, the next action) is DONE: cfx_result_del. */
static inline int cfx_finish(ho_client_core *c, ho_client_action a, ho_client_result *r) {
  if (a.type == HO_CACT_CLOSE) a = cfx_next(c);
  cr_assert_eq(a.type, HO_CACT_DONE, "action %d", (int)a.type);
  return cfx_result_del(c, r);
}

#endif
