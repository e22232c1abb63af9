/* make test-abi: a program linked against the shared library alone (no
 * internal symbols) sees the version it was compiled against and can use
 * the public API. */
#include <stdio.h>
#include <string.h>

#include "handoff/error.h"
#include "handoff/version.h"

int main(void) {
  if (strcmp(ho_version(), HO_VERSION_STRING) != 0) {
    fprintf(stderr, "abi_link: ho_version() %s, header %s\n", ho_version(), HO_VERSION_STRING);
    return 1;
  }
  if (strcmp(ho_errname(HO_ERR_TRUNCATED), "TRUNCATED") != 0) {
    fprintf(stderr, "abi_link: ho_errname(HO_ERR_TRUNCATED) is %s\n", ho_errname(HO_ERR_TRUNCATED));
    return 1;
  }
  printf("abi_link: libhandoff %s linked dynamically\n", ho_version());
  return 0;
}
