/* handoff — the platform-neutral part of the sideband accumulator
 * (handoff/transport.h): its reset, the same for the Unix transport
 * (net/unix_xfer.c) and the Windows one (net/win/win_iface.c).
 * spec: XFER-29 */
#include <string.h>

#include "handoff/transport.h"

void ho_sideband_init(ho_sideband *sb) {
  if (sb == NULL) return;
  memset(sb, 0, sizeof *sb);
  sb->conn = HO_NO_HANDLE;
}
