/* Target functions: ho_win_handle_judge (ref/lib/core/win_handle.c) and the
 * backend core without a sideband (ho_backend_ctl_feed with
 * cfg.no_sideband, ref/lib/backend/backend_core.c) — the Windows offer
 * checks, on any platform.
 *
 * Input: two config bytes (codec; broker pid of the control connections:
 * 0 = unknown, else one of two pids), a fake process handle table of 8
 * entries (2 bytes each: value index or raw low byte; GetFileType a pipe;
 * GetNamedPipeInfo succeeds; server end; server pid call succeeds; server
 * pid the broker's, another, ours), then operations of 4 bytes plus what
 * they take: an offer frame naming a table value, a raw 64-bit value (0,
 * a pseudo-handle, above 2^32, tag bits, anything), with correlation_id 0,
 * a token seen before, another service, request_id != correlation_id; an
 * offer frame whose payload is input bytes; a control connection ending
 * (EOF) and a new one with another broker pid.
 *
 * Aborts on: a judge verdict that differs from an independent reading of
 * XFER-32 / XFER-38 over the fake table (0 NO_DESCRIPTOR; pseudo-handle,
 * > 2^32 or tag bits BAD_DESCRIPTOR with no question asked; then pipe,
 * named-pipe info, server end, server pid); a question asked twice, out of
 * order, after a failed one, or the server pid asked with no broker pid;
 * check_handle called for an offer that did not decode, or twice for one
 * offer; a handle CLOSE_FD'd or ADOPTed that check_handle never handed over
 * (XFER-32: a refused value may be one of the backend's own handles), or
 * twice; a handed-over handle neither adopted nor closed once the offer is
 * done; an accepted ACK for a value the judge refused; a refusal for a
 * refused value that does not name NO_DESCRIPTOR or BAD_DESCRIPTOR; an
 * ACK whose correlation_id is not the offer's; a code outside error.h.
 * spec: XFER-32 XFER-38 XFER-36 XFER-31 XFER-44 ERR-31 ERR-33 ERR-47
 *
 * Built with -fsanitize=fuzzer (make fuzz-run-fuzz_win_offer) and with
 * -DHO_FUZZ_REPLAY_MAIN as a plain replay program (make test).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/win_handle.h"
#include "fuzz_cursor.h"
#include "handoff/backend.h"
#include "handoff/error.h"
#include "handoff/frame.h"
#include "handoff/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NTAB 8
#define MAX_OPS 256
#define MAX_CONN 1024
#define CONN_BASE ((ho_handle)1 << 24) /* handed-over handles: fake, never opened */
#define OUR_PID 4242u
static const uint32_t BROKER_PIDS[3] = {0, 1000, 2000};

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fuzz_win_offer: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}

typedef struct fake_handle {
  uint64_t value;
  int pipe, info_ok, server_end, pid_ok;
  uint32_t pid;
} fake_handle;

enum { C_UNUSED = 0, C_HELD, C_ADOPTED, C_CLOSED };

static struct {
  fake_handle tab[NTAB];
  uint32_t broker_pid; /* of the current control connection (its ctl_user) */
  /* questions of the current judge */
  int asked[4], last_q;
  /* check_handle of the current offer */
  unsigned checks;
  int last_verdict;
  uint64_t last_value;
  unsigned char conn[MAX_CONN];
  int nconn;
} S;

static const fake_handle *lookup(uint64_t value) {
  for (int i = 0; i < NTAB; i++)
    if (S.tab[i].value == value) return &S.tab[i];
  return NULL;
}

/* The fake operating system. */
static int fake_ask(void *ctx, uint64_t value, ho_win_question q, uint32_t *answer) {
  (void)ctx;
  if (q < HO_WIN_ASK_FILE_TYPE || q > HO_WIN_ASK_SERVER_PID) fail("unknown question %d", (int)q);
  if (S.asked[q]) fail("question %d asked twice", (int)q);
  if ((int)q != S.last_q + 1) fail("question %d after %d (XFER-38 order)", (int)q, S.last_q);
  if (q == HO_WIN_ASK_SERVER_PID && S.broker_pid == 0) fail("server pid asked with no broker pid");
  S.asked[q] = 1;
  S.last_q = (int)q;
  const fake_handle *h = lookup(value);
  switch (q) {
  case HO_WIN_ASK_FILE_TYPE: *answer = h != NULL && h->pipe; return 0;
  case HO_WIN_ASK_PIPE_INFO:
    if (h == NULL || !h->info_ok) return -1;
    *answer = h->server_end ? HO_WIN_PIPE_SERVER_END : 0;
    return 0;
  default:
    if (h == NULL || !h->pid_ok) return -1;
    *answer = h->pid;
    return 0;
  }
}

/* XFER-32 / XFER-38 read independently: the verdict and how many questions
 * it takes. */
static int model_verdict(uint64_t v, uint32_t broker_pid, int *questions) {
  *questions = 0;
  if (v == 0) return HO_ERR_NO_DESCRIPTOR;
  if (v > 0xFFFFFFFFull || v % 4 != 0) return HO_ERR_BAD_DESCRIPTOR; /* covers -1..-12 */
  const fake_handle *h = lookup(v);
  *questions = 1;
  if (h == NULL || !h->pipe) return HO_ERR_BAD_DESCRIPTOR;
  *questions = 2;
  if (!h->info_ok || !h->server_end) return HO_ERR_BAD_DESCRIPTOR;
  if (broker_pid == 0) return HO_OK;
  *questions = 3;
  return h->pid_ok && h->pid == broker_pid ? HO_OK : HO_ERR_BAD_DESCRIPTOR;
}

static int check_handle(void *ctx, void *ctl_user, uint64_t value, ho_handle *conn) {
  (void)ctx;
  if (ctl_user != &S.broker_pid) fail("check_handle without the connection's user pointer");
  S.checks++;
  memset(S.asked, 0, sizeof S.asked);
  S.last_q = 0;
  ho_win_question failed = (ho_win_question)-1;
  int rc = ho_win_handle_judge(value, S.broker_pid, fake_ask, NULL, &failed);
  int nq = 0, want = model_verdict(value, S.broker_pid, &nq);
  if (rc != want) fail("judge of 0x%llx: %s, XFER-38 says %s", (unsigned long long)value,
                       ho_errname(rc) ? ho_errname(rc) : "?", ho_errname(want));
  if (S.last_q != nq) fail("judge of 0x%llx asked %d questions, not %d", (unsigned long long)value,
                           S.last_q, nq);
  if (rc == HO_OK ? failed != HO_WIN_ASK_NONE
                  : rc == HO_ERR_BAD_DESCRIPTOR && (int)failed != (nq ? nq : 0))
    fail("judge of 0x%llx names question %d as failed", (unsigned long long)value, (int)failed);
  S.last_verdict = rc;
  S.last_value = value;
  if (rc != HO_OK) return rc;
  if (S.nconn >= MAX_CONN) return HO_ERR_BAD_DESCRIPTOR; /* the fake is out of handles */
  S.conn[S.nconn] = C_HELD;
  *conn = CONN_BASE + S.nconn++;
  return HO_OK;
}

static int conn_index(ho_handle h, const char *what) {
  if (h < CONN_BASE || h >= CONN_BASE + S.nconn)
    fail("%s of 0x%llx, never handed over by check_handle (XFER-32)", what, (unsigned long long)h);
  int i = (int)(h - CONN_BASE);
  if (S.conn[i] != C_HELD) fail("%s of a handle already %s", what, S.conn[i] == C_ADOPTED ? "adopted" : "closed");
  return i;
}

static void close_handle(void *ctx, ho_handle h) {
  (void)ctx;
  S.conn[conn_index(h, "close_handle")] = C_CLOSED;
}

static uint64_t fake_wall(void *ctx) {
  (void)ctx;
  return 1700000000000ull;
}


/* Build one offer frame; returns its length (0 when it cannot be encoded). */
static size_t offer_frame(ho_codec codec, uint8_t *out, size_t cap, const ho_offer *o,
                          uint64_t request_id, const uint8_t *raw, size_t rawlen) {
  uint8_t payload[512];
  size_t plen = 0;
  if (raw != NULL) {
    memcpy(payload, raw, rawlen);
    plen = rawlen;
  } else if (ho_offer_encode(codec, o, payload, sizeof payload, &plen) != HO_OK) {
    return 0;
  }
  ho_envelope env;
  memset(&env, 0, sizeof env);
  env.envelope_version = 1;
  env.kind = HO_KIND_REQUEST;
  env.payload_protocol = HO_PAYLOAD_HANDOFF;
  env.payload = payload;
  env.payload_len = plen;
  env.request_id = request_id;
  size_t blen = 0;
  if (ho_envelope_encode(codec, &env, out + HO_FRAME_HEADER_BYTES, cap - HO_FRAME_HEADER_BYTES,
                         &blen) != HO_OK)
    return 0;
  if (ho_frame_write_header(out, blen) != HO_OK) return 0;
  return blen + HO_FRAME_HEADER_BYTES;
}

/* Run every action the core has; returns false once the control
 * connection is closed. */
static bool drain(ho_backend_ctl *ctl, const ho_offer *o, bool decodable) {
  static ho_backend_action a;
  bool open = true;
  unsigned acks = 0;
  while (ho_backend_ctl_next_action(ctl, &a) == 1) {
    switch (a.type) {
    case HO_BACKEND_ACT_WRITE_CONTROL:
      acks++;
      if (!decodable) fail("ACK for an offer that did not decode");
      if (a.correlation_id != o->correlation_id) fail("ACK correlation_id %llu, offer's %llu",
                                                      (unsigned long long)a.correlation_id,
                                                      (unsigned long long)o->correlation_id);
      if (a.accepted && S.last_verdict != HO_OK) fail("accepted a value the judge refused");
      if (!a.accepted && ho_errname(a.err) == NULL) fail("refusal code %d not in error.h", a.err);
      /* spec: XFER-36 — the handle check comes first among refusals. */
      if (!a.accepted && S.checks == 1 && S.last_verdict != HO_OK && a.err != S.last_verdict)
        fail("refused value 0x%llx as %s, not %s", (unsigned long long)S.last_value,
             ho_errname(a.err), ho_errname(S.last_verdict));
      break;
    case HO_BACKEND_ACT_ADOPT: S.conn[conn_index(a.conn, "ADOPT")] = C_ADOPTED; break;
    case HO_BACKEND_ACT_CLOSE_FD: S.conn[conn_index(a.conn, "CLOSE_FD")] = C_CLOSED; break;
    case HO_BACKEND_ACT_CLOSE_CONTROL:
      if (ho_errname(a.err) == NULL) fail("CLOSE_CONTROL code %d not in error.h", a.err);
      open = false;
      break;
    case HO_BACKEND_ACT_OFFER:
      if (ho_errname(a.err) == NULL) fail("OFFER code %d not in error.h", a.err);
      break;
    case HO_BACKEND_ACT_WRITE_CLIENT: fail("legacy backend writes to a client (READY-9)"); break;
    default: break;
    }
  }
  if (acks > 1) fail("%u ACKs for one offer", acks);
  /* Every handed-over handle is adopted or closed once the offer is done. */
  for (int i = 0; i < S.nconn; i++)
    if (S.conn[i] == C_HELD) fail("handle 0x%llx neither adopted nor closed", (unsigned long long)(CONN_BASE + i));
  return open;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 + 2 * NTAB) return 0;
  memset(&S, 0, sizeof S);
  cur in = {data, size};
  unsigned c0 = take(&in), c1 = take(&in);
  ho_codec codec = (c0 & 1) ? HO_CODEC_NANOPB : HO_CODEC_PROTOBUF_C;
  S.broker_pid = BROKER_PIDS[c1 % 3];
  for (int i = 0; i < NTAB; i++) {
    unsigned a = take(&in), b = take(&in);
    fake_handle *h = &S.tab[i];
    /* Mostly well-formed values (multiples of 4); sometimes anything. */
    h->value = (b & 0x80) ? (uint64_t)a : 0x100u + 4u * (a & 0x3f);
    h->pipe = b & 1;
    h->info_ok = (b >> 1) & 1;
    h->server_end = (b >> 2) & 1;
    h->pid_ok = (b >> 3) & 1;
    unsigned p = (b >> 4) & 3;
    h->pid = p == 0 ? OUR_PID : p == 3 ? BROKER_PIDS[2] : BROKER_PIDS[1];
  }
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.codec = codec;
  cfg.replay_capacity = 8;
  cfg.service_name = "echo";
  cfg.wall_clock_ms = fake_wall;
  cfg.close_handle = close_handle;
  cfg.no_sideband = true;
  cfg.check_handle = check_handle;
  cfg.offer_timeout_ms = 500;
  ho_backend_core *core = NULL;
  if (ho_backend_core_new(&cfg, &core) != HO_OK) fail("core_new refused a valid config");
  ho_backend_ctl *ctl = NULL;
  if (ho_backend_ctl_new(core, &ctl) != HO_OK) fail("ctl_new");
  ho_backend_ctl_set_user(ctl, &S.broker_pid);
  static uint8_t frame[2048];
  uint64_t now = 10;
  for (int op = 0; op < MAX_OPS && in.n >= 4; op++) {
    unsigned k = take(&in), a = take(&in), b = take(&in), t = take(&in);
    if ((k & 7) == 7) { /* the control connection ends; a new one (another pid) */
      ho_backend_ctl_eof(ctl);
      (void)drain(ctl, &(ho_offer){0}, false);
      ho_backend_ctl_del(ctl);
      S.broker_pid = BROKER_PIDS[a % 3];
      if (ho_backend_ctl_new(core, &ctl) != HO_OK) fail("ctl_new");
      ho_backend_ctl_set_user(ctl, &S.broker_pid);
      continue;
    }
    ho_offer o;
    memset(&o, 0, sizeof o);
    for (unsigned i = 0; i < HO_TOKEN_BYTES; i++) o.token[i] = (uint8_t)(t * 31 + i + 1);
    snprintf(o.service_name, sizeof o.service_name, "%s", (k & 0x40) ? "other" : (k & 0x80) ? "" : "echo");
    o.correlation_id = (k & 0x20) ? 0 : 1 + (uint64_t)op;
    uint64_t request_id = (k & 0x10) && (b & 1) ? o.correlation_id + 1 : o.correlation_id;
    const uint8_t *raw = NULL;
    size_t rawlen = 0;
    switch (k & 7) {
    case 0: case 1: case 2: o.handle_value = S.tab[a % NTAB].value; break;
    case 3: o.handle_value = take64(&in); break;
    case 4: { /* edges of XFER-38 */
      static const uint64_t edge[8] = {0, (uint64_t)-1, (uint64_t)-12, (uint64_t)-13,
                                       0x100000000ull, 0xFFFFFFFCull, 0x105, 0x106};
      o.handle_value = edge[a & 7];
      break;
    }
    case 5: o.handle_value = S.tab[a % NTAB].value | (b & 3); break;
    default: /* 6: a payload of input bytes */
      rawlen = a % 64 < in.n ? a % 64 : in.n;
      raw = in.p;
      in.p += rawlen, in.n -= rawlen;
      break;
    }
    if (k & 0x08) o.offer_flags = b >> 1; /* unknown bits, backend-ready, coalesced */
    size_t flen = offer_frame(codec, frame, sizeof frame, &o, request_id, raw, rawlen);
    if (flen == 0) continue;
    /* What the core will think of it (the frame stages alone). */
    ho_envelope env;
    static ho_any_msg m;
    memset(&m, 0, sizeof m);
    int drc = ho_frame_decode_body(codec, HO_FT_OFFER, frame + HO_FRAME_HEADER_BYTES,
                                   flen - HO_FRAME_HEADER_BYTES, &env, &m);
    bool decodable = drc == HO_OK || drc == HO_ERR_REQUEST_ID_MISMATCH;
    if (raw != NULL && drc == HO_OK) o = m.offer;
    S.checks = 0;
    S.last_verdict = 1; /* none */
    size_t off = 0;
    bool open = true;
    while (off < flen && open) {
      size_t want = ho_backend_ctl_wanted(ctl);
      if (want == 0) fail("core wants nothing inside an offer frame");
      if (want > flen - off) want = flen - off;
      size_t used = 0;
      int rc = ho_backend_ctl_feed(ctl, now, frame + off, want, HO_NO_HANDLE, HO_OK, &used);
      if (rc != HO_OK) fail("feed: %s", ho_errname(rc) ? ho_errname(rc) : "?");
      if (used == 0) fail("feed used nothing");
      off += used;
      if (off < flen) open = drain(ctl, &o, false);
    }
    if (S.checks > 1) fail("check_handle called %u times for one offer", S.checks);
    if (S.checks == 1 && !decodable) fail("check_handle for an offer that did not decode (%s)", ho_errname(drc));
    if (decodable && S.checks != 1) fail("check_handle not called for a decoded offer (%s)", ho_errname(drc));
    open = drain(ctl, &o, decodable && o.correlation_id != 0 && drc == HO_OK);
    now += 1 + (b & 15);
    if (!open) {
      ho_backend_ctl_del(ctl);
      if (ho_backend_ctl_new(core, &ctl) != HO_OK) fail("ctl_new");
      ho_backend_ctl_set_user(ctl, &S.broker_pid);
    }
  }
  ho_backend_ctl_eof(ctl);
  (void)drain(ctl, &(ho_offer){0}, false);
  ho_backend_ctl_del(ctl);
  ho_backend_core_del(core);
  return 0;
}

#ifdef HO_FUZZ_REPLAY_MAIN
#define HO_FUZZ_NAME "fuzz_win_offer"
#include "fuzz_replay_main.h"
#endif
