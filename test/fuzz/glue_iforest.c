/* glue_iforest.c: iforest_parse, then ecml.anomaly_score's walk for two rows,
 * checking that every walk ends at a leaf (else the score is silently wrong) */
#include "../../src/iforest_score.c"
#include "glue.h"

void
fuzz_iforest(const EcmlModel *model)
{
	IForestModel *m = iforest_parse(model, CurrentMemoryContext);
	float	   *x = palloc0(sizeof(float) * m->nfeatures);

	for (int row = 0; row < 2; row++)
	{
		fuzz_sink += iforest_mean_path(m, x);
		/* height_limit steps must end every walk at a leaf (a self loop) */
		for (int t = 0; t < m->ntrees; t++)
			if (m->nodes[m->at[t]].left != m->at[t])
			{
				fprintf(stderr, "iforest: tree %d's walk ends at inner node %d\n", t, m->at[t]);
				abort();
			}
		for (int j = 0; j < m->nfeatures; j++)
			x[j] = 1e30f;
	}
}
