/* handoff-client — the reference client: connects to a broker, takes a
 * handoff when offered (opt-in), falls back silently to backend_pipe
 * otherwise, then talks to the echo service and reports the route taken,
 * the fallback reason and timings. spec: CLIENT-8 FALLBACK-24 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handoff/client.h"

#include "client_echo.h"
#include "client_flags.h"

int main(int argc, char **argv) {
  client_flags fl;
  int st = client_flags_parse(&fl, argc, argv); /* flags and --help: client_flags.c */
  if (st >= 0) return st;
  ho_client_config cfg = fl.cfg;
  const char *cache = fl.cache;
  signal(SIGPIPE, SIG_IGN);

  /* spec: CLIENT-7 READY-20 — what this endpoint offered last time */
  if (cache != NULL && cfg.handoff && cfg.backend_ready) {
    uint64_t caps = 0;
    bool found = false;
    int crc = ho_client_cache_lookup(cache, cfg.connect_path, &caps, &found);
    if (crc != HO_OK)
      fprintf(stderr, "handoff-client: cannot read --early-data-cache %s: %s\n", cache,
              ho_strerror(crc));
    if (found && (caps & HO_CAP_EARLY_DATA)) cfg.early_data = true;
    if (found && (caps & HO_CAP_EARLY_DATA) && (caps & HO_CAP_COALESCED_REPLY))
      cfg.coalesced_reply = true;
  }
  ho_client_result r;
  int rc = ho_client_connect(&cfg, &r);
  if (cache != NULL && r.negotiated_us > 0) {
    int crc = ho_client_cache_store(cache, cfg.connect_path, r.negotiated.server_capabilities);
    if (crc != HO_OK)
      fprintf(stderr, "handoff-client: cannot write --early-data-cache %s: %s\n", cache,
              ho_strerror(crc));
  }
  if (rc != HO_OK) return client_report_failure(rc, &r, fl.json);
  int status = cli_client_echo(&r, fl.message, fl.mlen, fl.count, fl.json);
  close((int)r.conn);
  return status;
}
