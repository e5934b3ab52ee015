/*
 * gen_models.c
 *	  The structure-aware generator of the model-reader fuzzer (issue 16,
 *	  item 7).  Byte mutations of a small seed model rarely produce what a
 *	  crafted model holds: trees whose nodes share children (a DAG with
 *	  2^levels paths), cycles, trees hundreds of levels deep, counts near
 *	  the limits and far past them, name tables of a million strings.  Here
 *	  the fuzzer's input is a recipe instead: each byte read below is a
 *	  choice (a kind, a shape, a structure, a size class, a corruption), and
 *	  the model is written by ecml's own builder, so it always has valid
 *	  checksums and reaches the kind's decoder.  A 100-byte recipe can stand
 *	  for a model of megabytes.
 *
 *	  gen_model() is the harness's structured mode (FUZZ_MODELS_MODE=
 *	  structured); the named crafts in craft_models.c call the same writers.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "datatype/timestamp.h"

#include "gen_models.h"
#include "gbdt.h"
#include "iforest.h"
#include "logreg.h"
#include "lstm.h"
#include "mf.h"
#include "nn.h"
#include "vectors.h"
#include "distance.h"

/* bytes the generator writes at most for one model's arrays */
#define GEN_BUDGET ((Size) 1024 * 1024)

/* ---- reading choices from the recipe ---- */

typedef struct Recipe
{
	const uint8_t *p;
	size_t		n;
	size_t		at;
} Recipe;

static uint32
r_u8(Recipe *r)
{
	return r->at < r->n ? r->p[r->at++] : 0;
}

static uint32
r_u32(Recipe *r)
{
	uint32		v = 0;

	for (int i = 0; i < 4; i++)
		v |= r_u8(r) << (8 * i);
	return v;
}

/* v clamped to [lo, hi] (a function: Min/Max would read the recipe twice) */
static int64
clamp64(int64 v, int64 lo, int64 hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* uniform-ish in [lo, hi] */
static int64
r_range(Recipe *r, int64 lo, int64 hi)
{
	uint64		span = (uint64) (hi - lo) + 1;

	if (hi <= lo)
		return lo;
	return lo + (int64) (r_u32(r) % span);
}

/*
 * A count: mostly small, sometimes at the edges of [lo, limit], sometimes
 * far outside them.  The decoders must take every one.
 */
static int64
r_count(Recipe *r, int64 lo, int64 limit)
{
	switch (r_u8(r) % 10)
	{
		case 0:
			return lo;
		case 1:
			return limit;
		case 2:
			return limit + 1;
		case 3:
			return lo - 1;
		case 4:
			return (int64) INT32_MAX - (int64) r_range(r, 0, 2);
		case 5:
			return (int64) -r_range(r, 1, INT32_MAX);
		case 6:
			return r_range(r, lo, Min(limit, lo + 100000));
		default:
			return r_range(r, lo, Min(limit, lo + 16));
	}
}

static float
r_float(Recipe *r)
{
	switch (r_u8(r) % 12)
	{
		case 0:
			return NAN;
		case 1:
			return INFINITY;
		case 2:
			return -INFINITY;
		case 3:
			return 3e38f;
		case 4:
			return -1.0f;
		case 5:
			return 0.0f;
		default:
			return (float) r_range(r, -1000, 1000) / 100.0f;
	}
}

/* ---- writing sections, sometimes wrongly ---- */

/*
 * Add a section of n elements of width w from data, unless the recipe says
 * to corrupt it: drop it, give it the wrong type, cut or pad one element.
 */
static void
add_section(Recipe *r, EcmlModelBuilder *b, uint32 tag, EcmlSectionType type,
			const void *data, Size n, Size w)
{
	uint32		how = r_u8(r) % 32;
	Size		len = n * w;
	char	   *pad;

	switch (how)
	{
		case 0:
			return;				/* missing */
		case 1:
			ecml_builder_add(b, tag, type == ECML_SECTION_INT32 ? ECML_SECTION_FLOAT32 : ECML_SECTION_INT32,
							 data, len - len % 4);
			return;
		case 2:
			if (len >= w)
				len -= w;		/* one element short */
			break;
		case 3:
			pad = palloc0(len + w);
			memcpy(pad, data, len);
			ecml_builder_add(b, tag, type, pad, len + w);	/* one too many */
			pfree(pad);
			return;
		case 4:
			ecml_builder_add(b, tag, type, data, len);	/* twice */
			break;
		default:
			break;
	}
	ecml_builder_add(b, tag, type, data, len);
}

static void
add_json(Recipe *r, EcmlModelBuilder *b)
{
	if (r_u8(r) % 2)
		ecml_builder_add_json(b, ECML_TAG_INFO, "{\"generated\": true}");
}

/*
 * A name table of n strings, or one whose count disagrees, or a huge one
 * (300,000 empty names: a section of NULs).
 */
static void
add_names(Recipe *r, EcmlModelBuilder *b, uint32 tag, int64 n)
{
	uint32		how = r_u8(r) % 16;
	Size		count;
	StringInfoData s;

	if (how == 0)
		return;
	count = how == 1 ? (Size) 300000 : how == 2 ? (Size) Max(n + 1, 0) : (Size) Max(n, 0);
	if (count > 2000000)
		count = 2000000;
	initStringInfo(&s);
	for (Size i = 0; i < count; i++)
	{
		if (how != 1)
			appendStringInfo(&s, "f%zu", i);
		appendStringInfoChar(&s, '\0');
	}
	ecml_builder_add(b, tag, ECML_SECTION_TEXTS, s.data, s.len);
	pfree(s.data);
}

/* ---- trees ---- */

typedef enum TreeShape
{
	TREE_PROPER,				/* a random proper binary tree */
	TREE_DAG,					/* node k's children are k+1 and k+2 */
	TREE_CHAIN,					/* a caterpillar: depth ~ nodes / 2 */
	TREE_CYCLE,					/* a child index at or before its parent */
	TREE_SHARED,				/* a proper tree, then two parents of one child */
	TREE_ORPHAN,				/* a proper tree plus an unreachable pair */
	TREE_WILD,					/* child indices from the recipe */
	TREE_NSHAPES
} TreeShape;

/*
 * Fill left[0..n) (local indices, -1 for a leaf) for a tree of the given
 * shape with about want nodes; returns the node count.  left must hold
 * want + 2 entries.
 */
static int
gen_tree(Recipe *r, TreeShape shape, int want, int32 *left)
{
	int			n = 1;

	want = Max(want, 1);
	left[0] = -1;
	switch (shape)
	{
		case TREE_DAG:
			/* levels * 2 + 1 nodes, every inner node k -> k+1, k+2 */
			n = want | 1;
			for (int k = 0; k < n; k++)
				left[k] = k + 2 < n ? k + 1 : -1;
			/* k+1 is inner unless it is among the last two */
			return n;
		case TREE_CHAIN:
			/* even nodes are the spine: k -> k+1 (a leaf), k+2 (goes on) */
			n = want | 1;
			for (int k = 0; k < n; k++)
				left[k] = (k % 2 == 0 && k + 2 < n) ? k + 1 : -1;
			return n;
		case TREE_WILD:
			n = want;
			for (int k = 0; k < n; k++)
				left[k] = (r_u8(r) % 3 == 0) ? -1 : (int32) r_range(r, -2, n + 1);
			return n;
		default:
			break;
	}
	/* a proper tree grown breadth-first by splitting random leaves */
	while (n + 2 <= want)
	{
		int			k = (int) r_range(r, 0, n - 1);

		if (left[k] != -1)
		{
			/* find the first leaf from k on */
			int			j = k;

			while (j < n && left[j] != -1)
				j++;
			if (j == n)
				break;
			k = j;
		}
		/* children must come after the parent: only split the last leaves */
		left[k] = n;
		left[n] = left[n + 1] = -1;
		n += 2;
		if (r_u8(r) % 4 == 0)
			break;
	}
	switch (shape)
	{
		case TREE_CYCLE:
			for (int k = 0; k < n; k++)
				if (left[k] >= 0)
				{
					left[k] = (int32) r_range(r, 0, k);
					break;
				}
			break;
		case TREE_SHARED:
			for (int k = n - 1; k > 0; k--)
				if (left[k] >= 0)
				{
					for (int j = 0; j < k; j++)
						if (left[j] == -1 && j > 0)
						{
							/* j becomes a second parent of k's children */
							if (left[k] > j)
								left[j] = left[k];
							break;
						}
					break;
				}
			break;
		case TREE_ORPHAN:
			left[n] = left[n + 1] = -1;
			n += 2;
			break;
		default:
			break;
	}
	return n;
}

/* ---- one writer per kind ---- */

static void
gen_gbdt(Recipe *r, EcmlModelBuilder *b)
{
	int64		f = r_count(r, 1, GBDT_MAX_FEATURES);
	int			ntrees = (int) clamp64(r_count(r, 1, 64), 0, 64);
	TreeShape	shape = (TreeShape) (r_u8(r) % TREE_NSHAPES);
	int			want = (int) r_range(r, 1, (r_u8(r) % 4 == 0) ? 20000 : 64);
	int32	   *tree = palloc(sizeof(int32) * (ntrees + 1));
	Size		cap = (Size) ntrees * (want + 2) + 2;
	int32	   *ints;
	float	   *floats;
	int			nnodes = 0;
	double		base[2];

	if (cap * 32 > GEN_BUDGET)
		want = (int) Max(1, GEN_BUDGET / 32 / Max(ntrees, 1) - 2), cap = (Size) ntrees * (want + 2) + 2;
	ints = palloc0(sizeof(int32) * 4 * cap);
	floats = palloc0(sizeof(float) * 4 * cap);
	for (int t = 0; t < ntrees; t++)
	{
		int32	   *left = palloc(sizeof(int32) * (want + 2));
		int			n = gen_tree(r, t == 0 ? shape : (TreeShape) (r_u8(r) % TREE_NSHAPES), want, left);

		tree[t] = nnodes;
		for (int k = 0; k < n; k++)
		{
			int32	   *ni = ints + 4 * (Size) (nnodes + k);
			float	   *nf = floats + 4 * (Size) (nnodes + k);

			ni[0] = left[k] < 0 ? -1 : (int32) r_range(r, 0, Max(0, Min(f, GBDT_MAX_FEATURES) - 1));
			ni[1] = left[k] < 0 ? 0 : nnodes + left[k];
			ni[2] = r_u8(r) & 1;
			nf[0] = r_float(r);
			nf[1] = r_u8(r) % 16 ? (float) r_range(r, -100, 100) / 50.0f : r_float(r);
			nf[2] = r_u8(r) % 16 ? (float) r_range(r, 0, 1000) : r_float(r);
			nf[3] = (float) r_range(r, 0, 100);
		}
		nnodes += n;
		pfree(left);
	}
	tree[ntrees] = nnodes;
	base[0] = r_u8(r) % 8 ? -1.0 : NAN;
	base[1] = (double) f;
	add_json(r, b);
	add_section(r, b, GBDT_TAG_BASE, ECML_SECTION_FLOAT64, base, 2, 8);
	add_section(r, b, GBDT_TAG_TREES, ECML_SECTION_INT32, tree, ntrees + 1, 4);
	add_section(r, b, GBDT_TAG_NODE_INTS, ECML_SECTION_INT32, ints, 4 * (Size) nnodes, 4);
	add_section(r, b, GBDT_TAG_NODE_FLOATS, ECML_SECTION_FLOAT32, floats, 4 * (Size) nnodes, 4);
	add_names(r, b, ECML_TAG_FEATURE_NAMES, f);
}

static void
gen_iforest(Recipe *r, EcmlModelBuilder *b)
{
	int32		params[4];
	int			ntrees = (int) clamp64(r_count(r, 1, 32), 1, 32);
	TreeShape	shape = (TreeShape) (r_u8(r) % TREE_NSHAPES);
	int			want = (int) r_range(r, 1, (r_u8(r) % 4 == 0) ? 8000 : 64);
	int32	   *trees = palloc(sizeof(int32) * (ntrees + 1));
	Size		cap;
	int32	   *feature;
	int32	   *leftall;
	float	   *value;
	int			nnodes = 0;

	params[0] = (int32) r_count(r, 1, IFOREST_MAX_FEATURES);
	params[2] = (int32) r_count(r, IFOREST_SAMPLE_SIZE_MIN, IFOREST_SAMPLE_SIZE_MAX);
	params[1] = r_u8(r) % 8 ? ntrees : (int32) r_count(r, 1, IFOREST_N_TREES_MAX);
	params[3] = params[2] >= 2 ? (int32) ceil(log2((double) params[2])) : 1;
	if (r_u8(r) % 8 == 0)
		params[3] += (int32) r_range(r, -2, 2);
	if (params[2] >= 2 && (Size) want > 2 * (Size) params[2] - 1 && r_u8(r) % 2)
		want = 2 * params[2] - 1;
	cap = (Size) ntrees * (want + 2) + 2;
	if (cap * 12 > GEN_BUDGET)
		want = (int) Max(1, GEN_BUDGET / 12 / ntrees - 2), cap = (Size) ntrees * (want + 2) + 2;
	feature = palloc(sizeof(int32) * cap);
	leftall = palloc(sizeof(int32) * cap);
	value = palloc(sizeof(float) * cap);
	for (int t = 0; t < ntrees; t++)
	{
		int32	   *left = palloc(sizeof(int32) * (want + 2));
		int			n = gen_tree(r, t == 0 ? shape : (TreeShape) (r_u8(r) % TREE_NSHAPES), want, left);

		trees[t] = nnodes;
		for (int k = 0; k < n; k++)
		{
			Size		i = nnodes + k;

			feature[i] = left[k] < 0 ? -1 : (int32) r_range(r, 0, Max(0, Min(params[0], 100) - 1));
			leftall[i] = left[k] < 0 ? -1 : nnodes + left[k];
			value[i] = left[k] < 0 ? (float) r_range(r, 0, 20) : r_float(r);
		}
		nnodes += n;
		pfree(left);
	}
	trees[ntrees] = nnodes;
	add_json(r, b);
	add_section(r, b, IFOREST_TAG_PARAMS, ECML_SECTION_INT32, params, 4, 4);
	add_section(r, b, IFOREST_TAG_TREES, ECML_SECTION_INT32, trees, ntrees + 1, 4);
	add_section(r, b, IFOREST_TAG_FEATURE, ECML_SECTION_INT32, feature, nnodes, 4);
	add_section(r, b, IFOREST_TAG_VALUE, ECML_SECTION_FLOAT32, value, nnodes, 4);
	add_section(r, b, IFOREST_TAG_LEFT, ECML_SECTION_INT32, leftall, nnodes, 4);
}

/* the floats of an array of n elements, or a short one when n is too large */
static float *
gen_floats(Recipe *r, Size n, Size *written)
{
	Size		m = n * 4 <= GEN_BUDGET ? n : (Size) r_range(r, 0, 64);
	float	   *x = palloc_extended(sizeof(float) * Max(m, 1), MCXT_ALLOC_HUGE);
	bool		special = r_u8(r) % 8 == 0;

	for (Size i = 0; i < m; i++)
		x[i] = special && i % 97 == 0 ? r_float(r) : (float) ((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
	*written = m;
	return x;
}

static void
gen_lstm(Recipe *r, EcmlModelBuilder *b)
{
	int32		shape[6];
	int32		cell;
	size_t		P;
	Size		nw;
	float	   *w;
	int64		nvocab;

	shape[0] = r_u8(r) % 5 == 0 ? (int32) r_range(r, -1, 3) : (int32) (r_u8(r) & 1);
	shape[1] = (int32) r_count(r, 2, LSTM_MAX_VOCAB_MAX);
	shape[2] = (int32) r_count(r, 1, LSTM_DIM_MAX);
	shape[3] = (int32) r_count(r, 1, LSTM_DIM_MAX);
	shape[4] = (int32) r_count(r, 1, LSTM_LAYERS_MAX);
	shape[5] = (int32) r_count(r, 2, LSTM_MAX_LENGTH_MAX);
	/* LSTM (no section), GRU, or a cell out of range */
	cell = r_u8(r) % 3 == 0 ? (int32) r_range(r, -1, 3) : NN_CELL_LSTM;
	add_json(r, b);
	add_section(r, b, LSTM_TAG_SHAPE, ECML_SECTION_INT32, shape, 6, 4);
	if (cell != NN_CELL_LSTM)
		add_section(r, b, LSTM_TAG_CELL, ECML_SECTION_INT32, &cell, 1, 4);
	if (shape[1] >= 2 && shape[2] >= 1 && shape[3] >= 1 && shape[4] >= 1 &&
		shape[2] <= LSTM_DIM_MAX && shape[3] <= LSTM_DIM_MAX && shape[4] <= LSTM_LAYERS_MAX)
		P = lstm_param_count(shape[1], shape[2], shape[3], shape[4],
							 cell == NN_CELL_GRU ? NN_CELL_GRU : NN_CELL_LSTM);
	else
		P = (size_t) r_range(r, 0, 1000);
	w = gen_floats(r, P, &nw);
	add_section(r, b, LSTM_TAG_WEIGHTS, ECML_SECTION_FLOAT32, w, nw, 4);
	nvocab = Max(0, Min((int64) shape[1] - 1, 200000));
	if (shape[0] == LSTM_TOKENS_TEXT)
	{
		/* text tokens: distinct, or with a repeat, or the wrong number */
		StringInfoData s;
		int64		n = r_u8(r) % 8 == 0 ? nvocab + 1 : nvocab;
		bool		repeat = r_u8(r) % 8 == 0;

		initStringInfo(&s);
		for (int64 i = 0; i < n && s.len < (int) GEN_BUDGET; i++)
		{
			appendStringInfo(&s, "w%lld", (long long) (repeat && i == n - 1 ? 0 : i));
			appendStringInfoChar(&s, '\0');
		}
		ecml_builder_add(b, LSTM_TAG_VOCAB, ECML_SECTION_TEXTS, s.data, s.len);
		pfree(s.data);
	}
	else
	{
		int64	   *ids = palloc_extended(sizeof(int64) * Max(nvocab, 1), MCXT_ALLOC_HUGE);
		int64		stride = r_u8(r) % 4 == 0 ? (int64) 1 << 32 : 1;

		for (int64 i = 0; i < nvocab; i++)
			ids[i] = i * stride;
		if (nvocab > 1 && r_u8(r) % 8 == 0)
			ids[nvocab - 1] = ids[0];
		add_section(r, b, LSTM_TAG_VOCAB, ECML_SECTION_INT64, ids, nvocab, 8);
	}
}

static void
gen_mf(Recipe *r, EcmlModelBuilder *b)
{
	int64		shape[4];
	int64		nu,
				ni,
				f;
	int64	   *ids;
	float	   *x;
	Size		nw;
	double		params[2] = {0.1, 1.0};
	double		mean = 0.0;

	shape[0] = r_count(r, 1, MF_MAX_IDS);
	shape[1] = r_count(r, 1, MF_MAX_IDS);
	shape[2] = r_count(r, MF_FACTORS_MIN, MF_FACTORS_MAX);
	shape[3] = r_u8(r) % 8;
	if (shape[3] & MF_FLAG_IMPLICIT)
		shape[3] &= ~MF_FLAG_BIASES;
	nu = Max(0, Min(shape[0], 200000));
	ni = Max(0, Min(shape[1], 200000));
	f = Max(0, Min(shape[2], MF_FACTORS_MAX));
	add_json(r, b);
	add_section(r, b, MF_TAG_SHAPE, ECML_SECTION_INT64, shape, 4, 8);
	add_section(r, b, MF_TAG_PARAMS, ECML_SECTION_FLOAT64, params, 2, 8);
	add_section(r, b, MF_TAG_GLOBAL_MEAN, ECML_SECTION_FLOAT64, &mean, 1, 8);
	ids = palloc_extended(sizeof(int64) * (Max(nu, ni) + 1), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i <= Max(nu, ni); i++)
		ids[i] = i * 10;
	add_section(r, b, MF_TAG_USER_IDS, ECML_SECTION_INT64, ids, nu, 8);
	add_section(r, b, MF_TAG_ITEM_IDS, ECML_SECTION_INT64, ids, ni, 8);
	x = gen_floats(r, (Size) nu * f, &nw);
	add_section(r, b, MF_TAG_USER_FACTORS, ECML_SECTION_FLOAT32, x, nw, 4);
	x = gen_floats(r, (Size) ni * f, &nw);
	add_section(r, b, MF_TAG_ITEM_FACTORS, ECML_SECTION_FLOAT32, x, nw, 4);
	x = gen_floats(r, (Size) Max(nu, ni), &nw);
	add_section(r, b, MF_TAG_USER_BIAS, ECML_SECTION_FLOAT32, x, Min(nw, (Size) nu), 4);
	add_section(r, b, MF_TAG_ITEM_BIAS, ECML_SECTION_FLOAT32, x, Min(nw, (Size) ni), 4);
	x = gen_floats(r, (Size) f * f, &nw);
	add_section(r, b, MF_TAG_GRAM, ECML_SECTION_FLOAT32, x, nw, 4);
	if (shape[3] & MF_FLAG_SEEN)
	{
		/* every user sees the first few items; the total may be a lie */
		int64	   *ptr = palloc_extended(sizeof(int64) * (nu + 1), MCXT_ALLOC_HUGE);
		int64		per = r_range(r, 0, 4);
		int32	   *idx = palloc(sizeof(int32) * (per + 1) * 1024);
		int64		nnz;

		ptr[0] = 0;
		for (int64 u = 0; u < nu; u++)
			ptr[u + 1] = Min(ptr[u] + per, 1024 * per);
		if (r_u8(r) % 8 == 0)
			ptr[nu] = r_count(r, 0, INT32_MAX);
		nnz = Min(Max(ptr[nu], 0), 1024 * per);
		for (int64 e = 0; e < nnz; e++)
			idx[e] = (int32) (e % Max(per, 1));
		add_section(r, b, MF_TAG_SEEN_PTR, ECML_SECTION_INT64, ptr, nu + 1, 8);
		add_section(r, b, MF_TAG_SEEN_IDX, ECML_SECTION_INT32, idx, nnz, 4);
	}
}

static void
gen_vectors(Recipe *r, EcmlModelBuilder *b)
{
	int32		params[2];
	int64		n = r_count(r, 1, 100000);
	int64	   *ids;
	float	   *x;
	Size		nw;

	params[0] = (int32) r_count(r, 1, ECML_VECTOR_MAX_DIM);
	params[1] = (int32) r_range(r, -1, 3);
	n = Max(0, Min(n, 100000));
	ids = palloc_extended(sizeof(int64) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < n; i++)
		ids[i] = i;
	if (n > 1 && r_u8(r) % 8 == 0)
		ids[n - 1] = 0;
	add_json(r, b);
	add_section(r, b, VECTORS_TAG_PARAMS, ECML_SECTION_INT32, params, 2, 4);
	add_section(r, b, VECTORS_TAG_IDS, ECML_SECTION_INT64, ids, n, 8);
	x = gen_floats(r, (Size) n * Max(params[0], 0), &nw);
	add_section(r, b, VECTORS_TAG_MATRIX, ECML_SECTION_FLOAT32, x, nw, 4);
}

static void
gen_logreg(Recipe *r, EcmlModelBuilder *b)
{
	int64		f = r_count(r, 1, LOGREG_MAX_FEATURES);
	int64		m = Max(0, Min(f, 200000));
	double	   *v = palloc_extended(sizeof(double) * (m + 2), MCXT_ALLOC_HUGE);
	int32		flags = (int32) r_u8(r);

	for (int64 i = 0; i < m + 2; i++)
		v[i] = r_u8(r) % 16 ? 1.0 + (double) (i % 7) : (double) r_float(r);
	add_json(r, b);
	add_section(r, b, LOGREG_TAG_MEAN, ECML_SECTION_FLOAT64, v, m, 8);
	add_section(r, b, LOGREG_TAG_SCALE, ECML_SECTION_FLOAT64, v, m, 8);
	add_section(r, b, LOGREG_TAG_COEF, ECML_SECTION_FLOAT64, v, m + 1, 8);
	add_section(r, b, LOGREG_TAG_STDERR, ECML_SECTION_FLOAT64, v, m + 1, 8);
	add_section(r, b, LOGREG_TAG_FLAGS, ECML_SECTION_INT32, &flags, 1, 4);
	add_names(r, b, ECML_TAG_FEATURE_NAMES, f);
}

bytea *
gen_model(const uint8_t *recipe, size_t size)
{
	Recipe		r = {recipe, size, 0};
	EcmlModelBuilder b;
	int			kind = (int) (r_u8(&r) % ECML_KIND_MAX) + 1;

	ecml_builder_init(&b, (EcmlModelKind) kind);
	switch (kind)
	{
		case ECML_KIND_LOGREG:
			gen_logreg(&r, &b);
			break;
		case ECML_KIND_MF:
			gen_mf(&r, &b);
			break;
		case ECML_KIND_VECTORS:
			gen_vectors(&r, &b);
			break;
		case ECML_KIND_LSTM:
			gen_lstm(&r, &b);
			break;
		case ECML_KIND_GBDT:
			gen_gbdt(&r, &b);
			break;
		case ECML_KIND_IFOREST:
			gen_iforest(&r, &b);
			break;
	}
	/* a container-level lie now and then: far more sections than present */
	if (r_u8(&r) % 16 == 0)
		b.nsections = r_u8(&r) % 2 ? (uint32) r_u32(&r) : b.nsections + 1;
	return ecml_builder_finish(&b, 100, 0);
}

/* ---- named crafts (craft_models.c, regression inputs and SQL tests) ---- */

/*
 * A gbdt model with one tree whose nodes share children: node k's children
 * are k+1 and k+2, over levels levels (2 levels + 1 nodes, 2^levels
 * root-to-leaf paths).  Checksums are valid; only the structure is wrong.
 */
bytea *
craft_gbdt_dag(int levels, int nfeatures)
{
	EcmlModelBuilder b;
	int			n = 2 * levels + 1;
	int32		tree[2] = {0, n};
	int32	   *ints = palloc0(sizeof(int32) * 4 * n);
	float	   *floats = palloc0(sizeof(float) * 4 * n);
	double		base[2] = {0.0, nfeatures};

	for (int k = 0; k < n; k++)
	{
		bool		inner = k + 2 < n;

		ints[4 * k] = inner ? k % nfeatures : -1;
		ints[4 * k + 1] = inner ? k + 1 : 0;
		ints[4 * k + 2] = GBDT_NODE_DEFAULT_LEFT;
		floats[4 * k] = 0.5f;
		floats[4 * k + 1] = inner ? 0.0f : 0.01f;
		floats[4 * k + 2] = 1.0f;
		floats[4 * k + 3] = inner ? 1.0f : 0.0f;
	}
	ecml_builder_init(&b, ECML_KIND_GBDT);
	ecml_builder_add(&b, GBDT_TAG_BASE, ECML_SECTION_FLOAT64, base, sizeof(base));
	ecml_builder_add(&b, GBDT_TAG_TREES, ECML_SECTION_INT32, tree, sizeof(tree));
	ecml_builder_add(&b, GBDT_TAG_NODE_INTS, ECML_SECTION_INT32, ints, sizeof(int32) * 4 * n);
	ecml_builder_add(&b, GBDT_TAG_NODE_FLOATS, ECML_SECTION_FLOAT32, floats, sizeof(float) * 4 * n);
	return ecml_builder_finish(&b, 100, 0);
}

/*
 * A gbdt model with one proper tree as deep as it is long: a spine of
 * levels inner nodes, each with a leaf on its left (TreeSHAP's path
 * buffers are (depth + 2)^2 elements, 1 GB past 5,800 levels).
 */
bytea *
craft_gbdt_deep(int levels, int nfeatures)
{
	EcmlModelBuilder b;
	int			n = 2 * levels + 1;
	int32		tree[2] = {0, n};
	int32	   *ints = palloc0(sizeof(int32) * 4 * n);
	float	   *floats = palloc0(sizeof(float) * 4 * n);
	double		base[2] = {0.0, nfeatures};

	/* spine nodes 0, 2, 4, ...: left child k+1 (a leaf), right child k+2 */
	for (int k = 0; k < n; k++)
	{
		bool		inner = k % 2 == 0 && k + 2 < n;

		ints[4 * k] = inner ? (k / 2) % nfeatures : -1;
		ints[4 * k + 1] = inner ? k + 1 : 0;
		floats[4 * k] = 0.5f;
		floats[4 * k + 1] = inner ? 0.0f : 0.01f;
		floats[4 * k + 2] = 1.0f;
	}
	ecml_builder_init(&b, ECML_KIND_GBDT);
	ecml_builder_add(&b, GBDT_TAG_BASE, ECML_SECTION_FLOAT64, base, sizeof(base));
	ecml_builder_add(&b, GBDT_TAG_TREES, ECML_SECTION_INT32, tree, sizeof(tree));
	ecml_builder_add(&b, GBDT_TAG_NODE_INTS, ECML_SECTION_INT32, ints, sizeof(int32) * 4 * n);
	ecml_builder_add(&b, GBDT_TAG_NODE_FLOATS, ECML_SECTION_FLOAT32, floats, sizeof(float) * 4 * n);
	return ecml_builder_finish(&b, 100, 0);
}

/*
 * An lstm model over text tokens: vocabulary of V-1 words, E = H = 1, one
 * layer, small weights.  words may be NULL ("w1", "w2", ...) or the words
 * to use (V-1 NUL-terminated strings back to back).
 */
bytea *
craft_lstm_text(int V, int E, int H, int L, int max_length, const char *words, Size words_len)
{
	EcmlModelBuilder b;
	int32		shape[6] = {LSTM_TOKENS_TEXT, V, E, H, L, max_length};
	size_t		P = lstm_param_count(V, E, H, L, NN_CELL_LSTM);
	float	   *w = palloc_extended(sizeof(float) * P, MCXT_ALLOC_HUGE);
	StringInfoData s;

	for (size_t i = 0; i < P; i++)
		w[i] = (float) ((i * 2654435761u) % 2001) / 100000.0f - 0.01f;
	ecml_builder_init(&b, ECML_KIND_LSTM);
	ecml_builder_add_json(&b, ECML_TAG_INFO, "{\"token_type\": \"text\"}");
	ecml_builder_add(&b, LSTM_TAG_SHAPE, ECML_SECTION_INT32, shape, sizeof(shape));
	ecml_builder_add(&b, LSTM_TAG_WEIGHTS, ECML_SECTION_FLOAT32, w, sizeof(float) * P);
	if (words == NULL)
	{
		initStringInfo(&s);
		for (int i = 1; i < V; i++)
		{
			appendStringInfo(&s, "w%d", i);
			appendStringInfoChar(&s, '\0');
		}
		words = s.data;
		words_len = s.len;
	}
	ecml_builder_add(&b, LSTM_TAG_VOCAB, ECML_SECTION_TEXTS, words, words_len);
	return ecml_builder_finish(&b, 100, 0);
}

/*
 * A text lstm of the tokens w1, w2, w3 (V = 4, E = H = L = 1, zero weights:
 * a uniform softmax) with a successor table w1 -> w2 (5), w1 -> w3 (2),
 * w2 -> w3 (1), weight 0.5 and smoothing 1: well-formed (which 0), or with
 * a row past the end of the table (1), a successor out of range (2),
 * successors out of order (3), a weight above 1 (4), no weight section (5).
 * Which 6: well-formed, explore mode (repeat weight 0) with successors that
 * may be seen items and weight 0.9: after w2, w1 the seen w2 comes first
 * (w3 where they may not).  7: that scope without explore mode, 8: a
 * scope of 0.5.
 */
bytea *
craft_lstm_successors(int which)
{
	EcmlModelBuilder b;
	int32		shape[6] = {LSTM_TOKENS_TEXT, 4, 1, 1, 1, 10};
	size_t		P = lstm_param_count(4, 1, 1, 1, NN_CELL_LSTM);
	float	   *w = palloc0(sizeof(float) * P);
	/* off[0..4], next[3], count[3] */
	int32		t[11] = {0, 0, 2, 3, 3, 2, 3, 3, 5, 2, 1};
	float		params[2] = {0.5f, 1.0f};
	float		repeat[3] = {0.0f, 1.0f, 1.0f};
	float		scope = which == 8 ? 0.5f : 1.0f;
	static const char words[] = "w1\0w2\0w3";

	if (which == 1)
		t[2] = 4;
	else if (which == 2)
		t[6] = 7;
	else if (which == 3)
	{
		t[8] = 2;
		t[9] = 5;
	}
	else if (which == 4)
		params[0] = 2.0f;
	else if (which == 6)
		params[0] = 0.9f;
	ecml_builder_init(&b, ECML_KIND_LSTM);
	ecml_builder_add_json(&b, ECML_TAG_INFO, "{\"token_type\": \"text\"}");
	ecml_builder_add(&b, LSTM_TAG_SHAPE, ECML_SECTION_INT32, shape, sizeof(shape));
	ecml_builder_add(&b, LSTM_TAG_WEIGHTS, ECML_SECTION_FLOAT32, w, sizeof(float) * P);
	ecml_builder_add(&b, LSTM_TAG_VOCAB, ECML_SECTION_TEXTS, words, sizeof(words));
	ecml_builder_add(&b, LSTM_TAG_SUCC_TABLE, ECML_SECTION_INT32, t, sizeof(t));
	if (which != 5)
		ecml_builder_add(&b, LSTM_TAG_SUCC_WEIGHT, ECML_SECTION_FLOAT32, params, sizeof(params));
	if (which == 6 || which == 8)
		ecml_builder_add(&b, LSTM_TAG_REPEAT, ECML_SECTION_FLOAT32, repeat, sizeof(repeat));
	if (which >= 6)
		ecml_builder_add(&b, LSTM_TAG_SUCC_SEEN, ECML_SECTION_FLOAT32, &scope, sizeof(scope));
	return ecml_builder_finish(&b, 100, 0);
}

/*
 * An lstm (text tokens w1..w3, zero weights: a uniform softmax) with two
 * neighbour sessions {w1, w3} and {w2, w3} at weight 0.9.  Which 0:
 * well-formed: after w2, w1 the neighbours' w3 comes first (both sessions
 * hold it).  Broken: the last offset short of the items (1), an item out
 * of range (2), a session's items not ascending (3), a weight above 1 (4),
 * no weight section (5), a negative session count (6).
 */
bytea *
craft_lstm_neighbours(int which)
{
	EcmlModelBuilder b;
	int32		shape[6] = {LSTM_TOKENS_TEXT, 4, 1, 1, 1, 10};
	size_t		P = lstm_param_count(4, 1, 1, 1, NN_CELL_LSTM);
	float	   *w = palloc0(sizeof(float) * P);
	/* count, off[0..2], items */
	int32		t[8] = {2, 0, 2, 4, 1, 3, 2, 3};
	float		weight = which == 4 ? 1.5f : 0.9f;
	static const char words[] = "w1\0w2\0w3";

	if (which == 1)
		t[3] = 3;
	else if (which == 2)
		t[5] = 4;
	else if (which == 3)
	{
		t[4] = 3;
		t[5] = 1;
	}
	else if (which == 6)
		t[0] = -1;
	ecml_builder_init(&b, ECML_KIND_LSTM);
	ecml_builder_add_json(&b, ECML_TAG_INFO, "{\"token_type\": \"text\"}");
	ecml_builder_add(&b, LSTM_TAG_SHAPE, ECML_SECTION_INT32, shape, sizeof(shape));
	ecml_builder_add(&b, LSTM_TAG_WEIGHTS, ECML_SECTION_FLOAT32, w, sizeof(float) * P);
	ecml_builder_add(&b, LSTM_TAG_VOCAB, ECML_SECTION_TEXTS, words, sizeof(words));
	ecml_builder_add(&b, LSTM_TAG_KNN_SESSIONS, ECML_SECTION_INT32, t, sizeof(t));
	if (which != 5)
		ecml_builder_add(&b, LSTM_TAG_KNN_WEIGHT, ECML_SECTION_FLOAT32, &weight, sizeof(weight));
	return ecml_builder_finish(&b, 100, 0);
}

/*
 * A text lstm of w1..w3 (V = 4, E = H = L = 1) with GRU cells, zero weights
 * but the output bias of w2 (so w2 always comes next).  Which 0:
 * well-formed.  Broken: a cell out of range (1), a cell section of the
 * wrong length (2), GRU-sized weights without the cell section, which
 * then reads as an LSTM's and is too short (3).
 */
bytea *
craft_lstm_cell(int which)
{
	EcmlModelBuilder b;
	int32		shape[6] = {LSTM_TOKENS_TEXT, 4, 1, 1, 1, 10};
	size_t		P = lstm_param_count(4, 1, 1, 1, NN_CELL_GRU);
	float	   *w = palloc0(sizeof(float) * P);
	int32		cell[2] = {which == 1 ? 2 : NN_CELL_GRU, NN_CELL_GRU};
	static const char words[] = "w1\0w2\0w3";

	w[P - 4 + 2] = 2.0f;		/* b_o (V) is the block's last V floats */
	ecml_builder_init(&b, ECML_KIND_LSTM);
	ecml_builder_add_json(&b, ECML_TAG_INFO, "{\"token_type\": \"text\"}");
	ecml_builder_add(&b, LSTM_TAG_SHAPE, ECML_SECTION_INT32, shape, sizeof(shape));
	ecml_builder_add(&b, LSTM_TAG_WEIGHTS, ECML_SECTION_FLOAT32, w, sizeof(float) * P);
	ecml_builder_add(&b, LSTM_TAG_VOCAB, ECML_SECTION_TEXTS, words, sizeof(words));
	if (which != 3)
		ecml_builder_add(&b, LSTM_TAG_CELL, ECML_SECTION_INT32, cell,
						 which == 2 ? sizeof(cell) : sizeof(int32));
	return ecml_builder_finish(&b, 100, 0);
}

/*
 * An isolation forest of one tree whose inner nodes 1 and 2 share their
 * children 3 and 4 (a DAG: the walk still ends, but the tree is not one).
 */
bytea *
craft_iforest_dag(void)
{
	EcmlModelBuilder b;
	int32		params[4] = {2, 1, 8, 3};
	int32		trees[2] = {0, 5};
	int32		feature[5] = {0, 1, 0, -1, -1};
	int32		left[5] = {1, 3, 3, -1, -1};
	float		value[5] = {0.5f, 0.5f, 0.5f, 2.0f, 2.0f};

	ecml_builder_init(&b, ECML_KIND_IFOREST);
	ecml_builder_add(&b, IFOREST_TAG_PARAMS, ECML_SECTION_INT32, params, sizeof(params));
	ecml_builder_add(&b, IFOREST_TAG_TREES, ECML_SECTION_INT32, trees, sizeof(trees));
	ecml_builder_add(&b, IFOREST_TAG_FEATURE, ECML_SECTION_INT32, feature, sizeof(feature));
	ecml_builder_add(&b, IFOREST_TAG_VALUE, ECML_SECTION_FLOAT32, value, sizeof(value));
	ecml_builder_add(&b, IFOREST_TAG_LEFT, ECML_SECTION_INT32, left, sizeof(left));
	return ecml_builder_finish(&b, 100, 0);
}

/*
 * A valid one-feature logreg model whose INFO section is levels '[' (not
 * even valid JSON): a parser that recurses per level without a stack check
 * overflows.
 */
bytea *
craft_json_deep(int levels)
{
	EcmlModelBuilder b;
	char	   *json = palloc(Max(levels, 1));
	double		one[2] = {1.0, 1.0};
	int32		flags = 1;

	memset(json, '[', levels);
	ecml_builder_init(&b, ECML_KIND_LOGREG);
	ecml_builder_add(&b, LOGREG_TAG_MEAN, ECML_SECTION_FLOAT64, one, sizeof(double));
	ecml_builder_add(&b, LOGREG_TAG_SCALE, ECML_SECTION_FLOAT64, one, sizeof(double));
	ecml_builder_add(&b, LOGREG_TAG_COEF, ECML_SECTION_FLOAT64, one, 2 * sizeof(double));
	ecml_builder_add(&b, LOGREG_TAG_STDERR, ECML_SECTION_FLOAT64, one, 2 * sizeof(double));
	ecml_builder_add(&b, LOGREG_TAG_FLAGS, ECML_SECTION_INT32, &flags, sizeof(flags));
	ecml_builder_add(&b, ECML_TAG_INFO, ECML_SECTION_JSON, json, levels);
	return ecml_builder_finish(&b, 100, 0);
}

/*
 * A valid one-feature logreg model whose feature-name table holds n empty
 * names (n bytes of NULs): a reader that sizes its pointer array by the
 * count before checking it asks for 8 n bytes.
 */
bytea *
craft_many_names(Size n)
{
	EcmlModelBuilder b;
	char	   *names = palloc_extended(Max(n, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	double		one[2] = {1.0, 1.0};
	int32		flags = 1;

	ecml_builder_init(&b, ECML_KIND_LOGREG);
	ecml_builder_add(&b, LOGREG_TAG_MEAN, ECML_SECTION_FLOAT64, one, sizeof(double));
	ecml_builder_add(&b, LOGREG_TAG_SCALE, ECML_SECTION_FLOAT64, one, sizeof(double));
	ecml_builder_add(&b, LOGREG_TAG_COEF, ECML_SECTION_FLOAT64, one, 2 * sizeof(double));
	ecml_builder_add(&b, LOGREG_TAG_STDERR, ECML_SECTION_FLOAT64, one, 2 * sizeof(double));
	ecml_builder_add(&b, LOGREG_TAG_FLAGS, ECML_SECTION_INT32, &flags, sizeof(flags));
	ecml_builder_add(&b, ECML_TAG_FEATURE_NAMES, ECML_SECTION_TEXTS, names, n);
	return ecml_builder_finish(&b, 100, 0);
}
