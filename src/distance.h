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
