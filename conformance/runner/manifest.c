/* handoff-conform — the manifest: what a SUT declares, in one JSON file
 * shared by the three modes (format in conformance/README.md):
 *
 *   {
 *     "manifest": 1,
 *     "name": "my backend 1.2",
 *     "mode": "backend",
 *     "features": ["backend-ready", "multi-offer"],
 *     "constants": {"offer_timeout_ms": 300},
 *     "service": "echo",
 *     "command": ["./my-backend", "--listen", "{handoff_endpoint}", ...]
 *   }
 *
 * Unknown keys, features and constants are errors (a typo must not turn a
 * case into a silent skip); keys starting with "x-" or "$" are ignored. */
#include "manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int cf_add_feature(cf_opts *o, const char *name, char *err, size_t cap) {
  const cf_feature_def *f = cf_feature_find(name);
  if (f == NULL || !(f->modes & (1u << o->mode))) {
    snprintf(err, cap, "unknown feature '%s' for %s mode (see --help)", name, cf_mode_name(o->mode));
    return -1;
  }
  o->features |= f->bit;
  return 0;
}

int cf_set_constant(cf_opts *o, const char *name, double v, char *err, size_t cap) {
  int k = cf_const_find(name);
  if (k < 0 || !(cf_consts[k].modes & (1u << o->mode))) {
    snprintf(err, cap, "unknown constant '%s' for %s mode (see --help)", name, cf_mode_name(o->mode));
    return -1;
  }
  if (v != (double)(long)v || (long)v < cf_consts[k].min || (long)v > cf_consts[k].max) {
    snprintf(err, cap, "constant %s must be an integer in %ld..%ld", name, cf_consts[k].min,
             cf_consts[k].max);
    return -1;
  }
  o->consts[k] = (long)v;
  o->const_set[k] = true;
  return 0;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "re");
  if (f == NULL) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t r;
  while (buf != NULL && (r = fread(buf + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap && cap < (2u << 20)) {
      char *nb = realloc(buf, cap * 2);
      if (nb == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    } else if (n == cap) {
      break;
    }
  }
  fclose(f);
  *len = n;
  return buf;
}

int cf_manifest_load(cf_opts *o, const char *path, char ***cmd_out, int *ncmd_out, char *err, size_t cap) {
  *cmd_out = NULL;
  *ncmd_out = 0;
  size_t len = 0;
  char *text = slurp(path, &len);
  if (text == NULL) {
    snprintf(err, cap, "cannot read manifest %s", path);
    return -1;
  }
  char jerr[160];
  cf_json *j = cf_json_parse(text, len, jerr, sizeof jerr);
  free(text);
  if (j == NULL || j->type != CF_J_OBJ) {
    snprintf(err, cap, "%s: %s", path, j == NULL ? jerr : "not a JSON object");
    cf_json_free(j);
    return -1;
  }
  int rc = -1;
  for (size_t i = 0; i < j->n; i++) {
    const cf_json *v = j->items[i];
    const char *k = v->key;
    if (k[0] == '$' || strncmp(k, "x-", 2) == 0) continue;
    if (strcmp(k, "manifest") == 0) {
      if (v->type != CF_J_NUM || v->num != 1) {
        snprintf(err, cap, "%s: \"manifest\" must be 1 (the format version)", path);
        goto out;
      }
    } else if (strcmp(k, "name") == 0 && v->type == CF_J_STR) {
      o->sut_name = strdup(v->str);
    } else if (strcmp(k, "service") == 0 && v->type == CF_J_STR) {
      o->service = strdup(v->str);
    } else if (strcmp(k, "mode") == 0 && v->type == CF_J_STR) {
      if (strcmp(v->str, cf_mode_name(o->mode)) != 0) {
        snprintf(err, cap, "%s: manifest is for %s mode, the run is %s mode", path, v->str,
                 cf_mode_name(o->mode));
        goto out;
      }
    } else if (strcmp(k, "features") == 0 && v->type == CF_J_ARR) {
      for (size_t f = 0; f < v->n; f++) {
        if (v->items[f]->type != CF_J_STR) {
          snprintf(err, cap, "%s: features must be strings", path);
          goto out;
        }
        char e2[200];
        if (cf_add_feature(o, v->items[f]->str, e2, sizeof e2) != 0) {
          snprintf(err, cap, "%s: %s", path, e2);
          goto out;
        }
      }
    } else if (strcmp(k, "constants") == 0 && v->type == CF_J_OBJ) {
      for (size_t c = 0; c < v->n; c++) {
        char e2[200];
        if (v->items[c]->type != CF_J_NUM ||
            cf_set_constant(o, v->items[c]->key, v->items[c]->num, e2, sizeof e2) != 0) {
          snprintf(err, cap, "%s: %s", path,
                   v->items[c]->type != CF_J_NUM ? "constants must be numbers" : e2);
          goto out;
        }
      }
    } else if (strcmp(k, "command") == 0 && v->type == CF_J_ARR && v->n > 0) {
      char **cmd = calloc(v->n + 1, sizeof *cmd);
      if (cmd == NULL) goto out;
      for (size_t a = 0; a < v->n; a++) {
        if (v->items[a]->type != CF_J_STR) {
          free(cmd);
          snprintf(err, cap, "%s: command must be an array of strings", path);
          goto out;
        }
        cmd[a] = strdup(v->items[a]->str);
      }
      *cmd_out = cmd;
      *ncmd_out = (int)v->n;
    } else {
      snprintf(err, cap, "%s: unknown or mistyped key \"%s\"", path, k);
      goto out;
    }
  }
  rc = 0;
out:
  cf_json_free(j);
  return rc;
}

/* Features that only make sense together with others, per mode. */
int cf_check_features(const cf_opts *o, char *err, size_t cap) {
  static const struct {
    int mode;
    unsigned f, needs;
  } deps[] = {
      {CF_MODE_BACKEND, CF_F_EARLY_DATA, CF_F_BACKEND_READY},
      {CF_MODE_BROKER, CF_F_BACKEND_READY, CF_F_MULTI_OFFER},
      {CF_MODE_BROKER, CF_F_EARLY_DATA, CF_F_BACKEND_READY},
      {CF_MODE_BROKER, CF_F_COALESCED, CF_F_EARLY_DATA},
      {CF_MODE_CLIENT, CF_F_BACKEND_READY, CF_F_HANDOFF},
      {CF_MODE_CLIENT, CF_F_EARLY_DATA, CF_F_BACKEND_READY},
      {CF_MODE_CLIENT, CF_F_COALESCED, CF_F_EARLY_DATA},
  };
  for (size_t i = 0; i < sizeof deps / sizeof deps[0]; i++) {
    if (deps[i].mode != o->mode || !(o->features & deps[i].f) || (o->features & deps[i].needs)) continue;
    snprintf(err, cap, "feature %s needs %s", cf_feature_name(deps[i].f), cf_feature_name(deps[i].needs));
    return -1;
  }
  return 0;
}
