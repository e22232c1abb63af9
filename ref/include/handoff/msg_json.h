/* handoff — canonical JSON rendering of decoded v1 messages.
 *
 * NOT YET STABLE API: a building block of the reference cores, exported for
 * the conformance runner, the fuzz targets and the benchmarks; it may change
 * in any release before the ABI freeze (issue #15). Applications use
 * broker.h, backend.h and client.h.
 *
 * Used by the golden vectors (conformance/vectors/README.md defines the
 * format), by the differential tests, and for wire traces. The rendering
 * is canonical: every field is present (defaults included), keys are the
 * .proto field names sorted by byte value, no whitespace, uint32 and enum
 * values are JSON numbers, uint64 values are decimal strings, bytes are
 * lowercase hex strings, strings are UTF-8 with only `"`, `\` and control
 * characters escaped (\b \f \n \r \t, others as \u00xx). Equal structs
 * render to equal bytes; Python's
 * json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
 * of the same object gives the same bytes.
 *
 * Every function writes at most `cap` bytes including a terminating NUL,
 * sets *len to the length without the NUL, and returns HO_OK,
 * HO_ERR_INVALID_ARGUMENT (a NULL pointer, an unknown frame type) or
 * HO_ERR_BUFFER_TOO_SMALL (`out` then holds a truncated, NUL-terminated
 * prefix when cap > 0; *len untouched).
 *
 * Threads: every function here is pure or works on caller-owned memory
 * only; any number of threads may call them at once. No descriptors, nothing
 * to do across fork or exec (handoff/version.h).
 */
#ifndef HANDOFF_MSG_JSON_H
#define HANDOFF_MSG_JSON_H

#include "handoff/version.h"

#include <stddef.h>

#include "handoff/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Enough for any v1 message rendered alone (payload excluded). */
#define HO_JSON_MSG_MAX 16384u

HO_API int ho_envelope_to_json(const ho_envelope *e, char *out, size_t cap, size_t *len);
HO_API int ho_hello_to_json(const ho_hello *m, char *out, size_t cap, size_t *len);
HO_API int ho_hello_reply_to_json(const ho_hello_reply *m, char *out, size_t cap, size_t *len);
HO_API int ho_offer_to_json(const ho_offer *m, char *out, size_t cap, size_t *len);
HO_API int ho_ack_to_json(const ho_ack *m, char *out, size_t cap, size_t *len);

/* {"envelope":{...},"message":{...}} for a decoded frame of `type`; the
 * envelope's payload is rendered as hex, so `cap` must allow for it. */
HO_API int ho_frame_to_json(ho_frame_type type, const ho_envelope *env, const ho_any_msg *msg,
                     char *out, size_t cap, size_t *len);

/* The frame-type name used by the vectors ("hello", "hello_reply",
 * "offer", "ack", "ready"), or NULL. */
HO_API const char *ho_frame_type_name(ho_frame_type type);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_MSG_JSON_H */
