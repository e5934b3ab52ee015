/*
 * gbdt_predict.c
 *	  Scoring with a gradient-boosted tree model: ecml.fraud_score() and
 *	  ecml.feature_importance().  The model is parsed once (model cache) into
 *	  flat 16-byte nodes, so a row costs one root-to-leaf walk per tree.
 */
#include "postgres.h"

#include <math.h>

#include "ecml.h"
#include "funcapi.h"
#include "gbdt.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"

/* ecml.fraud_score(model, features) → probability of fraud in [0, 1] */
PG_FUNCTION_INFO_V1(fraud_score);
Datum
fraud_score(PG_FUNCTION_ARGS)
{
	GbdtModel  *m = ecml_model_cached(fcinfo, 0, ECML_KIND_GBDT, gbdt_parse);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	float		stackbuf[64];
	float	   *buf = m->nfeatures <= 64 ? stackbuf : palloc(sizeof(float) * m->nfeatures);
	const float *x = gbdt_features(arr, m->nfeatures, buf);
	double		z = gbdt_margin(m, x);

	PG_RETURN_FLOAT8(1.0 / (1.0 + exp(-z)));
}

typedef struct ImportanceRow
{
	int			feature;
	double		gain;
} ImportanceRow;

static int
cmp_importance(const void *a, const void *b)
{
	const ImportanceRow *x = a;
	const ImportanceRow *y = b;

	if (x->gain != y->gain)
		return x->gain > y->gain ? -1 : 1;
	return (x->feature > y->feature) - (x->feature < y->feature);
}

/*
 * ecml.feature_importance(model) → every feature with its total split gain
 * (the loss reduction of Chen & Guestrin eq. 7) and split count, largest
 * gain first.
 */
PG_FUNCTION_INFO_V1(fraud_feature_importance);
Datum
fraud_feature_importance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GbdtModel  *m;
	ImportanceRow *rows;

	InitMaterializedSRF(fcinfo, 0);
	m = ecml_model_cached(fcinfo, 0, ECML_KIND_GBDT, gbdt_parse);
	rows = palloc(sizeof(ImportanceRow) * m->nfeatures);
	for (int j = 0; j < m->nfeatures; j++)
	{
		rows[j].feature = j;
		rows[j].gain = m->importance_gain[j];
	}
	qsort(rows, m->nfeatures, sizeof(ImportanceRow), cmp_importance);
	for (int i = 0; i < m->nfeatures; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false};
		int			j = rows[i].feature;

		values[0] = CStringGetTextDatum(m->feature_names[j]);
		values[1] = Float8GetDatum(m->importance_gain[j]);
		values[2] = Int32GetDatum(m->importance_splits[j]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
