/*
 * nn_embedding.c
 *	  Token embedding: a table lookup forward, a scatter-add backward.
 *	  No PostgreSQL here (see nn.h).
 */
#include <string.h>

#include "nn.h"

/* out (n,E) = table (V,E) rows ids (n) */
void
embedding_forward(float *out, const int32_t *ids, int n, const float *table, int E)
{
	for (int r = 0; r < n; r++)
		memcpy(out + (size_t) r * E, table + (size_t) ids[r] * E, sizeof(float) * E);
}

/* dtable (V,E) rows ids (n) += dout (n,E); repeated ids accumulate */
void
embedding_backward(float *dtable, const float *dout, const int32_t *ids, int n, int E)
{
	for (int r = 0; r < n; r++)
	{
		float	   *d = dtable + (size_t) ids[r] * E;
		const float *g = dout + (size_t) r * E;

		for (int j = 0; j < E; j++)
			d[j] += g[j];
	}
}
