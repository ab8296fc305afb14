/* SPDX-License-Identifier: ISC */
/*
 * The build's strings (common/build.h), the one object that sees
 * buildinfo.h: a new commit recompiles this file alone.
 */
#include "buildinfo.h"
#include "common/build.h"

const char *
build_version(void)
{
	return CARIMBO_VERSION;
}

const char *
build_commit(void)
{
	return CARIMBO_COMMIT;
}

const char *
build_liburing(void)
{
	return CARIMBO_LIBURING;
}
