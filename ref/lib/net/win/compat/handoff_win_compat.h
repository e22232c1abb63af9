/* handoff — Windows build only (mk/windows.mk passes it with -include):
 * the two POSIX types the shared headers name that mingw-w64 lacks.
 * transport.h's ho_peer_cred carries uid/gid; on Windows the shells put a
 * same-user verdict there (handoff/winpipe.h, ho_pipe_peer_check). The
 * lead may fold this into transport.h behind #ifdef _WIN32; until then the
 * shared headers stay untouched. */
#ifndef HANDOFF_WIN_COMPAT_H
#define HANDOFF_WIN_COMPAT_H
#ifdef _WIN32
#include <sys/types.h>
#ifndef HO_HAVE_UID_T
#define HO_HAVE_UID_T 1
typedef unsigned int uid_t;
typedef unsigned int gid_t;
#endif
#endif
#endif
