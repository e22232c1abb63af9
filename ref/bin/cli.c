/* handoff — the shared command-line layer of the programs (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/version.h"

#if defined(_WIN32)
#define CLI_HERE CLI_WIN_ONLY
#else
#define CLI_HERE CLI_UNIX_ONLY
#endif

#define HELP_COL 27 /* where an option's description starts */

static int here(const cli_opt *o) { return o->where == CLI_BOTH || o->where == CLI_HERE; }

void cli_init(cli_parser *p, const cli_prog *prog, int argc, char **argv) {
  memset(p, 0, sizeof *p);
  p->prog = prog;
  p->argc = argc;
  p->argv = argv;
  size_t n = 0;
  for (const cli_opt *o = prog->opts; o != NULL && o->name != NULL && n < CLI_MAX_OPTS; o++)
    if (here(o)) p->lo[n++] = (struct option){o->name, o->arg ? required_argument : no_argument, 0, o->id};
  p->lo[n++] = (struct option){"help", no_argument, 0, 'h'};
  p->lo[n++] = (struct option){"version", no_argument, 0, 'V'};
  p->lo[n] = (struct option){0, 0, 0, 0};
  optind = 1;
  opterr = 0; /* our messages, with our prefix */
}

int cli_next(cli_parser *p) {
  const char *prog = p->prog->name;
  int before = optind;
  int o = getopt_long(p->argc, p->argv, ":h", p->lo, NULL);
  p->arg = optarg;
  switch (o) {
  case -1: return 0;
  case 'h': cli_help(p->prog, stdout); p->status = 0; return -1;
  case 'V': cli_version(prog); p->status = 0; return -1;
  case ':':
  case '?': p->status = cli_getopt_error(prog, o, p->argv, before); return -1;
  default: return o;
  }
}

int cli_getopt_error(const char *prog, int o, char **argv, int before) {
  /* the option getopt stopped at: argv[optind - 1], or within argv[before] */
  const char *bad = optind > before ? argv[optind - 1] : argv[before];
  if (o == ':') return cli_usage_error(prog, "option '%s' needs a value", bad);
  if (optopt != 0 && bad[0] == '-' && bad[1] != '-')
    return cli_usage_error(prog, "unknown option '-%c'", optopt);
  return cli_usage_error(prog, "unknown option '%s'", bad);
}

int cli_no_operands(const cli_parser *p) {
  if (optind < p->argc)
    return cli_usage_error(p->prog->name, "unexpected argument '%s'", p->argv[optind]);
  return 0;
}

int cli_parse(const cli_prog *prog, int argc, char **argv,
              int (*on_opt)(void *ctx, int id, const char *arg), void *ctx) {
  cli_parser ps;
  cli_init(&ps, prog, argc, argv);
  int o, st;
  while ((o = cli_next(&ps)) > 0)
    if ((st = on_opt(ctx, o, ps.arg)) != 0) return st;
  if (o < 0) return ps.status;
  return cli_no_operands(&ps) ? CLI_EXIT_USAGE : -1;
}

static void indented(FILE *f, const char *text, int col) {
  if (*text == '\0') fputc('\n', f);
  for (const char *s = text; *s;) {
    const char *nl = strchr(s, '\n');
    size_t len = nl ? (size_t)(nl - s) : strlen(s);
    fprintf(f, "%.*s\n", (int)len, s);
    s += len;
    if (*s == '\n') s++;
    if (*s) fprintf(f, "%*s", col, "");
  }
}

void cli_help(const cli_prog *prog, FILE *f) {
  fprintf(f, "Usage: %s ", prog->name);
  indented(f, prog->synopsis, (int)strlen(prog->name) + 8);
  if (prog->about) fprintf(f, "\n%s", prog->about);
  fputs("\nOptions:\n", f);
  for (const cli_opt *o = prog->opts; o != NULL && o->name != NULL; o++) {
    if (!here(o)) continue;
    int w = fprintf(f, "  --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    if (w + 2 > HELP_COL) fprintf(f, "\n%*s", HELP_COL, "");
    else fprintf(f, "%*s", HELP_COL - w, "");
    indented(f, o->help, HELP_COL);
  }
  fprintf(f, "  -h, --help%*sthis text\n", HELP_COL - 12, "");
  fprintf(f, "  --version%*sprint \"%s VERSION\" and exit\n", HELP_COL - 11, "", prog->name);
  if (prog->more) fprintf(f, "\n%s", prog->more);
  fprintf(f, "\n%s", prog->exits);
}

void cli_version(const char *prog) { printf("%s %s\n", prog, ho_version()); }

int cli_usage_error(const char *prog, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\nTry '%s --help'.\n", prog, msg, prog);
  return CLI_EXIT_USAGE;
}

int cli_missing(const char *prog, const char *flag) {
  return cli_usage_error(prog, "missing required option --%s", flag);
}

int cli_number(const char *prog, const char *flag, const char *s, uint64_t lo, uint64_t hi,
               uint64_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] < '0' || s[0] > '9' || v < lo || v > hi)
    return cli_usage_error(prog, "%s must be a number %llu..%llu, got '%s'", flag,
                           (unsigned long long)lo, (unsigned long long)hi, s);
  *out = v;
  return 0;
}

int cli_level(const char *s) {
  static const char *const names[4] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (strcmp(s, names[i]) == 0) return i;
  return -1;
}

void cli_log_time(char out[CLI_LOG_TIME_LEN], uint64_t unix_us) {
  /* civil date from days since 1970-01-01 (H. Hinnant's days_from_civil,
   * inverted): no libc time functions, the same on Linux and Windows. */
  uint64_t secs = unix_us / 1000000u, us = unix_us % 1000000u;
  uint64_t days = secs / 86400u, sod = secs % 86400u;
  uint64_t z = days + 719468u, era = z / 146097u, doe = z - era * 146097u;
  uint64_t yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
  uint64_t doy = doe - (365u * yoe + yoe / 4u - yoe / 100u), mp = (5u * doy + 2u) / 153u;
  unsigned d = (unsigned)(doy - (153u * mp + 2u) / 5u + 1u);
  unsigned m = (unsigned)(mp < 10u ? mp + 3u : mp - 9u);
  unsigned long long y = (unsigned long long)(yoe + era * 400u + (m <= 2u));
  char t[64]; /* room for any value the compiler cannot bound; 27 used */
  snprintf(t, sizeof t, "%04llu-%02u-%02uT%02u:%02u:%02u.%06uZ", y % 10000u, m, d,
           (unsigned)(sod / 3600u), (unsigned)(sod / 60u % 60u), (unsigned)(sod % 60u), (unsigned)us);
  memcpy(out, t, CLI_LOG_TIME_LEN - 1);
  out[CLI_LOG_TIME_LEN - 1] = '\0';
}

void cli_counters(const char *prog, const char *when, const char *text) {
  fprintf(stderr, "%s counters (%s):\n%s", prog, when, text);
  fflush(stderr);
}
