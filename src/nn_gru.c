/*
 * nn_gru.c
 *	  One GRU layer over a batch of sequences: gru_forward and gru_backward
 *	  (equations in nn.h).  It shares LstmActs with the LSTM layer: the
 *	  gates buffer's 4H floats per row hold r, u, n and U_n h, and the cell
 *	  state buffers stay unused.  No PostgreSQL here (see nn.h).
 */
/* lets the clamps in nn_expf vectorize; nothing here relies on FP traps */
#pragma GCC optimize ("no-trapping-math")

#include <math.h>
#include <string.h>

#include "blas.h"
#include "nn.h"

/*
 * C (n,N) = A (n,K) . W (K,N) + beta C, with row strides lda, ldw, ldc; one
 * row (scoring, a batch's last steps) goes to sgemv, which does not pack W.
 */
static void
gemm_rows(int n, int N, int K, const float *A, int lda, const float *W, int ldw,
		  float beta, float *C, int ldc)
{
	if (n > 1)
		ecml_sgemm(false, false, n, N, K, 1.0f, A, lda, W, ldw, beta, C, ldc);
	else
		ecml_sgemv_t(K, N, 1.0f, W, ldw, A, beta, C);
}

/*
 * One row of a step after the sgemms: z holds [a_r | a_u | a_n | U_n h],
 * a_r and a_u with both inputs' terms and the bias, a_n with the input's
 * and the bias.  The gates go in place, then the new hidden state.
 */
NN_CLONES static void
gru_cell_forward(float *restrict zr, float *restrict zu, float *restrict zn,
				 const float *restrict hh, const float *restrict hp,
				 float *restrict hn, int H)
{
	for (int j = 0; j < H; j++)
	{
		float		r = nn_sigmoidf(zr[j]);
		float		u = nn_sigmoidf(zu[j]);
		float		nv = nn_tanhf(zn[j] + r * hh[j]);

		zr[j] = r;
		zu[j] = u;
		zn[j] = nv;
		hn[j] = (1.0f - u) * nv + u * hp[j];
	}
}

void
gru_forward(LstmActs *a, const float *x, const int *nact, int T, int B,
			int I, int H, const float *W, const float *b)
{
	int			K = I + H;
	int			G = 3 * H;		/* columns of W */
	int			Z = 4 * H;		/* floats per row of the gates buffer */
	const float *Wh = W + (size_t) I * G;

	for (int t = 0; t < T; t++)
	{
		int			n = nact[t];
		float	   *xh = a->xh + (size_t) t * B * K;
		float	   *z = a->gates + (size_t) t * B * Z;
		const float *hp = a->h + (size_t) t * B * H;
		float	   *hn = a->h + (size_t) (t + 1) * B * H;

		if (n == 0)
			break;
		if (a->on_step)
			a->on_step();
		for (int r = 0; r < n; r++)
		{
			memcpy(xh + (size_t) r * K, x + ((size_t) t * B + r) * I, sizeof(float) * I);
			memcpy(xh + (size_t) r * K + I, hp + (size_t) r * H, sizeof(float) * H);
			memcpy(z + (size_t) r * Z, b, sizeof(float) * G);
		}
		/* [a_r | a_u | a_n] (n,3H) = x (n,I) . W_x (I,3H) + b */
		gemm_rows(n, G, I, xh, K, W, G, 1.0f, z, Z);
		/* [a_r | a_u] += h (n,H) . W_h[:, 0:2H] */
		gemm_rows(n, 2 * H, H, xh + I, K, Wh, G, 1.0f, z, Z);
		/* U_n h (n,H) = h (n,H) . W_h[:, 2H:3H], kept for backward */
		gemm_rows(n, H, H, xh + I, K, Wh + 2 * H, G, 0.0f, z + G, Z);

		for (int r = 0; r < n; r++)
		{
			float	   *zr = z + (size_t) r * Z;

			gru_cell_forward(zr, zr + H, zr + 2 * H, zr + G, hp + (size_t) r * H,
							 hn + (size_t) r * H, H);
		}
	}
}

/*
 * One row's gradients at a step: dh the gradient reaching h_t, g the
 * saved [r | u | n | U_n h], hp h_{t-1}.  dz receives the pre-activations'
 * gradients [d a_r | d a_u | d a_n | d (U_n h)], dhp the part of dL/dh_{t-1}
 * that does not go through W.
 */
static void
gru_cell_backward(const float *dh, const float *g, const float *hp, float *dz,
				  float *dhp, int H)
{
	for (int j = 0; j < H; j++)
	{
		float		r = g[j];
		float		u = g[H + j];
		float		nv = g[2 * H + j];
		float		hh = g[3 * H + j];
		float		dan = dh[j] * (1.0f - u) * (1.0f - nv * nv);

		dz[j] = dan * hh * r * (1.0f - r);
		dz[H + j] = dh[j] * (hp[j] - nv) * u * (1.0f - u);
		dz[2 * H + j] = dan;
		dz[3 * H + j] = dan * r;
		dhp[j] = dh[j] * u;
	}
}

/* the weight and bias gradients of one step's n rows */
static void
gru_step_weights(const float *xh, const float *dz, int n, int I, int H, float *dW, float *db)
{
	int			K = I + H;
	int			G = 3 * H;
	int			Z = 4 * H;
	float	   *dWh = dW + (size_t) I * G;

	/* dW_x (I,3H) += x^T . [d a_r | d a_u | d a_n] */
	ecml_sgemm(true, false, I, G, n, 1.0f, xh, K, dz, Z, 1.0f, dW, G);
	/* dW_h[:, 0:2H] += h^T . [d a_r | d a_u];  dW_h[:, 2H:3H] += h^T . d (U_n h) */
	ecml_sgemm(true, false, H, 2 * H, n, 1.0f, xh + I, K, dz, Z, 1.0f, dWh, G);
	ecml_sgemm(true, false, H, H, n, 1.0f, xh + I, K, dz + G, Z, 1.0f, dWh + 2 * H, G);
	for (int r = 0; r < n; r++)
	{
		const float *dzr = dz + (size_t) r * Z;

		for (int j = 0; j < G; j++)
			db[j] += dzr[j];
	}
}

size_t
gru_backward_scratch_floats(int B, int I, int H)
{
	return (size_t) B * 4 * H + (size_t) B * (I + H) + (size_t) B * H;
}

void
gru_backward(const LstmActs *a, const float *dh, const int *nact, int T,
			 int B, int I, int H, const float *W, float *dW, float *db,
			 float *dx, int bptt, float *scratch)
{
	int			K = I + H;
	int			G = 3 * H;
	int			Z = 4 * H;
	const float *Wh = W + (size_t) I * G;
	float	   *dz = scratch;
	float	   *dxh = dz + (size_t) B * Z;
	float	   *dhn = dxh + (size_t) B * K;	/* dL/dh_{t} through h_{t+1} */

	memset(dhn, 0, sizeof(float) * (size_t) B * H);
	for (int t = T - 1; t >= 0; t--)
	{
		int			n = nact[t];
		const float *xh = a->xh + (size_t) t * B * K;
		const float *gt = a->gates + (size_t) t * B * Z;
		const float *hp = a->h + (size_t) t * B * H;
		const float *dht = dh + (size_t) t * B * H;

		if (n == 0)
			continue;
		if (a->on_step)
			a->on_step();
		for (int r = 0; r < n; r++)
		{
			float	   *dhr = dhn + (size_t) r * H;

			/* dL/dh_t in place of dL/dh_t through h_{t+1}, then its direct part */
			for (int j = 0; j < H; j++)
				dhr[j] += dht[(size_t) r * H + j];
			gru_cell_backward(dhr, gt + (size_t) r * Z, hp + (size_t) r * H,
							  dz + (size_t) r * Z, dhr, H);
		}
		gru_step_weights(xh, dz, n, I, H, dW, db);
		/* dx (n,I) = [d a_r | d a_u | d a_n] . W_x^T */
		ecml_sgemm(false, true, n, I, G, 1.0f, dz, Z, W, G, 0.0f, dxh, K);
		/* dh_{t-1} += [d a_r | d a_u] . W_h[:, 0:2H]^T + d (U_n h) . W_h[:, 2H:3H]^T */
		ecml_sgemm(false, true, n, H, 2 * H, 1.0f, dz, Z, Wh, G, 1.0f, dhn, H);
		ecml_sgemm(false, true, n, H, H, 1.0f, dz + G, Z, Wh + 2 * H, G, 1.0f, dhn, H);
		if (dx)
		{
			for (int r = 0; r < n; r++)
			{
				const float *dxr = dxh + (size_t) r * K;
				float	   *dxo = dx + ((size_t) t * B + r) * I;

				for (int j = 0; j < I; j++)
					dxo[j] += dxr[j];
			}
		}
		/* truncated BPTT: no recurrent gradient across a window start */
		if (bptt > 0 && t % bptt == 0)
			memset(dhn, 0, sizeof(float) * (size_t) B * H);
	}
}
