/*
 * mf_model.c
 *	  The matrix factorization model: the parser that checks a model and
 *	  decodes its id arrays and factor matrices (mf.h has the layout), and
 *	  the dense solve that both training (the exact ALS step) and scoring
 *	  (fold-in of a new user) use.  Training writes the model
 *	  (mf_model_write); ecml.mf_* scorers read it through this file.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "arrays.h"
#include "distance.h"
#include "ecml.h"
#include "mf.h"
#include "miscadmin.h"
#include "utils/builtins.h"

void
mf_cholesky_solve(double *A, double *b, int d)
{
	/* A = L L' in the lower triangle (Cholesky-Banachiewicz) */
	for (int i = 0; i < d; i++)
	{
		for (int j = 0; j <= i; j++)
		{
			double		s = A[i * d + j];

			for (int k = 0; k < j; k++)
				s -= A[i * d + k] * A[j * d + k];
			if (i == j)
				A[i * d + i] = sqrt(s > 1e-12 ? s : 1e-12);
			else
				A[i * d + j] = s / A[j * d + j];
		}
	}
	/* L z = b, then L' x = z */
	for (int i = 0; i < d; i++)
	{
		double		s = b[i];

		for (int k = 0; k < i; k++)
			s -= A[i * d + k] * b[k];
		b[i] = s / A[i * d + i];
	}
	for (int i = d - 1; i >= 0; i--)
	{
		double		s = b[i];

		for (int k = i + 1; k < d; k++)
			s -= A[k * d + i] * b[k];
		b[i] = s / A[i * d + i];
	}
}

/* "invalid ecml model: mf <what>" (data_corrupted), model.c */
#define MODEL_CORRUPTED(what) \
	ecml_model_kind_corrupted("mf", (what), \
							  "Pass a model produced by ecml.mf_train, unmodified.")

static void
check_ascending(const int64 *ids, int n, const char *what)
{
	for (int i = 1; i < n; i++)
		if (ids[i] <= ids[i - 1])
			MODEL_CORRUPTED(what);
}

/* Parse a validated mf model (in mcxt): copies, checked for consistency. */
void *
mf_parse(const EcmlModel *model, MemoryContext mcxt)
{
	MfModel    *m = palloc0(sizeof(MfModel));
	int64	   *shape = ecml_section_int64s(model, MF_TAG_SHAPE, 4);
	double	   *params;
	double	   *mean;
	int			f;

	if (shape[0] < 1 || shape[0] > MF_MAX_IDS || shape[1] < 1 || shape[1] > MF_MAX_IDS ||
		shape[2] < MF_FACTORS_MIN || shape[2] > MF_FACTORS_MAX || (shape[3] & ~7) != 0)
		MODEL_CORRUPTED("shape out of range");
	m->nusers = (int) shape[0];
	m->nitems = (int) shape[1];
	m->factors = f = (int) shape[2];
	m->implicit = (shape[3] & MF_FLAG_IMPLICIT) != 0;
	m->biases = (shape[3] & MF_FLAG_BIASES) != 0;
	if (m->implicit && m->biases)
		MODEL_CORRUPTED("flags are inconsistent");

	params = ecml_section_doubles(model, MF_TAG_PARAMS, 2);
	m->regularization = params[0];
	m->alpha = params[1];
	mean = ecml_section_doubles(model, MF_TAG_GLOBAL_MEAN, 1);
	m->global_mean = mean[0];
	if (!isfinite(m->regularization) || m->regularization < 0 ||
		!isfinite(m->alpha) || m->alpha < 0 || !isfinite(m->global_mean))
		MODEL_CORRUPTED("parameters out of range");

	m->user_ids = ecml_section_int64s(model, MF_TAG_USER_IDS, m->nusers);
	m->item_ids = ecml_section_int64s(model, MF_TAG_ITEM_IDS, m->nitems);
	check_ascending(m->user_ids, m->nusers, "user ids are not ascending");
	check_ascending(m->item_ids, m->nitems, "item ids are not ascending");
	m->user_factors = ecml_section_floats(model, MF_TAG_USER_FACTORS, (Size) m->nusers * f);
	m->item_factors = ecml_section_floats(model, MF_TAG_ITEM_FACTORS, (Size) m->nitems * f);
	/* both sections are in a bytea under 1 GB: n * f < 2^28 fits an int */
	if (!ecml_all_finite(m->user_factors, (int) ((Size) m->nusers * f)) ||
		!ecml_all_finite(m->item_factors, (int) ((Size) m->nitems * f)))
		MODEL_CORRUPTED("factors are not finite");
	if (m->biases)
	{
		m->user_bias = ecml_section_floats(model, MF_TAG_USER_BIAS, m->nusers);
		m->item_bias = ecml_section_floats(model, MF_TAG_ITEM_BIAS, m->nitems);
		if (!ecml_all_finite(m->user_bias, m->nusers) ||
			!ecml_all_finite(m->item_bias, m->nitems))
			MODEL_CORRUPTED("biases are not finite");
	}
	m->gram = ecml_section_floats(model, MF_TAG_GRAM, (Size) f * f);
	if (!ecml_all_finite(m->gram, f * f))
		MODEL_CORRUPTED("Gram matrix is not finite");

	if (shape[3] & MF_FLAG_SEEN)
	{
		const EcmlSection *s;
		int64		nnz;

		m->seen_ptr = ecml_section_int64s(model, MF_TAG_SEEN_PTR, m->nusers + 1);
		nnz = m->seen_ptr[m->nusers];
		if (m->seen_ptr[0] != 0)
			MODEL_CORRUPTED("interactions are inconsistent");
		for (int u = 0; u < m->nusers; u++)
			if (m->seen_ptr[u + 1] < m->seen_ptr[u])
				MODEL_CORRUPTED("interactions are inconsistent");
		s = ecml_model_section(model, MF_TAG_SEEN_IDX, ECML_SECTION_INT32, true);
		/* divide, don't multiply: a huge nnz would wrap nnz * 4 to the length */
		if ((Size) nnz != s->length / sizeof(int32))
			MODEL_CORRUPTED("interaction count does not match");
		m->seen_idx = palloc_extended(sizeof(int32) * Max(nnz, 1), MCXT_ALLOC_HUGE);
		memcpy(m->seen_idx, s->data, s->length);
		for (int u = 0; u < m->nusers; u++)
		{
			if ((u & 0xffff) == 0)
				CHECK_FOR_INTERRUPTS();
			for (int64 e = m->seen_ptr[u]; e < m->seen_ptr[u + 1]; e++)
				if (m->seen_idx[e] < 0 || m->seen_idx[e] >= m->nitems ||
					(e > m->seen_ptr[u] && m->seen_idx[e] <= m->seen_idx[e - 1]))
					MODEL_CORRUPTED("interactions are inconsistent");
		}
	}

	m->item_norm = palloc_extended(sizeof(float) * m->nitems, MCXT_ALLOC_HUGE);
	for (int i = 0; i < m->nitems; i++)
	{
		const float *y = m->item_factors + (Size) i * f;

		m->item_norm[i] = sqrtf(ecml_inner_product_f32(y, y, f));
	}
	return m;
}
