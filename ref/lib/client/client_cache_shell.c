/* handoff — what a client remembers about broker endpoints across
 * processes: the server_capabilities of the last Negotiated from each, in a
 * small text file, so that a client that is a fresh process knows whether
 * early data (and coalesced mode) is safe on that endpoint.
 * spec: CLIENT-7 READY-20
 *
 * File format, one entry per line: 16 hex digits of the capabilities, a
 * TAB, the endpoint path, a newline. At most HO_CLIENT_CACHE_ENTRIES
 * entries, the most recent first. Rewritten whole into a temporary file
 * in the same directory (mode 0600) and renamed over the old one, so a
 * reader never sees half a file; concurrent writers: the last one wins.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handoff/client.h"
#include "handoff/transport.h" /* ho_err_from_errno */

#define LINE_MAX_ 4200 /* 16 + TAB + a path of at most 4095 + newline */

typedef struct entry {
  uint64_t caps;
  char *path;
} entry;

static bool path_ok(const char *p) {
  return p != NULL && p[0] != '\0' && strlen(p) < 4096 && strchr(p, '\n') == NULL;
}

/* Read every well-formed entry (others are skipped: a damaged file costs
 * only what it forgot). Returns the count, or a negative HO_ERR_*. */
static int load(const char *file, entry *out, size_t cap) {
  FILE *f = fopen(file, "re"); /* "e": O_CLOEXEC, like every descriptor of the library */
  if (f == NULL) return errno == ENOENT ? 0 : ho_err_from_errno(errno);
  char line[LINE_MAX_];
  size_t n = 0;
  while (n < cap && fgets(line, sizeof line, f) != NULL) {
    size_t len = strlen(line);
    if (len < 19 || line[len - 1] != '\n' || line[16] != '\t') continue;
    line[len - 1] = '\0';
    char *end = NULL;
    line[16] = '\0';
    errno = 0;
    unsigned long long caps = strtoull(line, &end, 16);
    if (errno != 0 || end != line + 16 || !path_ok(line + 17)) continue;
    out[n].caps = caps;
    out[n].path = strdup(line + 17);
    if (out[n].path == NULL) break;
    n++;
  }
  fclose(f);
  return (int)n;
}

static void drop(entry *e, size_t n) {
  for (size_t i = 0; i < n; i++) free(e[i].path);
}

int ho_client_cache_lookup(const char *file, const char *endpoint, uint64_t *caps, bool *found) {
  if (file == NULL || !path_ok(endpoint) || caps == NULL || found == NULL)
    return HO_ERR_INVALID_ARGUMENT;
  entry e[HO_CLIENT_CACHE_ENTRIES];
  int n = load(file, e, HO_CLIENT_CACHE_ENTRIES);
  if (n < 0) return n;
  *found = false;
  for (int i = 0; i < n && !*found; i++) {
    if (strcmp(e[i].path, endpoint) == 0) {
      *caps = e[i].caps;
      *found = true;
    }
  }
  drop(e, (size_t)n);
  return HO_OK;
}

int ho_client_cache_store(const char *file, const char *endpoint, uint64_t caps) {
  if (file == NULL || !path_ok(endpoint)) return HO_ERR_INVALID_ARGUMENT;
  entry e[HO_CLIENT_CACHE_ENTRIES];
  int n = load(file, e, HO_CLIENT_CACHE_ENTRIES);
  if (n < 0) return n;
  if (n > 0 && strcmp(e[0].path, endpoint) == 0 && e[0].caps == caps) {
    drop(e, (size_t)n); /* unchanged and already the newest: no write at all */
    return HO_OK;
  }
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid()) >= (int)sizeof tmp) {
    drop(e, (size_t)n);
    return HO_ERR_INVALID_ARGUMENT;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    int rc = ho_err_from_errno(errno);
    drop(e, (size_t)n);
    return rc;
  }
  FILE *f = fdopen(fd, "w");
  if (f == NULL) {
    int rc = ho_err_from_errno(errno);
    close(fd);
    unlink(tmp);
    drop(e, (size_t)n);
    return rc;
  }
  fprintf(f, "%016llx\t%s\n", (unsigned long long)caps, endpoint); /* the newest first */
  int kept = 1;
  for (int i = 0; i < n && kept < HO_CLIENT_CACHE_ENTRIES; i++) {
    if (strcmp(e[i].path, endpoint) == 0) continue;
    fprintf(f, "%016llx\t%s\n", (unsigned long long)e[i].caps, e[i].path);
    kept++;
  }
  drop(e, (size_t)n);
  int rc = HO_OK;
  if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = ho_err_from_errno(errno);
  if (fclose(f) != 0 && rc == HO_OK) rc = ho_err_from_errno(errno);
  if (rc == HO_OK && rename(tmp, file) != 0) rc = ho_err_from_errno(errno);
  if (rc != HO_OK) unlink(tmp);
  return rc;
}
