/* spec: FRAME-1 — chunking */
int x; /* spec: ERR-1 */
