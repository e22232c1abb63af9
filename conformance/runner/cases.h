/* handoff-conform — what every case file needs, and the tables. */
#ifndef CF_CASES_H
#define CF_CASES_H

#include <string.h>

#include "client.h"
#include "conform.h"
#include "ctl.h"
#include "ctx.h"
#include "handoff/wire.h"
#include "pb.h"
#include "route.h"
#include "trace.h"

extern const cf_case_table cf_cases_descriptor, cf_cases_stream, cf_cases_offer, cf_cases_token,
    cf_cases_order, cf_cases_ready, cf_cases_service;
extern const cf_case_table cf_cases_bhello, cf_cases_bhandoff, cf_cases_back, cf_cases_brate, cf_cases_bcoal;
extern const cf_case_table cf_cases_chandoff, cf_cases_creply, cf_cases_ccoal;

#define CF_TABLE(name, arr) const cf_case_table name = {arr, sizeof arr / sizeof arr[0]}

/* Features of the SUT as declared. */
static inline bool cf_has(const cf_ctx *ctx, unsigned f) { return (ctx->o->features & f) != 0; }

#endif
