/* backend.pml — a backend: one handler per control connection (XFER-1, the
 * loop of handoff-sequence.md §2.3) and one service loop over the
 * connections it adopted (BACKEND-1). All handler state is global so that a
 * crash (env.pml) can release what the handler holds at any step. */

#define CAPBR(b)    (KIND(b) == BK_BR)       /* CAP-7 */
#define CAPMULTI(b) (KIND(b) != BK_V1)       /* CAP-10 */
#define MEMBIT(t)   (1 << ((t) - 1))

/* a non-zero offer deadline has passed (READY-11, TOKEN-21): flagged offer:
 * the ready deadline; legacy offer: the attempt's ACK deadline (TOKEN-22) */
#ifdef V_ACK17
#define OFFER_DL(a, fl) (fl -> rung[a] >= R_R : ad[a])
#else
#define OFFER_DL(a, fl) (fl -> rung[a] >= R_R : rung[a] >= R_LA)
#endif

/* refusal reasons, in the order of XFER-36 */
#define RF_FDX   1      /* FD_EXHAUSTED (XFER-28) */
#define RF_SB    2      /* SIDEBAND_MISMATCH (XFER-12) */
#define RF_TNP   3      /* TOKEN_NOT_PENDING (XFER-15, TOKEN-17) */
#define RF_BRU   4      /* BACKEND_READY_UNSUPPORTED (READY-24) */
#define RF_TIME  5      /* TIMEOUT (READY-11, TOKEN-21) */
#define RF_WRITE 6      /* the ready write failed (READY-12) */

/* Where the model lets other steps interleave inside the handling of one
 * offer: with replays (two offers of one token at one backend), between the
 * decision and the ready write (the TOKEN-19 race); otherwise the decision
 * and the ready write are one step with the receipt of the offer (a crash
 * or a closed connection between them is equivalent to one before). */
#if (FAULTS & F_REPLAY) || defined(V_TOKEN19) || defined(V_READY9)
#define SPLIT 1
#else
#define SPLIT 0
#endif
/* the ACK is its own step where a crash or a broken connection can come
 * between the adoption (or the ready write) and the ACK */
#if (FAULTS & (F_CRASH|F_CTLCLOSE))
#define ACK_SPLIT 1
#else
#define ACK_SPLIT 0
#endif
/* the service executes and answers in one step unless a crash can come
 * between the two (the request executed, the client never answered) */
#if (FAULTS & F_CRASH) || defined(V_CLIENT6)
#define SVC_SPLIT 1
#else
#define SVC_SPLIT 0
#endif

/* the backend's end of control connection k closes: every descriptor
 * received on it and not adopted is closed (XFER-20), what is still in
 * flight on it is released with it. spec: XFER-20 ERR-44 */
inline drop_ctl(k) {
  if
  :: hfd[k] != 0 -> refs[hfd[k] - 1]--; hfd[k] = 0
  :: else
  fi;
  do
  :: nempty(ck_off[k]) -> ck_off[k]?t_f,_,_,_,_,_; refs[t_f]--
  :: empty(ck_off[k]) -> break
  od;
  ck_bc[k] = 1; hs[k] = H_DEAD
}

/* exactly one ACK per offer, with the backend's capabilities; a v1 backend
 * then closes the control connection (one offer per connection).
 * spec: XFER-17 CAP-7 CAP-10 BACKEND-13 */
inline ctl_ack(k) {

       t_b = ck_b[k];
       if
       :: ck_st[k] == K_OPEN && !ck_bc[k] ->
          ck_ack[k]!hcorr[k],htk[k],hacc[k],CAPBR(t_b),CAPMULTI(t_b);
          printf("@@ B%d BRK ACK{corr %d, token %d, accepted %d, caps BR %d MULTI %d} ctl%d\n",
                 t_b, hcorr[k], htk[k], hacc[k], CAPBR(t_b), CAPMULTI(t_b), k)
       :: else -> printf("@@ B%d - ACK write fails: ctl%d closed\n", t_b, k)
       fi;
       if
       :: KIND(t_b) == BK_V1 ->
          printf("@@ B%d BRK closes ctl%d after one offer\n", t_b, k);
          drop_ctl(k)
       :: else ->
          hs[k] = H_IDLE; hsb[k] = 0; htk[k] = 0; hcorr[k] = 0;
          hfl[k] = 0; hdl[k] = 0; hex[k] = 0; hacc[k] = 0
       fi
}

#if ACK_SPLIT
#define ACK_NOW(k) skip
#else
#define ACK_NOW(k) ctl_ack(k)
#endif

/* refuse the offer in hand: close the descriptor first, touch nothing on
 * it; the token is not recorded. spec: XFER-18 BACKEND-3 TOKEN-19 */
inline refuse(k, why) {
  if
  :: hfd[k] != 0 -> refs[hfd[k] - 1]--; hfd[k] = 0
  :: else
  fi;
  hacc[k] = 0; hs[k] = H_ACK;
  printf("@@ B%d - refuses offer corr %d (reason %d), closes the descriptor\n", ck_b[k], hcorr[k], why);
  ACK_NOW(k)
}

/* the service of an adopted connection takes it over from the handler */
inline take(k, c, b, state) {
  adopt(c, b);
  svc[c] = state; hfd[k] = 0;
  hacc[k] = 1; hs[k] = H_ACK;
  ACK_NOW(k)
}


/* backend-ready: the ready frame as the very first bytes, then the ACK;
 * the deadline checked at the moment of writing.
 * spec: READY-9 READY-11 READY-12 READY-1 XFER-16 */
inline ctl_ready(k) {

       t_b = ck_b[k]; t_f = hfd[k] - 1;
       if
#ifndef V_NO_READY_DEADLINE
       :: rung[hcorr[k] - 1] >= R_R -> refuse(k, RF_TIME)
#endif
       :: (V_RD_OFF || rung[hcorr[k] - 1] < R_R) && (!cl_open[t_f] || shut[t_f]) ->
          refuse(k, RF_WRITE)
       :: (V_RD_OFF || rung[hcorr[k] - 1] < R_R) && cl_open[t_f] && !shut[t_f] ->
          printf("@@ B%d C%d adopts it, ready{token %d} as its first bytes\n", t_b, t_f, htk[k]);
          adopt(t_f, t_b);
          backend_writes(t_f);
          ready_frame(t_f, htk[k]);
#ifdef V_TOKEN19
          mem[t_b] = mem[t_b] | MEMBIT(htk[k]);       /* recorded after the ready write */
#endif
          svc[t_f] = (hpre[k] -> S_EXEC : S_WAIT); hpre[k] = 0;
          hfd[k] = 0; hacc[k] = 1; hs[k] = H_ACK;
          ACK_NOW(k)
       fi
}

/* the checks, in the order of XFER-36, then the decision; the token is
 * recorded when the decision to accept is taken.
 * spec: XFER-36 XFER-28 XFER-12 XFER-15 READY-24 READY-11 TOKEN-21 TOKEN-17
 * TOKEN-18 TOKEN-19 BACKEND-2 BACKEND-5 READY-16 READY-3 */
inline ctl_decide(k) {

       t_b = ck_b[k]; t_c = hcorr[k] - 1; t_v = 0;
       if :: hex[k] -> t_v = RF_FDX :: else fi;
#ifndef V_NO_SBCHECK
       if :: t_v == 0 && KIND(t_b) != BK_V1 && hsb[k] != htk[k] -> t_v = RF_SB :: else fi;
#endif
       if :: t_v == 0 && KIND(t_b) != BK_V1 && (mem[t_b] & MEMBIT(htk[k])) -> t_v = RF_TNP :: else fi;
       if :: t_v == 0 && KIND(t_b) == BK_LEG && hfl[k] -> t_v = RF_BRU :: else fi;
       if :: t_v == 0 && KIND(t_b) != BK_V1 && (hfl[k] -> !V_RD_OFF : hdl[k]) &&
             OFFER_DL(t_c, hfl[k]) -> t_v = RF_TIME :: else fi;
       if
       :: t_v != 0 -> refuse(k, t_v)
       :: else ->
          /* accept: record the token before anything else (TOKEN-19,
           * BACKEND-5); a v1 backend keeps no memory across connections */
#ifdef V_TOKEN19
          if :: KIND(t_b) != BK_V1 && !hfl[k] -> mem[t_b] = mem[t_b] | MEMBIT(htk[k]) :: else fi;
#else
          if :: KIND(t_b) != BK_V1 -> mem[t_b] = mem[t_b] | MEMBIT(htk[k]) :: else fi;
#endif
          if
          :: hfl[k] && KIND(t_b) == BK_BR ->
#if defined(V_READY9)
             hs[k] = H_READ
#elif SPLIT
             hs[k] = H_READY
#else
             ctl_ready(k)
#endif
          :: else ->
             /* legacy (READY-16; a v1 backend ignores the flag): adopt, read
              * before writing (READY-3) */
             printf("@@ - B%d adopts C%d (legacy), token %d\n", t_b, hfd[k] - 1, htk[k]);
             take(k, hfd[k] - 1, t_b, S_WAIT)
          fi
       fi
}

proctype Ctl(byte k)
{
end_ctl:
  do
  /* sideband (16 bytes, its descriptor) and the offer frame after it;
   * a descriptor the kernel could not install is FD_EXHAUSTED.
   * spec: XFER-22 XFER-28 ERR-45 */
  :: atomic { hs[k] == H_IDLE && nempty(ck_off[k]) ->
       ck_off[k]?t_f,hsb[k],htk[k],hcorr[k],hfl[k],hdl[k];
       if
       :: FAULT_ON(F_FDX) ->
          nf++; refs[t_f]--; hex[k] = 1; hfd[k] = 0;
          printf("@@ - B%d FAULT: MSG_CTRUNC, descriptor not installed\n", ck_b[k])
       :: true -> hex[k] = 0; hfd[k] = t_f + 1
       fi;
#if SPLIT
       hs[k] = H_GOT }
#else
       ctl_decide(k) }
#endif

#if SPLIT
  :: atomic { hs[k] == H_GOT -> ctl_decide(k) }
  :: atomic { hs[k] == H_READY -> ctl_ready(k) }
#endif

#ifdef V_READY9
  /* READY-9 removed: the backend reads (and executes) before writing ready */
  :: atomic { hs[k] == H_READ ->
       t_f = hfd[k] - 1;
       if
       :: req_q[t_f] -> req_q[t_f] = 0; bk_acted[t_f] = 1; execute(t_f); hpre[k] = 1;
          printf("@@ C%d B%d request read before the ready frame (executed)\n", t_f, ck_b[k])
       :: else
       fi;
       hs[k] = H_READY }
#endif

#if ACK_SPLIT
  :: atomic { hs[k] == H_ACK -> ctl_ack(k) }
#endif

  /* EOF from the broker at a sideband boundary: simply closed (XFER-9) */
  :: atomic { hs[k] == H_IDLE && empty(ck_off[k]) && ck_st[k] == K_DONE ->
       drop_ctl(k) }
  :: hs[k] == H_DEAD -> break
  od
}

/* the service: read the request, execute it, write the response, close.
 * An adopted connection is served as one accepted on backend_pipe; queued
 * client bytes stay readable after the peer closed. spec: XFER-16 BACKEND-1
 * READY-3 */
#define G_SREAD(b, c) (adopter[c] == (b) + 1 && svc[c] == S_WAIT && req_q[c])
#define G_SRESP(b, c) (adopter[c] == (b) + 1 && svc[c] == S_EXEC)
#define G_SEOF(b, c)  (adopter[c] == (b) + 1 && svc[c] == S_WAIT && !req_q[c] && (!cl_open[c] || shut[c]))
#define G_SHELLO(b, c) (adopter[c] == (b) + 1 && svc[c] == S_WAIT && !bk_acted[c] && cl_open[c] && !shut[c])

inline svc_answer(b, c) {
  if
  :: cl_open[c] && !shut[c] ->
     printf("@@ B%d C%d response\n", b, c);
     backend_writes(c); tocl[c]!RESP,0
  :: else -> printf("@@ B%d - response to C%d fails: connection gone\n", b, c)
  fi;
  adopter[c] = 0; svc[c] = S_NONE; refs[c]--;
  printf("@@ B%d - closes C%d\n", b, c)
}

proctype Svc(byte b)
{
end_svc:
  do
  :: atomic { G_SREAD(b, 0) || G_SREAD(b, 1) ->
       if :: G_SREAD(b, 0) -> sc = 0 :: G_SREAD(b, 1) -> sc = 1 fi;
       req_q[sc] = 0; bk_acted[sc] = 1;
       printf("@@ C%d B%d request read on the adopted connection (executed)\n", sc, b);
       execute(sc); svc[sc] = S_EXEC;
#if !SVC_SPLIT
       svc_answer(b, sc)
#endif
       }
#if SVC_SPLIT
  :: atomic { G_SRESP(b, 0) || G_SRESP(b, 1) ->
       if :: G_SRESP(b, 0) -> sc = 0 :: G_SRESP(b, 1) -> sc = 1 fi;
       svc_answer(b, sc) }
#endif
  :: atomic { G_SEOF(b, 0) || G_SEOF(b, 1) ->
       if :: G_SEOF(b, 0) -> sc = 0 :: G_SEOF(b, 1) -> sc = 1 fi;
       adopter[sc] = 0; svc[sc] = S_NONE; refs[sc]--;
       printf("@@ B%d - EOF on adopted C%d, closes it\n", b, sc) }
#ifdef V_READY3
  /* READY-3 removed: a legacy backend writes (a greeting) before reading */
  :: atomic { G_SHELLO(b, 0) || G_SHELLO(b, 1) ->
       if :: G_SHELLO(b, 0) -> sc = 0 :: G_SHELLO(b, 1) -> sc = 1 fi;
       printf("@@ B%d C%d greeting before reading\n", b, sc);
       backend_writes(sc); tocl[sc]!RESP,0 }
#endif
  od
}
