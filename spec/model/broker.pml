/* broker.pml — the broker (spec/broker.md, handoff-sequence.md §2.2,
 * token-lifecycle.md §2-§4, ready.md §2-§3, fallback.md). One event loop:
 * every option is one event handled atomically (BROKER-3). */

/* the offer of a pending attempt may still be written (BROKER-1): a legacy
 * offer within its ACK deadline, a backend-ready offer before its ready
 * deadline (it would only be refused after it, READY-11) */
#if BROKER_V1
#define LEG_OFFER_END R_5S
#elif defined(V_ACK17)
#define LEG_OFFER_END R_E
#else
#define LEG_OFFER_END R_LA
#endif
#define OFFER_OK(c) (at_br[c] -> rung[c] < R_R : rung[c] < LEG_OFFER_END)

/* the attempt's ACK deadline has passed (ACK-17; the original: 5 s) */
#if BROKER_V1
#define LEG_DL(c) (rung[c] >= R_5S)
#elif defined(V_ACK17)
#define LEG_DL(c) (ad[c])            /* registration + ACK_DEADLINE only */
#else
#define LEG_DL(c) (rung[c] >= R_LA)  /* min(..., Negotiated + 1500 ms) */
#endif
#define DL_PASSED(c) (at_br[c] -> ad[c] : LEG_DL(c))

/* an open control connection to b that declared BACKEND_READY and
 * MULTI_OFFER and may carry another offer (READY-6, XFER-37) */
#define DECL(k, b) (ck_st[k] == K_OPEN && ck_b[k] == (b) && ck_brd[k] && ck_multi[k] && !ck_nomore[k])

/* the broker closes its copy of connection c; mayshut: a legacy attempt
 * whose descriptor may have reached the backend (FALLBACK-21 SHOULD: the
 * model's broker always does, as the reference); never when the backend
 * may be serving it. spec: XFER-7 FALLBACK-21 FALLBACK-22 BROKER-4 */
inline close_copy(c, mayshut) {
  br_has[c] = 0; refs[c]--;
  if
  :: mayshut && !shut[c] ->
     printf("@@ BRK C%d shutdown(SHUT_RDWR), close copy\n", c);
     broker_acts(c); shut[c] = 1
  :: else -> printf("@@ BRK - close copy of C%d\n", c)
  fi
}

/* a failed attempt: token revoked exactly once, nothing more written, copy
 * closed; counted against the backend (not when the client has closed,
 * which the broker sees on its copy). spec: FALLBACK-20 TOKEN-7 FALLBACK-23 */
inline fail(c, chg, ok, mayshut) {
  assert(P4_TOKEN && (at[c] == AT_PEND || at[c] == AT_WAIT));   /* revoked exactly once */
  at[c] = AT_DONE;
  if
  :: chg && cl_open[c] -> charge(ROUTE(c), ok)
  :: else
  fi;
  close_copy(c, mayshut)
}

#if BROKER_V1
#define SHUT_LEG(c) 0                    /* the original drops its stream */
#elif defined(V_FALLBACK22)
#define SHUT_LEG(c) 1                    /* shutdown in backend-ready mode too */
#else
#define SHUT_LEG(c) (!at_br[c])
#endif

/* Hello: decide, issue the token, write Negotiated completely (FRAME-6:
 * nothing read past the Hello). spec: FALLBACK-2 FALLBACK-3 FALLBACK-16
 * READY-6 READY-7 READY-18 CAP-4 CAP-5 CAP-6 TOKEN-2 */
/* called from the client's connect step (client.pml) */
inline b_hello(c) {
    t_b = ROUTE(c); t_k = 0; t_x = 0;
#if !BROKER_V1
    if
    :: (CAPS(c) & (HP|BR)) == (HP|BR) ->
       if
       :: DECL(0, t_b) -> t_k = 1
       :: else -> if :: DECL(1, t_b) -> t_k = 2
                  :: else -> if :: DECL(2, t_b) -> t_k = 3 :: else fi fi
       fi;
       t_x = (t_k != 0 || (CONFIG_BR_OK && cfg_br[t_b]))
    :: else
    fi;
#endif
    if
    :: !cl_open[c] -> close_copy(c, 0); printf("@@ BRK - C%d gone before its Negotiated\n", c)
    :: cl_open[c] && ((CAPS(c) & HP) == 0 || (!BROKER_V1 && EARLY(c) && !t_x)) ->
       /* no handoff: CLIENT_UNSUPPORTED / EARLY_DATA_UNSUPPORTED */
       tocl[c]!NEG,(BROKER_V1 -> 0 : ED);
       printf("@@ BRK C%d Negotiated{no token, caps %d}\n", c, (BROKER_V1 -> 0 : ED));
       close_copy(c, 0)
    :: else ->
       at[c] = AT_PEND; at_br[c] = t_x; at_k[c] = t_k; rung[c] = R_NEG;
       tocl[c]!NEG,(NG_TOK|HP|(t_x -> BR : 0)|(BROKER_V1 -> 0 : ED));
       printf("@@ BRK C%d Negotiated{token %d, caps %d}\n", c, TOK(c),
              HP|(t_x -> BR : 0)|(BROKER_V1 -> 0 : ED))
    fi
}

/* the sideband with the descriptor and the offer, on control connection k,
 * registration with its deadline; one offer in flight on a connection
 * until it declared MULTI_OFFER; the offer deadline.
 * spec: XFER-3 XFER-4 XFER-6 XFER-37 ACK-17 TOKEN-6 TOKEN-22 READY-10 ENV-9
 * FALLBACK-18 */
#if BROKER_V1
#define REUSE(c, k) 0                    /* the original: a fresh connection per handoff */
#elif defined(V_XFER37)
#define REUSE(c, k) (ck_st[k] == K_OPEN && ck_b[k] == ROUTE(c) && !ck_nomore[k] && !ck_bc[k])
#else
#define REUSE(c, k) (ck_st[k] == K_OPEN && ck_b[k] == ROUTE(c) && ck_multi[k] && !ck_nomore[k])
#endif
#define FIRSTFREE(k) (ck_st[k] == K_FREE && ((k) == 0 || ck_st[(k) - 1] != K_FREE))
#define LEGDL(c) (BROKER_V1 -> 0 : 1)   /* TOKEN-22; the reference always sets it */

#define G_OFFER(c, k) (at[c] == AT_PEND && OFFER_OK(c) && \
                       ((at_k[c] == (k) + 1 && ck_st[k] == K_OPEN) || \
                        (at_k[c] == 0 && (REUSE(c, k) || FIRSTFREE(k)))))
inline b_offer(c, k) {
    if
    :: ck_st[k] == K_FREE && FAULT_ON(F_EMFILE) ->
       /* socket() for the control connection: EMFILE (FALLBACK-18) */
       nf++;
       printf("@@ BRK - FAULT: EMFILE opening a control connection for C%d\n", c);
       fail(c, CHARGE_EMFILE, 0, 0)
    :: true ->
       if
       :: ck_st[k] == K_FREE ->
          ck_st[k] = K_OPEN; ck_b[k] = ROUTE(c); run Ctl(k);
          printf("@@ BRK B%d connect: control connection ctl%d\n", ROUTE(c), k)
       :: else
       fi;
       if
       :: ck_bc[k] ->
          /* sendmsg: EPIPE (XFER-6); the EOF is handled on its own */
          printf("@@ BRK - sendmsg on ctl%d fails: EPIPE\n", k);
          fail(c, 1, ck_flt[k], 0)
       :: else ->
          at_dl[c] = (at_br[c] || LEGDL(c));
          if
          :: FAULT_ON(F_FORGESB) && br_has[1 - c] && KIND(ROUTE(c)) != BK_V1 ->
             nf++; refs[1 - c]++;
             ck_off[k]!(1 - c),TOK(1 - c),TOK(c),CORR(c),at_br[c],at_dl[c];
             printf("@@ BRK B%d FAULT: sideband{token %d}+fd(C%d) of the other handoff\n",
                    ROUTE(c), TOK(1 - c), 1 - c)
          :: true ->
             refs[c]++;
             ck_off[k]!c,TOK(c),TOK(c),CORR(c),at_br[c],at_dl[c];
             printf("@@ BRK B%d sideband{token %d}+fd(C%d)\n", ROUTE(c), TOK(c), c)
          fi;
          printf("@@ BRK B%d Offer{token %d, corr %d, flag BR %d, deadline %d} ctl%d\n",
                 ROUTE(c), TOK(c), CORR(c), at_br[c], at_dl[c], k);
          at[c] = AT_WAIT; at_k[c] = k + 1; ck_inf[k]++;
#ifdef V_READY_BEFORE_ACK
          /* legacy ready written before the ACK (READY-2 removed) */
          if
          :: !at_br[c] && cl_open[c] && !shut[c] ->
             printf("@@ BRK C%d ready (before the ACK)\n", c);
             broker_acts(c); ready_frame(c, TOK(c))
          :: else
          fi
#endif
       fi
    fi
}

/* a pending attempt given up before its offer: the client closed or the
 * offer can no longer be written in time; the transfer did not begin: not
 * counted. spec: BROKER-5 BROKER-1 */
#define G_PEND(c) (at[c] == AT_PEND && (!cl_open[c] || !OFFER_OK(c)))
inline b_pend(c) {
    printf("@@ BRK - attempt C%d given up before its offer (token revoked)\n", c);
    fail(c, 0, 0, 0)
}

/* the broker ends control connection k (EOF read, or closed for a
 * violation): every entry in flight on it is ABANDONED, every handoff bound
 * to it dropped. spec: ACK-10 */
inline b_ctl_end(k) {
  ck_st[k] = K_DONE;
  printf("@@ BRK - ctl%d ended: abandon what is in flight on it\n", k);
  bj = 0;
  do
  :: bj < NC ->
     if
     :: at[bj] == AT_WAIT && at_k[bj] == k + 1 -> ck_inf[k]--; fail(bj, 1, ck_flt[k], SHUT_LEG(bj))
     :: at[bj] == AT_PEND && at_k[bj] == k + 1 -> fail(bj, 0, 0, 0)
     :: else
     fi;
     bj++
  :: else -> break
  od
}

/* one ACK frame on control connection k, in the order of ACK-2.
 * spec: ACK-2 ACK-4 ACK-5 ACK-7 ACK-8 ACK-11 ACK-13 ACK-15 ACK-16 XFER-37
 * READY-2 FALLBACK-8 FALLBACK-23 */
#define G_ACK(k) (ck_st[k] == K_OPEN && nempty(ck_ack[k]))
inline b_ack(k) {
    ck_ack[k]?t_corr,t_tok,t_acc,t_cbr,t_cmul;
    t_b = ck_b[k];
    if
    :: t_corr == 0 || t_corr > NC || at[t_corr - 1] == AT_NONE ->
       printf("@@ BRK - correlation id %d never issued: violation (ACK-8)\n", t_corr);
       ck_flt[k] = 1; b_ctl_end(k)
    :: else ->
       t_c = t_corr - 1;
       if :: t_cmul -> ck_multi[k] = 1 :: else fi;
       if :: t_cbr -> ck_brd[k] = 1 :: else fi;
       if
       :: at[t_c] != AT_WAIT || at_k[t_c] != k + 1 ->
          printf("@@ BRK - ACK for C%d matches no entry: discarded (ACK-7)\n", t_c)
#ifndef V_NO_ECHO
       :: at[t_c] == AT_WAIT && at_k[t_c] == k + 1 && t_tok != TOK(t_c) ->
          ck_inf[k]--;
          printf("@@ BRK - C%d: token echo differs: MISMATCH\n", t_c);
          fail(t_c, 1, 1, SHUT_LEG(t_c));
          ck_flt[k] = 1; b_ctl_end(k)                   /* ACK-13 */
#endif
       :: at[t_c] == AT_WAIT && at_k[t_c] == k + 1 && (t_tok == TOK(t_c) || V_ECHO_OFF) ->
          ck_inf[k]--;
          if
          :: !t_acc ->
             printf("@@ BRK - C%d: refused: ABANDONED\n", t_c);
             fail(t_c, 1, 1, 0)                         /* ACK-4: nothing reached it */
          :: t_acc && DL_PASSED(t_c) ->
             printf("@@ BRK - C%d: accepted ACK after its deadline: LATE\n", t_c);
             fail(t_c, 1, 1, SHUT_LEG(t_c))
          :: t_acc && !DL_PASSED(t_c) && at_br[t_c] && !t_cbr ->
             /* ACK-16: no ready was written; the backend may be serving it */
             cfg_br[t_b] = 0;
             printf("@@ BRK - C%d: accepted without BACKEND_READY: violation (ACK-16)\n", t_c);
#ifdef V_ACK16_SHUT
             fail(t_c, 1, 1, 1)
#else
             fail(t_c, 1, 1, 0)
#endif
          :: t_acc && !DL_PASSED(t_c) && (!at_br[t_c] || t_cbr) ->
             at[t_c] = AT_DONE;                         /* COMPLETED: token consumed */
             printf("@@ BRK - C%d: COMPLETED\n", t_c);
             if
             :: !at_br[t_c] && cl_open[t_c] && !shut[t_c] && !ready_w[t_c] ->
                printf("@@ BRK C%d ready\n", t_c);      /* ACK-15: success once written */
                broker_acts(t_c); ready_frame(t_c, TOK(t_c))
             :: !at_br[t_c] && !(cl_open[t_c] && !shut[t_c]) ->
                printf("@@ BRK - C%d gone: ready write fails (CLIENT_GONE)\n", t_c)
             :: else
             fi;
             close_copy(t_c, 0)
          fi
       fi;
       /* XFER-37: a connection whose ACK lacks MULTI_OFFER carries no further
        * offer (the original broker: one handoff per connection) */
       if
       :: ck_st[k] == K_OPEN && (!ck_multi[k] || BROKER_V1) -> ck_nomore[k] = 1
       :: else
       fi
    fi
}

/* EOF on control connection k, once its ACKs are read (ACK-10) */
#define G_EOF(k) (ck_st[k] == K_OPEN && ck_bc[k] && empty(ck_ack[k]))
inline b_eof(k) {
    printf("@@ B%d BRK EOF on ctl%d\n", ck_b[k], k);
    b_ctl_end(k)
}

/* XFER-37 / the original: close a connection that carries no further offer */
#define G_IDLE(k) (ck_st[k] == K_OPEN && ck_nomore[k] && ck_inf[k] == 0 && !ck_bc[k])
inline b_idle(k) {
    ck_st[k] = K_DONE;
    printf("@@ BRK B%d close ctl%d (no further offer on it)\n", ck_b[k], k)
}

/* the sweep: the ACK deadline passed without an ACK: EXPIRED. spec: ACK-6 */
#define G_SWEEP(c) (at[c] == AT_WAIT && DL_PASSED(c))
inline b_sweep(c) {
    ck_inf[at_k[c] - 1]--;
    printf("@@ BRK - C%d: no ACK by the deadline: EXPIRED\n", c);
    fail(c, 1, 1, SHUT_LEG(c))
}

/* one event per iteration: pick an enabled instance, handle it atomically */
proctype Broker()
{
end_broker:
  do
  :: atomic { G_OFFER(0, 0) || G_OFFER(0, 1) || G_OFFER(0, 2) ||
              G_OFFER(1, 0) || G_OFFER(1, 1) || G_OFFER(1, 2) ->
       if
       :: G_OFFER(0, 0) -> bc = 0; bk = 0
       :: G_OFFER(0, 1) -> bc = 0; bk = 1
       :: G_OFFER(0, 2) -> bc = 0; bk = 2
       :: G_OFFER(1, 0) -> bc = 1; bk = 0
       :: G_OFFER(1, 1) -> bc = 1; bk = 1
       :: G_OFFER(1, 2) -> bc = 1; bk = 2
       fi;
       b_offer(bc, bk) }
  :: atomic { G_PEND(0) || G_PEND(1) ->
       if :: G_PEND(0) -> bc = 0 :: G_PEND(1) -> bc = 1 fi;
       b_pend(bc) }
  :: atomic { G_ACK(0) || G_ACK(1) || G_ACK(2) ->
       if :: G_ACK(0) -> bk = 0 :: G_ACK(1) -> bk = 1 :: G_ACK(2) -> bk = 2 fi;
       b_ack(bk) }
  :: atomic { G_EOF(0) || G_EOF(1) || G_EOF(2) ->
       if :: G_EOF(0) -> bk = 0 :: G_EOF(1) -> bk = 1 :: G_EOF(2) -> bk = 2 fi;
       b_eof(bk) }
  :: atomic { G_IDLE(0) || G_IDLE(1) || G_IDLE(2) ->
       if :: G_IDLE(0) -> bk = 0 :: G_IDLE(1) -> bk = 1 :: G_IDLE(2) -> bk = 2 fi;
       b_idle(bk) }
#ifndef V_NO_SWEEP
  :: atomic { G_SWEEP(0) || G_SWEEP(1) ->
       if :: G_SWEEP(0) -> bc = 0 :: G_SWEEP(1) -> bc = 1 fi;
       b_sweep(bc) }
#endif
  od
}
