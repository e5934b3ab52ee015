/*
 * nn_softmax.c
 *	  The output layer: a linear map to the vocabulary followed by softmax
 *	  cross-entropy, full or sampled (equations in nn.h).  No PostgreSQL
 *	  here (see nn.h).
 */
/* lets the clamps in nn_expf vectorize; nothing here relies on FP traps */
#pragma GCC optimize ("no-trapping-math")

#include <math.h>
#include <string.h>

#include "blas.h"
#include "nn.h"

/* softmax of row (len) in place; returns log of the normalizer after the max shift, and the max */
NN_CLONES static double
softmax_row(float *row, int len, float *maxout)
{
	float		mx = -INFINITY;
	double		sum = 0.0;
	float		inv;

	for (int j = 0; j < len; j++)
		if (row[j] > mx)
			mx = row[j];
	for (int j = 0; j < len; j++)
		row[j] = nn_expf(row[j] - mx);
	for (int j = 0; j < len; j++)
		sum += row[j];
	inv = (float) (1.0 / sum);
	for (int j = 0; j < len; j++)
		row[j] *= inv;
	*maxout = mx;
	return log(sum);
}

double
softmax_xent_forward(float *probs, const float *h, int n, int H, int V,
					 const float *W, const float *b, const int32_t *y)
{
	double		loss = 0.0;

	for (int r = 0; r < n; r++)
		memcpy(probs + (size_t) r * V, b, sizeof(float) * V);
	/* logits (n,V) = h (n,H) . W^T (H,V) + b */
	ecml_sgemm(false, true, n, V, H, 1.0f, h, H, W, H, 1.0f, probs, V);
	for (int r = 0; r < n; r++)
	{
		float	   *row = probs + (size_t) r * V;
		float		target = row[y[r]];
		float		mx;
		double		lse = softmax_row(row, V, &mx);

		/* -log p_y = log sum exp(l - max) - (l_y - max) */
		loss += lse - ((double) target - mx);
	}
	return loss;
}

void
softmax_xent_backward(float *probs, const float *h, int n, int H, int V,
					  const float *W, const int32_t *y, float scale,
					  float *dW, float *db, float *dh)
{
	for (int r = 0; r < n; r++)
	{
		float	   *row = probs + (size_t) r * V;

		row[y[r]] -= 1.0f;
		for (int j = 0; j < V; j++)
		{
			row[j] *= scale;
			db[j] += row[j];
		}
	}
	/* dW (V,H) += dlogits^T (V,n) . h (n,H) */
	ecml_sgemm(true, false, V, H, n, 1.0f, probs, V, h, H, 1.0f, dW, H);
	/* dh (n,H) += dlogits (n,V) . W (V,H) */
	ecml_sgemm(false, false, n, H, V, 1.0f, probs, V, W, H, 1.0f, dh, H);
}

void
sampled_logits(float *work, float *wsamp, const float *h, int n, int H,
			   const float *W, const int32_t *y, const int32_t *samples, int S)
{
	int			C = S + 1;

	for (int j = 0; j < S; j++)
		memcpy(wsamp + (size_t) j * H, W + (size_t) samples[j] * H, sizeof(float) * H);
	/* work[:, 1:] (n,S) = h (n,H) . wsamp^T (H,S) */
	ecml_sgemm(false, true, n, S, H, 1.0f, h, H, wsamp, H, 0.0f, work + 1, C);
	for (int r = 0; r < n; r++)
	{
		float	   *row = work + (size_t) r * C;
		const float *hr = h + (size_t) r * H;
		const float *wy = W + (size_t) y[r] * H;
		float		dot = 0.0f;

		for (int k = 0; k < H; k++)
			dot += hr[k] * wy[k];
		row[0] = dot;
	}
}

double
sampled_softmax_forward(float *work, float *wsamp, const float *h, int n,
						int H, const float *W, const float *b,
						const int32_t *y, const float *logq_y,
						const int32_t *samples, int S, const float *logq_s)
{
	int			C = S + 1;
	double		loss = 0.0;

	sampled_logits(work, wsamp, h, n, H, W, y, samples, S);
	for (int r = 0; r < n; r++)
	{
		float	   *row = work + (size_t) r * C;
		float		target;
		float		mx;
		double		lse;

		row[0] = row[0] + b[y[r]] - logq_y[r];
		for (int j = 0; j < S; j++)
		{
			if (samples[j] == y[r])
				row[1 + j] = -INFINITY; /* accidental hit: not a negative */
			else
				row[1 + j] += b[samples[j]] - logq_s[j];
		}
		target = row[0];
		lse = softmax_row(row, C, &mx);
		loss += lse - ((double) target - mx);
	}
	return loss;
}

void
sampled_softmax_backward(float *work, const float *wsamp, const float *h,
						 int n, int H, const float *W, const int32_t *y,
						 const int32_t *samples, int S, float scale,
						 float *dW, float *db, float *dh, float *dwsamp)
{
	/* d (-log p_0) / d logit = p - 1_target */
	for (int r = 0; r < n; r++)
		work[(size_t) r * (S + 1)] -= 1.0f;
	sampled_logits_backward(work, wsamp, h, n, H, W, y, samples, S, scale, dW, db, dh,
							dwsamp);
}

void
sampled_logits_backward(float *work, const float *wsamp, const float *h,
						int n, int H, const float *W, const int32_t *y,
						const int32_t *samples, int S, float scale,
						float *dW, float *db, float *dh, float *dwsamp)
{
	int			C = S + 1;

	for (int r = 0; r < n; r++)
	{
		float	   *row = work + (size_t) r * C;
		const float *hr = h + (size_t) r * H;
		const float *wy = W + (size_t) y[r] * H;
		float	   *dwy = dW + (size_t) y[r] * H;
		float	   *dhr = dh + (size_t) r * H;
		float		d0;

		for (int j = 0; j < C; j++)
			row[j] *= scale;
		d0 = row[0];
		db[y[r]] += d0;
		for (int k = 0; k < H; k++)
		{
			dwy[k] += d0 * hr[k];
			dhr[k] += d0 * wy[k];
		}
		for (int j = 0; j < S; j++)
			db[samples[j]] += row[1 + j];
	}
	/* dh (n,H) += dwork[:, 1:] (n,S) . wsamp (S,H) */
	ecml_sgemm(false, false, n, H, S, 1.0f, work + 1, C, wsamp, H, 1.0f, dh, H);
	/* dwsamp (S,H) = dwork[:, 1:]^T (S,n) . h (n,H), scattered to the sampled rows */
	ecml_sgemm(true, false, S, H, n, 1.0f, work + 1, C, h, H, 0.0f, dwsamp, H);
	for (int j = 0; j < S; j++)
	{
		float	   *d = dW + (size_t) samples[j] * H;
		const float *g = dwsamp + (size_t) j * H;

		for (int k = 0; k < H; k++)
			d[k] += g[k];
	}
}
