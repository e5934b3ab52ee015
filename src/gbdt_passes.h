/*
 * gbdt_passes.h
 *	  Gradient boosting in bounded memory, ecml.train('gbdt', source): the
 *	  bin-edge sketch pass (gbdt_sketch.c) and the gradient-histogram passes
 *	  with their driver (gbdt_passes.c).
 */
#ifndef ECML_GBDT_PASSES_H
#define ECML_GBDT_PASSES_H

#include "postgres.h"

#include "gbdt.h"

#define GBDT_PASS_TRAINER "ecml.train(gbdt)"

/* rows the sketch samples: as many as fraud_train sorts for its edges */
#define GBDT_SKETCH_SAMPLE_DEFAULT GBDT_QUANTILE_SAMPLE
#define GBDT_SKETCH_SAMPLE_MIN	100
#define GBDT_SKETCH_SAMPLE_MAX	10000000
#define GBDT_SKETCH_MAX_BYTES	((Size) 256 * 1024 * 1024)	/* the sample's cap */

/*
 * The sketch: counts, per feature its missing values and (while they fit)
 * its distinct values, and the rows of smallest content hash.  A bytea:
 * this header, then int64 nmissing[f], int32 ndistinct[f] (-1 once more
 * than max_distinct), float distinct[f][max_distinct] (ascending),
 * uint64 hash[cap], int32 heap[cap], float rows[cap][f].
 */
typedef struct GbdtSketch
{
	int32		vl_len_;
	int32		magic;
	int32		f;				/* -1 until a row with features */
	int32		k;				/* rows to keep */
	int32		cap;			/* rows there is room for (grows up to k) */
	int32		nkept;
	int32		max_distinct;	/* max_bins - 1 */
	int32		pad;
	int64		seed;
	int64		nrows;
	int64		npos;
	int64		nskipped;
	double		checksum;		/* sum of every present feature value */
	double		abs_sum;
} GbdtSketch;

extern GbdtSketch *gbdt_sketch_check(bytea *b);

/*
 * The value bins of feature j from a sketch: fills cuts (max_distinct
 * floats) and returns the number of value bins (cuts + 1).
 */
extern int	gbdt_sketch_cuts(const GbdtSketch *s, int j, float *cuts);
extern int64 gbdt_sketch_nmissing(const GbdtSketch *s, int j);

#endif							/* ECML_GBDT_PASSES_H */
