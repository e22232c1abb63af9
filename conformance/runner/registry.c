/* handoff-conform — the features and constants a SUT can declare, per mode.
 *
 * Features are declared, never inferred from the wire (an "auto-detected"
 * feature hides real failures, as the QUIC interop runner learned). Names
 * follow the spec's capability registries (spec/negotiation.md §5,
 * spec/messages.md §5-6) where one exists; a name means the same extension
 * in every mode, and each mode says what declaring it promises there. */
#include <string.h>

#include "conform.h"

#define MB (1u << CF_MODE_BACKEND)
#define MK (1u << CF_MODE_BROKER)
#define MC (1u << CF_MODE_CLIENT)

static const cf_feature_def backend_features[] = {
    {"backend-ready", CF_F_BACKEND_READY, MB,
     "backend-ready mode: the backend writes the ready frame first on an adopted\n"
     "connection and sets BACKEND_CAP_BACKEND_READY in every ACK (READY-9, CAP-7).\n"
     "Undeclared: a flagged offer must be refused with BACKEND_READY_UNSUPPORTED\n"
     "(READY-24)."},
    {"early-data", CF_F_EARLY_DATA, MB,
     "the backend serves a request the client wrote right behind its Hello, which\n"
     "travels with the descriptor (READY-20); needs backend-ready."},
    {"multi-offer", CF_F_MULTI_OFFER, MB,
     "the backend keeps control connections open and processes several offers on\n"
     "each, several in flight, and sets BACKEND_CAP_MULTI_OFFER in every ACK\n"
     "(CAP-10, XFER-1, BACKEND-13). Undeclared: one offer per control connection\n"
     "(XFER-37)."},
    {"coalesced-reply", CF_F_COALESCED, MB,
     "coalesced reply (spec 1.0.0-rc2): the backend writes the Negotiated frame the\n"
     "offer carries, then ready (and the first response) in one write, or the\n"
     "declined one, and sets BACKEND_CAP_COALESCED_REPLY in every ACK (READY-28,\n"
     "READY-29, CAP-11); needs backend-ready."},
    {"service-name-check", CF_F_SERVICE_CHECK, MB,
     "the backend refuses an offer whose non-empty service_name names a service\n"
     "it does not serve, with SERVICE_NAME (XFER-14, a MAY)."},
};

static const cf_feature_def broker_features[] = {
    {"backend-ready", CF_F_BACKEND_READY, MK,
     "for a Hello with CAP_HANDLE_PASSING and CAP_BACKEND_READY the broker uses\n"
     "backend-ready mode once the backend declared BACKEND_CAP_BACKEND_READY in an\n"
     "ACK on the control connection that carries the offer (READY-36, READY-7,\n"
     "READY-10); needs multi-offer (the declaration lives on that connection)."},
    {"early-data", CF_F_EARLY_DATA, MK,
     "the broker hands off a connection whose Hello has CAP_EARLY_DATA (in\n"
     "backend-ready mode, READY-18); needs backend-ready. Undeclared, such a\n"
     "Hello may still only get a Negotiated without token (FALLBACK-16)."},
    {"multi-offer", CF_F_MULTI_OFFER, MK,
     "the broker reuses a control connection for further offers, several in\n"
     "flight, once an ACK on it carried BACKEND_CAP_MULTI_OFFER (XFER-37, SHOULD)."},
    {"coalesced-reply", CF_F_COALESCED, MK,
     "coalesced mode (spec 1.0.0-rc2): for a Hello with CAP_COALESCED_REPLY and\n"
     "early data the broker puts both replies into the offer once the backend\n"
     "declared BACKEND_CAP_COALESCED_REPLY on the connection (READY-25..READY-27,\n"
     "READY-30, READY-34); needs early-data."},
};

static const cf_feature_def client_features[] = {
    {"handoff", CF_F_HANDOFF, MC,
     "the client sets CAP_HANDLE_PASSING and adopts a handed-off connection: it\n"
     "waits for and checks the ready frame (READY-4, READY-37). Undeclared, it\n"
     "must not set the bit (CAP-8) and is always served by backend_pipe."},
    {"backend-ready", CF_F_BACKEND_READY, MC,
     "the client sets CAP_BACKEND_READY and implements backend-ready mode\n"
     "(READY-13, READY-14, READY-21); needs handoff."},
    {"early-data", CF_F_EARLY_DATA, MC,
     "the client writes its request right behind its Hello with CAP_EARLY_DATA:\n"
     "its command line carries the operator's statement that this broker\n"
     "supports early data (READY-20); needs backend-ready."},
    {"coalesced-reply", CF_F_COALESCED, MC,
     "the client sets CAP_COALESCED_REPLY and implements coalesced mode (spec\n"
     "1.0.0-rc2: READY-31, READY-32); needs early-data."},
    {"print-reply", CF_F_PRINT_REPLY, MC,
     "the client prints the reply it received on its standard output (the\n"
     "runner then checks that the echo of {message} is there)."},
};

const cf_feature_def *cf_features = backend_features;
size_t cf_nfeatures = sizeof backend_features / sizeof backend_features[0];
static int g_mode = CF_MODE_BACKEND;

void cf_registry_select(int mode) {
  g_mode = mode;
  if (mode == CF_MODE_BROKER) {
    cf_features = broker_features;
    cf_nfeatures = sizeof broker_features / sizeof broker_features[0];
  } else if (mode == CF_MODE_CLIENT) {
    cf_features = client_features;
    cf_nfeatures = sizeof client_features / sizeof client_features[0];
  } else if (mode == CF_MODE_DECODE) {
    cf_features = NULL;
    cf_nfeatures = 0;
  } else {
    cf_features = backend_features;
    cf_nfeatures = sizeof backend_features / sizeof backend_features[0];
  }
}

const char *cf_mode_name(int m) {
  return m == CF_MODE_BACKEND ? "backend" : m == CF_MODE_BROKER ? "broker" : m == CF_MODE_DECODE ? "decode" : "client";
}

const cf_const_def cf_consts[CF_K_COUNT] = {
    [CF_K_OFFER_TIMEOUT_MS] = {"offer_timeout_ms", 2000, 50, 60000, MB,
                               "OFFER_TIMEOUT the backend applies from the first sideband byte to\n"
                               "the last byte of the offer (BACKEND-10); spec default 2000."},
    [CF_K_REPLAY_CAPACITY] = {"replay_capacity", -1, 1, 4096, MB,
                              "how many accepted tokens the backend remembers at most; above it\n"
                              "it refuses with PENDING_LIMIT (TOKEN-18). No default: the cases\n"
                              "that fill the replay memory run only when it is declared."},
    [CF_K_HELLO_TIMEOUT_MS] = {"hello_timeout_ms", -1, 50, 10000, MK,
                               "HELLO_TIMEOUT: the broker's wait for a complete Hello (BROKER-2);\n"
                               "spec default 30000. No default here: the cases that wait for it\n"
                               "(silent and trickling clients) run only when it is declared."},
    [CF_K_ACK_TIMEOUT_MS] = {"ack_timeout_ms", 1500, 50, 5000, MK,
                             "ACK_DEADLINE the broker applies after writing an offer (ACK-17,\n"
                             "ACK-6); spec default 1500."},
    [CF_K_FAILED_ATTEMPTS] = {"failed_attempts", 8, 1, 64, MK,
                              "FAILED_ATTEMPTS of the failed-attempt rate limit (FALLBACK-7);\n"
                              "spec default 8."},
    [CF_K_FAILURE_WINDOW_MS] = {"failure_window_ms", -1, 50, 10000, MK,
                                "FAILURE_WINDOW of the rate limit (FALLBACK-7); spec default 30000.\n"
                                "No default here: the recovery case waits for the window and\n"
                                "runs only when it is declared."},
    [CF_K_HELLO_RATE] = {"hello_rate", 256, 0, 100000, MK,
                         "Hellos per second the broker accepts from one process (HELLO-14,\n"
                         "default 256); 0: no limit. The runner, one process, stays below it\n"
                         "except in the case that checks it."},
    [CF_K_READY_TIMEOUT_MS] = {"ready_timeout_ms", 2000, 50, 10000, MC,
                               "READY_TIMEOUT: the client's wait for the ready frame in legacy mode\n"
                               "(READY-37); spec default 2000. Backend-ready mode waits at least\n"
                               "2000 ms anyway (READY-14)."},
    [CF_K_REPLY_TIMEOUT_MS] = {"reply_timeout_ms", -1, 50, 10000, MC,
                               "the client's bounded wait for the HelloReply (CLIENT-1); default\n"
                               "30000. No default here: the cases that wait for it run only when\n"
                               "it is declared."},
};

bool cf_const_in_mode(int k) { return k >= 0 && k < CF_K_COUNT && (cf_consts[k].modes & (1u << g_mode)); }

const cf_feature_def *cf_feature_find(const char *name) {
  for (size_t i = 0; i < cf_nfeatures; i++)
    if (strcmp(cf_features[i].name, name) == 0) return &cf_features[i];
  return NULL;
}

const char *cf_feature_name(unsigned bit) {
  for (size_t i = 0; i < cf_nfeatures; i++)
    if (cf_features[i].bit == bit) return cf_features[i].name;
  return "?";
}

int cf_const_find(const char *name) {
  for (int k = 0; k < CF_K_COUNT; k++)
    if (strcmp(cf_consts[k].name, name) == 0) return k;
  return -1;
}
