/*
 * nn_adam.c
 *	  Adam and the pieces of global gradient-norm clipping.  No PostgreSQL
 *	  here (see nn.h).
 */
#include <math.h>

#include "nn.h"

double
nn_sum_squares(const float *x, size_t n)
{
	double		s = 0.0;

	for (size_t i = 0; i < n; i++)
		s += (double) x[i] * x[i];
	return s;
}

void
nn_scale(float *x, size_t n, float s)
{
	for (size_t i = 0; i < n; i++)
		x[i] *= s;
}

/*
 * Kingma & Ba 2015, Algorithm 1, with the bias corrections folded into the
 * step size and the denominator as PyTorch writes it:
 *	 p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 */
void
adam_update(float *param, const float *grad, float *m, float *v, size_t n,
			float lr, float beta1, float beta2, float eps, int t)
{
	float		step = lr / (float) (1.0 - pow(beta1, t));
	float		rbc2 = (float) (1.0 / sqrt(1.0 - pow(beta2, t)));

	for (size_t i = 0; i < n; i++)
	{
		float		g = grad[i];

		m[i] = beta1 * m[i] + (1.0f - beta1) * g;
		v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
		param[i] -= step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
	}
}
