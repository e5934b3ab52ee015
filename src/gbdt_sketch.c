/*
 * gbdt_sketch.c
 *	  ecml.gbdt_sketch(features, label, sample_size, max_bins, seed): the
 *	  mergeable summary ecml.train('gbdt') places its bin edges from, and
 *	  ecml.gbdt_bin_edges(sketch, feature) that reads them out.
 *
 * The sketch is a bottom-k sample: of all rows, the k whose content hash
 * (the row's features and label, as fraud_train hashes them) is smallest,
 * kept in a max-heap on the hash.  The k smallest hashes of a multiset do
 * not depend on the order the rows arrive in nor on how they are split
 * between parallel or Citus workers, so merged partial sketches equal the
 * serial one.  Beside it, each feature's distinct values are kept exactly
 * while there are at most max_bins - 1 of them.
 *
 * Edges: a feature with few distinct values is cut between each two of
 * them, exactly as fraud_train cuts it; otherwise the edges are
 * fraud_train's quantile cuts (place_cuts) of the sample.  With at most k
 * rows the sample is every row and the edges are fraud_train's.  Beyond,
 * the sample is k rows drawn without replacement (by hash), and by the
 * Dvoretzky-Kiefer-Wolfowitz inequality (Massart 1990) every edge's rank
 * is within eps of its target quantile with probability at least
 * 1 - 2 exp(-2 k eps^2): with k = 200000, eps = 0.005 at 1 - 9e-5.  Rows
 * that repeat share a hash and are sampled together (as in fraud_train).
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "ecml.h"
#include "gbdt_passes.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"

#define SKETCH_AGG "ecml.gbdt_sketch"
#define GBDT_SKETCH_MAGIC 0x47425348	/* "GBSH" */
#define SKETCH_FIRST_CAP 1024

/* sort_values(): an inlined quicksort of non-NaN floats */
#define ST_SORT sort_values
#define ST_ELEMENT_TYPE float
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/* The sections after the header, for f features and room for cap rows. */
typedef struct SketchLayout
{
	int64	   *nmissing;
	int32	   *ndistinct;
	float	   *distinct;
	uint64	   *hash;
	int32	   *heap;
	float	   *rows;
} SketchLayout;

static Size
sketch_size(int f, int max_distinct, int cap)
{
	Size		nf = Max(f, 0);

	return MAXALIGN(sizeof(GbdtSketch)) + nf * (sizeof(int64) + sizeof(int32)) +
		nf * max_distinct * sizeof(float) +
		(f > 0 ? (Size) cap * (sizeof(uint64) + sizeof(int32) + nf * sizeof(float)) : 0);
}

static SketchLayout
sketch_layout(const GbdtSketch *s)
{
	SketchLayout l;
	char	   *p = (char *) s + MAXALIGN(sizeof(GbdtSketch));
	Size		nf = Max(s->f, 0);

	l.nmissing = (int64 *) p;
	p += nf * sizeof(int64);
	l.hash = (uint64 *) p;		/* 8-byte sections first, then 4-byte ones */
	p += (s->f > 0 ? (Size) s->cap : 0) * sizeof(uint64);
	l.ndistinct = (int32 *) p;
	p += nf * sizeof(int32);
	l.distinct = (float *) p;
	p += nf * s->max_distinct * sizeof(float);
	l.heap = (int32 *) p;
	p += (s->f > 0 ? (Size) s->cap : 0) * sizeof(int32);
	l.rows = (float *) p;
	return l;
}

#define sketch_corrupt(what) ecml_pass_state_invalid(SKETCH_AGG, "gbdt", (what))

/* A state that came from elsewhere (a worker, a Citus node, a user) is whole. */
GbdtSketch *
gbdt_sketch_check(bytea *b)
{
	GbdtSketch *s = (GbdtSketch *) b;

	if (VARSIZE(s) < sizeof(GbdtSketch) || s->magic != GBDT_SKETCH_MAGIC ||
		s->f < -1 || s->f == 0 || s->f > GBDT_MAX_FEATURES ||
		s->k < GBDT_SKETCH_SAMPLE_MIN || s->k > GBDT_SKETCH_SAMPLE_MAX ||
		s->cap < 0 || s->cap > s->k || s->nkept < 0 || s->nkept > s->cap ||
		s->max_distinct < GBDT_MAX_BINS_MIN - 1 || s->max_distinct > GBDT_MAX_BINS_MAX - 1 ||
		VARSIZE(s) != sketch_size(s->f, s->max_distinct, s->cap))
		sketch_corrupt("sketch");
	if (s->f > 0)
	{
		SketchLayout l = sketch_layout(s);

		for (int j = 0; j < s->f; j++)
			if (l.ndistinct[j] < -1 || l.ndistinct[j] > s->max_distinct)
				sketch_corrupt("sketch");
		for (int i = 0; i < s->nkept; i++)
			if (l.heap[i] < 0 || l.heap[i] >= s->nkept)
				sketch_corrupt("sketch");
	}
	return s;
}

/*
 * The sample's capacity for f features: sample_size rows, fewer when they
 * would not fit in GBDT_SKETCH_MAX_BYTES.
 */
static int
sketch_capacity(int k, int f)
{
	Size		per_row = sizeof(uint64) + sizeof(int32) + sizeof(float) * (Size) f;

	return (int) Max(GBDT_SKETCH_SAMPLE_MIN, Min((Size) k, GBDT_SKETCH_MAX_BYTES / per_row));
}

/* A new empty sketch in CurrentMemoryContext. */
static GbdtSketch *
sketch_new(int f, int k, int max_distinct, int64 seed, int cap)
{
	Size		size = sketch_size(f, max_distinct, cap);
	GbdtSketch *s;

	ecml_check_train_memory(size, GBDT_PASS_TRAINER);
	s = palloc_extended(size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	SET_VARSIZE(s, size);
	s->magic = GBDT_SKETCH_MAGIC;
	s->f = f;
	s->k = k;
	s->cap = f > 0 ? cap : 0;
	s->max_distinct = max_distinct;
	s->seed = seed;
	return s;
}

/* s with room for cap rows (and f features once known), counts kept. */
static GbdtSketch *
sketch_grow(GbdtSketch *s, int f, int cap)
{
	int			k = s->f < 0 ? sketch_capacity(s->k, f) : s->k;
	GbdtSketch *g = sketch_new(f, k, s->max_distinct, s->seed, Min(cap, k));
	SketchLayout from = sketch_layout(s);
	SketchLayout to;

	g->nrows = s->nrows;
	g->npos = s->npos;
	g->nskipped = s->nskipped;
	g->checksum = s->checksum;
	g->abs_sum = s->abs_sum;
	g->nkept = s->nkept;
	to = sketch_layout(g);
	if (s->f > 0)
	{
		memcpy(to.nmissing, from.nmissing, sizeof(int64) * f);
		memcpy(to.ndistinct, from.ndistinct, sizeof(int32) * f);
		memcpy(to.distinct, from.distinct, sizeof(float) * f * s->max_distinct);
		memcpy(to.hash, from.hash, sizeof(uint64) * s->nkept);
		memcpy(to.heap, from.heap, sizeof(int32) * s->nkept);
		memcpy(to.rows, from.rows, sizeof(float) * f * (Size) s->nkept);
	}
	return g;
}

/* max-heap on hash: restore from position i down */
static void
heap_sift_down(int32 *heap, const uint64 *hash, int n, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1;
		int			r = l + 1;
		int			m = i;
		int32		tmp;

		if (l < n && hash[heap[l]] > hash[heap[m]])
			m = l;
		if (r < n && hash[heap[r]] > hash[heap[m]])
			m = r;
		if (m == i)
			return;
		tmp = heap[i];
		heap[i] = heap[m];
		heap[m] = tmp;
		i = m;
	}
}

/* The row's value j into the feature's exact distinct values, while they fit. */
static void
distinct_add(GbdtSketch *s, SketchLayout *l, int j, float x)
{
	int32		n = l->ndistinct[j];
	float	   *v = l->distinct + (Size) j * s->max_distinct;
	int			lo;

	if (n < 0)
		return;
	lo = ecml_lower_bound_float(v, 0, n, x);
	if (lo < n && v[lo] == x)
		return;
	if (n == s->max_distinct)
	{
		l->ndistinct[j] = -1;
		return;
	}
	memmove(v + lo + 1, v + lo, sizeof(float) * (n - lo));
	v[lo] = x;
	l->ndistinct[j]++;
}

/*
 * Offer a row (f floats) of content hash h to the sample: kept while there
 * is room, else in place of the largest hash if smaller.  May grow s.
 */
static GbdtSketch *
sample_add(GbdtSketch *s, uint64 h, const float *x)
{
	SketchLayout l;
	int			slot;

	if (s->nkept == s->cap && s->cap < s->k)
		s = sketch_grow(s, s->f, (int) Min((int64) s->k, 2 * (int64) s->cap));
	l = sketch_layout(s);
	if (s->nkept < s->k)
	{
		slot = s->nkept++;
		l.heap[slot] = slot;
		l.hash[slot] = h;
		memcpy(l.rows + (Size) slot * s->f, x, sizeof(float) * s->f);
		if (s->nkept == s->k)
			for (int i = s->k / 2 - 1; i >= 0; i--)
				heap_sift_down(l.heap, l.hash, s->k, i);
		return s;
	}
	if (h >= l.hash[l.heap[0]])
		return s;
	slot = l.heap[0];
	l.hash[slot] = h;
	memcpy(l.rows + (Size) slot * s->f, x, sizeof(float) * s->f);
	heap_sift_down(l.heap, l.hash, s->k, 0);
	return s;
}

/* The state argument: in place inside an aggregate, else a copy. */
static GbdtSketch *
sketch_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	return gbdt_sketch_check((bytea *) ecml_agg_writable_arg(fcinfo, argno));
}

/* The first row's state from the aggregate's arguments. */
static GbdtSketch *
sketch_from_args(FunctionCallInfo fcinfo)
{
	int64		k;
	int64		max_bins;

	if (PG_ARGISNULL(3) || PG_ARGISNULL(4) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: sample_size, max_bins and seed must not be NULL", SKETCH_AGG)));
	k = PG_GETARG_INT32(3);
	max_bins = PG_GETARG_INT32(4);
	if (k < GBDT_SKETCH_SAMPLE_MIN || k > GBDT_SKETCH_SAMPLE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: sample_size must be between %d and %d, got " INT64_FORMAT,
						SKETCH_AGG, GBDT_SKETCH_SAMPLE_MIN, GBDT_SKETCH_SAMPLE_MAX, k)));
	if (max_bins < GBDT_MAX_BINS_MIN || max_bins > GBDT_MAX_BINS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: max_bins must be between %d and %d, got " INT64_FORMAT,
						SKETCH_AGG, GBDT_MAX_BINS_MIN, GBDT_MAX_BINS_MAX, max_bins)));
	return sketch_new(-1, (int) k, (int) max_bins - 1, PG_GETARG_INT64(5), 0);
}

/* transition: count the row, its missing and distinct values, offer it to the sample */
PG_FUNCTION_INFO_V1(gbdt_sketch_transfn);
Datum
gbdt_sketch_transfn(PG_FUNCTION_ARGS)
{
	GbdtSketch *s = sketch_arg(fcinfo, 0);
	ArrayType  *arr;
	float	   *row;
	SketchLayout l;
	int			n;
	bool		y;

	if (s == NULL)
		s = sketch_from_args(fcinfo);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		s->nskipped++;
		PG_RETURN_BYTEA_P(s);
	}
	arr = PG_GETARG_ARRAYTYPE_P(1);
	y = PG_GETARG_BOOL(2);
	n = gbdt_array_length(arr);
	ecml_check_feature_count(n, GBDT_MAX_FEATURES, GBDT_PASS_TRAINER);
	if (s->f < 0)
		s = sketch_grow(s, n, SKETCH_FIRST_CAP);
	ecml_check_same_width(s->f, n, GBDT_PASS_TRAINER);

	/* the row as fraud_train stores and hashes it: features, then the label */
	row = palloc(sizeof(float) * (n + 1));
	gbdt_copy_features(arr, n, row);
	row[n] = y ? 1.0f : 0.0f;

	s->nrows++;
	s->npos += y;
	l = sketch_layout(s);
	for (int j = 0; j < n; j++)
	{
		if (isnan(row[j]))
		{
			l.nmissing[j]++;
			continue;
		}
		s->checksum += row[j];
		s->abs_sum += fabs(row[j]);
		distinct_add(s, &l, j, row[j]);
	}
	s = sample_add(s, hash_bytes_extended((const unsigned char *) row, sizeof(float) * (n + 1),
										  (uint64) s->seed), row);
	pfree(row);
	PG_RETURN_BYTEA_P(s);
}

/* combine: merge s2 into s1: counts add, distinct values unite, samples keep the k smallest */
PG_FUNCTION_INFO_V1(gbdt_sketch_combinefn);
Datum
gbdt_sketch_combinefn(PG_FUNCTION_ARGS)
{
	GbdtSketch *s1 = sketch_arg(fcinfo, 0);
	GbdtSketch *s2 = PG_ARGISNULL(1) ? NULL : gbdt_sketch_check(PG_GETARG_BYTEA_P(1));
	SketchLayout l1;
	SketchLayout l2;

	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(s1);
	}
	if (s1 == NULL)
		PG_RETURN_BYTEA_P(PG_GETARG_BYTEA_P_COPY(1));
	if (s1->max_distinct != s2->max_distinct || s1->seed != s2->seed)
		sketch_corrupt("state: partial sketches of different arguments");
	if (s2->f > 0)
	{
		if (s1->f < 0)
			s1 = sketch_grow(s1, s2->f, SKETCH_FIRST_CAP);
		ecml_check_same_width(s1->f, s2->f, GBDT_PASS_TRAINER);
		if (s1->k != s2->k)
			sketch_corrupt("state: partial sketches of different sample sizes");
		l1 = sketch_layout(s1);
		l2 = sketch_layout(s2);
		for (int j = 0; j < s1->f; j++)
		{
			const float *v = l2.distinct + (Size) j * s2->max_distinct;

			l1.nmissing[j] += l2.nmissing[j];
			if (l2.ndistinct[j] < 0)
				l1.ndistinct[j] = -1;
			for (int i = 0; i < l2.ndistinct[j]; i++)
				distinct_add(s1, &l1, j, v[i]);
		}
		for (int i = 0; i < s2->nkept; i++)
		{
			CHECK_FOR_INTERRUPTS();
			s1 = sample_add(s1, l2.hash[i], l2.rows + (Size) i * s2->f);
		}
	}
	s1->nrows += s2->nrows;
	s1->npos += s2->npos;
	s1->nskipped += s2->nskipped;
	s1->checksum += s2->checksum;
	s1->abs_sum += s2->abs_sum;
	PG_RETURN_BYTEA_P(s1);
}

int64
gbdt_sketch_nmissing(const GbdtSketch *s, int j)
{
	return sketch_layout(s).nmissing[j];
}

int
gbdt_sketch_cuts(const GbdtSketch *s, int j, float *cuts)
{
	SketchLayout l = sketch_layout(s);
	int			nd = l.ndistinct[j];
	float	   *v;
	int			m = 0;
	int			nb;

	if (nd >= 0)
	{
		/* few distinct values: fraud_train's cuts between each two */
		const float *d = l.distinct + (Size) j * s->max_distinct;

		for (int i = 1; i < nd; i++)
			cuts[i - 1] = cut_between(d[i - 1], d[i]);
		return Max(nd, 1);
	}
	v = palloc(sizeof(float) * Max(s->nkept, 1));
	for (int i = 0; i < s->nkept; i++)
	{
		float		x = l.rows[(Size) i * s->f + j];

		if (!isnan(x))
			v[m++] = x;
	}
	sort_values(v, m);
	nb = m > 0 ? place_cuts(v, m, s->max_distinct, cuts) : 1;
	pfree(v);
	return nb;
}

/* ecml.gbdt_bin_edges(sketch bytea, feature integer) returns real[] */
PG_FUNCTION_INFO_V1(gbdt_bin_edges);
Datum
gbdt_bin_edges(PG_FUNCTION_ARGS)
{
	GbdtSketch *s = gbdt_sketch_check(PG_GETARG_BYTEA_P(0));
	int32		feature = PG_GETARG_INT32(1);
	float	   *cuts;
	int			nb;

	if (s->f < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("ecml.gbdt_bin_edges: the sketch has seen no row with features")));
	if (feature < 1 || feature > s->f)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("ecml.gbdt_bin_edges: feature %d is out of range, the sketch has %d features",
						feature, s->f),
				 errhint("Features are numbered from 1.")));
	cuts = palloc(sizeof(float) * s->max_distinct);
	nb = gbdt_sketch_cuts(s, feature - 1, cuts);
	PG_RETURN_ARRAYTYPE_P(ecml_float4_array(cuts, nb - 1));
}
