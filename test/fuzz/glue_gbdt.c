/*
 * glue_gbdt.c: gbdt_parse, then ecml.fraud_score's margin and
 * ecml.fraud_explain's TreeSHAP for a row with a missing value, and
 * ecml.fraud_feature_importance's reads; every tree's path must fit the walk.
 */
#include "../../src/gbdt_explain.c"
#include "utils/float.h"
#include "glue.h"

void
fuzz_gbdt(const EcmlModel *model)
{
	GbdtModel  *m = gbdt_parse(model, CurrentMemoryContext);
	float	   *x = palloc(sizeof(float) * m->nfeatures);
	ShapContext cx;

	for (int j = 0; j < m->nfeatures; j++)
		x[j] = (float) j - 1.0f;
	x[0] = get_float4_nan();
	fuzz_sink += gbdt_margin(m, x);

	/*
	 * gbdt_margin walks a group of trees a fixed number of steps: each
	 * tree's path for x must reach its leaf within them, or the margin is
	 * silently wrong.
	 */
	for (int t = 0; t < m->ntrees; t++)
	{
		int32		k = m->tree_start[t];
		int			steps = 0;

		while (m->nodes[k].feature >= 0)
		{
			float		v = x[m->nodes[k].feature];

			k = m->nodes[k].left +
				(isnan(v) ? !m->default_left[k] : v > m->nodes[k].threshold);
			steps++;
		}
		if (steps > m->group_depth[t / GBDT_WALK_LANES])
		{
			fprintf(stderr, "gbdt: tree %d needs %d steps, its group walks %d\n",
					t, steps, m->group_depth[t / GBDT_WALK_LANES]);
			abort();
		}
	}

	/* as gbdt_explain sets it up */
	cx.m = m;
	cx.x = x;
	cx.phi = palloc0(sizeof(double) * m->nfeatures);
	cx.stride = m->max_depth + 2;
	cx.paths = palloc(sizeof(PathElem) * (Size) cx.stride * cx.stride);
	for (int t = 0; t < m->ntrees; t++)
		shap_recurse(&cx, m->tree_start[t], NULL, 0, 1.0, 1.0, -1, 0);
	for (int j = 0; j < m->nfeatures; j++)
		fuzz_sink += cx.phi[j] + m->importance_gain[j] + m->importance_splits[j] +
			strlen(m->feature_names[j]);
	fuzz_sink += m->expected_margin;
}
