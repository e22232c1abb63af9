/* handoff-client — the flags and the failure report of the Unix and the
 * Windows program (see client_flags.h): the table below makes getopt's
 * table and --help, and --help makes the man page (mk/man.mk). */
#include "client_flags.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

enum {
  F_CONNECT = 'c', F_SERVICE = 's', F_HANDOFF = 'H', F_READY = 'B', F_EARLY = 'E',
  F_COALESCED = 'C', F_CACHE = 'K', F_MESSAGE = 'm', F_COUNT = 'n', F_TIMEOUT = 't', F_JSON = 'j'
};

static const cli_opt opts[] = {
    {"connect", "PATH", F_CONNECT, CLI_BOTH, "broker client endpoint (Unix socket; Windows: pipe name)"},
    {"service", "NAME", F_SERVICE, CLI_BOTH, "service name for the Hello ([a-z0-9-]{1,64})"},
    {"handoff", NULL, F_HANDOFF, CLI_BOTH, "accept a handoff (sets CAP_HANDLE_PASSING)"},
    {"backend-ready", NULL, F_READY, CLI_BOTH,
     "also set CAP_BACKEND_READY: send the request\n"
     "right after Negotiated, the backend writes ready"},
    {"early-data", NULL, F_EARLY, CLI_BOTH,
     "send the request right after the Hello, in the\n"
     "same write (sets CAP_EARLY_DATA): your statement\n"
     "that this broker supports early data (READY-20);\n"
     "if it turns out not to, the request is never sent\n"
     "twice: error=OUTCOME_UNKNOWN when its fate is unknown"},
    {"coalesced-reply", NULL, F_COALESCED, CLI_BOTH,
     "with --handoff --backend-ready --early-data: also\n"
     "set CAP_COALESCED_REPLY, so that Negotiated, ready\n"
     "and the first echo arrive in one write from the\n"
     "backend (spec 1.0.0-rc2, READY-25..READY-34); an\n"
     "end without any reply is then OUTCOME_UNKNOWN"},
    {"early-data-cache", "FILE", F_CACHE, CLI_UNIX_ONLY,
     "remember per broker endpoint, in FILE, what its last\n"
     "Negotiated offered (CLIENT-7): with --handoff\n"
     "--backend-ready, early data (and with it a coalesced\n"
     "reply) is used on an endpoint that offered it, so\n"
     "fresh processes need no --early-data (READY-20)"},
    {"message", "TEXT", F_MESSAGE, CLI_BOTH, "request bytes (default \"ping\")"},
    {"count", "N", F_COUNT, CLI_BOTH,
     "send the message N times (1..1000000, default 1),\neach echo is checked"},
    {"ready-timeout-ms", "N", F_TIMEOUT, CLI_BOTH,
     "ready wait (1..3600000, default 2000; backend-ready\nmode never waits less than 2000)"},
    {"json", NULL, F_JSON, CLI_BOTH, "print the report as one JSON object"},
    {0, 0, 0, 0, 0}};

static const cli_prog prog = {
    "handoff-client", "--connect PATH --service NAME [options]",
    "Connects to a broker, negotiates, and uses the echo service on the\n"
    "connection it ends up with: the broker connection handed off to the\n"
    "backend, or a new connection to Negotiated.backend_pipe (fallback is\n"
    "never an error).\n",
    opts,
    "Output:\n"
    "  One line: route=handoff|reconnect reason=NAME mode=... and timings in\n"
    "  microseconds from connect: negotiated_us (Negotiated read), ready_us\n"
    "  (ready read, 0 if none), connected_us (service connection ready),\n"
    "  first_byte_us (first echo byte), total_us; on failure route=ROUTE\n"
    "  error=NAME on stdout and the reason on stderr.\n",
    "Exit status:\n"
    "  0  served; --help, --version\n"
    "  1  error (Refused, broker or backend_pipe unreachable, service connection\n"
    "     failed, OUTCOME_UNKNOWN)\n"
    "  2  usage error\n"
    "  3  echo mismatch\n"};

static int on_opt(void *ctx, int id, const char *arg) {
  client_flags *f = ctx;
  const char *const me = prog.name;
  uint64_t v;
  switch (id) {
  case F_CONNECT: f->cfg.connect_path = arg; break;
  case F_SERVICE: f->cfg.service_name = arg; break;
  case F_HANDOFF: f->cfg.handoff = true; break;
  case F_READY: f->cfg.backend_ready = true; break;
  case F_EARLY: f->cfg.early_data = true; break;
  case F_COALESCED: f->cfg.coalesced_reply = true; break;
  case F_CACHE: f->cache = arg; break;
  case F_MESSAGE: f->message = arg; break;
  case F_JSON: f->json = true; break;
  case F_COUNT:
    if (cli_number(me, "--count", arg, 1, 1000000, &v)) return CLI_EXIT_USAGE;
    f->count = (long)v;
    break;
  case F_TIMEOUT:
    if (cli_number(me, "--ready-timeout-ms", arg, 1, 3600000, &v)) return CLI_EXIT_USAGE;
    f->cfg.ready_timeout_ms = (uint32_t)v;
    break;
  default: return cli_usage_error(me, "unhandled option");
  }
  return 0;
}

int client_flags_parse(client_flags *f, int argc, char **argv) {
  memset(f, 0, sizeof *f);
  ho_client_config_init(&f->cfg);
  f->message = "ping";
  f->count = 1;
  int st = cli_parse(&prog, argc, argv, on_opt, f);
  if (st >= 0) return st;
  const char *const me = prog.name;
  if (f->cfg.connect_path == NULL) return cli_missing(me, "connect");
  if (f->cfg.service_name == NULL) return cli_missing(me, "service");
  f->mlen = strlen(f->message);
  if (f->mlen == 0) return cli_usage_error(me, "--message must not be empty");
  f->cfg.request = (const uint8_t *)f->message;
  f->cfg.request_len = f->mlen;
  return -1;
}

int client_report_failure(int rc, ho_client_result *r, bool json) {
  const char *name = ho_errname(rc) ? ho_errname(rc) : "UNKNOWN";
  if (rc == HO_ERR_REFUSED) { /* spec: CLIENT-3 — with its code and reason */
    for (char *p = r->refused.reason; *p; p++)
      if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '?';
    if (json)
      printf("{\"ok\":false,\"error\":\"REFUSED\",\"code\":%u,\"reason\":\"%s\"}\n",
             r->refused.code, r->refused.reason);
    else
      printf("route=none error=REFUSED code=%u reason=\"%s\"\n", r->refused.code, r->refused.reason);
  } else {
    /* spec: CLIENT-8 — the route actually taken, also when it then failed
     * (OUTCOME_UNKNOWN: the request may have been served; never re-sent). */
    const char *route = r->route == HO_ROUTE_HANDOFF     ? "handoff"
                        : r->route == HO_ROUTE_RECONNECT ? "reconnect"
                                                         : "none";
    if (json)
      printf("{\"ok\":false,\"route\":\"%s\",\"error\":\"%s\"}\n", route, name);
    else
      printf("route=%s error=%s\n", route, name);
  }
  if (r->diag.msg[0] != '\0')
    fprintf(stderr, "%s: %s\n", prog.name, r->diag.msg);
  else
    fprintf(stderr, "%s: %s (%s)\n", prog.name, ho_strerror(rc), name);
  return 1;
}
