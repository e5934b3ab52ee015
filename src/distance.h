/*
 * distance.h
 *	  Distances between float32 vectors: the kernels behind the real[]
 *	  functions and operators (<->, <#>, <=>), exported for the packed search
 *	  and for index access methods.
 *
 * Every kernel takes two vectors of n floats and accumulates in float32
 * lanes (vectorized, AVX2 + FMA chosen at load time).  They do not check
 * their input; the SQL wrappers do.
 */
#ifndef ECML_DISTANCE_H
#define ECML_DISTANCE_H

#include "postgres.h"

#include "utils/array.h"

/* the largest vector the SQL functions accept (as pgvector's vector type) */
#define ECML_VECTOR_MAX_DIM 16000

/* x . y */
extern float ecml_inner_product_f32(const float *x, const float *y, int n);

/* out (nrows) = X (nrows,n; row-major) . y (n) (last bits may differ from ecml_inner_product_f32) */
extern void ecml_inner_products_f32(const float *X, int nrows, int n,
									const float *y, float *out);

/* |x - y|^2 */
extern float ecml_l2_squared_f32(const float *x, const float *y, int n);

/* |x - y| */
extern float ecml_l2_distance_f32(const float *x, const float *y, int n);

/* |x|^2 */
extern float ecml_norm_squared_f32(const float *x, int n);

/* int8 codes c with x = scale c, read without decoding: |q - x|^2 */
extern float ecml_l2_squared_i8(const int8 *c, float scale, const float *q, int n);

/* the same: q . x, and |x|^2 to *norm2 */
extern float ecml_dot_i8(const int8 *c, float scale, const float *q, int n, float *norm2);

/*
 * Half-precision copies (distance_f16.c): whether this CPU runs the
 * kernels below, which exist only in x86-64 builds by GCC or clang and may
 * be called only when it does.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define ECML_HAVE_F16_KERNELS 1
#endif
extern bool ecml_f16_supported(void);

#ifdef ECML_HAVE_F16_KERNELS
/* out = x rounded to halves, clamped to half's range; false when it had to be */
extern bool ecml_f32_to_f16(const float *x, uint16 *out, int n);

/* x . y and |x - y|^2 for x in halves, y in floats or halves */
extern float ecml_dot_f16(const uint16 *x, const float *y, int n);
extern float ecml_dot_f16_f16(const uint16 *x, const uint16 *y, int n);
extern float ecml_l2_squared_f16(const uint16 *x, const float *y, int n);
extern float ecml_l2_squared_f16_f16(const uint16 *x, const uint16 *y, int n);
#endif

/*
 * 1 - x.y / (|x| |y|), clamped to [0, 2]; NaN when either vector has norm
 * zero (the angle is undefined).
 */
extern double ecml_cosine_distance_f32(const float *x, const float *y, int n);

/*
 * out = x / |x|; returns false (and leaves out untouched) when |x| is zero.
 * out may be x.
 */
extern bool ecml_l2_normalize_f32(const float *x, float *out, int n);

/*
 * The elements of a real[] argument for a distance: one dimension, at least
 * one element, no NULL elements, at most ECML_VECTOR_MAX_DIM.  Finiteness is
 * checked by the callers on non-finite results only.
 */
extern float *ecml_vector_arg(ArrayType *arr, const char *what, int *n);

#endif							/* ECML_DISTANCE_H */
