/* spec: FRAME-1 ERR-1 */
