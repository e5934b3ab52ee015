/*
 * gbdt_hist.c
 *	  Histogram gradient boosting with log loss (Chen & Guestrin 2016,
 *	  "XGBoost", sections 2-3; Ke et al. 2017, "LightGBM", for the
 *	  histogram subtraction trick).
 *
 * Each feature is cut at quantiles of its values into at most max_bins - 1
 * value bins plus one bin for missing values (NaN).  Bins are stored row by
 * row, one byte per value when max_bins <= 256, so that a node's histogram
 * reads one cache line per row however scattered its rows are (as XGBoost's
 * "hist" method does), and once more column by column, so that splitting a
 * node's rows reads one byte per row instead of a line.  A tree grows level by
 * level: for every node to split, the gradient/Hessian histogram of the
 * smaller child is summed from its rows and the larger child's is the
 * parent's minus it.  A split at bin s sends bins <= s left and tries the
 * missing bin on both sides (Chen & Guestrin, Algorithm 3), keeping the
 * better as the node's default direction.  Gains are second order:
 *
 *	 gain = 1/2 [G_L^2/(H_L+l2) + G_R^2/(H_R+l2) - G^2/(H+l2)]	 (eq. 7)
 *	 leaf = -learning_rate G/(H+l2)								 (eq. 5)
 *
 * Which rows go to validation, which rows a tree samples and which rows
 * place the bin edges is decided by a hash of each row's contents and the
 * seed, never by row position, so a parallel aggregate (rows arrive in
 * another order) selects the same rows as a serial one.
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "common/hashfn.h"
#include "ecml.h"
#include "gbdt.h"
#include "miscadmin.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define TRAINER "ecml.fraud_train"
#define GAIN_EPS 1e-6			/* smallest gain worth a split (as XGBoost's
								 * kRtEps) */
#define HESS_EPS 1e-6			/* smallest child Hessian */
#define HIST_PREFETCH 16		/* rows ahead to prefetch in a histogram pass */
#define HIST_BUDGET_BYTES ((Size) 256 * 1024 * 1024)	/* histograms kept at once */

static inline double
to_unit(uint64 z)
{
	return (double) (z >> 11) * (1.0 / 9007199254740992.0);
}

static int
cmp_int(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	return (x > y) - (x < y);
}

/* sort_floats(): an inlined quicksort of non-NaN floats */
#define ST_SORT sort_floats
#define ST_ELEMENT_TYPE float
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Bin of a non-missing value: the first b with x <= cuts[b], else the last
 * bin.  A branch-free lower bound: the comparisons of random values would
 * mispredict half the time.
 */
int
bin_of(const float *cuts, int ncuts, float x)
{
	int			base = 0;
	int			n = ncuts;

	if (n == 0)
		return 0;
	while (n > 1)
	{
		int			half = n >> 1;

		base = cuts[base + half - 1] < x ? base + half : base;
		n -= half;
	}
	return base + (cuts[base] < x);
}

/* A cut between a < b: a float in [a, b), the midpoint when representable. */
float
cut_between(float a, float b)
{
	float		mid = (float) (0.5 * ((double) a + (double) b));

	return (mid >= a && mid < b) ? mid : a;
}

/*
 * Place the cuts of one feature from its sorted non-missing sample values
 * v[0..m): between distinct values when there are few, else at quantiles.
 * Returns the number of value bins.
 */
int
place_cuts(const float *v, int m, int max_value_bins, float *cuts)
{
	int			ncuts = 0;
	int			distinct = 0;

	for (int i = 0; i < m && distinct <= max_value_bins; i++)
		if (i == 0 || v[i] != v[i - 1])
			distinct++;
	if (distinct <= max_value_bins)
	{
		for (int i = 1; i < m; i++)
			if (v[i] != v[i - 1])
				cuts[ncuts++] = cut_between(v[i - 1], v[i]);
		return ncuts + 1;
	}
	for (int q = 1; q < max_value_bins; q++)
	{
		int			idx = (int) (((int64) q * m) / max_value_bins);
		float		a = v[Max(idx - 1, 0)];
		int			lo;

		if (ncuts > 0 && a <= cuts[ncuts - 1])
			continue;
		lo = ecml_upper_bound_float(v, idx, m, a);	/* first value greater than a */
		if (lo >= m)
			break;
		cuts[ncuts++] = cut_between(a, v[lo]);
	}
	return ncuts + 1;
}

/* Quantile-bin the training rows (rowp[train[i]]) into column-major codes. */
static void
bin_rows(Booster *bs, const float **rowp, const int64 *train, int n, int f,
		 const uint64 *rowhash)
{
	Binned	   *bd = &bs->bd;
	int			max_value_bins = bs->o->max_bins - 1;
	double		keep = n <= GBDT_QUANTILE_SAMPLE ? 1.0 : (double) GBDT_QUANTILE_SAMPLE / n;
	Size		nsample = Min(n, 2 * GBDT_QUANTILE_SAMPLE + 16);
	float	   *sample;
	int		   *sampled;
	int			nsampled = 0;
	int			off = 0;

	bd->n = n;
	bd->f = f;
	bd->wide = bs->o->max_bins > 256;

	/* codes twice (by row and by column), bin edges, the edge sample */
	ecml_train_memory_charge(bs->mem,
							 ecml_add_size(ecml_mul_size((Size) n * f, 2 * (bd->wide ? sizeof(uint16) : sizeof(uint8))),
										   sizeof(float) * (Size) f * max_value_bins +
										   (sizeof(float) + sizeof(int)) * nsample),
							 psprintf("binned features (2 x %d rows x %d features)", n, f));
	sample = palloc_extended(sizeof(float) * nsample, MCXT_ALLOC_HUGE);
	sampled = palloc_extended(sizeof(int) * nsample, MCXT_ALLOC_HUGE);
	if (bd->wide)
	{
		bd->b16 = palloc_extended(sizeof(uint16) * (Size) n * f, MCXT_ALLOC_HUGE);
		bd->c16 = palloc_extended(sizeof(uint16) * (Size) n * f, MCXT_ALLOC_HUGE);
	}
	else
	{
		bd->b8 = palloc_extended(sizeof(uint8) * (Size) n * f, MCXT_ALLOC_HUGE);
		bd->c8 = palloc_extended(sizeof(uint8) * (Size) n * f, MCXT_ALLOC_HUGE);
	}
	bd->nbins = palloc(sizeof(int) * f);
	bd->offset = palloc(sizeof(int) * f);
	bd->cuts = palloc(sizeof(float *) * f);
	bd->usable = palloc(sizeof(bool) * f);

	/* the rows that place the edges: a content hash below keep */
	for (int i = 0; i < n && nsampled < 2 * GBDT_QUANTILE_SAMPLE + 16; i++)
		if (keep >= 1.0 || to_unit(gbdt_mix64(rowhash[i] ^ UINT64CONST(0x5bd1e995))) < keep)
			sampled[nsampled++] = i;

	for (int j = 0; j < f; j++)
	{
		int			m = 0;
		int			nb;
		int64		nmissing = 0;

		CHECK_FOR_INTERRUPTS();
		for (int s = 0; s < nsampled; s++)
		{
			float		x = rowp[train[sampled[s]]][j];

			if (!isnan(x))
				sample[m++] = x;
		}
		sort_floats(sample, m);
		bd->cuts[j] = palloc(sizeof(float) * max_value_bins);
		nb = m > 0 ? place_cuts(sample, m, max_value_bins, bd->cuts[j]) : 1;
		bd->nbins[j] = nb;
		bd->offset[j] = off;
		off += nb + 1;

		for (int i = 0; i < n; i++)
		{
			float		x = rowp[train[i]][j];
			int			code;

			if (isnan(x))
			{
				code = nb;
				nmissing++;
			}
			else
				code = bin_of(bd->cuts[j], nb - 1, x);
			if (bd->wide)
				bd->b16[(Size) i * f + j] = bd->c16[(Size) j * n + i] = (uint16) code;
			else
				bd->b8[(Size) i * f + j] = bd->c8[(Size) j * n + i] = (uint8) code;
		}
		bd->usable[j] = nb >= 2 || (nmissing > 0 && nmissing < n);
	}
	bd->total_bins = off;
	pfree(sample);
	pfree(sampled);
}

static inline int
code_at(const Binned *bd, int j, int i)
{
	return bd->wide ? bd->c16[(Size) j * bd->n + i] : bd->c8[(Size) j * bd->n + i];
}

/* features x bins histogram slots: each new buffer is charged to the account */
static HistBin *
hist_get(Booster *bs)
{
	if (bs->npool > 0)
		return bs->pool[--bs->npool];
	bs->nhist++;
	return ecml_train_alloc(bs->mem, bs->bd.total_bins, sizeof(HistBin), 0,
							psprintf("gradient histogram (%d bins over all features)",
									 bs->bd.total_bins));
}

static void
hist_put(Booster *bs, HistBin *h)
{
	if (h == NULL)
		return;
	if (bs->nhist > bs->max_hist)
	{
		ecml_train_free(bs->mem, h, bs->bd.total_bins, sizeof(HistBin));
		bs->nhist--;
		return;
	}
	if (bs->npool == bs->maxpool)
	{
		bs->maxpool = Max(16, bs->maxpool * 2);
		bs->pool = bs->pool ? repalloc(bs->pool, sizeof(HistBin *) * bs->maxpool)
			: palloc(sizeof(HistBin *) * bs->maxpool);
	}
	bs->pool[bs->npool++] = h;
}

/*
 * One row's gradient pair into the histogram slot of each of its bins, for
 * the features feats[0 .. nfeats) (all f when feats is NULL).  Inline, so
 * that each call site compiles to its own loop for its code width.
 */
static inline void
hist_add_row_u8(HistBin *hist, const int *offset, const uint8 *codes,
				const int *feats, int nfeats, double g, double h)
{
	for (int q = 0; q < nfeats; q++)
	{
		int			j = feats ? feats[q] : q;
		HistBin    *e = hist + offset[j] + codes[j];

		e->g += g;
		e->h += h;
	}
}

static inline void
hist_add_row_u16(HistBin *hist, const int *offset, const uint16 *codes,
				 const int *feats, int nfeats, double g, double h)
{
	for (int q = 0; q < nfeats; q++)
	{
		int			j = feats ? feats[q] : q;
		HistBin    *e = hist + offset[j] + codes[j];

		e->g += g;
		e->h += h;
	}
}

/* hist = sums of (g, h) per bin over the node's rows, for the tree's features */
static void
build_hist(Booster *bs, const GrowNode *nd, HistBin *hist)
{
	const Binned *bd = &bs->bd;
	const int  *rows = bs->rowidx + nd->begin;
	const int  *offset = bd->offset;
	int			m = nd->end - nd->begin;
	int			f = bd->f;
	int			nfeats = bs->nfeats;
	const int  *feats = nfeats == f ? NULL : bs->feats;

	for (int q = 0; q < nfeats; q++)
		memset(hist + offset[bs->feats[q]], 0, sizeof(HistBin) * (bd->nbins[bs->feats[q]] + 1));
	for (int k0 = 0; k0 < m; k0 += 65536)
	{
		int			k1 = Min(m, k0 + 65536);

		CHECK_FOR_INTERRUPTS();
		for (int k = k0; k < k1; k++)
		{
			Size		r = rows[k];
			double		g = bs->gh[2 * r];
			double		h = bs->gh[2 * r + 1];

			/* a deep node's rows are scattered: fetch ahead of use */
			if (k + HIST_PREFETCH < m)
			{
				Size		ahead = rows[k + HIST_PREFETCH];

				__builtin_prefetch(bs->gh + 2 * ahead);
				if (bd->wide)
					__builtin_prefetch(bd->b16 + ahead * f);
				else
					__builtin_prefetch(bd->b8 + ahead * f);
			}
			if (bd->wide)
				hist_add_row_u16(hist, offset, bd->b16 + r * f, feats, nfeats, g, h);
			else if (feats == NULL)
				hist_add_row_u8(hist, offset, bd->b8 + r * f, NULL, f, g, h);
			else
				hist_add_row_u8(hist, offset, bd->b8 + r * f, feats, nfeats, g, h);
		}
	}
}

/* big = parent - small, in place of the parent's buffer */
static void
subtract_hist(Booster *bs, HistBin *parent, const HistBin *small)
{
	for (int q = 0; q < bs->nfeats; q++)
	{
		int			j = bs->feats[q];
		int			o = bs->bd.offset[j];

		for (int b = 0; b <= bs->bd.nbins[j]; b++)
		{
			parent[o + b].g -= small[o + b].g;
			parent[o + b].h -= small[o + b].h;
		}
	}
}

static inline double
score_of(double G, double H, double l2)
{
	return G * G / (H + l2);
}

/* The best split of a node from its histogram (feature -1 when none). */
void
find_split(Booster *bs, GrowNode *nd)
{
	const GbdtOptions *o = bs->o;
	const Binned *bd = &bs->bd;
	double		l2 = o->l2;
	double		minh = Max(o->min_child_weight, HESS_EPS);
	double		parent = score_of(nd->G, nd->H, l2);
	double		best = Max(o->min_split_gain, GAIN_EPS);

	nd->feature = -1;
	nd->gain = 0.0;
	if (nd->hist == NULL || nd->H < 2 * minh)
		return;
	for (int q = 0; q < bs->nfeats; q++)
	{
		int			j = bs->feats[q];
		int			nb = bd->nbins[j];
		const HistBin *hj = nd->hist + bd->offset[j];
		double		GM = hj[nb].g;
		double		HM = hj[nb].h;
		/* the subtraction trick can leave a residue where nothing is missing */
		bool		has_missing = HM > 1e-12;
		double		GL = 0.0,
					HL = 0.0;

		if (!bd->usable[j])
			continue;
		for (int s = 0; s < nb; s++)
		{
			double		gain;

			GL += hj[s].g;
			HL += hj[s].h;
			/* missing right; at the last bin this is "missing vs the rest" */
			if (s < nb - 1 || has_missing)
			{
				double		GR = nd->G - GL,
							HR = nd->H - HL;

				if (HL >= minh && HR >= minh)
				{
					gain = 0.5 * (score_of(GL, HL, l2) + score_of(GR, HR, l2) - parent);
					if (gain > best)
					{
						best = gain;
						nd->feature = j;
						nd->bin = s;
						/* no missing here: send them with the larger cover */
						nd->default_left = has_missing ? false : HL >= HR;
						nd->GL = GL;
						nd->HL = HL;
					}
				}
			}
			/* missing left */
			if (has_missing && s < nb - 1)
			{
				double		gl = GL + GM,
							hl = HL + HM;
				double		GR = nd->G - gl,
							HR = nd->H - hl;

				if (hl >= minh && HR >= minh)
				{
					gain = 0.5 * (score_of(gl, hl, l2) + score_of(GR, HR, l2) - parent);
					if (gain > best)
					{
						best = gain;
						nd->feature = j;
						nd->bin = s;
						nd->default_left = true;
						nd->GL = gl;
						nd->HL = hl;
					}
				}
			}
		}
	}
	if (nd->feature >= 0)
		nd->gain = best;
}

int
tree_add_node(TreeBuf *tb)
{
	int			k = tb->t.nnodes;

	if (k == tb->capacity)
	{
		tb->capacity *= 2;
		tb->t.ints = repalloc(tb->t.ints, sizeof(int32) * 4 * tb->capacity);
		tb->t.floats = repalloc(tb->t.floats, sizeof(float) * 4 * tb->capacity);
		tb->split_bin = repalloc(tb->split_bin, sizeof(int) * tb->capacity);
	}
	tb->t.nnodes++;
	memset(tb->t.ints + 4 * k, 0, sizeof(int32) * 4);
	memset(tb->t.floats + 4 * k, 0, sizeof(float) * 4);
	tb->t.ints[4 * k] = -1;
	tb->split_bin[k] = -1;
	return k;
}

void
make_leaf(Booster *bs, TreeBuf *tb, GrowNode *nd)
{
	float	   *nf = tb->t.floats + 4 * nd->out;

	tb->t.ints[4 * nd->out] = -1;
	nf[0] = 0.0f;
	nf[1] = (float) (-bs->o->learning_rate * nd->G / (nd->H + bs->o->l2));
	nf[2] = (float) (nd->end - nd->begin);
	hist_put(bs, nd->hist);
	nd->hist = NULL;
	if (bs->F != NULL)
		for (int k = nd->begin; k < nd->end; k++)
			bs->F[bs->rowidx[k]] += nf[1];
}

/* Stable partition of the node's rows by its split; returns the left count. */
static int
partition_rows(Booster *bs, const GrowNode *nd)
{
	const Binned *bd = &bs->bd;
	int			j = nd->feature;
	int			nb = bd->nbins[j];
	int		   *rows = bs->rowidx;
	int			nl = 0,
				nr = 0;

	/* branch-free: write the row to both sides, advance one */
	for (int k = nd->begin; k < nd->end; k++)
	{
		int			r = rows[k];
		int			code = code_at(bd, j, r);
		int			left = code == nb ? nd->default_left : code <= nd->bin;

		rows[nd->begin + nl] = r;
		bs->scratch[nr] = r;
		nl += left;
		nr += 1 - left;
	}
	memcpy(rows + nd->begin + nl, bs->scratch, sizeof(int) * nr);
	return nl;
}

/*
 * qsort order of the nodes chosen at one level: highest gain first, ties by
 * output slot, so that buffering and pass trainers number nodes alike.
 */
int
gbdt_cmp_gain_desc(const void *a, const void *b)
{
	const GrowNode *x = *(GrowNode *const *) a;
	const GrowNode *y = *(GrowNode *const *) b;

	if (x->gain != y->gain)
		return x->gain > y->gain ? -1 : 1;
	return (x->out > y->out) - (x->out < y->out);
}

/* Can a child be split at all (so that it needs a histogram)? */
static bool
splittable(const Booster *bs, const GrowNode *nd)
{
	return nd->depth < bs->o->max_depth && nd->end - nd->begin >= 2 &&
		nd->H >= 2 * Max(bs->o->min_child_weight, HESS_EPS);
}

/* The root over rowidx[0 .. m), with its split found if it has one. */
static void
grow_root(Booster *bs, int m, TreeBuf *tb, GrowNode *root)
{
	memset(root, 0, sizeof(GrowNode));
	root->begin = 0;
	root->end = m;
	root->out = tree_add_node(tb);
	for (int k = 0; k < m; k++)
	{
		root->G += bs->gh[2 * (Size) bs->rowidx[k]];
		root->H += bs->gh[2 * (Size) bs->rowidx[k] + 1];
	}
	root->feature = -1;
	if (splittable(bs, root))
	{
		root->hist = hist_get(bs);
		build_hist(bs, root, root->hist);
		find_split(bs, root);
	}
}

/*
 * Mark the nodes of a level that split (depth >= 0) and those that become
 * leaves (depth stored as -depth - 1).  A leaf budget (max_leaves) goes to
 * the largest gains of the level.
 */
static void
choose_splits(Booster *bs, GrowNode *level, int nlevel, int leaves)
{
	const GbdtOptions *o = bs->o;
	GrowNode  **chosen = palloc(sizeof(GrowNode *) * nlevel);
	int			nchosen = 0;

	for (int i = 0; i < nlevel; i++)
		if (level[i].feature >= 0 && level[i].depth < o->max_depth)
			chosen[nchosen++] = &level[i];
	if (o->max_leaves > 0)
	{
		qsort(chosen, nchosen, sizeof(GrowNode *), gbdt_cmp_gain_desc);
		nchosen = Min(nchosen, o->max_leaves - leaves);
	}
	for (int i = 0; i < nlevel; i++)
		level[i].depth = -level[i].depth - 1;
	for (int i = 0; i < nchosen; i++)
		chosen[i]->depth = -chosen[i]->depth - 1;
	pfree(chosen);
}

/* Split nd's rows into children L and R and write nd as an inner node. */
static void
split_node(Booster *bs, TreeBuf *tb, GrowNode *nd, GrowNode *L, GrowNode *R)
{
	const GbdtOptions *o = bs->o;
	int			nl = partition_rows(bs, nd);
	int32	   *ni;
	float	   *nf;

	memset(L, 0, sizeof(GrowNode));
	memset(R, 0, sizeof(GrowNode));
	L->begin = nd->begin;
	L->end = nd->begin + nl;
	R->begin = L->end;
	R->end = nd->end;
	L->G = nd->GL;
	L->H = nd->HL;
	R->G = nd->G - nd->GL;
	R->H = nd->H - nd->HL;
	L->depth = R->depth = nd->depth + 1;
	L->feature = R->feature = -1;
	L->out = tree_add_node(tb);
	R->out = tree_add_node(tb);

	ni = tb->t.ints + 4 * nd->out;
	nf = tb->t.floats + 4 * nd->out;
	ni[0] = nd->feature;
	ni[1] = L->out;
	ni[2] = nd->default_left ? GBDT_NODE_DEFAULT_LEFT : 0;
	nf[0] = get_float4_infinity();
	if (nd->bin < bs->bd.nbins[nd->feature] - 1)
		nf[0] = bs->bd.cuts[nd->feature][nd->bin];
	nf[1] = (float) (-o->learning_rate * nd->G / (nd->H + o->l2));
	nf[2] = (float) (nd->end - nd->begin);
	nf[3] = (float) nd->gain;
	tb->split_bin[nd->out] = nd->bin;
}

/*
 * The children's histograms and splits: sum the smaller child, subtract it
 * from the parent's for the larger.  nd's histogram is given away or freed.
 */
static void
children_splits(Booster *bs, GrowNode *nd, GrowNode *L, GrowNode *R)
{
	GrowNode   *small = (L->end - L->begin <= R->end - R->begin) ? L : R;
	GrowNode   *big = small == L ? R : L;

	if (splittable(bs, small) || splittable(bs, big))
	{
		small->hist = hist_get(bs);
		build_hist(bs, small, small->hist);
		if (splittable(bs, big))
		{
			if (nd->hist != NULL)
			{
				subtract_hist(bs, nd->hist, small->hist);
				big->hist = nd->hist;
				nd->hist = NULL;
			}
			else
			{
				big->hist = hist_get(bs);
				build_hist(bs, big, big->hist);
			}
			find_split(bs, big);
		}
		if (splittable(bs, small))
			find_split(bs, small);
		else
		{
			hist_put(bs, small->hist);
			small->hist = NULL;
		}
	}
	hist_put(bs, nd->hist);
	nd->hist = NULL;

	/*
	 * Deep trees on many rows: past the histogram budget the children drop
	 * theirs, and their own children are summed directly.
	 */
	if (bs->nhist - bs->npool > bs->max_hist)
	{
		hist_put(bs, L->hist);
		hist_put(bs, R->hist);
		L->hist = R->hist = NULL;
	}
}

/* Grow one tree depth-wise over the rows rowidx[0 .. m). */
static void
grow_tree(Booster *bs, int m, TreeBuf *tb)
{
	GrowNode   *level = palloc(sizeof(GrowNode));
	int			nlevel = 1;
	int			leaves = 1;

	grow_root(bs, m, tb, &level[0]);
	while (nlevel > 0)
	{
		GrowNode   *next = palloc(sizeof(GrowNode) * 2 * Max(nlevel, 1));
		int			nnext = 0;

		CHECK_FOR_INTERRUPTS();
		choose_splits(bs, level, nlevel, leaves);
		for (int i = 0; i < nlevel; i++)
		{
			GrowNode   *nd = &level[i];

			if (nd->depth < 0)
			{
				nd->depth = -nd->depth - 1;
				make_leaf(bs, tb, nd);
				continue;
			}
			CHECK_FOR_INTERRUPTS();
			split_node(bs, tb, nd, &next[nnext], &next[nnext + 1]);
			children_splits(bs, nd, &next[nnext], &next[nnext + 1]);
			nnext += 2;
			leaves++;
		}
		pfree(level);
		level = next;
		nlevel = nnext;
		if (bs->o->max_leaves > 0 && leaves >= bs->o->max_leaves)
		{
			for (int i = 0; i < nlevel; i++)
				make_leaf(bs, tb, &level[i]);
			nlevel = 0;
		}
	}
	pfree(level);
}

/* Leaf value for a training row, walking the tree on its bins. */
static inline float
tree_value_binned(const Booster *bs, const TreeBuf *tb, int row)
{
	int			k = 0;

	while (tb->t.ints[4 * k] >= 0)
	{
		int			j = tb->t.ints[4 * k];
		int			code = code_at(&bs->bd, j, row);
		bool		left = code == bs->bd.nbins[j] ?
			(tb->t.ints[4 * k + 2] & GBDT_NODE_DEFAULT_LEFT) != 0 :
			code <= tb->split_bin[k];

		k = tb->t.ints[4 * k + 1] + (left ? 0 : 1);
	}
	return tb->t.floats[4 * k + 1];
}

/* Leaf value for raw features (the model's own rule). */
static inline float
tree_value_raw(const GbdtTree *t, const float *x)
{
	int			k = 0;

	while (t->ints[4 * k] >= 0)
	{
		float		v = x[t->ints[4 * k]];
		bool		left = isnan(v) ? (t->ints[4 * k + 2] & GBDT_NODE_DEFAULT_LEFT) != 0 :
			v <= t->floats[4 * k];

		k = t->ints[4 * k + 1] + (left ? 0 : 1);
	}
	return t->floats[4 * k + 1];
}

/* mean log loss of margins F against labels y */
static double
mean_log_loss(const double *F, const uint8 *y, int n)
{
	double		s = 0.0;

	for (int i = 0; i < n; i++)
	{
		double		z = F[i];

		/* log(1 + exp(-|z|)) + max(0, -s z), s = +-1 */
		s += log1p(exp(-fabs(z))) + Max(y[i] ? -z : z, 0.0);
	}
	return s / Max(n, 1);
}

static void
report_progress(int tree, int ntrees, double valid_loss, TimestampTz start,
				TimestampTz *last)
{
	TimestampTz now;
	double		elapsed;

	if (!ecml_progress)
		return;
	now = GetCurrentTimestamp();
	if (tree < ntrees && now - *last < USECS_PER_SEC)
		return;
	*last = now;
	elapsed = ecml_elapsed_seconds(start);
	if (isnan(valid_loss))
		ecml_progress_notice("%s: tree %d of %d, %.2f s elapsed, at most %.1f s left",
							 TRAINER, tree, ntrees, elapsed,
							 ecml_seconds_left(elapsed, tree, ntrees));
	else
		ecml_progress_notice("%s: tree %d of %d, validation log loss %.6g, %.2f s elapsed, at most %.1f s left",
							 TRAINER, tree, ntrees, valid_loss, elapsed,
							 ecml_seconds_left(elapsed, tree, ntrees));
}

/*
 * One boosting run besides its Booster: the rows and their split, the
 * margins, the column sampler.  gbdt_boost collects it (boost_rows), fits
 * tree after tree (boost_sample, boost_grow, boost_validate) and writes
 * the fit (boost_finish).
 */
typedef struct BoostRun
{
	const GbdtOptions *o;
	GbdtFit    *fit;
	int			f;
	const float **rowp;			/* [nrows] a row: f features, then the label */
	int64	   *train;			/* [n] rows of the training part */
	int64	   *valid;			/* [nv] rows of the validation part */
	uint64	   *train_hash;		/* [n] content hash of each training row */
	uint8	   *y;				/* [n] training labels */
	uint8	   *yv;				/* [nv] validation labels */
	int			n;
	int			nv;
	int64		npos;
	double	   *F;				/* [n] training margins */
	double	   *Fv;				/* [nv] validation margins, or NULL */
	double	   *Fbest;			/* [n] F at the best iteration, or NULL */
	double		best_loss;
	int			best_iter;
	EcmlRng		rng;			/* column sampling */
	int		   *perm;			/* [f] */
	int			ncol;			/* features per tree */
	TimestampTz start;
	TimestampTz last;			/* the last progress message */
} BoostRun;

/*
 * Index the buffered rows, hash each by content and split them into the
 * training and validation parts by that hash; label both parts.
 */
static void
boost_rows(BoostRun *run, const RowbufChunk *chunks, int nchunks, int64 nrows,
		   EcmlTrainMemory *mem)
{
	const GbdtOptions *o = run->o;
	int			f = run->f;
	uint64	   *hashes;
	int64		r = 0;

	/*
	 * Per row: its pointer, content hash (twice, until the split), its place
	 * in the training or validation list and its label; then, once the
	 * split is known, the tree's row lists, gradient pair and margins.
	 */
	ecml_train_memory_charge(mem, ecml_mul_size(nrows, sizeof(float *) + 3 * sizeof(uint64) +
												sizeof(int64) + 1),
							 "row index and validation split");
	run->rowp = palloc_extended(sizeof(float *) * nrows, MCXT_ALLOC_HUGE);
	hashes = palloc_extended(sizeof(uint64) * nrows, MCXT_ALLOC_HUGE);
	for (int c = 0; c < nchunks; c++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < chunks[c].nrows; i++, r++)
		{
			run->rowp[r] = (const float *) chunks[c].data + (Size) i * (f + 1);
			hashes[r] = gbdt_row_hash(run->rowp[r], f, o->seed);
		}
	}

	/* the validation split, by content hash */
	run->train = palloc_extended(sizeof(int64) * nrows, MCXT_ALLOC_HUGE);
	run->valid = palloc_extended(sizeof(int64) * Max(nrows, 1), MCXT_ALLOC_HUGE);
	for (r = 0; r < nrows; r++)
	{
		if (o->validation_fraction > 0 &&
			to_unit(gbdt_mix64(hashes[r] ^ UINT64CONST(0x2545f4914f6cdd1d))) < o->validation_fraction)
			run->valid[run->nv++] = r;
		else
			run->train[run->n++] = r;
	}
	run->y = palloc(Max(run->n, 1));
	run->yv = palloc(Max(run->nv, 1));
	run->train_hash = palloc_extended(sizeof(uint64) * Max(run->n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < run->n; i++)
	{
		run->y[i] = run->rowp[run->train[i]][f] > 0.5f;
		run->npos += run->y[i];
		run->train_hash[i] = hashes[run->train[i]];
	}
	for (int i = 0; i < run->nv; i++)
		run->yv[i] = run->rowp[run->valid[i]][f] > 0.5f;
	pfree(hashes);
}

/* Class weights and the starting margin; both classes must be present. */
static void
boost_weights(BoostRun *run)
{
	const GbdtOptions *o = run->o;
	GbdtFit    *fit = run->fit;
	int			n = run->n;
	int64		npos = run->npos;

	if (npos == 0 || npos == n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: the training part (after the validation split) has no %s rows",
						TRAINER, npos == 0 ? "fraud" : "legitimate"),
				 errhint("Lower \"validation_fraction\" or train on more labelled rows.")));
	fit->ntrain = n;
	fit->nvalid = run->nv;

	/* class weights: scale_pos_weight, or "balanced" n / (2 n_class) */
	fit->w_neg = 1.0;
	fit->w_pos = o->scale_pos_weight;
	if (o->class_weight == GBDT_CLASS_WEIGHT_BALANCED)
	{
		fit->w_pos = (double) n / (2.0 * npos);
		fit->w_neg = (double) n / (2.0 * (n - npos));
	}
	/* start from the weighted log-odds: the best constant */
	fit->base_margin = log((fit->w_pos * npos) / (fit->w_neg * (n - npos)));
}

/* Bin the training rows; some feature must be able to split. */
static void
boost_bin(BoostRun *run, Booster *bs)
{
	bool		any = false;

	bin_rows(bs, run->rowp, run->train, run->n, run->f, run->train_hash);
	run->fit->max_bins_used = 0;
	for (int j = 0; j < run->f; j++)
	{
		any |= bs->bd.usable[j];
		run->fit->max_bins_used = Max(run->fit->max_bins_used, bs->bd.nbins[j] + 1);
	}
	if (!any)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: every feature is constant over the training rows", TRAINER),
				 errdetail("A tree needs a feature with at least two distinct values, or with both missing and present values."),
				 errhint("Check the feature vectors; a constant feature carries no information.")));
}

/* The per-row buffers of the trees, the column sampler and the margins. */
static void
boost_prepare(BoostRun *run, Booster *bs, EcmlTrainMemory *mem)
{
	const GbdtOptions *o = run->o;
	int			n = run->n;
	int			nv = run->nv;
	int			f = run->f;

	bs->n = n;
	bs->max_hist = Max(4, (int) (HIST_BUDGET_BYTES / (sizeof(HistBin) * (Size) bs->bd.total_bins)));
	ecml_train_memory_charge(mem, ecml_add_size(ecml_mul_size(n, 2 * sizeof(int) + 2 * sizeof(float) +
															  (nv > 0 ? 2 : 1) * sizeof(double)),
												sizeof(double) * (Size) nv),
							 "per-row gradients and margins");
	bs->rowidx = palloc_extended(sizeof(int) * n, MCXT_ALLOC_HUGE);
	bs->scratch = palloc_extended(sizeof(int) * n, MCXT_ALLOC_HUGE);
	bs->gh = palloc_extended(sizeof(float) * 2 * (Size) n, MCXT_ALLOC_HUGE);
	bs->feats = palloc(sizeof(int) * f);
	run->perm = palloc(sizeof(int) * f);
	for (int j = 0; j < f; j++)
		run->perm[j] = j;
	run->ncol = Max(1, (int) floor(o->colsample * f + 0.5));
	run->ncol = Min(run->ncol, f);
	ecml_rng_seed(&run->rng, (uint64) o->seed);

	run->F = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
		run->F[i] = run->fit->base_margin;
	bs->F = o->subsample >= 1.0 ? run->F : NULL;
	run->best_loss = get_float8_infinity();
	if (nv > 0)
	{
		run->Fv = palloc_extended(sizeof(double) * nv, MCXT_ALLOC_HUGE);
		run->Fbest = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
		for (int i = 0; i < nv; i++)
			run->Fv[i] = run->fit->base_margin;
		memcpy(run->Fbest, run->F, sizeof(double) * n);
		run->best_loss = mean_log_loss(run->Fv, run->yv, nv);
		initStringInfo(&run->fit->valid_history);
	}
}

/*
 * Tree t's gradient pairs at the margins, its rows (subsample, by content
 * hash) and its features (colsample); returns its number of rows.
 */
static int
boost_sample(BoostRun *run, Booster *bs, int t)
{
	const GbdtOptions *o = run->o;
	int			n = run->n;
	int			f = run->f;
	int			m = 0;

	/* gradient and Hessian of the weighted log loss at F */
	for (int i = 0; i < n; i++)
	{
		double		e = exp(-fabs(run->F[i]));
		double		p = run->F[i] >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
		double		w = run->y[i] ? run->fit->w_pos : run->fit->w_neg;

		bs->gh[2 * (Size) i] = (float) (w * (p - (double) run->y[i]));
		bs->gh[2 * (Size) i + 1] = (float) (w * p * (1.0 - p));
	}

	/* this tree's rows and features */
	if (o->subsample < 1.0)
	{
		for (int i = 0; i < n; i++)
			if (gbdt_row_in_tree(run->train_hash[i], o->seed, t, o->subsample))
				bs->rowidx[m++] = i;
	}
	else
		for (int i = 0; i < n; i++)
			bs->rowidx[m++] = i;
	if (run->ncol < f)
	{
		for (int q = 0; q < run->ncol; q++)
		{
			int			k = q + (int) ecml_rng_below(&run->rng, f - q);
			int			tmp = run->perm[q];

			run->perm[q] = run->perm[k];
			run->perm[k] = tmp;
		}
		memcpy(bs->feats, run->perm, sizeof(int) * run->ncol);
		/* ascending, so that ties between features break the same way */
		qsort(bs->feats, run->ncol, sizeof(int), cmp_int);
	}
	else
		for (int j = 0; j < f; j++)
			bs->feats[j] = j;
	bs->nfeats = run->ncol;
	return m;
}

/* Grow a tree over the m sampled rows and move the training margins by it. */
static GbdtTree
boost_grow(BoostRun *run, Booster *bs, int m, EcmlTrainMemory *mem)
{
	TreeBuf		tb;

	tb.capacity = 64;
	tb.t.nnodes = 0;
	tb.t.ints = palloc(sizeof(int32) * 4 * tb.capacity);
	tb.t.floats = palloc(sizeof(float) * 4 * tb.capacity);
	tb.split_bin = palloc(sizeof(int) * tb.capacity);
	if (m > 0)
		grow_tree(bs, m, &tb);
	else
	{
		tree_add_node(&tb);
		tb.t.floats[1] = 0.0f;
	}

	/* move the margins: make_leaf did it when every row was in the tree */
	if (bs->F == NULL)
		for (int i = 0; i < run->n; i++)
			run->F[i] += tree_value_binned(bs, &tb, i);
	else if (m == 0)
		for (int i = 0; i < run->n; i++)
			run->F[i] += tb.t.floats[1];
	/* the tree's nodes (ints, floats) stay until the model is written */
	ecml_train_memory_charge(mem, (sizeof(int32) + sizeof(float)) * 4 * (Size) tb.capacity,
							 "trees");
	pfree(tb.split_bin);
	return tb.t;
}

/*
 * After tree t: the validation loss, the best iteration so far and the
 * progress message; true when early stopping ends the run here.
 */
static bool
boost_validate(BoostRun *run, const GbdtTree *tree, int t)
{
	double		loss;

	if (run->nv == 0)
	{
		report_progress(t + 1, run->o->n_trees, get_float8_nan(), run->start, &run->last);
		return false;
	}
	for (int i = 0; i < run->nv; i++)
		run->Fv[i] += tree_value_raw(tree, run->rowp[run->valid[i]]);
	loss = mean_log_loss(run->Fv, run->yv, run->nv);
	appendStringInfo(&run->fit->valid_history, "%s%.9g", t > 0 ? ", " : "", loss);
	if (loss < run->best_loss)
	{
		run->best_loss = loss;
		run->best_iter = t + 1;
		memcpy(run->Fbest, run->F, sizeof(double) * run->n);
	}
	report_progress(t + 1, run->o->n_trees, loss, run->start, &run->last);
	return run->o->early_stopping_rounds > 0 &&
		   t + 1 - run->best_iter >= run->o->early_stopping_rounds;
}

/* The fit's trees and losses; early stopping keeps the best iteration. */
static void
boost_finish(BoostRun *run, GbdtTree *trees)
{
	GbdtFit *fit = run->fit;

	fit->trees = trees;
	fit->ntrees = fit->iterations;
	fit->best_iteration = -1;
	if (run->nv > 0)
	{
		fit->best_iteration = run->best_iter;
		fit->valid_log_loss = run->best_loss;
		/* early stopping keeps the best iteration (the base alone if none helped) */
		if (run->o->early_stopping_rounds > 0)
		{
			fit->ntrees = run->best_iter;
			memcpy(run->F, run->Fbest, sizeof(double) * run->n);
		}
	}
	else
		fit->valid_log_loss = get_float8_nan();
	fit->train_log_loss = mean_log_loss(run->F, run->y, run->n);
}

void
gbdt_boost(const RowbufChunk *chunks, int nchunks, int64 nrows, int f,
		   const GbdtOptions *o, GbdtFit *fit, EcmlTrainMemory *mem)
{
	Booster		bs;
	BoostRun	run;
	GbdtTree   *trees;

	memset(&bs, 0, sizeof(bs));
	bs.o = o;
	bs.mem = mem;
	memset(&run, 0, sizeof(run));
	run.o = o;
	run.fit = fit;
	run.f = f;
	run.start = GetCurrentTimestamp();
	run.last = run.start;

	/* collect: the rows, their split and weights, the bins */
	boost_rows(&run, chunks, nchunks, nrows, mem);
	boost_weights(&run);
	boost_bin(&run, &bs);
	boost_prepare(&run, &bs, mem);

	/* fit: one tree per round, until n_trees or early stopping */
	trees = palloc(sizeof(GbdtTree) * o->n_trees);
	fit->stopped_early = false;
	for (int t = 0; t < o->n_trees; t++)
	{
		int			m;

		CHECK_FOR_INTERRUPTS();
		m = boost_sample(&run, &bs, t);
		trees[t] = boost_grow(&run, &bs, m, mem);
		fit->iterations = t + 1;
		if (boost_validate(&run, &trees[t], t))
		{
			fit->stopped_early = true;
			break;
		}
	}

	/* write: the trees and losses into the fit */
	boost_finish(&run, trees);
}
