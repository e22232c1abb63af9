/* handoff — library version and the public-API marker.
 *
 * Library version: SemVer of this implementation, separate from the wire
 * version (spec/versioning.md). While MAJOR is 0 the ABI is not frozen: a
 * MINOR release may change it. The shared library's SONAME is
 * libhandoff.so.MAJOR; the real file is libhandoff.so.MAJOR.MINOR.PATCH.
 *
 * HO_API marks every public function declaration. The library is built with
 * -fvisibility=hidden, so only HO_API functions are exported; a linker
 * version script (ref/abi/libhandoff.map) keeps everything else local.
 * conformance/tools/api_mark.py inserts and checks the marker.
 *
 * Threads, fork and exec — the rule for the whole library (each header
 * says what it means for its objects):
 *   - No global mutable state, no threads, no signal handlers, no locks. A
 *     function that takes no object (codecs, names, ho_strerror(), parsers,
 *     ho_client_connect()) may run in any number of threads at once.
 *   - Each object (ho_backend with its core and control connections,
 *     ho_broker with its connections, ho_client_core, ho_token_store,
 *     ho_fallback_policy, ho_pending_queue, ho_frame_reader, ho_listener) is
 *     used by one thread at a time: its own thread, or a lock you hold around
 *     every call. Different objects may be used in different threads.
 *   - Every descriptor the library creates is close-on-exec: sockets
 *     (SOCK_CLOEXEC), accepted connections (accept4 SOCK_CLOEXEC), received
 *     descriptors (recvmsg MSG_CMSG_CLOEXEC), files (O_CLOEXEC, fopen "e").
 *     To give one to a program you exec, clear FD_CLOEXEC on it yourself
 *     (dup2() onto another number does). On Windows every handle is created
 *     or duplicated non-inheritable.
 *   - fork(): the child gets a copy of every object and a duplicate of every
 *     descriptor in it. Use an object in ONE process only: tokens, replay
 *     memory and counters are per process, so a broker or backend core used
 *     on both sides could offer or adopt one token twice. A child that does
 *     not use an object may free it (ho_*_del closes only the child's
 *     duplicates) but must close(l.fd) instead of ho_listener_close(&l),
 *     which would unlink the socket path the parent still serves.
 */
#ifndef HANDOFF_VERSION_H
#define HANDOFF_VERSION_H

#define HO_VERSION_MAJOR 0
#define HO_VERSION_MINOR 1
#define HO_VERSION_PATCH 0
#define HO_VERSION_STRING "0.1.0"

#if defined(_WIN32)
#if defined(HO_BUILDING_DLL)
#define HO_API __declspec(dllexport)
#elif defined(HO_USE_DLL)
#define HO_API __declspec(dllimport)
#else
#define HO_API
#endif
#elif defined(__GNUC__)
#define HO_API __attribute__((visibility("default")))
#else
#define HO_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library actually linked ("MAJOR.MINOR.PATCH"), which
 * may differ from HO_VERSION_STRING the caller was compiled against. */
HO_API const char *ho_version(void);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_VERSION_H */
