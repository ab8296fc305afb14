/* SPDX-License-Identifier: ISC */
/*
 * What this build is, for `carimbo --version` (version.c) and /metrics'
 * carimbo_build_info (tsa/loop.c): the version (debian/changelog's), the
 * git commit and the liburing built against, which the Makefile writes
 * into buildinfo.h.
 */
#ifndef COMMON_BUILD_H
#define COMMON_BUILD_H

/* build.c */
const char	*build_version(void);
const char	*build_commit(void);
const char	*build_liburing(void);

#endif
