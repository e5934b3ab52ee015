/*
 * vecops.h
 *	  Short vector kernels that BLIS does not serve well (one dot product of
 *	  a few dozen floats per row): plain C written so the compiler vectorizes
 *	  it, compiled for AVX2 and baseline x86-64 and picked at load time.
 */
#ifndef ECML_VECOPS_H
#define ECML_VECOPS_H

/* x . y over n floats, accumulated in 8 float lanes */
extern float ecml_dot_f32(const float *x, const float *y, int n);

#endif							/* ECML_VECOPS_H */
