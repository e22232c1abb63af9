/* handoff-client — the reference client: connects to a broker, takes a
 * handoff when offered (opt-in), falls back silently to backend_pipe
 * otherwise, then talks to the echo service and reports the route taken,
 * the fallback reason and timings. spec: CLIENT-8 FALLBACK-24 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handoff/client.h"

#include "client_echo.h"

static void usage(FILE *f) {
  fputs(
      "usage: handoff-client --connect PATH --service NAME [options]\n"
      "\n"
      "Connects to a broker, negotiates, and uses the echo service on the\n"
      "connection it ends up with: the broker connection handed off to the\n"
      "backend, or a new connection to Negotiated.backend_pipe (fallback is\n"
      "never an error).\n"
      "\n"
      "  --connect PATH          broker client endpoint (Unix socket)\n"
      "  --service NAME          service name for the Hello ([a-z0-9-]{1,64})\n"
      "  --handoff               accept a handoff (sets CAP_HANDLE_PASSING)\n"
      "  --backend-ready         also set CAP_BACKEND_READY: send the request\n"
      "                          right after Negotiated, the backend writes ready\n"
      "  --early-data            send the request right after the Hello, in the\n"
      "                          same write (sets CAP_EARLY_DATA): your statement\n"
      "                          that this broker supports early data (READY-20);\n"
      "                          if it turns out not to, the request is never sent\n"
      "                          twice: error=OUTCOME_UNKNOWN when its fate is unknown\n"
      "  --coalesced-reply       with --handoff --backend-ready --early-data: also\n"
      "                          set CAP_COALESCED_REPLY, so that Negotiated, ready\n"
      "                          and the first echo arrive in one write from the\n"
      "                          backend (spec 1.0.0-rc2, READY-25..READY-34); an\n"
      "                          end without any reply is then OUTCOME_UNKNOWN\n"
      "  --early-data-cache FILE remember per broker endpoint, in FILE, what its last\n"
      "                          Negotiated offered (CLIENT-7): with --handoff\n"
      "                          --backend-ready, early data (and with it a coalesced\n"
      "                          reply) is used on an endpoint that offered it, so\n"
      "                          fresh processes need no --early-data (READY-20)\n"
      "  --message TEXT          request bytes (default \"ping\")\n"
      "  --count N               send the message N times (default 1), each\n"
      "                          echo is checked\n"
      "  --ready-timeout-ms N    ready wait (default 2000; backend-ready mode\n"
      "                          never waits less than 2000)\n"
      "  --json                  print the report as one JSON object\n"
      "  --help                  this text\n"
      "\n"
      "Output (one line): route=handoff|reconnect reason=NAME mode=... and\n"
      "timings in microseconds from connect: negotiated_us (Negotiated read),\n"
      "ready_us (ready read, 0 if none), connected_us (service connection\n"
      "ready), first_byte_us (first echo byte), total_us.\n"
      "Exit status: 0 served; 1 error (Refused, broker or backend_pipe\n"
      "unreachable, service connection failed, OUTCOME_UNKNOWN); 2 usage;\n"
      "3 echo mismatch.\n",
      f);
}

int main(int argc, char **argv) {
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  const char *message = "ping";
  long count = 1;
  int json = 0;
  const char *cache = NULL; /* --early-data-cache */
  static const struct option opts[] = {{"connect", required_argument, 0, 'c'},
                                       {"service", required_argument, 0, 's'},
                                       {"handoff", no_argument, 0, 'H'},
                                       {"backend-ready", no_argument, 0, 'B'},
                                       {"early-data", no_argument, 0, 'E'},
                                       {"coalesced-reply", no_argument, 0, 'C'},
                                       {"early-data-cache", required_argument, 0, 'K'},
                                       {"message", required_argument, 0, 'm'},
                                       {"count", required_argument, 0, 'n'},
                                       {"ready-timeout-ms", required_argument, 0, 't'},
                                       {"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},
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
    case 'K': cache = optarg; break;
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
  if (cfg.connect_path == NULL || cfg.service_name == NULL || optind != argc || mlen == 0) {
    usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  cfg.request = (const uint8_t *)message;
  cfg.request_len = mlen;

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
      /* spec: CLIENT-8 — the route actually taken, also when it then failed
       * (OUTCOME_UNKNOWN: the request may have been served; never re-sent). */
      const char *route = r.route == HO_ROUTE_HANDOFF     ? "handoff"
                          : r.route == HO_ROUTE_RECONNECT ? "reconnect"
                                                          : "none";
      if (json)
        printf("{\"ok\":false,\"route\":\"%s\",\"error\":\"%s\"}\n", route, name);
      else
        printf("route=%s error=%s\n", route, name);
    }
    if (r.diag.msg[0] != '\0')
      fprintf(stderr, "handoff-client: %s\n", r.diag.msg);
    else
      fprintf(stderr, "handoff-client: %s (%s)\n", ho_strerror(rc), name);
    return 1;
  }
  int status = cli_client_echo(&r, message, mlen, count, json != 0);
  close((int)r.conn);
  return status;
}
