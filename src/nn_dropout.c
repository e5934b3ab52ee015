/*
 * nn_dropout.c
 *	  Inverted dropout (Srivastava et al., JMLR 2014): during training each
 *	  activation is kept with probability 1 - p and scaled by 1 / (1 - p),
 *	  so scoring uses the network unchanged.  The caller draws the mask
 *	  (0 or 1 / (1 - p) per element) from its seeded generator, which keeps
 *	  these kernels free of PostgreSQL (see nn.h).
 */
#include "nn.h"

/* x (n) *= mask (n) */
void
dropout_forward(float *x, const float *mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] *= mask[i];
}

/* dx (n) *= mask (n): the gradient flows only through kept elements */
void
dropout_backward(float *dx, const float *mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dx[i] *= mask[i];
}
