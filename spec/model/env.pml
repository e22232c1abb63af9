/* env.pml — time and faults.
 *
 * Time: every attempt has its own ladder of instants (state.pml, R_*),
 * passed one after the other in the order the constants impose; a rung
 * passes at any moment (every action may be arbitrarily slow), but never
 * before the rung below it. Actions that must happen before an instant are
 * disabled once it has passed; reactions to it become enabled. Different
 * attempts' ladders are independent (their t0 differ arbitrarily). A rung
 * that nobody can observe any more is not ticked (LIVE), and a mode skips
 * the rungs it has no use for.
 * spec: READY-10 READY-14 ACK-17 */

/* the last rung anybody observes. Token expiry (R_E, 30 s) comes after
 * every deadline of an attempt (ACK_DEADLINE < TOKEN_TTL, TOKEN-10, makes
 * min(registration + ACK_DEADLINE, expiry) the former), so it changes
 * nothing but the end of replays (a broker holds a token until then):
 * it is ticked where replays are injected; elsewhere time stops at the
 * client's timeout (or at the original's 5 s ACK deadline). */
#if (FAULTS & F_REPLAY)
#define TOP R_E               /* replays: bounded by the token's expiry */
#elif BROKER_V1
#define TOP R_5S
#else
#define TOP R_T
#endif
#ifdef RC1_READY5
#define LEG_FIRST R_R         /* the short legacy client times out at R_R */
#else
#define LEG_FIRST R_LA
#endif
#define NEXT(c) (at_br[c] -> (rung[c] == R_NEG -> R_R : (rung[c] == R_R -> R_T : R_E)) : \
                 (rung[c] == R_NEG -> (BROKER_V1 -> R_T : LEG_FIRST) : (rung[c] == R_R -> R_LA : \
                 (rung[c] == R_LA -> R_T : (rung[c] == R_T -> (BROKER_V1 -> R_5S : R_E) : R_E)))))
/* someone can still observe the attempt's time: the broker's entry, a copy
 * of the offer at a backend, or the client waiting for its ready frame */
#define LIVE(c) (at[c] == AT_PEND || at[c] == AT_WAIT || \
                 refs[c] > br_has[c] + (adopter[c] != 0) || \
                 (outcome[c] == O_NONE && !ready_w[c]))
#define G_TICK(c) (rung[c] >= R_NEG && rung[c] < TOP && LIVE(c))

/* registration + ACK_DEADLINE (1.5 s): after the ready deadline (it is at
 * least t0 + 1.5 s), unordered against the client's timeout */
#ifdef V_ACK17
#define AD_USED(c) 1
#else
#define AD_USED(c) (at_br[c])
#endif
#define G_ACKDL(c) (at[c] == AT_WAIT && !ad[c] && AD_USED(c) && rung[c] >= (at_br[c] -> R_R : R_LA))

/* the backend may forget an accepted token once TOKEN-17 allows: the offer's
 * deadline (+ REPLAY_MARGIN) has passed, or 30 s after acceptance for an
 * offer without deadline (after the token's expiry in the broker) */
#ifdef V_TOKEN18
#define FORGET_OK(c) 1
#else
#define FORGET_OK(c) (at_br[c] -> rung[c] >= R_R : (at_dl[c] -> rung[c] >= R_LA : rung[c] >= R_E))
#endif
#define G_FORGET(b, c) ((mem[b] & MEMBIT(TOK(c))) && FORGET_OK(c))

proctype Clock()
{
end_clock:
  do
  :: atomic { G_TICK(0) || G_TICK(1) ->
       if :: G_TICK(0) -> ec = 0 :: G_TICK(1) -> ec = 1 fi;
       rung[ec] = NEXT(ec);
       if :: rung[ec] == R_E -> ad[ec] = 1 :: else fi;   /* deadline = min(..., expiry) */
       printf("@@ - - time: C%d rung %d passed\n", ec, rung[ec]) }
  :: atomic { G_ACKDL(0) || G_ACKDL(1) ->
       if :: G_ACKDL(0) -> ec = 0 :: G_ACKDL(1) -> ec = 1 fi;
       ad[ec] = 1;
       printf("@@ - - time: C%d registration + ACK_DEADLINE passed\n", ec) }
#if (FAULTS & F_REPLAY)
  :: atomic { G_FORGET(0, 0) || G_FORGET(0, 1) || G_FORGET(1, 0) || G_FORGET(1, 1) ->
       if
       :: G_FORGET(0, 0) -> ek = 0; ec = 0
       :: G_FORGET(0, 1) -> ek = 0; ec = 1
       :: G_FORGET(1, 0) -> ek = 1; ec = 0
       :: G_FORGET(1, 1) -> ek = 1; ec = 1
       fi;
       mem[ek] = mem[ek] & ~MEMBIT(TOK(ec));
       printf("@@ - B%d forgets token %d\n", ek, TOK(ec)) }
#endif
  od
}

/* ---- faults (at most MAXF per run, while some client is undecided) ------ */

#define HOLDS(k, b) (ck_b[k] == (b) && ck_st[k] != K_FREE && hs[k] != H_DEAD)
/* attempt c is still in the hands of its backend, or about to be: a crash
 * or a broken connection can change its course (faults while nothing is
 * in flight are equivalent to one before the next offer) */
#define INPLAY(c) (at[c] == AT_PEND || at[c] == AT_WAIT || adopter[c] != 0 || \
                   refs[c] > br_has[c] + (adopter[c] != 0))
#define G_CRASH(b) (FAULT_ON(F_CRASH) && ((ROUTE(0) == (b) && INPLAY(0)) || \
                                           (ROUTE(1) == (b) && INPLAY(1))) && \
                    (HOLDS(0, b) || HOLDS(1, b) || HOLDS(2, b) || \
                     adopter[0] == (b) + 1 || adopter[1] == (b) + 1))
#define ONK(c, k)  (at_k[c] == (k) + 1 && INPLAY(c))
#define G_CC(k)    (FAULT_ON(F_CTLCLOSE) && ck_st[k] == K_OPEN && hs[k] != H_DEAD && \
                    (ONK(0, k) || ONK(1, k)))
#define G_FA(k)    (FAULT_ON(F_FORGEACK) && ck_st[k] == K_OPEN && !ck_bc[k] && nfull(ck_ack[k]) && \
                    ((at[0] == AT_WAIT && at_k[0] == (k) + 1) || (at[1] == AT_WAIT && at_k[1] == (k) + 1)))
#define G_STALL(k) (FAULT_ON(F_STALL) && ck_st[k] == K_OPEN && hs[k] == H_IDLE && nempty(ck_off[k]))
#define G_RP(c, k) (FAULT_ON(F_REPLAY) && at[c] == AT_WAIT && br_has[c] && rung[c] < R_E && \
                    KIND(ROUTE(c)) != BK_V1 && !rst[ROUTE(c)] && FIRSTFREE(k))

proctype Env()
{
end_env:
  do
  :: atomic { false -> skip }       /* keeps the loop well-formed without faults */
#if (FAULTS & F_CRASH)
  /* backend ek crashes at any step and restarts: its handlers and adopted
   * connections are gone, its replay memory too (security.md, residual
   * risks); what it held is closed by the kernel */
  :: atomic { G_CRASH(0) || G_CRASH(1) ->
       if :: G_CRASH(0) -> ek = 0 :: G_CRASH(1) -> ek = 1 fi;
       nf++;
       printf("@@ - B%d FAULT: backend crashes (and restarts)\n", ek);
       ec = 0;
       do
       :: ec < NK -> if :: HOLDS(ec, ek) -> ck_flt[ec] = 1; drop_ctl(ec) :: else fi; ec++
       :: else -> break
       od;
       ec = 0;
       do
       :: ec < NC ->
          if
          :: adopter[ec] == ek + 1 ->
             adopter[ec] = 0; svc[ec] = S_NONE; refs[ec]--; adopt_crash[ec] = 1
          :: else
          fi; ec++
       :: else -> break
       od;
       mem[ek] = 0; rst[ek] = 1 }
#endif
#if (FAULTS & F_CTLCLOSE)
  /* the backend's end of a control connection closes (XFER-20) */
  :: atomic { G_CC(0) || G_CC(1) || G_CC(2) ->
       if :: G_CC(0) -> ek = 0 :: G_CC(1) -> ek = 1 :: G_CC(2) -> ek = 2 fi;
       nf++; ck_flt[ek] = 1;
       printf("@@ B%d BRK FAULT: ctl%d closed\n", ck_b[ek], ek);
       drop_ctl(ek) }
#endif
#if (FAULTS & F_FORGEACK)
  /* a forged ACK (accepted, a token nobody issued): for an attempt in
   * flight on the connection, or with a correlation id never issued */
  :: atomic { G_FA(0) || G_FA(1) || G_FA(2) ->
       if :: G_FA(0) -> ek = 0 :: G_FA(1) -> ek = 1 :: G_FA(2) -> ek = 2 fi;
       nf++;
       if
       :: at[0] == AT_WAIT && at_k[0] == ek + 1 -> t_corr = CORR(0)
       :: at[1] == AT_WAIT && at_k[1] == ek + 1 -> t_corr = CORR(1)
       :: t_corr = BADCORR
       fi;
       ck_ack[ek]!t_corr,BADTOK,1,CAPBR(ck_b[ek]),CAPMULTI(ck_b[ek]);
       printf("@@ B%d BRK FAULT: forged ACK{corr %d, token %d, accepted 1} ctl%d\n",
              ck_b[ek], t_corr, BADTOK, ek) }
#endif
#if (FAULTS & F_STALL)
  /* a handler stops with an offer waiting: it never reads or answers again,
   * and keeps the connection open (a deadlocked thread) */
  :: atomic { G_STALL(0) || G_STALL(1) || G_STALL(2) ->
       if :: G_STALL(0) -> ek = 0 :: G_STALL(1) -> ek = 1 :: G_STALL(2) -> ek = 2 fi;
       nf++; hs[ek] = H_STALL;
       ck_off[ek]?<t_f,_,_,_,_,_>; stuck[t_f] = 1;
       printf("@@ - B%d FAULT: handler of ctl%d stalls for good\n", ck_b[ek], ek) }
#endif
#if (FAULTS & F_REPLAY)
  /* the offer of attempt ec replayed on a fresh control connection to the
   * same backend with a duplicate of the descriptor (a broker re-sending
   * against TOKEN-6, or a forger with the sideband): same token, deadline.
   * Not after a restart of that backend: its replay memory is gone, which
   * security.md lists as a residual risk */
  :: atomic { G_RP(0, 1) || G_RP(0, 2) || G_RP(1, 1) || G_RP(1, 2) ->
       if
       :: G_RP(0, 1) -> ec = 0; ek = 1
       :: G_RP(0, 2) -> ec = 0; ek = 2
       :: G_RP(1, 1) -> ec = 1; ek = 1
       :: G_RP(1, 2) -> ec = 1; ek = 2
       fi;
       nf++;
       ck_st[ek] = K_OPEN; ck_b[ek] = ROUTE(ec); run Ctl(ek);
       refs[ec]++;
       ck_off[ek]!ec,TOK(ec),TOK(ec),CORR(ec),at_br[ec],at_dl[ec];
       printf("@@ BRK B%d FAULT: offer of C%d replayed on ctl%d (token %d)\n",
              ROUTE(ec), ec, ek, TOK(ec)) }
#endif
  od
}
