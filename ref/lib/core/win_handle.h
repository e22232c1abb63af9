/* handoff — the checks of a Windows handle value without a Win32 call
 * (win_handle.c): portable, so the Windows transport, the unit tests and a
 * fuzzer on Linux (fuzz/fuzz_win_offer.c) share them. */
#ifndef HANDOFF_CORE_WIN_HANDLE_H
#define HANDOFF_CORE_WIN_HANDLE_H

#include <stdint.h>

/* What the judge asks the operating system, in this order, each only when
 * everything before passed (spec: XFER-38). */
typedef enum ho_win_question {
  HO_WIN_ASK_NONE = 0,       /* (the value itself failed; nothing was asked) */
  HO_WIN_ASK_FILE_TYPE = 1,  /* answer: 1 if GetFileType(h) is FILE_TYPE_PIPE */
  HO_WIN_ASK_PIPE_INFO = 2,  /* answer: the flags of GetNamedPipeInfo(h) */
  HO_WIN_ASK_SERVER_PID = 3  /* answer: GetNamedPipeServerProcessId(h) */
} ho_win_question;

/* PIPE_SERVER_END of <winbase.h> (the shell asserts the two agree). */
#define HO_WIN_PIPE_SERVER_END 0x00000001u

/* Returns 0 with *answer set when the call succeeded, nonzero when it
 * failed (the shell keeps its GetLastError()). */
typedef int (*ho_win_ask_fn)(void *ctx, uint64_t value, ho_win_question q, uint32_t *answer);

/* Is `value`, received in HandoffOffer.handle_value, a handle the backend
 * may adopt (spec: XFER-32 XFER-38)? The order of ho_win_check_handle()
 * (winpipe.h): 0 is HO_ERR_NO_DESCRIPTOR; a pseudo-handle (-1..-12), a
 * value above 2^32 or with a tag bit set is HO_ERR_BAD_DESCRIPTOR without a
 * question; then not a pipe, GetNamedPipeInfo failing, not the server end,
 * and (broker_pid != 0) the server pid failing or not broker_pid are
 * HO_ERR_BAD_DESCRIPTOR. *failed (may be NULL) names the question whose
 * answer failed (HO_WIN_ASK_NONE otherwise). Closes nothing, asks nothing
 * twice; ask may be NULL only when no question is reached. */
int ho_win_handle_judge(uint64_t value, uint32_t broker_pid, ho_win_ask_fn ask, void *ctx,
                        ho_win_question *failed);

#endif
