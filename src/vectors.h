/*
 * vectors.h
 *	  Packed exact similarity search: ecml.pack_vectors() stores ids and a
 *	  contiguous float32 matrix in a model of kind "vectors"
 *	  (vectors_pack.c, parsed back by vectors_model.c); ecml.search() and ecml.search_batch() scan it in
 *	  blocks (AVX2 kernels, BLIS sgemm) with bounded heaps
 *	  (vectors_search.c).
 */
#ifndef ECML_VECTORS_H
#define ECML_VECTORS_H

#include "postgres.h"

#include "model.h"
#include "options.h"

/* section tags of a vectors model */
#define VECTORS_TAG_IDS		ECML_TAG('V', 'I', 'D', 'S')	/* int64[n]: ids, strictly
																 * ascending */
#define VECTORS_TAG_MATRIX	ECML_TAG('V', 'M', 'A', 'T')	/* float32[n*d]: row i is
																 * the vector of ids[i] */
#define VECTORS_TAG_PARAMS	ECML_TAG('V', 'P', 'A', 'R')	/* int32[2]: d, metric */

/* the distance a pack ranks by; values are stored in the model */
typedef enum VectorsMetric
{
	VECTORS_METRIC_COSINE = 0,	/* 1 - cos, rows stored normalized */
	VECTORS_METRIC_INNER_PRODUCT = 1,	/* -(x . q) */
	VECTORS_METRIC_L2 = 2		/* |x - q| */
} VectorsMetric;

#define VECTORS_METRIC_DEFAULT VECTORS_METRIC_COSINE

typedef struct VectorsOptions
{
	int			metric;			/* VectorsMetric */
} VectorsOptions;

extern const char *const vectors_metric_names[];

/* What a search needs, parsed once per backend (model cache). */
typedef struct VectorsModel
{
	int			n;				/* rows */
	int			d;				/* dimensions */
	int			metric;			/* VectorsMetric */
	const int64 *ids;			/* [n], ascending */
	const float *matrix;		/* [n*d], row-major */
	float	   *norms;			/* [n]: |row| */
	float		max_norm;		/* max over rows of |row| */
} VectorsModel;

extern void *vectors_parse(const EcmlModel *model, MemoryContext mcxt);

#endif							/* ECML_VECTORS_H */
