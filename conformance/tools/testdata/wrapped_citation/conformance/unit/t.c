/* Header tests. spec: FRAME-1
 * FRAME-2
 * FRAME-3 */
/* spec: FRAME-1 — the line goes on in prose, so the next line is not a citation:
 * FRAME-4 is only mentioned here. */
