/* handoff-client.exe — the reference client on Windows: the shared client
 * core (handoff/client.h, ho_client_connect on named pipes) with the Linux
 * program's flags, decisions and report line: connects to a broker's pipe,
 * takes a handoff when offered (--handoff), falls back silently to
 * backend_pipe otherwise, never sends a request twice (READY-21), then
 * talks to the echo service. spec: CLIENT-8 FALLBACK-24 READY-21 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/client.h"
#include "handoff/winpipe.h"

#include "../client_echo.h"

static void usage(FILE *f) {
  fputs("usage: handoff-client.exe --connect NAME --service NAME [--handoff]\n"
        "                          [--backend-ready] [--early-data] [--coalesced-reply]\n"
        "                          [--message TEXT]\n"
        "                          [--count N] [--ready-timeout-ms N] [--json]\n"
        "NAME is a bare pipe name. The flags and the report mean what they mean on Linux:\n"
        "route=handoff|reconnect reason=NAME mode=... negotiated_us=... ready_us=...\n"
        "Exit status: 0 served; 1 error (Refused, unreachable, OUTCOME_UNKNOWN); 2 usage;\n"
        "3 echo mismatch.\n",
        f);
}

int main(int argc, char **argv) {
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  const char *message = "ping";
  long count = 1;
  int json = 0;
  static const struct option opts[] = {{"connect", 1, 0, 'c'},       {"service", 1, 0, 's'},
                                       {"handoff", 0, 0, 'H'},       {"backend-ready", 0, 0, 'B'},
                                       {"early-data", 0, 0, 'E'},    {"message", 1, 0, 'm'},
                                       {"coalesced-reply", 0, 0, 'C'},
                                       {"count", 1, 0, 'n'},         {"ready-timeout-ms", 1, 0, 't'},
                                       {"json", 0, 0, 'j'},          {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
  int o;
  char *end;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 'c': cfg.connect_path = optarg; break;
    case 's': cfg.service_name = optarg; break;
    case 'H': cfg.handoff = true; break;
    case 'B': cfg.backend_ready = true; break;
    case 'E': cfg.early_data = true; break;
    case 'C': cfg.coalesced_reply = true; break;
    case 'm': message = optarg; break;
    case 'n':
      count = strtol(optarg, &end, 10);
      if (*end || count < 1 || count > 1000000) {
        fprintf(stderr, "handoff-client: --count must be 1..1000000\n");
        return 2;
      }
      break;
    case 't': {
      long v = strtol(optarg, &end, 10);
      if (*end || v < 1 || v > 3600000) {
        fprintf(stderr, "handoff-client: --ready-timeout-ms must be 1..3600000\n");
        return 2;
      }
      cfg.ready_timeout_ms = (uint32_t)v;
      break;
    }
    case 'j': json = 1; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  size_t mlen = strlen(message);
  if (!cfg.connect_path || !cfg.service_name || optind != argc || mlen == 0) {
    usage(stderr);
    return 2;
  }
  cfg.request = (const uint8_t *)message;
  cfg.request_len = mlen;
  ho_client_result r;
  int rc = ho_client_connect(&cfg, &r);
  if (rc != HO_OK) {
    const char *name = ho_errname(rc) ? ho_errname(rc) : "UNKNOWN";
    if (rc == HO_ERR_REFUSED) { /* spec: CLIENT-3 — with its code and reason */
      for (char *p = r.refused.reason; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '?';
      if (json)
        printf("{\"ok\":false,\"error\":\"REFUSED\",\"code\":%u,\"reason\":\"%s\"}\n",
               r.refused.code, r.refused.reason);
      else
        printf("route=none error=REFUSED code=%u reason=\"%s\"\n", r.refused.code, r.refused.reason);
    } else {
      /* spec: CLIENT-8 — the route actually taken, also when it then failed */
      const char *route = r.route == HO_ROUTE_HANDOFF     ? "handoff"
                          : r.route == HO_ROUTE_RECONNECT ? "reconnect"
                                                          : "none";
      if (json) printf("{\"ok\":false,\"route\":\"%s\",\"error\":\"%s\"}\n", route, name);
      else printf("route=%s error=%s\n", route, name);
    }
    if (r.diag.msg[0] != '\0')
      fprintf(stderr, "handoff-client: %s\n", r.diag.msg);
    else
      fprintf(stderr, "handoff-client: %s (%s)\n", ho_strerror(rc), name);
    return 1;
  }
  int status = cli_client_echo(&r, message, mlen, count, json != 0);
  ho_win_close(r.conn);
  return status;
}
