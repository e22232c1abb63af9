/* handoff-client.exe — the reference client on Windows: the shared client
 * core (handoff/client.h, ho_client_connect on named pipes) with the Linux
 * program's flags, decisions and report line: connects to a broker's pipe,
 * takes a handoff when offered (--handoff), falls back silently to
 * backend_pipe otherwise, never sends a request twice (READY-21), then
 * talks to the echo service. spec: CLIENT-8 FALLBACK-24 READY-21 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/client.h"
#include "handoff/winpipe.h"

#include "../client_echo.h"
#include "../client_flags.h"

int main(int argc, char **argv) {
  client_flags fl;
  int st = client_flags_parse(&fl, argc, argv); /* flags and --help: client_flags.c */
  if (st >= 0) return st;
  ho_client_config cfg = fl.cfg;
  ho_client_result r;
  int rc = ho_client_connect(&cfg, &r);
  if (rc != HO_OK) return client_report_failure(rc, &r, fl.json);
  int status = cli_client_echo(&r, fl.message, fl.mlen, fl.count, fl.json);
  ho_win_close(r.conn);
  return status;
}
