/* handoff-conform — small utilities: clocks, randomness, patterns, files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

const char *cf_verdict_name(int v) {
  switch (v) {
  case CF_PASS: return "pass";
  case CF_FAIL: return "fail";
  case CF_SKIP: return "skip";
  case CF_UNIMPLEMENTED: return "unimplemented";
  case CF_CRASH: return "crash";
  case CF_TIMEOUT: return "timeout";
  case CF_ERROR: return "error";
  }
  return "?";
}

uint64_t cf_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t cf_now_ms(void) { return cf_now_us() / 1000u; }

uint64_t cf_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void cf_sleep_ms(int ms) {
  if (ms <= 0) return;
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void cf_random(void *buf, size_t n) {
  uint8_t *p = buf;
  while (n > 0) {
    ssize_t r = getrandom(p, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      /* Tokens of a test peer need no secrecy, only uniqueness. */
      for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(rand() ^ (int)cf_now_us());
      return;
    }
    p += r;
    n -= (size_t)r;
  }
}

bool cf_pattern_match(const char *pat, const char *id) {
  if (strpbrk(pat, "*?[") != NULL) return fnmatch(pat, id, 0) == 0;
  size_t n = strlen(pat);
  return strncmp(pat, id, n) == 0 && (id[n] == '\0' || id[n] == '.');
}

void cf_appendf(char *buf, size_t cap, const char *fmt, ...) {
  size_t len = strnlen(buf, cap);
  if (len + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
}

int cf_write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

void cf_rmtree(const char *path) {
  DIR *d = opendir(path);
  if (d != NULL) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      char sub[4096];
      snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
      struct stat st;
      if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) cf_rmtree(sub);
      else (void)unlink(sub);
    }
    closedir(d);
  }
  (void)rmdir(path);
}

void cf_hex(const uint8_t *p, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

long cf_const(const cf_opts *o, int k) {
  if (k < 0 || k >= CF_K_COUNT) return -1;
  return o->const_set[k] ? o->consts[k] : cf_consts[k].def;
}

const cf_req *cf_req_find(const char *id) {
  for (size_t i = 0; i < cf_nreqs; i++)
    if (strcmp(cf_reqs[i].id, id) == 0) return &cf_reqs[i];
  return NULL;
}
