/*
 * blas.h
 *	  The one place ecml talks to BLIS, so the rest of the code reads as math.
 *
 * All matrices are row-major unless a stride says otherwise.  BLIS takes a
 * row stride and a column stride for every operand, which lets a caller use
 * a sub-block of a wider buffer (for example the feature columns of a row
 * that also holds its label) without copying.
 *
 * BLIS worker threads only do arithmetic: nothing here may call back into
 * PostgreSQL.  The thread count is the GUC ecml.blas_threads, applied before
 * each heavy call rather than in _PG_init, so that a forked backend never
 * inherits half-made thread state.
 */
#ifndef ECML_BLAS_H
#define ECML_BLAS_H

#include <blis.h>

extern void ecml_blas_prepare(void);

/* y (m) = alpha * A (m,n; row stride lda) . x (n) + beta * y */
static inline void
ecml_sgemv(int m, int n, float alpha, const float *A, int lda,
		   const float *x, float beta, float *y)
{
	bli_sgemv(BLIS_NO_TRANSPOSE, BLIS_NO_CONJUGATE, m, n,
			  &alpha, (float *) A, lda, 1, (float *) x, 1, &beta, y, 1);
}

/* y (n) = alpha * A^T (n,m) . x (m) + beta * y, A is (m,n) with row stride lda */
static inline void
ecml_sgemv_t(int m, int n, float alpha, const float *A, int lda,
			 const float *x, float beta, float *y)
{
	bli_sgemv(BLIS_TRANSPOSE, BLIS_NO_CONJUGATE, m, n,
			  &alpha, (float *) A, lda, 1, (float *) x, 1, &beta, y, 1);
}

/*
 * C (m,n) = alpha * op(A) (m,k) . op(B) (k,n) + beta * C, all row-major with
 * row strides lda, ldb, ldc; op is a transpose when trans_a / trans_b.
 */
static inline void
ecml_sgemm(bool trans_a, bool trans_b, int m, int n, int k,
		   float alpha, const float *A, int lda, const float *B, int ldb,
		   float beta, float *C, int ldc)
{
	bli_sgemm(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
			  trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
			  m, n, k, &alpha, (float *) A, lda, 1, (float *) B, ldb, 1,
			  &beta, C, ldc, 1);
}

/* C (n,n) lower triangle = alpha * A^T . A + beta * C, A is (k,n) row-major */
static inline void
ecml_ssyrk_t(int n, int k, float alpha, const float *A, int lda,
			 float beta, float *C, int ldc)
{
	bli_ssyrk(BLIS_LOWER, BLIS_TRANSPOSE, n, k, &alpha, (float *) A, lda, 1,
			  &beta, C, ldc, 1);
}

/* x . y over n floats */
static inline float
ecml_sdot(int n, const float *x, const float *y)
{
	float		rho;

	bli_sdotv(BLIS_NO_CONJUGATE, BLIS_NO_CONJUGATE, n,
			  (float *) x, 1, (float *) y, 1, &rho);
	return rho;
}

#endif							/* ECML_BLAS_H */
