/*
 * lstm_gradcheck.c
 *	  Finite-difference gradient checks of the LSTM's layer kernels
 *	  (src/nn_*.c, compiled in directly: the same code training runs) on a
 *	  tiny model: embedding, one LSTM step, an LSTM layer over padded
 *	  sequences, two stacked layers, the same with GRU layers, full
 *	  softmax cross-entropy, sampled
 *	  softmax with the log-Q correction, BPR-max and TOP1-max over sampled
 *	  negatives; and the optimiser's row-sparse step
 *	  against its dense one.  Run by test/extra/lstm_gradcheck.sh.
 *
 * The kernels compute in float32, so the numeric gradient is a central
 * difference with step EPS = 1e-2 on float32 parameters, and the losses are
 * summed in double.  A gradient passes when
 *	 |analytic - numeric| <= RTOL * max(|analytic|, |numeric|) + ATOL
 * with RTOL = 1e-2, ATOL = 2e-4: the float32 bound (rounding of a loss of
 * order 10 is about 1e-6, over 2 EPS about 5e-5; the O(EPS^2) truncation of
 * tanh and sigmoid terms is about 1e-4).  A wrong term in a backward pass
 * gives errors of order one.  The largest relative error of each check is
 * printed; exit status 0 means every gradient passed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

#define EPS 1e-2f
#define RTOL 1e-2
#define ATOL 2e-4

static unsigned long long rng_state = 88172645463325252ULL;

static double
uniform(void)
{
	/* xorshift64: any fixed sequence will do for test values */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (rng_state >> 11) * (1.0 / 9007199254740992.0);
}

static void
fill(float *x, size_t n, float scale)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float) ((uniform() * 2 - 1) * scale);
}

static float *
zeros(size_t n)
{
	float	   *p = calloc(n ? n : 1, sizeof(float));

	if (!p)
		abort();
	return p;
}

static int failures = 0;

/* compare analytic gradient g (n) of f at x (n) against central differences */
typedef double (*LossFn) (void *ctx);

static void
check(const char *name, float *x, const float *g, size_t n, LossFn f, void *ctx)
{
	double		worst = 0.0;
	int			bad = 0;

	for (size_t i = 0; i < n; i++)
	{
		float		keep = x[i];
		double		lp,
					lm,
					num,
					err,
					denom;

		x[i] = keep + EPS;
		lp = f(ctx);
		x[i] = keep - EPS;
		lm = f(ctx);
		x[i] = keep;
		num = (lp - lm) / (2.0 * ((double) (keep + EPS) - (double) (keep - EPS)) / 2.0);
		err = fabs(num - g[i]);
		denom = fmax(fabs(num), fabs(g[i]));
		if (denom > 1e-3 && err / denom > worst)
			worst = err / denom;
		if (err > RTOL * denom + ATOL)
		{
			if (bad < 5)
				fprintf(stderr, "  %s[%zu]: analytic %.6g, numeric %.6g\n", name, i, g[i], num);
			bad++;
		}
	}
	printf("%-44s %4zu values, max relative error %.2e: %s\n", name, n, worst,
		   bad ? "FAILED" : "ok");
	if (bad)
		failures++;
}

/* ---- dropout: loss = sum_i w_i dropout(x)_i, d/dx = w * mask ---- */

typedef struct
{
	size_t		n;
	float	   *x,
			   *w,
			   *mask,
			   *tmp;
} DropoutCtx;

static double
dropout_loss(void *p)
{
	DropoutCtx *c = p;
	double		s = 0.0;

	memcpy(c->tmp, c->x, sizeof(float) * c->n);
	dropout_forward(c->tmp, c->mask, c->n);
	for (size_t i = 0; i < c->n; i++)
		s += (double) c->w[i] * c->tmp[i];
	return s;
}

static void
check_dropout(void)
{
	DropoutCtx	c = {.n = 40};
	float	   *g;

	c.x = zeros(c.n);
	c.w = zeros(c.n);
	c.mask = zeros(c.n);
	c.tmp = zeros(c.n);
	g = zeros(c.n);
	fill(c.x, c.n, 1.0f);
	fill(c.w, c.n, 1.0f);
	/* p = 0.5: half the elements dropped, the rest scaled by 2 */
	for (size_t i = 0; i < c.n; i++)
		c.mask[i] = uniform() < 0.5 ? 0.0f : 2.0f;
	memcpy(g, c.w, sizeof(float) * c.n);
	dropout_backward(g, c.mask, c.n);
	check("dropout d/dx", c.x, g, c.n, dropout_loss, &c);
	free(c.x);
	free(c.w);
	free(c.mask);
	free(c.tmp);
	free(g);
}

/* ---- full softmax cross-entropy: d/dh, d/dW, d/db ---- */

typedef struct
{
	int			n,
				H,
				V;
	float	   *h,
			   *W,
			   *b,
			   *probs;
	int32_t    *y;
	/* sampled */
	int			S;
	int32_t    *samples;
	float	   *logq_y,
			   *logq_s,
			   *wsamp;
} SoftmaxCtx;

static double
softmax_loss(void *p)
{
	SoftmaxCtx *c = p;

	return softmax_xent_forward(c->probs, c->h, c->n, c->H, c->V, c->W, c->b, c->y);
}

static double
sampled_loss(void *p)
{
	SoftmaxCtx *c = p;

	return sampled_softmax_forward(c->probs, c->wsamp, c->h, c->n, c->H, c->W, c->b,
								   c->y, c->logq_y, c->samples, c->S, c->logq_s);
}

/* the ranking losses: kind 0 is the sampled softmax */
static int	rank_kind = 0;
static bool carried_state = false;	/* check_net: nonzero initial h and c */
static float *rank_scratch;

static double
rank_loss(void *p)
{
	SoftmaxCtx *c = p;

	return sampled_rank_forward(c->probs, c->wsamp, c->h, c->n, c->H, c->W, c->b, c->y,
								c->samples, c->S, (NnRankLoss) rank_kind, 0.7f, rank_scratch);
}

static void
check_softmax(bool sampled)
{
	SoftmaxCtx	c = {.n = 4, .H = 5, .V = 9, .S = 6};
	float	   *dW,
			   *db,
			   *dh,
			   *dws;
	int32_t		y[4] = {2, 7, 0, 2};
	int32_t		samples[6] = {1, 7, 3, 3, 8, 2};	/* repeats and accidental hits */

	c.h = zeros(c.n * c.H);
	c.W = zeros(c.V * c.H);
	c.b = zeros(c.V);
	c.probs = zeros(c.n * c.V + c.n * (c.S + 1));
	c.wsamp = zeros(c.S * c.H);
	c.logq_y = zeros(c.n);
	c.logq_s = zeros(c.S);
	c.y = y;
	c.samples = samples;
	fill(c.h, c.n * c.H, 1.0f);
	fill(c.W, c.V * c.H, 0.5f);
	fill(c.b, c.V, 0.5f);
	for (int r = 0; r < c.n; r++)
		c.logq_y[r] = (float) log(c.S * (0.05 + 0.02 * y[r]));
	for (int j = 0; j < c.S; j++)
		c.logq_s[j] = (float) log(c.S * (0.05 + 0.02 * samples[j]));
	dW = zeros(c.V * c.H);
	db = zeros(c.V);
	dh = zeros(c.n * c.H);
	dws = zeros(c.S * c.H);

	if (!sampled)
	{
		softmax_loss(&c);
		softmax_xent_backward(c.probs, c.h, c.n, c.H, c.V, c.W, c.y, 1.0f, dW, db, dh);
		check("softmax cross-entropy d/dh", c.h, dh, c.n * c.H, softmax_loss, &c);
		check("softmax cross-entropy d/dW", c.W, dW, c.V * c.H, softmax_loss, &c);
		check("softmax cross-entropy d/db", c.b, db, c.V, softmax_loss, &c);
	}
	else if (rank_kind != 0)
	{
		const char *what = rank_kind == NN_RANK_BPR_MAX ? "BPR-max" : "TOP1-max";
		char		name[64];

		rank_scratch = zeros(c.S);
		rank_loss(&c);
		sampled_logits_backward(c.probs, c.wsamp, c.h, c.n, c.H, c.W, c.y, c.samples, c.S,
								1.0f, dW, db, dh, dws);
		snprintf(name, sizeof(name), "%s (sampled negatives) d/dh", what);
		check(name, c.h, dh, c.n * c.H, rank_loss, &c);
		snprintf(name, sizeof(name), "%s (sampled negatives) d/dW", what);
		check(name, c.W, dW, c.V * c.H, rank_loss, &c);
		snprintf(name, sizeof(name), "%s (sampled negatives) d/db", what);
		check(name, c.b, db, c.V, rank_loss, &c);
	}
	else
	{
		sampled_loss(&c);
		sampled_softmax_backward(c.probs, c.wsamp, c.h, c.n, c.H, c.W, c.y, c.samples,
								 c.S, 1.0f, dW, db, dh, dws);
		check("sampled softmax (log-Q) d/dh", c.h, dh, c.n * c.H, sampled_loss, &c);
		check("sampled softmax (log-Q) d/dW", c.W, dW, c.V * c.H, sampled_loss, &c);
		check("sampled softmax (log-Q) d/db", c.b, db, c.V, sampled_loss, &c);
	}
}

/* ---- the whole network: embedding -> L LSTM layers -> softmax ---- */

#define MAXL 2

typedef struct
{
	int			V,
				E,
				H,
				L,
				B,
				T;
	NnCell		cell;
	const int  *nact;
	const int32_t *x;			/* (T,B) inputs */
	const int32_t *y;			/* (T,B) targets */
	float	   *emb,
			   *W[MAXL],
			   *b[MAXL],
			   *Wo,
			   *bo;
	/* forward state */
	float	   *x0;
	LstmActs	acts[MAXL];
	float	   *probs;
	/* a fixed projection: loss = sum_t,r R . h when R is set (layer alone) */
	float	   *R;
} NetCtx;

static double
net_loss(void *p)
{
	NetCtx	   *c = p;
	double		loss = 0.0;
	const float *in = c->x0;

	for (int t = 0; t < c->T; t++)
		embedding_forward(c->x0 + (size_t) t * c->B * c->E, c->x + (size_t) t * c->B,
						  c->nact[t], c->emb, c->E);
	for (int l = 0; l < c->L; l++)
	{
		int			I = l == 0 ? c->E : c->H;

		rnn_forward(c->cell, &c->acts[l], in, c->nact, c->T, c->B, I, c->H, c->W[l], c->b[l]);
		in = c->acts[l].h + (size_t) c->B * c->H;
	}
	for (int t = 0; t < c->T; t++)
	{
		const float *ht = c->acts[c->L - 1].h + (size_t) (t + 1) * c->B * c->H;

		if (c->R)
		{
			for (int r = 0; r < c->nact[t]; r++)
				for (int j = 0; j < c->H; j++)
				{
					size_t		k = ((size_t) t * c->B + r) * c->H + j;

					loss += (double) c->R[k] * ht[(size_t) r * c->H + j];
				}
		}
		else
			loss += softmax_xent_forward(c->probs, ht, c->nact[t], c->H, c->V, c->Wo,
										 c->bo, c->y + (size_t) t * c->B);
	}
	return loss;
}

static void
check_net(const char *label, NnCell cell, int L, int T, const int *nact, bool projection)
{
	NetCtx		c = {.V = 6, .E = 3, .H = 4, .L = L, .B = 3, .T = T, .cell = cell, .nact = nact};
	int			G = rnn_gates(cell, c.H);
	int32_t    *x = calloc(T * c.B, sizeof(int32_t));
	int32_t    *y = calloc(T * c.B, sizeof(int32_t));
	float	   *dh[MAXL],
			   *dx[MAXL],
			   *dW[MAXL],
			   *db[MAXL],
			   *demb,
			   *dWo,
			   *dbo,
			   *scratch;
	char		name[128];

	for (int i = 0; i < T * c.B; i++)
	{
		x[i] = (int32_t) (uniform() * c.V);
		y[i] = (int32_t) (uniform() * c.V);
	}
	x[0] = x[1];				/* a repeated token: embedding rows accumulate */
	c.x = x;
	c.y = y;
	c.emb = zeros(c.V * c.E);
	fill(c.emb, c.V * c.E, 1.0f);
	c.x0 = zeros((size_t) T * c.B * c.E);
	for (int l = 0; l < L; l++)
	{
		int			I = l == 0 ? c.E : c.H;
		size_t		na = lstm_acts_floats(T, c.B, I, c.H);

		c.W[l] = zeros((I + c.H) * G);
		c.b[l] = zeros(G);
		fill(c.W[l], (I + c.H) * G, 0.7f);
		fill(c.b[l], G, 0.5f);
		lstm_acts_layout(&c.acts[l], zeros(na), T, c.B, I, c.H);
		/* a session-parallel window starts from its lane's state (a constant) */
		if (carried_state)
		{
			fill(c.acts[l].h, (size_t) c.B * c.H, 0.6f);
			fill(c.acts[l].c, (size_t) c.B * c.H, 0.9f);
		}
		dW[l] = zeros((I + c.H) * G);
		db[l] = zeros(G);
		dh[l] = zeros((size_t) T * c.B * c.H);
		dx[l] = zeros((size_t) T * c.B * I);
	}
	c.Wo = zeros(c.V * c.H);
	c.bo = zeros(c.V);
	fill(c.Wo, c.V * c.H, 0.8f);
	fill(c.bo, c.V, 0.3f);
	c.probs = zeros(c.B * c.V);
	demb = zeros(c.V * c.E);
	dWo = zeros(c.V * c.H);
	dbo = zeros(c.V);
	scratch = zeros(rnn_backward_scratch_floats(c.B, c.E + c.H, c.H));
	if (projection)
	{
		c.R = zeros((size_t) T * c.B * c.H);
		fill(c.R, (size_t) T * c.B * c.H, 1.0f);
	}

	/* forward, then backward in the order training runs it */
	net_loss(&c);
	for (int t = 0; t < T; t++)
	{
		const float *ht = c.acts[L - 1].h + (size_t) (t + 1) * c.B * c.H;
		float	   *dht = dh[L - 1] + (size_t) t * c.B * c.H;

		if (projection)
			memcpy(dht, c.R + (size_t) t * c.B * c.H, sizeof(float) * c.B * c.H);
		else
		{
			softmax_xent_forward(c.probs, ht, nact[t], c.H, c.V, c.Wo, c.bo, y + (size_t) t * c.B);
			softmax_xent_backward(c.probs, ht, nact[t], c.H, c.V, c.Wo, y + (size_t) t * c.B,
								  1.0f, dWo, dbo, dht);
		}
	}
	for (int l = L - 1; l >= 0; l--)
	{
		int			I = l == 0 ? c.E : c.H;

		rnn_backward(cell, &c.acts[l], dh[l], nact, T, c.B, I, c.H, c.W[l], dW[l], db[l],
					 l == 0 ? dx[0] : dh[l - 1], 0, scratch);
	}
	for (int t = 0; t < T; t++)
		embedding_backward(demb, dx[0] + (size_t) t * c.B * c.E, x + (size_t) t * c.B,
						   nact[t], c.E);

	for (int l = 0; l < L; l++)
	{
		int			I = l == 0 ? c.E : c.H;

		snprintf(name, sizeof(name), "%s: layer %d d/dW", label, l + 1);
		check(name, c.W[l], dW[l], (I + c.H) * G, net_loss, &c);
		snprintf(name, sizeof(name), "%s: layer %d d/db", label, l + 1);
		check(name, c.b[l], db[l], G, net_loss, &c);
	}
	snprintf(name, sizeof(name), "%s: embedding d/dtable", label);
	check(name, c.emb, demb, c.V * c.E, net_loss, &c);
	if (!projection)
	{
		snprintf(name, sizeof(name), "%s: output d/dW", label);
		check(name, c.Wo, dWo, c.V * c.H, net_loss, &c);
		snprintf(name, sizeof(name), "%s: output d/db", label);
		check(name, c.bo, dbo, c.V, net_loss, &c);
	}
}

/* max |a - b| over n */
static double
max_diff(const float *a, const float *b, size_t n)
{
	double		d = 0.0;

	for (size_t i = 0; i < n; i++)
		d = fmax(d, fabs((double) a[i] - b[i]));
	return d;
}

/*
 * Sparse Adam against dense Adam: 40 steps from the middle of a training
 * (step 1000, moments set), each touching a random third of the rows (row 0
 * always, row V-1 only at the first), with weight decay.  Dense Adam moves
 * every row each step; the sparse update with its catch-up must land where
 * dense Adam does (up to eps and the bias corrections it takes as
 * constant), and a "lazy" update without the catch-up must not.
 */
static void
check_sparse_adam(void)
{
	enum
	{
		V = 12, W = 5, STEPS = 40, T0 = 1000
	};
	float		p0[V * W], pd[V * W], ps[V * W], pl[V * W], g[V * W];
	float		md[V * W], vd[V * W], ms[V * W], vs[V * W], ml[V * W], vl[V * W];
	int32_t		last[V], lazy[V], rows[V];
	const float lr = 0.01f, keep = 1.0f - 0.01f * 0.1f;
	double		moved, err_sparse, err_lazy, full, part;
	int			bad = 0;

	fill(p0, V * W, 1.0f);
	fill(md, V * W, 0.05f);
	for (int i = 0; i < V * W; i++)
		vd[i] = 0.01f * (float) uniform() + 1e-4f;
	memcpy(pd, p0, sizeof(p0));
	memcpy(ps, p0, sizeof(p0));
	memcpy(pl, p0, sizeof(p0));
	memcpy(ms, md, sizeof(md));
	memcpy(ml, md, sizeof(md));
	memcpy(vs, vd, sizeof(vd));
	memcpy(vl, vd, sizeof(vd));
	for (int r = 0; r < V; r++)
		last[r] = T0;
	for (int t = T0 + 1; t <= T0 + STEPS; t++)
	{
		int			n = 0;

		memset(g, 0, sizeof(g));
		for (int r = 0; r < V; r++)
			if (r == 0 || (r == V - 1 ? t == T0 + 1 : uniform() < 0.33))
			{
				rows[n++] = r;
				fill(g + r * W, W, 1.0f);
				lazy[r] = t - 1;
			}
		part = nn_sum_squares_rows(g, W, rows, n);
		full = nn_sum_squares(g, V * W);
		bad |= fabs(full - part) > 1e-12 * full;
		nn_scale(pd, V * W, keep);
		adam_update(pd, g, md, vd, V * W, lr, 0.9f, 0.999f, 1e-8f, t);
		adam_update_rows(ps, g, ms, vs, W, rows, n, last, lr, keep, 0.9f, 0.999f, 1e-8f, t);
		adam_update_rows(pl, g, ml, vl, W, rows, n, lazy, lr, keep, 0.9f, 0.999f, 1e-8f, t);
		for (int r = 0; r < n; r++)
			last[rows[r]] = t;
		nn_zero_rows(g, W, rows, n);
		for (int i = 0; i < V * W; i++)
			bad |= g[i] != 0.0f;
	}
	adam_catch_up(ps, ms, vs, W, V, last, lr, keep, 0.9f, 0.999f, 1e-8f, T0 + STEPS);
	moved = max_diff(pd, p0, V * W);
	err_sparse = max_diff(pd, ps, V * W);
	err_lazy = max_diff(pd, pl, V * W);
	bad |= !(err_sparse < 0.01 * moved) || !(err_lazy > 0.1 * moved);
	bad |= !(max_diff(md, ms, V * W) < 1e-5 && max_diff(vd, vs, V * W) < 1e-6);
	/* keep = 0 (learning_rate x weight_decay = 1): the catch-up stays finite */
	for (int r = 0; r < V; r++)
		last[r] = T0;
	adam_catch_up(ps, ms, vs, W, V, last, lr, 0.0f, 0.9f, 0.999f, 1e-8f, T0 + 5);
	for (int i = 0; i < V * W; i++)
		bad |= !isfinite(ps[i]);
	printf("%-48s %s\n", "sparse Adam on the rows of a sparse gradient", bad ? "FAILED" : "ok");
	if (bad)
		printf("  moved %.4g, sparse off by %.4g, lazy off by %.4g\n", moved, err_sparse,
			   err_lazy);
	failures += bad;
}

int
main(void)
{
	static const int one_step[1] = {3};
	static const int padded[5] = {3, 3, 2, 2, 1};	/* lengths 5, 4, 2 */

	check_dropout();
	check_softmax(false);
	check_softmax(true);
	rank_kind = NN_RANK_BPR_MAX;
	check_softmax(true);
	rank_kind = NN_RANK_TOP1_MAX;
	check_softmax(true);
	rank_kind = 0;
	check_net("LSTM step", NN_CELL_LSTM, 1, 1, one_step, true);
	check_net("LSTM sequence (padded)", NN_CELL_LSTM, 1, 5, padded, true);
	check_net("embedding+LSTM+softmax", NN_CELL_LSTM, 1, 5, padded, false);
	check_net("embedding+2 LSTM+softmax", NN_CELL_LSTM, 2, 5, padded, false);
	check_net("GRU step", NN_CELL_GRU, 1, 1, one_step, true);
	check_net("GRU sequence (padded)", NN_CELL_GRU, 1, 5, padded, true);
	check_net("embedding+GRU+softmax", NN_CELL_GRU, 1, 5, padded, false);
	check_net("embedding+2 GRU+softmax", NN_CELL_GRU, 2, 5, padded, false);
	carried_state = true;
	check_net("embedding+2 LSTM+softmax, carried state", NN_CELL_LSTM, 2, 5, padded, false);
	check_net("embedding+2 GRU+softmax, carried state", NN_CELL_GRU, 2, 5, padded, false);
	carried_state = false;
	check_sparse_adam();
	if (failures)
	{
		printf("%d gradient checks FAILED\n", failures);
		return 1;
	}
	printf("all gradient checks passed\n");
	return 0;
}
