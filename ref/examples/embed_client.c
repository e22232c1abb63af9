/* embed_client — a complete client that embeds libhandoff (handoff/client.h):
 * connect to a broker, take the handoff when offered or fall back to the
 * backend's own endpoint, send MESSAGE to the echo service and check that
 * it comes back.
 *
 *   embed_client BROKER_SOCKET SERVICE MESSAGE [plain]
 *
 * "plain" does not ask for a handoff (the broker answers without a token
 * and the client reconnects to backend_pipe). Prints "route=handoff|reconnect
 * reason=NAME" and "echo: MESSAGE"; exit 0 when the echo matched, 1 on an
 * error, 2 usage, 3 echo mismatch.
 *   cc -o embed_client embed_client.c $(pkg-config --cflags --libs handoff)
 * Built by `make` (build/examples/), run by `make test-examples`; the part
 * between the scissors lines is quoted in handoff/client.h byte for byte.
 * spec: FALLBACK-4 FALLBACK-24 READY-21 READY-32 CLIENT-3 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <handoff/client.h>

int main(int argc, char **argv) {
  if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "plain") != 0) || argv[3][0] == '\0') {
    fprintf(stderr, "usage: embed_client BROKER_SOCKET SERVICE MESSAGE [plain]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN); // a peer that hangs up is an error code, not a signal
  const char *msg = argv[3];
  size_t len = strlen(msg);
  int plain = argc == 5;
  /* ---8<--- handoff/client.h quotes from here ---8<--- */
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = argv[1];
  cfg.service_name = argv[2];
  cfg.handoff = !plain;       // accept a handoff (CAP_HANDLE_PASSING)
  cfg.backend_ready = !plain; // let the backend write ready (fewer wake-ups)
  cfg.request = (const uint8_t *)msg; // sent as early as the negotiated mode
  cfg.request_len = len;              // allows, and again after a fallback
  ho_client_result r;
  int rc = ho_client_connect(&cfg, &r);
  if (rc == HO_ERR_REFUSED) { // the broker said no: code and reason (CLIENT-3)
    fprintf(stderr, "refused: code=%u %s\n", r.refused.code, r.refused.reason);
    return 1;
  }
  if (rc == HO_ERR_OUTCOME_UNKNOWN) { // the request may have been served:
    fprintf(stderr, "outcome unknown\n"); // never send it again on your own
    return 1;                             // (READY-21)
  }
  if (rc != HO_OK) { // broker or backend_pipe unreachable, garbage, ...
    fprintf(stderr, "%s: %s\n", ho_errname(rc), r.diag.msg[0] ? r.diag.msg : ho_strerror(rc));
    return 1;
  }
  // Fallback is not an error: r.conn is a connection to the service either
  // way, blocking, CLOEXEC, ours to close.
  printf("route=%s reason=%s\n", r.route == HO_ROUTE_HANDOFF ? "handoff" : "reconnect",
         ho_client_reason_name(r.fallback_reason));
  if (!r.request_sent) rc = ho_client_write_all(r.conn, msg, len, 5000);
  char *echo = malloc(len);
  size_t have = 0, got = 0;
  if (echo == NULL) rc = HO_ERR_NOMEM;
  // Response bytes that arrived with the ready frame (coalesced reply,
  // READY-32) come first, then we read the connection.
  if (rc == HO_OK && r.pending_len > 0) {
    have = r.pending_len < len ? r.pending_len : len;
    memcpy(echo, r.pending, have);
  }
  if (rc == HO_OK && have < len) rc = ho_client_read_exact(r.conn, echo + have, len - have, 5000, &got);
  close((int)r.conn);
  /* ---8<--- handoff/client.h quotes up to here ---8<--- */
  if (rc != HO_OK) {
    fprintf(stderr, "echo: %s\n", ho_strerror(rc));
    free(echo);
    return 1;
  }
  int same = memcmp(echo, msg, len) == 0;
  printf("echo: %.*s\n", (int)len, echo);
  free(echo);
  return same ? 0 : 3;
}
