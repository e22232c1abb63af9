/* handoff — internals of the Windows transport (ref/lib/net/win/). */
#ifndef HANDOFF_NET_WIN_INTERNAL_H
#define HANDOFF_NET_WIN_INTERNAL_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include "handoff/winpipe.h"

/* Remember `err` as this thread's last Win32 error and return its mapping. */
int ho_win_fail(unsigned long err, bool writing);
/* Remember `err` and return `code` (a mapping chosen by the caller). */
int ho_win_fail_as(unsigned long err, int code);

static inline HANDLE ho_h(ho_handle v) { return (HANDLE)v; }
static inline ho_handle ho_v(HANDLE h) { return (ho_handle)h; }

/* An event for one blocking overlapped call of this thread, with the
 * low-order bit set in the value put in OVERLAPPED.hEvent so that no
 * completion packet is queued even if some process bound the file object to
 * an I/O completion port (spec: XFER-39). */
HANDLE ho_win_thread_event(void);
static inline HANDLE ho_win_tagged(HANDLE ev) { return (HANDLE)((ULONG_PTR)ev | 1u); }

#endif
