/* spec: FRAME-1 FRAME-3 */
