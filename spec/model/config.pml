/* config.pml — scenarios (who talks to whom, in which mode) and the
 * switches that turn the model into a variant or a finding run.
 *
 * Exactly one SCEN_* is defined on the spin command line (-DSCEN_LEG ...);
 * spec/model/check.py lists every run. Nothing here is state: all of it is
 * folded into the transitions by the preprocessor.
 *
 * Client capabilities are the wire bits of Hello.client_capabilities:
 * HP = CAP_HANDLE_PASSING (1<<0), BR = CAP_BACKEND_READY (1<<1),
 * ED = CAP_EARLY_DATA (1<<2) — a client with ED writes its request right
 * behind its Hello, which READY-20 allows only with knowledge of the
 * endpoint (KNOW_*: 1 = an earlier Negotiated of this endpoint had
 * CAP_EARLY_DATA or the operator said so).
 *
 * Backend kinds: BK_BR  = this spec, implements backend-ready mode,
 *                         declares BACKEND_CAP_BACKEND_READY|MULTI_OFFER;
 *                BK_LEG = this spec without backend-ready mode (READY-24
 *                         refuses flagged offers), declares MULTI_OFFER;
 *                BK_V1  = a backend of the original: ignores offer flags and
 *                         deadlines, serves one offer per control connection
 *                         and closes it after its ACK, no replay memory that
 *                         spans connections.
 */

#define HP 1
#define BR 2
#define ED 4

#define BK_BR  1
#define BK_LEG 2
#define BK_V1  3

/* ---- scenarios --------------------------------------------------------- */
#if defined(SCEN_LEG)
/* legacy mode: a v1 backend and a backend of this spec, one client each */
#define C0_CAPS   HP
#define C1_CAPS   (HP|BR)
#define ROUTE0    0
#define ROUTE1    1
#define B0_KIND   BK_V1
#define B1_KIND   BK_BR
#define WARM0     0
#define WARM1     0
#define FAULTS    (F_CRASH|F_CTLCLOSE|F_FORGEACK|F_GONE|F_FDX|F_EMFILE|F_STALL)
#define SEQ       1
#elif defined(SCEN_SHARED)
/* two legacy clients on one v1 backend: one offer per control connection */
#define C0_CAPS   HP
#define C1_CAPS   HP
#define ROUTE0    0
#define ROUTE1    0
#define B0_KIND   BK_V1
#define B1_KIND   BK_BR
#define WARM0     0
#define WARM1     0
#define FAULTS    (F_CRASH|F_FORGEACK|F_GONE)
#elif defined(SCEN_BR)
/* backend-ready mode on both backends; client 1 sends early data */
#define C0_CAPS   (HP|BR)
#define C1_CAPS   (HP|BR|ED)
#define KNOW1     1
#define ROUTE0    0
#define ROUTE1    1
#define B0_KIND   BK_BR
#define B1_KIND   BK_BR
#define WARM0     1
#define WARM1     1
#define FAULTS    (F_CRASH|F_CTLCLOSE|F_FORGEACK|F_GONE|F_FDX|F_REPLAY|F_STALL)
#define SEQ       1
#define MAXF      1     /* two faults: 2.9M states; one keeps the run short */
#elif defined(SCEN_BR2)
/* two backend-ready clients on one backend, offers in flight together on one
 * control connection: replayed offers and a sideband of the other handoff */
#define C0_CAPS   (HP|BR)
#define C1_CAPS   (HP|BR|ED)
#define KNOW1     1
#define ROUTE0    0
#define ROUTE1    0
#define B0_KIND   BK_BR
#define B1_KIND   BK_LEG
#define WARM0     1
#define WARM1     0
#define FAULTS    (F_CTLCLOSE|F_FORGEACK|F_GONE|F_FORGESB)   /* crashes: SCEN_SHARED */
#elif defined(SCEN_V1BROKER)
/* a broker of the original (no extension) in front of an early-data client
 * whose knowledge is stale (READY-20 lets it persist), and a legacy client */
#define BROKER_V1 1
#define C0_CAPS   (HP|BR|ED)
#define KNOW0     1
#define C1_CAPS   HP
#define ROUTE0    0
#define ROUTE1    1
#define B0_KIND   BK_BR
#define B1_KIND   BK_V1
#define WARM0     0
#define WARM1     0
#define UNKNOWN_OK 1
#define FAULTS    (F_CRASH|F_CTLCLOSE|F_GONE)
#define SEQ       1
#elif defined(SCEN_MISCONF)
/* a broker configured --backend-ready for two backends without it: a v1
 * backend (ignores the flag, ACK-16) and a backend of this spec (READY-24) */
#define C0_CAPS   (HP|BR)
#define C1_CAPS   (HP|BR|ED)
#define KNOW1     1
#define ROUTE0    0
#define ROUTE1    1
#define B0_KIND   BK_V1
#define B1_KIND   BK_LEG
#define CFG_BR0   1
#define CFG_BR1   1
#define WARM0     0
#define WARM1     0
#define UNKNOWN_OK 1
#define FAULTS    (F_CRASH|F_GONE)
#define SEQ       1
#else
#error "define one SCEN_* (see spec/model/check.py)"
#endif

#ifndef KNOW0
#define KNOW0 0
#endif
#ifndef KNOW1
#define KNOW1 0
#endif
#ifndef CFG_BR0
#define CFG_BR0 0
#endif
#ifndef CFG_BR1
#define CFG_BR1 0
#endif
#ifndef BROKER_V1
#define BROKER_V1 0
#endif
#ifndef UNKNOWN_OK
#define UNKNOWN_OK 0
#endif
/* SEQ: the clients share no backend, so their steps commute (the broker
 * handles each event atomically, their state is disjoint): client 1 starts
 * once client 0 has its outcome; interleaving them would multiply the
 * states without adding behaviour. Scenarios where they share a backend
 * interleave them fully. */
#ifndef SEQ
#define SEQ 0
#endif
#ifndef MAXF
#if SEQ
#define MAXF 2          /* faults per run: any two, in one attempt or one each */
#else
#define MAXF 1
#endif
#endif
#ifdef FAULTS_OVERRIDE
#undef FAULTS
#define FAULTS FAULTS_OVERRIDE
#endif

/* ---- the rc1 text versus this model's proposed fixes ---------------------
 * The main runs model rc1 with the fixes proposed in spec/model/README.md
 * ("Findings"). A finding run defines RC1_<ID> to model rc1 exactly as
 * written at that point and must yield the counterexample. */
#ifdef RC1_READY6
#define CONFIG_BR_OK 1  /* READY-6 as written: an operator's statement suffices */
#else
#define CONFIG_BR_OK 0  /* proposed: only a declaration on the carrying connection */
#endif
#ifdef RC1_FALLBACK23
#define CHARGE_EMFILE 1 /* FALLBACK-23 as written: the broker's EMFILE counts */
#else
#define CHARGE_EMFILE 0
#endif

/* ---- variants: one rule removed or weakened (spec/model/check.py) ------ */
#ifdef V_NO_ECHO
#define V_ECHO_OFF 1
#else
#define V_ECHO_OFF 0
#endif

#ifdef V_NO_READY_DEADLINE
#define V_RD_OFF 1
#else
#define V_RD_OFF 0
#endif

/* ---- fault kinds --------------------------------------------------------- */
#define F_CRASH    1    /* backend crash (and restart) at any step */
#define F_CTLCLOSE 2    /* control connection closed at any step */
#define F_FORGEACK 4    /* forged ACK: wrong token echo, or a never-issued id */
#define F_GONE     8    /* client disconnects at any step */
#define F_FDX      16   /* backend: descriptor not installed (MSG_CTRUNC) */
#define F_EMFILE   32   /* broker: EMFILE opening a control connection */
#define F_REPLAY   64   /* an offer replayed (same token, a dup of the fd) */
#define F_FORGESB  128  /* the sideband carries another handoff's fd and bytes */
#define F_STALL    256  /* a backend handler stops reading and answering for good */

#define FAULT_ON(f) ((FAULTS & (f)) != 0 && nf < MAXF && !all_done)
