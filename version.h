/* SPDX-License-Identifier: ISC */
/*
 * `carimbo --version` (version.c), beside the dispatcher (main.c): it
 * reports on the build and on what it runs with, no subcommand's own.
 */
#ifndef VERSION_H
#define VERSION_H

/* version.c */
int	 version_main(int, char **);

#endif
