/* handoff-conform — a small JSON reader (for manifests) and writer helpers
 * (for reports). The reader builds a tree; strings are UTF-8 as in the
 * input, \uXXXX escapes are decoded (surrogate pairs included). Limits: 64
 * levels of nesting, 1 MiB of input. */
#ifndef CF_JSON_H
#define CF_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum { CF_J_NULL, CF_J_BOOL, CF_J_NUM, CF_J_STR, CF_J_ARR, CF_J_OBJ } cf_jtype;

typedef struct cf_json {
  cf_jtype type;
  bool b;
  double num;
  char *str;              /* CF_J_STR; key of an object member in `key` */
  char *key;
  struct cf_json **items; /* CF_J_ARR, CF_J_OBJ members */
  size_t n;
} cf_json;

/* Parse `text`; on error returns NULL and writes a message with the byte
 * offset into err. */
cf_json *cf_json_parse(const char *text, size_t len, char *err, size_t errcap);
void cf_json_free(cf_json *j);
const cf_json *cf_json_get(const cf_json *obj, const char *key);

/* Writer: a JSON string literal (with quotes) of `s`. */
void cf_json_str(FILE *f, const char *s);
/* An XML-escaped text of `s` (for attributes and text). */
void cf_xml_str(FILE *f, const char *s);

#endif
