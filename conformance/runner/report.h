/* handoff-conform — reports: the readable tree on stdout (printed as cases
 * finish), JUnit XML (one testsuite per area; schema junit.xsd beside this
 * file) and JSON. */
#ifndef CF_REPORT_H
#define CF_REPORT_H

#include <stdio.h>

#include "conform.h"

typedef struct cf_summary {
  int passed, failed, skipped, expected_failures, unimplemented, unexpected;
  long duration_ms;
} cf_summary;

void cf_report_header(FILE *f, const cf_opts *o);
void cf_report_case(FILE *f, const cf_opts *o, const cf_case *c, const cf_result *r);
void cf_report_summary(FILE *f, const cf_opts *o, const cf_summary *s);
int cf_report_junit(const char *path, const cf_opts *o, const cf_case *const *cases,
                    const cf_result *res, size_t n, const cf_summary *s);
int cf_report_json(const char *path, const cf_opts *o, const cf_case *const *cases,
                   const cf_result *res, size_t n, const cf_summary *s);
/* --list: ID, requirement IDs, what it needs. */
void cf_report_list(FILE *f, const cf_opts *o, const cf_case *const *cases, size_t n, bool json);

#endif
