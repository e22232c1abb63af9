/* spec: FRAME-9 */
