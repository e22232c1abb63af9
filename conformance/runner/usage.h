/* handoff-conform — the --help text: the contract of each mode, its
 * placeholders, features, constants and the common options. */
#ifndef CF_USAGE_H
#define CF_USAGE_H

#include <stdio.h>

/* mode 0: every mode. Selects the registry of each mode it prints and
 * leaves the registry of `mode` (or backend) selected. */
void cf_usage(FILE *f, int mode);

#endif
