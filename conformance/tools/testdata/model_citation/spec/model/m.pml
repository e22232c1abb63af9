/* a Promela model is evidence: spec: FRAME-1
 * FRAME-2 */
proctype P() { skip }
