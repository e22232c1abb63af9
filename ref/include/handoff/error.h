/* handoff — one error enum for the whole library.
 *
 * Every function of the library returns 0 (HO_OK) on success or one of the
 * negative codes below; a few return a positive status where documented
 * (for example ho_frame_reader_feed() returns 1 when a frame is complete).
 * Codes are grouped by class in blocks of 100; the class of a code is
 * ho_err_class(code). Codes are never renumbered: a retired code keeps its
 * slot and its name. The names without the HO_ERR_ prefix are the
 * language-neutral error names used by spec/errors.md and by the golden
 * vectors in conformance/vectors/ ("FRAMING_VERSION", ...).
 *
 * Threads: every function here is pure or works on caller-owned memory
 * only; any number of threads may call them at once. No descriptors, nothing
 * to do across fork or exec (handoff/version.h).
 */
#ifndef HANDOFF_ERROR_H
#define HANDOFF_ERROR_H

#include "handoff/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, description) — the single list every table is built from. */
#define HO_ERROR_LIST(X)                                                       \
  /* -1xx usage: the caller broke an API contract */                          \
  X(INVALID_ARGUMENT, -101, "invalid argument")                               \
  X(BUFFER_TOO_SMALL, -102, "output buffer too small")                        \
  X(NOMEM, -103, "out of memory")                                             \
  X(STATE, -104, "operation not valid in the current state")                  \
  /* -2xx framing: [u8 version][u32 LE length][body] */                       \
  X(FRAMING_VERSION, -201, "framing version is not 1")                        \
  X(FRAME_TOO_LARGE, -202, "frame length exceeds the cap")                    \
  X(TRUNCATED, -203, "input ended inside a frame")                            \
  /* -3xx envelope: the Frame message around every payload */                 \
  X(ENVELOPE_VERSION, -301, "envelope_version is not 1")                      \
  X(UNKNOWN_KIND, -302, "frame kind is not a known FrameKind")                \
  X(WRONG_KIND, -303, "frame kind is not the one expected here")              \
  X(PAYLOAD_PROTOCOL, -304, "payload_protocol is not the one expected here")  \
  X(UNKNOWN_ENCODING, -305, "payload_encoding is not a known value")          \
  X(PAYLOAD_COMPRESSED, -306, "payload is compressed")                        \
  X(REQUEST_ID_MISMATCH, -307, "frame request_id does not match correlation_id") \
  /* -4xx message: protobuf payload decoding and field bounds */              \
  X(MALFORMED, -401, "payload is not valid protobuf wire format")             \
  X(WIRE_TYPE, -402, "known field has the wrong wire type")                   \
  X(STRING_TOO_LONG, -403, "string or bytes field exceeds its cap")           \
  X(STRING_INVALID, -404, "string is not valid UTF-8 or contains NUL")        \
  X(TOKEN_LENGTH, -405, "token is not exactly 16 bytes")                      \
  X(TOO_MANY_ITEMS, -406, "repeated field exceeds its item cap")              \
  /* -5xx negotiation: Hello semantics */                                     \
  X(PROTOCOL_UNSUPPORTED, -501, "no common protocol version")                 \
  X(SERVICE_NAME, -502, "service_name is not [a-z0-9-]{1,64}")                \
  X(VERSION_SYNTAX, -503, "wanted_version is not semver")                     \
  X(PEER_REJECTED, -504, "peer rejected by policy")                           \
  X(REFUSED, -505, "the broker refused the Hello")                            \
  /* -6xx token lifecycle */                                                  \
  X(RANDOM, -601, "the OS random source failed")                              \
  X(PENDING_LIMIT, -602, "too many pending tokens")                           \
  X(COLLISION_EXHAUSTED, -603, "token collision retries exhausted")           \
  X(TOKEN_NOT_PENDING, -604, "token is not pending")                          \
  X(TOKEN_EXPIRED, -605, "token has expired")                                 \
  X(TOKEN_MISMATCH, -606, "token does not match")                             \
  X(ACK_DEADLINE_EXCEEDED, -607, "ACK arrived after its deadline")            \
  X(QUEUE_FULL, -608, "pending handoff queue is full")                        \
  X(RATE_LIMITED, -609, "failed-attempt rate limit reached")                  \
  X(ALREADY_PENDING, -610, "entry is already pending")                        \
  /* -7xx handoff exchange between broker, backend and client */              \
  X(CORRELATION_MISMATCH, -701, "correlation_id does not match")              \
  X(ACK_TOKEN_MISMATCH, -702, "ACK token echo does not match")                \
  X(ACK_REFUSED, -703, "backend refused the handoff")                         \
  X(SIDEBAND_MISMATCH, -704, "sideband token differs from the offer token")   \
  X(NOT_ADOPTED, -705, "connection was not handed off")                       \
  X(BACKEND_READY_UNSUPPORTED, -706, "offer flagged backend-ready to a backend without it") \
  X(OVERLOADED, -707, "the backend cannot serve another connection now")     \
  X(DRAINING, -708, "the backend is draining for a restart")                  \
  X(OUTCOME_UNKNOWN, -709, "the request may or may not have been executed")   \
  /* -8xx transport and operating system */                                   \
  X(IO, -801, "I/O error")                                                    \
  X(WOULD_BLOCK, -802, "operation would block")                               \
  X(CLOSED, -803, "peer closed the connection")                               \
  X(TIMEOUT, -804, "deadline passed")                                         \
  X(CTRUNC, -805, "control message truncated (MSG_CTRUNC)")                   \
  X(NO_DESCRIPTOR, -806, "expected descriptor is missing")                    \
  X(EXTRA_DESCRIPTORS, -807, "more descriptors than expected")                \
  X(BAD_DESCRIPTOR, -808, "descriptor is not a connected stream socket")      \
  X(PEER_CREDENTIALS, -809, "peer credentials rejected or unavailable")       \
  X(PERMISSION, -810, "permission denied")                                    \
  X(PARTIAL_SEND, -811, "partial send")                                       \
  X(FD_EXHAUSTED, -812, "descriptor limit reached")                           \
  X(UNSUPPORTED_PLATFORM, -813, "not supported on this platform")

typedef enum ho_err {
  HO_OK = 0,
#define HO_ERROR_ENUM_(name, value, text) HO_ERR_##name = value,
  HO_ERROR_LIST(HO_ERROR_ENUM_)
#undef HO_ERROR_ENUM_
} ho_err;

/* Error classes: ho_err_class(code) returns one of these (0 for HO_OK,
 * -1 for a value that is not a code of this library). */
enum {
  HO_ERRCLASS_USAGE = 1,
  HO_ERRCLASS_FRAMING = 2,
  HO_ERRCLASS_ENVELOPE = 3,
  HO_ERRCLASS_MESSAGE = 4,
  HO_ERRCLASS_NEGOTIATION = 5,
  HO_ERRCLASS_TOKEN = 6,
  HO_ERRCLASS_HANDOFF = 7,
  HO_ERRCLASS_TRANSPORT = 8
};

/* A human-readable description; never NULL ("unknown error" for values
 * that are not codes). */
HO_API const char *ho_strerror(int code);

/* The language-neutral name ("FRAMING_VERSION"; "OK" for 0); NULL for a
 * value that is not a code. */
HO_API const char *ho_errname(int code);

/* The code whose language-neutral name is `name`, or HO_ERR_INVALID_ARGUMENT
 * when no code has that name (HO_OK for "OK"). */
HO_API int ho_err_from_name(const char *name);

/* The class of `code` (HO_ERRCLASS_*), 0 for HO_OK, -1 if not a code. */
HO_API int ho_err_class(int code);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_ERROR_H */
