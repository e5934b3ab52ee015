/*
 * ecml.h
 *	  What every ecml source file shares: GUCs, version, small helpers.
 */
#ifndef ECML_H
#define ECML_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"

#define ECML_VERSION "0.1.0"

/* GUCs (ecml.c) */
extern int	ecml_train_memory_limit_kb;
extern int	ecml_blas_threads;
extern bool ecml_progress;

/*
 * Training buffers grow by chunks; before each growth the trainer asks
 * whether the total stays under ecml.train_memory_limit.  Errors with
 * program_limit_exceeded and a hint when it does not.
 */
extern void ecml_check_train_memory(Size total_bytes, const char *trainer);

/* Elapsed seconds since a start taken with GetCurrentTimestamp(). */
extern double ecml_elapsed_seconds(TimestampTz start);

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

/*
 * The ascending scores of each class held by the score/label aggregate
 * state that ecml.roc_auc and ecml.average_precision share (metrics.c), for
 * other aggregates built on the same state functions.  state may be NULL.
 */
extern void ecml_score_label_sorted(void *state, const double **pos, int64 *npos,
									const double **neg, int64 *nneg);

#endif							/* ECML_H */
