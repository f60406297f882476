/**
 * @file export.h
 * @brief Symbol visibility and attribute macros shared by every public header.
 *
 * The library is built with -fvisibility=hidden; only declarations marked
 * FTLS_API are exported from libfreshtls.so.
 */
#ifndef FRESHTLS_EXPORT_H
#define FRESHTLS_EXPORT_H

#if defined(FTLS_BUILDING_LIBRARY) && defined(__GNUC__)
#define FTLS_API __attribute__((visibility("default")))
#else
#define FTLS_API
#endif

#if defined(__GNUC__)
/** Results marked FTLS_NODISCARD must be inspected by the caller. */
#define FTLS_NODISCARD __attribute__((warn_unused_result))
#define FTLS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define FTLS_NODISCARD
#define FTLS_PRINTF(fmt, args)
#endif

#endif /* FRESHTLS_EXPORT_H */
