/* glue_logreg.c: logreg_parse, then a margin and the coefficient table's reads */
#include "../../src/logreg_predict.c"
#include "glue.h"

void
fuzz_logreg(const EcmlModel *model)
{
	LogregModel *m = logreg_parse(model, CurrentMemoryContext);
	float	   *x = palloc(sizeof(float) * m->nfeatures);

	for (int j = 0; j < m->nfeatures; j++)
		x[j] = (float) (j % 3) - 1.0f;
	fuzz_sink += logreg_margin(m, x);
	/* what ecml.logreg_coefficients reads */
	for (int j = -1; j < m->nfeatures; j++)
	{
		fuzz_sink += m->stderrs[j + 1];
		if (j >= 0)
			fuzz_sink += m->weights[j] + strlen(m->feature_names[j]);
	}
}
