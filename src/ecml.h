/*
 * ecml.h
 *	  What every ecml source file shares: GUCs, version, small helpers.
 */
#ifndef ECML_H
#define ECML_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "ecml_compat.h"
#include "fmgr.h"

#define ECML_VERSION "0.2.0"

/* GUC variables (ecml.c; _PG_init in init.c defines the settings) */
extern int	ecml_train_memory_limit_kb;
extern int	ecml_blas_threads;
extern bool ecml_progress;
extern int	ecml_keep_versions;	/* lifecycle.c */

/*
 * Training memory.  ecml.train_memory_limit bounds everything a training
 * aggregate holds: its buffered rows, the working buffers of its final
 * function (a Hessian, histograms, factor matrices, activations) and the
 * model it writes.  Every allocation that can grow with the data or the
 * options goes through one of these, so the limit is checked before the
 * memory is taken and the error (program_limit_exceeded) names the buffer.
 *
 * ecml_check_train_memory: the row buffers, before each growth, with the
 * total they would reach.
 */
extern void ecml_check_train_memory(Size total_bytes, const char *trainer);

/* Bytes left under the limit when held are in use (0 if none). */
extern Size ecml_train_memory_room(Size held);

/* a * b and a + b, saturating at SIZE_MAX, which the checks always refuse. */
extern Size ecml_mul_size(Size a, Size b);
extern Size ecml_add_size(Size a, Size b);

/*
 * A final function's account: it starts with what the aggregate state
 * holds, and each large buffer is charged to it (released when freed).
 * check tests a planned total without charging it, so that a solver can be
 * refused before it allocates anything.
 */
typedef struct EcmlTrainMemory
{
	const char *trainer;		/* "ecml.logreg_train", for messages */
	Size		held;			/* bytes charged so far */
} EcmlTrainMemory;

extern void ecml_train_memory_init(EcmlTrainMemory *m, const char *trainer, Size held);
extern void ecml_train_memory_check(const EcmlTrainMemory *m, Size bytes, const char *what);
extern void ecml_train_memory_charge(EcmlTrainMemory *m, Size bytes, const char *what);
extern void ecml_train_memory_release(EcmlTrainMemory *m, Size bytes);

/*
 * nelem x elemsize bytes (overflow-checked), charged as what, allocated
 * with palloc_extended(MCXT_ALLOC_HUGE | flags) in CurrentMemoryContext;
 * ecml_train_free gives it back and releases the charge.
 */
extern void *ecml_train_alloc(EcmlTrainMemory *m, Size nelem, Size elemsize, int flags,
							  const char *what);
extern void ecml_train_free(EcmlTrainMemory *m, void *p, Size nelem, Size elemsize);

/* Elapsed seconds since a start taken with GetCurrentTimestamp(). */
extern double ecml_elapsed_seconds(TimestampTz start);

/*
 * Aggregate support functions (ecml.c).  ecml_agg_context: the aggregate's
 * memory context, or an internal error "<fn> called in non-aggregate
 * context" when called directly from SQL.  ecml_agg_writable_arg: a varlena
 * state the caller may change in place (a copy outside an aggregate).
 */
extern MemoryContext ecml_agg_context(FunctionCallInfo fcinfo, const char *fn);
extern struct varlena *ecml_agg_writable_arg(FunctionCallInfo fcinfo, int argno);

/*
 * A pass aggregate's bytea state (ecml.train's steps, ecml.<kind>_pass and
 * the sketches) that does not hold together, whether a user crafted it or
 * another version wrote it: "<agg>: invalid <what>", 22023, with a hint to
 * call ecml.train('<kind>', ...).  Internal states never reach SQL and stay
 * internal errors.
 */
/* An internal partial state from a worker that does not parse: XX001. */
extern void ecml_partial_state_invalid(const char *agg) pg_attribute_noreturn();
extern void ecml_pass_state_invalid(const char *agg, const char *kind,
									const char *what) pg_attribute_noreturn();

/*
 * Progress of a long training (ecml.progress): a NOTICE with the formatted
 * message when the setting is on, and the seconds a loop of total steps has
 * left after done at the rate so far.
 */
extern void ecml_progress_notice(const char *fmt, ...) pg_attribute_printf(1, 2);
extern double ecml_seconds_left(double elapsed, double done, double total);

/*
 * Deterministic random numbers: one seeded generator, passed explicitly
 * (splitmix64 seeding a xoshiro256** state; Blackman & Vigna 2018).
 */
typedef struct EcmlRng
{
	uint64		s[4];
} EcmlRng;

extern void ecml_rng_seed(EcmlRng *rng, uint64 seed);
extern uint64 ecml_rng_next(EcmlRng *rng);
extern double ecml_rng_uniform(EcmlRng *rng);	/* [0, 1) */
extern double ecml_rng_normal(EcmlRng *rng);
extern uint64 ecml_rng_below(EcmlRng *rng, uint64 n);	/* [0, n) */

extern int	ecml_int64_cmp(const void *a, const void *b);

#endif							/* ECML_H */
