/* handoff.pml — a Promela model of the handoff lifecycle (spec 1.0.0-rc1):
 * one broker, two backends, two clients. Read spec/model/README.md first.
 *   spin -a -DSCEN_LEG handoff.pml && gcc -O2 -DSAFETY -o pan pan.c && ./pan
 * spec/model/check.py runs every scenario, variant and finding run. */

#include "config.pml"
#include "state.pml"
#include "props.pml"
#include "backend.pml"
#include "broker.pml"
#include "client.pml"
#include "env.pml"
#include "final.pml"

/* a warm control connection: opened and declared (BACKEND_READY if the
 * backend has it, MULTI_OFFER) by earlier handoffs, nothing in flight */
inline warm(k, b) {
  ck_st[k] = K_OPEN; ck_b[k] = b; ck_multi[k] = 1; ck_brd[k] = CAPBR(b);
  run Ctl(k)
}

init
{
  atomic {
    cl_open[0] = 1; cl_open[1] = 1;
    br_has[0] = 1; br_has[1] = 1;       /* accepted, credentials checked (step 1) */
    refs[0] = 1; refs[1] = 1;
    cfg_br[0] = CFG_BR0; cfg_br[1] = CFG_BR1;
#if WARM0
    warm(0, 0);
#endif
#if WARM1
    warm(WARM0, 1);
#endif
    run Broker();
    run Svc(0); run Svc(1);
    run Clock(); run Env();
    run Client(0); run Client(1)
  }
}
