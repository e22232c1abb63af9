/* handoff-conform decode — the decoder oracle: options, the run, the
 * minimizer and the reports (see decode.h).
 *
 * Every golden vector, then N inputs mutated from them by the fuzz
 * targets' structure-aware mutator (fuzz/proto_mutator.h), seeded, go to
 * the SUT, one SUT process per frame type; each answer is compared, as a
 * JSON value or an error name, with the reference decoder's verdict. A
 * disagreement is minimized (byte ranges removed, the framing header kept
 * consistent, while both verdicts keep their class) and reported with the
 * input as hex and both verdicts. Verdicts come only from the SUT's output.
 * spec: FRAME-4 FRAME-9 MSG-15 ENV-4 */
#include "decode.h"

#include "cli.h" /* ref/bin: error prefix, usage errors */

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conform.h"
#include "decode_io.h"
#include "manifest.h"
#include "report.h"
#include "run.h"

typedef struct dvec {
  char *id, *spec, *does, *expect;
  int type;
  uint8_t *wire;
  size_t len;
} dvec;

typedef struct dopts {
  const char *vectors;
  long n;
  uint64_t seed;
  int timeout_ms, grace_ms, max_reports, min_trials;
  bool fail_fast, quiet;
  const char *junit, *json, *tmpdir, *manifest;
} dopts;

/* ---- vectors ---------------------------------------------------------------- */

static int hexval(int c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int load_one(const char *path, dvec *v, char *err, size_t cap) {
  FILE *f = fopen(path, "re");
  if (f == NULL) return cf_fmt(err, cap, "%s: %s", path, strerror(errno)), -1;
  static char text[1u << 20];
  size_t n = fread(text, 1, sizeof text, f);
  fclose(f);
  cf_json *j = cf_json_parse(text, n, err, cap);
  if (j == NULL) return -1;
  const cf_json *id = cf_json_get(j, "id"), *msg = cf_json_get(j, "message"), *hex = cf_json_get(j, "hex"),
                *req = cf_json_get(j, "requirements"), *exp = cf_json_get(j, "expect"),
                *desc = cf_json_get(j, "description");
  int rc = -1;
  if (id && id->type == CF_J_STR && msg && msg->type == CF_J_STR && hex && hex->type == CF_J_STR && exp &&
      exp->type == CF_J_OBJ && (v->type = cf_dt_find(msg->str)) >= 0 && strlen(hex->str) % 2 == 0) {
    size_t hl = strlen(hex->str);
    v->len = hl / 2;
    v->wire = malloc(v->len + 1);
    rc = v->wire ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < v->len; i++) {
      int a = hexval(hex->str[2 * i]), b = hexval(hex->str[2 * i + 1]);
      if (a < 0 || b < 0) rc = -1;
      else v->wire[i] = (uint8_t)(a << 4 | b);
    }
    char spec[256] = "spec:";
    for (size_t i = 0; req && req->type == CF_J_ARR && i < req->n; i++)
      if (req->items[i]->type == CF_J_STR) cf_appendf(spec, sizeof spec, " %s", req->items[i]->str);
    const cf_json *e = cf_json_get(exp, "error");
    char ex[128];
    cf_fmt(ex, sizeof ex, "%s", e && e->type == CF_J_STR ? e->str : "the decoded frame of the vector");
    v->id = strdup(id->str), v->spec = strdup(spec), v->expect = strdup(ex);
    v->does = strdup(desc && desc->type == CF_J_STR ? desc->str : "");
  }
  if (rc != 0) cf_fmt(err, cap, "%s: not a vector (id, message, hex, expect)", path);
  cf_json_free(j);
  return rc;
}

static int load_vectors(const char *dir, dvec **out, size_t *nout, char *err, size_t cap) {
  DIR *d = opendir(dir);
  if (d == NULL) return cf_fmt(err, cap, "vectors: %s: %s", dir, strerror(errno)), -1;
  char **names = NULL;
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    size_t l = strlen(e->d_name);
    if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0) continue;
    char **nn = realloc(names, (n + 1) * sizeof *nn);
    if (nn == NULL) break;
    names = nn;
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_str);
  dvec *v = calloc(n ? n : 1, sizeof *v);
  int rc = v ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char path[PATH_MAX];
    cf_fmt(path, sizeof path, "%s/%s", dir, names[i]);
    rc = load_one(path, &v[i], err, cap);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  if (rc == 0 && n == 0) rc = -1, cf_fmt(err, cap, "vectors: no *.json in %s", dir);
  *out = v, *nout = n;
  return rc;
}

/* conformance/vectors here, beside the build tree, or installed. */
static const char *default_vectors(const char *argv0) {
  static char buf[PATH_MAX];
  struct stat st;
  if (stat("conformance/vectors", &st) == 0) return "conformance/vectors";
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return argv0 ? "conformance/vectors" : NULL;
  exe[n] = '\0';
  char *sl = strrchr(exe, '/');
  if (sl) *sl = '\0';
  const char *tries[] = {"%s/../../conformance/vectors", "%s/../share/handoff/vectors"};
  for (int i = 0; i < 2; i++) {
    cf_fmt(buf, sizeof buf, tries[i], exe);
    if (stat(buf, &st) == 0) return buf;
  }
  return "conformance/vectors";
}

/* ---- one input ------------------------------------------------------------------ */

typedef struct dresult {
  cf_dverdict ref, sut;
  int agree;
} dresult;

static int ask(cf_dsut *s, int type, const uint8_t *in, size_t len, dresult *r) {
  memset(r, 0, sizeof *r);
  int bad_ref = cf_dref_verdict(type, in, len, &r->ref);
  cf_dsut_ask(s, in, len, &r->sut);
  r->agree = bad_ref == 0 && cf_dv_equal(&r->ref, &r->sut);
  if (s->start_error[0]) {
    fprintf(stdout, "handoff-conform decode: the SUT cannot be started: %s\n", s->start_error);
    cf_rmtree(s->dir);
    exit(1); /* nothing to judge; the runner has no children left */
  }
  return bad_ref;
}

static void dres_free(dresult *r) {
  cf_dv_free(&r->ref);
  cf_dv_free(&r->sut);
}

/* Removing bytes [at, at+k): with the framing header kept consistent when
 * it was and the range lies inside the body. */
static size_t cut(const uint8_t *in, size_t len, size_t at, size_t k, uint8_t *out) {
  memcpy(out, in, at);
  memcpy(out + at, in + at + k, len - at - k);
  size_t n = len - k;
  if (len >= 5 && in[0] == 1 && at >= 5) {
    uint32_t l = (uint32_t)in[1] | (uint32_t)in[2] << 8 | (uint32_t)in[3] << 16 | (uint32_t)in[4] << 24;
    if (l == len - 5) {
      l -= (uint32_t)k;
      for (int i = 0; i < 4; i++) out[1 + i] = (uint8_t)(l >> (8 * i));
    }
  }
  return n;
}

/* Delta debugging by byte ranges: halves, quarters, ... single bytes, as
 * long as a removal keeps the disagreement of the same kind (the
 * reference's verdict class and the SUT's). Returns the trials run. */
static int interesting(cf_dsut *s, int type, const uint8_t *cand, size_t n, const dresult *orig) {
  dresult r;
  ask(s, type, cand, n, &r);
  int keep = !r.agree && cf_dv_same_class(&r.ref, &orig->ref) && cf_dv_same_class(&r.sut, &orig->sut);
  dres_free(&r);
  return keep;
}

static int minimize(cf_dsut *s, int type, uint8_t *buf, size_t *len, const dresult *orig, int max_trials) {
  int trials = 0;
  uint8_t *cand = malloc(*len + 1);
  if (cand == NULL) return 0;
  /* First whole fields (nested ones too), then their contents halved,
   * then byte ranges. */
  for (long k = 0, op = 0; op < 2 && trials < max_trials;) {
    size_t n = cf_dshrink(buf, *len, k, (int)op, cand);
    if (n == (size_t)-1) {
      op++, k = 0;
      continue;
    }
    trials++;
    if (n < *len && interesting(s, type, cand, n, orig)) {
      memcpy(buf, cand, n);
      *len = n;
    } else {
      k++;
    }
  }
  for (size_t chunk = *len / 2 ? *len / 2 : 1; chunk >= 1 && trials < max_trials; chunk /= 2) {
    for (size_t at = 0; at + chunk <= *len && trials < max_trials;) {
      size_t n = cut(buf, *len, at, chunk, cand);
      trials++;
      if (interesting(s, type, cand, n, orig)) {
        memcpy(buf, cand, n);
        *len = n;
      } else {
        at += chunk;
      }
    }
    if (chunk == 1) break;
  }
  free(cand);
  return trials;
}

/* ---- the run ------------------------------------------------------------------------ */

typedef struct drun {
  const dopts *o;
  cf_opts *co;
  dvec *vec;
  size_t nvec;
  size_t by_type[CF_DT_COUNT][512];
  size_t nby[CF_DT_COUNT];
  /* reports */
  cf_case *cases;
  cf_result *res;
  size_t ncase, capcase;
  cf_summary sum;
  long reported, disagreements, inputs, mutated;
  bool stop;
} drun;

static cf_case *add_case(drun *d, cf_result **res) {
  if (d->ncase == d->capcase) {
    size_t nc = d->capcase ? 2 * d->capcase : 256;
    cf_case *c = realloc(d->cases, nc * sizeof *c);
    cf_result *r = c ? realloc(d->res, nc * sizeof *r) : NULL;
    if (c) d->cases = c;
    if (r) d->res = r;
    if (c == NULL || r == NULL) return NULL;
    d->capcase = nc;
  }
  memset(&d->cases[d->ncase], 0, sizeof d->cases[0]);
  memset(&d->res[d->ncase], 0, sizeof d->res[0]);
  *res = &d->res[d->ncase];
  return &d->cases[d->ncase++];
}

static int verdict_of(const dresult *r) {
  switch (r->sut.kind) {
  case CF_DV_CRASH: return CF_CRASH;
  case CF_DV_TIMEOUT: return CF_TIMEOUT;
  default: return CF_FAIL;
  }
}

static void hex_into(char *dst, size_t cap, const uint8_t *p, size_t n) {
  size_t room = cap > 1 ? (cap - 1) / 2 : 0;
  if (n > room) n = room;
  cf_hex(p, n, dst);
}

/* A disagreement: minimized, then filled into r. */
static void disagreement(drun *d, cf_dsut *s, int type, const uint8_t *in, size_t len, const dresult *dr,
                         cf_result *r, const char *origin) {
  uint8_t *m = malloc(len + 1);
  size_t ml = len;
  int trials = 0;
  if (m != NULL) {
    memcpy(m, in, len);
    /* A TIMEOUT costs the timeout per trial: not minimized. */
    if (dr->sut.kind != CF_DV_TIMEOUT && dr->ref.kind != CF_DV_GARBAGE)
      trials = minimize(s, type, m, &ml, dr, d->o->min_trials);
  }
  dresult mr;
  memset(&mr, 0, sizeof mr);
  if (m != NULL && ml != len) ask(s, type, m, ml, &mr);
  const dresult *show = m != NULL && ml != len && !mr.agree ? &mr : dr;
  if (show == dr) ml = len, memcpy(m, in, len);
  r->verdict = dr->ref.kind == CF_DV_GARBAGE ? CF_ERROR : verdict_of(show);
  char a[1200], b[1200];
  cf_dv_describe(&show->ref, a, sizeof a);
  cf_dv_describe(&show->sut, b, sizeof b);
  cf_fmt(r->expected, sizeof r->expected, "reference: %s", a);
  cf_fmt(r->actual, sizeof r->actual, "SUT: %s", b);
  char hx[300];
  hex_into(hx, sizeof hx, m ? m : in, ml);
  cf_fmt(r->note, sizeof r->note, "input (%s frame, %zu bytes%s, %s): %s%s", cf_dt_names[type], ml,
           ml != len ? ", minimized" : "", origin, hx, 2 * ml + 1 > sizeof hx ? "..." : "");
  if (ml != len) {
    char full[160];
    hex_into(full, sizeof full, in, len);
    cf_appendf(r->note, sizeof r->note, " | original %zu bytes: %s%s | %d trials", len, full,
               2 * len + 1 > sizeof full ? "..." : "", trials);
  }
  dres_free(&mr);
  free(m);
}

/* The frame type in case IDs ([a-z0-9-]: hello-reply). */
static const char *id_type(int t) {
  static const char *const ids[CF_DT_COUNT] = {"hello", "hello-reply", "offer", "ack", "ready"};
  return ids[t];
}

static void count(drun *d, const cf_result *r) {
  if (r->verdict == CF_PASS) d->sum.passed++;
  else d->sum.failed++;
}

static void run_type(drun *d, int t, char *dir) {
  cf_dsut s = {.argv = d->co->cmd, .argc = d->co->ncmd, .dir = dir, .type = t,
               .timeout_ms = d->o->timeout_ms, .grace_ms = d->o->grace_ms, .in_fd = -1, .out_fd = -1};
  /* The empty input (EOF before any byte: CLOSED), then the golden
   * vectors of this type. */
  char eid[64];
  cf_fmt(eid, sizeof eid, "closed-%s", id_type(t));
  dvec empty = {.id = eid, .spec = "spec: FRAME-9", .does = "an empty record: EOF before any byte of a frame",
                .expect = "CLOSED", .type = t, .wire = (uint8_t *)"", .len = 0};
  for (size_t k = 0; k <= d->nby[t] && !d->stop; k++) {
    dvec *v = k == 0 ? &empty : &d->vec[d->by_type[t][k - 1]];
    uint64_t t0 = cf_now_us();
    dresult dr;
    int bad_ref = ask(&s, t, v->wire, v->len, &dr);
    d->inputs++;
    cf_result *r;
    cf_case *c = add_case(d, &r);
    if (c == NULL) break;
    char id[200];
    cf_fmt(id, sizeof id, "decode.%s.%s", k == 0 ? "stream" : "vector", v->id);
    c->id = strdup(id), c->spec = v->spec, c->does = v->does, c->expect = v->expect;
    if (dr.agree) {
      r->verdict = CF_PASS;
    } else if (bad_ref) {
      r->verdict = CF_ERROR;
      cf_fmt(r->actual, sizeof r->actual, "the reference decoder's codecs disagree on this vector");
    } else {
      disagreement(d, &s, t, v->wire, v->len, &dr, r, v->id);
      d->disagreements++;
    }
    r->duration_ms = (long)((cf_now_us() - t0) / 1000);
    count(d, r);
    if (r->verdict != CF_PASS && d->o->fail_fast) d->stop = true;
    dres_free(&dr);
    if (cf_run_interrupted()) d->stop = true;
  }
  /* The mutated inputs of this type. */
  static uint8_t buf[1u << 18];
  long n = 0, bad = 0, first = -1, decoded = 0;
  uint64_t t0 = cf_now_us();
  for (long i = 0; i < d->o->n && !d->stop; i++) {
    size_t vi = (size_t)(cf_dmix(d->o->seed * 31 + (uint64_t)i) % d->nvec);
    if (d->vec[vi].type != t) continue;
    size_t len = cf_dmutate(d->o->seed, (uint64_t)i, d->vec[vi].wire, d->vec[vi].len, buf, sizeof buf);
    dresult dr;
    int bad_ref = ask(&s, t, buf, len, &dr);
    n++, d->inputs++, d->mutated++;
    decoded += dr.ref.kind == CF_DV_OK;
    if (!dr.agree) {
      bad++;
      if (first < 0) first = i;
      if (d->reported < d->o->max_reports || bad_ref) {
        cf_result *r;
        cf_case *c = add_case(d, &r);
        if (c != NULL) {
          char id[96], origin[300];
          cf_fmt(id, sizeof id, "decode.disagreement.%s-%ld", id_type(t), i);
          cf_fmt(origin, sizeof origin, "mutated input %ld of seed %llu, from vector %s", i,
                   (unsigned long long)d->o->seed, d->vec[vi].id);
          c->id = strdup(id), c->spec = d->vec[vi].spec, c->does = "a mutated input";
          c->expect = "the reference decoder's verdict";
          uint64_t t1 = cf_now_us();
          disagreement(d, &s, t, buf, len, &dr, r, origin);
          r->duration_ms = (long)((cf_now_us() - t1) / 1000);
          count(d, r);
          d->reported++;
        }
      }
      d->disagreements++;
      if (d->o->fail_fast) d->stop = true;
    }
    dres_free(&dr);
    if ((i & 255) == 0 && cf_run_interrupted()) d->stop = true;
  }
  cf_result *r;
  cf_case *c = add_case(d, &r);
  if (c != NULL) {
    char id[64];
    cf_fmt(id, sizeof id, "decode.mutated.%s", id_type(t));
    c->id = strdup(id);
    c->spec = "spec: MSG-15 ENV-4 FRAME-4";
    c->does = "inputs mutated from the golden vectors of this frame type";
    c->expect = "every verdict equal to the reference decoder's";
    r->verdict = bad ? CF_FAIL : CF_PASS;
    r->duration_ms = (long)((cf_now_us() - t0) / 1000);
    cf_fmt(r->actual, sizeof r->actual, "%ld of %ld mutated inputs disagree (first: input %ld)", bad, n, first);
    cf_fmt(r->note, sizeof r->note, "%ld mutated inputs (%ld decode, %ld are errors for the reference), %ld disagree; SUT started %u time%s",
           n, decoded, n - decoded, bad, s.starts, s.starts == 1 ? "" : "s");
    if (bad) cf_fmt(r->expected, sizeof r->expected, "every verdict equal to the reference decoder's");
    count(d, r);
  }
  cf_dsut_stop(&s);
}

/* ---- options --------------------------------------------------------------------------- */

static const struct option dlong[] = {
    {"vectors", required_argument, 0, 'V'}, {"seed", required_argument, 0, 's'},
    {"timeout-ms", required_argument, 0, 't'}, {"grace-ms", required_argument, 0, 'g'},
    {"max-reports", required_argument, 0, 'm'}, {"minimize-trials", required_argument, 0, 'M'},
    {"junit", required_argument, 0, 'J'}, {"json", required_argument, 0, 'j'},
    {"tmpdir", required_argument, 0, 'T'}, {"manifest", required_argument, 0, 'F'},
    {"serve", required_argument, 0, 'S'}, {"fail-fast", no_argument, 0, 'x'},
    {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};

void cf_decode_usage(FILE *f) {
  fputs(
"usage: handoff-conform decode [OPTIONS] -- CMD [ARGS...]\n"
"       handoff-conform decode [OPTIONS] --manifest FILE   (\"mode\": \"decode\", \"command\")\n"
"       handoff-conform decode --serve TYPE   (the reference decoder as a SUT)\n"
"\n"
"The decoder oracle: CMD is a frame decoder in any language. The runner\n"
"starts one CMD per frame type ({frame_type}, also $HANDOFF_FRAME_TYPE:\n"
"hello, hello_reply, offer, ack, ready; {dir} and $HANDOFF_CONFORM_DIR: a\n"
"private directory), in its own process group, and writes records on its\n"
"stdin: a 4-byte little-endian length, then that many bytes -- everything a\n"
"receiver reads from the stream before EOF (one frame with its 5-byte\n"
"framing header, a prefix of one, or nothing). For each record the SUT\n"
"writes exactly one line on stdout and flushes it: the decoded frame in the\n"
"vectors' JSON form ({\"envelope\":{..},\"message\":{..}}, any key order and\n"
"spacing: values are compared), or the error name (TRUNCATED, MALFORMED, ...;\n"
"CLOSED for an empty record). Bytes after the first frame are never read by\n"
"a receiver (FRAME-6) and do not change the verdict. EOF on stdin: exit.\n"
"Contract: spec/conformance.md section 6, conformance/vectors/README.md.\n"
"\n"
"The runner feeds every golden vector, then N inputs mutated from them by\n"
"the structure-aware mutator of fuzz/ (seeded; the seed is printed), and\n"
"compares each answer with the reference decoder's verdict. A disagreement\n"
"is minimized and reported with the input as hex and both verdicts.\n"
"Verdicts of an input besides the answer: CRASH (the SUT ended or closed a\n"
"pipe), TIMEOUT (no line within --timeout-ms), GARBAGE (a line that is\n"
"neither JSON nor an error name); the SUT is restarted after the first two.\n"
"\n"
"Options:\n"
"  -n N                   mutated inputs (10000); 0: the vectors only\n"
"  --seed S               seed of the mutations (default: random, printed)\n"
"  --vectors DIR          the golden vectors (conformance/vectors)\n"
"  --timeout-ms N         wait at most N ms for each answer (2000)\n"
"  --grace-ms N           SIGTERM to SIGKILL grace period (1000)\n"
"  --max-reports K        disagreements of mutated inputs minimized and reported\n"
"                         one by one (10); all are counted\n"
"  --minimize-trials N    SUT queries per minimization at most (400)\n"
"  -x, --fail-fast        stop at the first disagreement\n"
"  --junit FILE, --json FILE, -q, --quiet, --tmpdir DIR, --manifest FILE\n"
"Exit status: 0 when every verdict agrees, 1 otherwise, 2 on a usage error.\n",
      f);
}

static int uerr(const char *what, const char *arg) {
  return cli_usage_error("handoff-conform decode", "%s%s%s", what, arg ? " " : "", arg ? arg : "");
}

static int num(const char *s, long lo, long hi, long *out) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = (long)v;
  return 0;
}

int cf_decode_main(int argc, char **argv) {
  dopts o = {.n = 10000, .timeout_ms = 2000, .grace_ms = 1000, .max_reports = 10, .min_trials = 400};
  bool seeded = false;
  const char *serve = NULL;
  long v;
  int opt, before = 1;
  optind = 1;
  opterr = 0; /* our messages, with our prefix (ref/bin/cli.c) */
  while ((opt = getopt_long(argc, argv, "+:n:xqh", dlong, NULL)) != -1) {
    switch (opt) {
    case 'n': if (num(optarg, 0, 100000000, &o.n)) return uerr("bad -n", optarg); break;
    case 's': {
      char *end = NULL;
      errno = 0;
      unsigned long long s = strtoull(optarg, &end, 0);
      if (errno || end == optarg || *end) return uerr("bad --seed", optarg);
      o.seed = s, seeded = true;
      break;
    }
    case 'V': o.vectors = optarg; break;
    case 't': if (num(optarg, 10, 600000, &v)) return uerr("bad --timeout-ms", optarg); o.timeout_ms = (int)v; break;
    case 'g': if (num(optarg, 0, 60000, &v)) return uerr("bad --grace-ms", optarg); o.grace_ms = (int)v; break;
    case 'm': if (num(optarg, 0, 100000, &v)) return uerr("bad --max-reports", optarg); o.max_reports = (int)v; break;
    case 'M': if (num(optarg, 0, 1000000, &v)) return uerr("bad --minimize-trials", optarg); o.min_trials = (int)v; break;
    case 'J': o.junit = optarg; break;
    case 'j': o.json = optarg; break;
    case 'T': o.tmpdir = optarg; break;
    case 'F': o.manifest = optarg; break;
    case 'S': serve = optarg; break;
    case 'x': o.fail_fast = true; break;
    case 'q': o.quiet = true; break;
    case 'h': cf_decode_usage(stdout); return 0;
    default: return cli_getopt_error("handoff-conform decode", opt, argv, before);
    }
    before = optind;
  }
  if (serve) return cf_dref_serve(serve);
  static cf_opts co;
  memset(&co, 0, sizeof co);
  co.mode = CF_MODE_DECODE;
  co.quiet = o.quiet;
  co.junit = o.junit, co.json = o.json;
  cf_registry_select(CF_MODE_DECODE);
  char err[512];
  static char **mcmd; /* static: reachable until exit */
  static int nmcmd;
  if (o.manifest && cf_manifest_load(&co, o.manifest, &mcmd, &nmcmd, err, sizeof err) != 0) return uerr(err, NULL);
  if (optind < argc) co.cmd = argv + optind, co.ncmd = argc - optind;
  else if (mcmd) co.cmd = mcmd, co.ncmd = nmcmd;
  if (co.ncmd == 0) return uerr("no SUT command: give it after '--' or in the manifest", NULL);
  if (cf_dsut_check(co.cmd, co.ncmd, err, sizeof err) != 0) return uerr(err, NULL);
  if (!seeded) {
    cf_random(&o.seed, sizeof o.seed);
    o.seed %= 1000000000ull; /* short enough to retype */
  }
  static drun d;
  memset(&d, 0, sizeof d);
  d.o = &o, d.co = &co;
  if (load_vectors(o.vectors ? o.vectors : default_vectors(argv[0]), &d.vec, &d.nvec, err, sizeof err) != 0)
    return uerr(err, NULL);
  for (size_t i = 0; i < d.nvec; i++) {
    int t = d.vec[i].type;
    if (d.nby[t] < sizeof d.by_type[t] / sizeof d.by_type[t][0]) d.by_type[t][d.nby[t]++] = i;
  }
  char dir[PATH_MAX];
  const char *tmp = o.tmpdir ? o.tmpdir : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  cf_fmt(dir, sizeof dir, "%s/handoff-decode-XXXXXX", tmp);
  if (mkdtemp(dir) == NULL) return uerr("cannot create a private directory in", tmp);
  cf_run_init();
  char cmd[2048] = "";
  for (int i = 0; i < co.ncmd; i++) cf_appendf(cmd, sizeof cmd, "%s%s", i ? " " : "", co.cmd[i]);
  printf("handoff-conform %s — decode mode — spec revision %s\n", CF_SUITE_VERSION, cf_spec_revision);
  if (co.sut_name) printf("SUT:       %s\n", co.sut_name);
  printf("command:   %s\n", cmd);
  printf("inputs:    %d empty records, %zu golden vectors, then %ld mutated inputs, seed %llu (--seed %llu -n %ld repeats the run)\n\n",
         CF_DT_COUNT, d.nvec, o.n, (unsigned long long)o.seed, (unsigned long long)o.seed, o.n);
  fflush(stdout);
  uint64_t t0 = cf_now_ms();
  for (int t = 0; t < CF_DT_COUNT && !d.stop; t++) run_type(&d, t, dir);
  d.sum.duration_ms = (long)(cf_now_ms() - t0);
  /* The tree: vectors, mutated, disagreements (areas in that order). */
  static const char *const areas[] = {"decode.stream.", "decode.vector.", "decode.mutated.", "decode.disagreement."};
  const cf_case **sel = calloc(d.ncase ? d.ncase : 1, sizeof *sel);
  cf_result *res = calloc(d.ncase ? d.ncase : 1, sizeof *res);
  size_t ns = 0;
  for (int a = 0; sel && res && a < 4; a++)
    for (size_t i = 0; i < d.ncase; i++)
      if (strncmp(d.cases[i].id, areas[a], strlen(areas[a])) == 0) {
        sel[ns] = &d.cases[i];
        res[ns] = d.res[i];
        cf_report_case(stdout, &co, sel[ns], &res[ns]);
        ns++;
      }
  cf_report_summary(stdout, &co, &d.sum);
  printf("%ld inputs (%d empty, %zu vectors, %ld mutated, seed %llu), %ld disagreement%s, %.1f s%s\n", d.inputs,
         CF_DT_COUNT, d.nvec, d.mutated, (unsigned long long)o.seed, d.disagreements,
         d.disagreements == 1 ? "" : "s", (double)d.sum.duration_ms / 1000.0,
         d.stop && (o.fail_fast || cf_run_interrupted()) ? " (stopped early)" : "");
  int rc = d.sum.failed > 0 || d.disagreements > 0 || cf_run_interrupted() ? 1 : 0;
  if (o.junit && sel && cf_report_junit(o.junit, &co, sel, res, ns, &d.sum) != 0) rc = 1;
  if (o.json && sel && cf_report_json(o.json, &co, sel, res, ns, &d.sum) != 0) rc = 1;
  cf_rmtree(dir);
  free(sel);
  free(res);
  return rc;
}
