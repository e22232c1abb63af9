/* handoff-conform — the --help text (see usage.h). */
#include "usage.h"

#include "conform.h"

static void indented(FILE *f, const char *text) {
  for (const char *p = text; *p; p++) {
    fputc(*p, f);
    if (*p == '\n') fputs("                         ", f);
  }
  fputc('\n', f);
}

static const char *const contract[] = {
    [CF_MODE_BACKEND] =
        "Backend mode: the runner plays the broker (an adversarial one, with named\n"
        "misbehaviours) and the client; CMD is the backend under test. The SUT:\n"
        "  - listens on {handoff_endpoint} for control connections and on {backend_pipe}\n"
        "    for clients (Unix stream sockets; the paths lie in a 0700 directory);\n"
        "  - serves the conformance test service {service} (default \"echo\"): every byte\n"
        "    read is written back, in order; when the client closes, close. Same on\n"
        "    adopted connections and on backend_pipe.\n",
    [CF_MODE_BROKER] =
        "Broker mode: the runner plays the clients and the backend (which answers\n"
        "with correct ACKs or named misbehaviours); CMD is the broker under test. The\n"
        "SUT:\n"
        "  - listens for clients on {client_endpoint} (a Unix stream socket) and accepts\n"
        "    clients of its own user;\n"
        "  - serves {service} through the backend whose handoff endpoint is\n"
        "    {handoff_endpoint} and whose own endpoint is {backend_pipe} (both the\n"
        "    runner's): it hands connections off there and sends {backend_pipe} in\n"
        "    every Negotiated; a Hello for another service is ERROR_SERVICE_UNKNOWN;\n"
        "  - is started without operator statements about that backend (the backend\n"
        "    declares itself in its ACKs), with the declared timing constants.\n",
    [CF_MODE_CLIENT] =
        "Client mode: the runner plays the broker (on {client_endpoint}) and the\n"
        "backend (the handed-off connection and backend_pipe); CMD is the client\n"
        "under test, started once per case. The SUT:\n"
        "  - connects to {client_endpoint}, sends a Hello for {service} and is served\n"
        "    by whichever route the runner chooses (the handed-off connection, or the\n"
        "    backend_pipe that Negotiated names);\n"
        "  - sends {message} once as the request (never twice, on no route), reads the\n"
        "    reply (the echo service returns the same bytes) and exits 0 once it has\n"
        "    all of it (printing it when print-reply is declared);\n"
        "  - exits non-zero on Refused, on OUTCOME_UNKNOWN and on every other failure\n"
        "    of the connection (spec/conformance.md §4).\n",
};

static const char *const placeholders[] = {
    [CF_MODE_BACKEND] =
        "  {handoff_endpoint}  HANDOFF_ENDPOINT      the handoff endpoint to listen on\n"
        "  {backend_pipe}      HANDOFF_BACKEND_PIPE  the backend_pipe to listen on\n",
    [CF_MODE_BROKER] =
        "  {client_endpoint}   HANDOFF_CLIENT_ENDPOINT  where to listen for clients\n"
        "  {handoff_endpoint}  HANDOFF_ENDPOINT      the runner's handoff endpoint\n"
        "  {backend_pipe}      HANDOFF_BACKEND_PIPE  the runner's backend_pipe\n",
    [CF_MODE_CLIENT] =
        "  {client_endpoint}   HANDOFF_CLIENT_ENDPOINT  the runner's broker endpoint\n"
        "  {message}           HANDOFF_MESSAGE       the request to send (printable)\n",
};

static void mode_section(FILE *f, int mode) {
  cf_registry_select(mode);
  fputs(contract[mode], f);
  fputs("Placeholders in ARGS (also exported as environment variables):\n", f);
  fputs(placeholders[mode], f);
  fputs("  {service}           HANDOFF_SERVICE       the service name (--service)\n"
        "  {case}              HANDOFF_CASE          the case ID\n"
        "  {dir}               HANDOFF_CONFORM_DIR   the case's private directory\n",
        f);
  for (int k = 0; k < CF_K_COUNT; k++)
    if (cf_const_in_mode(k)) {
      fprintf(f, "  {NAME} of every constant below, e.g. {%s}: HANDOFF_<NAME> (declared or default)\n",
              cf_consts[k].name);
      break;
    }
  fprintf(f, "Features (--feature NAME, repeatable; plain v1 needs none):\n");
  for (size_t i = 0; i < cf_nfeatures; i++) {
    fprintf(f, "    %-20s ", cf_features[i].name);
    indented(f, cf_features[i].help);
  }
  fprintf(f, "Constants (--constant NAME=VALUE; the SUT must honour the value it is\n"
             "started with, typically through its placeholder):\n");
  for (int k = 0; k < CF_K_COUNT; k++) {
    if (!cf_const_in_mode(k)) continue;
    fprintf(f, "    %-20s ", cf_consts[k].name);
    indented(f, cf_consts[k].help);
  }
  fputc('\n', f);
}

void cf_usage(FILE *f, int mode) {
  fprintf(f,
"Usage: handoff-conform MODE [OPTIONS] -- CMD [ARGS...]      MODE: backend, broker, client\n"
"       handoff-conform MODE [OPTIONS] --manifest FILE   (command taken from the manifest)\n"
"       handoff-conform MODE --list [--manifest FILE | --feature NAME ...]\n"
"       handoff-conform MODE --help   (the contract of one mode)\n"
"       handoff-conform decode [OPTIONS] -- CMD [ARGS...]   the decoder oracle (decode --help)\n"
"\n"
"Conformance runner for the handoff wire v1 spec (revision %s), suite %s.\n"
"Every case starts a fresh SUT in a private 0700 directory, in its own process\n"
"group, waits (bounded) until it is ready, runs, checks, and stops it (SIGTERM\n"
"to the group, SIGKILL after the grace period). Verdicts come from what the\n"
"runner observes, never from what the SUT reports.\n"
"\n"
"Every SUT stays in its process group (no setsid/daemon), logs to stdout/stderr\n"
"(the runner keeps the output and shows it in traces), and may exit with status\n"
"%d when it does not implement the case in $HANDOFF_CASE (verdict UNIMPLEMENTED:\n"
"a failure unless --allow-unimplemented); HANDOFF_UNIMPLEMENTED_EXIT=%d is set.\n"
"\n",
          cf_spec_revision, CF_SUITE_VERSION, CF_UNIMPLEMENTED_EXIT, CF_UNIMPLEMENTED_EXIT);
  for (int m = CF_MODE_BACKEND; m <= CF_MODE_CLIENT; m++)
    if (mode == 0 || mode == m) mode_section(f, m);
  cf_registry_select(mode ? mode : CF_MODE_BACKEND);
  fputs(
"Declarations are never inferred from the wire: a case that needs an\n"
"undeclared feature or constant is SKIP (not declared).\n"
"\n"
"Options:\n"
"  --manifest FILE        declarations (and optionally the command) as JSON:\n"
"                         {\"manifest\":1, \"name\":\"..\", \"mode\":\"backend\",\n"
"                          \"features\":[..], \"constants\":{..}, \"service\":\"echo\",\n"
"                          \"command\":[\"prog\",\"{handoff_endpoint}\",..]}\n"
"                         unknown keys are errors; keys \"$..\"/\"x-..\" are ignored\n"
"  --feature NAME         declare a feature (adds to the manifest's)\n"
"  --constant NAME=VALUE  declare a constant (overrides the manifest's)\n"
"  --service NAME         service name offered and passed as {service} (echo)\n"
"  --run PATTERN          run only matching cases (repeatable)\n"
"  --skip PATTERN         do not run matching cases (repeatable)\n"
"                         PATTERN: a case ID, an area (\"backend.descriptor\"),\n"
"                         or a glob (\"backend.*.stall-*\")\n"
"  --list                 list the cases (ID, requirement IDs, what they need)\n"
"  --list-json            the same as JSON (with each case's no-mutant reason)\n"
"  --expect-fail FILE     expected failures, one per line: PATTERN reason; checked\n"
"                         both ways: an unlisted failure, a listed case that passes\n"
"                         or is skipped, and an entry that matches no case all\n"
"                         fail the run\n"
"  --allow-unimplemented  UNIMPLEMENTED (exit 89) does not fail the run\n"
"  --junit FILE           JUnit XML (schema: conformance/runner/junit.xsd)\n"
"  --json FILE            JSON report (suite and spec revision, SUT, declarations,\n"
"                         per case: verdict, requirement IDs, duration, trace)\n"
"  --trace DIR            write every case's wire trace to DIR/<case>.trace;\n"
"                         without it, failures still get one in\n"
"                         ./handoff-conform-traces/\n"
"  --failure-traces DIR   where failures' traces go without --trace\n"
"  -x, --fail-fast        stop at the first unexpected result\n"
"  --start-timeout-ms N   wait for the SUT's endpoints at most N ms (15000)\n"
"  --grace-ms N           SIGTERM to SIGKILL grace period (1000)\n"
"  --tmpdir DIR           where the per-case directories go ($TMPDIR or /tmp)\n"
"  --keep-dirs            keep the per-case directories (debugging)\n"
"  -v, --verbose          echo the trace notes on stderr as cases run\n"
"  -q, --quiet            print only failures and the summary\n"
"  --self-check           check the runner's own encoder against the library\n"
"  --version, --help\n"
"\n"
"Verdicts: PASS; FAIL (Expected/Actual and the requirement sentence are shown);\n"
"SKIP (not declared, or the environment cannot run it); UNIMPLEMENTED (exit 89);\n"
"CRASH (the SUT died during the case, or a client SUT was killed by a signal);\n"
"TIMEOUT (the SUT stopped answering, or the case overran the watchdog); ERROR\n"
"(the runner itself could not proceed). Every case ends with checks of its\n"
"own: a backend or broker SUT still serves (ERR-4: backend_pipe echoes, a Hello\n"
"is answered); nothing the runner passed, and no SUT end of a connection the\n"
"runner closed, is still open in the SUT's process group (ERR-1, BROKER-4;\n"
"/proc/PID/fd, by device and inode); no token of the case appears in the SUT's\n"
"output (SEC-8).\n"
"\n"
"Output: a tree of cases on stdout, the last line \"N passed, N failed, N skipped\".\n"
"Exit status: 0 when no result is unexpected, 1 otherwise (or when the SUT\n"
"never starts), 2 on a usage error.\n",
      f);
}
