/* handoff — the part of the client core's blocking shell that the Unix
 * (client_shell.c) and the Windows (net/win/win_client.c) shells share; see
 * client_shell_internal.h. spec: CLIENT-5 SEC-3 */
#include <string.h>

#include "client/client_shell_internal.h"

static uint64_t measure_us(void *u) {
  (void)u;
  return ho_client_now_us();
}

/* One more than the difference of the two readings: the reading of now is
 * rounded down, so a wait is never shorter than its timeout. */
int ho_client_shell_ms_left(uint64_t deadline_ms) {
  if (deadline_ms == 0) return -1;
  uint64_t now = ho_client_now_ms();
  if (now >= deadline_ms) return 0;
  uint64_t ms = deadline_ms - now + 1u;
  return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

int ho_client_shell_begin(const ho_client_config *cfg, ho_client_result *out, uint32_t self_pid,
                          ho_client_config *local, ho_client_core **core) {
  *core = NULL;
  if (out != NULL) {
    memset(out, 0, sizeof *out);
    out->conn = HO_NO_HANDLE;
  }
  if (cfg == NULL || out == NULL) return HO_ERR_INVALID_ARGUMENT;
  *local = *cfg;
  if (local->measure_us == NULL) local->measure_us = measure_us;
  if (local->peer_pid == 0) local->peer_pid = self_pid; /* spec: SEC-3 */
  out->start_us = ho_client_now_us();
  return ho_client_core_new(local, ho_client_now_ms(), core);
}

bool ho_client_shell_next(ho_client_core *core, ho_client_action *a, ho_client_result *out,
                          int *rc) {
  if (!ho_client_core_next(core, a)) { /* cannot happen: every action is reported */
    *rc = HO_ERR_STATE;
    return false;
  }
  if (a->type == HO_CACT_DONE) {
    *rc = ho_client_core_result(core, out);
    return false;
  }
  return true;
}

int ho_client_shell_end(ho_client_core *core, ho_client_result *out, const ho_diag *diag, int rc,
                        ho_handle conn, void (*close_conn)(ho_handle)) {
  ho_client_core_del(core);
  out->diag = *diag;
  if (rc == HO_OK) {
    out->conn = conn;
  } else {
    close_conn(conn);
    out->conn = HO_NO_HANDLE;
  }
  return rc;
}
