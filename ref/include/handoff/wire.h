/* handoff — wire constants of protocol v1: the one place for every constant
 * the .proto files cannot express. The string and bytes caps below are the
 * same numbers as the nanopb .options files beside the .proto files; the
 * nanopb codec checks at compile time that the two agree.
 *
 * Wire version (framing byte, envelope version, payload ids) and library
 * version (HO_LIBRARY_VERSION_*) are separate axes: spec/versioning.md.
 *
 * Threads: every function here is pure or works on caller-owned memory
 * only; any number of threads may call them at once. No descriptors, nothing
 * to do across fork or exec (handoff/version.h).
 */
#ifndef HANDOFF_WIRE_H
#define HANDOFF_WIRE_H

#include <stdint.h>

/* Library version (semver of this implementation, not of the wire): version.h. */
#include "handoff/version.h"
#define HO_LIBRARY_VERSION_MAJOR HO_VERSION_MAJOR
#define HO_LIBRARY_VERSION_MINOR HO_VERSION_MINOR
#define HO_LIBRARY_VERSION_PATCH HO_VERSION_PATCH
#define HO_LIBRARY_VERSION_STRING HO_VERSION_STRING

/* Framing: [u8 framing_version][u32 little-endian body_length][Frame]. */
#define HO_FRAMING_VERSION 1u
#define HO_FRAME_HEADER_BYTES 5u
#define HO_MAX_FRAME_BYTES (16u * 1024u * 1024u) /* body cap, 16 MiB */
#define HO_MAX_HELLO_BYTES (64u * 1024u)         /* Hello body cap, 64 KiB */

/* Envelope and negotiation. */
#define HO_ENVELOPE_VERSION 1u
#define HO_PROTOCOL_VERSION 1u /* Hello negotiated_protocol */

/* Payload protocol ids (Frame.payload_protocol). */
#define HO_PAYLOAD_HELLO 0x0000u
#define HO_PAYLOAD_ADMIN 0xAD01u
#define HO_PAYLOAD_IDENTITY_PROBE 0xB232u
#define HO_PAYLOAD_HANDOFF 0xD0FFu
#define HO_PAYLOAD_SESSION 0x5350u
#define HO_PAYLOAD_CONSUMER_FIRST 0x7000u
#define HO_PAYLOAD_CONSUMER_LAST 0x7EFFu
#define HO_PAYLOAD_PRIVATE_FIRST 0xF000u
#define HO_PAYLOAD_PRIVATE_LAST 0xFFFFu

/* FrameKind and PayloadEncoding values. */
#define HO_KIND_REQUEST 0u
#define HO_KIND_RESPONSE 1u
#define HO_KIND_EVENT 2u
#define HO_KIND_CANCEL 3u
#define HO_ENCODING_NONE 0u
#define HO_ENCODING_ZSTD 1u
#define HO_ENCODING_SNAPPY 2u
#define HO_ENCODING_LZ4 3u

/* Capability bits (Hello.client_capabilities, Negotiated.server_capabilities).
 * Registry and semantics: spec/negotiation.md. */
#define HO_CAP_HANDLE_PASSING (UINT64_C(1) << 0) /* original v1 */
#define HO_CAP_BACKEND_READY (UINT64_C(1) << 1)  /* extension: backend writes ready */
#define HO_CAP_EARLY_DATA (UINT64_C(1) << 2)     /* extension: bytes after Hello travel */
#define HO_CAP_COALESCED_REPLY (UINT64_C(1) << 3) /* extension (rc2): backend writes the reply */

/* HandoffOffer.offer_flags (field 11, extension). */
#define HO_OFFER_FLAG_BACKEND_READY (UINT64_C(1) << 0)
#define HO_OFFER_FLAG_COALESCED_REPLY (UINT64_C(1) << 1) /* rc2: replies in fields 12, 13 */
/* HandoffAck.backend_capabilities (field 11, extension). */
#define HO_BACKEND_CAP_BACKEND_READY (UINT64_C(1) << 0)
#define HO_BACKEND_CAP_MULTI_OFFER (UINT64_C(1) << 1) /* keeps control connections (rc1) */
#define HO_BACKEND_CAP_COALESCED_REPLY (UINT64_C(1) << 2) /* writes the client's reply (rc2) */

/* Refused.code (ErrorCode). */
#define HO_REFUSE_UNSPECIFIED 0u
#define HO_REFUSE_VERSION_UNSUPPORTED 1u
#define HO_REFUSE_SERVICE_UNKNOWN 2u
#define HO_REFUSE_BACKEND_SPAWN_FAILED 3u
#define HO_REFUSE_RATE_LIMITED 4u
#define HO_REFUSE_SHUTTING_DOWN 5u
#define HO_REFUSE_PEER_REJECTED 6u
#define HO_REFUSE_INTERNAL 7u
#define HO_REFUSE_VERSION_BLOCKED 8u
#define HO_REFUSE_FD_PRESSURE 9u

/* Token. */
#define HO_TOKEN_BYTES 16u

/* String and bytes caps in bytes (NUL not counted). Same numbers as the
 * nanopb .options files (which count the NUL for strings). */
#define HO_MAX_TRACEPARENT 128u
#define HO_MAX_TRACESTATE 512u
#define HO_MAX_SERVICE_NAME 64u
#define HO_MAX_WANTED_VERSION 64u
#define HO_MAX_CLIENT_VERSION 128u
#define HO_MAX_HELLO_BLOB 256u /* auth_token, peer_attestation_nonce, capability_token */
#define HO_MAX_REQUEST_ID 128u
#define HO_MAX_CLIENT_LIB 64u  /* client_lib_name, client_lib_version */
#define HO_MAX_DAEMON_VERSION 128u
#define HO_MAX_BACKEND_PIPE 256u
#define HO_MAX_WARNINGS 8u
#define HO_MAX_WARNING 256u
#define HO_MAX_REASON 256u
#define HO_MAX_DETAILS 8u
#define HO_MAX_DETAIL_KEY 64u
#define HO_MAX_DETAIL_VALUE 256u
#define HO_MAX_ERROR_DETAIL 256u
#define HO_MAX_REPLY_FRAME 4096u /* HandoffOffer.reply_adopted / reply_declined (REPLY_MAX) */

#endif /* HANDOFF_WIRE_H */
