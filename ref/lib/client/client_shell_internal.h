/* handoff — what the two blocking shells of the client core (client_shell.c
 * on Unix, net/win/win_client.c on Windows) share: the start of
 * ho_client_connect(), the step of its action loop and the deadline
 * arithmetic. Each shell defines ho_client_now_ms()/ho_client_now_us() for
 * its platform; this code reads them. */
#ifndef HANDOFF_CLIENT_SHELL_INTERNAL_H
#define HANDOFF_CLIENT_SHELL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "handoff/client.h"

/* Milliseconds to wait for `deadline_ms` (0 if passed); -1 for no deadline. */
int ho_client_shell_ms_left(uint64_t deadline_ms);

/* The start of ho_client_connect(): clears `out` (conn = HO_NO_HANDLE),
 * rejects NULL cfg/out, fills `local` from cfg with the shell defaults
 * (measure_us = the shell's clock; peer_pid = `self_pid`, spec: SEC-3),
 * records out->start_us and makes the core (*core; NULL unless HO_OK). */
int ho_client_shell_begin(const ho_client_config *cfg, ho_client_result *out, uint32_t self_pid,
                          ho_client_config *local, ho_client_core **core);

/* One step of the action loop: true with the next action in *a for the shell
 * to carry out; false when the exchange is over, with its result in *rc
 * (ho_client_core_result() into `out` on DONE, HO_ERR_STATE if the core
 * reported no action). */
bool ho_client_shell_next(ho_client_core *core, ho_client_action *a, ho_client_result *out,
                          int *rc);

/* The end of ho_client_connect(): frees the core, hands `diag` to out and,
 * when rc is HO_OK, the connection `conn`; otherwise closes it with
 * `close_conn` (which must accept HO_NO_HANDLE) and leaves out->conn
 * HO_NO_HANDLE. Returns rc. */
int ho_client_shell_end(ho_client_core *core, ho_client_result *out, const ho_diag *diag, int rc,
                        ho_handle conn, void (*close_conn)(ho_handle));

#endif
