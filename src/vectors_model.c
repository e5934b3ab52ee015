/*
 * vectors_model.c
 *	  The vectors model (a pack): the metric names it stores and the parser
 *	  that turns a pack back into a searchable VectorsModel -- ids
 *	  ascending, one contiguous float32 matrix (vectors.h has the layout).
 *	  ecml.pack_vectors writes it; ecml.search reads it through this file.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "arrays.h"
#include "distance.h"
#include "ecml.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "vectors.h"

const char *const vectors_metric_names[] = {"cosine", "inner_product", "l2", NULL};

/* "invalid ecml model: vectors <what>" (data_corrupted), model.c */
#define MODEL_CORRUPTED(what) \
	ecml_model_kind_corrupted("vectors", (what), \
							  "Pass a pack produced by ecml.pack_vectors, unmodified.")

/* Parse a validated vectors model: copy ids and matrix into mcxt. */
void *
vectors_parse(const EcmlModel *model, MemoryContext mcxt)
{
	VectorsModel *m = palloc0(sizeof(VectorsModel));
	const EcmlSection *s;
	int32		params[2];
	Size		n;
	int64	   *ids;
	float	   *matrix;

	s = ecml_model_section(model, VECTORS_TAG_PARAMS, ECML_SECTION_INT32, true);
	if (s->length != sizeof(params))
		MODEL_CORRUPTED("parameter section has the wrong length");
	memcpy(params, s->data, sizeof(params));
	if (params[0] < 1 || params[0] > ECML_VECTOR_MAX_DIM)
		MODEL_CORRUPTED("dimension out of range");
	if (params[1] < 0 || params[1] > VECTORS_METRIC_L2)
		MODEL_CORRUPTED("metric unknown");
	m->d = params[0];
	m->metric = params[1];

	s = ecml_model_section(model, VECTORS_TAG_IDS, ECML_SECTION_INT64, true);
	n = s->length / sizeof(int64);
	if (n < 1 || n > INT_MAX)
		MODEL_CORRUPTED("count out of range");
	m->n = (int) n;
	ids = ecml_section_int64s(model, VECTORS_TAG_IDS, n);
	for (Size i = 1; i < n; i++)
		if (ids[i] <= ids[i - 1])
			MODEL_CORRUPTED("ids are not strictly ascending");
	matrix = ecml_section_floats(model, VECTORS_TAG_MATRIX, n * m->d);
	/* a bytea is under 1 GB, so n * d < 2^28 fits an int */
	if (!ecml_all_finite(matrix, (int) (n * m->d)))
		MODEL_CORRUPTED("matrix holds NaN or infinite values");

	m->norms = palloc_extended(sizeof(float) * n, MCXT_ALLOC_HUGE);
	for (Size i = 0; i < n; i++)
	{
		float		nn = ecml_norm_squared_f32(matrix + i * m->d, m->d);

		if (!isfinite(nn))
			MODEL_CORRUPTED("matrix row norm overflows");
		m->norms[i] = sqrtf(nn);
		m->max_norm = Max(m->max_norm, m->norms[i]);
	}
	m->ids = ids;
	m->matrix = matrix;
	return m;
}
