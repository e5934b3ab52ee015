/*
 * vecops.h
 *	  Building blocks of ecml's short vector kernels (distances, the search
 *	  scan, matrix factorization's solvers and scoring, logistic regression
 *	  scoring): eight-float vectors in GCC vector extensions, so sums keep
 *	  two independent FMA chains without -ffast-math, and an inlinable dot
 *	  product and axpy.  They are static inline so that each caller's
 *	  target build (a target_clones function, or one compiled with
 *	  target("avx2,fma")) gets its own instruction set; the baseline build
 *	  splits each vector into SSE halves.
 */
#ifndef ECML_VECOPS_H
#define ECML_VECOPS_H

#include <string.h>

typedef float EcmlV8 __attribute__((vector_size(32)));

/* unaligned load / store (a function taking or returning EcmlV8 would change the baseline ABI) */
#define ECML_LOAD8(v, p) memcpy(&(v), (p), sizeof(EcmlV8))
#define ECML_STORE8(p, v) memcpy((p), &(v), sizeof(EcmlV8))

#define ECML_VEC_INLINE static inline __attribute__((always_inline))

/* the sum of the eight lanes, as a tree */
ECML_VEC_INLINE float
ecml_hsum8(const EcmlV8 *a)
{
	float		t0 = (*a)[0] + (*a)[4],
				t1 = (*a)[1] + (*a)[5],
				t2 = (*a)[2] + (*a)[6],
				t3 = (*a)[3] + (*a)[7];

	return (t0 + t2) + (t1 + t3);
}

/* x . y over n floats: two 8-lane FMA chains over steps of 16 */
ECML_VEC_INLINE float
ecml_dot_inline(const float *x, const float *y, int n)
{
	EcmlV8		a0 = {0},
				a1 = {0};
	float		s = 0.0f;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		EcmlV8		x0,
					y0,
					x1,
					y1;

		ECML_LOAD8(x0, x + i);
		ECML_LOAD8(y0, y + i);
		ECML_LOAD8(x1, x + i + 8);
		ECML_LOAD8(y1, y + i + 8);
		a0 += x0 * y0;
		a1 += x1 * y1;
	}
	for (; i < n; i++)
		s += x[i] * y[i];
	a0 += a1;
	return ecml_hsum8(&a0) + s;
}

/* y += a x over n floats */
ECML_VEC_INLINE void
ecml_axpy_inline(float *y, float a, const float *x, int n)
{
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		EcmlV8		yv,
					xv;

		ECML_LOAD8(yv, y + i);
		ECML_LOAD8(xv, x + i);
		yv += a * xv;
		ECML_STORE8(y + i, yv);
	}
	for (; i < n; i++)
		y[i] += a * x[i];
}

#endif							/* ECML_VECOPS_H */
