/*
 * nn.h
 *	  Neural-network layers for the LSTM (lstm_train.c, lstm_predict.c) as
 *	  plain forward/backward pairs over flat float arrays, in the manner of
 *	  llm.c: forward saves what backward needs, backward accumulates (+=)
 *	  into gradient buffers.
 *
 * These files (nn_*.c) use only the C library and BLIS, never PostgreSQL,
 * so that test/unit/lstm_gradcheck.c compiles the very kernels training
 * uses and checks their gradients by finite differences.
 *
 * Shapes: B batch rows, T steps, I input width, H hidden width, V
 * vocabulary.  Sequence buffers are time-major, (T,B,...).  Rows of a batch
 * are sorted by length, longest first, so at step t the active rows are the
 * first nact[t] (nact non-increasing), as with a packed sequence.
 */
#ifndef ECML_NN_H
#define ECML_NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- elementwise math ---- */

/* hot elementwise loops get an AVX2 clone, picked at load time */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NN_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NN_CLONES
#endif

/*
 * exp(x) in float, written so that loops over it vectorize (the C library's
 * expf is a call per element): x = k ln2 + r with |r| <= ln2/2 (Cody & Waite
 * 1980 split of ln2), e^r by its Taylor polynomial of degree 7 (truncation
 * below 6e-9 relative), 2^k through the exponent bits.  Relative error
 * below 1e-7; exactly 0 below -87.3 (and for -infinity), clamped above
 * 88.7.  Files using it compile with -fno-trapping-math (a pragma) so that
 * the clamps become vector selects.
 */
static inline float
nn_expf(float x)
{
	float		xc = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
	float		t = xc * 1.44269504088896341f;
	/* round to nearest by the 1.5 * 2^23 trick: no branch, no libm call */
	float		kf = (t + 12582912.0f) - 12582912.0f;
	int32_t		bits = ((int32_t) kf + 127) << 23;
	float		r = xc - kf * 0.693145751953125f - kf * 1.428606765330187e-06f;
	float		p = 1.0f / 5040.0f;
	float		scale;

	p = p * r + 1.0f / 720.0f;
	p = p * r + 1.0f / 120.0f;
	p = p * r + 1.0f / 24.0f;
	p = p * r + 1.0f / 6.0f;
	p = p * r + 0.5f;
	p = p * r + 1.0f;
	p = p * r + 1.0f;
	memcpy(&scale, &bits, sizeof(float));
	return x < -87.3f ? 0.0f : p * scale;
}

static inline float
nn_sigmoidf(float z)
{
	return 1.0f / (1.0f + nn_expf(-z));
}

/* tanh(z) = 2 sigmoid(2z) - 1: absolute error about 1e-7 */
static inline float
nn_tanhf(float z)
{
	return 2.0f / (1.0f + nn_expf(-2.0f * z)) - 1.0f;
}

/* ---- embedding ---- */

/* out (n,E) = table (V,E) rows ids (n) */
extern void embedding_forward(float *out, const int32_t *ids, int n,
							  const float *table, int E);

/* dtable (V,E) rows ids (n) += dout (n,E) */
extern void embedding_backward(float *dtable, const float *dout,
							   const int32_t *ids, int n, int E);

/* ---- dropout (nn_dropout.c) ---- */

/* x (n) *= mask (n), mask elements 0 or 1 / (1 - p) */
extern void dropout_forward(float *x, const float *mask, size_t n);

/* dx (n) *= mask (n) */
extern void dropout_backward(float *dx, const float *mask, size_t n);

/* ---- one LSTM layer over a batch of sequences ---- */

/*
 * What forward saves for backward.  Per step t (gates i, f, g, o; Hochreiter
 * & Schmidhuber 1997 with the forget gate of Gers et al. 2000):
 *
 *	 xh_t (B,I+H) = [x_t | h_{t-1}]
 *	 z_t  (B,4H)  = xh_t . W (I+H,4H) + b			one sgemm for all four gates
 *	 i, f, o = sigmoid(z_i, z_f, z_o), g = tanh(z_g)
 *	 c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)
 */
typedef struct LstmActs
{
	float	   *xh;				/* (T,B,I+H) */
	float	   *gates;			/* (T,B,4H): i, f, g, o after their nonlinearity */
	float	   *c;				/* (T+1,B,H): c[0] is the initial cell state */
	float	   *h;				/* (T+1,B,H): h[0] is the initial hidden state */
	float	   *tc;				/* (T,B,H): tanh(c_t) */
	/*
	 * Called once per time step by lstm_forward and lstm_backward when not
	 * NULL (lstm_acts_layout sets NULL): the caller's interrupt check, so
	 * that a layer over long sequences stays cancellable without this code
	 * knowing PostgreSQL.
	 */
	void		(*on_step) (void);
} LstmActs;

/* Floats each LstmActs buffer needs, in the order above, for (T,B,I,H). */
extern size_t lstm_acts_floats(int T, int B, int I, int H);

/* Point the buffers of *a into one block of lstm_acts_floats() floats. */
extern void lstm_acts_layout(LstmActs *a, float *block, int T, int B, int I, int H);

/*
 * Run the layer over x (T,B,I) from the initial state already in a->h[0]
 * and a->c[0].  Rows >= nact[t] are neither read nor written at step t.
 */
extern void lstm_forward(LstmActs *a, const float *x, const int *nact,
						 int T, int B, int I, int H,
						 const float *W, const float *b);

/*
 * Backpropagate dh (T,B,H), the loss gradient with respect to h_1..h_T from
 * above, through the layer: dW (I+H,4H) and db (4H) +=, and dx (T,B,I) +=
 * if not NULL.  bptt > 0 truncates backpropagation through time to windows
 * of bptt steps (the recurrent gradient does not cross a window start);
 * 0 backpropagates through the whole sequence.  scratch holds
 * lstm_backward_scratch_floats() floats.
 */
extern size_t lstm_backward_scratch_floats(int B, int I, int H);
extern void lstm_backward(const LstmActs *a, const float *dh, const int *nact,
						  int T, int B, int I, int H, const float *W,
						  float *dW, float *db, float *dx, int bptt,
						  float *scratch);

/* ---- one GRU layer over a batch of sequences (nn_gru.c) ---- */

/*
 * Gated recurrent unit (Cho et al. 2014) in the form cuDNN and PyTorch
 * use, the reset gate applied after the recurrent product, without its
 * separate bias:
 *
 *	 W (I+H,3H) = [W_x ; W_h], columns r, u, n;  b (3H)
 *	 r = sigmoid(x W_x,r + h W_h,r + b_r),  u = sigmoid(... u ...)
 *	 n = tanh(x W_x,n + b_n + r * (h W_h,n))
 *	 h_t = (1 - u) * n + u * h_{t-1}
 *
 * It saves into LstmActs (lstm_acts_floats): xh as the LSTM, the gates
 * buffer's 4H floats per row hold r, u, n and h W_h,n; c and tc are not
 * used.  Arguments as lstm_forward and lstm_backward, with W (I+H,3H) and
 * b (3H); gru_backward's scratch is gru_backward_scratch_floats() floats.
 */
extern void gru_forward(LstmActs *a, const float *x, const int *nact,
						int T, int B, int I, int H,
						const float *W, const float *b);
extern size_t gru_backward_scratch_floats(int B, int I, int H);
extern void gru_backward(const LstmActs *a, const float *dh, const int *nact,
						 int T, int B, int I, int H, const float *W,
						 float *dW, float *db, float *dx, int bptt,
						 float *scratch);

/* ---- the recurrent layer of a network: LSTM or GRU ---- */

typedef enum NnCell
{
	NN_CELL_LSTM = 0,
	NN_CELL_GRU = 1
} NnCell;

/* columns of a layer's W and b: 4H (LSTM) or 3H (GRU) */
static inline int
rnn_gates(NnCell cell, int H)
{
	return cell == NN_CELL_GRU ? 3 * H : 4 * H;
}

static inline void
rnn_forward(NnCell cell, LstmActs *a, const float *x, const int *nact,
			int T, int B, int I, int H, const float *W, const float *b)
{
	if (cell == NN_CELL_GRU)
		gru_forward(a, x, nact, T, B, I, H, W, b);
	else
		lstm_forward(a, x, nact, T, B, I, H, W, b);
}

/* scratch for rnn_backward of either cell */
static inline size_t
rnn_backward_scratch_floats(int B, int I, int H)
{
	size_t		l = lstm_backward_scratch_floats(B, I, H);
	size_t		g = gru_backward_scratch_floats(B, I, H);

	return l > g ? l : g;
}

static inline void
rnn_backward(NnCell cell, const LstmActs *a, const float *dh, const int *nact,
			 int T, int B, int I, int H, const float *W, float *dW, float *db,
			 float *dx, int bptt, float *scratch)
{
	if (cell == NN_CELL_GRU)
		gru_backward(a, dh, nact, T, B, I, H, W, dW, db, dx, bptt, scratch);
	else
		lstm_backward(a, dh, nact, T, B, I, H, W, dW, db, dx, bptt, scratch);
}

/* ---- output layer: softmax cross-entropy ---- */

/*
 * Full softmax over V classes for n rows: logits (n,V) = h (n,H) . W^T + b
 * with W (V,H).  probs (n,V) receives the probabilities.  Returns the summed
 * cross-entropy -sum_r log p_r[y_r], in double.
 */
extern double softmax_xent_forward(float *probs, const float *h, int n, int H,
								   int V, const float *W, const float *b,
								   const int32_t *y);

/*
 * The gradient of scale * (summed cross-entropy): dlogits = scale (p - 1_y)
 * (computed in probs, which it overwrites), dW (V,H) and db (V) +=, dh
 * (n,H) +=.
 */
extern void softmax_xent_backward(float *probs, const float *h, int n, int H,
								  int V, const float *W, const int32_t *y,
								  float scale, float *dW, float *db, float *dh);

/*
 * Sampled softmax (Jean et al. 2015; Bengio & Senecal 2008): each row scores
 * its target and S classes drawn with replacement from a proposal Q, shared
 * by the rows, every logit corrected by -log(S Q(c)) (the log-Q correction,
 * which makes it a consistent estimate of the full softmax gradient).  A
 * sampled class equal to the row's target ("accidental hit") is left out.
 *
 *	 logq_y (n): log(S Q(y_r)), logq_s (S): log(S Q(s_j))
 *	 work (n,S+1): the row's softmax over [target, samples] after forward
 *	 wsamp (S,H): scratch for the sampled rows of W
 */
extern double sampled_softmax_forward(float *work, float *wsamp,
									  const float *h, int n, int H,
									  const float *W, const float *b,
									  const int32_t *y, const float *logq_y,
									  const int32_t *samples, int S,
									  const float *logq_s);
extern void sampled_softmax_backward(float *work, const float *wsamp,
									 const float *h, int n, int H,
									 const float *W, const int32_t *y,
									 const int32_t *samples, int S,
									 float scale, float *dW, float *db,
									 float *dh, float *dwsamp);

/*
 * sampled_logits: the rows' dot products with [target, samples] into work
 * (n,S+1) (no bias, no correction, accidental hits included), where the
 * sampled softmax and the ranking losses start.  sampled_logits_backward:
 * the gradient of a loss over those logits, given d loss / d logit in
 * work, times scale: dW, db and dh +=.
 */
extern void sampled_logits(float *work, float *wsamp, const float *h,
						   int n, int H, const float *W, const int32_t *y,
						   const int32_t *samples, int S);
extern void sampled_logits_backward(float *work, const float *wsamp,
									const float *h, int n, int H,
									const float *W, const int32_t *y,
									const int32_t *samples, int S,
									float scale, float *dW, float *db,
									float *dh, float *dwsamp);

/*
 * Ranking losses over the target's score r0 and the sampled negatives' r_j
 * (GRU4Rec's BPR-max and TOP1-max; Hidasi & Karatzoglou, CIKM 2018), each
 * negative weighted by s_j, the softmax of the negatives' scores, so that
 * the hardest negatives count most:
 *
 *	 BPR-max:  -log sum_j s_j sigmoid(r0 - r_j) + reg sum_j s_j r_j^2
 *	 TOP1-max: sum_j s_j (sigmoid(r_j - r0) + sigmoid(r_j^2))
 *
 * Scores are the raw logits (no log-Q correction: the proposal's
 * popularity already shapes the negatives); a sample equal to the row's
 * target is no negative.  Returns the summed loss and leaves d loss /
 * d logit in work (n,S+1) for sampled_logits_backward; s (S) is scratch.
 */
typedef enum NnRankLoss
{
	NN_RANK_BPR_MAX = 1,
	NN_RANK_TOP1_MAX = 2
} NnRankLoss;

extern double sampled_rank_forward(float *work, float *wsamp, const float *h,
								   int n, int H, const float *W,
								   const float *b, const int32_t *y,
								   const int32_t *samples, int S,
								   NnRankLoss kind, float reg, float *s);

/* ---- optimizer ---- */

/* Sum of squares of n floats, in double (for the global gradient norm). */
extern double nn_sum_squares(const float *x, size_t n);

/* x (n) *= s */
extern void nn_scale(float *x, size_t n, float s);

/*
 * One Adam step (Kingma & Ba 2015, Algorithm 1) on n parameters at step
 * t >= 1, with bias-corrected moments m and v.
 */
extern void adam_update(float *param, const float *grad, float *m, float *v,
						size_t n, float lr, float beta1, float beta2,
						float eps, int t);

/*
 * The same over the rows rows[0..n) (distinct) of width floats of a
 * row-major matrix, for a gradient that is zero elsewhere: a sampled
 * softmax step touches a few hundred of the output layer's V rows and the
 * batch's tokens of the embedding's.  The other rows and their moments are
 * left as they are, and last[row] (the step a row was last brought to) lets
 * a row catch up, when it is next touched, with the steps it sat out: the
 * moments' decay, weight decay (p *= keep each step) and the move on its
 * momentum, in closed form, so that the result follows dense Adam (and not
 * "lazy" Adam, whose rare rows stop when their gradient does).  The caller
 * sets last[row] = t after the step; adam_catch_up brings rows [0, nrows)
 * to step t (before the model is read: validation, the end of training).
 */
extern double nn_sum_squares_rows(const float *x, size_t width,
								  const int32_t *rows, int n);
extern void nn_scale_rows(float *x, size_t width, const int32_t *rows, int n,
						  float s);
extern void nn_zero_rows(float *x, size_t width, const int32_t *rows, int n);
extern void adam_update_rows(float *param, const float *grad, float *m,
							 float *v, size_t width, const int32_t *rows,
							 int n, const int32_t *last, float lr, float keep,
							 float beta1, float beta2, float eps, int t);
extern void adam_catch_up(float *param, float *m, float *v, size_t width,
						  size_t nrows, const int32_t *last, float lr,
						  float keep, float beta1, float beta2, float eps,
						  int t);

#endif							/* ECML_NN_H */
