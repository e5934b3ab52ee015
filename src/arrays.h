/*
 * arrays.h
 *	  Checked access to real[] and bigint[] arguments: one dimension, no NULL
 *	  elements, finite values, and the length a model expects.
 */
#ifndef ECML_ARRAYS_H
#define ECML_ARRAYS_H

#include "postgres.h"

#include "utils/array.h"

/*
 * The elements of a real[] as a float pointer into the array (no copy).
 * what names the argument in errors ("feature vector").  expected_len < 0
 * accepts any length; *len_out gets the length.  allow_nan lets NaN through
 * (models that read it as "missing"); infinities are always refused.
 * An empty array ('{}') has length 0 and is accepted here: callers that need
 * elements check the length.
 */
extern float *ecml_array_float4(ArrayType *arr, const char *what,
								int expected_len, int *len_out, bool allow_nan);

/*
 * The same without the finiteness scan, for hot scoring paths that check
 * their result instead: any NaN or infinity in x makes a dot product with x
 * non-finite, so ecml_check_finite() runs only when the result is.
 */
extern float *ecml_array_float4_unchecked(ArrayType *arr, const char *what,
										  int expected_len, int *len_out);

/* ERROR naming the first NaN (unless allow_nan) or infinite element of x. */
extern void ecml_check_finite(const float *x, int n, const char *what, bool allow_nan);

/* The elements of a bigint[], same rules (no finiteness to check). */
extern int64 *ecml_array_int8(ArrayType *arr, const char *what,
							  int expected_len, int *len_out);

/* A new zero-filled one-dimensional array of n elements of elemsize bytes. */
extern ArrayType *ecml_new_array(Oid elemtype, int elemsize, int n);

/* A new one-dimensional real[] / bigint[] / float8[] from a C array. */
extern ArrayType *ecml_float4_array(const float *values, int n);
extern ArrayType *ecml_int8_array(const int64 *values, int n);
extern ArrayType *ecml_float8_array(const double *values, int n);

/* True when every one of n floats is finite (no NaN, no infinity). */
extern bool ecml_all_finite(const float *x, int n);

/*
 * ERROR unless a training row's feature vector has 1 to max_features
 * elements; trainer names the aggregate.
 */
extern void ecml_check_feature_count(int n, int max_features, const char *trainer);

/*
 * ERROR unless a row's feature vector (got elements) is as wide as the
 * earlier rows' (have); trainer names the aggregate in the hint.
 */
extern void ecml_check_same_width(int have, int got, const char *trainer);

/*
 * Sort ids ascending.  Interruptible: tens of millions of ids take seconds
 * to sort, and cancel must stop a statement within about a second.
 */
extern void ecml_sort_ids(int64 *ids, size_t n);

/*
 * Binary search, the one copy.  ecml_find_int64 / ecml_find_int32: the
 * index of key in sorted[0..n) (ascending), or -1.
 */
static inline int64
ecml_find_int32(const int32 *sorted, int64 n, int32 key)
{
	int64		lo = 0;
	int64		hi = n - 1;

	while (lo <= hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (sorted[mid] < key)
			lo = mid + 1;
		else if (sorted[mid] > key)
			hi = mid - 1;
		else
			return mid;
	}
	return -1;
}

static inline int
ecml_find_int64(const int64 *sorted, int n, int64 key)
{
	int			lo = 0;
	int			hi = n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (sorted[mid] < key)
			lo = mid + 1;
		else if (sorted[mid] > key)
			hi = mid - 1;
		else
			return mid;
	}
	return -1;
}

/*
 * The first i in [lo, hi) of the ascending v with v[i] > x (upper bound)
 * or v[i] >= x (lower bound); hi when there is none.
 */
static inline int
ecml_upper_bound_float(const float *v, int lo, int hi, float x)
{
	while (lo < hi)
	{
		int			mid = (lo + hi) >> 1;

		if (v[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static inline int
ecml_lower_bound_float(const float *v, int lo, int hi, float x)
{
	while (lo < hi)
	{
		int			mid = (lo + hi) >> 1;

		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static inline int
ecml_upper_bound_uint32(const uint32 *v, int lo, int hi, uint32 x)
{
	while (lo < hi)
	{
		int			mid = (lo + hi) >> 1;

		if (v[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/*
 * memcpy / memset that check for interrupts every ECML_COPY_BLOCK bytes, for
 * the partial states of parallel aggregation (hundreds of MB): writing that
 * much fresh memory takes seconds on a busy virtual machine, where every
 * page fault is slow.
 */
#define ECML_COPY_BLOCK (1024 * 1024)
extern void ecml_copy_interruptible(void *dst, const void *src, Size n);
extern void ecml_zero_interruptible(void *dst, Size n);

#endif							/* ECML_ARRAYS_H */
