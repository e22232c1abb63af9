/* spec: FRAME-1 FRAME-2 FRAME-3 */
