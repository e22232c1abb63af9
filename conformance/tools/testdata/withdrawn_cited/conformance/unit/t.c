/* spec: FRAME-1 ERR-1 FRAME-4 */
