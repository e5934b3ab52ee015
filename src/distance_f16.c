/*
 * distance_f16.c
 *	  Half-precision (IEEE 754 binary16) copies of float vectors and the
 *	  distances over them: the inner product and the squared L2 distance
 *	  of a half vector with a float one or with another half one.  An
 *	  ecml_hnsw build computes its distances over such copies
 *	  (hnsw_build_graph.c): they are half the bytes, and at hundreds of
 *	  dimensions reading the vectors is what the build waits for.
 *
 *	  With F16C (x86-64 with AVX2 and FMA), eight halves become eight
 *	  floats in one instruction (vcvtph2ps).  The kernels exist only in
 *	  such builds and may be called only when ecml_f16_supported() says the
 *	  CPU has the instructions.
 */
#include "postgres.h"

#include "distance.h"
#include "vecops.h"

#ifdef ECML_HAVE_F16_KERNELS

#include <cpuid.h>
#include <immintrin.h>

#define F16_TARGET	 __attribute__((target("avx2,fma,f16c")))
#define F16_INLINE	 F16_TARGET static inline __attribute__((always_inline))
#define F16_LOAD8(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (p)))

bool
ecml_f16_supported(void)
{
	static int have = -1;

	if (have < 0)
	{
		unsigned int a,
			b,
			c,
			d;

		__builtin_cpu_init();
		/* F16C is CPUID leaf 1's ECX bit 29 (not every compiler names it) */
		have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
			   __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
	}
	return have;
}

/*
 * x rounded to the nearest half, even on ties, a component beyond half's
 * range clamped to it (so every copy is finite); returns false when one
 * was.
 */
F16_TARGET
bool
ecml_f32_to_f16(const float *x, uint16 *out, int n)
{
	__m256		big = _mm256_set1_ps(65504.0f);
	__m256		over = _mm256_setzero_ps();
	bool		ok = true;
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256		v = _mm256_loadu_ps(x + i);
		__m256		c = _mm256_min_ps(_mm256_max_ps(v, _mm256_sub_ps(_mm256_setzero_ps(), big)), big);

		/* NaN compares unequal too */
		over = _mm256_or_ps(over, _mm256_cmp_ps(c, v, _CMP_NEQ_UQ));
		_mm_storeu_si128((__m128i *) (out + i),
						 _mm256_cvtps_ph(c, _MM_FROUND_TO_NEAREST_INT));
	}
	for (; i < n; i++)
	{
		float		c = Min(Max(x[i], -65504.0f), 65504.0f);

		ok &= c == x[i];
		out[i] = (uint16) _mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(c), _MM_FROUND_TO_NEAREST_INT), 0);
	}
	return ok && _mm256_movemask_ps(over) == 0;
}

F16_INLINE	__m256
load_y(const void *y, bool yhalf, int i)
{
	if (yhalf)
		return F16_LOAD8((const uint16 *) y + i);
	return _mm256_loadu_ps((const float *) y + i);
}

/* the lanes' sum, as vecops.h's tree */
F16_INLINE float
hsum(__m256 a)
{
	EcmlV8		v;

	memcpy(&v, &a, sizeof(v));
	return ecml_hsum8(&v);
}

F16_INLINE float
y_at(const void *y, bool yhalf, int i)
{
	if (yhalf)
		return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(((const uint16 *) y)[i])));
	return ((const float *) y)[i];
}

/* one step of eight lanes into acc: x . y, or |x - y|^2 with l2 */
F16_INLINE	__m256
f16_step(__m256 acc, const uint16 *x, const void *y, bool yhalf, bool l2, int i)
{
	__m256		xv = F16_LOAD8(x + i);
	__m256		yv = load_y(y, yhalf, i);

	if (!l2)
		return _mm256_fmadd_ps(xv, yv, acc);
	xv = _mm256_sub_ps(xv, yv);
	return _mm256_fmadd_ps(xv, xv, acc);
}

/*
 * x . y, or |x - y|^2 with l2, for x in halves and y in halves or floats:
 * four FMA chains over steps of 32, then steps of 8, the rest one element
 * at a time.
 * Inlined with constant flags, each caller gets its own loop.
 */
F16_INLINE float
f16_kernel(const uint16 *x, const void *y, bool yhalf, bool l2, int n)
{
	__m256 a[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(),
					_mm256_setzero_ps(), _mm256_setzero_ps() };
	float s = 0.0f;
	int i = 0;

	for (; i + 32 <= n; i += 32)
		for (int c = 0; c < 4; c++)
			a[c] = f16_step(a[c], x, y, yhalf, l2, i + 8 * c);
	for (; i + 8 <= n; i += 8)
		a[0] = f16_step(a[0], x, y, yhalf, l2, i);
	for (; i < n; i++)
	{
		float		xv = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(x[i])));
		float		yv = y_at(y, yhalf, i);

		s += l2 ? (xv - yv) * (xv - yv) : xv * yv;
	}
	a[0] = _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3]));
	return hsum(a[0]) + s;
}

F16_TARGET
float
ecml_dot_f16(const uint16 *x, const float *y, int n)
{
	return f16_kernel(x, y, false, false, n);
}

F16_TARGET
float
ecml_dot_f16_f16(const uint16 *x, const uint16 *y, int n)
{
	return f16_kernel(x, y, true, false, n);
}

F16_TARGET
float
ecml_l2_squared_f16(const uint16 *x, const float *y, int n)
{
	return f16_kernel(x, y, false, true, n);
}

F16_TARGET
float
ecml_l2_squared_f16_f16(const uint16 *x, const uint16 *y, int n)
{
	return f16_kernel(x, y, true, true, n);
}

#else							/* !ECML_HAVE_F16_KERNELS */

bool
ecml_f16_supported(void)
{
	return false;
}

#endif
