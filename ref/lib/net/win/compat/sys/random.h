/* handoff — Windows build only: getrandom(2) for ref/lib/core/token.c
 * (ho_random_os), on the OS CSPRNG BCryptGenRandom with the system
 * preferred RNG; a failure is a failure, never a weaker source
 * (spec: TOKEN-1). Found first on the Windows include path
 * (mk/windows.mk); the Linux build never sees it. */
#ifndef HANDOFF_WIN_COMPAT_SYS_RANDOM_H
#define HANDOFF_WIN_COMPAT_SYS_RANDOM_H
#include <errno.h>
#include <stddef.h>
#include <sys/types.h>
#include <windows.h>
#include <bcrypt.h>

static inline ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
  (void)flags;
  if (len > 0x7fffffffu) len = 0x7fffffffu;
  NTSTATUS st = BCryptGenRandom(NULL, (PUCHAR)buf, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG);
  if (st != 0) {
    errno = EIO;
    return -1;
  }
  return (ssize_t)len;
}
#endif
