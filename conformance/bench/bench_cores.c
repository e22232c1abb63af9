/* bench_cores — N handoffs through the sans-I/O broker and backend cores in
 * one process, without any I/O: a fake shell moves the bytes and actions
 * between them (the descriptors are plain numbers, the cores never touch
 * them). Run under `valgrind --tool=callgrind --collect-atstart=no`, it
 * collects the instructions (Ir) spent inside ONE core's API calls
 * (CALLGRIND_TOGGLE_COLLECT around each call), so that Ir / N is the
 * user-space cost of one handoff in that core. Natively it prints ns per
 * handoff for both cores together.
 *
 * Usage: bench_cores CAPS N CORE
 *   CAPS: the client's Hello.client_capabilities (a number, 0x.. allowed;
 *         the bench passes each route's caps), or one of the names
 *         ready-early, ready, legacy, reconnect. Without CAP_HANDLE_PASSING
 *         no handoff happens (the broker core only). Early data stays in the
 *         socket and never reaches a core: it changes nothing here.
 *   CORE: broker | backend | none (what callgrind collects)
 * Exit 0 when every handoff ended as CAPS implies (checked from the cores'
 * counters), 1 otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

#include "handoff/backend.h"
#include "handoff/broker.h"
#include "handoff/frame.h"
#include "handoff/msg.h"
#include "handoff/token.h"
#include "handoff/wire.h"

static int g_collect; /* 1 broker, 2 backend */
#define IN_BROKER(expr)                                           \
  do {                                                            \
    if (g_collect == 1) CALLGRIND_TOGGLE_COLLECT;                 \
    expr;                                                         \
    if (g_collect == 1) CALLGRIND_TOGGLE_COLLECT;                 \
  } while (0)
#define IN_BACKEND(expr)                                          \
  do {                                                            \
    if (g_collect == 2) CALLGRIND_TOGGLE_COLLECT;                 \
    expr;                                                         \
    if (g_collect == 2) CALLGRIND_TOGGLE_COLLECT;                 \
  } while (0)

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The cores' clock (milliseconds); elapsed time is measured with mono_ns. */
static uint64_t mono_ms(void) { return mono_ns() / 1000000u; }

static uint64_t wall_ms(void *u) {
  (void)u;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Token bytes from the OS source 1 KiB at a time, as the broker program
 * does (its pooled_random): one getrandom per 64 tokens. */
static uint8_t pool[1024];
static size_t pool_left;
static int pooled_random(void *ctx, uint8_t *out, size_t len) {
  (void)ctx;
  while (len > 0) {
    if (pool_left == 0) {
      if (ho_random_os(NULL, pool, sizeof pool) != HO_OK) return HO_ERR_RANDOM;
      pool_left = sizeof pool;
    }
    size_t take = len < pool_left ? len : pool_left;
    memcpy(out, pool + sizeof pool - pool_left, take);
    pool_left -= take;
    out += take;
    len -= take;
  }
  return HO_OK;
}

static void no_close(void *ctx, ho_handle h) {
  (void)ctx;
  (void)h;
}

/* One copied broker action (bytes outlive the next core call). */
typedef struct bact {
  ho_broker_action a;
  uint8_t bytes[1024];
} bact;

/* One control connection: its broker handle and its backend state. */
typedef struct ctl_link {
  ho_broker_conn *k;
  ho_backend_ctl *ctl;
} ctl_link;

typedef struct world {
  ho_broker *b;
  ho_backend_core *core;
  ctl_link links[64];
  size_t nlinks;
  ho_handle pending_fd;  /* descriptor that travels with the next feed */
  uint64_t adopted, ready_frames_to_client, closes, negotiated;
  int errors;
} world;

static void backend_actions(world *w, ctl_link *l);

/* Bytes written by the broker on the control connection reach the backend
 * core in the chunks its shell would read (ho_backend_ctl_wanted). */
static void to_backend(world *w, ctl_link *l, const uint8_t *p, size_t len, ho_handle fd) {
  while (len > 0) {
    size_t want = 0;
    IN_BACKEND(want = ho_backend_ctl_wanted(l->ctl));
    if (want == 0) {
      w->errors++;
      return;
    }
    size_t n = len < want ? len : want;
    size_t used = 0;
    int rc = 0;
    IN_BACKEND(rc = ho_backend_ctl_feed(l->ctl, mono_ms(), p, n, fd, HO_OK, &used));
    fd = HO_NO_HANDLE;
    if (rc != HO_OK || used == 0) {
      w->errors++;
      return;
    }
    p += used;
    len -= used;
    backend_actions(w, l);
  }
}

static void broker_actions(world *w) {
  for (;;) {
    bact list[16];
    size_t n = 0;
    int got = 1;
    while (n < 16) {
      IN_BROKER(got = ho_broker_next_action(w->b, &list[n].a));
      if (!got) break;
      if (list[n].a.bytes && list[n].a.len <= sizeof list[n].bytes) {
        memcpy(list[n].bytes, list[n].a.bytes, list[n].a.len);
        list[n].a.bytes = list[n].bytes;
      }
      n++;
    }
    if (n == 0) return;
    for (size_t i = 0; i < n; i++) {
      ho_broker_action *a = &list[i].a;
      uint64_t now = mono_ms();
      switch (a->type) {
      case HO_BACT_OPEN_CONTROL: {
        if (w->nlinks == sizeof w->links / sizeof w->links[0]) {
          w->errors++;
          break;
        }
        ctl_link *l = &w->links[w->nlinks++];
        l->k = a->conn;
        if (ho_backend_ctl_new(w->core, &l->ctl) != HO_OK) {
          w->errors++;
          break;
        }
        IN_BROKER(ho_broker_conn_set_user(a->conn, l));
        IN_BROKER(ho_broker_control_connected(w->b, a->conn, now));
        break;
      }
      case HO_BACT_WRITE:
        if (ho_broker_conn_is_control(a->conn)) {
          to_backend(w, ho_broker_conn_user(a->conn), a->bytes, a->len, w->pending_fd);
          w->pending_fd = HO_NO_HANDLE;
        } else {
          /* Negotiated, or the legacy ready frame: the client gets it. */
          if (a->len > 0) w->negotiated++;
        }
        IN_BROKER(ho_broker_conn_flushed(w->b, a->conn, now));
        break;
      case HO_BACT_SEND_FD:
        /* The 16 sideband bytes carry the client descriptor. */
        to_backend(w, a->user, a->bytes, a->len, (ho_handle)(intptr_t)a->peer_user);
        IN_BROKER(ho_broker_conn_flushed(w->b, a->conn, now));
        break;
      case HO_BACT_CLOSE:
        if (ho_broker_conn_is_control(a->conn)) {
          ctl_link *l = a->user;
          if (l && l->ctl) {
            ho_backend_ctl_eof(l->ctl);
            ho_backend_action ba;
            while (ho_backend_ctl_next_action(l->ctl, &ba)) {
            }
            ho_backend_ctl_del(l->ctl);
            l->ctl = NULL;
          }
        } else {
          w->closes++;
        }
        break;
      case HO_BACT_SET_TIMER:
      default:
        break;
      }
    }
  }
}

static void backend_actions(world *w, ctl_link *l) {
  for (;;) {
    ho_backend_action a;
    int got = 0;
    if (l->ctl == NULL) return;
    IN_BACKEND(got = ho_backend_ctl_next_action(l->ctl, &a));
    if (!got) return;
    switch (a.type) {
    case HO_BACKEND_ACT_WRITE_CLIENT:
      w->ready_frames_to_client++;
      IN_BACKEND(ho_backend_ctl_client_written(l->ctl, mono_ms(), HO_OK));
      break;
    case HO_BACKEND_ACT_WRITE_CONTROL:
      IN_BROKER(ho_broker_control_data(w->b, l->k, a.bytes, a.len, mono_ms()));
      broker_actions(w);
      break;
    case HO_BACKEND_ACT_ADOPT:
      w->adopted++;
      break;
    case HO_BACKEND_ACT_CLOSE_FD:
    case HO_BACKEND_ACT_CLOSE_CONTROL:
    case HO_BACKEND_ACT_CRASH:
      w->errors++;
      break;
    default:
      break;
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: bench_cores CAPS|ready-early|ready|legacy|reconnect N "
                    "broker|backend|none\n");
    return 2;
  }
  const char *mode = argv[1];
  long n = atol(argv[2]);
  g_collect = !strcmp(argv[3], "broker") ? 1 : !strcmp(argv[3], "backend") ? 2 : 0;
  uint64_t caps;
  char *end;
  if (!strcmp(mode, "ready-early"))
    caps = HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY | HO_CAP_EARLY_DATA;
  else if (!strcmp(mode, "ready"))
    caps = HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY;
  else if (!strcmp(mode, "legacy"))
    caps = HO_CAP_HANDLE_PASSING;
  else if (!strcmp(mode, "reconnect"))
    caps = 0;
  else if ((caps = strtoull(mode, &end, 0), *end != '\0' || end == mode))
    return 2;
  if (n < 1) return 2;

  world w;
  memset(&w, 0, sizeof w);
  w.pending_fd = HO_NO_HANDLE;
  ho_broker_config bc;
  memset(&bc, 0, sizeof bc);
  bc.service = "echo";
  bc.backend_pipe = "/run/bench/backend.sock";
  bc.handoff_endpoint = true;
  bc.backend_coalesced = true; /* backend-ready is learnt from the first ACK (READY-36) */
  bc.hello_rate = HO_BROKER_HELLO_RATE_UNLIMITED;
  bc.peer_policy = HO_PEER_SAME_UID;
  bc.self_uid = (uint32_t)getuid();
  bc.unix_ms = wall_ms;
  bc.random = pooled_random;
  bc.log_level = HO_BROKER_LOG_ERROR;
  if (ho_broker_new(&bc, mono_ms(), &w.b) != HO_OK) return 1;
  ho_backend_config kc;
  ho_backend_config_init(&kc);
  kc.ready_mode = HO_READY_BACKEND;
  kc.wall_clock_ms = wall_ms;
  kc.close_handle = no_close;
  if (ho_backend_core_new(&kc, &w.core) != HO_OK) return 1;
  broker_actions(&w); /* OPEN_CONTROL */

  /* The client's Hello (built once, outside what is counted). */
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.hello.client_min_protocol = 1;
  m.hello.client_max_protocol = 1;
  snprintf(m.hello.service_name, sizeof m.hello.service_name, "echo");
  m.hello.client_capabilities = caps;
  m.hello.peer_pid = (uint32_t)getpid();
  uint8_t hello[512];
  size_t hlen = 0;
  if (ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO, &m, hello, sizeof hello, &hlen) != HO_OK)
    return 1;

  ho_peer_cred peer = {.pid = getpid(), .uid = getuid(), .gid = getgid()};
  /* Backend-ready mode comes from the backend's declaration in an ACK
   * (READY-36): one legacy handoff first, outside the measurement (the
   * callgrind instrumentation covers the loop only through IN_* macros,
   * so its instructions are counted; 1 in n). Counters are compared from
   * here. */
  if ((caps & HO_CAP_BACKEND_READY) && !(caps & HO_CAP_COALESCED_REPLY)) {
    m.hello.client_capabilities = HO_CAP_HANDLE_PASSING;
    uint8_t warm[512];
    size_t wlen = 0;
    ho_broker_conn *c = NULL;
    if (ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO, &m, warm, sizeof warm, &wlen) != HO_OK ||
        ho_broker_client_open(w.b, (void *)(intptr_t)999, &peer, mono_ms(), &c) != HO_OK ||
        ho_broker_client_data(w.b, c, warm, 5, mono_ms()) != HO_OK ||
        ho_broker_client_data(w.b, c, warm + 5, wlen - 5, mono_ms()) != HO_OK)
      return 1;
    broker_actions(&w);
  }
  ho_broker_stats st0;
  ho_broker_get_stats(w.b, &st0);
  uint64_t adopted0 = w.adopted, ready0 = w.ready_frames_to_client, closes0 = w.closes;
  uint64_t t0 = mono_ns();
  for (long i = 0; i < n; i++) {
    ho_broker_conn *c = NULL;
    int rc = 0;
    /* The descriptor number travels as the user pointer. */
    IN_BROKER(rc = ho_broker_client_open(w.b, (void *)(intptr_t)(1000 + (i % 30000)), &peer,
                                         mono_ms(), &c));
    if (rc != HO_OK) return 1;
    size_t off = 0;
    while (off < hlen) {
      size_t want = 0;
      IN_BROKER(want = ho_broker_client_wants(w.b, c));
      if (want == 0) break;
      size_t k = hlen - off < want ? hlen - off : want;
      IN_BROKER(ho_broker_client_data(w.b, c, hello + off, k, mono_ms()));
      off += k;
    }
    broker_actions(&w);
  }
  uint64_t dt = mono_ns() - t0;

  ho_broker_stats st;
  ho_broker_get_stats(w.b, &st);
  bool want_handoff = (caps & HO_CAP_HANDLE_PASSING) != 0;
  st.negotiated -= st0.negotiated;
  st.handoffs_completed -= st0.handoffs_completed;
  st.handoffs_backend_ready -= st0.handoffs_backend_ready;
  w.adopted -= adopted0;
  w.ready_frames_to_client -= ready0;
  w.closes -= closes0;
  bool ok = w.errors == 0 && st.negotiated == (uint64_t)n &&
            (want_handoff ? st.handoffs_completed == (uint64_t)n && w.adopted == (uint64_t)n
                          : st.handoffs_completed == 0 && w.closes >= (uint64_t)n);
  if (want_handoff && (caps & HO_CAP_BACKEND_READY))
    ok = ok && w.ready_frames_to_client == (uint64_t)n && st.handoffs_backend_ready == (uint64_t)n;
  printf("mode=%s n=%ld controls=%zu completed=%llu adopted=%llu backend_ready=%llu errors=%d ns_per=%.0f %s\n",
         mode, n, w.nlinks, (unsigned long long)st.handoffs_completed, (unsigned long long)w.adopted,
         (unsigned long long)st.handoffs_backend_ready, w.errors, (double)dt / (double)n,
         ok ? "ok" : "MISMATCH");
  ho_broker_shutdown(w.b, mono_ms());
  ho_broker_action a;
  while (ho_broker_next_action(w.b, &a)) {
  }
  ho_broker_del(w.b);
  for (size_t i = 0; i < w.nlinks; i++) {
    if (w.links[i].ctl == NULL) continue;
    ho_backend_ctl_eof(w.links[i].ctl);
    ho_backend_action ba;
    while (ho_backend_ctl_next_action(w.links[i].ctl, &ba)) {
    }
    ho_backend_ctl_del(w.links[i].ctl);
  }
  ho_backend_core_del(w.core);
  return ok ? 0 : 1;
}
