/* The reference decoder's verdict on one input, for fuzz/tools/promote.py:
 *
 *     vector_verdict MESSAGE FILE
 *
 * MESSAGE is a frame type of the vectors (hello, hello_reply, offer, ack,
 * ready); FILE holds one complete input as a golden vector's `hex` would.
 * Prints one line: `ok <canonical JSON>` (the vectors' decoded form) or
 * `error <NAME>`, when both codecs agree; exits 3 with both verdicts on
 * stderr when protobuf-c and nanopb disagree (that is a bug to fix before
 * the input can become a vector), 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/msg.h"
#include "handoff/msg_json.h"

static uint8_t in[HO_MAX_HELLO_BYTES * 4];
static char json[2][3 * sizeof in + 16384];
static ho_any_msg msg;
static ho_envelope env;

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s MESSAGE FILE\n", argv[0]);
    return 2;
  }
  ho_frame_type t = 0;
  for (int i = HO_FT_HELLO; i <= HO_FT_READY; i++)
    if (strcmp(ho_frame_type_name((ho_frame_type)i), argv[1]) == 0) t = (ho_frame_type)i;
  FILE *f = fopen(argv[2], "rb");
  if (t == 0 || f == NULL) {
    fprintf(stderr, "%s: unknown message %s or unreadable %s\n", argv[0], argv[1], argv[2]);
    if (f) fclose(f);
    return 2;
  }
  size_t n = fread(in, 1, sizeof in, f);
  fclose(f);
  const ho_codec codecs[2] = {HO_CODEC_PROTOBUF_C, HO_CODEC_NANOPB};
  int rc[2];
  for (int c = 0; c < 2; c++) {
    memset(&msg, 0, sizeof msg);
    rc[c] = ho_frame_decode(codecs[c], t, in, n, &env, &msg);
    json[c][0] = '\0';
    size_t jl = 0;
    if (rc[c] == HO_OK && ho_frame_to_json(t, &env, &msg, json[c], sizeof json[c], &jl) != HO_OK)
      return 2;
  }
  if (rc[0] != rc[1] || strcmp(json[0], json[1]) != 0) {
    fprintf(stderr, "protobuf-c: %s %s\nnanopb:     %s %s\n", ho_errname(rc[0]), json[0],
            ho_errname(rc[1]), json[1]);
    return 3;
  }
  if (rc[0] == HO_OK) printf("ok %s\n", json[0]);
  else printf("error %s\n", ho_errname(rc[0]));
  return 0;
}
