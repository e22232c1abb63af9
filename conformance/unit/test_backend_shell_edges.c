/* Unit tests (issue #17 coverage): the backend shell's argument checks on
 * real sockets — NULL and default configurations, control descriptors that
 * are negative, already added or unknown, a descriptor number past the
 * initial table (the table grows), and every entry point with NULL. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handoff/backend.h"
#include "handoff/error.h"

#define MS(x) ((uint64_t)(x)) /* the shell's clock is in milliseconds already */
#define BACKEND_DEL(b) ho_backend_del(b)

Test(backend_shell_edges, new_and_null_arguments) {
  ho_backend *b = NULL;
  cr_assert_eq(ho_backend_new(NULL, NULL, NULL, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_backend_new(NULL, NULL, NULL, &b), HO_OK); /* defaults */
  cr_assert_not_null(ho_backend_get_core(b));
  cr_assert_null(ho_backend_get_core(NULL));
  cr_assert_eq(ho_backend_add_control(NULL, 3), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_backend_add_control(b, -1), HO_ERR_INVALID_ARGUMENT);
  size_t n = 7;
  cr_assert_eq(ho_backend_on_control_readable(b, 999, MS(1), NULL, 0, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(n, 0);
  cr_assert_eq(ho_backend_on_control_writable(b, 999, MS(1)), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_backend_flush_control(NULL, 3, MS(1)), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_backend_next_timeout_ms(NULL, MS(1)), -1);
  cr_assert_eq(ho_backend_on_timer(NULL, MS(1)), HO_ERR_INVALID_ARGUMENT);
  ho_handle fd = HO_NO_HANDLE;
  cr_assert_eq(ho_backend_closed_fd(NULL, &fd), 0);
  cr_assert_eq(ho_backend_closed_fd(b, NULL), 0);
  cr_assert_eq(ho_backend_closed_fd(b, &fd), 0);
  BACKEND_DEL(b);
  BACKEND_DEL(NULL);
}

/* spec: SEC-4 */
Test(backend_shell_edges, control_table_grows_and_refuses_duplicates) {
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  ho_backend *b = NULL;
  cr_assert_eq(ho_backend_new(&cfg, NULL, NULL, &b), HO_OK);
  int sv[2], sw[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sw), 0);
  cr_assert_eq(ho_backend_add_control(b, sv[0]), HO_OK);
  cr_assert_eq(ho_backend_add_control(b, sv[0]), HO_ERR_INVALID_ARGUMENT);
  /* A descriptor number past the first table of 64 entries. */
  int hi = dup2(sw[0], 300);
  cr_assert_eq(hi, 300);
  close(sw[0]);
  cr_assert_eq(ho_backend_add_control(b, hi), HO_OK);
  ho_backend_adopted ad[1];
  size_t n = 9;
  cr_assert_eq(ho_backend_on_control_readable(b, hi, MS(1), NULL, 1, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_geq(ho_backend_next_timeout_ms(b, MS(1)), -1);
  cr_assert_eq(ho_backend_on_timer(b, MS(1)), HO_OK);
  (void)ad;
  BACKEND_DEL(b); /* closes both control descriptors */
  close(sv[1]);
  close(sw[1]);
}
