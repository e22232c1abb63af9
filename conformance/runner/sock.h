/* handoff-conform — socket helpers of the broker and client modes: the
 * runner's listeners, bounded accept and connect, writes with a deadline,
 * reads into a buffer, and frame boundaries in a byte stream. Nothing here
 * records a verdict: callers decide what a timeout or an EOF means. */
#ifndef CF_SOCK_H
#define CF_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pb.h"

/* Milliseconds left until `deadline` (cf_now_ms), 0 once passed. */
int cf_remaining(uint64_t deadline);
/* A non-blocking listening Unix stream socket at path; -1 with errno. */
int cf_sock_listen(const char *path);
/* Accept one connection within timeout_ms (non-blocking fd), -1 if none. */
int cf_sock_accept(int lfd, int timeout_ms);
/* Connect to path (non-blocking fd), retrying a full backlog for up to
 * timeout_ms; -1 with *err = errno. */
int cf_sock_connect(const char *path, int timeout_ms, int *err);
/* Write all of p within timeout_ms (MSG_NOSIGNAL). 0, or -1 with errno
 * (ETIMEDOUT when the peer did not read). */
int cf_sock_write(int fd, const void *p, size_t n, int timeout_ms);
/* One read of at most `max` bytes (0: as much as fits in 64 KiB) into b,
 * waiting up to timeout_ms for the first byte. 1 data, 0 nothing within
 * the timeout, -1 EOF (*reset set for ECONNRESET and other errors). */
int cf_sock_read(int fd, cf_buf *b, size_t max, int timeout_ms, bool *reset);
/* Is there a complete frame at p (header + body)? Returns its length, 0
 * when more bytes are needed; *big when the header announces more than
 * `cap` body bytes. */
size_t cf_frame_len(const uint8_t *p, size_t len, uint32_t cap, bool *big);
/* The inode of the peer of fd's socket, registered as a descriptor the SUT
 * must release (the runner is about to close fd). */
struct cf_ctx;
void cf_sock_hold_peer(struct cf_ctx *ctx, int fd, const char *reqs, const char *what);

#endif
