/* handoff-conform — console tree, JUnit XML and JSON (see report.h). */
#include "report.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "run.h"

static void command_line(const cf_opts *o, char *buf, size_t cap) {
  buf[0] = '\0';
  for (int i = 0; i < o->ncmd; i++) cf_appendf(buf, cap, "%s%s", i ? " " : "", o->cmd[i]);
}

static void declared(const cf_opts *o, char *buf, size_t cap) {
  buf[0] = '\0';
  for (size_t i = 0; i < cf_nfeatures; i++)
    if (o->features & cf_features[i].bit) cf_appendf(buf, cap, "%s%s", buf[0] ? " " : "", cf_features[i].name);
  if (buf[0] == '\0') cf_appendf(buf, cap, "(none: plain v1 legacy)");
}

void cf_report_header(FILE *f, const cf_opts *o) {
  char cmd[2048], feat[256];
  command_line(o, cmd, sizeof cmd);
  declared(o, feat, sizeof feat);
  fprintf(f, "handoff-conform %s — %s mode — spec revision %s\n", CF_SUITE_VERSION, cf_mode_name(o->mode),
          cf_spec_revision);
  if (o->sut_name) fprintf(f, "SUT:       %s\n", o->sut_name);
  fprintf(f, "command:   %s\n", cmd);
  fprintf(f, "features:  %s\n", feat);
  fprintf(f, "constants:");
  for (int k = 0; k < CF_K_COUNT; k++) {
    if (!cf_const_in_mode(k)) continue;
    long v = cf_const(o, k);
    if (v < 0) fprintf(f, " %s=(not declared)", cf_consts[k].name);
    else fprintf(f, " %s=%ld%s", cf_consts[k].name, v, o->const_set[k] ? "" : " (spec default)");
  }
  fprintf(f, "\n\n");
  fflush(f);
}

static void req_lines(FILE *f, const char *ids, const char *indent) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", ids);
  for (char *save = NULL, *id = strtok_r(buf, " ", &save); id; id = strtok_r(NULL, " ", &save)) {
    const cf_req *r = cf_req_find(id);
    if (r == NULL) {
      fprintf(f, "%s%s: (not in spec revision %s)\n", indent, id, cf_spec_revision);
      continue;
    }
    size_t len = strlen(r->text), cut = len > 400 ? 400 : len;
    while (cut < len && cut > 0 && ((unsigned char)r->text[cut] & 0xC0) == 0x80) cut--; /* whole UTF-8 characters */
    fprintf(f, "%s%s (%s, %s): %.*s%s\n", indent, id, r->level, r->party, (int)cut, r->text,
            len > cut ? " [...]" : "");
  }
}

void cf_report_case(FILE *f, const cf_opts *o, const cf_case *c, const cf_result *r) {
  static char last_area[64];
  char area[64];
  cf_case_area(c, area, sizeof area);
  bool bad = r->verdict != CF_PASS && r->verdict != CF_SKIP;
  if (o->quiet && !bad && !r->unexpected) return;
  if (strcmp(area, last_area) != 0) {
    fprintf(f, "%s\n", area);
    snprintf(last_area, sizeof last_area, "%s", area);
  }
  if (r->verdict == CF_SKIP) {
    fprintf(f, "  - %s  skipped: %s%s%s\n", c->id, r->note, r->unexpected ? " — UNEXPECTED: " : "", "");
    if (r->unexpected) fprintf(f, "      %s\n", r->note);
    fflush(f);
    return;
  }
  const char *mark = r->verdict == CF_PASS ? "\u2714" : "\u2717";
  fprintf(f, "  %s %s  %s  (%ld ms)%s%s\n", mark, c->id, cf_case_reqs(c), r->duration_ms,
          r->verdict == CF_PASS || r->verdict == CF_FAIL ? "" : "  ",
          r->verdict == CF_PASS || r->verdict == CF_FAIL ? "" : cf_verdict_name(r->verdict));
  if (bad) {
    req_lines(f, r->reqs[0] ? r->reqs : cf_case_reqs(c), "      ");
    fprintf(f, "      Expected: %s\n", r->expected[0] ? r->expected : c->expect);
    fprintf(f, "      Actual:   %s\n", r->actual);
    if (r->trace[0]) fprintf(f, "      Trace:    %s\n", r->trace);
  }
  if (r->note[0]) fprintf(f, "      %s%s\n", r->unexpected ? "UNEXPECTED: " : "", r->note);
  fflush(f);
}

void cf_report_summary(FILE *f, const cf_opts *o, const cf_summary *s) {
  fprintf(f, "\n");
  if (s->expected_failures || s->unimplemented || s->unexpected)
    fprintf(f, "%d of the failures expected (%s); %d unimplemented; %d unexpected result%s\n",
            s->expected_failures, o->expect_fail ? o->expect_fail : "no --expect-fail", s->unimplemented,
            s->unexpected, s->unexpected == 1 ? "" : "s");
  fprintf(f, "%d passed, %d failed, %d skipped\n", s->passed, s->failed, s->skipped);
  fflush(f);
}

/* ---- JUnit ------------------------------------------------------------------- */

static void iso_time(char *buf, size_t cap) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
}

static const char *area_file(const cf_case *c) {
  char ids[192];
  snprintf(ids, sizeof ids, "%s", cf_case_reqs(c));
  char *sp = strchr(ids, ' ');
  if (sp) *sp = '\0';
  const cf_req *r = cf_req_find(ids);
  return r ? r->file : "spec";
}

int cf_report_junit(const char *path, const cf_opts *o, const cf_case *const *cases,
                    const cf_result *res, size_t n, const cf_summary *s) {
  FILE *f = fopen(path, "we");
  if (f == NULL) return -1;
  char ts[32], host[128] = "localhost", cmd[2048];
  iso_time(ts, sizeof ts);
  gethostname(host, sizeof host - 1);
  command_line(o, cmd, sizeof cmd);
  int tests = 0, failures = 0, errors = 0, skipped = 0;
  for (size_t i = 0; i < n; i++) {
    tests++;
    int v = res[i].verdict;
    if (v == CF_SKIP) skipped++;
    else if (v == CF_FAIL) failures++;
    else if (v != CF_PASS) errors++;
  }
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  fprintf(f, "<testsuites name=\"handoff-conform %s\" tests=\"%d\" failures=\"%d\" errors=\"%d\" "
          "skipped=\"%d\" time=\"%.3f\">\n", cf_mode_name(o->mode), tests, failures, errors, skipped,
          (double)s->duration_ms / 1000.0);
  int suite_id = 0;
  for (size_t i = 0; i < n;) {
    char area[64], a2[64];
    cf_case_area(cases[i], area, sizeof area);
    size_t j = i;
    int t = 0, fl = 0, er = 0, sk = 0;
    long ms = 0;
    while (j < n && strcmp(cf_case_area(cases[j], a2, sizeof a2), area) == 0) {
      int v = res[j].verdict;
      t++;
      sk += v == CF_SKIP;
      fl += v == CF_FAIL;
      er += v != CF_SKIP && v != CF_FAIL && v != CF_PASS;
      ms += res[j].duration_ms;
      j++;
    }
    fprintf(f, "  <testsuite name=\"%s\" package=\"", area);
    cf_xml_str(f, area_file(cases[i]));
    fprintf(f, "\" id=\"%d\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\" "
            "timestamp=\"%s\" hostname=\"", suite_id++, t, fl, er, sk, (double)ms / 1000.0, ts);
    cf_xml_str(f, host);
    fprintf(f, "\">\n    <properties>\n");
    fprintf(f, "      <property name=\"suite-version\" value=\"%s\"/>\n", CF_SUITE_VERSION);
    fprintf(f, "      <property name=\"spec-revision\" value=\"%s\"/>\n", cf_spec_revision);
    fprintf(f, "      <property name=\"sut-command\" value=\"");
    cf_xml_str(f, cmd);
    fprintf(f, "\"/>\n    </properties>\n");
    for (size_t k = i; k < j; k++) {
      const cf_result *r = &res[k];
      fprintf(f, "    <testcase name=\"%s\" classname=\"handoff-conform.%s\" time=\"%.3f\">\n",
              cases[k]->id, area, (double)r->duration_ms / 1000.0);
      if (r->verdict == CF_SKIP) {
        fprintf(f, "      <skipped message=\"");
        cf_xml_str(f, r->note);
        fprintf(f, "\"/>\n");
      } else if (r->verdict != CF_PASS) {
        const char *tag = r->verdict == CF_FAIL ? "failure" : "error";
        fprintf(f, "      <%s message=\"", tag);
        cf_xml_str(f, r->actual);
        fprintf(f, "\" type=\"%s\">", cf_verdict_name(r->verdict));
        char body[4096];
        snprintf(body, sizeof body, "requirements: %s\nexpected: %s\nactual: %s\ntrace: %s%s%s\n",
                 r->reqs[0] ? r->reqs : cf_case_reqs(cases[k]), r->expected, r->actual,
                 r->trace[0] ? r->trace : "(none)", r->note[0] ? "\n" : "", r->note);
        cf_xml_str(f, body);
        fprintf(f, "</%s>\n", tag);
      }
      fprintf(f, "      <system-out>");
      char out[512];
      snprintf(out, sizeof out, "requirements: %s\n%s", cf_case_reqs(cases[k]), cases[k]->expect);
      cf_xml_str(f, out);
      fprintf(f, "</system-out>\n    </testcase>\n");
    }
    fprintf(f, "  </testsuite>\n");
    i = j;
  }
  fprintf(f, "</testsuites>\n");
  return fclose(f) == 0 ? 0 : -1;
}

/* ---- JSON ---------------------------------------------------------------------- */

static void json_reqs(FILE *f, const char *ids) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", ids);
  fputc('[', f);
  int k = 0;
  for (char *save = NULL, *id = strtok_r(buf, " ", &save); id; id = strtok_r(NULL, " ", &save))
    fprintf(f, "%s\"%s\"", k++ ? "," : "", id);
  fputc(']', f);
}

int cf_report_json(const char *path, const cf_opts *o, const cf_case *const *cases,
                   const cf_result *res, size_t n, const cf_summary *s) {
  FILE *f = fopen(path, "we");
  if (f == NULL) return -1;
  char ts[32];
  iso_time(ts, sizeof ts);
  fprintf(f, "{\n  \"suite\": \"handoff-conform\",\n  \"suite_version\": \"%s\",\n", CF_SUITE_VERSION);
  fprintf(f, "  \"mode\": \"%s\",\n  \"spec_revision\": \"%s\",\n  \"started\": \"%sZ\",\n",
          cf_mode_name(o->mode), cf_spec_revision, ts);
  fprintf(f, "  \"sut\": {\n    \"name\": ");
  cf_json_str(f, o->sut_name ? o->sut_name : "");
  fprintf(f, ",\n    \"command\": [");
  for (int i = 0; i < o->ncmd; i++) {
    if (i) fputs(", ", f);
    cf_json_str(f, o->cmd[i]);
  }
  fprintf(f, "],\n    \"features\": [");
  int k = 0;
  for (size_t i = 0; i < cf_nfeatures; i++)
    if (o->features & cf_features[i].bit) fprintf(f, "%s\"%s\"", k++ ? ", " : "", cf_features[i].name);
  fprintf(f, "],\n    \"constants\": {");
  k = 0;
  for (int c = 0; c < CF_K_COUNT; c++) {
    long v = cf_const_in_mode(c) ? cf_const(o, c) : -1;
    if (v >= 0) fprintf(f, "%s\"%s\": %ld", k++ ? ", " : "", cf_consts[c].name, v);
  }
  fprintf(f, "}\n  },\n");
  fprintf(f, "  \"summary\": {\"passed\": %d, \"failed\": %d, \"skipped\": %d, \"expected_failures\": %d, "
          "\"unimplemented\": %d, \"unexpected\": %d, \"duration_ms\": %ld},\n",
          s->passed, s->failed, s->skipped, s->expected_failures, s->unimplemented, s->unexpected,
          s->duration_ms);
  fprintf(f, "  \"cases\": [\n");
  for (size_t i = 0; i < n; i++) {
    const cf_result *r = &res[i];
    char area[64];
    fprintf(f, "    {\"id\": \"%s\", \"area\": \"%s\", \"verdict\": \"%s\", \"expected_failure\": %s, "
            "\"unexpected\": %s, \"duration_ms\": %ld,\n     \"reqs\": ", cases[i]->id,
            cf_case_area(cases[i], area, sizeof area), cf_verdict_name(r->verdict),
            r->expected_failure ? "true" : "false", r->unexpected ? "true" : "false", r->duration_ms);
    /* "reqs", not "requirements": make compliance reads the "requirements"
     * arrays of JSON files under conformance/ as citations. */
    json_reqs(f, cf_case_reqs(cases[i]));
    fprintf(f, ", \"failed_reqs\": ");
    json_reqs(f, r->verdict == CF_PASS || r->verdict == CF_SKIP ? "" : r->reqs);
    fprintf(f, ",\n     \"expected\": ");
    cf_json_str(f, r->verdict == CF_PASS || r->verdict == CF_SKIP ? cases[i]->expect : r->expected);
    fprintf(f, ", \"actual\": ");
    cf_json_str(f, r->actual);
    fprintf(f, ", \"note\": ");
    cf_json_str(f, r->note);
    fprintf(f, ", \"trace\": ");
    if (r->trace[0]) cf_json_str(f, r->trace);
    else fputs("null", f);
    fprintf(f, "}%s\n", i + 1 < n ? "," : "");
  }
  fprintf(f, "  ]\n}\n");
  return fclose(f) == 0 ? 0 : -1;
}

void cf_report_list(FILE *f, const cf_opts *o, const cf_case *const *cases, size_t n, bool json) {
  if (json) fprintf(f, "[\n");
  for (size_t i = 0; i < n; i++) {
    const cf_case *c = cases[i];
    char needs[256] = "";
    for (size_t j = 0; j < cf_nfeatures; j++) {
      if (c->needs & cf_features[j].bit) cf_appendf(needs, sizeof needs, "%s%s", needs[0] ? " " : "", cf_features[j].name);
      if (c->absent & cf_features[j].bit) cf_appendf(needs, sizeof needs, "%s!%s", needs[0] ? " " : "", cf_features[j].name);
    }
    for (int k = 0; k < CF_K_COUNT; k++)
      if (c->consts & CF_K_BIT(k)) cf_appendf(needs, sizeof needs, "%s%s", needs[0] ? " " : "", cf_consts[k].name);
    char why[256];
    bool applies = cf_case_applies(o, c, why, sizeof why);
    if (json) {
      fprintf(f, "  {\"id\": \"%s\", \"reqs\": ", c->id);
      json_reqs(f, cf_case_reqs(c));
      fprintf(f, ", \"needs\": ");
      cf_json_str(f, needs);
      fprintf(f, ", \"applies\": %s, \"no_mutant\": ", applies ? "true" : "false");
      if (c->no_mutant) cf_json_str(f, c->no_mutant);
      else fputs("null", f);
      fprintf(f, ", \"does\": ");
      cf_json_str(f, c->does);
      fprintf(f, ", \"expect\": ");
      cf_json_str(f, c->expect);
      fprintf(f, "}%s\n", i + 1 < n ? "," : "");
    } else {
      fprintf(f, "%-52s %-34s %s%s\n", c->id, cf_case_reqs(c), needs[0] ? needs : "-",
              applies ? "" : "  (skipped for these declarations)");
    }
  }
  if (json) fprintf(f, "]\n");
}
