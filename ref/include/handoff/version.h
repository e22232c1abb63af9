/* handoff — library version and the public-API marker.
 *
 * Library version: SemVer of this implementation, separate from the wire
 * version (spec/versioning.md). While MAJOR is 0 the ABI is not frozen: a
 * MINOR release may change it. The shared library's SONAME is
 * libhandoff.so.MAJOR; the real file is libhandoff.so.MAJOR.MINOR.PATCH.
 *
 * HO_API marks every public function declaration. The library is built with
 * -fvisibility=hidden, so only HO_API functions are exported; a linker
 * version script (ref/abi/libhandoff.map) keeps everything else local.
 * conformance/tools/api_mark.py inserts and checks the marker.
 */
#ifndef HANDOFF_VERSION_H
#define HANDOFF_VERSION_H

#define HO_VERSION_MAJOR 0
#define HO_VERSION_MINOR 1
#define HO_VERSION_PATCH 0
#define HO_VERSION_STRING "0.1.0"

#if defined(_WIN32)
#if defined(HO_BUILDING_DLL)
#define HO_API __declspec(dllexport)
#elif defined(HO_USE_DLL)
#define HO_API __declspec(dllimport)
#else
#define HO_API
#endif
#elif defined(__GNUC__)
#define HO_API __attribute__((visibility("default")))
#else
#define HO_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library actually linked ("MAJOR.MINOR.PATCH"), which
 * may differ from HO_VERSION_STRING the caller was compiled against. */
HO_API const char *ho_version(void);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_VERSION_H */
