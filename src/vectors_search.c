/*
 * vectors_search.c
 *	  Exact top-k over a pack: ecml.search (one query) and ecml.search_batch
 *	  (a matrix of queries).
 *
 * The pack's float32 matrix is scanned in blocks of rows that fit in L2:
 * one query is multiplied with a block by an AVX2 kernel over four rows at a
 * time (distance.c; the scan is bound by memory bandwidth), a group of
 * queries by BLIS sgemm, into a small buffer of inner products.
 * Each inner product gives the row's distance up to rounding; only a row
 * whose estimate, less a rounding allowance, can beat the worst of the k
 * kept (the heap's bound) has its distance computed exactly, by the same
 * kernel as the operators, and is offered to the heap.  So a search returns
 * the same rows and distances as ORDER BY <operator> LIMIT k (for l2 and
 * inner_product bit for bit; for cosine up to the rounding of the
 * normalization), ties broken by id, whatever the block kernel's summation
 * order.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "arrays.h"
#include "blas.h"
#include "distance.h"
#include "ecml.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "topk.h"
#include "vecops.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "vectors.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SEARCH_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SEARCH_CLONES
#endif

/* a block of rows is about 256 KB of the matrix: it stays in L2 */
#define BLOCK_FLOATS (64 * 1024)
/* queries per sgemm in a batch: the inner-product block is then <= 512 KB */
#define QUERY_GROUP 256
/* a batch may return at most this many rows */
#define BATCH_MAX_RESULTS ((int64) 100 * 1000 * 1000)

/* One query, ready to scan: normalized for cosine. */
typedef struct SearchQuery
{
	const float *q;				/* d floats */
	float		qnorm;			/* |q| */
	float		qq;				/* |q|^2 */
} SearchQuery;

static int
block_rows(int d)
{
	return Max(16, BLOCK_FLOATS / d);
}

/*
 * Relative rounding allowance between a block kernel's inner product and the
 * exact kernel's: each is within n * eps * |x| |q| of the true value (Higham,
 * Accuracy and Stability of Numerical Algorithms, 2002, section 3.1), so
 * twice that, with room to spare, bounds their difference.
 */
static inline float
search_tolerance(int d)
{
	return 4.0f * (d + 8) * FLT_EPSILON;
}

static void
check_k(int k)
{
	if (k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be positive, got %d", k)));
}

/* Check a query (x, n floats) against the pack and fill *sq (buf: d floats for cosine). */
static void
prepare_query(const VectorsModel *m, const float *x, int n, float *buf,
			  const char *what, SearchQuery *sq)
{
	if (n != m->d)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s has %d elements, the pack has %d dimensions", what, n, m->d),
				 errhint("Query with a vector from the embedding model the pack was built from.")));
	ecml_check_finite(x, n, what, false);
	sq->qq = ecml_norm_squared_f32(x, n);
	if (!isfinite(sq->qq))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s is too large, its squared norm overflows real", what)));
	if (m->metric == VECTORS_METRIC_COSINE)
	{
		if (!ecml_l2_normalize_f32(x, buf, n))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s is all zeros, its cosine distance is undefined", what)));
		sq->q = buf;
		sq->qq = ecml_norm_squared_f32(buf, n);
	}
	else
		sq->q = x;
	sq->qnorm = sqrtf(sq->qq);
	if (!isfinite(m->max_norm * sq->qnorm * 2.0f))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s is too large for this pack, inner products overflow real", what)));
}

/*
 * The heap key of row r: the distance as the matching operator computes it,
 * except that l2 keeps the squared distance (the operator's square root in
 * float8 orders exactly as its float32 argument; a float32 root would merge
 * neighbours).  key_distance() turns a key into the reported distance.
 */
static inline float
exact_key(const VectorsModel *m, const SearchQuery *sq, int r)
{
	const float *x = m->matrix + (Size) r * m->d;

	switch (m->metric)
	{
		case VECTORS_METRIC_COSINE:
			{
				float		c = ecml_inner_product_f32(x, sq->q, m->d);

				/* both are unit vectors; rounding may leave |c| just above 1 */
				return 1.0f - Max(-1.0f, Min(1.0f, c));
			}
		case VECTORS_METRIC_INNER_PRODUCT:
			return -ecml_inner_product_f32(x, sq->q, m->d);
		default:
			return ecml_l2_squared_f32(x, sq->q, m->d);
	}
}

static inline float
key_distance(const VectorsModel *m, float key)
{
	return m->metric == VECTORS_METRIC_L2 ? (float) sqrt((double) key) : key;
}

typedef int32 v8i __attribute__((vector_size(32)));

/* true when any lane of the comparison mask m (a v8i) is set */
#define ANY8(m, out) \
	do { \
		uint64		w_[4]; \
		\
		memcpy(w_, &(m), sizeof(w_)); \
		(out) = ((w_[0] | w_[1] | w_[2] | w_[3]) != 0); \
	} while (0)

/*
 * Offer rows r0 .. r0+nb-1, whose inner products with the query are in
 * dots, to the heap: exact distances only for rows that may enter it.  Once
 * the heap is full most rows cannot, so the test runs on eight rows at a
 * time (vector compares) and looks at single rows only when one passes.
 * PASS8(i0) is the metric's test of rows r0+i0 .. r0+i0+7 as a lane mask,
 * PASS(i) the test of one row; UPDATE recomputes thr after a push.
 */
#define OFFER_LOOP(PASS8, PASS, UPDATE) \
	for (int i0 = 0; i0 < nb; i0 += 8) \
	{ \
		int			n8 = Min(8, nb - i0); \
		\
		if (n8 == 8) \
		{ \
			v8i			mask_ = PASS8(i0); \
			bool		any_; \
			\
			ANY8(mask_, any_); \
			if (!any_) \
				continue; \
		} \
		for (int i = i0; i < i0 + n8; i++) \
			if (PASS(i)) \
			{ \
				ecml_topk_push(heap, exact_key(m, sq, r0 + i), m->ids[r0 + i]); \
				UPDATE; \
			} \
	}

SEARCH_CLONES
static void
offer_block(const VectorsModel *m, const SearchQuery *sq, EcmlTopK *heap,
			const float *dots, int r0, int nb)
{
	float		tol = search_tolerance(m->d);
	const float *norms = m->norms + r0;
	float		thr;
	EcmlV8			dv,
				nv;

	switch (m->metric)
	{
		case VECTORS_METRIC_COSINE:
			/* 1 - dot - tol <= bound */
#define PASS_COS(i) (dots[i] >= thr)
#define PASS8_COS(i0) (ECML_LOAD8(dv, dots + (i0)), dv >= thr)
			thr = 1.0f - tol - ecml_topk_bound(heap);
			OFFER_LOOP(PASS8_COS, PASS_COS, thr = 1.0f - tol - ecml_topk_bound(heap));
			break;
		case VECTORS_METRIC_INNER_PRODUCT:
			{
				/* -dot - tol |x| |q| <= bound */
				float		c = tol * sq->qnorm;

#define PASS_IP(i) (dots[i] + c * norms[i] >= thr)
#define PASS8_IP(i0) (ECML_LOAD8(dv, dots + (i0)), ECML_LOAD8(nv, norms + (i0)), dv + c * nv >= thr)
				thr = -ecml_topk_bound(heap);
				OFFER_LOOP(PASS8_IP, PASS_IP, thr = -ecml_topk_bound(heap));
				break;
			}
		default:
			{
				/* |x|^2 + |q|^2 - 2 dot - tol (|x|^2 + |q|^2) <= bound (squared) */
				float		qq = sq->qq;
				float		keep = 1.0f - tol;

#define PASS_L2(i) ((norms[i] * norms[i] + qq) * keep - 2.0f * dots[i] <= thr)
#define PASS8_L2(i0) (ECML_LOAD8(dv, dots + (i0)), ECML_LOAD8(nv, norms + (i0)), \
					  (nv * nv + qq) * keep - 2.0f * dv <= thr)
				thr = ecml_topk_bound(heap);
				OFFER_LOOP(PASS8_L2, PASS_L2, thr = ecml_topk_bound(heap));
				break;
			}
	}
}

/* The whole pack against one query, a block of rows at a time. */
static void
search_scan(const VectorsModel *m, const SearchQuery *sq, EcmlTopK *heap)
{
	int			rb = block_rows(m->d);
	float	   *dots = palloc(sizeof(float) * rb);

	for (int r0 = 0; r0 < m->n; r0 += rb)
	{
		int			nb = Min(rb, m->n - r0);

		/* dots (nb) = X[r0 .. r0+nb) (nb,d) . q (d) */
		ecml_inner_products_f32(m->matrix + (Size) r0 * m->d, nb, m->d, sq->q, dots);
		offer_block(m, sq, heap, dots, r0, nb);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(dots);
}

/* Only the rows whose ids are in filter (nf ids, any order, repeats allowed). */
static void
search_filtered(const VectorsModel *m, const SearchQuery *sq, EcmlTopK *heap,
				int64 *filter, int nf)
{
	ecml_sort_ids(filter, nf);
	for (int i = 0; i < nf; i++)
	{
		int			r;

		if ((i & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (i > 0 && filter[i] == filter[i - 1])
			continue;
		r = ecml_find_int64(m->ids, m->n, filter[i]);
		if (r >= 0)
			ecml_topk_push(heap, exact_key(m, sq, r), m->ids[r]);
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

/*
 * One flag per pack row, set for the rows of the ids in exclude (ids absent
 * from the pack and repeats are ignored); *nex counts the rows set.
 */
static bool *
exclude_rows(const VectorsModel *m, ArrayType *arr, int *nex)
{
	int			n;
	const int64 *ids = ecml_array_int8(arr, "exclude", -1, &n);
	bool	   *flag = palloc_extended(Max(m->n, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

	*nex = 0;
	for (int j = 0; j < n; j++)
	{
		int			r = ecml_find_int64(m->ids, m->n, ids[j]);

		if ((j & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (r >= 0 && !flag[r])
		{
			flag[r] = true;
			(*nex)++;
		}
	}
	return flag;
}

/*
 * ecml.search(packed, query, k [, filter_ids [, exclude]]) → (id, distance)
 * of the k rows nearest to query, best first; with filter_ids, among those
 * ids only; never the ids in exclude.  Excluded rows are searched like the
 * others and dropped from the k + (excluded rows) best, which hold the k
 * best that are not excluded, so the scan itself is unchanged.
 */
PG_FUNCTION_INFO_V1(ecml_search);
Datum
ecml_search(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	VectorsModel *m;
	ArrayType  *arr;
	const float *x;
	float	   *buf;
	SearchQuery sq;
	EcmlTopK	heap;
	int			n;
	int			k;
	int			nf = -1;
	int64	   *filter = NULL;
	bool	   *excluded = NULL;
	int			nex = 0;
	int			emitted = 0;

	InitMaterializedSRF(fcinfo, 0);
	/* the forms with filter_ids are not STRICT: a NULL filter means none */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return (Datum) 0;

	m = ecml_model_cached(fcinfo, 0, ECML_KIND_VECTORS, vectors_parse);
	k = PG_GETARG_INT32(2);
	check_k(k);
	arr = PG_GETARG_ARRAYTYPE_P(1);
	x = ecml_vector_arg(arr, "query vector", &n);
	buf = palloc(sizeof(float) * n);
	prepare_query(m, x, n, buf, "query vector", &sq);

	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
	{
		const int64 *ids = ecml_array_int8(PG_GETARG_ARRAYTYPE_P(3), "filter_ids", -1, &nf);

		filter = palloc(sizeof(int64) * Max(nf, 1));
		memcpy(filter, ids, sizeof(int64) * nf);
		if (nf == 0)
			return (Datum) 0;
	}

	/* a NULL exclude means none */
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
		excluded = exclude_rows(m, PG_GETARG_ARRAYTYPE_P(4), &nex);

	/* k above the pack size returns every row */
	ecml_topk_init(&heap, (int) Min((int64) k + nex, nf >= 0 ? Min(nf, m->n) : m->n));
	if (filter)
		search_filtered(m, &sq, &heap, filter, nf);
	else
		search_scan(m, &sq, &heap);

	n = ecml_topk_sort(&heap);
	for (int i = 0; i < n && emitted < k; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (excluded && excluded[ecml_find_int64(m->ids, m->n, heap.id[i])])
			continue;
		emitted++;
		values[0] = Int64GetDatum(heap.id[i]);
		values[1] = Float4GetDatum(key_distance(m, heap.key[i]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* queries must be (nq, d) without NULLs, d the pack's, nq * k bounded. */
static void
batch_check(const VectorsModel *m, ArrayType *arr, int k, int *nq, int *d)
{
	if (ARR_NDIM(arr) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("queries must not be empty")));
	if (ARR_NDIM(arr) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("queries must be a two-dimensional array, got %d dimensions", ARR_NDIM(arr)),
				 errhint("Pass one query per row, for example array_agg(embedding) over one-dimensional real[] values of equal length.")));
	if (ARR_HASNULL(arr) && array_contains_nulls(arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("queries must not contain NULL elements")));
	*nq = ARR_DIMS(arr)[0];
	*d = ARR_DIMS(arr)[1];
	if (*d != m->d)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("queries have %d elements each, the pack has %d dimensions", *d, m->d),
				 errhint("Query with vectors from the embedding model the pack was built from.")));
	if ((int64) *nq * k > BATCH_MAX_RESULTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("search_batch would return %lld rows (%d queries x k = %d), at most %lld are supported",
						(long long) *nq * k, *nq, k, (long long) BATCH_MAX_RESULTS),
				 errhint("Split the queries into smaller batches or lower k.")));
}

/*
 * Each query checked and prepared (norms; normalized into normalized[] for
 * cosine, which the caller then multiplies instead of data).
 */
static SearchQuery *
batch_prepare(const VectorsModel *m, const float *data, int nq, int d, float *normalized)
{
	SearchQuery *sqs = palloc(sizeof(SearchQuery) * nq);

	for (int j = 0; j < nq; j++)
	{
		const float *x = data + (Size) j * d;
		char	   *what;

		if (ecml_all_finite(x, d) && m->metric != VECTORS_METRIC_COSINE)
		{
			/* the common case without a message string per query */
			sqs[j].q = x;
			sqs[j].qq = ecml_norm_squared_f32(x, d);
			sqs[j].qnorm = sqrtf(sqs[j].qq);
			if (isfinite(sqs[j].qq) && isfinite(m->max_norm * sqs[j].qnorm * 2.0f))
				continue;
		}
		what = psprintf("query %d", j + 1);
		prepare_query(m, x, d, normalized ? normalized + (Size) j * d : NULL, what, &sqs[j]);
		pfree(what);
	}
	return sqs;
}

/*
 * The heaps of queries c0 .. c0+nc over every row: rows outside and query
 * groups inside, so each block of the matrix is read once per chunk.
 * C: scratch of (QUERY_GROUP, rb) floats.
 */
static void
batch_scan_chunk(const VectorsModel *m, const float *Q, SearchQuery *sqs,
				 EcmlTopK *heaps, int c0, int nc, int rb, float *C)
{
	int			d = m->d;

	for (int j = 0; j < nc; j++)
		ecml_topk_reset(&heaps[j]);
	for (int r0 = 0; r0 < m->n; r0 += rb)
	{
		int			nb = Min(rb, m->n - r0);

		for (int g0 = c0; g0 < c0 + nc; g0 += QUERY_GROUP)
		{
			int			ng = Min(QUERY_GROUP, c0 + nc - g0);

			/* C (ng,nb) = Q[g0 .. g0+ng) (ng,d) . X[r0 .. r0+nb)^T (d,nb) */
			ecml_sgemm(false, true, ng, nb, d, 1.0f, Q + (Size) g0 * d, d,
					   m->matrix + (Size) r0 * d, d, 0.0f, C, rb);
			for (int j = 0; j < ng; j++)
				offer_block(m, &sqs[g0 + j], &heaps[g0 - c0 + j],
							C + (Size) j * rb, r0, nb);
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/* A chunk's results, best first per query, into the tuplestore. */
static void
batch_emit(ReturnSetInfo *rsinfo, const VectorsModel *m, EcmlTopK *heaps, int c0, int nc)
{
	for (int j = 0; j < nc; j++)
	{
		EcmlTopK   *h = &heaps[j];
		int			n = ecml_topk_sort(h);

		for (int i = 0; i < n; i++)
		{
			Datum		values[4];
			bool		nulls[4];

			memset(nulls, 0, sizeof(nulls));
			values[0] = Int32GetDatum(c0 + j + 1);
			values[1] = Int64GetDatum(h->id[i]);
			values[2] = Int32GetDatum(i + 1);
			values[3] = Float4GetDatum(key_distance(m, h->key[i]));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
}

/*
 * ecml.search_batch(packed, queries real[][], k) → (query_index, id, rank,
 * distance): the k nearest rows of every query (one per row of queries,
 * numbered from 1), each best first.
 */
PG_FUNCTION_INFO_V1(ecml_search_batch);
Datum
ecml_search_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	VectorsModel *m;
	ArrayType  *arr;
	float	   *normalized = NULL;
	SearchQuery *sqs;
	EcmlTopK   *heaps;
	float	   *C;
	int			nq;
	int			d;
	int			k;
	int			rb;
	int			chunk;

	InitMaterializedSRF(fcinfo, 0);
	m = ecml_model_cached(fcinfo, 0, ECML_KIND_VECTORS, vectors_parse);
	k = PG_GETARG_INT32(2);
	check_k(k);
	k = Min(k, m->n);
	arr = PG_GETARG_ARRAYTYPE_P(1);
	batch_check(m, arr, k, &nq, &d);
	if (m->metric == VECTORS_METRIC_COSINE)
		normalized = palloc_extended(sizeof(float) * d * (Size) nq, MCXT_ALLOC_HUGE);
	sqs = batch_prepare(m, (const float *) ARR_DATA_PTR(arr), nq, d, normalized);

	/*
	 * Queries go in chunks whose heaps fit in work_mem; the results of a
	 * chunk go to the tuplestore, which spills to disk, before the next.
	 */
	chunk = (int) Max(1, Min((int64) nq, (int64) work_mem * 1024 /
							 ((int64) k * (sizeof(float) + sizeof(int64)))));
	heaps = palloc(sizeof(EcmlTopK) * chunk);
	for (int j = 0; j < chunk; j++)
		ecml_topk_init(&heaps[j], k);
	rb = block_rows(d);
	C = palloc(sizeof(float) * rb * Min(chunk, QUERY_GROUP));
	ecml_blas_prepare();

	for (int c0 = 0; c0 < nq; c0 += chunk)
	{
		int			nc = Min(chunk, nq - c0);

		batch_scan_chunk(m, normalized ? normalized : (const float *) ARR_DATA_PTR(arr),
						 sqs, heaps, c0, nc, rb, C);
		batch_emit(rsinfo, m, heaps, c0, nc);
		CHECK_FOR_INTERRUPTS();
	}
	return (Datum) 0;
}
