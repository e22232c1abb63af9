/* Replay main of the stateful fuzz targets (fuzz_token.c,
 * fuzz_broker_core.c, fuzz_backend_core.c): with -DHO_FUZZ_REPLAY_MAIN the
 * target is a plain program that runs every file or directory given on its
 * command line through LLVMFuzzerTestOneInput() (make test). Define
 * HO_FUZZ_NAME first. */
#ifndef HO_FUZZ_REPLAY_MAIN_H
#define HO_FUZZ_REPLAY_MAIN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

static unsigned long replayed;

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return -1;
  }
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 4096;
      uint8_t *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        return -1;
      }
      buf = nb;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    if (n == 0) break;
    len += n;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  replayed++;
  return 0;
}

static int run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    perror(path);
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) return run_file(path);
  DIR *d = opendir(path);
  if (!d) {
    perror(path);
    return -1;
  }
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
    if (run_path(sub) != 0) rc = -1;
  }
  closedir(d);
  return rc;
}

int main(int argc, char **argv) {
  int rc = 0;
  for (int i = 1; i < argc; i++)
    if (run_path(argv[i]) != 0) rc = 1;
  printf("%s: replayed %lu inputs, all invariants held\n", HO_FUZZ_NAME, replayed);
  if (replayed == 0) {
    fprintf(stderr, "%s: no inputs replayed\n", HO_FUZZ_NAME);
    return 1;
  }
  return rc;
}

#endif
