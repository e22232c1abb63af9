/* handoff — the Windows transport: named-pipe endpoints and the
 * DuplicateHandle handoff (spec/handoff-sequence.md §3, XFER-30..XFER-34,
 * XFER-38..; spec/security.md SEC-1 SEC-2 SEC-4).
 *
 * Windows only (mingw-w64 or MSVC). The transport.h interface is
 * implemented on top of this (ho_xfer_send() duplicates the handle into the
 * peer of the control pipe, ho_xfer_recv() is a plain read); programs use the
 * finer calls below directly:
 *
 *   endpoints   bare names on the wire ("handoff-echo"), "\\.\pipe\" + name
 *               locally; every instance owner-only (a protected DACL with one
 *               ACE for the current user's SID), PIPE_REJECT_REMOTE_CLIENTS,
 *               the first one with FILE_FLAG_FIRST_PIPE_INSTANCE (SEC-2);
 *               overlapped byte-mode pipes (XFER-34);
 *   peers       the process at the other end from the pipe itself
 *               (GetNamedPipeClientProcessId / ...ServerProcessId) and its
 *               token's user SID compared with ours (SEC-1 SEC-4, XFER-30);
 *   broker      ho_win_target_open() (XFER-30), ho_win_dup_into() (XFER-31),
 *               ho_win_close_in() (XFER-33, the form that works under Wine);
 *   backend     ho_win_check_handle() (XFER-32, XFER-38);
 *   tests       ho_win_probe() (is a handle value still open in a process,
 *               and is it still the same pipe?).
 *
 * Handles are carried as ho_handle (intptr_t) like descriptors on Unix;
 * HO_NO_HANDLE (-1) is INVALID_HANDLE_VALUE. All functions return HO_OK or a
 * negative HO_ERR_* code; the Win32 error of the last failure of this
 * thread is kept for messages (ho_win_last_error()).
 *
 * Threads: the functions keep no shared state (the last Win32 error and
 * the overlapped event are per thread); one ho_pipe_listener is used by one
 * thread at a time. Every handle is created or duplicated non-inheritable
 * (bInheritHandle FALSE), the Windows form of close-on-exec
 * (handoff/version.h).
 */
#ifndef HANDOFF_WINPIPE_H
#define HANDOFF_WINPIPE_H

#include "handoff/version.h"

#ifndef _WIN32
#error "handoff/winpipe.h is the Windows transport; include it only when _WIN32 is defined"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/error.h"
#include "handoff/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ----------------------------------------------------------- */

/* Map a Win32 error (GetLastError()) to the library's codes:
 *   ERROR_IO_PENDING, ERROR_NO_DATA (empty non-blocking pipe)   WOULD_BLOCK
 *   ERROR_BROKEN_PIPE, ERROR_PIPE_NOT_CONNECTED, ERROR_NO_DATA on
 *     write, ERROR_FILE_NOT_FOUND (nobody listens), ERROR_PIPE_BUSY
 *     after the wait, ERROR_HANDLE_EOF, ERROR_NETNAME_DELETED  CLOSED
 *   ERROR_ACCESS_DENIED, ERROR_PRIVILEGE_NOT_HELD               PERMISSION
 *   ERROR_TOO_MANY_OPEN_FILES, ERROR_NO_SYSTEM_RESOURCES        FD_EXHAUSTED
 *   ERROR_NOT_ENOUGH_MEMORY, ERROR_OUTOFMEMORY                  NOMEM
 *   ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER,
 *     ERROR_INVALID_NAME, ERROR_BAD_PATHNAME                    INVALID_ARGUMENT
 *   ERROR_SEM_TIMEOUT, WAIT_TIMEOUT                             TIMEOUT
 *   ERROR_PIPE_BUSY (first instance taken), ERROR_ALREADY_EXISTS STATE
 *   anything else                                               IO
 * `writing` selects the write meaning of ERROR_NO_DATA (the reader has
 * closed: CLOSED) over the read meaning (nothing to read: WOULD_BLOCK). */
HO_API int ho_err_from_win32(unsigned long err, bool writing);

/* The Win32 error behind the last HO_ERR_* this thread got from a function
 * of this header (0 if none), for messages: "reason=CLOSED win32=109". */
HO_API unsigned long ho_win_last_error(void);

/* ---- names -------------------------------------------------------------- */

#define HO_PIPE_PREFIX "\\\\.\\pipe\\"
#define HO_PIPE_NAME_MAX 247 /* 256 - strlen(HO_PIPE_PREFIX) */

/* The local path of the bare pipe name `bare` (the form on the wire, for
 * example Negotiated.backend_pipe): HO_PIPE_PREFIX + bare. A name that
 * already carries the prefix is taken as is. `bare` must be 1..247 bytes of
 * printable ASCII without '\\' (after the prefix). Returns HO_OK,
 * HO_ERR_INVALID_ARGUMENT (bad name) or HO_ERR_BUFFER_TOO_SMALL (out is
 * left untouched on error). */
HO_API int ho_pipe_local_name(const char *bare, char *out, size_t cap);

/* ---- security (spec: SEC-2) ------------------------------------------------ */

/* An owner-only security descriptor: owner = the current user, a protected
 * DACL with exactly one ACE granting GENERIC_ALL to the current user's SID
 * (no inherited ACEs, nothing for Everyone, Administrators or the
 * anonymous logon). Built once per process and kept; returns NULL when it
 * cannot be built (then endpoints are not created). */
HO_API const void *ho_pipe_owner_only_sd(void);

/* Check the DACL of an existing pipe handle (GetSecurityInfo): exactly the
 * ACEs of ho_pipe_owner_only_sd(), protected. Returns HO_OK,
 * HO_ERR_PERMISSION (some other ACE, or no DACL: everybody may open it) or
 * HO_ERR_IO (could not be read). *aces (may be NULL) gets the ACE count. */
HO_API int ho_pipe_check_owner_only(ho_handle pipe, unsigned *aces);

/* ---- listener ------------------------------------------------------------- */

/* One named-pipe endpoint: always one instance waiting for a client
 * (an overlapped ConnectNamedPipe whose event ho_pipe_listener_event()
 * returns). */
typedef struct ho_pipe_listener {
  ho_handle pending;    /* instance waiting for its client */
  ho_handle event;      /* manual-reset event of the pending connect */
  void *ov;             /* OVERLAPPED of the pending connect (heap) */
  bool connected;       /* the pending instance already has its client */
  char path[256];       /* local path (with the prefix) */
} ho_pipe_listener;

/* Create the endpoint `bare` (spec: SEC-2): the first instance with
 * FILE_FLAG_FIRST_PIPE_INSTANCE (fails with HO_ERR_STATE when any instance
 * of that name exists, whoever made it: no name squatting), every instance
 * PIPE_TYPE_BYTE|PIPE_READMODE_BYTE|PIPE_WAIT|PIPE_REJECT_REMOTE_CLIENTS,
 * FILE_FLAG_OVERLAPPED, the owner-only DACL, not inheritable. Returns HO_OK,
 * HO_ERR_INVALID_ARGUMENT, HO_ERR_STATE, HO_ERR_PERMISSION, HO_ERR_NOMEM,
 * HO_ERR_IO; *l is untouched on error. */
HO_API int ho_pipe_listener_open(ho_pipe_listener *l, const char *bare);

/* The event that is signalled when a client has connected (wait on it). */
HO_API ho_handle ho_pipe_listener_event(const ho_pipe_listener *l);

/* Take the connected instance (*conn; the caller owns it) and start the
 * next one. Returns HO_OK, HO_ERR_WOULD_BLOCK (no client yet), or the error
 * of creating the next instance (the connected one is still handed out:
 * *conn is set and the code is HO_OK; the listener then retries on the next
 * call), HO_ERR_INVALID_ARGUMENT. A client that connected and left before
 * we took it is dropped silently (HO_ERR_WOULD_BLOCK). */
HO_API int ho_pipe_listener_accept(ho_pipe_listener *l, ho_handle *conn);

/* Close the pending instance and the event. Safe to call twice. */
HO_API void ho_pipe_listener_close(ho_pipe_listener *l);

/* ---- dialer --------------------------------------------------------------- */

/* Open the client end of pipe `bare` (overlapped, not inheritable,
 * SECURITY_SQOS_PRESENT|SECURITY_IDENTIFICATION: the server may read our
 * identity, never act as us), waiting up to `timeout_ms` for a free
 * instance (ERROR_PIPE_BUSY). Returns HO_OK with *conn set, or
 * HO_ERR_CLOSED (nobody listens), HO_ERR_TIMEOUT (all instances busy),
 * HO_ERR_PERMISSION, HO_ERR_INVALID_ARGUMENT, HO_ERR_IO (*conn untouched). */
HO_API int ho_pipe_connect(const char *bare, uint32_t timeout_ms, ho_handle *conn);

/* ---- blocking I/O with a deadline (clients, tests) -------------------------- */

/* Write all `n` bytes (overlapped, waiting at most timeout_ms in all; < 0:
 * no limit). HO_OK, HO_ERR_CLOSED, HO_ERR_TIMEOUT (the write is cancelled),
 * HO_ERR_IO. */
HO_API int ho_pipe_write_all(ho_handle h, const void *buf, size_t n, int timeout_ms);

/* Read at most `n` bytes, waiting at most timeout_ms for the first one:
 * HO_OK with *got >= 1, HO_ERR_CLOSED (EOF or broken pipe; *got 0),
 * HO_ERR_TIMEOUT (the read is cancelled, nothing consumed), HO_ERR_IO. */
HO_API int ho_pipe_read_some(ho_handle h, void *buf, size_t n, int timeout_ms, size_t *got);

/* Read exactly `n` bytes (deadline for all of them). HO_OK, HO_ERR_CLOSED
 * (*got says how many came), HO_ERR_TIMEOUT, HO_ERR_IO. */
HO_API int ho_pipe_read_exact(ho_handle h, void *buf, size_t n, int timeout_ms, size_t *got);

/* Bytes waiting in the pipe (PeekNamedPipe): HO_OK with *avail (0 allowed),
 * HO_ERR_CLOSED (the other end is gone), HO_ERR_IO. */
HO_API int ho_pipe_available(ho_handle h, size_t *avail);

/* Close a handle (CloseHandle); HO_NO_HANDLE and 0 are ignored. */
HO_API void ho_win_close(ho_handle h);

/* ---- peers (spec: SEC-1 SEC-4 XFER-30) ------------------------------------ */

enum { HO_PIPE_SERVER_SIDE = 0, HO_PIPE_CLIENT_SIDE = 1 };

/* The process id of the other end of pipe `h`: its client when we hold the
 * server end (GetNamedPipeClientProcessId), its server when we hold the
 * client end (GetNamedPipeServerProcessId). HO_OK or
 * HO_ERR_PEER_CREDENTIALS. */
HO_API int ho_pipe_peer_pid(ho_handle h, int side, uint32_t *pid);

/* Does process `pid` run as our user (its primary token's user SID equals
 * ours)? HO_OK (same), HO_ERR_PEER_REJECTED (another user),
 * HO_ERR_PEER_CREDENTIALS (the process or its token cannot be read). */
HO_API int ho_win_pid_same_user(uint32_t pid);

/* Peer check of a connected pipe (the Windows form of ho_peer_check):
 * HO_PEER_ANY accepts everyone; HO_PEER_SAME_UID requires the peer's user
 * SID to be ours (HO_PEER_UID: also, a uid has no meaning here). *out (may
 * be NULL) gets pid, uid 0 when the peer is our user, 1 otherwise (a
 * verdict, not a number: the cores compare it with self_uid 0). Returns
 * HO_OK, HO_ERR_PEER_REJECTED or HO_ERR_PEER_CREDENTIALS. */
HO_API int ho_pipe_peer_check(ho_handle h, int side, ho_peer_policy policy, ho_peer_cred *out);

/* ---- handoff: broker side ------------------------------------------------------ */

/* The verified target of a handoff: the process at the server end of a
 * control pipe, opened with PROCESS_DUP_HANDLE only. */
typedef struct ho_win_target {
  ho_handle process; /* HO_NO_HANDLE when closed */
  uint32_t pid;
  ho_handle ctl;     /* the control pipe it came from (not owned), or
                        HO_NO_HANDLE: tells whether the target has exited */
} ho_win_target;

/* Identify the backend from the control pipe itself (the broker holds its
 * client end: GetNamedPipeServerProcessId), open it with PROCESS_DUP_HANDLE
 * and check again that the pipe is still connected to that pid (a pid
 * recycled in between would fail the second check because the first
 * process, the pipe's server, is gone) (spec: XFER-30 XFER-42). Returns
 * HO_OK, HO_ERR_CLOSED (the pipe is gone), HO_ERR_PERMISSION (OpenProcess
 * denied), HO_ERR_PEER_CREDENTIALS (no pid, or it changed), HO_ERR_IO;
 * *t untouched on error. */
HO_API int ho_win_target_open(ho_handle ctl, ho_win_target *t);

/* Same for a process id the caller has verified by other means (tests). */
HO_API int ho_win_target_open_pid(uint32_t pid, ho_win_target *t);

HO_API void ho_win_target_close(ho_win_target *t);

/* Duplicate our handle `conn` into the target:
 * DuplicateHandle(self, conn, target, &dup, 0, FALSE, DUPLICATE_SAME_ACCESS)
 * — not inheritable, same access (spec: XFER-31). *value gets the value of
 * the duplicate in the target's table (for HandoffOffer.handle_value). Our
 * handle is untouched. Returns HO_OK, HO_ERR_INVALID_ARGUMENT (bad conn),
 * HO_ERR_CLOSED (the target has exited), HO_ERR_PERMISSION,
 * HO_ERR_FD_EXHAUSTED (its handle table is full), HO_ERR_IO; on error
 * nothing was created in the target. */
HO_API int ho_win_dup_into(const ho_win_target *t, ho_handle conn, uint64_t *value);

/* Close the duplicate `value` inside the target (spec: XFER-33): the
 * source-closing duplicate back into this process, then close our copy:
 *   DuplicateHandle(target, value, self, &tmp, 0, FALSE,
 *                   DUPLICATE_CLOSE_SOURCE | DUPLICATE_SAME_ACCESS);
 *   CloseHandle(tmp);
 * (the form with a NULL target process and handle fails under Wine with
 * ERROR_INVALID_HANDLE and leaves the handle open). Only for a duplicate
 * whose offer was never completely written: afterwards the backend owns it.
 * A plain duplicate is made first to see that the value is open there: Wine
 * answers TRUE to the source-closing form even for a closed value.
 * Returns HO_OK (closed), HO_ERR_CLOSED (the target has exited: its table
 * is gone with it), HO_ERR_INVALID_ARGUMENT (no such handle there),
 * HO_ERR_IO. */
HO_API int ho_win_close_in(const ho_win_target *t, uint64_t value);

/* ---- handoff: backend side ------------------------------------------------------ */

/* Is a value received in HandoffOffer.handle_value a handle the backend may
 * adopt (spec: XFER-32 XFER-38)? In this order:
 *   0                                               HO_ERR_NO_DESCRIPTOR
 *   a pseudo-handle (-1..-12 as unsigned 64-bit), a value above 2^32 (handle
 *   values are 32-bit), a value with one of the two low tag bits set
 *   (DuplicateHandle never makes one; the kernel would ignore the bits),
 *   not an open handle of ours, GetFileType != FILE_TYPE_PIPE,
 *   GetNamedPipeInfo fails or it is not the server end of a pipe,
 *   or (broker_pid != 0) the pipe's server process is not broker_pid
 *   (the broker made every client pipe it hands off; our own pipes have our
 *   pid)                                            HO_ERR_BAD_DESCRIPTOR
 * Nothing is closed: a value that fails may be one of our own handles
 * (XFER-32). broker_pid is the client pid of the control pipe. */
HO_API int ho_win_check_handle(uint64_t value, uint32_t broker_pid);

/* ---- probes (tests, leak checks) ---------------------------------------------- */

/* What a handle value is in a process now. */
typedef struct ho_win_probe_result {
  bool open;          /* the value names an open handle there */
  bool pipe;          /* ... of a pipe (GetFileType) */
  bool server_end;    /* ... its server end (GetNamedPipeInfo) */
  uint32_t server_pid; /* GetNamedPipeServerProcessId, 0 if unknown */
  uint32_t client_pid; /* GetNamedPipeClientProcessId, 0 if unknown */
  int same_object;    /* 1/0 when `like` was given and could be compared
                         (CompareObjectHandles), -1 otherwise */
} ho_win_probe_result;

/* Probe `value` in the process `t` (opened with PROCESS_DUP_HANDLE): a
 * DuplicateHandle of it into this process fails once it is closed (handle
 * counts answer 0 under Wine); if it succeeds the copy is examined and
 * closed at once. `like` (HO_NO_HANDLE: none) is a handle of ours to the
 * object the value named before, for the identity check. Returns HO_OK
 * (*out filled, open false when the value is closed) or
 * HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_win_probe(const ho_win_target *t, uint64_t value, ho_handle like,
                 ho_win_probe_result *out);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_WINPIPE_H */
