/*
 * gbdt_passes.c
 *	  Gradient boosting in bounded memory: ecml.train('gbdt', source) grows
 *	  fraud_train's trees level by level, each level's gradient histograms
 *	  summed by one SQL aggregate query, ecml.gbdt_pass(features, label,
 *	  plan).
 *
 * Pass 1 is the sketch (gbdt_sketch.c), which gives the bin edges and the
 * counts.  Then, for each level of each tree, the plan (a bytea) carries the
 * bin edges, the finished trees, the tree being grown and which of its open
 * nodes wants a histogram; the pass's state is those nodes' gradient and
 * Hessian sums per bin, with row counts, merged by a combine function.
 *
 * Each row's margin is recomputed from the finished trees in every pass
 * rather than kept: keeping it would need a row identity and a write per
 * row per tree (or a temporary table as large as the source), while walking
 * the trees costs depth comparisons per tree and row, which for the few
 * dozen trees of a fraud model is below reading the row.  The gradient and
 * Hessian are fraud_train's: float, from the same margin summed in the same
 * order, so that on the same bins the same sums and the same trees follow
 * (up to the order of additions across parallel workers).  Splits are
 * chosen by fraud_train's find_split, the trees written by its model
 * writer.
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "catalog/pg_type.h"
#include "ecml.h"
#include "gbdt_passes.h"
#include "miscadmin.h"
#include "train.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"

#define PASS_AGG "ecml.gbdt_pass"
#define GBDT_PLAN_MAGIC 0x4742504C	/* "GBPL" */
#define GBDT_HIST_MAGIC 0x47424853	/* "GBHS" */

/*
 * The plan: this header, then int32 nbins[f], offset[f], cut_start[f],
 * float cuts[ncuts], int32 tree_start[ntrees + 1], int32 ints[4 nnodes],
 * float floats[4 nnodes] (the finished trees, node indices local to each
 * tree), int32 cur_ints[4 cur_nnodes], float cur_floats[4 cur_nnodes],
 * int32 slot[cur_nnodes] (-1, or the open node's histogram).
 */
typedef struct GbdtPlan
{
	int32		vl_len_;
	int32		magic;
	int32		f;
	int32		ncuts;
	int32		total_bins;
	int32		ntrees;
	int32		nnodes;
	int32		cur_nnodes;
	int32		nslots;
	int32		pad;
	double		base_margin;
	double		w_neg;
	double		w_pos;
	double		subsample;		/* the tree's rows: gbdt_row_in_tree */
	int64		seed;
} GbdtPlan;

typedef struct PlanView
{
	const GbdtPlan *h;
	const int32 *nbins;
	const int32 *offset;
	const int32 *cut_start;
	const float *cuts;
	const int32 *tree_start;
	const int32 *ints;
	const float *floats;
	const int32 *cur_ints;
	const float *cur_floats;
	const int32 *slot;
} PlanView;

/*
 * The state: this header, then double node_g[nslots], node_h[nslots],
 * int64 node_n[nslots], HistBin hist[nslots][total_bins],
 * int64 count[nslots][total_bins].
 */
typedef struct GbdtHistState
{
	int32		vl_len_;
	int32		magic;
	int32		f;
	int32		nslots;
	int32		total_bins;
	int32		pad;
	int64		nrows;
	int64		npos;
	int64		nskipped;
	double		checksum;
	double		loss;			/* log loss at the finished trees' margins */
} GbdtHistState;

typedef struct HistView
{
	double	   *node_g;
	double	   *node_h;
	int64	   *node_n;
	HistBin    *hist;
	int64	   *count;
} HistView;

#define pass_corrupt(what) ecml_pass_state_invalid(PASS_AGG, "gbdt", (what))

static Size
plan_size(int f, int ncuts, int ntrees, int nnodes, int cur)
{
	return MAXALIGN(sizeof(GbdtPlan)) + sizeof(int32) * (3 * (Size) f + ntrees + 1) +
		sizeof(float) * (Size) ncuts + 32 * (Size) nnodes + 36 * (Size) cur;
}

static PlanView
plan_view(const GbdtPlan *p)
{
	PlanView	v;
	const char *c = (const char *) p + MAXALIGN(sizeof(GbdtPlan));

	v.h = p;
	v.nbins = (const int32 *) c;
	v.offset = v.nbins + p->f;
	v.cut_start = v.offset + p->f;
	v.cuts = (const float *) (v.cut_start + p->f);
	v.tree_start = (const int32 *) (v.cuts + p->ncuts);
	v.ints = v.tree_start + p->ntrees + 1;
	v.floats = (const float *) (v.ints + 4 * (Size) p->nnodes);
	v.cur_ints = (const int32 *) (v.floats + 4 * (Size) p->nnodes);
	v.cur_floats = (const float *) (v.cur_ints + 4 * (Size) p->cur_nnodes);
	v.slot = (const int32 *) (v.cur_floats + 4 * (Size) p->cur_nnodes);
	return v;
}

/* Nodes [0, n) of one tree: children after their parent, inside the tree. */
static bool
tree_ok(const int32 *ints, int n, int f)
{
	for (int k = 0; k < n; k++)
	{
		int			j = ints[4 * k];

		if (j < -1 || j >= f || (j >= 0 && (ints[4 * k + 1] <= k || ints[4 * k + 1] + 1 >= n)))
			return false;
	}
	return true;
}

/* Every index of a plan in range, so that walking it cannot stray. */
static PlanView
plan_check(bytea *b)
{
	const GbdtPlan *p = (const GbdtPlan *) b;
	PlanView	v;
	int			off = 0;

	if (VARSIZE(p) < sizeof(GbdtPlan) || p->magic != GBDT_PLAN_MAGIC ||
		p->f < 1 || p->f > GBDT_MAX_FEATURES || p->ncuts < 0 || p->ntrees < 0 ||
		p->nnodes < 0 || p->cur_nnodes < 1 || p->nslots < 0 || p->total_bins < 0 ||
		!(p->subsample > 0 && p->subsample <= 1) ||
		VARSIZE(p) != plan_size(p->f, p->ncuts, p->ntrees, p->nnodes, p->cur_nnodes))
		pass_corrupt("plan");
	v = plan_view(p);
	for (int j = 0; j < p->f; j++)
	{
		if (v.nbins[j] < 1 || v.nbins[j] > GBDT_MAX_BINS_MAX || v.offset[j] != off ||
			v.cut_start[j] < 0 || v.cut_start[j] + v.nbins[j] - 1 > p->ncuts)
			pass_corrupt("plan");
		off += v.nbins[j] + 1;
	}
	if (off != p->total_bins || v.tree_start[0] != 0 || v.tree_start[p->ntrees] != p->nnodes)
		pass_corrupt("plan");
	for (int t = 0; t < p->ntrees; t++)
		if (v.tree_start[t + 1] <= v.tree_start[t] ||
			!tree_ok(v.ints + 4 * (Size) v.tree_start[t], v.tree_start[t + 1] - v.tree_start[t], p->f))
			pass_corrupt("plan");
	if (!tree_ok(v.cur_ints, p->cur_nnodes, p->f))
		pass_corrupt("plan");
	for (int k = 0; k < p->cur_nnodes; k++)
		if (v.slot[k] < -1 || v.slot[k] >= p->nslots)
			pass_corrupt("plan");
	return v;
}

/* The node a row reaches in one tree: x <= threshold left, NaN by the flag. */
static inline int
tree_walk(const int32 *ints, const float *floats, const float *x)
{
	int			k = 0;

	while (ints[4 * k] >= 0)
	{
		float		v = x[ints[4 * k]];
		bool		left = isnan(v) ? (ints[4 * k + 2] & GBDT_NODE_DEFAULT_LEFT) != 0 :
			v <= floats[4 * k];

		k = ints[4 * k + 1] + (left ? 0 : 1);
	}
	return k;
}

static Size
hist_state_size(int nslots, int total_bins)
{
	return MAXALIGN(sizeof(GbdtHistState)) +
		(Size) nslots * (2 * sizeof(double) + sizeof(int64)) +
		(Size) nslots * total_bins * (sizeof(HistBin) + sizeof(int64));
}

static HistView
hist_view(GbdtHistState *s)
{
	HistView	v;
	char	   *c = (char *) s + MAXALIGN(sizeof(GbdtHistState));

	v.node_g = (double *) c;
	v.node_h = v.node_g + s->nslots;
	v.node_n = (int64 *) (v.node_h + s->nslots);
	v.hist = (HistBin *) (v.node_n + s->nslots);
	v.count = (int64 *) (v.hist + (Size) s->nslots * s->total_bins);
	return v;
}

static GbdtHistState *
hist_state_check(bytea *b)
{
	GbdtHistState *s = (GbdtHistState *) b;

	if (VARSIZE(s) < sizeof(GbdtHistState) || s->magic != GBDT_HIST_MAGIC ||
		s->f < 1 || s->f > GBDT_MAX_FEATURES || s->nslots < 0 || s->total_bins < 0 ||
		VARSIZE(s) != hist_state_size(s->nslots, s->total_bins))
		pass_corrupt("partial state");
	return s;
}

static GbdtHistState *
hist_state_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	return hist_state_check((bytea *) ecml_agg_writable_arg(fcinfo, argno));
}

/*
 * The checked plan, cached in fn_extra for as long as the same plan comes
 * in (every row of a pass), so that it is checked once per pass.
 */
typedef struct PlanCache
{
	const void *ptr;
	PlanView	v;
} PlanCache;

static PlanView
plan_arg(FunctionCallInfo fcinfo)
{
	PlanCache  *pc = (PlanCache *) fcinfo->flinfo->fn_extra;
	bytea	   *b;

	if (PG_ARGISNULL(3))
		pass_corrupt("plan: NULL");
	b = PG_GETARG_BYTEA_P(3);
	if (pc != NULL && pc->ptr == (const void *) b)
		return pc->v;
	if (pc == NULL)
		pc = fcinfo->flinfo->fn_extra =
			MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(PlanCache));
	pc->v = plan_check(b);
	pc->ptr = b;
	return pc->v;
}

/* transition: the row's gradient pair into the histogram of its open node */
PG_FUNCTION_INFO_V1(gbdt_pass_transfn);
Datum
gbdt_pass_transfn(PG_FUNCTION_ARGS)
{
	GbdtHistState *s = hist_state_arg(fcinfo, 0);
	PlanView	v = plan_arg(fcinfo);
	const GbdtPlan *p = v.h;
	ArrayType  *arr;
	float	   *x;
	double		F;
	int			y;
	int			slot;
	HistView	hv;

	if (s == NULL)
	{
		Size		size = hist_state_size(p->nslots, p->total_bins);

		ecml_check_train_memory(size, GBDT_PASS_TRAINER);
		s = palloc_extended(size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		SET_VARSIZE(s, size);
		s->magic = GBDT_HIST_MAGIC;
		s->f = p->f;
		s->nslots = p->nslots;
		s->total_bins = p->total_bins;
	}
	if (s->nslots != p->nslots || s->total_bins != p->total_bins)
		pass_corrupt("state: not of this plan");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		s->nskipped++;
		PG_RETURN_BYTEA_P(s);
	}
	arr = PG_GETARG_ARRAYTYPE_P(1);
	y = PG_GETARG_BOOL(2) ? 1 : 0;
	ecml_check_same_width(p->f, gbdt_array_length(arr), GBDT_PASS_TRAINER);
	/* the features, then the label as fraud_train buffers it (the row's hash) */
	x = palloc(sizeof(float) * (p->f + 1));
	gbdt_copy_features(arr, p->f, x);
	x[p->f] = y ? 1.0f : 0.0f;
	s->nrows++;
	s->npos += y;
	for (int j = 0; j < p->f; j++)
		if (!isnan(x[j]))
			s->checksum += x[j];

	/* the margin in fraud_train's order: the base, then tree by tree */
	F = p->base_margin;
	for (int t = 0; t < p->ntrees; t++)
	{
		const int32 *ti = v.ints + 4 * (Size) v.tree_start[t];
		const float *tf = v.floats + 4 * (Size) v.tree_start[t];

		F += tf[4 * tree_walk(ti, tf, x) + 1];
	}
	s->loss += log1p(exp(-fabs(F))) + Max(y ? -F : F, 0.0);

	slot = v.slot[tree_walk(v.cur_ints, v.cur_floats, x)];
	if (slot >= 0 && p->subsample < 1.0 &&
		!gbdt_row_in_tree(gbdt_row_hash(x, p->f, p->seed), p->seed, p->ntrees, p->subsample))
		slot = -1;
	if (slot >= 0)
	{
		double		e = exp(-fabs(F));
		double		prob = F >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
		double		w = y ? p->w_pos : p->w_neg;
		float		g = (float) (w * (prob - (double) y));
		float		h = (float) (w * prob * (1.0 - prob));
		HistBin    *hist;
		int64	   *count;

		hv = hist_view(s);
		hist = hv.hist + (Size) slot * s->total_bins;
		count = hv.count + (Size) slot * s->total_bins;
		hv.node_g[slot] += g;
		hv.node_h[slot] += h;
		hv.node_n[slot]++;
		for (int j = 0; j < p->f; j++)
		{
			int			code = isnan(x[j]) ? v.nbins[j] :
				bin_of(v.cuts + v.cut_start[j], v.nbins[j] - 1, x[j]);
			int			b = v.offset[j] + code;

			hist[b].g += g;
			hist[b].h += h;
			count[b]++;
		}
	}
	pfree(x);
	PG_RETURN_BYTEA_P(s);
}

/* combine: add s2's sums into s1, in place */
PG_FUNCTION_INFO_V1(gbdt_pass_combinefn);
Datum
gbdt_pass_combinefn(PG_FUNCTION_ARGS)
{
	GbdtHistState *s1 = hist_state_arg(fcinfo, 0);
	GbdtHistState *s2 = PG_ARGISNULL(1) ? NULL : hist_state_check(PG_GETARG_BYTEA_P(1));
	HistView	a;
	HistView	b;
	Size		nbins;

	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(s1);
	}
	if (s1 == NULL)
		PG_RETURN_BYTEA_P(PG_GETARG_BYTEA_P_COPY(1));
	if (s1->nslots != s2->nslots || s1->total_bins != s2->total_bins || s1->f != s2->f)
		pass_corrupt("state: partial states of different passes");
	a = hist_view(s1);
	b = hist_view(s2);
	nbins = (Size) s1->nslots * s1->total_bins;
	for (int i = 0; i < s1->nslots; i++)
	{
		a.node_g[i] += b.node_g[i];
		a.node_h[i] += b.node_h[i];
		a.node_n[i] += b.node_n[i];
	}
	for (Size i = 0; i < nbins; i++)
	{
		a.hist[i].g += b.hist[i].g;
		a.hist[i].h += b.hist[i].h;
		a.count[i] += b.count[i];
	}
	s1->nrows += s2->nrows;
	s1->npos += s2->npos;
	s1->nskipped += s2->nskipped;
	s1->checksum += s2->checksum;
	s1->loss += s2->loss;
	PG_RETURN_BYTEA_P(s1);
}

/* ---------------- the multi-pass trainer ---------------- */

typedef struct GbdtPassRun
{
	EcmlTrainDriver *d;
	GbdtOptions o;
	Booster		bs;				/* what find_split and make_leaf read */
	int			f;
	int			ncuts;
	float	   *cuts;			/* every feature's cuts, one after another */
	int32	   *cut_start;
	double		base_margin;
	double		w_neg;
	double		w_pos;
	GbdtTree   *trees;			/* finished */
	int			ntrees;
	int			nnodes;
	/* what every pass must find again: the rows of the sketch pass */
	int64		nrows;
	int64		npos;
	int64		nskipped;
	double		checksum;
	double		abs_sum;
	GbdtHistState *last;		/* the latest pass's state */
} GbdtPassRun;

static void
gbdt_check_same_source(const GbdtPassRun *r, const GbdtHistState *s)
{
	int64		nrows = s ? s->nrows : 0;
	int64		npos = s ? s->npos : 0;
	int64		nskipped = s ? s->nskipped : 0;
	double		checksum = s ? s->checksum : 0.0;

	if (nrows != r->nrows || npos != r->npos || nskipped != r->nskipped ||
		fabs(checksum - r->checksum) > 1e-9 * Max(r->abs_sum, 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s: the source returned other rows in pass %d than in pass 1",
						GBDT_PASS_TRAINER, r->d->passes),
				 errdetail("Pass 1: " INT64_FORMAT " rows (" INT64_FORMAT " positive, " INT64_FORMAT
						   " skipped), feature sum %.17g; pass %d: " INT64_FORMAT " rows (" INT64_FORMAT
						   " positive, " INT64_FORMAT " skipped), feature sum %.17g.",
						   r->nrows, r->npos, r->nskipped, r->checksum, r->d->passes,
						   nrows, npos, nskipped, checksum),
				 errhint("Every pass reads the caller's snapshot, so only a volatile source (random(), TABLESAMPLE without REPEATABLE, a volatile function) can change; make it deterministic.")));
}

/*
 * One histogram pass: the finished trees, the tree tb being grown and, per
 * node of tb, its histogram slot (-1: none).  Returns the merged state.
 */
static GbdtHistState *
gbdt_hist_pass(GbdtPassRun *r, const char *what, const TreeBuf *tb, const int32 *slot,
			   int nslots)
{
	int			cur = tb->t.nnodes;
	Size		size = plan_size(r->f, r->ncuts, r->ntrees, r->nnodes, cur);
	GbdtPlan   *p;
	int32	   *nbins;
	int32	   *offset;
	int32	   *cut_start;
	int32	   *tree_start;
	int32	   *ints;
	float	   *floats;
	char	   *c;
	bool		isnull;
	Datum		res;
	GbdtHistState *s;

	ecml_check_train_memory(size, GBDT_PASS_TRAINER);
	p = palloc_extended(size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	SET_VARSIZE(p, size);
	p->magic = GBDT_PLAN_MAGIC;
	p->f = r->f;
	p->ncuts = r->ncuts;
	p->total_bins = r->bs.bd.total_bins;
	p->ntrees = r->ntrees;
	p->nnodes = r->nnodes;
	p->cur_nnodes = cur;
	p->nslots = nslots;
	p->base_margin = r->base_margin;
	p->w_neg = r->w_neg;
	p->w_pos = r->w_pos;
	p->subsample = r->o.subsample;
	p->seed = r->o.seed;

	c = (char *) p + MAXALIGN(sizeof(GbdtPlan));
	nbins = (int32 *) c;
	offset = nbins + r->f;
	cut_start = offset + r->f;
	for (int j = 0; j < r->f; j++)
	{
		nbins[j] = r->bs.bd.nbins[j];
		offset[j] = r->bs.bd.offset[j];
		cut_start[j] = r->cut_start[j];
	}
	memcpy(cut_start + r->f, r->cuts, sizeof(float) * r->ncuts);
	tree_start = (int32 *) ((float *) (cut_start + r->f) + r->ncuts);
	ints = tree_start + r->ntrees + 1;
	floats = (float *) (ints + 4 * (Size) r->nnodes);
	tree_start[0] = 0;
	for (int t = 0; t < r->ntrees; t++)
	{
		int			n = r->trees[t].nnodes;

		memcpy(ints + 4 * (Size) tree_start[t], r->trees[t].ints, sizeof(int32) * 4 * n);
		memcpy(floats + 4 * (Size) tree_start[t], r->trees[t].floats, sizeof(float) * 4 * n);
		tree_start[t + 1] = tree_start[t] + n;
	}
	ints = (int32 *) (floats + 4 * (Size) r->nnodes);
	memcpy(ints, tb->t.ints, sizeof(int32) * 4 * cur);
	floats = (float *) (ints + 4 * (Size) cur);
	memcpy(floats, tb->t.floats, sizeof(float) * 4 * cur);
	memcpy(floats + 4 * (Size) cur, slot, sizeof(int32) * cur);

	if (r->last)
		pfree(r->last);
	r->last = NULL;
	res = ecml_train_pass(r->d, what, "ecml.gbdt_pass(c1::real[], c2::boolean, $1)",
						  BYTEAOID, PointerGetDatum(p), &isnull);
	pfree(p);
	s = isnull ? NULL : hist_state_check(DatumGetByteaP(res));
	gbdt_check_same_source(r, s);
	if (s->nslots != nslots || s->total_bins != r->bs.bd.total_bins)
		pass_corrupt("result: not of this plan");
	r->last = s;
	return s;
}

static bool
node_splittable(const GbdtPassRun *r, const GrowNode *nd)
{
	return nd->depth < r->o.max_depth && nd->end - nd->begin >= 2 &&
		nd->H >= 2 * Max(r->o.min_child_weight, 1e-6);
}

/*
 * One pass for the nodes of a level that can split: their histograms, then
 * each one's best split (find_split, as fraud_train).  counts[i] points at
 * node i's per-bin row counts.
 */
static void
gbdt_level_pass(GbdtPassRun *r, TreeBuf *tb, GrowNode *level, int nlevel, int64 **counts,
				bool root)
{
	int32	   *slot = palloc(sizeof(int32) * tb->t.nnodes);
	int			nslots = 0;
	GbdtHistState *s;
	HistView	hv;
	char	   *what;

	for (int k = 0; k < tb->t.nnodes; k++)
		slot[k] = -1;
	for (int i = 0; i < nlevel; i++)
	{
		level[i].hist = NULL;
		counts[i] = NULL;
		if (root || node_splittable(r, &level[i]))
			slot[level[i].out] = nslots++;
	}
	if (nslots == 0)
		return;
	what = psprintf("tree %d, level %d: histograms of %d nodes", r->ntrees + 1,
					level[0].depth, nslots);
	s = gbdt_hist_pass(r, what, tb, slot, nslots);
	hv = hist_view(s);
	for (int i = 0; i < nlevel; i++)
	{
		GrowNode   *nd = &level[i];
		int			k = slot[nd->out];

		if (k < 0)
			continue;
		if (root)
		{
			nd->G = hv.node_g[k];
			nd->H = hv.node_h[k];
			nd->begin = 0;
			nd->end = (int) Min(hv.node_n[k], (int64) PG_INT32_MAX);
			if (!node_splittable(r, nd))
				continue;
		}
		nd->hist = hv.hist + (Size) k * s->total_bins;
		counts[i] = hv.count + (Size) k * s->total_bins;
		find_split(&r->bs, nd);
	}
	pfree(slot);
}

/* Rows of a split node going left, from its per-bin counts. */
static int64
left_count(const GbdtPassRun *r, const GrowNode *nd, const int64 *count)
{
	int			j = nd->feature;
	const int64 *cj = count + r->bs.bd.offset[j];
	int64		n = nd->default_left ? cj[r->bs.bd.nbins[j]] : 0;

	for (int b = 0; b <= nd->bin; b++)
		n += cj[b];
	return n;
}

/*
 * Grow one tree level by level, one pass per level, choosing and writing
 * nodes as fraud_train's grow_tree does.
 */
static void
gbdt_grow_tree_passes(GbdtPassRun *r, TreeBuf *tb)
{
	const GbdtOptions *o = &r->o;
	GrowNode   *level = palloc0(sizeof(GrowNode));
	int64	  **counts = palloc(sizeof(int64 *));
	int			nlevel = 1;
	int			leaves = 1;

	level[0].out = tree_add_node(tb);
	level[0].feature = -1;
	gbdt_level_pass(r, tb, level, 1, counts, true);

	while (nlevel > 0)
	{
		GrowNode  **chosen = palloc(sizeof(GrowNode *) * nlevel);
		GrowNode   *next;
		int64	  **next_counts;
		int			nchosen = 0;
		int			nnext = 0;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < nlevel; i++)
			if (level[i].feature >= 0 && level[i].depth < o->max_depth)
				chosen[nchosen++] = &level[i];
		if (o->max_leaves > 0)
		{
			qsort(chosen, nchosen, sizeof(GrowNode *), gbdt_cmp_gain_desc);
			nchosen = Min(nchosen, o->max_leaves - leaves);
		}
		for (int i = 0; i < nlevel; i++)
			level[i].depth = -level[i].depth - 1;	/* mark: not chosen */
		for (int i = 0; i < nchosen; i++)
			chosen[i]->depth = -chosen[i]->depth - 1;	/* unmark */

		next = palloc0(sizeof(GrowNode) * 2 * Max(nchosen, 1));
		next_counts = palloc(sizeof(int64 *) * 2 * Max(nchosen, 1));
		for (int i = 0; i < nlevel; i++)
		{
			GrowNode   *nd = &level[i];
			GrowNode   *L,
					   *R;
			int64		nl;
			int32	   *ni;
			float	   *nf;

			nd->hist = NULL;	/* the pass's state, not a pooled buffer */
			if (nd->depth < 0)
			{
				nd->depth = -nd->depth - 1;
				make_leaf(&r->bs, tb, nd);
				continue;
			}
			nl = left_count(r, nd, counts[i]);
			L = &next[nnext++];
			R = &next[nnext++];
			L->end = (int) nl;
			R->end = nd->end - (int) nl;
			L->G = nd->GL;
			L->H = nd->HL;
			R->G = nd->G - nd->GL;
			R->H = nd->H - nd->HL;
			L->depth = R->depth = nd->depth + 1;
			L->feature = R->feature = -1;
			L->out = tree_add_node(tb);
			R->out = tree_add_node(tb);
			leaves++;

			ni = tb->t.ints + 4 * nd->out;
			nf = tb->t.floats + 4 * nd->out;
			ni[0] = nd->feature;
			ni[1] = L->out;
			ni[2] = nd->default_left ? GBDT_NODE_DEFAULT_LEFT : 0;
			nf[0] = nd->bin < r->bs.bd.nbins[nd->feature] - 1 ?
				r->bs.bd.cuts[nd->feature][nd->bin] : get_float4_infinity();
			nf[1] = (float) (-o->learning_rate * nd->G / (nd->H + o->l2));
			nf[2] = (float) (nd->end - nd->begin);
			nf[3] = (float) nd->gain;
			tb->split_bin[nd->out] = nd->bin;
		}
		pfree(chosen);
		pfree(level);
		pfree(counts);
		level = next;
		counts = next_counts;
		nlevel = nnext;
		if (o->max_leaves > 0 && leaves >= o->max_leaves)
		{
			for (int i = 0; i < nlevel; i++)
				make_leaf(&r->bs, tb, &level[i]);
			nlevel = 0;
		}
		else if (nlevel > 0)
			gbdt_level_pass(r, tb, level, nlevel, counts, false);
	}
	pfree(level);
	pfree(counts);
}

/* "sample_size", removed from *options: the sketch's rows */
static int
gbdt_take_sample_size(Jsonb **options)
{
	JsonbValue	v;
	double		k;

	if (*options == NULL || !JB_ROOT_IS_OBJECT(*options) ||
		getKeyJsonValueFromContainer(&(*options)->root, "sample_size", 11, &v) == NULL)
		return GBDT_SKETCH_SAMPLE_DEFAULT;
	if (v.type != jbvNumeric)
		k = -1;
	else
		k = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
	if (!(k >= GBDT_SKETCH_SAMPLE_MIN && k <= GBDT_SKETCH_SAMPLE_MAX) || k != floor(k))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"sample_size\" must be an integer between %d and %d",
						GBDT_PASS_TRAINER, GBDT_SKETCH_SAMPLE_MIN, GBDT_SKETCH_SAMPLE_MAX),
				 errhint("It is the number of rows the bin edges are placed from.")));
	*options = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(*options),
												  CStringGetTextDatum("sample_size")));
	return (int) k;
}

/* Options that need the rows in memory: refused, with what to do instead. */
static void
gbdt_refuse_options(Jsonb *options)
{
	JsonbValue	v;

	if (options != NULL && JB_ROOT_IS_OBJECT(options) &&
		getKeyJsonValueFromContainer(&options->root, "early_stopping_rounds", 21, &v) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s does not support option \"early_stopping_rounds\"", GBDT_PASS_TRAINER),
				 errhint("The passes keep no validation rows; choose \"n_trees\", and score held-out rows with save_as and \"holdout\" or \"validation_fraction\" (docs/lifecycle.md), or train with ecml.fraud_train.")));
}

static GbdtSketch *
gbdt_sketch_pass(GbdtPassRun *r, int sample_size)
{
	char	   *select = psprintf("ecml.gbdt_sketch(c1::real[], c2::boolean, %d, %d, " INT64_FORMAT ")",
								  sample_size, r->o.max_bins, r->o.seed);
	bool		isnull;
	Datum		res = ecml_train_pass(r->d, "bin-edge sketch and row counts", select,
									  InvalidOid, (Datum) 0, &isnull);
	GbdtSketch *s = isnull ? NULL : gbdt_sketch_check(DatumGetByteaP(res));

	if (s == NULL || s->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no training rows", GBDT_PASS_TRAINER),
				 errdetail("Rows seen: " INT64_FORMAT ", skipped for a NULL feature vector or label: " INT64_FORMAT ".",
						   s ? s->nrows + s->nskipped : 0, s ? s->nskipped : 0),
				 errhint("Check the source's WHERE clause and the NULLs in the features and label columns.")));
	if (s->npos == 0 || s->npos == s->nrows)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: every label is %s; fraud scoring needs both fraud and legitimate rows",
						GBDT_PASS_TRAINER, s->npos == 0 ? "false" : "true"),
				 errhint("Train on rows that include both outcomes, or use ecml.anomaly_train when no fraud is labelled.")));
	r->f = s->f;
	r->nrows = s->nrows;
	r->npos = s->npos;
	r->nskipped = s->nskipped;
	r->checksum = s->checksum;
	r->abs_sum = s->abs_sum;
	return s;
}

/* The bins of every feature from the sketch, as fraud_train's bin_rows sets them. */
static void
gbdt_bins_from_sketch(GbdtPassRun *r, const GbdtSketch *s, GbdtFit *fit)
{
	Binned	   *bd = &r->bs.bd;
	int			f = r->f;
	int			maxc = r->o.max_bins - 1;
	bool		any = false;
	int			off = 0;

	bd->f = f;
	bd->n = (int) Min(r->nrows, (int64) PG_INT32_MAX);
	bd->nbins = palloc(sizeof(int) * f);
	bd->offset = palloc(sizeof(int) * f);
	bd->cuts = palloc(sizeof(float *) * f);
	bd->usable = palloc(sizeof(bool) * f);
	r->cuts = palloc(sizeof(float) * (Size) f * maxc);
	r->cut_start = palloc(sizeof(int32) * f);
	r->ncuts = 0;
	fit->max_bins_used = 0;
	for (int j = 0; j < f; j++)
	{
		int64		nmissing = gbdt_sketch_nmissing(s, j);
		int			nb;

		CHECK_FOR_INTERRUPTS();
		r->cut_start[j] = r->ncuts;
		bd->cuts[j] = r->cuts + r->ncuts;
		nb = gbdt_sketch_cuts(s, j, bd->cuts[j]);
		r->ncuts += nb - 1;
		bd->nbins[j] = nb;
		bd->offset[j] = off;
		off += nb + 1;
		bd->usable[j] = nb >= 2 || (nmissing > 0 && nmissing < r->nrows);
		any |= bd->usable[j];
		fit->max_bins_used = Max(fit->max_bins_used, nb + 1);
	}
	bd->total_bins = off;
	if (!any)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: every feature is constant over the training rows", GBDT_PASS_TRAINER),
				 errdetail("A tree needs a feature with at least two distinct values, or with both missing and present values."),
				 errhint("Check the feature vectors; a constant feature carries no information.")));
}

/* The trees' features, drawn as fraud_train draws them (colsample). */
static void
gbdt_tree_features(GbdtPassRun *r, EcmlRng *rng, int *perm)
{
	int			f = r->f;
	int			ncol = Min(f, Max(1, (int) floor(r->o.colsample * f + 0.5)));

	if (ncol < f)
	{
		for (int q = 0; q < ncol; q++)
		{
			int			k = q + (int) ecml_rng_below(rng, f - q);
			int			tmp = perm[q];

			perm[q] = perm[k];
			perm[k] = tmp;
		}
		memcpy(r->bs.feats, perm, sizeof(int) * ncol);
		/* ascending, so that ties between features break the same way */
		for (int a = 1; a < ncol; a++)
			for (int b = a; b > 0 && r->bs.feats[b - 1] > r->bs.feats[b]; b--)
			{
				int			tmp = r->bs.feats[b];

				r->bs.feats[b] = r->bs.feats[b - 1];
				r->bs.feats[b - 1] = tmp;
			}
	}
	else
		for (int j = 0; j < f; j++)
			r->bs.feats[j] = j;
	r->bs.nfeats = ncol;
}

static void
gbdt_pass_metrics(StringInfo buf, void *arg)
{
	EcmlTrainDriver *d = (EcmlTrainDriver *) arg;

	appendStringInfo(buf, ", \"passes\": %d, \"pass_history\": [%s]", d->passes, d->history.data);
}

bytea *
gbdt_train_passes(EcmlTrainDriver *d, Jsonb *options)
{
	GbdtPassRun r;
	GbdtFit		fit;
	GbdtSketch *sketch;
	EcmlTrainMemory mem;
	EcmlRng		rng;
	int		   *perm;
	int			sample_size = gbdt_take_sample_size(&options);
	TreeBuf		tb;
	int32		noslot = -1;

	memset(&r, 0, sizeof(r));
	memset(&fit, 0, sizeof(fit));
	r.d = d;
	gbdt_parse_options(options, &r.o, GBDT_PASS_TRAINER);
	gbdt_refuse_options(options);

	sketch = gbdt_sketch_pass(&r, sample_size);
	if (r.o.feature_names.n > 0 && r.o.feature_names.n != r.f)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"feature_names\" has %d names, the feature vectors have %d elements",
						GBDT_PASS_TRAINER, r.o.feature_names.n, r.f)));
	ecml_train_memory_init(&mem, GBDT_PASS_TRAINER, VARSIZE(sketch));
	r.bs.o = &r.o;
	r.bs.mem = &mem;
	gbdt_bins_from_sketch(&r, sketch, &fit);
	pfree(sketch);

	/* class weights and the base margin, as fraud_train's */
	r.w_neg = 1.0;
	r.w_pos = r.o.scale_pos_weight;
	if (r.o.class_weight == GBDT_CLASS_WEIGHT_BALANCED)
	{
		r.w_pos = (double) r.nrows / (2.0 * r.npos);
		r.w_neg = (double) r.nrows / (2.0 * (r.nrows - r.npos));
	}
	r.base_margin = log((r.w_pos * r.npos) / (r.w_neg * (r.nrows - r.npos)));

	r.bs.feats = palloc(sizeof(int) * r.f);
	perm = palloc(sizeof(int) * r.f);
	for (int j = 0; j < r.f; j++)
		perm[j] = j;
	ecml_rng_seed(&rng, (uint64) r.o.seed);
	r.trees = palloc(sizeof(GbdtTree) * r.o.n_trees);
	for (int t = 0; t < r.o.n_trees; t++)
	{
		CHECK_FOR_INTERRUPTS();
		gbdt_tree_features(&r, &rng, perm);
		tb.capacity = 64;
		tb.t.nnodes = 0;
		tb.t.ints = palloc(sizeof(int32) * 4 * tb.capacity);
		tb.t.floats = palloc(sizeof(float) * 4 * tb.capacity);
		tb.split_bin = palloc(sizeof(int) * tb.capacity);
		gbdt_grow_tree_passes(&r, &tb);
		ecml_train_memory_charge(&mem, (sizeof(int32) + sizeof(float)) * 4 * (Size) tb.capacity,
								 "trees");
		r.trees[t] = tb.t;
		r.nnodes += tb.t.nnodes;
		r.ntrees = t + 1;
		pfree(tb.split_bin);
	}

	/* a last pass: the training loss at the final margins */
	tb.capacity = 1;
	tb.t.nnodes = 0;
	tb.t.ints = palloc(sizeof(int32) * 4);
	tb.t.floats = palloc(sizeof(float) * 4);
	tb.split_bin = palloc(sizeof(int));
	tree_add_node(&tb);
	gbdt_hist_pass(&r, "training loss", &tb, &noslot, 0);

	fit.ntrees = fit.iterations = r.ntrees;
	fit.trees = r.trees;
	fit.base_margin = r.base_margin;
	fit.best_iteration = -1;
	fit.train_log_loss = r.last->loss / (double) r.nrows;
	fit.valid_log_loss = get_float8_nan();
	fit.ntrain = r.nrows;
	fit.w_neg = r.w_neg;
	fit.w_pos = r.w_pos;
	return gbdt_write_model(&fit, &r.o, r.f, r.npos, r.nrows + r.nskipped, r.nskipped,
							d->start, &mem, gbdt_pass_metrics, d);
}
