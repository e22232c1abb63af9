/* handoff-conform — the SUT as a process (see sut.h). */
#include "sut.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procfs.h"
#include "trace.h"

/* Placeholder names besides the constants of the registry. */
static const char *const fixed_names[] = {"handoff_endpoint", "backend_pipe", "service", "case",
                                          "dir", "client_endpoint", "message"};

static int lookup(const cf_ctx *ctx, const cf_opts *o, const char *name, char *out, size_t cap) {
  for (size_t i = 0; i < sizeof fixed_names / sizeof fixed_names[0]; i++) {
    if (strcmp(name, fixed_names[i]) != 0) continue;
    if (ctx == NULL) return 0; /* only checking the name */
    const char *const v[] = {ctx->ep_handoff, ctx->ep_pipe, o->service, ctx->c->id,
                             ctx->dir,        ctx->ep_client, ctx->message};
    snprintf(out, cap, "%s", v[i]);
    return 0;
  }
  int k = cf_const_find(name);
  if (k < 0 || !cf_const_in_mode(k)) return -1;
  long v = cf_const(o, k);
  if (v < 0) return -2;
  snprintf(out, cap, "%ld", v);
  return 0;
}

static int expand(const cf_ctx *ctx, const cf_opts *o, const char *arg, char *out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  for (const char *p = arg; *p;) {
    const char *end = p[0] == '{' ? strchr(p, '}') : NULL;
    if (end != NULL) {
      char name[64], val[512];
      size_t len = (size_t)(end - p - 1);
      if (len == 0 || len >= sizeof name) goto literal;
      memcpy(name, p + 1, len);
      name[len] = '\0';
      for (size_t i = 0; i < len; i++)
        if (!(islower((unsigned char)name[i]) || name[i] == '_')) goto literal;
      int rc = lookup(ctx, o, name, val, sizeof val);
      if (rc != 0) {
        snprintf(out, cap, "{%s}%s", name,
                 rc == -1 ? " is not a placeholder (see --help)"
                          : " is a constant without a value: declare it (--constant or manifest)");
        return -1;
      }
      if (ctx != NULL) {
        size_t vl = strlen(val);
        if (n + vl + 1 > cap) return snprintf(out, cap, "argument too long"), -1;
        memcpy(out + n, val, vl);
        n += vl;
        out[n] = '\0';
      }
      p = end + 1;
      continue;
    }
  literal:
    if (ctx != NULL) {
      if (n + 2 > cap) return snprintf(out, cap, "argument too long"), -1;
      out[n++] = *p;
      out[n] = '\0';
    }
    p++;
  }
  return 0;
}

int cf_expand(const cf_ctx *ctx, const char *arg, char *out, size_t cap) {
  return expand(ctx, ctx->o, arg, out, cap);
}

int cf_check_placeholders(const cf_opts *o, char *msg, size_t cap) {
  for (int i = 0; i < o->ncmd; i++) {
    char buf[512];
    if (expand(NULL, o, o->cmd[i], buf, sizeof buf) != 0) {
      snprintf(msg, cap, "SUT argument %d '%s': %s", i, o->cmd[i], buf);
      return -1;
    }
  }
  return 0;
}

bool cf_cmd_takes(const cf_opts *o, const char *name) {
  char ph[80];
  snprintf(ph, sizeof ph, "{%s}", name);
  for (int i = 0; i < o->ncmd; i++)
    if (strstr(o->cmd[i], ph) != NULL) return true;
  return false;
}

void cf_exit_text(int status, char *buf, size_t cap) {
  if (WIFEXITED(status))
    snprintf(buf, cap, "exited with status %d%s", WEXITSTATUS(status),
             WEXITSTATUS(status) == CF_UNIMPLEMENTED_EXIT ? " (unimplemented)" : "");
  else if (WIFSIGNALED(status))
    snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
  else
    snprintf(buf, cap, "wait status 0x%x", status);
}

bool cf_sut_alive(cf_sut *s) {
  if (!s->running) return false;
  int st;
  pid_t r = waitpid(s->pid, &st, WNOHANG);
  if (r == s->pid) {
    s->running = false;
    s->status = st;
  }
  return s->running;
}

/* Is a Unix stream socket accepting at path? */
static int probe(const char *path, int *err) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return *err = errno, -1;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
  *err = rc == 0 ? 0 : errno;
  close(fd);
  /* EAGAIN: somebody listens, its backlog is full: it is up. */
  return rc == 0 || *err == EAGAIN ? 0 : -1;
}

static void put_env(const char *name, const char *value) { (void)setenv(name, value, 1); }

static void child_exec(cf_ctx *ctx, char **argv, int errfd) {
  setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int log = open(ctx->sut->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (null >= 0) dup2(null, 0);
  if (log >= 0) {
    dup2(log, 1);
    dup2(log, 2);
  }
  /* Nothing of the runner leaks into the SUT but 0, 1, 2. */
  if (syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */) != 0)
    for (int fd = 3; fd < 4096; fd++)
      if (fd != errfd) (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
  put_env("HANDOFF_ENDPOINT", ctx->ep_handoff);
  put_env("HANDOFF_BACKEND_PIPE", ctx->ep_pipe);
  put_env("HANDOFF_SERVICE", ctx->o->service);
  put_env("HANDOFF_CASE", ctx->c->id);
  put_env("HANDOFF_CONFORM_DIR", ctx->dir);
  put_env("HANDOFF_CLIENT_ENDPOINT", ctx->ep_client);
  if (ctx->message[0]) put_env("HANDOFF_MESSAGE", ctx->message);
  char v[32];
  snprintf(v, sizeof v, "%d", CF_UNIMPLEMENTED_EXIT);
  put_env("HANDOFF_UNIMPLEMENTED_EXIT", v);
  for (int k = 0; k < CF_K_COUNT; k++) {
    long val = cf_const_in_mode(k) ? cf_const(ctx->o, k) : -1;
    if (val < 0) continue;
    char name[80];
    snprintf(name, sizeof name, "HANDOFF_%s", cf_consts[k].name);
    for (char *p = name; *p; p++) *p = (char)toupper((unsigned char)*p);
    snprintf(v, sizeof v, "%ld", val);
    put_env(name, v);
  }
  execvp(argv[0], argv);
  int e = errno;
  (void)!write(errfd, &e, sizeof e);
  _exit(127);
}

int cf_sut_start(cf_ctx *ctx, cf_sut *s, char *why, size_t cap, bool *unimplemented) {
  *unimplemented = false;
  why[0] = '\0';
  char *argv[ctx->o->ncmd + 1];
  char bufs[ctx->o->ncmd][512];
  for (int i = 0; i < ctx->o->ncmd; i++) {
    if (cf_expand(ctx, ctx->o->cmd[i], bufs[i], sizeof bufs[i]) != 0) {
      snprintf(why, cap, "%s", bufs[i]);
      return -1;
    }
    argv[i] = bufs[i];
  }
  argv[ctx->o->ncmd] = NULL;
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) != 0) return snprintf(why, cap, "pipe: %s", strerror(errno)), -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(ep[0]);
    close(ep[1]);
    return snprintf(why, cap, "fork: %s", strerror(errno)), -1;
  }
  if (pid == 0) child_exec(ctx, argv, ep[1]);
  setpgid(pid, pid); /* also here: no race with the first kill(-pgid) */
  close(ep[1]);
  s->pid = s->pgid = pid;
  s->running = true;
  s->started_ms = cf_now_ms();
  int e = 0;
  ssize_t r;
  do r = read(ep[0], &e, sizeof e);
  while (r < 0 && errno == EINTR);
  close(ep[0]);
  {
    char line[1024] = "";
    for (int i = 0; i < ctx->o->ncmd; i++) cf_appendf(line, sizeof line, "%s%s", i ? " " : "", argv[i]);
    cf_trace_note(ctx, "SUT pid %ld (own process group): %s", (long)pid, line);
  }
  if (r == (ssize_t)sizeof e) {
    cf_sut_alive(s);
    snprintf(why, cap, "cannot execute '%s': %s", argv[0], strerror(e));
    return -1;
  }
  /* Bounded wait for the SUT's endpoints (none for a client SUT). */
  const char *names[2] = {"handoff endpoint", "backend_pipe"};
  const char *paths[2] = {ctx->ep_handoff, ctx->ep_pipe};
  int neps = 2;
  if (ctx->o->mode == CF_MODE_BROKER) {
    names[0] = "client endpoint";
    paths[0] = ctx->ep_client;
    neps = 1;
  } else if (ctx->o->mode == CF_MODE_CLIENT) {
    neps = 0;
  }
  uint64_t deadline = s->started_ms + (uint64_t)ctx->o->start_timeout_ms;
  int err[2] = {ENOENT, ENOENT}, nap = 2;
  for (;;) {
    int up = 0;
    while (up < neps && probe(paths[up], &err[up]) == 0) up++;
    if (up == neps) break;
    if (!cf_sut_alive(s)) {
      char st[96];
      cf_exit_text(s->status, st, sizeof st);
      *unimplemented = WIFEXITED(s->status) && WEXITSTATUS(s->status) == CF_UNIMPLEMENTED_EXIT;
      snprintf(why, cap, "the SUT %s before its endpoints accepted connections", st);
      return -1;
    }
    if (cf_now_ms() >= deadline) {
      snprintf(why, cap, "the SUT did not open its endpoints within %d ms (", ctx->o->start_timeout_ms);
      for (int i = 0; i < neps; i++)
        cf_appendf(why, cap, "%s%s %s: %s", i ? "; " : "", names[i], paths[i],
                   i < up ? "accepting" : i == up ? strerror(err[i]) : "not probed");
      cf_appendf(why, cap, ")");
      return -1;
    }
    cf_sleep_ms(nap);
    if (nap < 20) nap *= 2;
  }
  if (neps == 0) return 0;
  cf_trace_note(ctx, "SUT endpoints accept connections after %llu ms",
                (unsigned long long)(cf_now_ms() - s->started_ms));
  return 0;
}

bool cf_sut_wait_exit(cf_sut *s, int timeout_ms) {
  int pfd = s->running ? (int)syscall(SYS_pidfd_open, s->pid, 0) : -1;
  uint64_t end = cf_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
  while (cf_sut_alive(s)) {
    uint64_t now = cf_now_ms();
    if (now >= end) break;
    struct pollfd p = {pfd, POLLIN, 0};
    if (pfd < 0 || poll(&p, 1, (int)(end - now)) < 0) cf_sleep_ms(1);
  }
  if (pfd >= 0) close(pfd);
  return !s->running;
}

bool cf_sut_stop(cf_sut *s, int grace_ms) {
  if (s->pgid <= 0) return true;
  bool clean = true;
  if (cf_sut_alive(s)) {
    s->stopped = true;
    kill(-s->pgid, SIGTERM);
    uint64_t end = cf_now_ms() + (uint64_t)grace_ms;
    while (cf_sut_alive(s) && cf_now_ms() < end) cf_sleep_ms(2);
    if (s->running) {
      clean = false;
      kill(-s->pgid, SIGKILL);
      uint64_t hard = cf_now_ms() + 5000;
      while (cf_sut_alive(s) && cf_now_ms() < hard) cf_sleep_ms(1);
    }
  }
  /* Whatever else is left of its group (children it started). */
  pid_t left[CF_MAX_PROCS];
  uint64_t end = cf_now_ms() + (uint64_t)grace_ms;
  while (cf_proc_group(s->pgid, left, CF_MAX_PROCS) > 0 && cf_now_ms() < end) {
    kill(-s->pgid, SIGTERM);
    cf_sleep_ms(5);
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
  }
  if (cf_proc_group(s->pgid, left, CF_MAX_PROCS) > 0) {
    clean = false;
    kill(-s->pgid, SIGKILL);
  }
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  return clean;
}

size_t cf_sut_log_tail(const cf_sut *s, char *buf, size_t cap) {
  buf[0] = '\0';
  int fd = open(s->log, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  off_t size = lseek(fd, 0, SEEK_END);
  off_t from = size > (off_t)(cap - 1) ? size - (off_t)(cap - 1) : 0;
  ssize_t n = pread(fd, buf, cap - 1, from);
  close(fd);
  if (n < 0) n = 0;
  buf[n] = '\0';
  for (ssize_t i = 0; i < n; i++)
    if (buf[i] == '\0') buf[i] = '.';
  return (size_t)n;
}
