/*
 * nn_lstm.c
 *	  One LSTM layer over a batch of sequences: lstm_forward and
 *	  lstm_backward (equations in nn.h).  The four gates of a step are one
 *	  sgemm over the batch's active rows.  No PostgreSQL here (see nn.h).
 */
/* lets the clamps in nn_expf vectorize; nothing here relies on FP traps */
#pragma GCC optimize ("no-trapping-math")

#include <math.h>
#include <string.h>

#include "blas.h"
#include "nn.h"

size_t
lstm_acts_floats(int T, int B, int I, int H)
{
	size_t		tb = (size_t) T * B;

	return tb * (I + H) + tb * 4 * H + 2 * ((size_t) (T + 1) * B * H) + tb * H;
}

void
lstm_acts_layout(LstmActs *a, float *block, int T, int B, int I, int H)
{
	size_t		tb = (size_t) T * B;

	a->xh = block;
	a->gates = a->xh + tb * (I + H);
	a->c = a->gates + tb * 4 * H;
	a->h = a->c + (size_t) (T + 1) * B * H;
	a->tc = a->h + (size_t) (T + 1) * B * H;
	a->on_step = NULL;
}

/*
 * One row of a step after the gate sgemm: the gates' nonlinearities in
 * place, the new cell and hidden state.  The pointers never overlap
 * (restrict), so the loop vectorizes.
 */
NN_CLONES static void
lstm_cell_forward(float *restrict zi, float *restrict zf, float *restrict zg,
				  float *restrict zo, const float *restrict cp, float *restrict cn,
				  float *restrict tc, float *restrict hn, int H)
{
	for (int j = 0; j < H; j++)
	{
		float		ig = nn_sigmoidf(zi[j]);
		float		fg = nn_sigmoidf(zf[j]);
		float		gg = nn_tanhf(zg[j]);
		float		og = nn_sigmoidf(zo[j]);
		float		c = fg * cp[j] + ig * gg;
		float		tcv = nn_tanhf(c);

		zi[j] = ig;
		zf[j] = fg;
		zg[j] = gg;
		zo[j] = og;
		cn[j] = c;
		tc[j] = tcv;
		hn[j] = og * tcv;
	}
}

void
lstm_forward(LstmActs *a, const float *x, const int *nact, int T, int B,
			 int I, int H, const float *W, const float *b)
{
	int			K = I + H;
	int			G = 4 * H;

	for (int t = 0; t < T; t++)
	{
		int			n = nact[t];
		float	   *xh = a->xh + (size_t) t * B * K;
		float	   *z = a->gates + (size_t) t * B * G;
		const float *hp = a->h + (size_t) t * B * H;
		const float *cp = a->c + (size_t) t * B * H;
		float	   *hn = a->h + (size_t) (t + 1) * B * H;
		float	   *cn = a->c + (size_t) (t + 1) * B * H;
		float	   *tc = a->tc + (size_t) t * B * H;

		if (n == 0)
			break;
		if (a->on_step)
			a->on_step();
		for (int r = 0; r < n; r++)
		{
			memcpy(xh + (size_t) r * K, x + ((size_t) t * B + r) * I, sizeof(float) * I);
			memcpy(xh + (size_t) r * K + I, hp + (size_t) r * H, sizeof(float) * H);
			memcpy(z + (size_t) r * G, b, sizeof(float) * G);
		}
		/* z (n,4H) = xh (n,I+H) . W (I+H,4H) + b */
		if (n > 1)
			ecml_sgemm(false, false, n, G, K, 1.0f, xh, K, W, G, 1.0f, z, G);
		else
		{
			/* one row (scoring, a batch's last steps): sgemm would pack W for it */
			ecml_sgemv_t(K, G, 1.0f, W, G, xh, 1.0f, z);
		}

		for (int r = 0; r < n; r++)
		{
			float	   *zr = z + (size_t) r * G;

			lstm_cell_forward(zr, zr + H, zr + 2 * H, zr + 3 * H, cp + (size_t) r * H,
							  cn + (size_t) r * H, tc + (size_t) r * H, hn + (size_t) r * H, H);
		}
	}
}

size_t
lstm_backward_scratch_floats(int B, int I, int H)
{
	return (size_t) B * 4 * H + (size_t) B * (I + H) + 2 * (size_t) B * H;
}

void
lstm_backward(const LstmActs *a, const float *dh, const int *nact, int T,
			  int B, int I, int H, const float *W, float *dW, float *db,
			  float *dx, int bptt, float *scratch)
{
	int			K = I + H;
	int			G = 4 * H;
	float	   *dz = scratch;
	float	   *dxh = dz + (size_t) B * G;
	float	   *dhn = dxh + (size_t) B * K;	/* dL/dh_{t} through h_{t+1} */
	float	   *dcn = dhn + (size_t) B * H;	/* dL/dc_{t} through c_{t+1} */

	memset(dhn, 0, sizeof(float) * 2 * (size_t) B * H);
	for (int t = T - 1; t >= 0; t--)
	{
		int			n = nact[t];
		const float *xh = a->xh + (size_t) t * B * K;
		const float *gt = a->gates + (size_t) t * B * G;
		const float *cp = a->c + (size_t) t * B * H;
		const float *tc = a->tc + (size_t) t * B * H;
		const float *dht = dh + (size_t) t * B * H;

		if (n == 0)
			continue;
		if (a->on_step)
			a->on_step();
		for (int r = 0; r < n; r++)
		{
			const float *gr = gt + (size_t) r * G;
			float	   *dzr = dz + (size_t) r * G;

			for (int j = 0; j < H; j++)
			{
				size_t		rj = (size_t) r * H + j;
				float		ig = gr[j];
				float		fg = gr[H + j];
				float		gg = gr[2 * H + j];
				float		og = gr[3 * H + j];
				float		tcv = tc[rj];
				float		dhv = dht[rj] + dhn[rj];
				float		dog = dhv * tcv;
				float		dc = dcn[rj] + dhv * og * (1.0f - tcv * tcv);

				dcn[rj] = dc * fg;
				dzr[j] = dc * gg * ig * (1.0f - ig);
				dzr[H + j] = dc * cp[rj] * fg * (1.0f - fg);
				dzr[2 * H + j] = dc * ig * (1.0f - gg * gg);
				dzr[3 * H + j] = dog * og * (1.0f - og);
			}
		}
		/* dW (I+H,4H) += xh^T (I+H,n) . dz (n,4H) */
		ecml_sgemm(true, false, K, G, n, 1.0f, xh, K, dz, G, 1.0f, dW, G);
		for (int r = 0; r < n; r++)
		{
			const float *dzr = dz + (size_t) r * G;

			for (int j = 0; j < G; j++)
				db[j] += dzr[j];
		}
		/* dxh (n,I+H) = dz (n,4H) . W^T (4H,I+H) */
		ecml_sgemm(false, true, n, K, G, 1.0f, dz, G, W, G, 0.0f, dxh, K);
		for (int r = 0; r < n; r++)
		{
			const float *dxr = dxh + (size_t) r * K;

			if (dx)
			{
				float	   *dxo = dx + ((size_t) t * B + r) * I;

				for (int j = 0; j < I; j++)
					dxo[j] += dxr[j];
			}
			memcpy(dhn + (size_t) r * H, dxr + I, sizeof(float) * H);
		}
		/* truncated BPTT: no recurrent gradient across a window start */
		if (bptt > 0 && t % bptt == 0)
			memset(dhn, 0, sizeof(float) * 2 * (size_t) B * H);
	}
}
