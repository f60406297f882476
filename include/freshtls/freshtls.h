/**
 * @file freshtls.h
 * @brief Umbrella header: include this to get the whole public API.
 */
#ifndef FRESHTLS_FRESHTLS_H
#define FRESHTLS_FRESHTLS_H

#include <freshtls/export.h>
#include <freshtls/version.h>
#include <freshtls/error.h>
#include <freshtls/log.h>
#include <freshtls/mem.h>
#include <freshtls/snapshot.h>
#include <freshtls/roots.h>
#include <freshtls/identity.h>
#include <freshtls/source.h>
#include <freshtls/watcher.h>
#include <freshtls/ctx.h>
#include <freshtls/mint.h>

#endif /* FRESHTLS_FRESHTLS_H */
