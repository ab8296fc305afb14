/* SPDX-License-Identifier: ISC */
/*
 * `carimbo init`, the appliance's set-up (init.c), beside the dispatcher
 * (main.c) because it draws on the token, the CA and the clock at once.
 */
#ifndef INIT_H
#define INIT_H

/* init.c */
int	 init_main(int, char **);

#endif
