/* Integration harness: see harness.h. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "handoff/msg.h"
#include "handoff/token.h"
#include "handoff/wire.h"

uint64_t hx_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

const char *hx_bin(const char *name, char *buf, size_t cap) {
  const char *d = getenv("HO_BIN_DIR");
  snprintf(buf, cap, "%s/%s", d && *d ? d : "build/bin", name);
  return buf;
}

int hx_world_init(hx_world *w, const char *tag) {
  memset(w, 0, sizeof *w);
  const char *t = getenv("TMPDIR");
  snprintf(w->dir, sizeof w->dir, "%s/ho-%s-XXXXXX", t && *t ? t : "/tmp", tag);
  if (mkdtemp(w->dir) == NULL) return -1;
  chmod(w->dir, 0700);
  snprintf(w->listen, sizeof w->listen, "%s/broker.sock", w->dir);
  snprintf(w->endpoint, sizeof w->endpoint, "%s/handoff.sock", w->dir);
  snprintf(w->pipe, sizeof w->pipe, "%s/backend.sock", w->dir);
  return 0;
}

int hx_spawn(hx_proc *p, const char *log, char *const argv[], const char *const wait_paths[]) {
  snprintf(p->log, sizeof p->log, "%s", log);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    /* Only 0,1,2 are inherited: the fd counts stay meaningful. */
    for (int i = 3; i < 1024; i++) close(i);
    execv(argv[0], argv);
    _exit(127);
  }
  p->pid = pid;
  for (int i = 0; wait_paths && wait_paths[i]; i++) {
    int waited = 0;
    while (access(wait_paths[i], F_OK) != 0) {
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        p->pid = 0;
        return -1;
      }
      if (waited++ > 5000) return -1;
      nap_ms(1);
    }
  }
  return 0;
}

int hx_stop(hx_proc *p) {
  if (p->pid <= 0) return -1;
  kill(p->pid, SIGTERM);
  int st = 0;
  int rc = -1;
  for (int i = 0; i < 5000; i++) {
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
      rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (r < 0) break;
    nap_ms(1);
  }
  if (rc == -1) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
  }
  p->pid = 0;
  return rc;
}

static void rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char path[600];
    while ((e = readdir(d)) != NULL) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
    closedir(d);
  }
  rmdir(dir);
}

void hx_world_fini(hx_world *w) {
  hx_stop(&w->broker);
  hx_stop(&w->backend);
  hx_stop(&w->backend2);
  if (getenv("HO_KEEP_LOGS") == NULL) rm_tree(w->dir);
}

int hx_fd_count(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  if (d == NULL) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

int hx_fd_settle(pid_t pid, int want) {
  int n = -1;
  for (int i = 0; i < 3000; i++) {
    n = hx_fd_count(pid);
    if (n >= 0 && n <= want) return n;
    nap_ms(1);
  }
  return n;
}

bool hx_log_has(const hx_proc *p, const char *needle) {
  FILE *f = fopen(p->log, "r");
  if (f == NULL) return false;
  char line[2048];
  bool hit = false;
  while (!hit && fgets(line, sizeof line, f)) hit = strstr(line, needle) != NULL;
  fclose(f);
  return hit;
}

/* ---- client ---------------------------------------------------------------- */

static int dial(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Read exactly n bytes before the deadline. Returns n, 0 on EOF before n,
 * -1 on error or timeout (errno ETIMEDOUT). */
/* Bytes read ahead on one connection (coalesced mode reads the whole reply
 * at once, READY-32); empty and unused otherwise. */
typedef struct rbuf {
  uint8_t b[8192];
  size_t off, len;
  bool ahead;        /* read as much as is there, not exactly what is asked */
  uint64_t fill_ns;  /* when the buffered bytes arrived */
} rbuf;

/* Read up to `n` bytes: try at once, poll only when nothing is there (one
 * system call when the bytes have arrived). 0 EOF, -1 error/timeout. */
static ssize_t read_some(int fd, uint8_t *buf, size_t n, uint64_t deadline) {
  for (;;) {
    ssize_t k = recv(fd, buf, n, MSG_DONTWAIT);
    if (k >= 0) return k;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    uint64_t now = hx_now_ns();
    if (now >= deadline) {
      errno = ETIMEDOUT;
      return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
    if (r < 0 && errno != EINTR) return -1;
  }
}

static ssize_t read_exact_rb(int fd, rbuf *rb, uint8_t *buf, size_t n, uint64_t deadline,
                             uint64_t *first) {
  size_t have = 0;
  while (have < n) {
    if (rb != NULL && rb->off == rb->len && rb->ahead) {
      ssize_t k = read_some(fd, rb->b, sizeof rb->b, deadline);
      if (k <= 0) return k;
      rb->off = 0;
      rb->len = (size_t)k;
      rb->fill_ns = hx_now_ns();
    }
    if (rb != NULL && rb->off < rb->len) {
      size_t take = rb->len - rb->off < n - have ? rb->len - rb->off : n - have;
      memcpy(buf + have, rb->b + rb->off, take);
      if (have == 0 && first) *first = rb->fill_ns;
      rb->off += take;
      have += take;
      continue;
    }
    ssize_t k = read_some(fd, buf + have, n - have, deadline);
    if (k <= 0) return k;
    if (have == 0 && first) *first = hx_now_ns();
    have += (size_t)k;
  }
  return (ssize_t)n;
}

static ssize_t read_exact(int fd, uint8_t *buf, size_t n, uint64_t deadline, uint64_t *first) {
  return read_exact_rb(fd, NULL, buf, n, deadline, first);
}

/* One frame into buf. Returns its length, 0 on EOF, -1 error/timeout. */
static ssize_t read_frame(int fd, rbuf *rb, uint8_t *buf, size_t cap, uint64_t deadline) {
  ssize_t r = read_exact_rb(fd, rb, buf, HO_FRAME_HEADER_BYTES, deadline, NULL);
  if (r <= 0) return r;
  uint32_t len = (uint32_t)buf[1] | (uint32_t)buf[2] << 8 | (uint32_t)buf[3] << 16 |
                 (uint32_t)buf[4] << 24;
  if (len > cap - HO_FRAME_HEADER_BYTES) return -1;
  if (len == 0) return HO_FRAME_HEADER_BYTES;
  r = read_exact_rb(fd, rb, buf + HO_FRAME_HEADER_BYTES, len, deadline, NULL);
  if (r <= 0) return r;
  return (ssize_t)(HO_FRAME_HEADER_BYTES + len);
}

static int write_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    b += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Read the echo of msg, then expect EOF with nothing more. */
static bool echo_check(int fd, rbuf *rb, const char *msg, uint64_t *first) {
  size_t n = strlen(msg);
  uint8_t buf[4096];
  if (n > sizeof buf) return false;
  if (rb != NULL) rb->ahead = false; /* what is buffered first, then exactly the rest */
  if (read_exact_rb(fd, rb, buf, n, hx_now_ns() + 5000000000ull, first) != (ssize_t)n)
    return false;
  if (memcmp(buf, msg, n) != 0) return false;
  shutdown(fd, SHUT_WR);
  uint8_t extra;
  ssize_t r = read_exact(fd, &extra, 1, hx_now_ns() + 5000000000ull, NULL);
  return r == 0; /* EOF, no duplicate bytes */
}

static int reconnect(const hx_client_opts *o, const char *pipe, hx_client_result *out,
                     uint64_t t0) {
  out->route = HX_ROUTE_RECONNECT;
  int fd = dial(pipe);
  if (fd < 0) {
    snprintf(out->why + strlen(out->why), sizeof out->why - strlen(out->why),
             "; backend_pipe unreachable");
    return 0;
  }
  uint64_t first = 0;
  if (write_all(fd, o->message, strlen(o->message)) == 0)
    out->echo_ok = echo_check(fd, NULL, o->message, &first);
  out->first_byte_ns = first ? first - t0 : 0;
  close(fd);
  return 0;
}

int hx_client_run(const hx_client_opts *o, hx_client_result *out) {
  memset(out, 0, sizeof *out);
  uint64_t t0 = hx_now_ns();
  int fd = dial(o->broker);
  if (fd < 0) {
    snprintf(out->why, sizeof out->why, "cannot connect to the broker: %s", strerror(errno));
    return -1;
  }
  static __thread ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.hello.client_min_protocol = 1;
  m.hello.client_max_protocol = 1;
  snprintf(m.hello.service_name, sizeof m.hello.service_name, "%s", o->service);
  m.hello.client_capabilities = o->caps;
  m.hello.peer_pid = (uint32_t)getpid();
  uint8_t buf[8192];
  size_t len = 0;
  if (ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO, &m, buf, sizeof buf, &len) != HO_OK) {
    close(fd);
    snprintf(out->why, sizeof out->why, "cannot encode Hello");
    return -1;
  }
  size_t mlen = strlen(o->message);
  if (o->early_data && len + mlen <= sizeof buf) {
    memcpy(buf + len, o->message, mlen); /* one write: Hello + request */
    len += mlen;
  }
  if (write_all(fd, buf, len) != 0) {
    close(fd);
    snprintf(out->why, sizeof out->why, "cannot write Hello");
    return -1;
  }
  if (o->hang_up_after_hello) {
    close(fd);
    out->route = HX_ROUTE_NONE;
    return 0;
  }
  int rto = o->ready_timeout_ms > 0 ? o->ready_timeout_ms : 2000;
  /* spec: READY-32 — a coalesced reply is read whole, in one read. */
  static __thread rbuf rb;
  rb.off = rb.len = 0;
  rb.ahead = (o->caps & HO_CAP_COALESCED_REPLY) && o->early_data;
  ssize_t fl = read_frame(fd, &rb, buf, sizeof buf, hx_now_ns() + 5000000000ull);
  if (fl <= 0) {
    close(fd);
    snprintf(out->why, sizeof out->why, "no HelloReply");
    return -1;
  }
  if (ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, buf, (size_t)fl, NULL, &m) !=
      HO_OK) {
    close(fd);
    snprintf(out->why, sizeof out->why, "bad HelloReply");
    return -1;
  }
  out->negotiated_ns = hx_now_ns() - t0;
  if (m.hello_reply.which == HO_REPLY_REFUSED) {
    out->route = HX_ROUTE_REFUSED;
    out->refused_code = m.hello_reply.refused.code;
    snprintf(out->why, sizeof out->why, "refused: %.100s", m.hello_reply.refused.reason);
    close(fd);
    return 0;
  }
  ho_negotiated n = m.hello_reply.negotiated;
  bool token = n.handle_passed_token_len == HO_TOKEN_BYTES &&
               (n.server_capabilities & HO_CAP_HANDLE_PASSING);
  out->token_offered = token;
  out->backend_ready = (n.server_capabilities & HO_CAP_BACKEND_READY) != 0;
  if (!token || (o->early_data && !out->backend_ready)) {
    snprintf(out->why, sizeof out->why, "no token offered");
    close(fd);
    return reconnect(o, n.backend_pipe, out, t0);
  }
  if (out->backend_ready && !o->early_data && write_all(fd, o->message, mlen) != 0) {
    snprintf(out->why, sizeof out->why, "write on the broker connection failed");
    close(fd);
    return reconnect(o, n.backend_pipe, out, t0);
  }
  /* The ready frame (READY-4). */
  out->coalesced = (n.server_capabilities & HO_CAP_COALESCED_REPLY) != 0;
  fl = read_frame(fd, &rb, buf, sizeof buf, hx_now_ns() + (uint64_t)rto * 1000000u);
  bool ready = false;
  if (fl > 0 &&
      ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_READY, buf, (size_t)fl, NULL, &m) == HO_OK)
    ready = m.ack.accepted && ho_token_equal(m.ack.token, n.handle_passed_token);
  if (!ready) {
    snprintf(out->why, sizeof out->why, "%s",
             fl == 0 ? "EOF before ready" : fl < 0 ? "no ready before timeout" : "bad ready");
    close(fd);
    return reconnect(o, n.backend_pipe, out, t0);
  }
  out->route = HX_ROUTE_HANDOFF;
  out->ready_ns = hx_now_ns() - t0;
  if (!out->backend_ready && write_all(fd, o->message, mlen) != 0) {
    close(fd);
    snprintf(out->why, sizeof out->why, "write after ready failed");
    return 0;
  }
  uint64_t first = 0;
  out->echo_ok = echo_check(fd, &rb, o->message, &first);
  out->first_byte_ns = first ? first - t0 : 0;
  out->total_ns = hx_now_ns() - t0;
  close(fd);
  return 0;
}
