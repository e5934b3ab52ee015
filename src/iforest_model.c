/*
 * iforest_model.c
 *	  The isolation forest model: the normalizer c(n) that training and
 *	  scoring share, and the parser that checks a model and decodes it into
 *	  one array of 12-byte nodes (iforest.h has the layout).  Training
 *	  writes the model; ecml.anomaly_score() reads it through this file.
 */
#include "postgres.h"

#include <math.h>

#include "ecml.h"
#include "iforest.h"
#include "miscadmin.h"
#include "utils/float.h"

double
iforest_c(double n)
{
	/* H(i) ~ ln(i) + Euler's constant (Liu et al. 2008, eq. 1) */
	if (n > 2.0)
		return 2.0 * (log(n - 1.0) + 0.5772156649015329) - 2.0 * (n - 1.0) / n;
	if (n > 1.0)
		return 1.0;
	return 0.0;
}

/* "invalid ecml model: isolation forest <what>" (data_corrupted), model.c */
#define MODEL_CORRUPTED(what) ecml_model_kind_corrupted("isolation forest", (what), NULL)

/* An int32 section of exactly n elements, pointing into the model. */
static const int32 *
int32_section(const EcmlModel *model, uint32 tag, Size n, const char *what)
{
	const EcmlSection *s = ecml_model_section(model, tag, ECML_SECTION_INT32, true);

	if (s->length != n * sizeof(int32))
		MODEL_CORRUPTED(psprintf("%s section has the wrong length", what));
	return (const int32 *) s->data;
}

/*
 * Parse a validated isolation forest into nodes (in mcxt), checking that
 * each tree is a proper binary tree, so that every walk ends at a leaf
 * within height_limit steps: children come after their parent inside the
 * same tree (no cycles), no node has two parents (no shared subtrees),
 * every node but the root has one (none unreachable), and no inner node
 * lies at or below the height limit (at most 20 levels: psi <= 10^6).
 */
void *
iforest_parse(const EcmlModel *model, MemoryContext mcxt)
{
	IForestModel *m = palloc0(sizeof(IForestModel));
	const int32 *params = int32_section(model, IFOREST_TAG_PARAMS, 4, "parameters");
	const int32 *trees;
	const int32 *feature;
	const int32 *left;
	float	   *value;
	int			nnodes;
	int32	   *depth;

	m->nfeatures = params[0];
	m->ntrees = params[1];
	m->sample_size = params[2];
	m->height_limit = params[3];
	if (m->nfeatures < 1 || m->nfeatures > IFOREST_MAX_FEATURES ||
		m->ntrees < IFOREST_N_TREES_MIN || m->ntrees > IFOREST_N_TREES_MAX ||
		m->sample_size < IFOREST_SAMPLE_SIZE_MIN || m->sample_size > IFOREST_SAMPLE_SIZE_MAX ||
		m->height_limit != (int) ceil(log2((double) m->sample_size)))
		MODEL_CORRUPTED("parameters out of range");
	m->cpsi = iforest_c(m->sample_size);

	trees = int32_section(model, IFOREST_TAG_TREES, m->ntrees + 1, "tree");
	nnodes = trees[m->ntrees];
	/* a tree on psi rows has at most 2 psi - 1 nodes */
	if (nnodes < m->ntrees || (int64) nnodes > (int64) m->ntrees * (2 * m->sample_size - 1))
		MODEL_CORRUPTED("node count out of range");
	feature = int32_section(model, IFOREST_TAG_FEATURE, nnodes, "feature");
	left = int32_section(model, IFOREST_TAG_LEFT, nnodes, "child");
	value = ecml_section_floats(model, IFOREST_TAG_VALUE, nnodes);

	m->roots = palloc(sizeof(int32) * m->ntrees);
	m->nodes = palloc_extended(sizeof(IForestNode) * nnodes, MCXT_ALLOC_HUGE);
	m->path = palloc_extended(sizeof(float) * nnodes, MCXT_ALLOC_HUGE);
	m->at = palloc(sizeof(int32) * m->ntrees);
	depth = palloc_extended(sizeof(int32) * nnodes, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int t = 0; t < m->ntrees; t++)
	{
		int			first = trees[t];
		int			end = trees[t + 1];

		if (first < 0 || first >= end || end > nnodes)
			MODEL_CORRUPTED("tree offsets out of order");
		CHECK_FOR_INTERRUPTS();
		m->roots[t] = first;
		for (int i = first; i < end; i++)
		{
			IForestNode *nd = &m->nodes[i];

			if (feature[i] == -1)
			{
				/* a leaf: its path length is at most l + c(psi) */
				if (left[i] != -1 || !(value[i] >= 0.0f) ||
					value[i] > m->height_limit + m->cpsi + 1.0)
					MODEL_CORRUPTED(psprintf("leaf %d is invalid", i));
				nd->feature = 0;
				nd->value = get_float4_infinity();
				nd->left = i;
				m->path[i] = value[i];
			}
			else
			{
				if (feature[i] < 0 || feature[i] >= m->nfeatures ||
					left[i] <= i || left[i] >= end - 1 || !isfinite(value[i]))
					MODEL_CORRUPTED(psprintf("node %d is invalid", i));
				/*
				 * children come later, so depths fill in one pass, and a
				 * child with a depth already has a parent: each tree must
				 * be a proper tree (see the comment above iforest_parse)
				 */
				if (depth[left[i]] != 0 || depth[left[i] + 1] != 0)
					MODEL_CORRUPTED(psprintf("node %d shares a child with another node", i));
				if (depth[i] >= m->height_limit)
					MODEL_CORRUPTED(psprintf("node %d is below the height limit", i));
				depth[left[i]] = depth[left[i] + 1] = depth[i] + 1;
				nd->feature = feature[i];
				nd->value = value[i];
				nd->left = left[i];
				m->path[i] = 0.0f;
			}
		}
		/* the root is at depth 0 by definition, every other node has a parent */
		for (int i = first + 1; i < end; i++)
			if (depth[i] == 0)
				MODEL_CORRUPTED(psprintf("node %d is not reached from its tree's root", i));
	}
	if (trees[0] != 0)
		MODEL_CORRUPTED("tree offsets out of order");
	pfree(depth);
	return m;
}
