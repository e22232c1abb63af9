/* handoff-conform — one case in a forked child, with a watchdog (see
 * run.h). */
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctx.h"
#include "modes.h"
#include "procfs.h"
#include "route.h"
#include "sut.h"
#include "trace.h"

typedef struct shared {
  volatile pid_t pgid; /* the SUT's process group, once started */
  volatile int done;
  volatile int start_failed;
  cf_result res;
} shared;

static volatile sig_atomic_t g_interrupted;
static volatile pid_t g_child, g_pgid;

static void on_signal(int sig) {
  (void)sig;
  g_interrupted = 1;
  if (g_pgid > 0) kill(-g_pgid, SIGKILL);
  if (g_child > 0) kill(g_child, SIGKILL);
}

void cf_run_init(void) {
  (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

bool cf_run_interrupted(void) { return g_interrupted != 0; }

bool cf_case_applies(const cf_opts *o, const cf_case *c, char *why, size_t cap) {
  why[0] = '\0';
  unsigned missing = c->needs & ~o->features, extra = c->absent & o->features;
  for (size_t i = 0; i < cf_nfeatures; i++) {
    if (missing & cf_features[i].bit)
      cf_appendf(why, cap, "%s%s", why[0] ? " " : "not declared: ", cf_features[i].name);
  }
  for (size_t i = 0; i < cf_nfeatures; i++) {
    if (extra & cf_features[i].bit)
      cf_appendf(why, cap, "%sdeclared: %s (the case is for SUTs without it)", why[0] ? "; " : "",
                 cf_features[i].name);
  }
  for (int k = 0; k < CF_K_COUNT; k++)
    if ((c->consts & CF_K_BIT(k)) && cf_const(o, k) < 0)
      cf_appendf(why, cap, "%snot declared: constant %s", why[0] ? "; " : "", cf_consts[k].name);
  return why[0] == '\0';
}

/* ---- the child --------------------------------------------------------------- */

/* Close every descriptor of the runner child except those in keep[]. */
static void close_all_but(const int *keep, int nkeep) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return;
  int dfd = dirfd(d), fds[1024], n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < 1024) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = atoi(e->d_name);
    bool k = fd <= 2 || fd == dfd;
    for (int i = 0; i < nkeep; i++) k |= fd == keep[i];
    if (!k) fds[n++] = fd;
  }
  closedir(d);
  for (int i = 0; i < n; i++) close(fds[i]);
}

/* A probe that records nothing: does the SUT still answer (backend_pipe
 * echoes, a Hello is answered)? A client SUT answers when it ended by
 * itself. */
static bool sut_answers(cf_ctx *ctx, const cf_mode_ops *ops) {
  if (ops->still_serves == NULL) return !ctx->sut->stopped;
  cf_result scratch, *saved = ctx->res;
  memset(&scratch, 0, sizeof scratch);
  ctx->res = &scratch;
  int rc = ops->still_serves(ctx);
  ctx->res = saved;
  return rc == 0 && scratch.verdict == CF_PASS;
}

/* A client SUT: it must have ended by itself; killed by a signal (not the
 * runner's) is CRASH, exit 89 UNIMPLEMENTED. */
static void client_exit_checks(cf_ctx *ctx) {
  cf_sut *s = ctx->sut;
  cf_result *r = ctx->res;
  if (cf_sut_alive(s) || s->stopped) return;
  char st[128];
  cf_exit_text(s->status, st, sizeof st);
  bool unimpl = WIFEXITED(s->status) && WEXITSTATUS(s->status) == CF_UNIMPLEMENTED_EXIT;
  if (!unimpl && !WIFSIGNALED(s->status)) return;
  char before[sizeof r->actual];
  snprintf(before, sizeof before, "%s", r->verdict == CF_FAIL ? r->actual : "");
  r->verdict = unimpl ? CF_UNIMPLEMENTED : CF_CRASH;
  snprintf(r->actual, sizeof r->actual, "the client SUT %s%s%.1800s", st, before[0] ? "; before that: " : "",
           before);
  if (r->expected[0] == '\0') snprintf(r->expected, sizeof r->expected, "the client exits by itself");
  snprintf(r->reqs, sizeof r->reqs, "%s", unimpl ? "" : "ERR-4");
  cf_trace_note(ctx, "%s", r->actual);
}

static bool log_has(const char *log, size_t n, const char *needle, size_t nl) {
  return nl > 0 && memmem(log, n, needle, nl) != NULL;
}

/* spec: SEC-8 — no token bytes in logs or diagnostics. */
static void check_log_tokens(cf_ctx *ctx) {
  if (cf_failed(ctx)) return;
  int fd = open(ctx->sut->log, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  size_t cap = 8u << 20;
  char *log = malloc(cap);
  ssize_t n = log ? read(fd, log, cap) : -1;
  close(fd);
  for (size_t t = 0; n > 0 && t < ctx->ntokens; t++) {
    const uint8_t *tok = ctx->tokens[t];
    char lo[33], up[33], spaced[48];
    cf_hex(tok, 16, lo);
    for (int i = 0; i < 32; i++) up[i] = (char)(lo[i] >= 'a' ? lo[i] - 32 : lo[i]);
    up[32] = '\0';
    spaced[0] = '\0';
    for (int i = 0; i < 8; i++) cf_appendf(spaced, sizeof spaced, "%s%.2s", i ? " " : "", lo + 2 * i);
    const char *what = NULL;
    if (log_has(log, (size_t)n, (const char *)tok, 16)) what = "raw";
    /* Any 8 consecutive token bytes in hex (a 4-byte fingerprint is allowed). */
    for (int off = 0; what == NULL && off <= 16; off += 8) {
      if (log_has(log, (size_t)n, lo + off, 16) || log_has(log, (size_t)n, up + off, 16)) what = "in hex";
    }
    if (what == NULL && log_has(log, (size_t)n, spaced, strlen(spaced))) what = "in spaced hex";
    if (what != NULL) {
      cf_fail(ctx, "SEC-8", "no token bytes in the SUT's logs or diagnostics",
              "the SUT's output (stdout/stderr) contains token #%zu of the case %s", t + 1, what);
      break;
    }
  }
  free(log);
}

static void post_checks(cf_ctx *ctx, int keep_trace_fd) {
  cf_sut *s = ctx->sut;
  cf_result *r = ctx->res;
  const cf_mode_ops *ops = cf_mode_ops_get(ctx->o->mode);
  bool alive = cf_sut_alive(s);
  if (ops->exits) {
    if (alive) cf_sut_stop(s, ctx->o->grace_ms); /* it should have ended by itself */
    client_exit_checks(ctx);
    if (r->verdict == CF_FAIL && ctx->waited_out && s->stopped) {
      r->verdict = CF_TIMEOUT;
      cf_appendf(r->actual, sizeof r->actual, "; the client did not exit by itself (stopped by the runner)");
    }
    alive = false;
  } else if (!alive) {
    char st[128];
    cf_exit_text(s->status, st, sizeof st);
    bool unimpl = WIFEXITED(s->status) && WEXITSTATUS(s->status) == CF_UNIMPLEMENTED_EXIT;
    char before[sizeof r->actual];
    snprintf(before, sizeof before, "%s", r->verdict == CF_FAIL ? r->actual : "");
    r->verdict = unimpl ? CF_UNIMPLEMENTED : CF_CRASH;
    snprintf(r->actual, sizeof r->actual, "the SUT %s during the case%s%.1800s", st,
             before[0] ? "; before that: " : "", before);
    if (r->expected[0] == '\0') snprintf(r->expected, sizeof r->expected, "the SUT survives every input (ERR-4)");
    if (!r->reqs[0] || unimpl) snprintf(r->reqs, sizeof r->reqs, "%s", unimpl ? "" : "ERR-4");
    cf_trace_note(ctx, "%s", r->actual);
  } else if (r->verdict == CF_FAIL && ctx->waited_out && !sut_answers(ctx, ops)) {
    r->verdict = CF_TIMEOUT;
    cf_appendf(r->actual, sizeof r->actual, "; the SUT no longer answers at all (hangs)");
  } else if (r->verdict == CF_PASS) {
    cf_trace_note(ctx, "post-case: the SUT still serves (ERR-4)");
    (void)ops->still_serves(ctx);
  }
  if (ops->finish != NULL) ops->finish(ctx);
  /* Everything of the runner's side closes now; then nothing of what the
   * runner passed or closed may stay open in the SUT. */
  int keep[1] = {keep_trace_fd};
  close_all_but(keep, 1);
  if (alive && r->verdict == CF_PASS) {
    cf_trace_note(ctx, "post-case: %zu descriptors/connections must be released by the SUT", ctx->nheld);
    uint64_t end = cf_now_ms() + 1500;
    for (size_t i = 0; i < ctx->nheld && !cf_failed(ctx); i++) {
      const cf_held *h = &ctx->held[i];
      uint64_t now = cf_now_ms();
      long pid;
      int fd;
      if (cf_sut_holds(ctx, h->dev, h->ino, now >= end ? 0 : (int)(end - now), &pid, &fd))
        cf_fail(ctx, h->reqs, "nothing the runner passed or closed stays open in the SUT (no leak)",
                "after the case, pid %ld still holds %s (inode %lu) as fd %d", pid, h->what,
                (unsigned long)h->ino, fd);
    }
  }
  bool clean = cf_sut_stop(s, ctx->o->grace_ms);
  cf_trace_note(ctx, "SUT stopped (%s)", clean ? "exited after SIGTERM" : "needed SIGKILL");
  check_log_tokens(ctx);
}

static void child(const cf_opts *o, const cf_case *c, shared *sh, const char *dir) {
  (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
  (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  static cf_ctx ctx;
  static cf_sut sut;
  static cf_trace tr;
  static cf_opts own; /* this case's options, when it sets its own ACK deadline */
  bool own_ack = c->ack_timeout_ms > 0 && cf_cmd_takes(o, cf_consts[CF_K_ACK_TIMEOUT_MS].name);
  if (own_ack) {
    own = *o;
    own.consts[CF_K_ACK_TIMEOUT_MS] = c->ack_timeout_ms;
    own.const_set[CF_K_ACK_TIMEOUT_MS] = true;
    o = &own;
  }
  memset(&ctx, 0, sizeof ctx);
  ctx.o = o;
  ctx.c = c;
  ctx.res = &sh->res;
  ctx.sut = &sut;
  ctx.next_corr = 1;
  ctx.t0_ms = cf_now_ms();
  snprintf(ctx.dir, sizeof ctx.dir, "%s", dir);
  snprintf(ctx.ep_handoff, sizeof ctx.ep_handoff, "%s/handoff.sock", dir);
  snprintf(ctx.ep_pipe, sizeof ctx.ep_pipe, "%s/backend.sock", dir);
  snprintf(ctx.ep_client, sizeof ctx.ep_client, "%s/client.sock", dir);
  if (o->mode == CF_MODE_CLIENT) {
    uint8_t r[6];
    char hex[13];
    cf_random(r, sizeof r);
    cf_hex(r, sizeof r, hex);
    snprintf(ctx.message, sizeof ctx.message, "request-%s-%s", hex, strrchr(c->id, '.') + 1);
  }
  snprintf(sut.log, sizeof sut.log, "%s/sut.log", dir);
  char tpath[256];
  snprintf(tpath, sizeof tpath, "%s/trace.txt", dir);
  cf_trace_open(&ctx, &tr, tpath);
  cf_trace_note(&ctx, "case %s — %s", c->id, c->does);
  cf_trace_note(&ctx, "expect: %s", c->expect);
  if (own_ack) cf_trace_note(&ctx, "this case starts the SUT with ack_timeout_ms %ld", c->ack_timeout_ms);
  char why[1024];
  bool unimpl = false;
  const cf_mode_ops *ops = cf_mode_ops_get(o->mode);
  if (ops->prepare != NULL && ops->prepare(&ctx) != 0) {
    cf_trace_close(&ctx);
    sh->done = 1;
    _exit(0);
  }
  if (cf_sut_start(&ctx, &sut, why, sizeof why, &unimpl) != 0) {
    sh->pgid = sut.pgid;
    sh->start_failed = !unimpl;
    cf_result *r = &sh->res;
    r->verdict = unimpl                                  ? CF_UNIMPLEMENTED
                 : strncmp(why, "cannot execute", 14) == 0 ? CF_ERROR
                 : !sut.running                          ? CF_CRASH
                                                         : CF_TIMEOUT;
    snprintf(r->expected, sizeof r->expected, "the SUT starts and both endpoints accept connections");
    char tail[600];
    cf_sut_log_tail(&sut, tail, sizeof tail);
    snprintf(r->actual, sizeof r->actual, "%s%s%s", why, tail[0] ? "; its output ends: " : "", tail);
    cf_trace_note(&ctx, "%s", r->actual);
    cf_sut_stop(&sut, o->grace_ms);
    cf_trace_close(&ctx);
    sh->done = 1;
    _exit(0);
  }
  sh->pgid = sut.pgid;
  c->run(&ctx);
  if (!ctx.skipped) post_checks(&ctx, tr.f ? fileno(tr.f) : -1);
  else cf_sut_stop(&sut, o->grace_ms);
  cf_trace_note(&ctx, "verdict: %s", cf_verdict_name(sh->res.verdict));
  cf_trace_close(&ctx);
  sh->done = 1;
  _exit(0);
}

/* ---- the parent ---------------------------------------------------------------- */

static int wait_child(pid_t pid, int timeout_ms, int *status) {
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  uint64_t end = cf_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) break;
    uint64_t now = cf_now_ms();
    if (now >= end || g_interrupted) {
      if (pfd >= 0) close(pfd);
      return -1;
    }
    if (pfd >= 0) {
      struct pollfd p = {pfd, POLLIN, 0};
      (void)poll(&p, 1, (int)(end - now));
    } else {
      cf_sleep_ms(2);
    }
  }
  if (pfd >= 0) close(pfd);
  return 0;
}

static void copy_file(const char *from, FILE *to, size_t max) {
  FILE *f = fopen(from, "re");
  if (f == NULL) return;
  char buf[8192];
  size_t n, total = 0;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  if (size > (long)max) {
    fseek(f, size - (long)max, SEEK_SET);
    fprintf(to, "... (%ld bytes, the last %zu shown)\n", size, max);
  } else {
    fseek(f, 0, SEEK_SET);
  }
  while ((n = fread(buf, 1, sizeof buf, f)) > 0 && total < max) {
    fwrite(buf, 1, n, to);
    total += n;
  }
  fclose(f);
}

static void keep_trace(const cf_opts *o, const cf_case *c, const char *dir, cf_result *r) {
  bool bad = r->verdict != CF_PASS && r->verdict != CF_SKIP;
  const char *tdir = o->trace_dir ? o->trace_dir
                     : !bad ? NULL
                     : o->failure_trace_dir ? o->failure_trace_dir : "handoff-conform-traces";
  if (tdir == NULL) return;
  char mk[512];
  snprintf(mk, sizeof mk, "%s", tdir);
  for (char *p = mk + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      mkdir(mk, 0755);
      *p = '/';
    }
  mkdir(mk, 0755);
  char path[512], from[512];
  snprintf(path, sizeof path, "%s/%s.trace", tdir, c->id);
  FILE *f = fopen(path, "we");
  if (f == NULL) return;
  fprintf(f, "handoff-conform %s — trace of %s (%s)\nrequirements: %s\n", CF_SUITE_VERSION, c->id,
          cf_verdict_name(r->verdict), cf_case_reqs(c));
  if (bad) fprintf(f, "expected: %s\nactual:   %s\n", r->expected, r->actual);
  fputs("\n---- wire trace (milliseconds since the case started) ----\n", f);
  snprintf(from, sizeof from, "%s/trace.txt", dir);
  copy_file(from, f, 8u << 20);
  fputs("\n---- SUT output (stdout and stderr) ----\n", f);
  snprintf(from, sizeof from, "%s/sut.log", dir);
  copy_file(from, f, 256u << 10);
  fclose(f);
  snprintf(r->trace, sizeof r->trace, "%s", path);
}

static int make_dir(const cf_opts *o, char *dir, size_t cap) {
  const char *base = o->tmpdir ? o->tmpdir : getenv("TMPDIR");
  if (base == NULL || base[0] == '\0') base = "/tmp";
  snprintf(dir, cap, "%s/hc-XXXXXX", base);
  if (mkdtemp(dir) == NULL) return -1;
  return chmod(dir, 0700);
}

bool cf_run_case(const cf_opts *o, const cf_case *c, cf_result *res) {
  memset(res, 0, sizeof *res);
  char why[256];
  if (!cf_case_applies(o, c, why, sizeof why)) {
    res->verdict = CF_SKIP;
    snprintf(res->note, sizeof res->note, "%s", why);
    return false;
  }
  uint64_t t0 = cf_now_ms();
  char dir[160];
  if (make_dir(o, dir, sizeof dir) != 0 || strlen(dir) + 20 > 107) {
    res->verdict = CF_ERROR;
    snprintf(res->actual, sizeof res->actual, "cannot create a private directory (or its path is too long "
             "for a Unix socket): %s", dir);
    return false;
  }
  shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) {
    res->verdict = CF_ERROR;
    snprintf(res->actual, sizeof res->actual, "mmap: %s", strerror(errno));
    cf_rmtree(dir);
    return false;
  }
  memset(sh, 0, sizeof *sh);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) child(o, c, sh, dir);
  g_child = pid;
  /* Watchdog: generous, since every wait inside is bounded anyway. */
  long longest = 0; /* the longest declared wait of the mode */
  for (int k = 0; k < CF_K_COUNT; k++)
    if (cf_const_in_mode(k) && strstr(cf_consts[k].name, "_ms") && cf_const(o, k) > longest) longest = cf_const(o, k);
  int budget = 20000 + 4 * (int)longest + o->start_timeout_ms + 2 * o->grace_ms;
  int status = 0;
  bool finished = pid > 0 && wait_child(pid, budget, &status) == 0;
  g_pgid = sh->pgid;
  if (!finished && pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  if (sh->pgid > 0) kill(-sh->pgid, SIGKILL); /* whatever is left of the SUT */
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  *res = sh->res;
  if (pid < 0) {
    res->verdict = CF_ERROR;
    snprintf(res->actual, sizeof res->actual, "fork: %s", strerror(errno));
  } else if (g_interrupted) {
    res->verdict = CF_ERROR;
    snprintf(res->actual, sizeof res->actual, "interrupted");
  } else if (!finished) {
    res->verdict = CF_TIMEOUT;
    snprintf(res->expected, sizeof res->expected, "the case completes");
    snprintf(res->actual, sizeof res->actual, "the case did not finish within %d ms (runner watchdog); "
             "the SUT and the runner's case process were killed", budget);
  } else if (!sh->done) {
    res->verdict = CF_ERROR;
    snprintf(res->actual, sizeof res->actual,
             "the runner's process for this case died (%s): a bug of handoff-conform, please report it",
             WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exit without a result");
  }
  bool start_failed = sh->start_failed;
  res->duration_ms = (long)(cf_now_ms() - t0);
  g_child = 0;
  g_pgid = 0;
  munmap(sh, sizeof *sh);
  keep_trace(o, c, dir, res);
  if (!o->keep_dirs) cf_rmtree(dir);
  return start_failed;
}
