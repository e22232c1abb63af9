/* Unit tests (issue #17 coverage): the client core's argument checks and
 * out-of-order calls — every entry point with NULL, a configuration the
 * core refuses, events in a state that does not expect them, and the reason
 * name table. Each gives its named error and the core stays usable. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "handoff/client.h"
#include "handoff/error.h"
#include "handoff/fallback.h"
#include "client_core_fixtures.h"

/* Time values and the destructor through one macro each (API renames at merge). */
#define MS(x) ((uint64_t)(x)) /* the client core's clock is in milliseconds */
#define CORE_DEL(c) ho_client_core_del(c)

static ho_client_config base_cfg(void) { return cfx_config("/tmp/ho-client-edges.sock"); }

Test(client_core_edges, reason_names) {
  cr_assert_str_eq(ho_client_reason_name(HO_OK), "NONE");
  cr_assert_str_eq(ho_client_reason_name(HO_CLIENT_CLIENT_UNSUPPORTED), "CLIENT_UNSUPPORTED");
  cr_assert_eq(HO_CLIENT_CLIENT_UNSUPPORTED, HO_FALLBACK_CLIENT_UNSUPPORTED); /* one value space */
  cr_assert_null(ho_fallback_reason_name(HO_CLIENT_NOT_OFFERED)); /* client-only: outside the list */
  cr_assert_str_eq(ho_client_reason_name(HO_CLIENT_NOT_OFFERED), "NOT_OFFERED");
  cr_assert_str_eq(ho_client_reason_name(HO_ERR_TIMEOUT), "NOT_ADOPTED"); /* ERR-66 */
  cr_assert_str_eq(ho_client_reason_detail(HO_ERR_TIMEOUT), ho_errname(HO_ERR_TIMEOUT));
  cr_assert_str_eq(ho_client_reason_detail(HO_CLIENT_NOT_OFFERED), "");
  cr_assert_str_eq(ho_client_reason_detail(-123456), "");
  cr_assert_str_eq(ho_client_reason_name(-123456), "UNKNOWN");
  ho_client_config_init(NULL); /* no crash */
}

Test(client_core_edges, new_refuses_bad_configurations) {
  ho_client_core *c = NULL;
  ho_client_config cfg = base_cfg();
  cr_assert_eq(ho_client_core_new(NULL, MS(0), &c), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_core_new(&cfg, MS(0), NULL), HO_ERR_INVALID_ARGUMENT);
  cfg.connect_path = NULL;
  cr_assert_eq(ho_client_core_new(&cfg, MS(0), &c), HO_ERR_INVALID_ARGUMENT);
  cfg = base_cfg();
  cfg.service_name = NULL;
  cr_assert_eq(ho_client_core_new(&cfg, MS(0), &c), HO_ERR_INVALID_ARGUMENT);
  cfg.service_name = "";
  cr_assert_eq(ho_client_core_new(&cfg, MS(0), &c), HO_ERR_INVALID_ARGUMENT);
  char longname[HO_MAX_SERVICE_NAME + 2];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  cfg.service_name = longname;
  cr_assert_eq(ho_client_core_new(&cfg, MS(0), &c), HO_ERR_INVALID_ARGUMENT);
  cfg = base_cfg();
  cfg.request = NULL;
  cfg.request_len = 3;
  cr_assert_eq(ho_client_core_new(&cfg, MS(0), &c), HO_ERR_INVALID_ARGUMENT);
  cfg = base_cfg();
  cfg.early_data = true;
  cfg.request_len = 0;
  cr_assert_eq(ho_client_core_new(&cfg, MS(0), &c), HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(c);
}

Test(client_core_edges, null_core_everywhere) {
  ho_client_action a;
  ho_client_result r;
  uint8_t b[1] = {0};
  cr_assert_eq(ho_client_core_next(NULL, &a), 0);
  cr_assert_eq(ho_client_core_connected(NULL, HO_OK, MS(1)), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_core_written(NULL, HO_OK, MS(1)), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_core_data(NULL, b, 1, MS(1)), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_core_eof(NULL, HO_OK, MS(1)), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_core_timeout(NULL, MS(1)), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_core_result(NULL, &r), HO_ERR_INVALID_ARGUMENT);
  CORE_DEL(NULL);
}

Test(client_core_edges, events_out_of_order_are_state_errors) {
  ho_client_config cfg = base_cfg();
  cfg.io_timeout_ms = 0; /* the default applies */
  ho_client_core *c = NULL;
  cr_assert_eq(ho_client_core_new(&cfg, MS(5), &c), HO_OK);
  ho_client_action a;
  cr_assert_eq(ho_client_core_next(c, NULL), 0);
  /* Before the connect action is taken nothing is pending. */
  cr_assert_eq(ho_client_core_connected(c, HO_OK, MS(6)), HO_ERR_STATE);
  cr_assert_eq(ho_client_core_next(c, &a), 1);
  cr_assert_eq(a.type, HO_CACT_CONNECT);
  /* The connect is pending: a second next() gives nothing, a write result is out of order. */
  cr_assert_eq(ho_client_core_next(c, &a), 0);
  cr_assert_eq(ho_client_core_written(c, HO_OK, MS(6)), HO_ERR_STATE);
  CORE_DEL(c);
}
