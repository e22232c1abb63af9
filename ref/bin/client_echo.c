/* handoff-client and handoff-client.exe: echo rounds and the report
 * (see client_echo.h). */
#include "client_echo.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_client_echo(const ho_client_result *r, const char *message, size_t mlen, long count, bool json) {
  uint8_t *buf = malloc(mlen);
  int rc;
  uint64_t first_byte_us = 0;
  size_t pend = 0; /* r->pending bytes consumed */
  int status = 0;
  const char *err = NULL;
  for (long i = 0; i < count && buf != NULL; i++) {
    if (i > 0 || !r->request_sent) {
      rc = ho_client_write_all(r->conn, message, mlen, 30000);
      if (rc != HO_OK) {
        err = ho_errname(rc);
        status = 1;
        break;
      }
    }
    size_t got = 0, have = 0;
    /* spec: CLIENT-6 READY-32 — echo bytes that came with the reply first */
    if (pend < r->pending_len) {
      have = r->pending_len - pend < mlen ? r->pending_len - pend : mlen;
      memcpy(buf, r->pending + pend, have);
      pend += have;
      rc = HO_OK;
    } else {
      rc = ho_client_read_exact(r->conn, buf, 1, 30000, &got);
      have = 1;
    }
    if (rc == HO_OK && i == 0) first_byte_us = ho_client_now_us() - r->start_us;
    if (rc == HO_OK && mlen > have)
      rc = ho_client_read_exact(r->conn, buf + have, mlen - have, 30000, &got);
    if (rc != HO_OK) {
      err = ho_errname(rc);
      status = 1;
      break;
    }
    if (memcmp(buf, message, mlen) != 0) {
      err = "ECHO_MISMATCH";
      status = 3;
      break;
    }
  }
  uint64_t total_us = ho_client_now_us() - r->start_us;
  free(buf);
  const char *route = r->route == HO_ROUTE_HANDOFF ? "handoff" : "reconnect";
  const char *mode = r->route != HO_ROUTE_HANDOFF ? "none"
                     : r->coalesced          ? "coalesced"
                     : r->backend_ready      ? "backend-ready"
                                            : "legacy";
  const char *reason = ho_client_reason_name(r->fallback_reason);
  if (json) {
    printf("{\"ok\":%s,\"route\":\"%s\",\"reason\":\"%s\",\"mode\":\"%s\",\"negotiated_us\":%llu,"
           "\"ready_us\":%llu,\"connected_us\":%llu,\"first_byte_us\":%llu,\"total_us\":%llu,"
           "\"count\":%ld,\"error\":%s%s%s}\n",
           status ? "false" : "true", route, reason, mode, (unsigned long long)r->negotiated_us,
           (unsigned long long)r->ready_us, (unsigned long long)r->connected_us,
           (unsigned long long)first_byte_us, (unsigned long long)total_us, count,
           err ? "\"" : "", err ? err : "null", err ? "\"" : "");
  } else {
    printf("route=%s reason=%s mode=%s negotiated_us=%llu ready_us=%llu connected_us=%llu "
           "first_byte_us=%llu total_us=%llu count=%ld%s%s\n",
           route, reason, mode, (unsigned long long)r->negotiated_us,
           (unsigned long long)r->ready_us, (unsigned long long)r->connected_us,
           (unsigned long long)first_byte_us, (unsigned long long)total_us, count,
           err ? " error=" : "", err ? err : "");
  }
  return status;
}
