/* handoff-backend — the flags of the Unix and the Windows program (see
 * backend_flags.h): the table below makes getopt's table and --help, and
 * --help makes the man page (mk/man.mk). */
#include "backend_flags.h"

#include <string.h>

#include "cli.h"

enum {
  F_ENDPOINT = 'e', F_PIPE = 'p', F_SERVICE = 's', F_READY = 'r', F_OFFER = 'o', F_REPLAY = 'R',
  F_CONTROLS = 'C', F_TAKEOVER = 'T', F_DRAIN = 'D', F_EXEC = 'x', F_FAULT = 'f', F_LEVEL = 'l'
};

static const cli_opt opts[] = {
    {"handoff-endpoint", "PATH", F_ENDPOINT, CLI_BOTH,
     "endpoint for broker control connections\n"
     "(Unix: directory created 0700, socket 0600; only\n"
     "peers of our own uid are accepted)"},
    {"backend-pipe", "PATH", F_PIPE, CLI_BOTH, "endpoint for clients that reconnect"},
    {"service", "NAME", F_SERVICE, CLI_BOTH,
     "refuse offers for any other service_name\n(default: accept any)"},
    {"ready-mode", "MODE", F_READY, CLI_BOTH,
     "legacy (default): the broker writes the ready\n"
     "frame, we never write before reading client\n"
     "bytes; backend: for offers flagged backend-ready\n"
     "we write the ready frame first, and every ACK\n"
     "declares BACKEND_CAP_BACKEND_READY"},
    {"offer-timeout-ms", "N", F_OFFER, CLI_BOTH,
     "longest wait from the first byte of a handoff to\n"
     "the end of its offer (1..600000, default 2000,\n"
     "OFFER_TIMEOUT); a stalled offer closes the\n"
     "control connection"},
    {"replay-capacity", "N", F_REPLAY, CLI_UNIX_ONLY,
     "most accepted tokens remembered against replay\n"
     "(default 65536); when full, offers are refused\n"
     "with PENDING_LIMIT (TOKEN-18)"},
    {"max-controls", "N", F_CONTROLS, CLI_UNIX_ONLY,
     "control connections served at once (default 64);\n"
     "more are closed before anything is read"},
    {"takeover", NULL, F_TAKEOVER, CLI_UNIX_ONLY,
     "take the endpoints over from a running backend\n"
     "(atomic rename); then send it SIGUSR2 to drain"},
    {"drain-timeout-ms", "N", F_DRAIN, CLI_UNIX_ONLY, "longest drain after SIGUSR2 (default 10000)"},
    {"exec-log", "FILE", F_EXEC, CLI_UNIX_ONLY,
     "append one line per request served\n(route<TAB>request line) to FILE"},
    {"fault", "KIND", F_FAULT, CLI_BOTH,
     "test fault injection: refuse, crash-before-ack\n"
     "(exit status 3 after reading an offer, before\n"
     "the ACK), late-ack:MS, wrong-token,\n"
     "wrong-correlation, close-control"},
    CLI_OPT_LOG_LEVEL(F_LEVEL),
    {0, 0, 0, 0, 0}};

#if defined(_WIN32)
#define ABOUT                                                                       \
  "Reference backend (Windows): adopts client pipes handed off by a broker\n"       \
  "(DuplicateHandle) and serves an echo service on adopted and reconnected\n"      \
  "connections alike. PATH is a bare pipe name (\\\\.\\pipe\\PATH locally);\n"     \
  "every endpoint is owner-only.\n"
#define MORE CLI_LOG_TIME_DOC
#define EXITS                                                                       \
  "Exit status:\n"                                                                  \
  "  0  --help, --version (the backend serves until it is stopped)\n"               \
  "  1  set-up failure (cannot listen)\n"                                           \
  "  2  usage error\n"                                                              \
  "  3  --fault crash-before-ack fired\n"
#else
#define ABOUT                                                                       \
  "Reference backend: adopts client connections handed off by a broker and\n"      \
  "serves an echo service (every byte read is written back; EOF closes) on\n"      \
  "adopted and reconnected connections alike.\n"
#define MORE                                                                        \
  "Sockets appear atomically (bound under a temporary name, then renamed),\n"      \
  "so once both paths exist the backend accepts connections.\n"                    \
  "\n"                                                                              \
  "Signals:\n"                                                                      \
  "  SIGTERM/SIGINT clean shutdown (sockets unlinked, descriptors closed,\n"       \
  "  counters printed); SIGUSR1 prints the counters; SIGUSR2 drains: queued\n"    \
  "  clients are served, new offers refused with DRAINING, the endpoints\n"        \
  "  closed, exit 0 once idle. A restart without a lost client: start the new\n"  \
  "  backend with --takeover, then SIGUSR2 the old.\n"                             \
  "\n" CLI_COUNTERS_DOC "\n" CLI_LOG_TIME_DOC
#define EXITS                                                                       \
  "Exit status:\n"                                                                  \
  "  0  clean shutdown after SIGTERM/SIGINT, or a finished drain; --help, --version\n" \
  "  1  set-up failure (cannot listen, cannot open --exec-log)\n"                   \
  "  2  usage error\n"                                                              \
  "  3  --fault crash-before-ack fired\n"
#endif

static const cli_prog prog = {"handoff-backend",
                              "--handoff-endpoint PATH --backend-pipe PATH [options]", ABOUT,
                              opts, MORE, EXITS};

static int on_opt(void *ctx, int id, const char *arg) {
  backend_flags *f = ctx;
  const char *const me = prog.name;
  uint64_t v;
  switch (id) {
  case F_ENDPOINT: f->endpoint = arg; break;
  case F_PIPE: f->pipe = arg; break;
  case F_SERVICE: f->service = arg; break;
  case F_EXEC: f->exec_log = arg; break;
  case F_TAKEOVER: f->takeover = true; break;
  case F_READY:
    if (strcmp(arg, "legacy") == 0) f->cfg.ready_mode = HO_READY_LEGACY;
    else if (strcmp(arg, "backend") == 0) f->cfg.ready_mode = HO_READY_BACKEND;
    else return cli_usage_error(me, "--ready-mode must be legacy or backend, got '%s'", arg);
    break;
  case F_FAULT:
    if (ho_backend_fault_parse(arg, &f->cfg.fault, &f->cfg.fault_ms) != HO_OK)
      return cli_usage_error(me, "unknown --fault '%s'", arg);
    break;
  case F_LEVEL:
    if ((f->log_level = cli_level(arg)) < 0)
      return cli_usage_error(me, "--log-level must be error, warn, info or debug, got '%s'", arg);
    break;
  case F_OFFER:
    if (cli_number(me, "--offer-timeout-ms", arg, 1, 600000, &v)) return CLI_EXIT_USAGE;
    f->cfg.offer_timeout_ms = (uint32_t)v;
    break;
  case F_REPLAY:
    if (cli_number(me, "--replay-capacity", arg, 1, 16777216, &v)) return CLI_EXIT_USAGE;
    f->cfg.replay_capacity = (uint32_t)v;
    break;
  case F_CONTROLS:
    if (cli_number(me, "--max-controls", arg, 1, 3600000, &v)) return CLI_EXIT_USAGE;
    f->max_ctl = (size_t)v;
    break;
  case F_DRAIN:
    if (cli_number(me, "--drain-timeout-ms", arg, 1, 3600000, &v)) return CLI_EXIT_USAGE;
    f->drain_ms = (uint32_t)v;
    break;
  default: return cli_usage_error(me, "unhandled option");
  }
  return 0;
}

int backend_flags_parse(backend_flags *f, int argc, char **argv) {
  memset(f, 0, sizeof *f);
  ho_backend_config_init(&f->cfg);
  f->log_level = 2; /* info */
  f->max_ctl = 64;
  f->drain_ms = 10000;
  int st = cli_parse(&prog, argc, argv, on_opt, f);
  if (st >= 0) return st;
  const char *const me = prog.name;
  if (f->endpoint == NULL) return cli_missing(me, "handoff-endpoint");
  if (f->pipe == NULL) return cli_missing(me, "backend-pipe");
  return -1;
}
