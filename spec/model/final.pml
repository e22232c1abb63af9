/* final.pml — the check of the final state (props.pml names the groups). */

/* P2, P4, P6 at quiescence: nothing can move any more (every timer has run
 * out, every process is blocked at an end state). Descriptors still held by
 * a stalled backend handler (fault F_STALL) are that backend's; they are
 * released here before the leak check. spec: TOKEN-7 ACK-6 ACK-10 BROKER-4
 * XFER-7 XFER-20 ERR-1 FALLBACK-20 */
active proctype Final()
{
  timeout ->
  atomic {
    printf("@@ - - quiescent: every client decided, every timer ran out\n");
    assert(P2_SERVED && outcome[0] != O_NONE && outcome[1] != O_NONE);  /* eventually */
    assert(P4_TOKEN && P6_DRAIN && at[0] != AT_PEND && at[0] != AT_WAIT);
    assert(P4_TOKEN && P6_DRAIN && at[1] != AT_PEND && at[1] != AT_WAIT);
    assert(P6_DRAIN && !br_has[0] && !br_has[1]);
    assert(P6_DRAIN && ck_inf[0] == 0 && ck_inf[1] == 0 && ck_inf[2] == 0);
    t_k = 0;
    do
    :: t_k < NK ->
       if
       :: hs[t_k] == H_STALL -> drop_ctl(t_k)
       :: else
       fi;
       t_k++
    :: else -> break
    od;
    assert(P6_DRAIN && refs[0] == 0 && refs[1] == 0);       /* no descriptor leaks */
    assert(P6_DRAIN && hfd[0] == 0 && hfd[1] == 0 && hfd[2] == 0);
    assert(P6_DRAIN && empty(ck_off[0]) && empty(ck_off[1]) && empty(ck_off[2]))
  }
}
