/*
 * mf.h
 *	  Recommendations by matrix factorization: the training aggregate
 *	  (mf_train.c: implicit weighted ALS with a conjugate-gradient or
 *	  Cholesky solver, explicit biased ALS) and scoring (mf_recommend.c),
 *	  which reads the model through mf_model.c (parser, dense solve).
 *
 * A model holds the distinct user and item ids in ascending order (their
 * positions are the dense indices), the factor matrices, biases and global
 * mean (explicit mode), the Gram matrix of the item factors (fold-in of
 * implicit feedback), and optionally the training interactions as a CSR
 * matrix by user, so that recommendations can exclude seen items.
 */
#ifndef ECML_MF_H
#define ECML_MF_H

#include "postgres.h"

#include "model.h"
#include "vecops.h"
#include "options.h"
#include "utils/jsonb.h"

/* section tags of an mf model */
#define MF_TAG_SHAPE		ECML_TAG('M', 'F', 'S', 'H')	/* int64[4]: users, items,
															 * factors, flags */
#define MF_TAG_USER_IDS		ECML_TAG('U', 'I', 'D', 'S')	/* int64[users], ascending */
#define MF_TAG_ITEM_IDS		ECML_TAG('I', 'I', 'D', 'S')	/* int64[items], ascending */
#define MF_TAG_USER_FACTORS ECML_TAG('U', 'F', 'A', 'C')	/* float32[users x factors] */
#define MF_TAG_ITEM_FACTORS ECML_TAG('I', 'F', 'A', 'C')	/* float32[items x factors] */
#define MF_TAG_USER_BIAS	ECML_TAG('U', 'B', 'I', 'A')	/* float32[users] */
#define MF_TAG_ITEM_BIAS	ECML_TAG('I', 'B', 'I', 'A')	/* float32[items] */
#define MF_TAG_GLOBAL_MEAN	ECML_TAG('G', 'M', 'E', 'A')	/* float64[1] */
#define MF_TAG_PARAMS		ECML_TAG('M', 'F', 'P', 'R')	/* float64[2]: regularization,
															 * alpha (fold-in) */
#define MF_TAG_GRAM			ECML_TAG('G', 'R', 'A', 'M')	/* float32[factors^2]: Y'Y */
#define MF_TAG_SEEN_PTR		ECML_TAG('S', 'P', 'T', 'R')	/* int64[users + 1] */
#define MF_TAG_SEEN_IDX		ECML_TAG('S', 'I', 'D', 'X')	/* int32[interactions]:
															 * item indices, ascending
															 * per user */

/* flags in the shape section */
#define MF_FLAG_IMPLICIT	1
#define MF_FLAG_BIASES		2
#define MF_FLAG_SEEN		4

#define MF_FACTORS_DEFAULT		64
#define MF_FACTORS_MIN			1
#define MF_FACTORS_MAX			1024
#define MF_ITERATIONS_DEFAULT	15
#define MF_ITERATIONS_MIN		1
#define MF_ITERATIONS_MAX		1000
#define MF_REG_DEFAULT			0.1
#define MF_REG_MIN				0.0
#define MF_REG_MAX				1e6
#define MF_ALPHA_DEFAULT		1.0
#define MF_ALPHA_MIN			0.0
#define MF_ALPHA_MAX			1e6
#define MF_CG_STEPS_DEFAULT		3
#define MF_CG_STEPS_MIN			1
#define MF_CG_STEPS_MAX			100
#define MF_SEED_DEFAULT			42

/* the largest id count a model may hold: dense indices are int32 */
#define MF_MAX_IDS				(INT_MAX / 2)

typedef enum MfSolver
{
	MF_SOLVER_CG = 0,
	MF_SOLVER_CHOLESKY = 1
} MfSolver;

typedef struct MfOptions
{
	int			factors;
	int			iterations;
	double		regularization;
	bool		implicit;
	double		alpha;
	int			solver;			/* MfSolver */
	int			cg_steps;
	bool		biases;
	int64		seed;
	bool		store_interactions;
} MfOptions;

/* What scoring needs; every array is a private copy owned by the cache. */
typedef struct MfModel
{
	int			nusers;
	int			nitems;
	int			factors;
	bool		implicit;
	bool		biases;
	double		global_mean;	/* 0 without biases */
	double		regularization;
	double		alpha;
	int64	   *user_ids;		/* [nusers], ascending */
	int64	   *item_ids;		/* [nitems], ascending */
	float	   *user_factors;	/* [nusers x factors] */
	float	   *item_factors;	/* [nitems x factors] */
	float	   *user_bias;		/* [nusers] or NULL */
	float	   *item_bias;		/* [nitems] or NULL */
	float	   *item_norm;		/* [nitems]: |y_i|, for cosine similarity */
	float	   *gram;			/* [factors x factors]: Y'Y */
	int64	   *seen_ptr;		/* [nusers + 1] or NULL */
	int32	   *seen_idx;		/* [seen_ptr[nusers]] */
} MfModel;

extern void *mf_parse(const EcmlModel *model, MemoryContext mcxt);

/* Options of ecml.mf_train, defaults first (mf_train.c). */
extern void mf_parse_options(Jsonb *opts, MfOptions *o);

/* What a trainer hands to mf_model_write (mf_train.c). */
typedef struct MfFit
{
	const MfOptions *o;
	int			nusers;
	int			nitems;
	bool		biases;
	double		mu;
	const int64 *user_ids;
	const int64 *item_ids;
	const float *X;				/* [nusers x factors] */
	const float *Y;				/* [nitems x factors] */
	const float *ub;			/* [nusers] with biases */
	const float *ib;			/* [nitems] with biases */
	const float *gram_y;		/* [factors x factors]: Y'Y */
	int64		nnz;			/* distinct (user, item) pairs */
	int64		nrows;			/* rows trained on, before merging duplicates */
	int64		nskipped;
	const int64 *seen_ptr;		/* with store_interactions */
	const int32 *seen_idx;
	const char *metrics_json;
} MfFit;

extern bytea *mf_model_write(const MfFit *fit, Size model_bytes);

/*
 * Solve A x = b for symmetric positive definite A (d,d) in place by
 * Cholesky (the lower triangle of A is overwritten); b becomes x.  A pivot
 * that is not positive (a singular system, from regularization 0) is
 * clamped to 1e-12 instead of failing.
 */
extern void mf_cholesky_solve(double *A, double *b, int d);


/* ---- short vector kernels shared by training and scoring ---- */

/*
 * The hot loops (per-row solvers, item scoring) are compiled twice, for
 * AVX2 with FMA and for the baseline, and picked by CPU features at run
 * time (target_clones would pick "arch=haswell" by CPU model, which misses
 * other AVX2 CPUs).
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MF_HAVE_AVX2_BUILD 1
#define MF_TARGET_AVX2 __attribute__((target("avx2,fma")))
#endif

/*
 * Kernels are inlined into each build, so they get its instruction set;
 * the dot product and axpy are vecops.h's.
 */
#define MF_INLINE static inline __attribute__((always_inline))

/* the rows of the fixed side arrive in index order: fetch ahead */
MF_INLINE void
mf_prefetch_row(const float *row, int f)
{
	for (int off = 0; off < f; off += 16)
		__builtin_prefetch(row + off);
}

/* AVX2 and FMA available: use the MF_TARGET_AVX2 builds */
static inline bool
mf_cpu_has_avx2(void)
{
#ifdef MF_HAVE_AVX2_BUILD
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	return false;
#endif
}

#endif							/* ECML_MF_H */
