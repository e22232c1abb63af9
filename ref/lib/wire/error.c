/* handoff — error names and descriptions, built from HO_ERROR_LIST. */
#include "handoff/error.h"

#include <stddef.h>
#include <string.h>

struct ho_err_entry {
  int code;
  const char *name;
  const char *text;
};

static const struct ho_err_entry ho_err_table[] = {
    {HO_OK, "OK", "success"},
#define HO_ERROR_ROW_(name, value, text) {value, #name, text},
    HO_ERROR_LIST(HO_ERROR_ROW_)
#undef HO_ERROR_ROW_
};

static const struct ho_err_entry *ho_err_find(int code) {
  for (size_t i = 0; i < sizeof ho_err_table / sizeof ho_err_table[0]; i++)
    if (ho_err_table[i].code == code) return &ho_err_table[i];
  return NULL;
}

const char *ho_strerror(int code) {
  const struct ho_err_entry *e = ho_err_find(code);
  return e ? e->text : "unknown error";
}

const char *ho_errname(int code) {
  const struct ho_err_entry *e = ho_err_find(code);
  return e ? e->name : NULL;
}

int ho_err_from_name(const char *name) {
  if (name == NULL) return HO_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < sizeof ho_err_table / sizeof ho_err_table[0]; i++)
    if (strcmp(ho_err_table[i].name, name) == 0) return ho_err_table[i].code;
  return HO_ERR_INVALID_ARGUMENT;
}

int ho_err_class(int code) {
  if (code == HO_OK) return 0;
  if (ho_err_find(code) == NULL) return -1;
  return (-code) / 100;
}
