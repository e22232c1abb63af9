/* Target functions: ho_xfer_judge ho_xfer_classify ho_sideband_apply
 * (ref/lib/net/xfer_judge.c) — the Unix receiver's descriptor checks without
 * a system call.
 *
 * Stateful target over synthetic recvmsg results. Input: one config byte
 * (control buffer size offered: 0/1/2/4/8/16/64 descriptors; the stream
 * check off), then reads of the 16-byte sideband, each a header of three
 * bytes (kind: data / recv error / EOF / a read no kernel makes;
 * MSG_CTRUNC; whether the descriptor "is" a connected stream; raw control
 * bytes; number of control messages; bytes read; msg_controllen cut or
 * grown) and per control message two bytes (level/type: SOL_SOCKET +
 * SCM_RIGHTS, SCM_CREDENTIALS, another level, another type; descriptor
 * count; cmsg_len exact, short, long, 0, huge, below CMSG_LEN(0)), other
 * types with payload bytes from the input. SCM_RIGHTS payloads carry fake
 * descriptor numbers (FAKE_FD_BASE + serial, each used once): the
 * functions must copy them, never use them. A completed or failed sideband
 * starts the next one.
 *
 * Aborts on: a verdict that is not a code of error.h; a descriptor reported
 * (kept or to close) that was not delivered, reported twice, or closed
 * twice over the session; a delivered descriptor of a kernel-shaped read
 * (exact lengths, nothing cut) not reported; after a read, a delivered
 * descriptor neither closed nor the one sb->conn holds; the status of a
 * read not the XFER-28 order (EXTRA_DESCRIPTORS, FD_EXHAUSTED,
 * BAD_DESCRIPTOR); a kept descriptor with a non-OK status; the
 * sideband's return (WOULD_BLOCK until 16 bytes, TRUNCATED after 1..15 on
 * EOF) or its final status not the XFER-28 order over all its reads; more
 * than one stream check per read.
 * spec: XFER-3 XFER-9 XFER-28 XFER-29 ERR-31 ERR-32 ERR-33 ERR-34 ERR-45
 *
 * Built with -fsanitize=fuzzer (make fuzz-run-fuzz_sideband) and with
 * -DHO_FUZZ_REPLAY_MAIN as a plain replay program (make test).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "handoff/error.h"
#include "net/xfer_internal.h"
#include "fuzz_cursor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAKE_FD_BASE 0x10000
#define MAX_FAKE 8192
#define MAX_READS 512

enum { ST_NONE = 0, ST_LIVE, ST_CLOSED, ST_TAKEN };

static struct {
  unsigned char state[MAX_FAKE]; /* per fake serial */
  int next;
  int stream_ok;
  int checks;
} L;

static void fail(const char *what, long a, long b) {
  fprintf(stderr, "fuzz_sideband: %s: %ld %ld\n", what, a, b);
  abort();
}

static int serial_of(int fd) {
  if (fd < FAKE_FD_BASE || fd >= FAKE_FD_BASE + L.next) return -1;
  return fd - FAKE_FD_BASE;
}

static int fake_check(void *ctx, int fd) {
  (void)fd;
  (void)ctx;
  L.checks++;
  return L.stream_ok ? HO_OK : HO_ERR_BAD_DESCRIPTOR;
}

static void must_name(const char *where, int code) {
  if (ho_errname(code) == NULL) fail(where, code, 0);
}

/* raw: 2 = the control bytes came from the input (no number is ours),
 * 1 = a lying layout also returned numbers that are not ours, 0 = none. */
static void mark_closed(int fd, int raw) {
  if (raw == 2) return;
  int s = serial_of(fd);
  if (s < 0 && raw) return;
  if (s < 0) fail("close of a descriptor never delivered", fd, 0);
  if (L.state[s] != ST_LIVE) fail("descriptor closed twice or after it was taken", fd, L.state[s]);
  L.state[s] = ST_CLOSED;
}

static const size_t caps[7] = {0, 1, 2, 4, 8, 16, 64};


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  memset(&L, 0, sizeof L);
  cur in = {data + 1, size - 1};
  size_t nfd_room = caps[(data[0] & 7) % 7];
  size_t ctl_cap = nfd_room ? CMSG_SPACE(sizeof(int) * nfd_room) : 0;
  unsigned xflags = (data[0] & 8) ? HO_XFER_NO_STREAM_CHECK : 0;
  size_t room = ctl_cap > CMSG_LEN(0) ? (ctl_cap - CMSG_LEN(0)) / sizeof(int) : 0;

  ho_sideband sb;
  ho_sideband_init(&sb);
  int raw_session = 0;
  /* Model of the sideband over its reads (XFER-28 XFER-29). */
  unsigned m_count = 0, m_fdexh = 0, m_bad = 0;
  static union {
    struct cmsghdr align;
    unsigned char buf[HO_XFER_CTL_MAX];
  } u;

  for (int r = 0; r < MAX_READS && in.n > 0 && L.next < MAX_FAKE - 64; r++) {
    unsigned h0 = take(&in), h1 = take(&in), h2 = take(&in);
    unsigned kind = h0 & 3;
    int ctrunc = (h0 >> 2) & 1, raw = ((h0 >> 4) & 1) * 2;
    unsigned ncm = h0 >> 5;
    L.stream_ok = (h0 >> 3) & 1;
    size_t missing = HO_TOKEN_BYTES - sb.have;
    int rc;
    ho_xfer_rx rx;
    memset(&rx, 0, sizeof rx);
    rx.conn = HO_NO_HANDLE;
    int reported[HO_XFER_MAX_FDS + 1];
    size_t nrep = 0;
    int m_rc_expected;

    if (kind == 2) { /* the recv failed, or (h1 & 4) a read no kernel makes */
      static const int errs[4] = {HO_ERR_WOULD_BLOCK, HO_ERR_CLOSED, HO_ERR_IO,
                                  HO_ERR_INVALID_ARGUMENT};
      if ((h1 & 4) && L.next < MAX_FAKE) {
        rc = HO_OK;
        rx.len = (h1 & 8) ? 0 : missing + 1 + (h2 & 7);
        rx.conn = FAKE_FD_BASE + L.next;
        L.state[L.next++] = ST_LIVE;
        m_rc_expected = HO_ERR_INVALID_ARGUMENT;
      } else {
        rc = errs[h1 & 3];
        m_rc_expected = rc == HO_ERR_CLOSED && sb.have > 0 ? HO_ERR_TRUNCATED : rc;
      }
    } else {
      /* A recvmsg result: n bytes plus control data. */
      size_t n = kind == 3 ? 0 : 1 + h1 % missing;
      int written[HO_XFER_MAX_FDS * 2];
      size_t nwritten = 0;
      int shaped = 1;
      size_t off = 0;
      memset(u.buf, 0, sizeof u.buf);
      if (raw) {
        size_t want = h2 % (ctl_cap + 1);
        for (size_t i = 0; i < want; i++) u.buf[i] = (unsigned char)take(&in);
        off = want;
        shaped = 0;
        raw_session = 1;
      } else {
        for (unsigned k = 0; k < ncm; k++) {
          unsigned a = take(&in), b = take(&in);
          unsigned t = a & 3, nf = (a >> 2) & 7, lm = (a >> 5) & 7;
          size_t len = CMSG_LEN(sizeof(int) * nf);
          if (off + CMSG_SPACE(sizeof(int) * nf) > ctl_cap) break; /* what the buffer holds */
          struct cmsghdr c;
          memset(&c, 0, sizeof c);
          c.cmsg_level = t == 2 ? IPPROTO_IP : SOL_SOCKET;
          c.cmsg_type = t == 1 ? SCM_CREDENTIALS : t == 3 ? 0x7f : SCM_RIGHTS;
          switch (lm) {
          case 0: case 1: case 2: break;
          case 3: len -= 1 + (b & 3); break;
          case 4: len += 1 + (b & 15); break;
          case 5: len = 0; break;
          case 6: len = (size_t)-1 - (b & 15); break;
          default: len = CMSG_LEN(0) - 1 - (b & 3); break;
          }
          if (lm > 2) shaped = 0;
          c.cmsg_len = len;
          memcpy(u.buf + off, &c, sizeof c);
          for (unsigned i = 0; i < nf; i++) {
            int v;
            if (t == 0 && L.next < MAX_FAKE) {
              v = FAKE_FD_BASE + L.next;
              L.state[L.next++] = ST_LIVE;
              written[nwritten++] = v;
            } else {
              v = (int)(take(&in) | take(&in) << 8);
              if (t == 0) shaped = 0;
            }
            memcpy(u.buf + off + CMSG_LEN(0) + i * sizeof(int), &v, sizeof v);
          }
          off += CMSG_SPACE(sizeof(int) * nf);
        }
        /* msg_controllen: as written, cut, or grown within the buffer. */
        unsigned adj = h2;
        if (adj >= 200) {
          size_t cut = adj - 199;
          if (cut < off) off -= cut;
          else off = 0;
          shaped = 0;
        } else if (adj >= 180) {
          off += adj - 179;
          if (off > ctl_cap) off = ctl_cap;
          shaped = 0;
        }
      }
      struct msghdr msg;
      memset(&msg, 0, sizeof msg);
      msg.msg_control = ctl_cap ? u.buf : NULL;
      msg.msg_controllen = ctl_cap ? off : 0;
      msg.msg_flags = ctrunc ? MSG_CTRUNC : 0;
      if (!ctl_cap) nwritten = 0, shaped = 1; /* no buffer: the kernel delivers none */
      ho_xfer_verdict v;
      L.checks = 0;
      int jr = ho_xfer_judge(&msg, n, ctl_cap, xflags, fake_check, NULL, &v);
      if (jr != HO_OK && jr != HO_ERR_CLOSED) fail("judge refused a read a kernel makes", jr, 0);
      if (jr != (n == 0 ? HO_ERR_CLOSED : HO_OK)) fail("EOF not CLOSED", jr, (long)n);
      must_name("read status not a named code", v.status);
      if (L.checks > 1) fail("stream checked more than once", L.checks, 0);
      if (v.nclose > HO_XFER_MAX_FDS) fail("close list past its bound", (long)v.nclose, 0);
      for (size_t i = 0; i < v.nclose; i++) reported[nrep++] = v.close[i];
      if (v.keep >= 0) {
        if (v.status != HO_OK || n == 0) fail("kept a descriptor of a refused read", v.keep, v.status);
        reported[nrep++] = v.keep;
      }
      /* Provenance: every reported descriptor was written into this read,
       * once; a kernel-shaped read reports all of them. */
      if (raw != 2) {
        for (size_t i = 0; i < nrep; i++) {
          size_t j = 0;
          while (j < nwritten && written[j] != reported[i]) j++;
          if (j == nwritten && (shaped || serial_of(reported[i]) >= 0))
            fail("reported a descriptor this read did not deliver", reported[i], 0);
          /* A lying cmsg_len may cover other bytes (headers, padding): they
           * come back as numbers that are not ours; the read is then raw. */
          if (j == nwritten) raw = raw_session = 1;
          for (size_t q = i + 1; q < nrep; q++)
            if (reported[q] == reported[i] && serial_of(reported[i]) >= 0) fail("descriptor reported twice", reported[i], 0);
        }
        if (shaped && nrep != nwritten) fail("delivered descriptor not reported", (long)nwritten, (long)nrep);
        /* Delivered but not reported (cut, lying lengths) is not a leak of the
         * function: those numbers were never descriptors. Retire them. */
        for (size_t j = 0; j < nwritten; j++) {
          size_t i = 0;
          while (i < nrep && reported[i] != written[j]) i++;
          if (i == nrep) L.state[serial_of(written[j])] = ST_TAKEN;
        }
      }
      /* spec: XFER-28 — the status of this read. */
      int m_status;
      if (nrep > 1) m_status = HO_ERR_EXTRA_DESCRIPTORS;
      else if (ctrunc) m_status = nrep >= room ? HO_ERR_EXTRA_DESCRIPTORS : HO_ERR_FD_EXHAUSTED;
      else if (nrep == 1 && !xflags && !L.stream_ok) m_status = HO_ERR_BAD_DESCRIPTOR;
      else m_status = HO_OK;
      if (n > 0 && v.status != m_status) fail("read status not in XFER-28 order", v.status, m_status);
      if (n > 0 && m_status == HO_OK && nrep == 1 && v.keep != reported[0])
        fail("the one good descriptor not kept", v.keep, 0);
      for (size_t i = 0; i < v.nclose; i++) mark_closed(v.close[i], raw);
      if (jr != HO_OK) {
        rc = jr;
        m_rc_expected = sb.have > 0 ? HO_ERR_TRUNCATED : HO_ERR_CLOSED;
      } else {
        rc = HO_OK;
        rx.len = n;
        rx.conn = v.keep;
        rx.conn_status = v.status;
        for (size_t i = 0; i < n; i++) sb.token[sb.have + i] = (uint8_t)take(&in);
        m_rc_expected = sb.have + n < HO_TOKEN_BYTES ? HO_ERR_WOULD_BLOCK : HO_OK;
        if (v.status == HO_ERR_FD_EXHAUSTED) m_fdexh = 1;
        else if (v.status == HO_ERR_EXTRA_DESCRIPTORS) m_count += 2;
        else if (v.status != HO_OK) m_count++, m_bad = 1;
        else if (v.keep >= 0) m_count++;
      }
      /* Numbers that are not ours are not descriptors: kept out of sb. */
      if (raw && serial_of((int)rx.conn) < 0) rx.conn = HO_NO_HANDLE;
      if (raw == 2) rx.conn = HO_NO_HANDLE;
    }

    int held = (int)sb.conn;
    size_t have_before = sb.have;
    int cl[2] = {-1, -1};
    size_t ncl = 9;
    int arc = ho_sideband_apply(&sb, rc, &rx, cl, &ncl);
    must_name("sideband return not a named code", arc);
    if (arc != m_rc_expected) fail("sideband return", arc, m_rc_expected);
    if (ncl > 2) fail("more than two to close", (long)ncl, 0);
    for (size_t i = 0; i < ncl; i++) {
      if (cl[i] != held && cl[i] != (int)rx.conn) fail("closed neither the held nor the incoming", cl[i], 0);
      if (ncl == 2 && cl[0] == cl[1]) fail("same descriptor to close twice", cl[0], 0);
      mark_closed(cl[i], 0);
    }
    if (arc == HO_ERR_INVALID_ARGUMENT && sb.have != have_before) fail("refused read changed sb", 0, 0);
    /* A descriptor closed by a failed read still counts, as unusable. */
    if (rc != HO_OK && rc != HO_ERR_WOULD_BLOCK && held >= 0) m_bad = 1;
    /* After the read: the incoming descriptor is held or closed. */
    if (rx.conn >= 0 && (int)sb.conn != (int)rx.conn) {
      int s = serial_of((int)rx.conn);
      if (s < 0 || L.state[s] != ST_CLOSED) fail("incoming descriptor neither held nor closed", rx.conn, 0);
    }
    if (held >= 0 && (int)sb.conn != held) {
      int s = serial_of(held);
      if (s < 0 || L.state[s] != ST_CLOSED) fail("held descriptor dropped without a close", held, 0);
    }
    if (arc == HO_OK) {
      /* spec: XFER-28 — the sideband's status over all its reads. */
      int m_final = m_count > 1 ? HO_ERR_EXTRA_DESCRIPTORS
                    : m_fdexh   ? HO_ERR_FD_EXHAUSTED
                    : m_count == 0 ? HO_ERR_NO_DESCRIPTOR
                    : m_bad     ? HO_ERR_BAD_DESCRIPTOR
                                : HO_OK;
      must_name("sideband status not a named code", sb.conn_status);
      if (!raw_session && sb.conn_status != m_final) fail("sideband status not in XFER-28 order", sb.conn_status, m_final);
      if ((sb.conn >= 0) != (sb.conn_status == HO_OK) && !raw_session)
        fail("descriptor held against the status", sb.conn, sb.conn_status);
    }
    if (arc != HO_ERR_WOULD_BLOCK && arc != HO_ERR_INVALID_ARGUMENT) {
      if (arc != HO_OK && sb.conn >= 0) fail("descriptor held after a failed sideband", sb.conn, arc);
      if (sb.conn >= 0) { /* the shell takes it (ho_backend_*): */
        int s = serial_of((int)sb.conn);
        if (s >= 0) L.state[s] = ST_TAKEN;
      }
      ho_sideband_init(&sb);
      m_count = m_fdexh = m_bad = 0;
      raw_session = 0;
    }
    /* Ledger: every live fake descriptor is the one sb holds. */
    for (int s = 0; s < L.next; s++)
      if (L.state[s] == ST_LIVE && (int)sb.conn != FAKE_FD_BASE + s)
        fail("descriptor leaked (neither closed nor held)", FAKE_FD_BASE + s, r);
  }
  return 0;
}

#ifdef HO_FUZZ_REPLAY_MAIN
#define HO_FUZZ_NAME "fuzz_sideband"
#include "fuzz_replay_main.h"
#endif
