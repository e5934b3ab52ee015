/*
 * mf_recommend.c
 *	  Using a matrix factorization model: recommendations for a user, for
 *	  every user (the nightly batch), for a fold-in vector; similar items;
 *	  predicted scores; fold-in of a new user's events; factor export.
 *
 * The model is parsed once per backend (model cache) into its id arrays
 * and factor matrices.  A parsed model is only guaranteed to live until
 * the current call returns, so the set-returning functions materialize
 * their whole result in one call.  All top-k selections use the shared
 * heap (ties broken by the smaller id).
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "access/xact.h"
#include "arrays.h"
#include "blas.h"
#include "catalog/pg_type.h"
#include "ecml.h"
#include "funcapi.h"
#include "mf.h"
#include "miscadmin.h"
#include "topk.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "distance.h"
#include "vecops.h"

/* sgemm blocks of mf_recommend_all */
#define MF_USER_BLOCK 256
#define MF_ITEM_BLOCK 2048
#define MF_HEAP_BUDGET (4 * 1024 * 1024)	/* pairs held by one block's heaps */

static MfModel *
get_model(FunctionCallInfo fcinfo)
{
	return (MfModel *) ecml_model_cached(fcinfo, 0, ECML_KIND_MF, mf_parse);
}

/* k must be positive; more than there are items returns every item */
static int
check_k(int k, int limit)
{
	if (k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be positive, got %d", k)));
	return Min(k, limit);
}

static void
check_seen_stored(const MfModel *m)
{
	if (m->seen_ptr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model does not store its training interactions, so seen items cannot be excluded"),
				 errhint("Pass exclude_seen => false, or retrain with '{\"store_interactions\": true}'.")));
}

/* user vector length of a model: factors, then the user bias if any */
static inline int
user_dims(const MfModel *m)
{
	return m->factors + (m->biases ? 1 : 0);
}

/*
 * scores (nitems) = Y x + (biases: mu + b_u + b_i); x holds the factors,
 * then the user bias when the model has biases.  Y x is the search scan's
 * kernel (four rows at a time, at memory bandwidth), which does not depend
 * on which BLIS kernel set the machine's CPU is recognised as.
 */
static void
mf_item_scores(const MfModel *m, const float *x, float *scores)
{
	ecml_inner_products_f32(m->item_factors, m->nitems, m->factors, x, scores);
	if (m->biases)
	{
		float		base = (float) (m->global_mean + x[m->factors]);

		for (int i = 0; i < m->nitems; i++)
			scores[i] += base + m->item_bias[i];
	}
}

/*
 * Best k of scores, skipping the item indices in skip[0..nskip) (ascending).
 * The heap ranks by -score, ties by item id.  Most items fail the bound
 * test, so the skip list is only searched for the few that pass.
 */
static void
mf_select(const MfModel *m, const float *scores, const int32 *skip, int64 nskip,
		  EcmlTopK *heap)
{
	float		bound = ecml_topk_bound(heap);

	for (int i = 0; i < m->nitems; i++)
	{
		float		key = -scores[i];

		if (key > bound)
			continue;
		if (nskip > 0 && ecml_find_int32(skip, nskip, i) >= 0)
			continue;
		ecml_topk_push(heap, key, m->item_ids[i]);
		bound = ecml_topk_bound(heap);
	}
}

static void
emit_topk(ReturnSetInfo *rsinfo, EcmlTopK *heap)
{
	int			n = ecml_topk_sort(heap);

	for (int j = 0; j < n; j++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int64GetDatum(heap->id[j]);
		values[1] = Float4GetDatum(-heap->key[j]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* A user the model does not know: say once per statement how to serve them. */
static void
notice_unknown_user(int64 user_id)
{
	static TimestampTz last = 0;
	TimestampTz now = GetCurrentStatementStartTimestamp();

	if (now == last)
		return;
	last = now;
	ereport(NOTICE,
			(errmsg("user " INT64_FORMAT " is not in the model; no recommendations", user_id),
			 errhint("Recommend for a new user from their events with ecml.mf_recommend_vector(model, ecml.mf_fold_in(model, item_ids, values), k).")));
}

/* the user's vector (factors, then bias) into x */
static void
user_vector(const MfModel *m, int u, float *x)
{
	memcpy(x, m->user_factors + (Size) u * m->factors, sizeof(float) * m->factors);
	if (m->biases)
		x[m->factors] = m->user_bias[u];
}

/* ecml.mf_recommend(model, user_id, k, exclude_seen) → the user's top k items */
PG_FUNCTION_INFO_V1(mf_recommend);
Datum
mf_recommend(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MfModel    *m;
	int64		user_id = PG_GETARG_INT64(1);
	int			k = PG_GETARG_INT32(2);
	bool		exclude_seen = PG_NARGS() > 3 ? PG_GETARG_BOOL(3) : true;
	int			u;
	float	   *x;
	float	   *scores;
	EcmlTopK	heap;

	InitMaterializedSRF(fcinfo, 0);
	m = get_model(fcinfo);
	k = check_k(k, m->nitems);
	if (exclude_seen)
		check_seen_stored(m);
	u = ecml_find_int64(m->user_ids, m->nusers, user_id);
	if (u < 0)
	{
		notice_unknown_user(user_id);
		return (Datum) 0;
	}
	x = palloc(sizeof(float) * user_dims(m));
	user_vector(m, u, x);
	scores = palloc_extended(sizeof(float) * m->nitems, MCXT_ALLOC_HUGE);
	mf_item_scores(m, x, scores);
	ecml_topk_init(&heap, k);
	if (exclude_seen)
		mf_select(m, scores, m->seen_idx + m->seen_ptr[u],
				  m->seen_ptr[u + 1] - m->seen_ptr[u], &heap);
	else
		mf_select(m, scores, NULL, 0, &heap);
	emit_topk(rsinfo, &heap);
	return (Datum) 0;
}

/* S (bu,bi) = X[u0..] (bu,f) . Y[i0..]' (f,bi), plus the biases if any. */
static void
score_block(const MfModel *m, int u0, int bu, int i0, int bi, float *S)
{
	int			f = m->factors;

	ecml_sgemm(false, true, bu, bi, f, 1.0f,
			   m->user_factors + (Size) u0 * f, f,
			   m->item_factors + (Size) i0 * f, f, 0.0f, S, bi);
	if (!m->biases)
		return;
	for (int b = 0; b < bu; b++)
	{
		float	   *row = S + (Size) b * bi;
		float		base = (float) (m->global_mean + m->user_bias[u0 + b]);

		for (int j = 0; j < bi; j++)
			row[j] += base + m->item_bias[i0 + j];
	}
}

/* User u's scores of items i0 .. i0+bi into its heap, seen items left out. */
static void
offer_block(const MfModel *m, int u, const float *row, int i0, int bi,
			bool exclude_seen, EcmlTopK *heap)
{
	const int32 *seen = exclude_seen ? m->seen_idx + m->seen_ptr[u] : NULL;
	int64		nseen = exclude_seen ? m->seen_ptr[u + 1] - m->seen_ptr[u] : 0;
	float		bound = ecml_topk_bound(heap);

	for (int j = 0; j < bi; j++)
	{
		float		key = -row[j];

		/* most candidates stop here, before the seen list */
		if (key > bound)
			continue;
		if (nseen > 0 && ecml_find_int32(seen, nseen, i0 + j) >= 0)
			continue;
		ecml_topk_push(heap, key, m->item_ids[i0 + j]);
		bound = ecml_topk_bound(heap);
	}
}

/* One user's top k as (user_id, item_id, rank, score) rows, best first. */
static void
emit_user_topk(ReturnSetInfo *rsinfo, int64 user_id, EcmlTopK *heap)
{
	int			n = ecml_topk_sort(heap);

	for (int j = 0; j < n; j++)
	{
		Datum		values[4];
		bool		nulls[4];

		memset(nulls, 0, sizeof(nulls));
		values[0] = Int64GetDatum(user_id);
		values[1] = Int64GetDatum(heap->id[j]);
		values[2] = Int32GetDatum(j + 1);
		values[3] = Float4GetDatum(-heap->key[j]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * ecml.mf_recommend_all(model, k, exclude_seen) → the top k items of every
 * user: scores of a block of users against a block of items by one sgemm,
 * then pushed into a bounded heap per user; never a users x items matrix.
 */
PG_FUNCTION_INFO_V1(mf_recommend_all);
Datum
mf_recommend_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MfModel    *m;
	int			k = PG_GETARG_INT32(1);
	bool		exclude_seen = PG_NARGS() > 2 ? PG_GETARG_BOOL(2) : true;
	int			ublock;
	int			iblock;
	float	   *S;
	EcmlTopK   *heaps;

	InitMaterializedSRF(fcinfo, 0);
	m = get_model(fcinfo);
	k = check_k(k, m->nitems);
	if (exclude_seen)
		check_seen_stored(m);
	ublock = Max(1, Min(MF_USER_BLOCK, MF_HEAP_BUDGET / k));
	iblock = Min(MF_ITEM_BLOCK, m->nitems);
	S = palloc(sizeof(float) * (Size) ublock * iblock);
	heaps = palloc(sizeof(EcmlTopK) * ublock);
	for (int b = 0; b < ublock; b++)
		ecml_topk_init(&heaps[b], k);
	ecml_blas_prepare();

	for (int u0 = 0; u0 < m->nusers; u0 += ublock)
	{
		int			bu = Min(ublock, m->nusers - u0);

		for (int b = 0; b < bu; b++)
			ecml_topk_reset(&heaps[b]);
		for (int i0 = 0; i0 < m->nitems; i0 += iblock)
		{
			int			bi = Min(iblock, m->nitems - i0);

			CHECK_FOR_INTERRUPTS();
			score_block(m, u0, bu, i0, bi, S);
			for (int b = 0; b < bu; b++)
				offer_block(m, u0 + b, S + (Size) b * bi, i0, bi, exclude_seen, &heaps[b]);
		}
		for (int b = 0; b < bu; b++)
			emit_user_topk(rsinfo, m->user_ids[u0 + b], &heaps[b]);
	}
	return (Datum) 0;
}

/* ecml.mf_similar_items(model, item_id, k) → the k items of most similar factors (cosine) */
PG_FUNCTION_INFO_V1(mf_similar_items);
Datum
mf_similar_items(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MfModel    *m;
	int64		item_id = PG_GETARG_INT64(1);
	int			k = PG_GETARG_INT32(2);
	int			i;
	float	   *scores;
	float		qnorm;
	EcmlTopK	heap;
	int32		self[1];

	InitMaterializedSRF(fcinfo, 0);
	m = get_model(fcinfo);
	k = check_k(k, m->nitems);
	i = ecml_find_int64(m->item_ids, m->nitems, item_id);
	if (i < 0)
		return (Datum) 0;
	scores = palloc_extended(sizeof(float) * m->nitems, MCXT_ALLOC_HUGE);
	ecml_inner_products_f32(m->item_factors, m->nitems, m->factors,
							m->item_factors + (Size) i * m->factors, scores);
	qnorm = m->item_norm[i];
	for (int j = 0; j < m->nitems; j++)
	{
		float		den = qnorm * m->item_norm[j];

		/* an all-zero factor vector is similar to nothing */
		scores[j] = den > 0 ? scores[j] / den : 0.0f;
	}
	ecml_topk_init(&heap, k);
	self[0] = i;
	mf_select(m, scores, self, 1, &heap);
	emit_topk(rsinfo, &heap);
	return (Datum) 0;
}

/* ecml.mf_predict(model, user_id, item_id) → predicted score; NULL for an unknown id */
PG_FUNCTION_INFO_V1(mf_predict);
Datum
mf_predict(PG_FUNCTION_ARGS)
{
	MfModel    *m = get_model(fcinfo);
	int			u = ecml_find_int64(m->user_ids, m->nusers, PG_GETARG_INT64(1));
	int			i = ecml_find_int64(m->item_ids, m->nitems, PG_GETARG_INT64(2));
	float		s;

	if (u < 0 || i < 0)
		PG_RETURN_NULL();
	s = ecml_inner_product_f32(m->user_factors + (Size) u * m->factors,
					 m->item_factors + (Size) i * m->factors, m->factors);
	if (m->biases)
		s += (float) (m->global_mean + m->user_bias[u] + m->item_bias[i]);
	PG_RETURN_FLOAT4(s);
}

typedef struct FoldEvent
{
	int32		item;
	float		value;
} FoldEvent;

static int
cmp_fold_event(const void *a, const void *b)
{
	int32		x = ((const FoldEvent *) a)->item;
	int32		y = ((const FoldEvent *) b)->item;

	return (x > y) - (x < y);
}

/*
 * The known items of the events as (item index, value), sorted, duplicates
 * summed as in training; their number (0 when no item is known).
 */
static int
fold_events(const MfModel *m, const int64 *ids, const float *vals, int n, FoldEvent *ev)
{
	int			ne = 0;
	int			nk = 0;

	for (int j = 0; j < n; j++)
	{
		int			i;

		if (m->implicit && vals[j] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("values element %d is negative (%g); the model is implicit", j + 1, vals[j]),
					 errhint("Implicit feedback values must be at least 0, as in training.")));
		i = ecml_find_int64(m->item_ids, m->nitems, ids[j]);
		if (i < 0)
			continue;
		ev[ne].item = i;
		ev[ne].value = vals[j];
		ne++;
	}
	qsort(ev, ne, sizeof(FoldEvent), cmp_fold_event);
	for (int j = 0; j < ne;)
	{
		int32		item = ev[j].item;
		double		sum = 0.0;

		for (; j < ne && ev[j].item == item; j++)
			sum += ev[j].value;
		ev[nk].item = item;
		ev[nk].value = (float) sum;
		nk++;
	}
	return nk;
}

/*
 * The user's normal equations A x = b (lower triangle of A, d x d) over nk
 * events, as one training sweep builds them.
 */
static void
fold_normal_equations(const MfModel *m, const FoldEvent *ev, int nk, int d,
					  double *A, double *b)
{
	int			f = m->factors;
	double		lambda = m->implicit ? m->regularization : m->regularization * nk;

	for (int a = 0; a < d; a++)
		A[a * d + a] = lambda;
	if (m->implicit)
		for (int a = 0; a < f; a++)
			for (int c = 0; c <= a; c++)
				A[a * d + c] += m->gram[(Size) a * f + c];
	/* each event costs f^2 / 2 with f up to the model's 1024 factors */
	for (int j = 0; j < nk; j++)
	{
		const float *y = m->item_factors + (Size) ev[j].item * f;
		double		r = ev[j].value;
		double		w;
		double		t;

		CHECK_FOR_INTERRUPTS();
		if (m->implicit)
		{
			w = m->alpha * r;	/* c - 1 */
			t = r > 0 ? 1.0 + m->alpha * r : 0.0;
		}
		else
		{
			w = 1.0;
			t = r - m->global_mean - (m->biases ? m->item_bias[ev[j].item] : 0.0);
		}
		for (int a = 0; a < f; a++)
		{
			for (int c = 0; c <= a; c++)
				A[a * d + c] += w * y[a] * y[c];
			b[a] += t * y[a];
		}
		if (d > f)
		{
			for (int c = 0; c < f; c++)
				A[f * d + c] += w * y[c];
			A[f * d + f] += w;
			b[f] += t;
		}
	}
}

/*
 * ecml.mf_fold_in(model, item_ids, values) → a user vector from a few
 * events: the one least-squares solve a training sweep does for a user,
 * against the model's fixed item factors (Hu et al. 2008, eq. 4 for
 * implicit feedback; the biased ALS-WR step for ratings).  Unknown items
 * are ignored; duplicates add up; NULL when no item is known.
 */
PG_FUNCTION_INFO_V1(mf_fold_in);
Datum
mf_fold_in(PG_FUNCTION_ARGS)
{
	MfModel    *m = get_model(fcinfo);
	ArrayType  *ids_arr = PG_GETARG_ARRAYTYPE_P(1);
	ArrayType  *vals_arr = PG_GETARG_ARRAYTYPE_P(2);
	int			n;
	int			nv;
	int64	   *ids = ecml_array_int8(ids_arr, "item_ids", -1, &n);
	float	   *vals = ecml_array_float4(vals_arr, "values", -1, &nv, false);
	int			d = user_dims(m);
	FoldEvent  *ev;
	int			nk;
	double	   *A;
	double	   *b;
	float	   *x;

	if (n != nv)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("item_ids has %d elements but values has %d", n, nv),
				 errhint("Pass one value per item id.")));
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("fold-in needs at least one event"),
				 errhint("For a visitor without events, recommend popular items instead.")));
	ev = palloc(sizeof(FoldEvent) * n);
	nk = fold_events(m, ids, vals, n, ev);
	if (nk == 0)
		PG_RETURN_NULL();
	A = palloc0(sizeof(double) * (Size) d * d);
	b = palloc0(sizeof(double) * d);
	fold_normal_equations(m, ev, nk, d, A, b);
	mf_cholesky_solve(A, b, d);
	x = palloc(sizeof(float) * d);
	for (int a = 0; a < d; a++)
		x[a] = (float) b[a];
	/* huge values give a solution beyond real's range: say so, not Infinity */
	if (!ecml_all_finite(x, d))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the folded-in user vector is out of range for type real"),
				 errhint("Scale the values down to the range used in training.")));
	PG_RETURN_ARRAYTYPE_P(ecml_float4_array(x, d));
}

static int
cmp_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/*
 * ecml.mf_recommend_vector(model, user_vector, k, exclude) → the top k
 * items for a user vector (from mf_fold_in), leaving out the given ids.
 */
PG_FUNCTION_INFO_V1(mf_recommend_vector);
Datum
mf_recommend_vector(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MfModel    *m;
	ArrayType  *vec;
	float	   *x;
	int			k = PG_GETARG_INT32(2);
	int			nex = 0;
	int32	   *skip = NULL;
	int			nskip = 0;
	float	   *scores;
	EcmlTopK	heap;

	InitMaterializedSRF(fcinfo, 0);
	m = get_model(fcinfo);
	vec = PG_GETARG_ARRAYTYPE_P(1);
	x = ecml_array_float4(vec, "user vector", user_dims(m), NULL, false);
	k = check_k(k, m->nitems);
	if (PG_NARGS() > 3)
	{
		int64	   *ex = ecml_array_int8(PG_GETARG_ARRAYTYPE_P(3), "exclude", -1, &nex);

		skip = palloc(sizeof(int32) * Max(nex, 1));
		for (int j = 0; j < nex; j++)
		{
			int			i = ecml_find_int64(m->item_ids, m->nitems, ex[j]);

			if (i >= 0)
				skip[nskip++] = i;
		}
		qsort(skip, nskip, sizeof(int32), cmp_int32);
	}
	scores = palloc_extended(sizeof(float) * m->nitems, MCXT_ALLOC_HUGE);
	mf_item_scores(m, x, scores);
	/* a finite but huge vector: Infinity scores would rank nothing */
	if (!ecml_all_finite(scores, m->nitems))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("user vector is too large, item scores overflow real"),
				 errhint("Pass a user vector from ecml.mf_fold_in.")));
	ecml_topk_init(&heap, k);
	mf_select(m, scores, skip, nskip, &heap);
	emit_topk(rsinfo, &heap);
	return (Datum) 0;
}

static Datum
export_factors(FunctionCallInfo fcinfo, bool users)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MfModel    *m;
	int			n;
	const int64 *ids;
	const float *fac;
	const float *bias;

	InitMaterializedSRF(fcinfo, 0);
	m = get_model(fcinfo);
	n = users ? m->nusers : m->nitems;
	ids = users ? m->user_ids : m->item_ids;
	fac = users ? m->user_factors : m->item_factors;
	bias = users ? m->user_bias : m->item_bias;
	for (int r = 0; r < n; r++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, bias == NULL};

		if ((r & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		values[0] = Int64GetDatum(ids[r]);
		values[1] = PointerGetDatum(ecml_float4_array(fac + (Size) r * m->factors, m->factors));
		values[2] = bias ? Float4GetDatum(bias[r]) : (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(DatumGetPointer(values[1]));
	}
	return (Datum) 0;
}

/* ecml.mf_user_factors(model) → TABLE(id, factors, bias) */
PG_FUNCTION_INFO_V1(mf_user_factors);
Datum
mf_user_factors(PG_FUNCTION_ARGS)
{
	return export_factors(fcinfo, true);
}

/* ecml.mf_item_factors(model) → TABLE(id, factors, bias) */
PG_FUNCTION_INFO_V1(mf_item_factors);
Datum
mf_item_factors(PG_FUNCTION_ARGS)
{
	return export_factors(fcinfo, false);
}
