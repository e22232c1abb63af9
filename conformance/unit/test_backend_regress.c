/* Regression tests of defects the stateful backend-core fuzz target
 * (fuzz/fuzz_backend_core.c) found; each is named after what it was.
 * Real descriptors (socketpairs); descriptor counts prove nothing leaks. */
#include "backend_core_fixtures.h"

/* spec: ERR-4 XFER-28 BACKEND-2 — ho_backend_ctl_feed() takes ownership of
 * `conn` in every case. A descriptor passed together with a refusal status
 * (HO_ERR_CTRUNC, HO_ERR_EXTRA_DESCRIPTORS, HO_ERR_BAD_DESCRIPTOR) was
 * neither stored nor closed: it never came back as ADOPT or CLOSE_FD and
 * leaked. Now it is closed and the offer refused for that status. */
Test(backend_core, regression_descriptor_with_refusal_status_leaked) {
  static const struct {
    int status;
    const char *name;
  } cases[] = {{HO_ERR_CTRUNC, "CTRUNC"},
               {HO_ERR_EXTRA_DESCRIPTORS, "EXTRA_DESCRIPTORS"},
               {HO_ERR_BAD_DESCRIPTOR, "BAD_DESCRIPTOR"}};
  int before = fx_count_fds();
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fx_core f;
    core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
    int sv[2];
    fx_socketpair(SOCK_STREAM, sv);
    uint8_t tok[HO_TOKEN_BYTES], fr[256];
    fx_token(tok, (uint8_t)(i + 1));
    size_t flen = fx_offer_frame(fr, sizeof fr, tok, 7 + i, 0);
    feed(&f, tok, sv[0], cases[i].status, fr, flen, 1024);
    expect_refusal(&f, cases[i].name, 7 + i); /* drains: closes CLOSE_FD descriptors */
    const ho_backend_action *c = find(&f, HO_BACKEND_ACT_CLOSE_FD);
    cr_assert_not_null(c, "the descriptor comes back as CLOSE_FD");
    cr_assert_eq(c->conn, sv[0]);
    cr_assert_not(fx_fd_is_open(sv[0]), "and is closed");
    close(sv[1]);
    core_down(&f);
  }
  cr_assert_eq(fx_count_fds(), before, "no descriptor leaked");
}
