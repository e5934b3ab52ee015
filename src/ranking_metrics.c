/*
 * ranking_metrics.c
 *	  Metrics of a recommendation list against the items that turned out
 *	  relevant: precision, recall, nDCG and hit rate at k over bigint[]
 *	  arrays, and the root mean squared error aggregate for ratings.
 *
 * recommended is a ranked list, best first; only its first k elements
 * count, and an id repeated within them counts once (at its first rank).
 * relevant is a set: order and repeats do not matter.
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "catalog/pg_type.h"
#include "ecml.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"

typedef struct RankingCounts
{
	int			nrelevant;		/* distinct relevant ids */
	int			hits;			/* distinct relevant ids in the top k */
	double		dcg;			/* sum over hits of 1 / log2(rank + 1) */
	int			k;
} RankingCounts;

static void
ranking_counts(FunctionCallInfo fcinfo, RankingCounts *rc)
{
	int			nrec;
	int			nrel;
	int64	   *rec = ecml_array_int8(PG_GETARG_ARRAYTYPE_P(0), "recommended", -1, &nrec);
	int64	   *rel = ecml_array_int8(PG_GETARG_ARRAYTYPE_P(1), "relevant", -1, &nrel);
	int			k = PG_GETARG_INT32(2);
	int64	   *set;
	bool	   *used;
	int			m = 0;
	int			top;

	if (k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be positive, got %d", k)));
	set = palloc(sizeof(int64) * Max(nrel, 1));
	memcpy(set, rel, sizeof(int64) * nrel);
	qsort(set, nrel, sizeof(int64), ecml_int64_cmp);
	for (int j = 0; j < nrel; j++)
		if (m == 0 || set[j] != set[m - 1])
			set[m++] = set[j];
	used = palloc0(sizeof(bool) * Max(m, 1));

	rc->k = k;
	rc->nrelevant = m;
	rc->hits = 0;
	rc->dcg = 0.0;
	top = Min(k, nrec);
	for (int r = 0; r < top; r++)
	{
		int			pos = ecml_find_int64(set, m, rec[r]);

		if (pos < 0 || used[pos])
			continue;
		used[pos] = true;
		rc->hits++;
		rc->dcg += 1.0 / log2(r + 2.0);
	}
}

/* ecml.precision_at_k(recommended, relevant, k) → hits in the top k / k */
PG_FUNCTION_INFO_V1(ecml_precision_at_k);
Datum
ecml_precision_at_k(PG_FUNCTION_ARGS)
{
	RankingCounts rc;

	ranking_counts(fcinfo, &rc);
	PG_RETURN_FLOAT8((double) rc.hits / rc.k);
}

/* ecml.recall_at_k(recommended, relevant, k) → hits in the top k / relevant; NULL without relevant ids */
PG_FUNCTION_INFO_V1(ecml_recall_at_k);
Datum
ecml_recall_at_k(PG_FUNCTION_ARGS)
{
	RankingCounts rc;

	ranking_counts(fcinfo, &rc);
	if (rc.nrelevant == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((double) rc.hits / rc.nrelevant);
}

/*
 * ecml.ndcg_at_k(recommended, relevant, k) → DCG / ideal DCG with binary
 * relevance (Jarvelin & Kekalainen 2002): a hit at rank r gains
 * 1 / log2(r + 1); the ideal list puts min(k, |relevant|) hits first.
 * NULL without relevant ids.
 */
PG_FUNCTION_INFO_V1(ecml_ndcg_at_k);
Datum
ecml_ndcg_at_k(PG_FUNCTION_ARGS)
{
	RankingCounts rc;
	double		idcg = 0.0;
	int			ideal;

	ranking_counts(fcinfo, &rc);
	if (rc.nrelevant == 0)
		PG_RETURN_NULL();
	ideal = Min(rc.k, rc.nrelevant);
	for (int r = 0; r < ideal; r++)
		idcg += 1.0 / log2(r + 2.0);
	PG_RETURN_FLOAT8(rc.dcg / idcg);
}

/* ecml.hit_rate_at_k(recommended, relevant, k) → 1 if any relevant id is in the top k, else 0 */
PG_FUNCTION_INFO_V1(ecml_hit_rate_at_k);
Datum
ecml_hit_rate_at_k(PG_FUNCTION_ARGS)
{
	RankingCounts rc;

	ranking_counts(fcinfo, &rc);
	PG_RETURN_FLOAT8(rc.hits > 0 ? 1.0 : 0.0);
}

/* ---- ecml.rmse(prediction, actual): state float8[3] {n, sum, compensation} ---- */

#define RMSE_STATE_LEN 3

static double *
rmse_state(ArrayType *state)
{
	double	   *s;

	if (ARR_NDIM(state) != 1 || ARR_DIMS(state)[0] != RMSE_STATE_LEN ||
		ARR_HASNULL(state) || ARR_ELEMTYPE(state) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid ecml.rmse state"),
				 errdetail("The state must be a one-dimensional float8[] of 3 elements without NULLs.")));
	s = (double *) ARR_DATA_PTR(state);
	/* only a direct call with a made-up array gets here with these */
	if (!isfinite(s[0]) || !isfinite(s[1] + s[2]) || s[0] < 0 || s[1] < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid ecml.rmse state"),
				 errdetail("The count and the sum of squares must be finite and not negative.")));
	return s;
}

/* in an aggregate the state is ours to change in place; called directly, a copy */
static ArrayType *
rmse_writable_state(FunctionCallInfo fcinfo)
{
	return (ArrayType *) ecml_agg_writable_arg(fcinfo, 0);
}

/* compensated (Neumaier) summation: sum + comp carries the lost low bits */
static inline void
rmse_add(double *sum, double *comp, double x)
{
	double		t = *sum + x;

	if (fabs(*sum) >= fabs(x))
		*comp += (*sum - t) + x;
	else
		*comp += (x - t) + *sum;
	*sum = t;
}

/* ecml.rmse_transfn(float8[], float8, float8) → float8[]: add one squared error */
PG_FUNCTION_INFO_V1(ecml_rmse_transfn);
Datum
ecml_rmse_transfn(PG_FUNCTION_ARGS)
{
	ArrayType  *state = rmse_writable_state(fcinfo);
	double	   *s = rmse_state(state);
	double		p = PG_GETARG_FLOAT8(1);
	double		a = PG_GETARG_FLOAT8(2);

	if (!isfinite(p) || !isfinite(a))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("ecml.rmse: %s is %s", isfinite(p) ? "actual value" : "prediction",
						float8out_internal(isfinite(p) ? a : p)),
				 errhint("Filter out rows with NaN or infinite values.")));
	s[0] += 1.0;
	rmse_add(&s[1], &s[2], (p - a) * (p - a));
	/* as float8 arithmetic does: an overflow is an error, not Infinity */
	if (!isfinite(s[1]))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ecml.rmse: the sum of squared errors overflows double precision"),
				 errhint("Scale the predictions and actual values down.")));
	PG_RETURN_ARRAYTYPE_P(state);
}

/* ecml.rmse_combinefn(float8[], float8[]) → float8[]: add two partial states */
PG_FUNCTION_INFO_V1(ecml_rmse_combinefn);
Datum
ecml_rmse_combinefn(PG_FUNCTION_ARGS)
{
	ArrayType  *state = rmse_writable_state(fcinfo);
	double	   *s1 = rmse_state(state);
	double	   *s2 = rmse_state(PG_GETARG_ARRAYTYPE_P(1));

	s1[0] += s2[0];
	rmse_add(&s1[1], &s1[2], s2[1]);
	s1[2] += s2[2];
	if (!isfinite(s1[1]))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ecml.rmse: the sum of squared errors overflows double precision"),
				 errhint("Scale the predictions and actual values down.")));
	PG_RETURN_ARRAYTYPE_P(state);
}

/* ecml.rmse_finalfn(float8[]) → float8: sqrt(mean squared error); NULL without rows */
PG_FUNCTION_INFO_V1(ecml_rmse_finalfn);
Datum
ecml_rmse_finalfn(PG_FUNCTION_ARGS)
{
	double	   *s = rmse_state(PG_GETARG_ARRAYTYPE_P(0));

	if (s[0] == 0.0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(sqrt(Max(0.0, (s[1] + s[2]) / s[0])));
}
