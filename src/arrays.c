/*
 * arrays.c
 *	  Checked access to real[] and bigint[] arguments (docs/DESIGN.md section 2).
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* Shared checks: one dimension (or empty), no NULL elements, right length. */
static int
check_shape(ArrayType *arr, const char *what, int expected_len)
{
	int			ndim = ARR_NDIM(arr);
	int			n;

	if (ndim == 0)
		n = 0;
	else if (ndim != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array, got %d dimensions", what, ndim)));
	else
		n = ARR_DIMS(arr)[0];

	if (ARR_HASNULL(arr) && array_contains_nulls(arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL elements", what)));

	if (expected_len >= 0 && n != expected_len)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s has %d elements, model expects %d", what, n, expected_len),
				 errhint("Pass %d values in the order given by ecml.model_info(), or retrain the model.",
						 expected_len)));
	return n;
}

bool
ecml_all_finite(const float *x, int n)
{
	const uint32 *bits = (const uint32 *) x;
	uint32		acc = 0;

	/*
	 * An exponent of all ones is NaN or infinity; adding one exponent unit
	 * carries exactly those into bit 31.  And, add, or: it vectorizes.
	 */
	for (int i = 0; i < n; i++)
		acc |= (bits[i] & 0x7f800000) + 0x00800000;
	return (acc & 0x80000000) == 0;
}

float *
ecml_array_float4_unchecked(ArrayType *arr, const char *what, int expected_len,
							int *len_out)
{
	int			n;

	if (ARR_ELEMTYPE(arr) != FLOAT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be of type real[], got %s[]", what,
						format_type_be(ARR_ELEMTYPE(arr)))));
	n = check_shape(arr, what, expected_len);
	if (len_out)
		*len_out = n;
	return (float *) ARR_DATA_PTR(arr);
}

void
ecml_check_finite(const float *x, int n, const char *what, bool allow_nan)
{
	if (ecml_all_finite(x, n))
		return;
	for (int i = 0; i < n; i++)
	{
		if (isinf(x[i]) || (isnan(x[i]) && !allow_nan))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s element %d is %s", what, i + 1,
							isnan(x[i]) ? "NaN" : "infinite"),
					 errhint("Replace missing or overflowing values before calling ecml (for example with COALESCE).")));
	}
}

float *
ecml_array_float4(ArrayType *arr, const char *what, int expected_len,
				  int *len_out, bool allow_nan)
{
	int			n;
	float	   *x = ecml_array_float4_unchecked(arr, what, expected_len, &n);

	ecml_check_finite(x, n, what, allow_nan);
	if (len_out)
		*len_out = n;
	return x;
}

int64 *
ecml_array_int8(ArrayType *arr, const char *what, int expected_len, int *len_out)
{
	int			n;

	if (ARR_ELEMTYPE(arr) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be of type bigint[], got %s[]", what,
						format_type_be(ARR_ELEMTYPE(arr)))));
	n = check_shape(arr, what, expected_len);
	if (len_out)
		*len_out = n;
	return (int64 *) ARR_DATA_PTR(arr);
}

ArrayType *
ecml_new_array(Oid elemtype, int elemsize, int n)
{
	Size		nbytes = ARR_OVERHEAD_NONULLS(1) + (Size) elemsize * n;
	ArrayType  *arr;

	if (n == 0)
		return construct_empty_array(elemtype);
	arr = (ArrayType *) palloc_extended(nbytes, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	SET_VARSIZE(arr, nbytes);
	arr->ndim = 1;
	arr->dataoffset = 0;
	arr->elemtype = elemtype;
	ARR_DIMS(arr)[0] = n;
	ARR_LBOUND(arr)[0] = 1;
	return arr;
}

static ArrayType *
copy_to_array(Oid elemtype, int elemsize, const void *values, int n)
{
	ArrayType  *arr = ecml_new_array(elemtype, elemsize, n);

	if (n > 0)
		memcpy(ARR_DATA_PTR(arr), values, (Size) elemsize * n);
	return arr;
}

ArrayType *
ecml_float4_array(const float *values, int n)
{
	return copy_to_array(FLOAT4OID, sizeof(float), values, n);
}

ArrayType *
ecml_int8_array(const int64 *values, int n)
{
	return copy_to_array(INT8OID, sizeof(int64), values, n);
}

ArrayType *
ecml_float8_array(const double *values, int n)
{
	return copy_to_array(FLOAT8OID, sizeof(double), values, n);
}

void
ecml_check_feature_count(int n, int max_features, const char *trainer)
{
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("feature vector must not be empty")));
	if (n > max_features)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("feature vector has %d elements, %s supports at most %d",
						n, trainer, max_features)));
}

void
ecml_check_same_width(int have, int got, const char *trainer)
{
	if (have != got)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("feature vector has %d elements, earlier rows have %d", got, have),
				 errhint("Every row passed to %s must have the same number of features.", trainer)));
}

#define ST_SORT sort_ids_asc
#define ST_ELEMENT_TYPE int64
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

void
ecml_sort_ids(int64 *ids, size_t n)
{
	sort_ids_asc(ids, n);
}

void
ecml_copy_interruptible(void *dst, const void *src, Size n)
{
	char	   *d = dst;
	const char *s = src;

	while (n > 0)
	{
		Size		k = Min(n, ECML_COPY_BLOCK);

		CHECK_FOR_INTERRUPTS();
		memcpy(d, s, k);
		d += k;
		s += k;
		n -= k;
	}
}

void
ecml_zero_interruptible(void *dst, Size n)
{
	char	   *d = dst;

	while (n > 0)
	{
		Size		k = Min(n, ECML_COPY_BLOCK);

		CHECK_FOR_INTERRUPTS();
		memset(d, 0, k);
		d += k;
		n -= k;
	}
}
