/* handoff — what every command-line program of ref/bin/ (Unix and Windows)
 * and handoff-conform share: one option table that yields both the getopt
 * table and the --help text (the man pages are generated from that text,
 * mk/man.mk), --version, one error prefix ("PROG: "), one-line usage errors
 * followed by "Try 'PROG --help'." with exit status 2, number flags checked
 * against a range, and the counters block of broker and backend.
 *
 * Conventions of every program (said in every --help):
 *   exit status 0 success, 1 run-time failure, 2 usage error (others per
 *   program); --help/-h and --version print to stdout and exit 0; errors go
 *   to stderr, one line each, "PROG: what".
 *   Log lines (stderr): "TIME PROG[PID] level=LEVEL ..." with TIME the wall
 *   clock in UTC, ISO-8601 with microseconds, fixed width (sortable as
 *   text, merges across programs; CLI_LOG_TIME_DOC, cli_log_time).
 *   Counters (CLI_COUNTERS_DOC): a line "PROG counters (WHEN):" then one
 *   "name value" line per counter, on stderr. */
#ifndef HANDOFF_BIN_CLI_H
#define HANDOFF_BIN_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILURE = 1, CLI_EXIT_USAGE = 2 };

/* Where an option exists: both platforms (0), or only one. */
enum { CLI_BOTH = 0, CLI_UNIX_ONLY = 1, CLI_WIN_ONLY = 2 };

typedef struct cli_opt {
  const char *name; /* long name without "--"; NULL ends a table */
  const char *arg;  /* value's name in the help ("PATH"); NULL: a switch */
  int id;           /* what cli_next returns (> 0; 'h' and 'V' are taken) */
  unsigned where;   /* CLI_BOTH, CLI_UNIX_ONLY, CLI_WIN_ONLY */
  const char *help; /* '\n'-separated lines, not indented */
} cli_opt;

typedef struct cli_prog {
  const char *name;     /* "handoff-broker": the prefix of every message */
  const char *synopsis; /* after "usage: NAME ", '\n' between usage lines */
  const char *about;    /* paragraphs after the synopsis */
  const cli_opt *opts;  /* table ending with {0}; --help and --version added */
  const char *more;     /* after the options (signals, output, logs) */
  const char *exits;    /* "Exit status: ..." paragraph */
} cli_prog;

#define CLI_MAX_OPTS 40

typedef struct cli_parser {
  const cli_prog *prog;
  int argc;
  char **argv;
  const char *arg; /* the value of the option cli_next returned */
  int status;      /* after cli_next returned -1: the exit status */
  struct option lo[CLI_MAX_OPTS + 3];
} cli_parser;

/* Paragraphs for cli_prog.more: a heading line, then indented lines (help2man
 * makes each heading a section of the man page). */
#define CLI_LOG_TIME_DOC                                                                  \
  "Logs:\n"                                                                               \
  "  One line per event on stderr: TIME PROG[PID] level=LEVEL EVENT...; TIME is\n"        \
  "  the wall clock in UTC, ISO-8601 with microseconds (2026-12-02T07:01:02.123456Z),\n"  \
  "  fixed width, so the logs of several programs merge with sort.\n"
#define CLI_COUNTERS_DOC                                                                  \
  "Counters:\n"                                                                           \
  "  On SIGUSR1 and at exit, a block on stderr: a line 'PROG counters (WHEN):'\n"         \
  "  (WHEN is SIGUSR1 or exit), then one 'name value' line per counter; broker\n"         \
  "  and backend print the same format.\n"

/* TIME of a log line: `unix_us` (microseconds since 1970-01-01 UTC) as
 * "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (27 characters and a NUL) into out. */
#define CLI_LOG_TIME_LEN 28
void cli_log_time(char out[CLI_LOG_TIME_LEN], uint64_t unix_us);

void cli_init(cli_parser *p, const cli_prog *prog, int argc, char **argv);
/* The next option: its id (p->arg its value), 0 when the options are over
 * (p->argv[optind..] are the operands), or -1: exit with p->status now
 * (--help and --version printed: 0; a usage error reported: 2). */
int cli_next(cli_parser *p);
/* For a program with its own getopt_long loop (opterr = 0, optstring
 * starting with ':' after any '+'): report the '?' or ':' that getopt_long
 * returned when optind was `before`. Returns 2. */
int cli_getopt_error(const char *prog, int o, char **argv, int before);
/* The whole loop: on_opt(ctx, id, value) for every option (0: go on, else
 * the exit status), then no operands. -1: go on; else exit with it. */
int cli_parse(const cli_prog *prog, int argc, char **argv,
              int (*on_opt)(void *ctx, int id, const char *arg), void *ctx);
/* The --log-level entry every server program has. */
#define CLI_OPT_LOG_LEVEL(id)                                                      \
  {"log-level", "LEVEL", (id), CLI_BOTH,                                           \
   "error, warn, info (default) or debug; one line\nper event on stderr"}
/* Operands are not allowed: 0, or the usage error's status. */
int cli_no_operands(const cli_parser *p);

void cli_help(const cli_prog *prog, FILE *f);
void cli_version(const char *prog); /* "PROG VERSION" on stdout */
/* "PROG: <message>" and "Try 'PROG --help'." on stderr; returns 2. */
int cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A required option is missing: named in one line; returns 2. */
int cli_missing(const char *prog, const char *flag);
/* A decimal number in [lo, hi] for `flag` ("--count", or an operand's name): 0 with *out, else the usage error's 2. */
int cli_number(const char *prog, const char *flag, const char *s, uint64_t lo, uint64_t hi,
               uint64_t *out);
/* "error|warn|info|debug": 0..3, -1 otherwise. */
int cli_level(const char *s);
/* The counters block (see above) on stderr, flushed. */
void cli_counters(const char *prog, const char *when, const char *text);

#endif
