/* handoff-conform decode — the SUT as a process (see decode_io.h). */
#include "decode_io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conform.h"
#include "sut.h"

#define MAX_LINE (64u * 1024u * 1024u)

static int expand(const cf_dsut *s, const char *arg, char *out, size_t cap) {
  size_t n = 0;
  for (const char *p = arg; *p;) {
    const char *val = NULL;
    size_t skip = 0;
    if (strncmp(p, "{frame_type}", 12) == 0) val = s ? cf_dt_names[s->type] : "", skip = 12;
    else if (strncmp(p, "{dir}", 5) == 0) val = s ? s->dir : "", skip = 5;
    else if (*p == '{' && strchr(p, '}')) {
      const char *e = strchr(p, '}');
      int ok = e > p + 1;
      for (const char *q = p + 1; q < e; q++) ok &= (*q >= 'a' && *q <= 'z') || *q == '_';
      if (ok) return cf_fmt(out, cap, "%.*s is not a placeholder of decode mode ({frame_type}, {dir})",
                              (int)(e - p + 1), p), -1;
    }
    if (val != NULL) {
      size_t vl = strlen(val);
      if (n + vl + 1 > cap) return cf_fmt(out, cap, "argument too long"), -1;
      memcpy(out + n, val, vl), n += vl, p += skip;
    } else {
      if (n + 2 > cap) return cf_fmt(out, cap, "argument too long"), -1;
      out[n++] = *p++;
    }
  }
  out[n] = '\0';
  return 0;
}

int cf_dsut_check(char **argv, int argc, char *why, size_t cap) {
  for (int i = 0; i < argc; i++) {
    char buf[4096];
    if (expand(NULL, argv[i], buf, sizeof buf) != 0) return cf_fmt(why, cap, "SUT argument %d: %s", i, buf), -1;
  }
  return 0;
}

static void log_path(const cf_dsut *s, char *buf, size_t cap) {
  cf_fmt(buf, cap, "%s/stderr-%s.log", s->dir, cf_dt_names[s->type]);
}

static int start(cf_dsut *s, char *why, size_t cap) {
  char **argv = calloc((size_t)s->argc + 1, sizeof *argv);
  if (argv == NULL) return cf_fmt(why, cap, "out of memory"), -1;
  for (int i = 0; i < s->argc; i++) {
    char buf[4096];
    if (expand(s, s->argv[i], buf, sizeof buf) != 0 || (argv[i] = strdup(buf)) == NULL) {
      for (int k = 0; k < i; k++) free(argv[k]);
      free(argv);
      return cf_fmt(why, cap, "cannot expand argument %d", i), -1;
    }
  }
  int in[2], out[2], ex[2];
  char lp[600];
  log_path(s, lp, sizeof lp);
  int errfd = open(lp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int rc = -1;
  if (errfd >= 0 && pipe2(in, O_CLOEXEC) == 0) {
    if (pipe2(out, O_CLOEXEC) == 0) {
      if (pipe2(ex, O_CLOEXEC) == 0) {
        pid_t pid = fork();
        if (pid == 0) {
          setpgid(0, 0);
          sigset_t none;
          sigemptyset(&none);
          sigprocmask(SIG_SETMASK, &none, NULL);
          signal(SIGPIPE, SIG_DFL);
          dup2(in[0], 0), dup2(out[1], 1), dup2(errfd, 2);
          setenv("HANDOFF_FRAME_TYPE", cf_dt_names[s->type], 1);
          setenv("HANDOFF_CONFORM_DIR", s->dir, 1);
          execvp(argv[0], argv);
          int e = errno;
          if (write(ex[1], &e, sizeof e) < 0) _exit(127);
          _exit(127);
        }
        close(ex[1]);
        if (pid > 0) {
          setpgid(pid, pid);
          int e = 0;
          ssize_t r;
          do r = read(ex[0], &e, sizeof e); while (r < 0 && errno == EINTR);
          if (r == (ssize_t)sizeof e) {
            cf_fmt(why, cap, "cannot execute %s: %s", argv[0], strerror(e));
            waitpid(pid, NULL, 0);
            close(in[1]), close(out[0]);
          } else {
            s->pid = pid, s->in_fd = in[1], s->out_fd = out[0], s->have = 0, rc = 0;
            s->starts++;
            fcntl(s->in_fd, F_SETFL, O_NONBLOCK);
            fcntl(s->out_fd, F_SETFL, O_NONBLOCK);
          }
        } else {
          cf_fmt(why, cap, "fork: %s", strerror(errno));
          close(in[1]), close(out[0]);
        }
        close(ex[0]);
      } else {
        close(out[0]), close(in[1]);
      }
      close(out[1]);
    } else {
      close(in[1]);
    }
    close(in[0]);
  } else if (rc != 0) {
    cf_fmt(why, cap, "cannot create the SUT's log or pipes: %s", strerror(errno));
  }
  if (errfd >= 0) close(errfd);
  for (int i = 0; i < s->argc; i++) free(argv[i]);
  free(argv);
  return rc;
}

/* Stop the group; the wait status into *status (-1 if unknown). */
static void stop(cf_dsut *s, int *status) {
  if (status) *status = -1;
  if (s->pid <= 0) return;
  close(s->in_fd), close(s->out_fd);
  s->in_fd = s->out_fd = -1;
  int st = 0;
  pid_t r = 0;
  /* It may be on its way out (it closed stdout): give it the grace period. */
  for (int waited = 0; (r = waitpid(s->pid, &st, WNOHANG)) == 0 && waited < s->grace_ms; waited += 5) {
    if (waited == 0) kill(-s->pid, SIGTERM);
    cf_sleep_ms(5);
  }
  if (r == 0) {
    kill(-s->pid, SIGKILL);
    r = waitpid(s->pid, &st, 0);
  }
  kill(-s->pid, SIGKILL); /* anything it left in its group */
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  } /* its orphans, reparented to the runner (a subreaper) */
  if (r == s->pid && status) *status = st;
  s->pid = 0;
}

void cf_dsut_stop(cf_dsut *s) {
  stop(s, NULL);
  free(s->buf);
  s->buf = NULL, s->have = s->cap = 0;
}

/* The last lines of its stderr, for CRASH and TIMEOUT. */
static void log_tail(const cf_dsut *s, char *buf, size_t cap) {
  char lp[600];
  log_path(s, lp, sizeof lp);
  buf[0] = '\0';
  FILE *f = fopen(lp, "re");
  if (f == NULL) return;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  long from = sz > (long)cap - 1 ? sz - (long)cap + 1 : 0;
  fseek(f, from, SEEK_SET);
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
  for (char *p = buf; *p; p++)
    if (*p == '\n' && p[1]) *p = '|';
  if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = '\0';
}

static void failed(cf_dsut *s, cf_dverdict *v, cf_dv_kind kind, const char *what) {
  int st;
  if (kind == CF_DV_TIMEOUT) kill(-s->pid, SIGKILL);
  stop(s, &st);
  char ex[128] = "", tail[400];
  if (st != -1) cf_exit_text(st, ex, sizeof ex);
  log_tail(s, tail, sizeof tail);
  char text[1024];
  cf_fmt(text, sizeof text, "%s%s%s%s%s", what, ex[0] ? "; " : "", ex, tail[0] ? "; stderr: " : "", tail);
  memset(v, 0, sizeof *v);
  v->kind = kind;
  v->text = strdup(text);
}

int cf_dsut_ask(cf_dsut *s, const uint8_t *in, size_t len, cf_dverdict *v) {
  char why[512];
  if (s->pid <= 0 && start(s, why, sizeof why) != 0) {
    cf_fmt(s->start_error, sizeof s->start_error, "%s", why);
    memset(v, 0, sizeof *v);
    v->kind = CF_DV_CRASH;
    v->text = strdup(why);
    return -1;
  }
  uint8_t h[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
  size_t sent = 0, total = len + 4;
  uint64_t deadline = cf_now_ms() + (uint64_t)s->timeout_ms;
  for (;;) {
    /* A complete line? */
    char *nl = s->have ? memchr(s->buf, '\n', s->have) : NULL;
    if (nl != NULL && sent == total) {
      size_t ll = (size_t)(nl - s->buf);
      cf_dv_parse_line(s->buf, ll, v);
      memmove(s->buf, nl + 1, s->have - ll - 1);
      s->have -= ll + 1;
      return 0;
    }
    int64_t left = (int64_t)(deadline - cf_now_ms());
    if ((uint64_t)left > (uint64_t)s->timeout_ms) left = 0;
    if (left <= 0) {
      char w[160];
      cf_fmt(w, sizeof w, "no answer line within %d ms%s", s->timeout_ms,
               sent < total ? " (it did not even read the whole record)" : "");
      failed(s, v, CF_DV_TIMEOUT, w);
      return 0;
    }
    struct pollfd p[2] = {{s->out_fd, POLLIN, 0}, {s->in_fd, sent < total ? POLLOUT : 0, 0}};
    int pr = poll(p, 2, (int)left);
    if (pr < 0 && errno != EINTR) {
      failed(s, v, CF_DV_CRASH, "poll failed");
      return 0;
    }
    if (sent < total && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const uint8_t *src = sent < 4 ? h + sent : in + (sent - 4);
      size_t n = sent < 4 ? 4 - sent : total - sent;
      ssize_t w = write(s->in_fd, src, n);
      if (w > 0) sent += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        failed(s, v, CF_DV_CRASH, "closed its stdin before reading the whole record");
        return 0;
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (s->cap - s->have < 65536) {
        size_t nc = s->cap ? 2 * s->cap : 131072;
        char *nb = nc <= MAX_LINE ? realloc(s->buf, nc) : NULL;
        if (nb == NULL) {
          failed(s, v, CF_DV_GARBAGE, "an answer line longer than 64 MiB");
          return 0;
        }
        s->buf = nb, s->cap = nc;
      }
      ssize_t r = read(s->out_fd, s->buf + s->have, s->cap - s->have);
      if (r > 0) s->have += (size_t)r;
      else if (r == 0) {
        failed(s, v, CF_DV_CRASH, s->have ? "ended its output inside an answer line" : "ended its output without an answer");
        return 0;
      } else if (errno != EAGAIN && errno != EINTR) {
        failed(s, v, CF_DV_CRASH, "its output failed");
        return 0;
      }
    }
  }
}
