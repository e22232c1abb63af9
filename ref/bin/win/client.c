/* handoff-client.exe — the reference client on Windows: connects to a
 * broker's pipe, takes a handoff when offered (--handoff), falls back
 * silently to backend_pipe otherwise, then talks to the echo service and
 * prints the Linux program's report line. spec: CLIENT-8 FALLBACK-24 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "winclient.h"
#include "winloop.h"

static void usage(FILE *f) {
  fputs("usage: handoff-client.exe --connect NAME --service NAME [--handoff]\n"
        "                          [--message TEXT] [--count N] [--ready-timeout-ms N]\n"
        "Output: route=handoff|reconnect reason=NAME mode=... negotiated_us=...\n"
        "Exit status: 0 served; 1 error; 2 usage; 3 echo mismatch.\n",
        f);
}

int main(int argc, char **argv) {
  wc_config cfg = {0};
  const char *message = "ping";
  long count = 1;
  static const struct option opts[] = {{"connect", 1, 0, 'c'}, {"service", 1, 0, 's'},
                                       {"handoff", 0, 0, 'H'}, {"message", 1, 0, 'm'},
                                       {"count", 1, 0, 'n'},   {"ready-timeout-ms", 1, 0, 't'},
                                       {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
  int o;
  char *end;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 'c': cfg.connect = optarg; break;
    case 's': cfg.service = optarg; break;
    case 'H': cfg.handoff = true; break;
    case 'm': message = optarg; break;
    case 'n':
      count = strtol(optarg, &end, 10);
      if (*end || count < 1 || count > 1000000) {
        fprintf(stderr, "handoff-client: --count must be 1..1000000\n");
        return 2;
      }
      break;
    case 't': {
      long v = strtol(optarg, &end, 10);
      if (*end || v < 1 || v > 3600000) {
        fprintf(stderr, "handoff-client: --ready-timeout-ms must be 1..3600000\n");
        return 2;
      }
      cfg.ready_timeout_ms = (uint32_t)v;
      break;
    }
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  size_t mlen = strlen(message);
  if (!cfg.connect || !cfg.service || optind != argc || mlen == 0) {
    usage(stderr);
    return 2;
  }
  wc_result r;
  int rc = wc_connect(&cfg, &r);
  if (rc != HO_OK) {
    printf("route=none error=%s\n", ho_errname(rc) ? ho_errname(rc) : "UNKNOWN");
    return 1;
  }
  char *buf = malloc(mlen);
  const char *err = NULL;
  int status = 0;
  uint64_t first_us = 0;
  for (long i = 0; i < count && buf; i++) {
    size_t got;
    rc = ho_pipe_write_all(r.conn, message, mlen, 30000);
    if (rc == HO_OK) rc = ho_pipe_read_exact(r.conn, buf, mlen, 30000, &got);
    if (i == 0) first_us = (wl_now_ns() - r.start_ns) / 1000u;
    if (rc != HO_OK) {
      err = ho_errname(rc);
      status = 1;
      break;
    }
    if (memcmp(buf, message, mlen) != 0) {
      err = "ECHO_MISMATCH";
      status = 3;
      break;
    }
  }
  uint64_t total = (wl_now_ns() - r.start_ns) / 1000u;
  ho_win_close(r.conn);
  free(buf);
  printf("route=%s reason=%s mode=%s negotiated_us=%llu ready_us=%llu connected_us=%llu "
         "first_byte_us=%llu total_us=%llu count=%ld%s%s\n",
         r.route == 1 ? "handoff" : "reconnect", wc_reason_name(r.fallback_reason),
         r.route == 1 ? "legacy" : "none", (unsigned long long)r.us_negotiated,
         (unsigned long long)r.us_ready, (unsigned long long)r.us_connected,
         (unsigned long long)first_us, (unsigned long long)total, count, err ? " error=" : "",
         err ? err : "");
  return status;
}
