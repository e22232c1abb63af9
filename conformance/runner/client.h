/* handoff-conform — the runner as the client: the connections it hands to
 * the SUT (a socket pair, or a real Unix socket it accepted as a broker
 * would), the bytes it reads on them, and the conformance test service
 * "echo" (every byte read is written back, conformance/README.md) on the
 * adopted connections and on backend_pipe. */
#ifndef CF_CLIENT_H
#define CF_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctx.h"
#include "pb.h"

enum { CF_CONN_PAIR = 0, CF_CONN_ACCEPTED = 1 };

typedef struct cf_conn {
  int c;      /* the client's end */
  int s;      /* the end the broker hands off (its own copy); -1 once closed */
  int id;
  dev_t dev;  /* identity of s, the descriptor the SUT receives */
  ino_t ino;
  cf_buf in;  /* bytes the client has read on c */
  bool eof;
} cf_conn;
#define CF_CONN0 {.c = -1, .s = -1}

/* A new client connection: `s` is in blocking mode, as a broker passes it
 * (XFER-25). Returns 0 or -1 (recorded). */
int cf_conn_open(cf_ctx *ctx, cf_conn *k, int kind);
/* The broker closes its copy (s). */
void cf_conn_close_s(cf_ctx *ctx, cf_conn *k);
/* Close both ends. */
void cf_conn_close(cf_ctx *ctx, cf_conn *k);

/* Client writes (bounded by 2 s). 0; -1 when the connection is gone
 * (nothing recorded: the caller decides what that means). */
int cf_conn_write(cf_ctx *ctx, cf_conn *k, const void *p, size_t n);
/* Client reads until `want` bytes in total are in k->in, EOF, or the
 * timeout. Returns k->in.len. */
size_t cf_conn_read(cf_ctx *ctx, cf_conn *k, size_t want, int timeout_ms);
/* Bytes the client can read right now, without waiting (MSG_PEEK). */
size_t cf_conn_pending(cf_conn *k);
/* Wait for EOF on the client's end: 1 EOF, 0 timeout, 2 bytes came. */
int cf_conn_wait_eof(cf_ctx *ctx, cf_conn *k, int timeout_ms);
/* Bytes waiting in the receive queue of the broker's copy s (what the
 * client wrote and nobody read), copied into buf without consuming. */
size_t cf_conn_peek_s(cf_conn *k, void *buf, size_t cap);

/* A fresh printable nonce "nonce:<case>:<n>:<hex>" of exactly n bytes. */
void cf_nonce(cf_ctx *ctx, uint8_t *buf, size_t n);

/* Send `n` nonce bytes on fd and check that exactly they come back (read
 * and write interleaved, so a large nonce cannot deadlock). `already`
 * bytes that were read before are taken into account. Returns 0 or -1
 * (recorded with `reqs`). */
int cf_echo(cf_ctx *ctx, int fd, const char *who, size_t n, int timeout_ms, const char *reqs);
/* The same over a connection handed off: through k->c, appending to k->in. */
int cf_conn_echo(cf_ctx *ctx, cf_conn *k, size_t n, int timeout_ms, const char *reqs);

/* The fallback route: connect to backend_pipe (bounded) and check an echo.
 * The SUT's end of that connection is registered with cf_hold. */
int cf_pipe_echo(cf_ctx *ctx, size_t n, const char *reqs);
/* Connect to backend_pipe; returns the fd or -1 (recorded). */
int cf_pipe_connect(cf_ctx *ctx, int *id);
/* Close a backend_pipe connection, registering the SUT's end. */
void cf_pipe_close(cf_ctx *ctx, int fd, int id);

#endif
