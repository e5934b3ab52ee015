/*
 * logreg_predict.c
 *	  Scoring with a logistic regression model: ecml.logreg_predict() and
 *	  ecml.logreg_coefficients().  The model is parsed once (model cache)
 *	  into weights in the features' original units, so a row costs one dot
 *	  product.
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "ecml.h"
#include "funcapi.h"
#include "logreg.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "distance.h"

/* Parse a validated logreg model into original-unit weights (in mcxt). */
void *
logreg_parse(const EcmlModel *model, MemoryContext mcxt)
{
	LogregModel *m = palloc0(sizeof(LogregModel));
	const EcmlSection *s = ecml_model_section(model, LOGREG_TAG_MEAN, ECML_SECTION_FLOAT64, true);
	double	   *mean;
	double	   *scale;
	double	   *coef;
	char	  **names;
	int			nnames;
	int			f;

	if (s->length / sizeof(double) > LOGREG_MAX_FEATURES || s->length == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid ecml model: logreg feature count %zu out of range",
						s->length / sizeof(double))));
	f = (int) (s->length / sizeof(double));
	mean = ecml_section_doubles(model, LOGREG_TAG_MEAN, f);
	scale = ecml_section_doubles(model, LOGREG_TAG_SCALE, f);
	coef = ecml_section_doubles(model, LOGREG_TAG_COEF, f + 1);
	m->stderrs = ecml_section_doubles(model, LOGREG_TAG_STDERR, f + 1);
	m->nfeatures = f;
	m->weights = palloc(sizeof(double) * f);
	m->weights_f32 = palloc(sizeof(float) * f);
	m->intercept = coef[0];
	for (int j = 0; j < f; j++)
	{
		if (!(scale[j] > 0) || !isfinite(scale[j]) || !isfinite(mean[j]) ||
			!isfinite(coef[j + 1]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid ecml model: logreg weight or scale %d is not finite", j + 1)));
		/* x~ = (x - m) / s, so beta~ . x~ = (beta~ / s) . x - beta~ . m / s */
		m->weights[j] = coef[j + 1] / scale[j];
		m->intercept -= coef[j + 1] * mean[j] / scale[j];
		m->weights_f32[j] = (float) m->weights[j];
	}
	s = ecml_model_section(model, LOGREG_TAG_FLAGS, ECML_SECTION_INT32, true);
	if (s->length != sizeof(int32))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid ecml model: logreg flags section has the wrong length")));
	m->fit_intercept = (s->data[0] & 1) != 0;

	names = ecml_section_texts(model, ECML_TAG_FEATURE_NAMES, &nnames);
	if (names != NULL && nnames != f)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid ecml model: %d feature names for %d features", nnames, f)));
	if (names == NULL)
	{
		names = palloc(sizeof(char *) * f);
		for (int j = 0; j < f; j++)
			names[j] = psprintf("x%d", j + 1);
	}
	m->feature_names = names;
	return m;
}

static inline double
logreg_margin(const LogregModel *m, const float *x)
{
	return m->intercept + ecml_inner_product_f32(m->weights_f32, x, m->nfeatures);
}

/* ecml.logreg_predict(model, features) → probability of the positive class */
PG_FUNCTION_INFO_V1(logreg_predict);
Datum
logreg_predict(PG_FUNCTION_ARGS)
{
	LogregModel *m = ecml_model_cached(fcinfo, 0, ECML_KIND_LOGREG, logreg_parse);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	float	   *x = ecml_array_float4_unchecked(arr, "feature vector", m->nfeatures, NULL);
	double		z = logreg_margin(m, x);

	/* a NaN or infinite feature always shows in the margin */
	if (!isfinite(z))
		ecml_check_finite(x, m->nfeatures, "feature vector", false);
	PG_RETURN_FLOAT8(1.0 / (1.0 + exp(-z)));
}

/*
 * ecml.logreg_coefficients(model) → the fitted coefficients in original
 * units, intercept first, with standard errors, z, p-values, odds ratios.
 */
PG_FUNCTION_INFO_V1(logreg_coefficients);
Datum
logreg_coefficients(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LogregModel *m;

	InitMaterializedSRF(fcinfo, 0);
	m = ecml_model_cached(fcinfo, 0, ECML_KIND_LOGREG, logreg_parse);

	for (int j = -1; j < m->nfeatures; j++)
	{
		Datum		values[6];
		bool		nulls[6] = {false};
		double		coef = j < 0 ? m->intercept : m->weights[j];
		double		se = m->stderrs[j + 1];

		if (j < 0 && !m->fit_intercept)
			continue;
		values[0] = CStringGetTextDatum(j < 0 ? "(intercept)" : m->feature_names[j]);
		values[1] = Float8GetDatum(coef);
		if (isnan(se) || se <= 0)
		{
			nulls[2] = nulls[3] = nulls[4] = true;
		}
		else
		{
			double		z = coef / se;

			values[2] = Float8GetDatum(se);
			values[3] = Float8GetDatum(z);
			/* two-sided p-value under the normal approximation (Wald test) */
			values[4] = Float8GetDatum(erfc(fabs(z) / M_SQRT2));
		}
		values[5] = Float8GetDatum(exp(coef));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
