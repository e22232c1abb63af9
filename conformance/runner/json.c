/* handoff-conform — JSON reader and writer helpers (see json.h). */
#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jp {
  const char *s;
  size_t len, pos;
  int depth;
  char *err;
  size_t errcap;
} jp;

static void jerr(jp *p, const char *what) {
  if (p->err[0] == '\0') snprintf(p->err, p->errcap, "%s at byte %zu", what, p->pos);
}

static void ws(jp *p) {
  while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) != NULL) p->pos++;
}

static cf_json *node(cf_jtype t) {
  cf_json *j = calloc(1, sizeof *j);
  if (j != NULL) j->type = t;
  return j;
}

static int push(cf_json *parent, cf_json *child) {
  cf_json **n = realloc(parent->items, (parent->n + 1) * sizeof *n);
  if (n == NULL) return -1;
  parent->items = n;
  parent->items[parent->n++] = child;
  return 0;
}

static void put_utf8(char *out, size_t *o, uint32_t cp) {
  if (cp < 0x80) {
    out[(*o)++] = (char)cp;
  } else if (cp < 0x800) {
    out[(*o)++] = (char)(0xC0 | cp >> 6);
    out[(*o)++] = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out[(*o)++] = (char)(0xE0 | cp >> 12);
    out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[(*o)++] = (char)(0x80 | (cp & 0x3F));
  } else {
    out[(*o)++] = (char)(0xF0 | cp >> 18);
    out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[(*o)++] = (char)(0x80 | (cp & 0x3F));
  }
}

static int hex4(jp *p, uint32_t *v) {
  if (p->pos + 4 > p->len) return -1;
  *v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p->s[p->pos++];
    *v <<= 4;
    if (c >= '0' && c <= '9') *v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') *v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') *v |= (uint32_t)(c - 'A' + 10);
    else return -1;
  }
  return 0;
}

static char *jstring(jp *p) {
  if (p->pos >= p->len || p->s[p->pos] != '"') return jerr(p, "expected a string"), NULL;
  p->pos++;
  /* Decoded text is never longer than the escaped text. */
  char *out = malloc(p->len - p->pos + 1);
  if (out == NULL) return jerr(p, "out of memory"), NULL;
  size_t o = 0;
  while (p->pos < p->len) {
    unsigned char c = (unsigned char)p->s[p->pos++];
    if (c == '"') {
      out[o] = '\0';
      return out;
    }
    if (c < 0x20) break;
    if (c != '\\') {
      out[o++] = (char)c;
      continue;
    }
    if (p->pos >= p->len) break;
    char e = p->s[p->pos++];
    const char *map = "\"\"\\\\//b\bf\fn\nr\rt\t";
    const char *m = NULL;
    for (const char *q = map; *q; q += 2)
      if (*q == e) m = q;
    if (m != NULL) {
      out[o++] = m[1];
      continue;
    }
    if (e != 'u') break;
    uint32_t cp;
    if (hex4(p, &cp) != 0) break;
    if (cp >= 0xD800 && cp < 0xDC00) {
      uint32_t lo;
      if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') break;
      p->pos += 2;
      if (hex4(p, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) break;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      break;
    }
    if (cp == 0) break; /* no NUL inside C strings */
    put_utf8(out, &o, cp);
  }
  free(out);
  jerr(p, "bad string");
  return NULL;
}

static cf_json *value(jp *p);

static cf_json *container(jp *p, bool obj) {
  cf_json *j = node(obj ? CF_J_OBJ : CF_J_ARR);
  if (j == NULL) return NULL;
  p->pos++;
  ws(p);
  if (p->pos < p->len && p->s[p->pos] == (obj ? '}' : ']')) {
    p->pos++;
    return j;
  }
  for (;;) {
    char *key = NULL;
    ws(p);
    if (obj) {
      key = jstring(p);
      if (key == NULL) break;
      ws(p);
      if (p->pos >= p->len || p->s[p->pos] != ':') {
        free(key);
        jerr(p, "expected ':'");
        break;
      }
      p->pos++;
    }
    cf_json *v = value(p);
    if (v == NULL) {
      free(key);
      break;
    }
    v->key = key;
    if (push(j, v) != 0) {
      cf_json_free(v);
      break;
    }
    ws(p);
    if (p->pos < p->len && p->s[p->pos] == ',') {
      p->pos++;
      continue;
    }
    if (p->pos < p->len && p->s[p->pos] == (obj ? '}' : ']')) {
      p->pos++;
      return j;
    }
    jerr(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    break;
  }
  cf_json_free(j);
  return NULL;
}

static cf_json *value(jp *p) {
  ws(p);
  if (p->pos >= p->len) return jerr(p, "unexpected end"), NULL;
  if (++p->depth > 64) return jerr(p, "nesting too deep"), NULL;
  cf_json *j = NULL;
  char c = p->s[p->pos];
  if (c == '{' || c == '[') {
    j = container(p, c == '{');
  } else if (c == '"') {
    char *s = jstring(p);
    if (s != NULL && (j = node(CF_J_STR)) != NULL) j->str = s;
    else free(s);
  } else if (strncmp(p->s + p->pos, "true", 4) == 0 || strncmp(p->s + p->pos, "false", 5) == 0) {
    bool t = c == 't';
    p->pos += t ? 4 : 5;
    if ((j = node(CF_J_BOOL)) != NULL) j->b = t;
  } else if (strncmp(p->s + p->pos, "null", 4) == 0) {
    p->pos += 4;
    j = node(CF_J_NULL);
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    char buf[64];
    size_t n = 0;
    while (p->pos < p->len && n + 1 < sizeof buf && strchr("+-0123456789.eE", p->s[p->pos]))
      buf[n++] = p->s[p->pos++];
    buf[n] = '\0';
    char *end = NULL;
    double d = strtod(buf, &end);
    if (end == NULL || *end != '\0') jerr(p, "bad number");
    else if ((j = node(CF_J_NUM)) != NULL) j->num = d;
  } else {
    jerr(p, "unexpected character");
  }
  p->depth--;
  return j;
}

cf_json *cf_json_parse(const char *text, size_t len, char *err, size_t errcap) {
  jp p = {text, len, 0, 0, err, errcap};
  err[0] = '\0';
  if (len > 1024 * 1024) {
    snprintf(err, errcap, "file larger than 1 MiB");
    return NULL;
  }
  cf_json *j = value(&p);
  if (j != NULL) {
    ws(&p);
    if (p.pos != p.len) {
      jerr(&p, "trailing bytes");
      cf_json_free(j);
      return NULL;
    }
  }
  return j;
}

void cf_json_free(cf_json *j) {
  if (j == NULL) return;
  for (size_t i = 0; i < j->n; i++) cf_json_free(j->items[i]);
  free(j->items);
  free(j->str);
  free(j->key);
  free(j);
}

const cf_json *cf_json_get(const cf_json *obj, const char *key) {
  if (obj == NULL || obj->type != CF_J_OBJ) return NULL;
  for (size_t i = 0; i < obj->n; i++)
    if (strcmp(obj->items[i]->key, key) == 0) return obj->items[i];
  return NULL;
}

void cf_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
      if (*p < 0x20) fprintf(f, "\\u%04x", *p);
      else fputc(*p, f);
    }
  }
  fputc('"', f);
}

void cf_xml_str(FILE *f, const char *s) {
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    switch (*p) {
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '&': fputs("&amp;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&apos;", f); break;
    case '\n': fputs("&#10;", f); break;
    case '\t': fputs("&#9;", f); break;
    default:
      /* XML 1.0 forbids other control characters even as references. */
      if (*p < 0x20) fputc('?', f);
      else fputc(*p, f);
    }
  }
}
