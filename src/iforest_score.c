/*
 * iforest_score.c
 *	  ecml.anomaly_score(model, features): the isolation forest's anomaly
 *	  score s(x, psi) = 2^(-E[h(x)] / c(psi)) (Liu, Ting & Zhou 2008, eq. 2),
 *	  where h(x) is the path length of x in one tree, leaves adding c(size)
 *	  for the rows the height limit left unisolated.  Near 1: an anomaly;
 *	  well below 0.5: a normal row.  The model is parsed once (model cache)
 *	  into one array of 12-byte nodes.
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "ecml.h"
#include "iforest.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/float.h"

/*
 * E[h(x)]: the mean path length of x over the trees.  Level by level over
 * all trees rather than tree by tree: the walks are independent, so their
 * node loads overlap instead of waiting on each other.  x must be finite.
 */
static double
iforest_mean_path(const IForestModel *m, const float *x)
{
	const IForestNode *nodes = m->nodes;
	int32	   *at = m->at;
	int			ntrees = m->ntrees;
	double		sum = 0.0;

	memcpy(at, m->roots, sizeof(int32) * ntrees);
	for (int level = 0; level < m->height_limit; level++)
		for (int t = 0; t < ntrees; t++)
		{
			const IForestNode *nd = &nodes[at[t]];

			at[t] = nd->left + !(x[nd->feature] < nd->value);
		}
	for (int t = 0; t < ntrees; t++)
		sum += m->path[at[t]];
	return sum / ntrees;
}

/* ecml.anomaly_score(model, features) → s in (0, 1]: near 1 is an anomaly */
PG_FUNCTION_INFO_V1(anomaly_score);
Datum
anomaly_score(PG_FUNCTION_ARGS)
{
	IForestModel *m = ecml_model_cached(fcinfo, 0, ECML_KIND_IFOREST, iforest_parse);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);

	/* NaN has no side of a split: an error, as in training */
	float	   *x = ecml_array_float4(arr, "feature vector", m->nfeatures, NULL, false);

	PG_RETURN_FLOAT8(pow(2.0, -iforest_mean_path(m, x) / m->cpsi));
}
