/* handoff — the one peer-policy decision and its parser (pure: no system
 * call), shared by the broker core, the backend shell and the broker shell.
 * spec: SEC-1 SEC-4 SEC-10 CLIENT-9 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/transport.h"

bool ho_peer_allowed(ho_peer_policy policy, uid_t uid, uid_t self_uid, const ho_peer_cred *cred) {
  switch (policy) {
  case HO_PEER_ANY: return true; /* credentials or not */
  case HO_PEER_SAME_UID: return cred != NULL && cred->uid == self_uid;
  case HO_PEER_UID: return cred != NULL && cred->uid == uid;
  case HO_PEER_SAME_UID_OR_ROOT: return cred != NULL && (cred->uid == self_uid || cred->uid == 0);
  }
  return false;
}

int ho_peer_policy_parse(const char *s, ho_peer_policy *policy, uid_t *uid) {
  if (s == NULL || policy == NULL || uid == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (strcmp(s, "any") == 0) {
    *policy = HO_PEER_ANY;
    return HO_OK;
  }
  if (strcmp(s, "same-or-root") == 0) {
    *policy = HO_PEER_SAME_UID_OR_ROOT;
    return HO_OK;
  }
  if (strcmp(s, "same") == 0 || strcmp(s, "same-uid") == 0) {
    *policy = HO_PEER_SAME_UID;
    return HO_OK;
  }
#ifdef _WIN32
  return HO_ERR_INVALID_ARGUMENT; /* no numeric uids on Windows: the SID check is "same" */
#endif
  if (s[0] < '0' || s[0] > '9') return HO_ERR_INVALID_ARGUMENT;
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v > (uid_t)-2) return HO_ERR_INVALID_ARGUMENT;
  *policy = HO_PEER_UID;
  *uid = (uid_t)v;
  return HO_OK;
}
