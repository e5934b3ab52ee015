/*
 * distance.c
 *	  Distances between real[] vectors: the kernels (see distance.h) and the
 *	  SQL functions ecml.l2_distance, ecml.inner_product,
 *	  ecml.negative_inner_product, ecml.cosine_distance, ecml.l2_normalize
 *	  behind the operators <->, <#> and <=>.
 */
#include "postgres.h"

#include <math.h>

#include "access/heaptoast.h"
#include "arrays.h"
#include "catalog/pg_type.h"
#include "detoast_cache.h"
#include "distance.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "vecops.h"

/*
 * One clone for x86-64-v3 (AVX2 + FMA) and a baseline one, picked by the
 * dynamic loader's resolver at load time; the shipped build never assumes
 * the build machine's CPU.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DISTANCE_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define DISTANCE_CLONES
#endif

/*
 * The kernels keep their partial sums in eight-float vectors (vecops.h),
 * two per step of 16 elements, so each sum is two independent FMA chains
 * however the compiler treats the loop around an inlined body.
 */
typedef float v4f __attribute__((vector_size(16)));

/*
 * The lane sums of four EcmlV8 accumulators at once (halves added, then a 4x4
 * transpose-add), stored to element j of r0..r3: a third of the
 * instructions of four separate lane sums.
 */
#define HSUM4(A, B, CC, D, r0, r1, r2, r3, j) \
	do { \
		v4f			lo_[4], hi_[4], u_, w_, s_; \
		\
		memcpy(&lo_[0], &(A), 16); memcpy(&hi_[0], (char *) &(A) + 16, 16); \
		memcpy(&lo_[1], &(B), 16); memcpy(&hi_[1], (char *) &(B) + 16, 16); \
		memcpy(&lo_[2], &(CC), 16); memcpy(&hi_[2], (char *) &(CC) + 16, 16); \
		memcpy(&lo_[3], &(D), 16); memcpy(&hi_[3], (char *) &(D) + 16, 16); \
		lo_[0] += hi_[0]; lo_[1] += hi_[1]; lo_[2] += hi_[2]; lo_[3] += hi_[3]; \
		u_ = __builtin_shufflevector(lo_[0], lo_[1], 0, 4, 1, 5) + \
			__builtin_shufflevector(lo_[0], lo_[1], 2, 6, 3, 7); \
		w_ = __builtin_shufflevector(lo_[2], lo_[3], 0, 4, 1, 5) + \
			__builtin_shufflevector(lo_[2], lo_[3], 2, 6, 3, 7); \
		s_ = __builtin_shufflevector(u_, w_, 0, 1, 4, 5) + \
			__builtin_shufflevector(u_, w_, 2, 3, 6, 7); \
		(r0)[j] = s_[0]; (r1)[j] = s_[1]; (r2)[j] = s_[2]; (r3)[j] = s_[3]; \
	} while (0)

DISTANCE_CLONES
float
ecml_inner_product_f32(const float *x, const float *y, int n)
{
	return ecml_dot_inline(x, y, n);
}

/*
 * Four rows at a time, two FMA chains each, the query's vectors loaded once
 * for the four, and the lane sums of the four taken together (HSUM4): a
 * scan at memory bandwidth with few instructions to spare.  The sums may
 * differ from ecml_inner_product_f32's in the last bits (another order).
 */
DISTANCE_CLONES
void
ecml_inner_products_f32(const float *X, int nrows, int n, const float *y, float *out)
{
	int			n16 = n - n % 16;
	int			r = 0;

	for (; r + 4 <= nrows; r += 4)
	{
		const float *x0 = X + (Size) r * n,
				   *x1 = x0 + n,
				   *x2 = x1 + n,
				   *x3 = x2 + n;
		EcmlV8			a0 = {0}, b0 = {0},
					a1 = {0}, b1 = {0},
					a2 = {0}, b2 = {0},
					a3 = {0}, b3 = {0};
		int			k;

		for (k = 0; k < n16; k += 16)
		{
			EcmlV8			ya,
						yb,
						u,
						v;

			ECML_LOAD8(ya, y + k);
			ECML_LOAD8(yb, y + k + 8);
			ECML_LOAD8(u, x0 + k);
			ECML_LOAD8(v, x0 + k + 8);
			a0 += u * ya;
			b0 += v * yb;
			ECML_LOAD8(u, x1 + k);
			ECML_LOAD8(v, x1 + k + 8);
			a1 += u * ya;
			b1 += v * yb;
			ECML_LOAD8(u, x2 + k);
			ECML_LOAD8(v, x2 + k + 8);
			a2 += u * ya;
			b2 += v * yb;
			ECML_LOAD8(u, x3 + k);
			ECML_LOAD8(v, x3 + k + 8);
			a3 += u * ya;
			b3 += v * yb;
		}
		a0 += b0;
		a1 += b1;
		a2 += b2;
		a3 += b3;
		HSUM4(a0, a1, a2, a3, out, out + 1, out + 2, out + 3, r);
		for (; k < n; k++)
		{
			out[r] += x0[k] * y[k];
			out[r + 1] += x1[k] * y[k];
			out[r + 2] += x2[k] * y[k];
			out[r + 3] += x3[k] * y[k];
		}
	}
	for (; r < nrows; r++)
		out[r] = ecml_dot_inline(X + (Size) r * n, y, n);
}

DISTANCE_CLONES
float
ecml_l2_squared_f32(const float *x, const float *y, int n)
{
	EcmlV8			a0 = {0},
				a1 = {0};
	float		s = 0.0f;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		EcmlV8			x0,
					y0,
					x1,
					y1;

		ECML_LOAD8(x0, x + i);
		ECML_LOAD8(y0, y + i);
		ECML_LOAD8(x1, x + i + 8);
		ECML_LOAD8(y1, y + i + 8);
		x0 -= y0;
		x1 -= y1;
		a0 += x0 * x0;
		a1 += x1 * x1;
	}
	for (; i < n; i++)
	{
		float		d = x[i] - y[i];

		s += d * d;
	}
	a0 += a1;
	return ecml_hsum8(&a0) + s;
}

float
ecml_l2_distance_f32(const float *x, const float *y, int n)
{
	return sqrtf(ecml_l2_squared_f32(x, y, n));
}

float
ecml_norm_squared_f32(const float *x, int n)
{
	return ecml_inner_product_f32(x, x, n);
}

/*
 * Vectors stored as int8 codes, x_i = scale c_i (ecml_hnsw storage =
 * 'int8'), against a float query, read as they are: a distance reads a
 * quarter of the bytes of a float vector and writes nothing.  With AVX2,
 * eight codes become eight floats in two instructions (vpmovsxbd,
 * vcvtdq2ps); GCC's vector extensions widen int8 one element at a time,
 * hence intrinsics here, picked by CPU feature at run time.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define I8_HAVE_AVX2_BUILD 1
#define I8_TARGET_AVX2 __attribute__((target("avx2,fma")))
#include <immintrin.h>

#define I8_LOAD8(p) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *) (p))))

I8_TARGET_AVX2
static float
i8_hsum(__m256 a)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* |q - scale c|^2 over the first n - n % 16 elements */
I8_TARGET_AVX2
static float
l2_squared_i8_avx2(const int8 *c, float scale, const float *q, int n)
{
	__m256		a0 = _mm256_setzero_ps();
	__m256		a1 = _mm256_setzero_ps();
	__m256		vs = _mm256_set1_ps(scale);

	for (int i = 0; i + 16 <= n; i += 16)
	{
		__m256		d0 = _mm256_fnmadd_ps(I8_LOAD8(c + i), vs, _mm256_loadu_ps(q + i));
		__m256		d1 = _mm256_fnmadd_ps(I8_LOAD8(c + i + 8), vs, _mm256_loadu_ps(q + i + 8));

		a0 = _mm256_fmadd_ps(d0, d0, a0);
		a1 = _mm256_fmadd_ps(d1, d1, a1);
	}
	return i8_hsum(_mm256_add_ps(a0, a1));
}

/* q . c and c . c over the first n - n % 16 elements */
I8_TARGET_AVX2
static float
dot_i8_avx2(const int8 *c, const float *q, int n, float *cc)
{
	__m256		a0 = _mm256_setzero_ps();
	__m256		a1 = _mm256_setzero_ps();
	__m256		n0 = _mm256_setzero_ps();
	__m256		n1 = _mm256_setzero_ps();

	for (int i = 0; i + 16 <= n; i += 16)
	{
		__m256		x0 = I8_LOAD8(c + i);
		__m256		x1 = I8_LOAD8(c + i + 8);

		a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(q + i), a0);
		a1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(q + i + 8), a1);
		n0 = _mm256_fmadd_ps(x0, x0, n0);
		n1 = _mm256_fmadd_ps(x1, x1, n1);
	}
	*cc = i8_hsum(_mm256_add_ps(n0, n1));
	return i8_hsum(_mm256_add_ps(a0, a1));
}

static bool
i8_cpu_has_avx2(void)
{
	static int	have = -1;

	if (have < 0)
	{
		__builtin_cpu_init();
		have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	}
	return have;
}
#endif

/* |q - scale c|^2 */
float
ecml_l2_squared_i8(const int8 *c, float scale, const float *q, int n)
{
	float		s = 0.0f;
	int			i = 0;

#ifdef I8_HAVE_AVX2_BUILD
	if (i8_cpu_has_avx2())
	{
		i = n - n % 16;
		s = l2_squared_i8_avx2(c, scale, q, n);
	}
#endif
	for (; i < n; i++)
	{
		float		d = q[i] - scale * (float) c[i];

		s += d * d;
	}
	return s;
}

/* q . (scale c), and |scale c|^2 to *norm2 */
float
ecml_dot_i8(const int8 *c, float scale, const float *q, int n, float *norm2)
{
	float		s = 0.0f;
	float		sn = 0.0f;
	int			i = 0;

#ifdef I8_HAVE_AVX2_BUILD
	if (i8_cpu_has_avx2())
	{
		i = n - n % 16;
		s = dot_i8_avx2(c, q, n, &sn);
	}
#endif
	for (; i < n; i++)
	{
		s += (float) c[i] * q[i];
		sn += (float) c[i] * (float) c[i];
	}
	*norm2 = sn * scale * scale;
	return s * scale;
}

/* x.y, |x|^2 and |y|^2 in one pass over both vectors: six FMA chains */
DISTANCE_CLONES
static void
dot_and_norms(const float *x, const float *y, int n,
			  float *xy_out, float *xx_out, float *yy_out)
{
	EcmlV8			xy0 = {0},
				xy1 = {0},
				xx0 = {0},
				xx1 = {0},
				yy0 = {0},
				yy1 = {0};
	float		sxy = 0.0f,
				sxx = 0.0f,
				syy = 0.0f;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		EcmlV8			x0,
					y0,
					x1,
					y1;

		ECML_LOAD8(x0, x + i);
		ECML_LOAD8(y0, y + i);
		ECML_LOAD8(x1, x + i + 8);
		ECML_LOAD8(y1, y + i + 8);
		xy0 += x0 * y0;
		xx0 += x0 * x0;
		yy0 += y0 * y0;
		xy1 += x1 * y1;
		xx1 += x1 * x1;
		yy1 += y1 * y1;
	}
	for (; i < n; i++)
	{
		sxy += x[i] * y[i];
		sxx += x[i] * x[i];
		syy += y[i] * y[i];
	}
	xy0 += xy1;
	xx0 += xx1;
	yy0 += yy1;
	*xy_out = ecml_hsum8(&xy0) + sxy;
	*xx_out = ecml_hsum8(&xx0) + sxx;
	*yy_out = ecml_hsum8(&yy0) + syy;
}

/* 1 - xy / sqrt(xx yy), clamped: rounding can push |cos| just past 1 */
static double
cosine_from_sums(double xy, double xx, double yy)
{
	double		c;

	if (xx == 0.0 || yy == 0.0)
		return NAN;
	c = xy / sqrt(xx * yy);
	if (c > 1.0)
		c = 1.0;
	else if (c < -1.0)
		c = -1.0;
	return 1.0 - c;
}

double
ecml_cosine_distance_f32(const float *x, const float *y, int n)
{
	float		xy,
				xx,
				yy;

	dot_and_norms(x, y, n, &xy, &xx, &yy);
	return cosine_from_sums(xy, xx, yy);
}

bool
ecml_l2_normalize_f32(const float *x, float *out, int n)
{
	float		nn = ecml_norm_squared_f32(x, n);
	double		norm;

	if (isfinite(nn))
		norm = sqrt((double) nn);
	else
	{
		/* finite elements whose squares overflow float32 */
		double		s = 0.0;

		for (int i = 0; i < n; i++)
			s += (double) x[i] * x[i];
		norm = sqrt(s);
	}
	if (norm == 0.0)
		return false;
	for (int i = 0; i < n; i++)
		out[i] = (float) (x[i] / norm);
	return true;
}

/* ---- SQL-callable functions ---- */

float *
ecml_vector_arg(ArrayType *arr, const char *what, int *n)
{
	float	   *x = ecml_array_float4_unchecked(arr, what, -1, n);

	if (*n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s must not be empty", what)));
	if (*n > ECML_VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s has %d elements, at most %d are supported",
						what, *n, ECML_VECTOR_MAX_DIM)));
	return x;
}

static inline void
check_same_dims(int a, int b)
{
	if (a != b)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vectors have different dimensions: %d and %d", a, b),
				 errhint("Compare vectors from the same embedding model.")));
}

/*
 * A sequential scan passes the rows of a heap page in line-pointer order,
 * and a page stores its tuples from its end backwards (storage/bufpage.h):
 * a table's next rows lie just below this row's vector in memory, and
 * asking for them while this one is computed hides most of their memory
 * latency (test/bench/RESULTS.md, search: ORDER BY embedding <=> q over
 * 100,000 in-memory rows of 128-d).  The stride is a guess (the vector and
 * about 64 bytes of headers and other columns).  A vector too wide to stay
 * in its heap tuple was detoasted into a copy, with nothing to ask for;
 * elsewhere (an index scan, a query's own vector) the requests are a few
 * wasted loads, never a fault.
 */
#define SCAN_AHEAD_ROWS 2

static inline void
prefetch_rows_below(const float *x, int n)
{
	uintptr_t	stride = (uintptr_t) n * sizeof(float) + 64;
	uintptr_t	ahead = (uintptr_t) x - SCAN_AHEAD_ROWS * stride;

	if (stride > TOAST_TUPLE_THRESHOLD)
		return;
	for (uintptr_t off = 0; off < SCAN_AHEAD_ROWS * stride; off += 64)
		__builtin_prefetch((const void *) (ahead + off));
}

/* argument i as an array, an out-of-line one from the statement's cache */
#define DETOAST_CACHED_ARRAY(i) \
	((ArrayType *) ecml_detoast_cached((struct varlena *) PG_GETARG_POINTER(i)))

/*
 * The two vector arguments of a distance function, checked for shape.  NaN
 * and infinity are looked for only when a result comes out non-finite
 * (any such element makes it so), which keeps the scan off the hot path.
 */
static int
vector_pair(FunctionCallInfo fcinfo, const float **x, const float **y)
{
	int			nx,
				ny;

	*x = ecml_vector_arg(DETOAST_CACHED_ARRAY(0), "first vector", &nx);
	*y = ecml_vector_arg(DETOAST_CACHED_ARRAY(1), "second vector", &ny);
	check_same_dims(nx, ny);
	/* either side may be the table's column */
	prefetch_rows_below(*x, nx);
	prefetch_rows_below(*y, nx);
	return nx;
}

static void
check_pair_finite(const float *x, const float *y, int n)
{
	ecml_check_finite(x, n, "first vector", false);
	ecml_check_finite(y, n, "second vector", false);
}

/* Inputs are finite but float32 sums overflowed: the same sums in double. */
static void
sums_double(const float *x, const float *y, int n, double *xy, double *xx,
			double *yy, double *dd)
{
	*xy = *xx = *yy = *dd = 0.0;
	for (int i = 0; i < n; i++)
	{
		double		a = x[i],
					b = y[i];

		*xy += a * b;
		*xx += a * a;
		*yy += b * b;
		*dd += (a - b) * (a - b);
	}
}

/* ecml.l2_distance(real[], real[]) → Euclidean distance (operator <->) */
PG_FUNCTION_INFO_V1(ecml_l2_distance);
Datum
ecml_l2_distance(PG_FUNCTION_ARGS)
{
	const float *x,
			   *y;
	int			n = vector_pair(fcinfo, &x, &y);
	float		d2 = ecml_l2_squared_f32(x, y, n);

	if (!isfinite(d2))
	{
		double		xy,
					xx,
					yy,
					dd;

		check_pair_finite(x, y, n);
		sums_double(x, y, n, &xy, &xx, &yy, &dd);
		PG_RETURN_FLOAT8(sqrt(dd));
	}
	PG_RETURN_FLOAT8(sqrt((double) d2));
}

static double
inner_product_checked(FunctionCallInfo fcinfo)
{
	const float *x,
			   *y;
	int			n = vector_pair(fcinfo, &x, &y);
	float		ip = ecml_inner_product_f32(x, y, n);

	if (!isfinite(ip))
	{
		double		xy,
					xx,
					yy,
					dd;

		check_pair_finite(x, y, n);
		sums_double(x, y, n, &xy, &xx, &yy, &dd);
		return xy;
	}
	return ip;
}

/* ecml.inner_product(real[], real[]) → x . y */
PG_FUNCTION_INFO_V1(ecml_inner_product);
Datum
ecml_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(inner_product_checked(fcinfo));
}

/* ecml.negative_inner_product(real[], real[]) → -(x . y) (operator <#>) */
PG_FUNCTION_INFO_V1(ecml_negative_inner_product);
Datum
ecml_negative_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(-inner_product_checked(fcinfo));
}

/* ecml.cosine_distance(real[], real[]) → 1 - cos(x, y) (operator <=>) */
PG_FUNCTION_INFO_V1(ecml_cosine_distance);
Datum
ecml_cosine_distance(PG_FUNCTION_ARGS)
{
	const float *x,
			   *y;
	int			n = vector_pair(fcinfo, &x, &y);
	float		xy,
				xx,
				yy;

	dot_and_norms(x, y, n, &xy, &xx, &yy);
	if (!isfinite(xy) || !isfinite(xx) || !isfinite(yy))
	{
		double		dxy,
					dxx,
					dyy,
					dd;

		check_pair_finite(x, y, n);
		sums_double(x, y, n, &dxy, &dxx, &dyy, &dd);
		PG_RETURN_FLOAT8(cosine_from_sums(dxy, dxx, dyy));
	}
	PG_RETURN_FLOAT8(cosine_from_sums(xy, xx, yy));
}

/* ecml.l2_normalize(real[]) → x / |x| (a zero vector is returned as is) */
PG_FUNCTION_INFO_V1(ecml_l2_normalize);
Datum
ecml_l2_normalize(PG_FUNCTION_ARGS)
{
	int			n;
	const float *x = ecml_vector_arg(PG_GETARG_ARRAYTYPE_P(0), "vector", &n);
	ArrayType  *out;

	ecml_check_finite(x, n, "vector", false);
	out = ecml_float4_array(x, n);
	ecml_l2_normalize_f32(x, (float *) ARR_DATA_PTR(out), n);
	PG_RETURN_ARRAYTYPE_P(out);
}
