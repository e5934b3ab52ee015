/*
 * shim.h
 *	  The harness's view of the shim (shim.c): where an ERROR jumps, what it
 *	  said, and the reset of everything palloc'd.
 */
#ifndef ECML_FUZZ_SHIM_H
#define ECML_FUZZ_SHIM_H

#include <setjmp.h>

extern sigjmp_buf *shim_error_jmp;
extern int	shim_error_code;
extern char shim_error_message[1024];

/* Free every chunk palloc'd since the last reset. */
extern void shim_reset(void);

#endif							/* ECML_FUZZ_SHIM_H */
