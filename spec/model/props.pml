/* props.pml — the properties, as assertions placed where the property can
 * first be seen to fail, and the quiescence check of the final state.
 * Each group is named in spec/model/README.md ("Properties"):
 *   P1 ONCE     no request is executed twice (adoption xor reconnect)
 *   P2 SERVED   every client that does not give up is served, unless its
 *               adopter died after adopting it (O_DIED, counted)
 *   P3 OWNER    one owner of the client connection at every step
 *   P4 TOKEN    a token is accepted at most once; every issued token is
 *               consumed or revoked
 *   P5 READY    no ready frame after a failure decision (and only for an
 *               adopted connection, with its own token, once)
 *   P6 DRAIN    the broker's pending state drains; no descriptor leaks
 *   P7 CHARGE   a failure is counted only against a backend that failed
 * Each assertion names its group (a hidden constant 1, so that a violated
 * assertion prints its property); check.py maps counterexamples to them.
 */
hidden byte P1_ONCE = 1, P2_SERVED = 1, P3_OWNER = 1, P4_TOKEN = 1;
hidden byte P5_READY = 1, P6_DRAIN = 1, P7_CHARGE = 1;

/* P1 ONCE. spec: READY-20 READY-21 READY-9 READY-14 CLIENT-6 BACKEND-5
 * FALLBACK-24 ACK-16 FALLBACK-22 */
inline execute(c) {
  exec[c]++;
  assert(P1_ONCE && exec[c] <= 1)
}

/* P2 SERVED: an outcome that is neither served nor given up must be the
 * counted case. spec: CLIENT-6 READY-21 FALLBACK-1 FALLBACK-24 FALLBACK-20 */
inline set_outcome(c, o) {
  outcome[c] = o;
  assert(P2_SERVED && (o != O_DIED || adopt_crash[c]));   /* lost only if its adopter died */
  assert(P2_SERVED && (o != O_UNKNOWN || UNKNOWN_OK));    /* OUTCOME_UNKNOWN only with a
                                              v1 broker or a misconfigured one */
  all_done = (outcome[0] != O_NONE && outcome[1] != O_NONE)
}

/* P3 OWNER: the broker acts on a connection (writes to it, shuts it down)
 * only while no backend has acted on it. spec: READY-8 FALLBACK-22 ACK-16
 * XFER-16 */
inline broker_acts(c) {
  assert(P3_OWNER && (BROKER_V1 || !bk_acted[c]))   /* the original is not bound */
}

/* P3 OWNER: a backend writes on an adopted connection only once the broker
 * can write nothing more on it: the ready frame is written, or the attempt
 * is backend-ready (the broker writes nothing after Negotiated), or the
 * broker has closed its copy. A broker of the original is not bound.
 * spec: READY-3 READY-9 READY-16 */
inline backend_writes(c) {
  assert(P3_OWNER && (BROKER_V1 || ready_w[c] || at_br[c] || !br_has[c]));
  bk_acted[c] = 1
}

/* P3 OWNER / P4 TOKEN: a connection is adopted at most once, by one backend.
 * spec: TOKEN-6 TOKEN-17 TOKEN-19 BACKEND-5 XFER-15 XFER-16 */
inline adopt(c, b) {
  assert(P3_OWNER && P4_TOKEN && adopter[c] == 0 && !adopted_ever[c]);   /* one adoption */
  adopter[c] = b + 1;
  adopted_ever[c] = 1
}

/* P5 READY at every ready frame written on connection c with token tk.
 * spec: READY-1 READY-2 READY-9 READY-10 READY-11 READY-14 ACK-2 ACK-5 ACK-15
 * ACK-17 XFER-12 */
inline ready_frame(c, tk) {
  assert(P5_READY && (BROKER_V1 || !cl_fb[c]));   /* not after the client's decision */
  assert(P5_READY && adopted_ever[c]);           /* only for an adopted connection */
  assert(P5_READY && tk == TOK(c));              /* with its own token (READY-1) */
  assert(P5_READY && !ready_w[c]);               /* one ready frame */
  ready_w[c] = 1;
  tocl[c]!READY,tk
}

/* P7 CHARGE: count a failure against backend b; ok: the backend did fail
 * (refused, answered late or wrongly, crashed, its connection broke).
 * spec: FALLBACK-23 XFER-37 FALLBACK-18 */
inline charge(b, ok) {
  printf("@@ BRK - failure counted against B%d\n", b);
  assert(P7_CHARGE && (ok))
}

