/* handoff — the checks of a Windows handle value (win_handle.h), without a
 * Win32 call: what the operating system knows of the handle is asked
 * through the shell's callback (ref/lib/net/win/win_xfer.c on Windows, a
 * fake in the tests and fuzz/fuzz_win_offer.c).
 * spec: XFER-32 XFER-38
 */
#include <stddef.h>

#include "core/win_handle.h"

#include "handoff/error.h"

static int bad(ho_win_question *failed, ho_win_question q) {
  if (failed != NULL) *failed = q;
  return HO_ERR_BAD_DESCRIPTOR;
}

int ho_win_handle_judge(uint64_t value, uint32_t broker_pid, ho_win_ask_fn ask, void *ctx,
                        ho_win_question *failed) {
  if (failed != NULL) *failed = HO_WIN_ASK_NONE;
  /* spec: XFER-32 — 0 is no handle at all. */
  if (value == 0) return HO_ERR_NO_DESCRIPTOR;
  /* Pseudo-handles -1..-12 (current process, thread, tokens, ...): naming
   * them would make us adopt ourselves. */
  if (value >= (uint64_t)-12) return bad(failed, HO_WIN_ASK_NONE);
  /* spec: XFER-38 — handle values are 32-bit, multiples of 4: the kernel
   * ignores the two tag bits, so 0x105 would name our 0x104. */
  if (value > 0xFFFFFFFFull || (value & 3u) != 0) return bad(failed, HO_WIN_ASK_NONE);
  if (ask == NULL) return bad(failed, HO_WIN_ASK_FILE_TYPE);
  uint32_t a = 0;
  if (ask(ctx, value, HO_WIN_ASK_FILE_TYPE, &a) != 0 || a != 1)
    return bad(failed, HO_WIN_ASK_FILE_TYPE);
  a = 0;
  /* An anonymous pipe fails GetNamedPipeInfo; a client end is not ours. */
  if (ask(ctx, value, HO_WIN_ASK_PIPE_INFO, &a) != 0 || !(a & HO_WIN_PIPE_SERVER_END))
    return bad(failed, HO_WIN_ASK_PIPE_INFO);
  if (broker_pid != 0) {
    /* spec: XFER-38 — the broker created every pipe it hands off; a pipe
     * whose server is anyone else (our own endpoints and control pipes
     * have our pid) is not the client connection of this offer. */
    a = 0;
    if (ask(ctx, value, HO_WIN_ASK_SERVER_PID, &a) != 0 || a != broker_pid)
      return bad(failed, HO_WIN_ASK_SERVER_PID);
  }
  return HO_OK;
}
