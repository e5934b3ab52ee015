/*
 * text_wv_model.c
 *	  Writing a word_vectors model (text.h has the sections), for the two
 *	  ways of making one: training (text_w2v_train.c) and loading
 *	  pretrained rows (text_wv_load.c); and the first principal component
 *	  that embed_text removes (Arora, Liang, Ma 2017, algorithm 1).
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "text.h"

#define POWER_ITERATIONS 100
/* rows the component is estimated from, evenly spaced: O(rows * dim^2) */
#define COMPONENT_ROWS 50000

/*
 * u (dim) = the leading eigenvector of the symmetric (dim, dim) matrix c,
 * by power iteration.  A fixed start (all ones) keeps it deterministic; the
 * sign is chosen so that the largest coordinate is positive.  A zero matrix
 * leaves u at zero.
 */
void
text_leading_eigenvector(const double *c, int dim, float *u)
{
	double	   *v = palloc(sizeof(double) * dim);
	double	   *w = palloc(sizeof(double) * dim);
	double		norm = 0.0;
	int			imax = 0;

	for (int i = 0; i < dim; i++)
		v[i] = 1.0 / sqrt((double) dim);
	for (int it = 0; it < POWER_ITERATIONS; it++)
	{
		CHECK_FOR_INTERRUPTS();
		norm = 0.0;
		for (int i = 0; i < dim; i++)
		{
			double		s = 0.0;

			for (int j = 0; j < dim; j++)
				s += c[(size_t) i * dim + j] * v[j];
			w[i] = s;
			norm += s * s;
		}
		norm = sqrt(norm);
		if (norm == 0.0 || !isfinite(norm))
			break;
		for (int i = 0; i < dim; i++)
			v[i] = w[i] / norm;
	}
	if (norm == 0.0 || !isfinite(norm))
	{
		memset(u, 0, sizeof(float) * dim);
		return;
	}
	for (int i = 1; i < dim; i++)
		if (fabs(v[i]) > fabs(v[imax]))
			imax = i;
	for (int i = 0; i < dim; i++)
		u[i] = (float) (v[imax] < 0 ? -v[i] : v[i]);
	pfree(v);
	pfree(w);
}

/*
 * u (dim) = the leading eigenvector of X^T X for x (n, dim), accumulated in
 * double.  Zero rows leave u at zero.  Past COMPONENT_ROWS rows every
 * step-th row is used.
 */
void
text_first_component(const float *x, int64 n, int dim, float *u)
{
	double	   *c = palloc0(sizeof(double) * dim * dim);
	int64		step = (n + COMPONENT_ROWS - 1) / COMPONENT_ROWS;

	for (int64 r = 0; r < n; r += Max(step, 1))
	{
		const float *xr = x + (size_t) r * dim;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < dim; i++)
		{
			double		xi = xr[i];

			if (xi == 0.0)
				continue;
			for (int j = 0; j < dim; j++)
				c[(size_t) i * dim + j] += xi * xr[j];
		}
	}
	text_leading_eigenvector(c, dim, u);
	pfree(c);
}

bytea *
word_vectors_build(char **words, int V, int dim, const int64 *counts,
				   const float *vectors, int minn, int maxn, int buckets,
				   const int32 *ngram_ids, int nngrams, const float *ngram_vecs,
				   double sif_a, const float *common, const char *hyper_json,
				   const char *metrics_json, int64 rows_seen, int64 rows_skipped)
{
	EcmlModelBuilder b;
	int32		shape[8] = {V, dim, minn, maxn, buckets, nngrams, counts != NULL, 0};
	double		params[2] = {sif_a, 0.0};
	float	   *pc = palloc0(sizeof(float) * dim);
	StringInfoData info;

	if (counts)
		for (int i = 0; i < V; i++)
			params[1] += (double) counts[i];
	else
		params[1] = V;

	if (common)
		memcpy(pc, common, sizeof(float) * dim);
	else
		text_first_component(vectors, V, dim, pc);

	ecml_builder_init(&b, ECML_KIND_WORDVEC);
	if (hyper_json)
		ecml_builder_add_json(&b, ECML_TAG_HYPERPARAMS, hyper_json);
	initStringInfo(&info);
	appendStringInfo(&info,
					 "{\"words\": %d, \"dim\": %d, \"subwords\": %s, \"minn\": %d, "
					 "\"maxn\": %d, \"buckets\": %d, \"ngrams_stored\": %d, "
					 "\"counts\": %s, \"sif_a\": %g}",
					 V, dim, maxn > 0 ? "true" : "false", minn, maxn, buckets,
					 nngrams, counts ? "true" : "false", sif_a);
	ecml_builder_add_json(&b, ECML_TAG_INFO, info.data);
	if (metrics_json)
		ecml_builder_add_json(&b, ECML_TAG_METRICS, metrics_json);
	ecml_builder_add(&b, WV_TAG_SHAPE, ECML_SECTION_INT32, shape, sizeof(shape));
	ecml_builder_add_texts(&b, WV_TAG_VOCAB, words, V);
	if (counts)
		ecml_builder_add(&b, WV_TAG_COUNTS, ECML_SECTION_INT64, counts, sizeof(int64) * V);
	ecml_builder_add(&b, WV_TAG_VECTORS, ECML_SECTION_FLOAT32, vectors,
					 sizeof(float) * (Size) V * dim);
	if (nngrams > 0)
	{
		ecml_builder_add(&b, WV_TAG_NGRAM_IDS, ECML_SECTION_INT32, ngram_ids,
						 sizeof(int32) * nngrams);
		ecml_builder_add(&b, WV_TAG_NGRAM_VECS, ECML_SECTION_FLOAT32, ngram_vecs,
						 sizeof(float) * (Size) nngrams * dim);
	}
	ecml_builder_add(&b, WV_TAG_PARAMS, ECML_SECTION_FLOAT64, params, sizeof(params));
	ecml_builder_add(&b, WV_TAG_COMMON, ECML_SECTION_FLOAT32, pc, sizeof(float) * dim);
	return ecml_builder_finish(&b, rows_seen, rows_skipped);
}
