/* handoff — the linked library's version (version.h). */
#include "handoff/version.h"

const char *ho_version(void) { return HO_VERSION_STRING; }
