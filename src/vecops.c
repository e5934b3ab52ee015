/*
 * vecops.c
 *	  Short vector kernels (see vecops.h).
 */
#include "postgres.h"

#include "vecops.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ECML_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ECML_CLONES
#endif

ECML_CLONES
float
ecml_dot_f32(const float *x, const float *y, int n)
{
	/* eight independent partial sums: the loop becomes one vector FMA chain */
	float		acc[8] = {0};
	float		s = 0.0f;
	int			i = 0;

	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			acc[k] += x[i + k] * y[i + k];
	for (; i < n; i++)
		s += x[i] * y[i];
	for (int k = 0; k < 8; k++)
		s += acc[k];
	return s;
}
