/* handoff-conform — the features and constants a SUT can declare.
 *
 * Features are declared, never inferred from the wire (an "auto-detected"
 * feature hides real failures, as the QUIC interop runner learned). Names
 * follow the spec's capability registries (spec/negotiation.md §5,
 * spec/messages.md §5-6) where one exists. The broker and client modes of
 * issue #10 add their rows here with their mode bits. */
#include <string.h>

#include "conform.h"

#define MB (1u << CF_MODE_BACKEND)

const cf_feature_def cf_features[] = {
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
    {"service-name-check", CF_F_SERVICE_CHECK, MB,
     "the backend refuses an offer whose non-empty service_name names a service\n"
     "it does not serve, with SERVICE_NAME (XFER-14, a MAY)."},
};
const size_t cf_nfeatures = sizeof cf_features / sizeof cf_features[0];

const cf_const_def cf_consts[CF_K_COUNT] = {
    [CF_K_OFFER_TIMEOUT_MS] = {"offer_timeout_ms", 2000, 50, 60000, MB,
                               "OFFER_TIMEOUT the backend applies from the first sideband byte to\n"
                               "the last byte of the offer (BACKEND-10); spec default 2000."},
    [CF_K_REPLAY_CAPACITY] = {"replay_capacity", -1, 1, 4096, MB,
                              "how many accepted tokens the backend remembers at most; above it\n"
                              "it refuses with PENDING_LIMIT (TOKEN-18). No default: the cases\n"
                              "that fill the replay memory run only when it is declared."},
};

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
