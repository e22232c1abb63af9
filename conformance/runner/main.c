/* handoff-conform — the conformance runner's command line.
 *
 *   handoff-conform backend|broker|client [OPTIONS] -- CMD [ARGS...]
 *
 * See usage.c for the whole contract; conformance/README.md says the same
 * in one page. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h" /* ref/bin: error prefix, usage errors */
#include "conform.h"
#include "decode.h"
#include "handoff/version.h"
#include "expect.h"
#include "manifest.h"
#include "pb.h"
#include "report.h"
#include "run.h"
#include "sut.h"
#include "usage.h"

static const char *const short_opts = "+:xvqh"; /* "+": CMD and its options are not ours */
enum {
  O_MANIFEST = 256, O_FEATURE, O_CONSTANT, O_SERVICE, O_RUN, O_SKIP, O_LIST, O_LIST_JSON,
  O_EXPECT, O_ALLOW, O_JUNIT, O_JSON, O_TRACE, O_START, O_GRACE, O_TMPDIR, O_KEEP, O_VERSION,
  O_SELFCHECK, O_FTRACE
};
static const struct option long_opts[] = {
    {"manifest", required_argument, 0, O_MANIFEST},   {"feature", required_argument, 0, O_FEATURE},
    {"constant", required_argument, 0, O_CONSTANT},   {"service", required_argument, 0, O_SERVICE},
    {"run", required_argument, 0, O_RUN},             {"skip", required_argument, 0, O_SKIP},
    {"list", no_argument, 0, O_LIST},                 {"list-json", no_argument, 0, O_LIST_JSON},
    {"expect-fail", required_argument, 0, O_EXPECT},  {"allow-unimplemented", no_argument, 0, O_ALLOW},
    {"junit", required_argument, 0, O_JUNIT},         {"json", required_argument, 0, O_JSON},
    {"trace", required_argument, 0, O_TRACE},         {"start-timeout-ms", required_argument, 0, O_START},
    {"grace-ms", required_argument, 0, O_GRACE},      {"tmpdir", required_argument, 0, O_TMPDIR},
    {"keep-dirs", no_argument, 0, O_KEEP},            {"fail-fast", no_argument, 0, 'x'},
    {"verbose", no_argument, 0, 'v'},                 {"quiet", no_argument, 0, 'q'},
    {"help", no_argument, 0, 'h'},                    {"version", no_argument, 0, O_VERSION},
    {"self-check", no_argument, 0, O_SELFCHECK},      {"failure-traces", required_argument, 0, O_FTRACE},
    {0, 0, 0, 0}};

/* One line and "Try 'handoff-conform --help'." (ref/bin/cli.c), exit 2. */
static int usage_error(const char *fmt, const char *arg) {
  char msg[600];
  snprintf(msg, sizeof msg, fmt, arg);
  return cli_usage_error("handoff-conform", "%s", msg);
}

static int version(void) {
  printf("handoff-conform %s (suite %s, spec revision %s)\n", ho_version(), CF_SUITE_VERSION,
         cf_spec_revision);
  return 0;
}

static int parse_int(const char *s, int lo, int hi, int *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage_error("missing MODE%s: backend, broker or client", "");
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    cf_usage(stdout, 0);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) return version();
  if (strcmp(argv[1], "decode") == 0) return cf_decode_main(argc - 1, argv + 1); /* decode.c */
  static cf_opts o;
  memset(&o, 0, sizeof o);
  if (strcmp(argv[1], "backend") == 0) o.mode = CF_MODE_BACKEND;
  else if (strcmp(argv[1], "broker") == 0) o.mode = CF_MODE_BROKER;
  else if (strcmp(argv[1], "client") == 0) o.mode = CF_MODE_CLIENT;
  else if (argv[1][0] == '-')
    return usage_error("unknown option '%s' (MODE comes first: backend, broker or client)", argv[1]);
  else
    return usage_error("unknown mode '%s': use 'backend', 'broker' or 'client'", argv[1]);
  cf_registry_select(o.mode);
  o.service = "echo";
  o.start_timeout_ms = 15000; /* an upper bound only: a loaded machine can take seconds to start an interpreter */
  o.grace_ms = 1000;
  const char *features[64];
  int nfeat = 0;
  struct { const char *name; double v; } consts[16];
  int nconst = 0;
  bool list_json = false, self_check = false;
  const char *service_flag = NULL;
  argv[1] = argv[0];
  argc--;
  argv++;
  int opt, before = optind;
  opterr = 0; /* our messages, with our prefix */
  while ((opt = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
    switch (opt) {
    case O_MANIFEST: o.manifest = optarg; break;
    case O_FEATURE:
      if (nfeat == 64) return usage_error("too many --feature%s", "");
      features[nfeat++] = optarg;
      break;
    case O_CONSTANT: {
      char *eq = strchr(optarg, '=');
      char *end = NULL;
      if (eq == NULL || nconst == 16) return usage_error("--constant wants NAME=VALUE, got '%s'", optarg);
      *eq = '\0';
      double v = strtod(eq + 1, &end);
      if (end == eq + 1 || *end) return usage_error("--constant %s: the value is not a number", optarg);
      consts[nconst].name = optarg;
      consts[nconst++].v = v;
      break;
    }
    case O_SERVICE: service_flag = optarg; break;
    case O_RUN:
      if (o.nrun == CF_MAX_PATTERNS) return usage_error("too many --run%s", "");
      o.run_pats[o.nrun++] = optarg;
      break;
    case O_SKIP:
      if (o.nskip == CF_MAX_PATTERNS) return usage_error("too many --skip%s", "");
      o.skip_pats[o.nskip++] = optarg;
      break;
    case O_LIST: o.list = true; break;
    case O_LIST_JSON: o.list = list_json = true; break;
    case O_EXPECT: o.expect_fail = optarg; break;
    case O_ALLOW: o.allow_unimplemented = true; break;
    case O_JUNIT: o.junit = optarg; break;
    case O_JSON: o.json = optarg; break;
    case O_TRACE: o.trace_dir = optarg; break;
    case O_FTRACE: o.failure_trace_dir = optarg; break;
    case O_START:
      if (parse_int(optarg, 100, 600000, &o.start_timeout_ms)) return usage_error("bad --start-timeout-ms '%s'", optarg);
      break;
    case O_GRACE:
      if (parse_int(optarg, 0, 60000, &o.grace_ms)) return usage_error("bad --grace-ms '%s'", optarg);
      break;
    case O_TMPDIR: o.tmpdir = optarg; break;
    case O_KEEP: o.keep_dirs = true; break;
    case 'x': o.fail_fast = true; break;
    case 'v': o.verbose = true; break;
    case 'q': o.quiet = true; break;
    case 'h': cf_usage(stdout, o.mode); return 0;
    case O_VERSION: return version();
    case O_SELFCHECK: self_check = true; break;
    default: return cli_getopt_error("handoff-conform", opt, argv, before);
    }
    before = optind;
  }
  if (self_check) {
    int rc = cf_pb_selfcheck();
    printf("self-check: canonical offer %s the library's encoding\n", rc == 0 ? "equals" : "DIFFERS FROM");
    return rc == 0 ? 0 : 1;
  }
  char err[512];
  char **mcmd = NULL;
  int nmcmd = 0;
  if (o.manifest && cf_manifest_load(&o, o.manifest, &mcmd, &nmcmd, err, sizeof err) != 0)
    return usage_error("%s", err);
  for (int i = 0; i < nfeat; i++)
    if (cf_add_feature(&o, features[i], err, sizeof err) != 0) return usage_error("%s", err);
  for (int i = 0; i < nconst; i++)
    if (cf_set_constant(&o, consts[i].name, consts[i].v, err, sizeof err) != 0) return usage_error("%s", err);
  if (service_flag) o.service = service_flag;
  for (const char *p = o.service; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-') || strlen(o.service) > 64)
      return usage_error("--service must match [a-z0-9-]{1,64}, got '%s'", o.service);
  if (o.service[0] == '\0') return usage_error("--service must not be empty%s", "");
  if (cf_check_features(&o, err, sizeof err) != 0) return usage_error("%s", err);
  if (optind < argc) {
    o.cmd = argv + optind;
    o.ncmd = argc - optind;
  } else if (mcmd != NULL) {
    o.cmd = mcmd;
    o.ncmd = nmcmd;
  }
  const cf_case **all;
  size_t nall = cf_cases(o.mode, &all);
  /* Selection. */
  const cf_case **sel = calloc(nall ? nall : 1, sizeof *sel);
  size_t nsel = 0;
  if (sel == NULL) return 1;
  for (size_t i = 0; i < nall; i++) {
    bool run = o.nrun == 0;
    for (int p = 0; p < o.nrun; p++) run |= cf_pattern_match(o.run_pats[p], all[i]->id);
    for (int p = 0; p < o.nskip; p++) run &= !cf_pattern_match(o.skip_pats[p], all[i]->id);
    if (run) sel[nsel++] = all[i];
  }
  for (int p = 0; p < o.nrun; p++) {
    bool hit = false;
    for (size_t i = 0; i < nall; i++) hit |= cf_pattern_match(o.run_pats[p], all[i]->id);
    if (!hit) return usage_error("--run '%s' matches no case (--list shows them)", o.run_pats[p]);
  }
  if (o.list) {
    cf_report_list(stdout, &o, sel, nsel, list_json);
    free(sel);
    return 0;
  }
  if (o.ncmd == 0) return usage_error("no SUT command: give it after '--' or as \"command\" in the manifest%s", "");
  if (cf_check_placeholders(&o, err, sizeof err) != 0) return usage_error("%s", err);
  cf_expect *xf = NULL;
  int nxf = 0;
  if (o.expect_fail) {
    nxf = cf_expect_load(o.expect_fail, all, nall, &xf, err, sizeof err);
    if (nxf < 0) return usage_error("--expect-fail: %s", err);
  }
  cf_run_init();
  cf_result *res = calloc(nsel ? nsel : 1, sizeof *res);
  if (res == NULL) return 1;
  cf_report_header(stdout, &o);
  cf_summary s = {0};
  uint64_t t0 = cf_now_ms();
  size_t done = 0;
  int start_failures = 0;
  bool aborted = false;
  for (size_t i = 0; i < nsel && !aborted; i++) {
    bool start_failed = cf_run_case(&o, sel[i], &res[i]);
    done = i + 1;
    cf_result *r = &res[i];
    if (o.expect_fail) cf_expect_apply(xf, nxf, o.expect_fail, sel[i], r);
    else r->unexpected = r->verdict != CF_PASS && r->verdict != CF_SKIP;
    if (r->verdict == CF_UNIMPLEMENTED && o.allow_unimplemented && !r->expected_failure) r->unexpected = false;
    switch (r->verdict) {
    case CF_PASS: s.passed++; break;
    case CF_SKIP: s.skipped++; break;
    default: s.failed++; break;
    }
    s.expected_failures += r->expected_failure;
    s.unimplemented += r->verdict == CF_UNIMPLEMENTED;
    s.unexpected += r->unexpected;
    cf_report_case(stdout, &o, sel[i], r);
    start_failures = start_failed ? start_failures + 1 : 0;
    if (start_failures == 3) {
      fprintf(stdout, "\nhandoff-conform: the SUT did not start for 3 cases in a row; giving up.\n"
                      "  last: %s\n", r->actual);
      aborted = true;
    }
    if (cf_run_interrupted()) {
      fprintf(stdout, "\nhandoff-conform: interrupted; the SUT was stopped.\n");
      aborted = true;
    }
    if (o.fail_fast && r->unexpected) aborted = true;
  }
  s.duration_ms = (long)(cf_now_ms() - t0);
  cf_report_summary(stdout, &o, &s);
  int rc = s.unexpected > 0 || aborted ? 1 : 0;
  if (o.junit && cf_report_junit(o.junit, &o, sel, res, done, &s) != 0) {
    fprintf(stderr, "handoff-conform: cannot write %s\n", o.junit);
    rc = 1;
  }
  if (o.json && cf_report_json(o.json, &o, sel, res, done, &s) != 0) {
    fprintf(stderr, "handoff-conform: cannot write %s\n", o.json);
    rc = 1;
  }
  free(res);
  free(sel);
  free(xf);
  for (int i = 0; mcmd != NULL && i < nmcmd; i++) free(mcmd[i]);
  free(mcmd);
  return rc;
}
