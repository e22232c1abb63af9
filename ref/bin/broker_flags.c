/* handoff-broker — the flags of the Unix and the Windows program (see
 * broker_flags.h): the table below makes getopt's table and --help, and
 * --help makes the man page (mk/man.mk). */
#include "broker_flags.h"

#include <string.h>

#include "cli.h"
#if defined(_WIN32)
#include "handoff/winpipe.h"
#else
#include "handoff/transport.h"
#endif

const char *const broker_prog_name = "handoff-broker";

enum {
  F_LISTEN = 'l', F_ENDPOINT = 'e', F_PIPE = 'p', F_SERVICE = 's', F_ACK = 'a', F_TTL = 't',
  F_PENDING = 'm', F_READY = 'r', F_COALESCED = 'Q', F_MULTI = 'M', F_CONTROLS = 'C',
  F_WAITING = 'W', F_HELLO_TIMEOUT = 'H', F_PEER = 'u', F_BACKEND_UID = 'B', F_RATE = 'R',
  F_WINDOW = 'F', F_QUEUE_TTL = 'q', F_LEVEL = 'v'
};

static const cli_opt opts[] = {
    {"listen", "PATH", F_LISTEN, CLI_BOTH, "client endpoint (Unix socket; parent dir created 0700)"},
    {"handoff-endpoint", "PATH", F_ENDPOINT, CLI_BOTH,
     "the backend's handoff endpoint (control connection);\nwithout it no handoff is attempted"},
    {"backend-pipe", "PATH", F_PIPE, CLI_BOTH, "the backend's own endpoint, sent in every Negotiated"},
    {"service", "NAME", F_SERVICE, CLI_BOTH, "the service served, [a-z0-9-]{1,64} (default: echo)"},
    {"ack-timeout-ms", "N", F_ACK, CLI_BOTH,
     "ACK deadline after the offer (default 1500; a legacy\n"
     "attempt never waits past 1500 ms after Negotiated)"},
    {"token-ttl-ms", "N", F_TTL, CLI_BOTH, "token lifetime (default and at most 30000)"},
    {"max-pending", "N", F_PENDING, CLI_BOTH, "cap on pending tokens (default 1024)"},
    {"backend-ready", NULL, F_READY, CLI_BOTH,
     "accepted for old scripts, no effect: since spec\n"
     "1.0.0-rc2 backend-ready mode is used only once the\n"
     "backend declares it in an ACK on the control connection\n"
     "(READY-36); an operator's statement could be wrong"},
    {"backend-coalesced", NULL, F_COALESCED, CLI_UNIX_ONLY,
     "the backend is known to implement coalesced reply (spec\n"
     "1.0.0-rc2): clients that ask for it get Negotiated, ready\n"
     "and their first response in one write from the backend\n"
     "from the first offer on (otherwise once an ACK declares\n"
     "BACKEND_CAP_COALESCED_REPLY); an ACK that proves it wrong\n"
     "switches the statement off (READY-25, READY-30)"},
    {"backend-multi-offer", NULL, F_MULTI, CLI_BOTH,
     "the backend is known to keep control connections: pipeline\n"
     "offers from the start (otherwise one offer per connection\n"
     "until an ACK declares BACKEND_CAP_MULTI_OFFER)"},
    {"max-controls", "N", F_CONTROLS, CLI_BOTH, "control connections open at once (1..4096, default 16)"},
    {"max-hello-waiting", "N", F_WAITING, CLI_BOTH,
     "clients still sending their Hello (default 4096); when\n"
     "full the oldest is closed, above half of it a Hello\n"
     "is due within 1 s"},
    {"hello-timeout-ms", "N", F_HELLO_TIMEOUT, CLI_BOTH, "wait for a complete Hello (default 30000)"},
    {"peer-uid", "any|same|UID", F_PEER, CLI_BOTH,
     "which local users may connect as clients (default: same;\nWindows: any or same)"},
    {"backend-uid", "any|same|UID", F_BACKEND_UID, CLI_UNIX_ONLY,
     "which user must serve the handoff endpoint before a\n"
     "client's descriptor and token go there (default: same;\n"
     "independent of --peer-uid)"},
    {"hello-rate", "N", F_RATE, CLI_BOTH,
     "Hellos per second per client process (OS pid); more are\n"
     "refused with ERROR_RATE_LIMITED and retry_after_ms\n"
     "(default 256; 0 = unlimited)"},
    {"failure-window-ms", "N", F_WINDOW, CLI_BOTH,
     "window of the failed-attempt limit (FALLBACK-7): after 8\n"
     "failed handoffs to the backend within it, clients go to\n"
     "--backend-pipe without an attempt until it ends\n"
     "(default 30000)"},
    {"queue-ttl-ms", "N", F_QUEUE_TTL, CLI_BOTH,
     "PENDING_QUEUE_TTL (FALLBACK-12): how long a handoff may\n"
     "wait in the pending queue for a control connection before\n"
     "it falls back as QUEUE_TIMEOUT (1..30000, default 100)"},
    CLI_OPT_LOG_LEVEL(F_LEVEL),
    {0, 0, 0, 0, 0}};

#if defined(_WIN32)
#define ABOUT                                                                              \
  "Reference broker (Windows): hands each opted-in client pipe to the backend with\n"      \
  "DuplicateHandle; on any failure the client falls back to --backend-pipe. PATH is a\n"  \
  "bare pipe name (\\\\.\\pipe\\PATH locally); every endpoint is owner-only.\n"
#define MORE CLI_LOG_TIME_DOC
#define EXITS                                                                              \
  "Exit status:\n"                                                                         \
  "  0  --help, --version (the broker serves until it is stopped)\n"                       \
  "  1  set-up failure (cannot listen, out of memory)\n"                                   \
  "  2  usage error\n"
#else
#define ABOUT                                                                                \
  "Accept clients on a Unix socket, negotiate (Hello -> Negotiated/Refused) and hand\n"      \
  "each opted-in client connection to the backend with SCM_RIGHTS; on any failure\n"        \
  "the client falls back to --backend-pipe.\n"
#define MORE                                                                                 \
  "Signals:\n"                                                                               \
  "  SIGUSR1 prints the counters; SIGTERM/SIGINT shut down cleanly (sockets\n"              \
  "  unlinked, descriptors closed, tokens revoked) and print them.\n"                       \
  "\n" CLI_COUNTERS_DOC "\n" CLI_LOG_TIME_DOC
#define EXITS                                                                                \
  "Exit status:\n"                                                                           \
  "  0  clean shutdown after SIGTERM/SIGINT; --help, --version\n"                            \
  "  1  set-up failure (cannot listen, out of memory)\n"                                     \
  "  2  usage error\n"
#endif

static const cli_prog prog = {
    "handoff-broker",
    "--listen PATH --backend-pipe PATH [--handoff-endpoint PATH] [options]",
    ABOUT, opts, MORE, EXITS};


static int on_opt(void *ctx, int id, const char *arg) {
  broker_flags *f = ctx;
  const char *const me = prog.name;
  uint64_t v;
  switch (id) {
  case F_LISTEN: f->listen = arg; break;
  case F_ENDPOINT: f->endpoint = arg; break;
  case F_PIPE: f->backend_pipe = arg; break;
  case F_SERVICE: f->service = arg; break;
  case F_ACK:
    if (cli_number(me, "--ack-timeout-ms", arg, 1, 86400000u, &v)) return CLI_EXIT_USAGE;
    f->cfg.ack_timeout_ms = v;
    break;
  case F_TTL:
    if (cli_number(me, "--token-ttl-ms", arg, 1, 30000, &v)) return CLI_EXIT_USAGE; /* TOKEN_TTL_MAX */
    f->cfg.token_ttl_ms = v;
    break;
  case F_PENDING:
    if (cli_number(me, "--max-pending", arg, 1, 86400000u, &v)) return CLI_EXIT_USAGE;
    f->cfg.max_pending = (uint32_t)v;
    break;
  case F_COALESCED: f->cfg.backend_coalesced = true; break; /* spec: READY-25 */
  case F_READY: /* spec: READY-36 — a statement is not a declaration */
    fprintf(stderr, "%s: --backend-ready has no effect since spec 1.0.0-rc2: "
                    "backend-ready mode is used once the backend declares it (READY-36)\n", me);
    break;
  case F_MULTI: f->cfg.backend_multi_offer = true; break; /* spec: XFER-37 */
  case F_WAITING:
    if (cli_number(me, "--max-hello-waiting", arg, 1, 86400000u, &v)) return CLI_EXIT_USAGE;
    f->cfg.max_hello_waiting = (uint32_t)v;
    break;
  case F_HELLO_TIMEOUT:
    if (cli_number(me, "--hello-timeout-ms", arg, 1, 86400000u, &v)) return CLI_EXIT_USAGE;
    f->cfg.hello_timeout_ms = v;
    break;
  case F_WINDOW:
    if (cli_number(me, "--failure-window-ms", arg, 1, 86400000u, &v)) return CLI_EXIT_USAGE;
    f->cfg.failure_window_ms = v; /* spec: FALLBACK-7 */
    break;
  case F_QUEUE_TTL:
    if (cli_number(me, "--queue-ttl-ms", arg, 1, 30000u, &v)) return CLI_EXIT_USAGE;
    f->cfg.queue_ttl_ms = v; /* spec: FALLBACK-12 */
    break;
  case F_CONTROLS:
    if (cli_number(me, "--max-controls", arg, 1, 4096, &v)) return CLI_EXIT_USAGE;
    f->cfg.max_controls = (uint32_t)v;
    break;
  case F_RATE: /* spec: HELLO-14 */
    if (cli_number(me, "--hello-rate", arg, 0, HO_BROKER_HELLO_RATE_UNLIMITED - 1, &v)) return CLI_EXIT_USAGE;
    f->cfg.hello_rate = v == 0 ? HO_BROKER_HELLO_RATE_UNLIMITED : (uint32_t)v;
    break;
  case F_BACKEND_UID:
    if (ho_peer_policy_parse(arg, &f->backend_policy, &f->backend_uid) != HO_OK)
      return cli_usage_error(me, "--backend-uid must be any, same or a uid, got '%s'", arg);
    break;
  case F_PEER: {
    uid_t uid = 0;
    if (ho_peer_policy_parse(arg, &f->cfg.peer_policy, &uid) != HO_OK)
      return cli_usage_error(me, "--peer-uid must be any, same or a uid, got '%s'", arg);
    f->cfg.peer_uid = (uint32_t)uid;
    break;
  }
  case F_LEVEL: {
    int lv = cli_level(arg);
    if (lv < 0) return cli_usage_error(me, "--log-level must be error, warn, info or debug, got '%s'", arg);
    f->cfg.log_level = lv;
    break;
  }
  default: return cli_usage_error(me, "unhandled option");
  }
  return 0;
}

int broker_flags_parse(broker_flags *f, int argc, char **argv) {
  memset(f, 0, sizeof *f);
  ho_broker_config_init(&f->cfg);
  f->service = "echo";
  f->cfg.log_level = HO_BROKER_LOG_INFO;
  f->backend_policy = HO_PEER_SAME_UID; /* spec: SEC-10 */
  int st = cli_parse(&prog, argc, argv, on_opt, f);
  if (st >= 0) return st;
  const char *const me = prog.name;
  if (f->listen == NULL) return cli_missing(me, "listen");
  if (f->backend_pipe == NULL) return cli_missing(me, "backend-pipe");
  return -1;
}
