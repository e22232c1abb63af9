/* state.pml — the global state of the model: two clients, their connections
 * to the broker, the broker's attempts and control connections, the
 * backends' handlers. Index c is a client (and its connection, its attempt,
 * its token TOK(c) and correlation id CORR(c)); b is a backend; k is a
 * control connection slot (a slot is used by one connection, never reused).
 */

#define NC 2
#define NB 2
#define NK 3

#define ROUTE(c)  ((c) == 0 -> ROUTE0 : ROUTE1)
#define CAPS(c)   ((c) == 0 -> C0_CAPS : C1_CAPS)
#define KNOW(c)   ((c) == 0 -> KNOW0 : KNOW1)
#define KIND(b)   ((b) == 0 -> B0_KIND : B1_KIND)
#define TOK(c)    ((c) + 1)     /* token of attempt c; 9 = a token nobody issued */
#define CORR(c)   ((c) + 1)     /* correlation id of attempt c; 7 = never issued */
#define BADTOK    9
#define BADCORR   7
/* the client writes early data only with knowledge (READY-20) */
#define EARLY(c)  ((CAPS(c) & ED) != 0 && KNOW(c))

/* attempt c is over: the client decided, the token left the store, no
 * reference to its connection is left anywhere */
#define QUIET(c) (outcome[c] != O_NONE && at[c] != AT_PEND && at[c] != AT_WAIT && \
                  (refs[c] == 0 || stuck[c]))

/* frames on a client connection, towards the client */
mtype = { NEG, READY, RESP };
/* Negotiated.server_capabilities as seen by the model, plus bit 3 = token */
#define NG_TOK 8

/* outcomes of a client */
#define O_NONE    0
#define O_HANDOFF 1     /* served on the adopted connection */
#define O_PIPE    2     /* served after reconnecting to backend_pipe */
#define O_GAVEUP  3     /* the client disconnected (fault) */
#define O_DIED    4     /* adopted, then the connection ended: CLIENT-6, no retry */
#define O_UNKNOWN 5     /* OUTCOME_UNKNOWN (READY-21), no re-send */

/* broker attempt (= token) states */
#define AT_NONE 0       /* no token */
#define AT_PEND 1       /* token PENDING, offer not written */
#define AT_WAIT 2       /* AWAITING_ACK */
#define AT_DONE 3       /* left the store: consumed (COMPLETED) or revoked */

/* the time ladder of an attempt: each rung is an instant that has passed;
 * their order is the order the spec's constants impose (README, "Time") */
#define R_NEG 1         /* t0: Negotiated completely written */
#define R_R   2         /* t0 + READY_BUDGET (<= 1.5 s): the ready deadline */
#define R_LA  3         /* t0 + LEGACY_READY_BUDGET (1.5 s): legacy ACK deadline (ACK-17) */
#define R_T   4         /* client received Negotiated + READY_TIMEOUT (2 s) */
#define R_5S  5         /* t0 + 5 s: the original's ACK deadline */
#define R_E   6         /* t0 + TOKEN_TTL (30 s): token expiry */

/* control connection slot states (the broker's end) */
#define K_FREE 0
#define K_OPEN 1
#define K_DONE 2        /* the broker closed its end */

/* backend handler phases, per control connection */
#define H_IDLE  0       /* waiting for the next sideband */
#define H_GOT   1       /* sideband, descriptor and offer read; deciding */
#define H_READ  2       /* (variant V_READY9 only) reading before ready */
#define H_READY 3       /* accepted a flagged offer: write ready */
#define H_ACK   4       /* ACK to write */
#define H_DEAD  5
#define H_STALL 6       /* fault: the handler stalls for good, holding what it has */

/* service state of an adopted connection */
#define S_NONE 0
#define S_WAIT 1        /* adopted, reading the client's request */
#define S_EXEC 2        /* request executed, response to write */

/* ---- clients and their connections ------------------------------------- */
bit  req_q[NC];         /* the client's request is queued, unread, on its broker connection */
bit  cl_open[NC];       /* the client still holds its end */
bit  cl_fb[NC];         /* the client decided "not adopted" / "not offered" */
byte outcome[NC];
byte exec[NC];          /* executions of the client's request, any route */
chan tocl[NC] = [3] of { mtype, byte };  /* frames written towards the client */

/* server-side references to connection c (XFER-7, XFER-20, BROKER-4): the
 * broker's copy, copies in flight on control connections, copies held by a
 * backend handler, the adopted connection. The client reads EOF once all
 * are gone (or after a shutdown). */
bit  br_has[NC];
byte refs[NC];
bit  shut[NC];          /* shutdown(SHUT_RDWR) was called on it */
byte adopter[NC];       /* backend + 1 that adopted it, 0 none */
bit  adopted_ever[NC];
bit  adopt_crash[NC];   /* its adopter crashed after adopting it */
bit  bk_acted[NC];      /* a backend has read from or written to it */
bit  ready_w[NC];       /* a ready frame was written on it */
byte svc[NC];
bit  stuck[NC];         /* a copy of it sits with a stalled handler (F_STALL) for good */

/* ---- broker ------------------------------------------------------------- */
byte at[NC];
bit  at_br[NC];         /* the attempt uses backend-ready mode */
byte at_k[NC];          /* control connection (slot + 1) that carries / will carry the offer */
bit  at_dl[NC];         /* legacy offer carries a deadline (TOKEN-22) */
byte rung[NC];
bit  ad[NC];            /* registration + ACK_DEADLINE has passed */
bit  cfg_br[NB];        /* the operator's statement: backend has backend-ready mode */

/* ---- control connections ------------------------------------------------- */
byte ck_b[NK];
byte ck_st[NK];
bit  ck_bc[NK];         /* the backend's end is closed */
bit  ck_multi[NK];      /* an ACK on it had BACKEND_CAP_MULTI_OFFER */
bit  ck_brd[NK];        /* an ACK on it had BACKEND_CAP_BACKEND_READY */
bit  ck_flt[NK];        /* it ended through a fault (crash, close, a violation) */
bit  ck_nomore[NK];     /* its first ACK lacked MULTI_OFFER: no further offer (XFER-37) */
byte ck_inf[NK];        /* offers in flight (registered, no ACK exit yet) */
/* broker -> backend: one item = 16 sideband bytes with the descriptor, then
 * the offer frame (XFER-3, XFER-4: nothing in between):
 * { fd (connection index), sideband token, offer token, correlation id,
 *   OFFER_FLAG_BACKEND_READY, non-zero deadline_unix_ms } */
chan ck_off[NK] = [2] of { byte, byte, byte, byte, bit, bit };
/* backend -> broker ACK: { correlation id, token echo, accepted,
 *   BACKEND_CAP_BACKEND_READY, BACKEND_CAP_MULTI_OFFER } */
chan ck_ack[NK] = [3] of { byte, byte, bit, bit, bit };

/* backend handler of each control connection (all of it global, so that a
 * crash can release what the handler holds) */
byte hs[NK];
byte hfd[NK];           /* connection + 1 whose descriptor the handler holds */
byte hsb[NK];
byte htk[NK];
byte hcorr[NK];
bit  hfl[NK];
bit  hdl[NK];
bit  hex[NK];           /* the descriptor was not installed (FD_EXHAUSTED) */
bit  hacc[NK];          /* the ACK to write accepts */
bit  hpre[NK];          /* (variant V_READY9) the request was read before ready */
bit  rst[NB];           /* the backend has crashed and restarted */
byte mem[NB];           /* replay memory: bit c = TOK(c) remembered (TOKEN-17) */

byte nf;                /* faults injected so far */
bit  all_done;          /* every client has an outcome */

/* scratch for atomic steps (not part of the state vector) */
hidden byte t_c, t_k, t_b, t_f, t_v, t_corr, t_tok;
hidden byte t_acc, t_cbr, t_cmul, t_x;
hidden byte bc, bk, bj, sc, ec, ek;   /* the broker's selected instance */
