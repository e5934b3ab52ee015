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

/*
 * Around each input: the allocation cap scales with its size, and the
 * watchdog aborts when no CHECK_FOR_INTERRUPTS() came for
 * shim_cfi_gap_seconds (FUZZ_CFI_GAP, default 10; 0 turns it off).
 */
extern size_t shim_input_size;
extern int	shim_cfi_gap_seconds;
extern void shim_input_begin(size_t input_size);
extern void shim_input_end(void);

#endif							/* ECML_FUZZ_SHIM_H */
