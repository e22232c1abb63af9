/* client.pml — a client (spec/client.md, ready.md §2-§4, fallback.md §1).
 * One Hello, at most one handoff attempt, one request; the request is
 * executed by whoever reads it (the adopting backend on the connection, or
 * the backend on backend_pipe after a reconnect). */

/* EOF on the broker connection: every server-side reference is gone (or a
 * shutdown), and every frame written before has been read. */
#define EOF(c) (empty(tocl[c]) && (refs[c] == 0 || shut[c]))

/* The client disconnects (fault F_GONE): it gives up and is not counted as
 * unserved. spec: BROKER-5 ACK-15 */
inline gone(c) {
  atomic { FAULT_ON(F_GONE) ->
    nf++; cl_open[c] = 0;
    printf("@@ C%d - FAULT: client disconnects (gives up)\n", c);
    set_outcome(c, O_GAVEUP)
  }
}

/* Close the broker connection and send the request on backend_pipe of the
 * route's backend (BROKER-6). spec: FALLBACK-4 FALLBACK-24 FALLBACK-15
 * READY-14 READY-21 */
inline reconnect(c) {
  atomic {
    cl_open[c] = 0;
    printf("@@ C%d B%d reconnect to backend_pipe, request (executed)\n", c, ROUTE(c));
    execute(c);
    printf("@@ B%d C%d response on backend_pipe: served\n", ROUTE(c), c);
    set_outcome(c, O_PIPE)
  }
}

inline unknown(c) {
  atomic { cl_open[c] = 0;
    printf("@@ C%d - reports OUTCOME_UNKNOWN, does not re-send\n", c);
    set_outcome(c, O_UNKNOWN) }
}

/* SEQ: once attempt 0 is over, nothing of it can be observed any more
 * (its token left the store, no reference to its connection is left, no
 * replay of its token can come): its ghost state is reset to one value so
 * that client 1 is explored once, not once per way attempt 0 ended. Only
 * "client 0 has decided" stays for the final check. */
inline forget0() {
  exec[0] = 0; cl_fb[0] = 0; ready_w[0] = 0; adopted_ever[0] = 0; bk_acted[0] = 0;
  adopt_crash[0] = 0; shut[0] = 0; rung[0] = 0; ad[0] = 0; at_br[0] = 0; at_k[0] = 0;
  at_dl[0] = 0; outcome[0] = O_PIPE; req_q[0] = 0;   /* at[0]: its id stays issued */
  mem[0] = mem[0] & ~MEMBIT(TOK(0)); mem[1] = mem[1] & ~MEMBIT(TOK(0))
}

proctype Client(byte c)
{
  bit sent;             /* the request is written on the broker connection */
  bit ngt, ngbr, nged;  /* what Negotiated said: token, BACKEND_READY, EARLY_DATA */
  byte f, v;

  /* connect, Hello (early data behind it only with knowledge), and the
   * broker's answer: the broker reads exactly the Hello and writes
   * Negotiated completely at once (one step: the moment of the connect is
   * free, so nothing is lost by joining them); exactly one frame is read as
   * the HelloReply (CLIENT-1); with CAP_BACKEND_READY the request follows
   * at once (READY-13), into the receive queue that travels with the
   * descriptor. spec: READY-20 READY-13 CLIENT-1 */
  atomic {
    (!SEQ || c == 0 || QUIET(0)) ->
#if SEQ
    if :: c == 1 -> forget0() :: else fi;
#endif
    printf("@@ C%d BRK Hello{caps %d}\n", c, (EARLY(c) -> CAPS(c) : (CAPS(c) & ~ED)));
    if
    :: EARLY(c) -> req_q[c] = 1; sent = 1;
       printf("@@ C%d BRK early data: request, queued behind the Hello\n", c)
    :: else
    fi;
    b_hello(c);
    tocl[c]?f,v;
    ngt = ((v & NG_TOK) != 0 && (v & HP) != 0);
    ngbr = ((v & BR) != 0); nged = ((v & ED) != 0); f = 0; v = 0;
    if
    :: !ngt -> cl_fb[c] = 1; printf("@@ C%d - no token: not offered\n", c)
    :: ngt && ngbr && !sent ->
       sent = 1; req_q[c] = 1;
       printf("@@ C%d BRK request right after Negotiated (queued)\n", c)
    :: else
    fi
  };

  if
  :: !ngt -> goto recon               /* FALLBACK-4; READY-21 (a) lets it re-send */
#ifdef V_READY19
  :: ngt && !ngbr && sent ->
     /* the withdrawn READY-21: early data + token without BACKEND_READY =
      * "not offered": close, reconnect, re-send */
     atomic { cl_fb[c] = 1 }; goto recon
#endif
  :: else
  fi;

  /* wait for the ready frame, then decide: adopted, re-send, or
   * OUTCOME_UNKNOWN. spec: READY-4 READY-5 READY-14 READY-21 FALLBACK-24
   * CLIENT-5 */
  do
  :: atomic { nempty(tocl[c]) -> tocl[c]?f,v;
       if
       :: f == READY && v == TOK(c) -> f = 1; v = 0;
          printf("@@ C%d - valid ready: adopted\n", c);
          if
          :: !sent ->       /* legacy: the request only now (READY-5) */
             sent = 1;
             if
             :: refs[c] > 0 && !shut[c] -> req_q[c] = 1;
                printf("@@ C%d B%d request on the adopted connection\n", c, ROUTE(c))
             :: else -> printf("@@ C%d - request write fails\n", c)
             fi
          :: else
          fi
       :: else -> f = 2; v = 0; cl_fb[c] = 1;
          printf("@@ C%d - bytes that are not a valid ready frame\n", c);
          if
          :: !sent -> reconnect(c)              /* FALLBACK-24 */
          :: else -> unknown(c)                 /* READY-21 */
          fi
       fi };
     if
     :: f == 1 -> f = 0; break
     :: else -> goto done
     fi
  :: atomic { EOF(c) -> cl_fb[c] = 1;
       printf("@@ C%d - EOF before a ready frame\n", c);
       if
       :: !sent || (ngbr && (nged || !EARLY(c))) -> reconnect(c)   /* READY-21 (b), FALLBACK-24 */
       :: else -> unknown(c)                                        /* READY-21: no re-send */
       fi };
     goto done
  :: atomic {
#ifdef RC1_READY5
       /* READY-5 as written: the legacy wait is "at most" READY_TIMEOUT; here
        * a client that waits only about READY_BUDGET */
       rung[c] >= (ngbr -> R_T : R_R) && empty(tocl[c]) ->
#else
       rung[c] >= R_T && empty(tocl[c]) ->
#endif
       /* the timeout, after the last non-blocking check (READY-14): decided;
        * closing the connection is the next step */
       cl_fb[c] = 1;
       printf("@@ C%d - ready timeout, nothing received: not adopted\n", c) };
     if
     :: !sent || (ngbr && (nged || !EARLY(c))) -> goto recon   /* READY-14, READY-21 (b) */
     :: else -> goto unk
     fi
  :: gone(c); goto done
  od;

  /* adopted: the connection is a backend_pipe connection. spec: CLIENT-6 */
  if
  :: atomic { tocl[c]?RESP,v -> v = 0;
       printf("@@ C%d - response on the adopted connection: served\n", c);
       cl_open[c] = 0; set_outcome(c, O_HANDOFF) }
  :: atomic { EOF(c) ->
       printf("@@ C%d - adopted connection ended before the response\n", c) };
#ifdef V_CLIENT6
     goto recon                       /* re-send after ready: CLIENT-6 removed */
#else
     atomic { cl_open[c] = 0; set_outcome(c, O_DIED) }   /* CLIENT-6: no retry */
#endif
  :: gone(c)
  fi;
  goto done;
recon:
  reconnect(c);
  goto done;
unk:
  unknown(c);
done:
  skip
}
