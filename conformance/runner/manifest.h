/* handoff-conform — manifest files and declarations (see manifest.c). */
#ifndef CF_MANIFEST_H
#define CF_MANIFEST_H

#include <stddef.h>

#include "conform.h"

/* Declare a feature / set a constant for o->mode. 0, or -1 with err. */
int cf_add_feature(cf_opts *o, const char *name, char *err, size_t cap);
int cf_set_constant(cf_opts *o, const char *name, double v, char *err, size_t cap);
/* Apply a manifest to o; its "command" (if any) goes to *cmd and *ncmd. */
int cf_manifest_load(cf_opts *o, const char *path, char ***cmd, int *ncmd, char *err, size_t cap);

/* Feature dependencies of the mode (early-data needs backend-ready, ...).
 * 0, or -1 with a message. */
int cf_check_features(const cf_opts *o, char *err, size_t cap);

#endif
