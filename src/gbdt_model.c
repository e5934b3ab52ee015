/*
 * gbdt_model.c
 *	  The gradient-boosted tree model: its feature-vector contract (shared by
 *	  the training aggregate and every scorer), the parser that decodes a
 *	  model into flat walking nodes, and the scoring kernels (margin, a
 *	  tree's expectation) that ecml.fraud_score() and ecml.fraud_explain()
 *	  read.  Training writes the layout described in gbdt.h; nothing here
 *	  depends on training.
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "catalog/pg_type.h"
#include "ecml.h"
#include "gbdt.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"

static void gbdt_build_walk(GbdtModel *m);

/* Shape and type of a feature vector; its length. */
int
gbdt_array_length(ArrayType *arr)
{
	if (ARR_ELEMTYPE(arr) != FLOAT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("feature vector must be of type real[]")));
	if (ARR_NDIM(arr) == 0)
		return 0;
	if (ARR_NDIM(arr) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector must be a one-dimensional array, got %d dimensions",
						ARR_NDIM(arr))));
	return ARR_DIMS(arr)[0];
}

static void
infinite_feature(int j)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("feature vector element %d is infinite", j + 1),
			 errhint("Use NaN or NULL for a missing value; trees need finite values otherwise.")));
}

/*
 * Copy the n elements of arr into out: NULL elements become NaN (missing),
 * infinities are refused.
 */
void
gbdt_copy_features(ArrayType *arr, int n, float *out)
{
	const float *src = (const float *) ARR_DATA_PTR(arr);
	bits8	   *nulls = ARR_NULLBITMAP(arr);

	if (nulls == NULL)
		memcpy(out, src, sizeof(float) * n);
	else
	{
		/* NULL elements take no space in the data area */
		for (int j = 0; j < n; j++)
		{
			if (nulls[j / 8] & (1 << (j % 8)))
				out[j] = *src++;
			else
				out[j] = get_float4_nan();
		}
	}
	if (!ecml_all_finite(out, n))
		for (int j = 0; j < n; j++)
			if (isinf(out[j]))
				infinite_feature(j);
}

const float *
gbdt_features(ArrayType *arr, int nfeatures, float *buf)
{
	int			n = gbdt_array_length(arr);
	const float *x;

	if (n != nfeatures)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("feature vector has %d elements, model expects %d", n, nfeatures),
				 errhint("Pass %d values in the order given by ecml.model_info(), or retrain the model.",
						 nfeatures)));
	if (ARR_HASNULL(arr))
	{
		gbdt_copy_features(arr, n, buf);
		return buf;
	}
	x = (const float *) ARR_DATA_PTR(arr);
	if (!ecml_all_finite(x, n))
		for (int j = 0; j < n; j++)
			if (isinf(x[j]))
				infinite_feature(j);
	return x;
}

/* The shares of a split's two children in its cover. */
void
gbdt_child_shares(const GbdtModel *m, int k, double *left, double *right)
{
	double		rl = m->cover[m->nodes[k].left];
	double		rr = m->cover[m->nodes[k].left + 1];

	if (rl + rr > 0)
	{
		*left = rl / (rl + rr);
		*right = rr / (rl + rr);
	}
	else
		*left = *right = 0.5;
}

double
gbdt_tree_expectation(const GbdtModel *m, int t)
{
	int			begin = m->tree_start[t];
	int			end = m->tree_start[t + 1];
	double	   *e = palloc(sizeof(double) * (end - begin));
	double		result;

	/* children follow their parent: fill from the last node back */
	for (int k = end - 1; k >= begin; k--)
	{
		const GbdtNode *nd = &m->nodes[k];
		double		sl,
					sr;

		if (nd->feature < 0)
		{
			e[k - begin] = nd->value;
			continue;
		}
		gbdt_child_shares(m, k, &sl, &sr);
		e[k - begin] = sl * e[nd->left - begin] + sr * e[nd->left + 1 - begin];
	}
	result = e[0];
	pfree(e);
	return result;
}

/* "invalid ecml model: gbdt <what>" (data_corrupted), model.c */
#define MODEL_CORRUPTED(what) \
	ecml_model_kind_corrupted("gbdt", (what), \
							  "Pass a model produced by ecml.fraud_train, unmodified.")

/*
 * How a decoded model is known to be a forest of proper binary trees, so
 * that every walk over it (scoring, TreeSHAP, the expectation) visits each
 * node at most once per root-to-leaf path and ends within
 * GBDT_MAX_DEPTH_MAX steps:
 *	 - a node's children lie after it inside its tree (checked in
 *	   gbdt_parse), so no walk can come back to a node: no cycles;
 *	 - no node is the child of two nodes (gbdt_claim_children), so the
 *	   paths do not multiply: a tree whose nodes share children (a DAG with
 *	   node k's children k+1 and k+2) has 2^levels paths over 2 levels
 *	   nodes, and TreeSHAP would walk them all;
 *	 - every node but the root has a parent: no unreachable nodes;
 *	 - no leaf is deeper than GBDT_MAX_DEPTH_MAX, the deepest tree
 *	   training grows, which bounds the recursion and TreeSHAP's path
 *	   buffers ((depth + 2)^2 elements).
 */

/*
 * Record that the children left and left + 1 have a parent and sit at
 * depth child_depth; a child claimed twice or too deep fails the model.
 */
static inline void
gbdt_claim_children(int32 left, uint8 *parents, int *depth, int child_depth)
{
	if (parents[left] != 0 || parents[left + 1] != 0)
		MODEL_CORRUPTED("tree has a node with two parents (trees must not share nodes)");
	if (child_depth > GBDT_MAX_DEPTH_MAX)
		MODEL_CORRUPTED(psprintf("tree is deeper than %d levels", GBDT_MAX_DEPTH_MAX));
	parents[left] = parents[left + 1] = 1;
	depth[left] = depth[left + 1] = child_depth;
}

/*
 * The base margin, the feature count and the tree table, checked against
 * the node table's length; the number of nodes.
 */
static Size
gbdt_parse_tables(const EcmlModel *model, GbdtModel *m)
{
	const EcmlSection *s;
	double	   *base;
	Size		ntrees;
	Size		nnodes;

	base = ecml_section_doubles(model, GBDT_TAG_BASE, 2);
	if (!isfinite(base[0]) || !(base[1] >= 1 && base[1] <= GBDT_MAX_FEATURES) ||
		base[1] != floor(base[1]))
		MODEL_CORRUPTED("base margin or feature count out of range");
	m->base_margin = base[0];
	m->nfeatures = (int) base[1];

	s = ecml_model_section(model, GBDT_TAG_TREES, ECML_SECTION_INT32, true);
	if (s->length < sizeof(int32) || s->length % sizeof(int32) != 0 ||
		s->length / sizeof(int32) - 1 > GBDT_N_TREES_MAX)
		MODEL_CORRUPTED("tree table has the wrong length");
	ntrees = s->length / sizeof(int32) - 1;
	m->ntrees = (int) ntrees;
	m->tree_start = palloc(s->length);
	memcpy(m->tree_start, s->data, s->length);

	s = ecml_model_section(model, GBDT_TAG_NODE_INTS, ECML_SECTION_INT32, true);
	if (s->length % (4 * sizeof(int32)) != 0)
		MODEL_CORRUPTED("node table has the wrong length");
	nnodes = s->length / (4 * sizeof(int32));
	if (nnodes > (Size) GBDT_N_TREES_MAX * GBDT_MAX_NODES_PER_TREE ||
		(Size) m->tree_start[ntrees] != nnodes || m->tree_start[0] != 0)
		MODEL_CORRUPTED("node count does not match the tree table");
	m->nnodes = (int) nnodes;
	return nnodes;
}

/*
 * Tree t's nodes from the int and float tables, checked: features and
 * children in range, every node reached from the root once; depths and
 * feature importance accumulate.
 */
static void
gbdt_parse_tree(GbdtModel *m, Size t, const int32 *ints, const float *floats,
				uint8 *parents, int *depth)
{
	int32		begin = m->tree_start[t];
	int32		end = m->tree_start[t + 1];

	/* every tree has a node, and children lie after their parent inside it */
	if (end <= begin || end - begin > GBDT_MAX_NODES_PER_TREE)
		MODEL_CORRUPTED("tree table is not increasing");
	/* the last entry is the node count, but an earlier one may exceed it */
	if ((Size) end > (Size) m->nnodes)
		MODEL_CORRUPTED("tree table runs past the node table");
	for (int32 k = begin; k < end; k++)
	{
		GbdtNode   *nd = &m->nodes[k];
		const int32 *ni = ints + 4 * (Size) k;
		const float *nf = floats + 4 * (Size) k;

		nd->feature = ni[0];
		nd->left = ni[1];
		nd->threshold = nf[0];
		nd->value = nf[1];
		m->default_left[k] = (ni[2] & GBDT_NODE_DEFAULT_LEFT) != 0;
		m->cover[k] = nf[2];
		if (!isfinite(nf[1]) || !isfinite(nf[2]) || nf[2] < 0)
			MODEL_CORRUPTED("node value or cover is not finite");
		if (nd->feature == -1)
			continue;
		if (nd->feature < 0 || nd->feature >= m->nfeatures)
			MODEL_CORRUPTED("node feature out of range");
		if (nd->left <= k || nd->left >= end - 1)
			MODEL_CORRUPTED("node child out of range");
		if (isnan(nf[0]) || !isfinite(nf[3]))
			MODEL_CORRUPTED("node threshold or gain is not a number");
		gbdt_claim_children(nd->left, parents, depth, depth[k] + 1);
		m->max_depth = Max(m->max_depth, depth[k] + 1);
		m->importance_gain[nd->feature] += nf[3];
		m->importance_splits[nd->feature]++;
	}
	/* the root has no parent (children come after it); all others one */
	for (int32 k = begin + 1; k < end; k++)
		if (parents[k] == 0)
			MODEL_CORRUPTED("tree has a node its root does not reach");
}

/* The stored feature names, or x1 .. xf. */
static char **
gbdt_parse_names(const EcmlModel *model, int f)
{
	int			nnames;
	char	  **names = ecml_section_texts(model, ECML_TAG_FEATURE_NAMES, &nnames);

	if (names != NULL && nnames != f)
		MODEL_CORRUPTED("feature names do not match the feature count");
	if (names == NULL)
	{
		names = palloc(sizeof(char *) * f);
		for (int j = 0; j < f; j++)
			names[j] = psprintf("x%d", j + 1);
	}
	return names;
}

/* Parse and check a validated gbdt model into its scoring form (in mcxt). */
void *
gbdt_parse(const EcmlModel *model, MemoryContext mcxt)
{
	GbdtModel  *m = palloc0(sizeof(GbdtModel));
	const EcmlSection *s;
	int32	   *ints;
	float	   *floats;
	int		   *depth;
	uint8	   *parents;
	Size		nnodes = gbdt_parse_tables(model, m);
	Size		ntrees = m->ntrees;
	int			f = m->nfeatures;

	s = ecml_model_section(model, GBDT_TAG_NODE_INTS, ECML_SECTION_INT32, true);
	ints = palloc_extended(Max(s->length, 1), MCXT_ALLOC_HUGE);
	memcpy(ints, s->data, s->length);
	floats = ecml_section_floats(model, GBDT_TAG_NODE_FLOATS, 4 * nnodes);

	m->nodes = palloc_extended(sizeof(GbdtNode) * Max(nnodes, 1), MCXT_ALLOC_HUGE);
	m->default_left = palloc_extended(sizeof(bool) * Max(nnodes, 1), MCXT_ALLOC_HUGE);
	m->cover = palloc_extended(sizeof(float) * Max(nnodes, 1), MCXT_ALLOC_HUGE);
	depth = palloc_extended(sizeof(int) * Max(nnodes, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	m->importance_gain = palloc0(sizeof(double) * f);
	m->importance_splits = palloc0(sizeof(int) * f);
	parents = palloc_extended(Max(nnodes, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (Size t = 0; t < ntrees; t++)
	{
		CHECK_FOR_INTERRUPTS();
		gbdt_parse_tree(m, t, ints, floats, parents, depth);
	}
	pfree(parents);
	m->group_depth = palloc0(sizeof(int) * (ntrees / GBDT_WALK_LANES + 1));
	for (Size t = 0; t < ntrees; t++)
		for (int32 k = m->tree_start[t]; k < m->tree_start[t + 1]; k++)
			m->group_depth[t / GBDT_WALK_LANES] = Max(m->group_depth[t / GBDT_WALK_LANES], depth[k]);
	pfree(depth);
	pfree(ints);
	gbdt_build_walk(m);
	m->expected_margin = m->base_margin;
	for (int t = 0; t < m->ntrees; t++)
		m->expected_margin += gbdt_tree_expectation(m, t);
	pfree(floats);
	m->feature_names = gbdt_parse_names(model, f);
	return m;
}

/* The walking nodes: leaves loop onto themselves, a zero leaf pads groups. */
static void
gbdt_build_walk(GbdtModel *m)
{
	m->walk = palloc_extended(sizeof(GbdtWalkNode) * (m->nnodes + 1), MCXT_ALLOC_HUGE);
	m->leaf_value = palloc_extended(sizeof(float) * (m->nnodes + 1), MCXT_ALLOC_HUGE);
	for (int k = 0; k <= m->nnodes; k++)
	{
		GbdtWalkNode *w = &m->walk[k];
		bool		leaf = k == m->nnodes || m->nodes[k].feature < 0;

		w->threshold = leaf ? get_float4_infinity() : m->nodes[k].threshold;
		w->feature = leaf ? 0 : m->nodes[k].feature;
		w->left = leaf ? k : m->nodes[k].left;
		w->missing_right = leaf ? 0 : !m->default_left[k];
		m->leaf_value[k] = (k == m->nnodes || !leaf) ? 0.0f : m->nodes[k].value;
	}
}

/*
 * Margin of one row.  Trees go in groups of GBDT_WALK_LANES walked in
 * lockstep for the group's depth, each step branch-free: the lanes are
 * independent, so their loads overlap instead of each level waiting on a
 * mispredicted branch.
 */
double
gbdt_margin(const GbdtModel *m, const float *x)
{
	const GbdtWalkNode *walk = m->walk;
	double		s = m->base_margin;

	for (int t0 = 0, g = 0; t0 < m->ntrees; t0 += GBDT_WALK_LANES, g++)
	{
		int32		k[GBDT_WALK_LANES];
		int			lanes = Min(GBDT_WALK_LANES, m->ntrees - t0);

		for (int j = 0; j < GBDT_WALK_LANES; j++)
			k[j] = j < lanes ? m->tree_start[t0 + j] : m->nnodes;
		for (int d = 0; d < m->group_depth[g]; d++)
		{
			for (int j = 0; j < GBDT_WALK_LANES; j++)
			{
				const GbdtWalkNode *w = &walk[k[j]];
				float		v = x[w->feature];

				/* NaN compares false both ways: it goes right only if so learned */
				k[j] = w->left + ((v > w->threshold) | ((v != v) & w->missing_right));
			}
		}
		for (int j = 0; j < GBDT_WALK_LANES; j++)
			s += m->leaf_value[k[j]];
	}
	return s;
}
