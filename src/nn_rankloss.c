/*
 * nn_rankloss.c
 *	  BPR-max and TOP1-max over a target and sampled negatives (equations in
 *	  nn.h), forward and the gradient with respect to the scores.  No
 *	  PostgreSQL here (see nn.h).
 */
#include <math.h>

#include "nn.h"

static inline double
sigmoid(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

/*
 * The negatives' softmax weights into s (S), 0 for accidental hits; false
 * when the row has no negative.
 */
static bool
negative_weights(const float *row, const int32_t *samples, int S, int32_t y,
				 float *s)
{
	double		mx = -INFINITY;
	double		sum = 0.0;

	for (int j = 0; j < S; j++)
		if (samples[j] != y && row[1 + j] > mx)
			mx = row[1 + j];
	if (mx == -INFINITY)
		return false;
	for (int j = 0; j < S; j++)
	{
		s[j] = samples[j] == y ? 0.0f : (float) exp(row[1 + j] - mx);
		sum += s[j];
	}
	for (int j = 0; j < S; j++)
		s[j] = (float) (s[j] / sum);
	return true;
}

/*
 * BPR-max of one row: with sg_j = sigmoid(r0 - r_j), A = sum s_j sg_j and
 * R = sum s_j r_j^2, d/d r0 = -sum s_j sg_j (1 - sg_j) / A and
 * d/d r_k = s_k (1 - sg_k^2 / A) + reg s_k (r_k^2 - R + 2 r_k).
 */
static double
bpr_max_row(float *row, const float *s, int S, float reg)
{
	double		r0 = row[0];
	double		A = 0.0;
	double		R = 0.0;
	double		d0 = 0.0;

	for (int j = 0; j < S; j++)
	{
		double		sg = sigmoid(r0 - row[1 + j]);

		A += s[j] * sg;
		R += s[j] * row[1 + j] * row[1 + j];
	}
	A = fmax(A, 1e-30);
	for (int j = 0; j < S; j++)
	{
		double		rj = row[1 + j];
		double		sg = sigmoid(r0 - rj);

		d0 -= s[j] * sg * (1.0 - sg) / A;
		row[1 + j] = (float) (s[j] * (1.0 - sg * sg / A) +
							  reg * s[j] * (rj * rj - R + 2.0 * rj));
	}
	row[0] = (float) d0;
	return -log(A) + reg * R;
}

/*
 * TOP1-max of one row: with t_j = sigmoid(r_j - r0), q_j = sigmoid(r_j^2),
 * g_j = t_j + q_j and G = sum s_j g_j, d/d r0 = -sum s_j t_j (1 - t_j) and
 * d/d r_k = s_k (g_k - G) + s_k (t_k (1 - t_k) + 2 r_k q_k (1 - q_k)).
 */
static double
top1_max_row(float *row, const float *s, int S)
{
	double		r0 = row[0];
	double		G = 0.0;
	double		d0 = 0.0;

	for (int j = 0; j < S; j++)
		G += s[j] * (sigmoid(row[1 + j] - r0) + sigmoid((double) row[1 + j] * row[1 + j]));
	for (int j = 0; j < S; j++)
	{
		double		rj = row[1 + j];
		double		t = sigmoid(rj - r0);
		double		q = sigmoid(rj * rj);

		d0 -= s[j] * t * (1.0 - t);
		row[1 + j] = (float) (s[j] * (t + q - G) +
							  s[j] * (t * (1.0 - t) + 2.0 * rj * q * (1.0 - q)));
	}
	row[0] = (float) d0;
	return G;
}

double
sampled_rank_forward(float *work, float *wsamp, const float *h, int n, int H,
					 const float *W, const float *b, const int32_t *y,
					 const int32_t *samples, int S, NnRankLoss kind, float reg,
					 float *s)
{
	int			C = S + 1;
	double		loss = 0.0;

	sampled_logits(work, wsamp, h, n, H, W, y, samples, S);
	for (int r = 0; r < n; r++)
	{
		float	   *row = work + (size_t) r * C;

		row[0] += b[y[r]];
		for (int j = 0; j < S; j++)
			row[1 + j] += b[samples[j]];
		if (!negative_weights(row, samples, S, y[r], s))
		{
			/* every sample was the target: nothing to rank against */
			for (int j = 0; j < C; j++)
				row[j] = 0.0f;
			continue;
		}
		if (kind == NN_RANK_BPR_MAX)
			loss += bpr_max_row(row, s, S, reg);
		else
			loss += top1_max_row(row, s, S);
	}
	return loss;
}
