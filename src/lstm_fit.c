/*
 * lstm_fit.c
 *	  The LSTM's training step, shared by ecml.lstm_train (lstm_train.c)
 *	  and ecml.train('lstm') (lstm_passes.c).
 *
 * The network (lstm.h) reads a sequence's tokens x_1..x_{n-1} and predicts
 * x_2..x_n: the loss of a mini-batch is the mean next-token cross-entropy
 * over every position of every sequence in it.  Sequences are cut to their
 * last max_length tokens; a batch is padded to its longest sequence and
 * masked, its rows sorted longest first so that step t runs the gate sgemm
 * over exactly the rows still active.  Adam (Kingma & Ba 2015), global
 * gradient-norm clipping (Pascanu et al. 2013), truncated BPTT.  The
 * output layer is a full softmax, or a sampled softmax with the log-Q
 * correction above a vocabulary threshold (Jean et al. 2015).
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "blas.h"
#include "ecml.h"
#include "lstm.h"
#include "lstm_fit.h"
#include "miscadmin.h"
#include "model.h"
#include "nn.h"
#include "utils/jsonb.h"

static const char *const softmax_choices[] = { "auto", "full", "sampled", NULL };
static const char *const repeat_choices[] = { "auto", "off", NULL };
static const char *const successors_choices[] = { "auto", "off", NULL };
static const char *const output_bias_choices[] = { "uniform", "prior", "auto", NULL };
static const char *const neighbours_choices[] = { "auto", "off", NULL };
static const char *const loss_choices[] = { "cross_entropy", "bpr_max", "top1_max", "auto", NULL };
static const char *const cell_choices[] = { "lstm", "gru", NULL };
static const char *const batching_choices[] = { "sequences", "session_parallel", NULL };

const EcmlOptionSpec lstm_option_specs[] = {
	{ "embedding_dim", ECML_OPT_INT, offsetof(LstmOptions, embedding_dim), 1, LSTM_DIM_MAX },
	{ "hidden_size", ECML_OPT_INT, offsetof(LstmOptions, hidden_size), 1, LSTM_DIM_MAX },
	{ "layers", ECML_OPT_INT, offsetof(LstmOptions, layers), 1, LSTM_LAYERS_MAX },
	{ "epochs", ECML_OPT_INT, offsetof(LstmOptions, epochs), 1, LSTM_EPOCHS_MAX },
	{ "batch_size", ECML_OPT_INT, offsetof(LstmOptions, batch_size), 1, LSTM_BATCH_SIZE_MAX },
	{ "learning_rate", ECML_OPT_REAL, offsetof(LstmOptions, learning_rate), 0, 10, true },
	{ "max_length", ECML_OPT_INT, offsetof(LstmOptions, max_length), 2, LSTM_MAX_LENGTH_MAX },
	{ "min_count", ECML_OPT_INT, offsetof(LstmOptions, min_count), 1, INT_MAX },
	{ "max_vocab", ECML_OPT_INT, offsetof(LstmOptions, max_vocab), 2, LSTM_MAX_VOCAB_MAX },
	{ "clip_norm", ECML_OPT_REAL, offsetof(LstmOptions, clip_norm), 0, 1e6 },
	{ "validation_fraction", ECML_OPT_REAL, offsetof(LstmOptions, validation_fraction), 0, 0.5 },
	{ "patience", ECML_OPT_INT, offsetof(LstmOptions, patience), 1, 1000 },
	{ "seed", ECML_OPT_INT64, offsetof(LstmOptions, seed), 0, (double) PG_INT64_MAX },
	{ "softmax", ECML_OPT_CHOICE, offsetof(LstmOptions, softmax), 0, 0, false, softmax_choices },
	{ "softmax_threshold", ECML_OPT_INT, offsetof(LstmOptions, softmax_threshold), 2, LSTM_MAX_VOCAB_MAX },
	{ "num_sampled", ECML_OPT_INT, offsetof(LstmOptions, num_sampled), 1, 100000 },
	{ "bptt", ECML_OPT_INT, offsetof(LstmOptions, bptt), 0, LSTM_MAX_LENGTH_MAX },
	{ "repeat", ECML_OPT_CHOICE, offsetof(LstmOptions, repeat), 0, 0, false, repeat_choices },
	{ "dropout", ECML_OPT_REAL, offsetof(LstmOptions, dropout), 0, LSTM_DROPOUT_MAX },
	{ "weight_decay", ECML_OPT_REAL, offsetof(LstmOptions, weight_decay), 0, LSTM_WEIGHT_DECAY_MAX },
	{ "successors", ECML_OPT_CHOICE, offsetof(LstmOptions, successors), 0, 0, false, successors_choices },
	{ "max_successors", ECML_OPT_INT, offsetof(LstmOptions, max_successors), 1, LSTM_MAX_SUCCESSORS_MAX },
	{ "successor_window", ECML_OPT_INT, offsetof(LstmOptions, successor_window), 1, LSTM_SUCCESSOR_WINDOW_MAX },
	{ "output_bias", ECML_OPT_CHOICE, offsetof(LstmOptions, output_bias), 0, 0, false, output_bias_choices },
	{ "neighbours", ECML_OPT_CHOICE, offsetof(LstmOptions, neighbours), 0, 0, false, neighbours_choices },
	{ "neighbour_sessions", ECML_OPT_INT, offsetof(LstmOptions, neighbour_sessions), 1, LSTM_NEIGHBOUR_SESSIONS_MAX },
	{ "loss", ECML_OPT_CHOICE, offsetof(LstmOptions, loss), 0, 0, false, loss_choices },
	{ "bpr_reg", ECML_OPT_REAL, offsetof(LstmOptions, bpr_reg), 0, LSTM_BPR_REG_MAX },
	{ "cell", ECML_OPT_CHOICE, offsetof(LstmOptions, cell), 0, 0, false, cell_choices },
	{ "tied", ECML_OPT_BOOL, offsetof(LstmOptions, tied) },
	{ "batching", ECML_OPT_CHOICE, offsetof(LstmOptions, batching), 0, 0, false, batching_choices },
	{ "session_steps", ECML_OPT_INT, offsetof(LstmOptions, session_steps), 1, LSTM_MAX_LENGTH_MAX },
};

StaticAssertDecl(lengthof(lstm_option_specs) == N_LSTM_OPTIONS,
				 "N_LSTM_OPTIONS in lstm_fit.h counts the options");
StaticAssertDecl(LSTM_LOSS_BPR_MAX == (int) NN_RANK_BPR_MAX &&
					 LSTM_LOSS_TOP1_MAX == (int) NN_RANK_TOP1_MAX,
				 "the ranking losses are passed to nn_rankloss.c as they are");
StaticAssertDecl(NN_CELL_LSTM == 0 && NN_CELL_GRU == 1, "\"cell\"'s choices are NnCell's values");

/*
 * embedding_dim defaults to hidden_size, and "tied" to whether the two are
 * equal: tied embeddings ranked better on MovieLens and on the synthetic
 * shop sessions (docs/next-action.md), and a user who sets the two apart
 * keeps two matrices without having to say so.
 */
static void
lstm_resolve_tied(Jsonb *opts, LstmOptions *o)
{
	JsonbValue	v;

	if (o->embedding_dim == 0)
		o->embedding_dim = o->hidden_size;
	if (opts == NULL || getKeyJsonValueFromContainer(&opts->root, "tied", 4, &v) == NULL)
		o->tied = o->embedding_dim == o->hidden_size;
}

void
lstm_parse_options(Jsonb *opts, LstmOptions *o, const char *trainer)
{
	JsonbValue	v;

	o->embedding_dim = 0;		/* hidden_size, below */
	o->hidden_size = LSTM_HIDDEN_SIZE_DEFAULT;
	o->layers = LSTM_LAYERS_DEFAULT;
	o->epochs = LSTM_EPOCHS_DEFAULT;
	o->batch_size = LSTM_BATCH_SIZE_DEFAULT;
	o->learning_rate = LSTM_LEARNING_RATE_DEFAULT;
	o->max_length = LSTM_MAX_LENGTH_DEFAULT;
	o->min_count = LSTM_MIN_COUNT_DEFAULT;
	o->max_vocab = LSTM_MAX_VOCAB_DEFAULT;
	o->clip_norm = LSTM_CLIP_NORM_DEFAULT;
	o->validation_fraction = LSTM_VALIDATION_FRACTION_DEFAULT;
	o->patience = LSTM_PATIENCE_DEFAULT;
	o->seed = LSTM_SEED_DEFAULT;
	o->softmax = LSTM_SOFTMAX_AUTO;
	o->softmax_threshold = LSTM_SOFTMAX_THRESHOLD_DEFAULT;
	o->num_sampled = LSTM_NUM_SAMPLED_DEFAULT;
	o->bptt = 0;
	o->repeat = LSTM_REPEAT_AUTO;
	o->dropout = LSTM_DROPOUT_DEFAULT;
	o->weight_decay = LSTM_WEIGHT_DECAY_DEFAULT;
	o->successors = LSTM_SUCCESSORS_AUTO;
	o->max_successors = LSTM_MAX_SUCCESSORS_DEFAULT;
	o->successor_window = LSTM_SUCCESSOR_WINDOW_DEFAULT;
	o->output_bias = LSTM_OUTPUT_BIAS_AUTO;
	o->neighbours = LSTM_NEIGHBOURS_AUTO;
	o->neighbour_sessions = LSTM_NEIGHBOUR_SESSIONS_DEFAULT;
	o->loss = LSTM_LOSS_AUTO;
	o->bpr_reg = LSTM_BPR_REG_DEFAULT;
	o->cell = LSTM_CELL_DEFAULT;
	o->tied = false;
	o->batching = LSTM_BATCHING_SEQUENCES;
	o->session_steps = LSTM_SESSION_STEPS_DEFAULT;
	ecml_parse_options(opts, lstm_option_specs, N_LSTM_OPTIONS, o, trainer);
	lstm_resolve_tied(opts, o);
	if (o->batching != LSTM_BATCHING_SESSION_PARALLEL && opts != NULL &&
		getKeyJsonValueFromContainer(&opts->root, "session_steps", 13, &v) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: \"session_steps\" needs \"batching\": \"session_parallel\"",
						trainer),
				 errdetail("Whole-sequence mini-batches take every click of a sequence at once."),
				 errhint("Add \"batching\": \"session_parallel\", or leave out \"session_steps\".")));
	/* a ranking loss ranks the target against sampled negatives */
	if (lstm_ranking_loss(o->loss) && o->softmax == LSTM_SOFTMAX_FULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: \"loss\": \"%s\" cannot train with \"softmax\": \"full\"",
						trainer, loss_choices[o->loss]),
				 errdetail("BPR-max and TOP1-max rank each target against sampled negatives."),
				 errhint("Leave out \"softmax\" (a ranking loss samples at any vocabulary size), or use \"loss\": \"cross_entropy\".")));
	/* one matrix is both the embedding (V,E) and the output layer (V,H) */
	if (o->tied && o->embedding_dim != o->hidden_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: \"tied\": true needs \"embedding_dim\" equal to \"hidden_size\" (%d and %d)",
						trainer, o->embedding_dim, o->hidden_size),
				 errdetail("Tied embeddings use one matrix as the input embedding and the output layer."),
				 errhint("Set \"embedding_dim\" and \"hidden_size\" to the same value.")));
}

/* the output layer samples: asked for, a ranking loss, or a large vocabulary */
bool
lstm_uses_sampled(const LstmOptions *o, int V)
{
	return o->softmax == LSTM_SOFTMAX_SAMPLED || lstm_ranking_loss(o->loss) ||
		   (o->softmax == LSTM_SOFTMAX_AUTO && V > o->softmax_threshold);
}

/*
 * "loss": "auto" resolved: BPR-max when the output layer samples (better or
 * tied on every session set measured there), the cross-entropy with the
 * full softmax (MovieLens lost HR@20 with a ranking loss).
 */
void
lstm_resolve_loss(LstmOptions *o, bool sampled)
{
	if (o->loss == LSTM_LOSS_AUTO)
		o->loss = sampled ? LSTM_LOSS_BPR_MAX : LSTM_LOSS_CROSS_ENTROPY;
}

/* canonical order of sequences: by length, then by their indices */
int
lstm_seq_order_cmp(const void *a, const void *b, void *arg)
{
	const LstmData *d = (const LstmData *) arg;
	int64		sa = *(const int64 *) a;
	int64		sb = *(const int64 *) b;
	int64		la = d->off[sa + 1] - d->off[sa];
	int64		lb = d->off[sb + 1] - d->off[sb];

	if (la != lb)
		return la < lb ? -1 : 1;
	for (int64 i = 0; i < la; i++)
	{
		int32		x = d->tok[d->off[sa] + i];
		int32		y = d->tok[d->off[sb] + i];

		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}


/*
 * PyTorch's initialisation, so the benchmark compares like with like:
 * embedding N(0,1); LSTM and GRU weights U(-k,k), k = 1/sqrt(H), and the
 * bias the sum of two such draws (PyTorch keeps b_ih and b_hh); output layer
 * U(-k,k) with k = 1/sqrt(H).  Tied embeddings start as the output layer.
 */
void
lstm_init_params(LstmNet *net, EcmlRng *rng)
{
	float		k = (float) (1.0 / sqrt((double) net->H));
	int			G = rnn_gates((NnCell) net->cell, net->H);

	for (size_t i = 0; i < (size_t) net->V * net->E; i++)
		net->emb[i] = (float) ecml_rng_normal(rng);
	for (int l = 0; l < net->L; l++)
	{
		int			I = l == 0 ? net->E : net->H;

		for (size_t i = 0; i < (size_t) (I + net->H) * G; i++)
			net->W[l][i] = (float) ((2 * ecml_rng_uniform(rng) - 1) * k);
		for (int i = 0; i < G; i++)
			net->b[l][i] = (float) ((2 * ecml_rng_uniform(rng) - 1) * k +
									(2 * ecml_rng_uniform(rng) - 1) * k);
	}
	for (size_t i = 0; i < (size_t) net->V * net->H; i++)
		net->Wo[i] = (float) ((2 * ecml_rng_uniform(rng) - 1) * k);
	for (int i = 0; i < net->V; i++)
		net->bo[i] = (float) ((2 * ecml_rng_uniform(rng) - 1) * k);
	/* tied: the output layer's initialisation (an N(0,1) one inflates the logits) */
	if (net->tied)
		memcpy(net->emb, net->Wo, sizeof(float) * net->V * net->H);
}

/*
 * The output layer's bias set to the log of each token's share of the
 * occurrences (add-one smoothed), so that the untrained network predicts
 * the unigram distribution (popularity) rather than a uniform one: with
 * little data per item, or early stopping after an epoch or two, the
 * softmax then ranks the items it has not learned by popularity.  Not the
 * default: on MovieLens it stops earlier and ranks worse (RESULTS.md).
 */
void
lstm_init_output_prior(LstmNet *net, const int64 *counts)
{
	double		total = net->V;

	for (int i = 0; i < net->V; i++)
		total += counts[i];
	for (int i = 0; i < net->V; i++)
		net->bo[i] = (float) log((counts[i] + 1.0) / total);
}

/* LstmActs.on_step: cancel and statement_timeout reach a layer's time steps */
static void
lstm_check_interrupts(void)
{
	CHECK_FOR_INTERRUPTS();
}

/*
 * Target rows per output-layer chunk: at least a batch (one step's rows),
 * up to 1024 while the (rows,V) probabilities stay within 8M floats and a
 * chunk's rows x V x H stays within 2^30 (a few GFLOP, so interrupts are
 * still checked about every 0.1 s).  Large chunks make the output layer's
 * gradient one sgemm over many rows instead of one per step, which matters
 * for short sequences and large V.
 */
static int
lstm_chunk_rows(int B, int V, int H)
{
	size_t		r = Min((size_t) 1024, ((size_t) 8 * 1024 * 1024) / (size_t) V);

	r = Min(r, ((size_t) 1 << 30) / ((size_t) V * H));
	return Max(B, (int) r);
}

size_t
lstm_work_floats(const LstmNet *net, int B, int T, bool sampled, int S, double dropout)
{
	size_t		n = (size_t) T * B * net->E * 2;

	if (dropout > 0)
		n += (size_t) T * B * net->E + (size_t) lstm_chunk_rows(B, net->V, net->H) * net->H;

	for (int l = 0; l < net->L; l++)
	{
		int			I = l == 0 ? net->E : net->H;

		n += lstm_acts_floats(T, B, I, net->H) + (size_t) T * B * net->H;
	}
	n += rnn_backward_scratch_floats(B, Max(net->E, net->H), net->H);
	/* probabilities of the full softmax: training, or validation when sampled */
	n += (size_t) lstm_chunk_rows(B, net->V, net->H) * (net->V + 2 * net->H + 1);
	if (sampled)
		n += (size_t) lstm_chunk_rows(B, net->V, net->H) * (S + 2) + 2 * (size_t) S * net->H +
			 (size_t) net->V * 8 + (net->tied ? (size_t) net->V : Min((size_t) net->V, (size_t) T * B));
	return n;
}

void
lstm_work_init(LstmWork *w, const LstmNet *net, int B, int T, bool sampled, int S,
			   double dropout)
{
	w->B = B;
	w->T = T;
	w->x = palloc_extended(sizeof(int32) * T * B, MCXT_ALLOC_HUGE);
	w->y = palloc_extended(sizeof(int32) * T * B, MCXT_ALLOC_HUGE);
	w->nact = palloc(sizeof(int) * T);
	w->rows = palloc(sizeof(int64) * B);
	w->x0 = palloc_extended(sizeof(float) * T * B * net->E, MCXT_ALLOC_HUGE);
	w->dx0 = palloc_extended(sizeof(float) * T * B * net->E, MCXT_ALLOC_HUGE);
	for (int l = 0; l < net->L; l++)
	{
		int I = l == 0 ? net->E : net->H;
		float *block = palloc_extended(sizeof(float) * lstm_acts_floats(T, B, I, net->H),
									   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

		lstm_acts_layout(&w->acts[l], block, T, B, I, net->H);
		w->acts[l].on_step = lstm_check_interrupts;
		w->dh[l] = palloc_extended(sizeof(float) * T * B * net->H, MCXT_ALLOC_HUGE);
	}
	w->scratch = palloc_extended(sizeof(float) * rnn_backward_scratch_floats(B, Max(net->E, net->H), net->H),
								 MCXT_ALLOC_HUGE);
	w->sampled = sampled;
	w->S = S;
	w->loss = LSTM_LOSS_CROSS_ENTROPY;
	w->bpr_reg = 0.0f;
	w->py = NULL;
	w->dropout = (float) dropout;
	w->mask_x = w->mask_h = NULL;
	/* validation always scores the full softmax */
	w->R = lstm_chunk_rows(B, net->V, net->H);
	w->hg = palloc_extended(sizeof(float) * w->R * net->H, MCXT_ALLOC_HUGE);
	w->dhg = palloc_extended(sizeof(float) * w->R * net->H, MCXT_ALLOC_HUGE);
	w->yg = palloc_extended(sizeof(int32) * w->R, MCXT_ALLOC_HUGE);
	w->probs = palloc_extended(sizeof(float) * w->R * net->V, MCXT_ALLOC_HUGE);
	if (dropout > 0)
	{
		w->mask_x = palloc_extended(sizeof(float) * T * B * net->E, MCXT_ALLOC_HUGE);
		w->mask_h = palloc_extended(sizeof(float) * w->R * net->H, MCXT_ALLOC_HUGE);
	}
	if (sampled)
	{
		w->cdf = palloc_extended(sizeof(double) * net->V, MCXT_ALLOC_HUGE);
		w->logq = palloc_extended(sizeof(float) * net->V, MCXT_ALLOC_HUGE);
		w->samples = palloc(sizeof(int32) * S);
		w->logq_s = palloc(sizeof(float) * S);
		w->logq_y = palloc(sizeof(float) * w->R);
		w->work = palloc_extended(sizeof(float) * w->R * (S + 1), MCXT_ALLOC_HUGE);
		w->wsamp = palloc_extended(sizeof(float) * S * net->H, MCXT_ALLOC_HUGE);
		w->dwsamp = palloc_extended(sizeof(float) * S * net->H, MCXT_ALLOC_HUGE);
		/* tied: the output rows join the embedding's */
		w->emb_rows = palloc_extended(sizeof(int32) * (net->tied ? (size_t) net->V : Min((size_t) net->V, (size_t) T * B)),
									  MCXT_ALLOC_HUGE);
		w->out_rows = palloc_extended(sizeof(int32) * net->V, MCXT_ALLOC_HUGE);
		w->emb_mark = palloc_extended(sizeof(int32) * net->V, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		w->out_mark = palloc_extended(sizeof(int32) * net->V, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		w->emb_last = palloc_extended(sizeof(int32) * net->V, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		w->out_last = palloc_extended(sizeof(int32) * net->V, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	}
	w->track = w->grads_clean = w->keep_state = false;
	w->n_emb_rows = w->n_out_rows = 0;
	w->row_stamp = 0;
}

/* token c joins a step's rows once (mark[c] holds the step's stamp then) */
static inline void
row_add(int32 *rows, int *n, int32 *mark, int32 stamp, int32 c)
{
	if (mark[c] != stamp)
	{
		mark[c] = stamp;
		rows[(*n)++] = c;
	}
}

/* a new step's (empty) row lists */
static void
rows_reset(LstmWork *w, int V)
{
	if (w->row_stamp == PG_INT32_MAX)
	{
		memset(w->emb_mark, 0, sizeof(int32) * V);
		memset(w->out_mark, 0, sizeof(int32) * V);
		w->row_stamp = 0;
	}
	w->row_stamp++;
	w->n_emb_rows = w->n_out_rows = 0;
}

/*
 * The sampled softmax's proposal: the smoothed unigram distribution of the
 * tokens, Q(c) = (count(c) + 1) / (total + V), so every class can be drawn.
 */
void
lstm_proposal(LstmWork *w, const LstmData *d, int V)
{
	double		total = 0.0;
	double		acc = 0.0;

	for (int c = 0; c < V; c++)
		total += d->counts[c] + 1.0;
	for (int c = 0; c < V; c++)
	{
		double		q = (d->counts[c] + 1.0) / total;

		acc += q;
		w->cdf[c] = acc;
		w->logq[c] = (float) log(w->S * q);
	}
	w->cdf[V - 1] = 1.0;
}

static void
lstm_draw_samples(LstmWork *w, EcmlRng *rng, int V)
{
	for (int j = 0; j < w->S; j++)
	{
		double u = ecml_rng_uniform(rng);
		int lo = 0,
			hi = V - 1;

		while (lo < hi)
		{
			int mid = (lo + hi) / 2;

			if (w->cdf[mid] > u)
				hi = mid;
			else
				lo = mid + 1;
		}
		w->samples[j] = lo;
		w->logq_s[j] = w->logq[lo];
	}
}

static int
batch_row_cmp(const void *a, const void *b, void *arg)
{
	const LstmData *d = (const LstmData *) arg;
	int64		sa = *(const int64 *) a;
	int64		sb = *(const int64 *) b;
	int64		la = d->off[sa + 1] - d->off[sa];
	int64		lb = d->off[sb + 1] - d->off[sb];

	if (la != lb)
		return la > lb ? -1 : 1;
	/* by content, not by index: the scan order must not matter */
	return lstm_seq_order_cmp(a, b, arg);
}

/* a dropout mask (n): 0 with probability p, else 1 / (1 - p) */
static void
lstm_dropout_mask(float *mask, size_t n, float p, EcmlRng *rng)
{
	float		keep = 1.0f / (1.0f - p);

	for (size_t i = 0; i < n; i++)
		mask[i] = ecml_rng_uniform(rng) < p ? 0.0f : keep;
}

/*
 * The batch's sequences, longest first, as inputs x and targets y per step
 * (w->nact[t] rows active at step t); returns the step count T and sets
 * *ntargets.
 */
static int
batch_gather(LstmWork *w, const LstmData *d, const int64 *seqs, int n, int64 *ntargets)
{
	int			B = w->B;
	int			T;
	int64		N = 0;

	memcpy(w->rows, seqs, sizeof(int64) * n);
	qsort_arg(w->rows, n, sizeof(int64), batch_row_cmp, (void *) d);
	T = (int) (d->off[w->rows[0] + 1] - d->off[w->rows[0]]) - 1;
	Assert(T <= w->T);
	for (int t = 0; t < T; t++)
	{
		int			a = 0;

		for (int r = 0; r < n; r++)
		{
			int64		s = w->rows[r];
			int64		len = d->off[s + 1] - d->off[s];

			if (len - 1 <= t)
				break;
			w->x[t * B + r] = d->tok[d->off[s] + t];
			w->y[t * B + r] = d->tok[d->off[s] + t + 1];
			a++;
		}
		w->nact[t] = a;
		N += a;
	}
	*ntargets = N;
	return T;
}

/* Embeddings (with dropout when training) and the LSTM layers, forward. */
static void
batch_forward(LstmNet *net, bool training, LstmWork *w, int T, EcmlRng *rng)
{
	int			B = w->B;
	int			E = net->E;
	int			H = net->H;
	const float *in;

	for (int t = 0; t < T; t++)
		embedding_forward(w->x0 + (size_t) t * B * E, w->x + (size_t) t * B, w->nact[t],
						  net->emb, E);
	if (training && w->mask_x)
		for (int t = 0; t < T; t++)
		{
			float	   *mask = w->mask_x + (size_t) t * B * E;

			lstm_dropout_mask(mask, (size_t) w->nact[t] * E, w->dropout, rng);
			dropout_forward(w->x0 + (size_t) t * B * E, mask, (size_t) w->nact[t] * E);
		}
	in = w->x0;
	for (int l = 0; l < net->L; l++)
	{
		int			I = l == 0 ? E : H;

		if (!w->keep_state)
		{
			memset(w->acts[l].h, 0, sizeof(float) * B * H);
			memset(w->acts[l].c, 0, sizeof(float) * B * H);
		}
		rnn_forward((NnCell) net->cell, &w->acts[l], in, w->nact, T, B, I, H, net->W[l],
					net->b[l]);
		in = w->acts[l].h + (size_t) B * H;
	}
	if (training)
	{
		for (int l = 0; l < net->L; l++)
			memset(w->dh[l], 0, sizeof(float) * T * B * H);
		memset(w->dx0, 0, sizeof(float) * T * B * E);
	}
}

/* For the repeat fit: each target's probability and the seen tokens' mass. */
static void
batch_note_probs(LstmWork *w, const LstmData *d, int V, int t0, int t1)
{
	int			row = 0;

	for (int t = t0; t < t1; t++)
		for (int r = 0; r < w->nact[t]; r++, row++)
		{
			const float *pr = w->probs + (size_t) row * V;

			w->py[t * w->B + r] = pr[w->yg[row]];
			w->pseen[t * w->B + r] = (float)
				lstm_seen_mass(pr, d->tok + d->off[w->rows[r]], t + 1, w->mark, ++w->stamp);
		}
}

/*
 * The output layer over steps t0 .. t1, whose top hidden rows (rows of
 * them) are gathered in w->hg: the loss, and when training the output
 * gradients and dh of the top layer scattered back per step.
 */
static double
batch_output(LstmNet *net, LstmNet *grads, LstmWork *w, const LstmData *d, int t0,
			 int t1, int rows, EcmlRng *rng, bool use_sampled, float scale)
{
	int			B = w->B;
	int			H = net->H;
	int			V = net->V;
	double		loss;

	if (grads && w->mask_h)
	{
		lstm_dropout_mask(w->mask_h, (size_t) rows * H, w->dropout, rng);
		dropout_forward(w->hg, w->mask_h, (size_t) rows * H);
	}
	if (grads)
		memset(w->dhg, 0, sizeof(float) * rows * H);
	if (use_sampled)
	{
		lstm_draw_samples(w, rng, V);
		for (int r = 0; r < rows; r++)
			w->logq_y[r] = w->logq[w->yg[r]];
		if (w->loss != LSTM_LOSS_CROSS_ENTROPY)
		{
			/* logq_s, not used by the ranking losses, is their scratch */
			loss = sampled_rank_forward(w->work, w->wsamp, w->hg, rows, H, net->Wo, net->bo,
										w->yg, w->samples, w->S, (NnRankLoss) w->loss,
										w->bpr_reg, w->logq_s);
			if (grads)
				sampled_logits_backward(w->work, w->wsamp, w->hg, rows, H, net->Wo, w->yg,
										w->samples, w->S, scale, grads->Wo, grads->bo,
										w->dhg, w->dwsamp);
		}
		else
		{
			loss = sampled_softmax_forward(w->work, w->wsamp, w->hg, rows, H, net->Wo,
										   net->bo, w->yg, w->logq_y, w->samples, w->S,
										   w->logq_s);
			if (grads)
				sampled_softmax_backward(w->work, w->wsamp, w->hg, rows, H, net->Wo, w->yg,
										 w->samples, w->S, scale, grads->Wo, grads->bo,
										 w->dhg, w->dwsamp);
		}
		for (int r = 0; r < rows && w->track; r++)
			row_add(w->out_rows, &w->n_out_rows, w->out_mark, w->row_stamp, w->yg[r]);
		for (int j = 0; j < w->S && w->track; j++)
			row_add(w->out_rows, &w->n_out_rows, w->out_mark, w->row_stamp, w->samples[j]);
	}
	else
	{
		loss = softmax_xent_forward(w->probs, w->hg, rows, H, V, net->Wo, net->bo, w->yg);
		if (w->py)
			batch_note_probs(w, d, V, t0, t1);
		if (grads)
			softmax_xent_backward(w->probs, w->hg, rows, H, V, net->Wo, w->yg, scale,
								  grads->Wo, grads->bo, w->dhg);
	}
	if (!grads)
		return loss;
	if (w->mask_h)
		dropout_backward(w->dhg, w->mask_h, (size_t) rows * H);
	rows = 0;
	for (int t = t0; t < t1; t++)
	{
		memcpy(w->dh[net->L - 1] + (size_t) t * B * H, w->dhg + (size_t) rows * H,
			   sizeof(float) * w->nact[t] * H);
		rows += w->nact[t];
	}
	return loss;
}

/* Backward through the recurrent layers, the embedding dropout and the embedding. */
static void
batch_backward(LstmNet *net, LstmNet *grads, LstmWork *w, int T, int bptt)
{
	int			B = w->B;
	int			E = net->E;
	int			H = net->H;

	for (int l = net->L - 1; l >= 0; l--)
	{
		int			I = l == 0 ? E : H;

		CHECK_FOR_INTERRUPTS();
		rnn_backward((NnCell) net->cell, &w->acts[l], w->dh[l], w->nact, T, B, I, H,
					 net->W[l], grads->W[l], grads->b[l], l == 0 ? w->dx0 : w->dh[l - 1],
					 bptt, w->scratch);
	}
	for (int t = 0; t < T && w->mask_x; t++)
		dropout_backward(w->dx0 + (size_t) t * B * E, w->mask_x + (size_t) t * B * E,
						 (size_t) w->nact[t] * E);
	for (int t = 0; t < T; t++)
	{
		embedding_backward(grads->emb, w->dx0 + (size_t) t * B * E, w->x + (size_t) t * B,
						   w->nact[t], E);
		for (int r = 0; r < w->nact[t] && w->track; r++)
			row_add(w->emb_rows, &w->n_emb_rows, w->emb_mark, w->row_stamp,
					w->x[(size_t) t * B + r]);
	}
}

double
lstm_batch_run(LstmNet *net, LstmNet *grads, LstmWork *w, const LstmData *d, int T,
			   int64 ntargets, EcmlRng *rng, bool use_sampled, int bptt)
{
	int			B = w->B;
	int			H = net->H;
	float		scale = (float) (1.0 / (double) ntargets);
	double		loss = 0.0;

	batch_forward(net, grads != NULL, w, T, rng);
	/* output layer over chunks of steps: rows gathered, scored, scattered back */
	for (int t0 = 0, t1; t0 < T; t0 = t1)
	{
		int			rows = 0;

		CHECK_FOR_INTERRUPTS();
		for (t1 = t0; t1 < T && (t1 == t0 || rows + w->nact[t1] <= w->R); t1++)
		{
			int			a = w->nact[t1];

			memcpy(w->hg + (size_t) rows * H,
				   w->acts[net->L - 1].h + (size_t) (t1 + 1) * B * H, sizeof(float) * a * H);
			memcpy(w->yg + rows, w->y + (size_t) t1 * B, sizeof(int32) * a);
			rows += a;
		}
		loss += batch_output(net, grads, w, d, t0, t1, rows, rng, use_sampled, scale);
	}
	if (grads)
		batch_backward(net, grads, w, T, bptt);
	return loss;
}

/*
 * One mini-batch of the sequences seqs[0..n): forward, and when grads is
 * not NULL backward into grads (mean loss over the batch's targets).
 * Returns the summed cross-entropy; *ntargets gets the target count.
 */
double
lstm_batch(LstmNet *net, LstmNet *grads, LstmWork *w, const LstmData *d,
		   const int64 *seqs, int n, EcmlRng *rng, bool use_sampled,
		   int bptt, int64 *ntargets)
{
	int			T = batch_gather(w, d, seqs, n, ntargets);

	return lstm_batch_run(net, grads, w, d, T, *ntargets, rng, use_sampled, bptt);
}

/* Mean cross-entropy (full softmax) over the sequences seqs[0..n). */
double
lstm_eval(LstmNet *net, LstmWork *w, const LstmData *d, const int64 *seqs, int64 n)
{
	double		loss = 0.0;
	int64		targets = 0;

	for (int64 i = 0; i < n; i += w->B)
	{
		int64		nt;

		loss += lstm_batch(net, NULL, w, d, seqs + i, (int) Min(w->B, n - i), NULL,
						   false, 0, &nt);
		targets += nt;
	}
	return targets > 0 ? loss / targets : 0.0;
}

/*
 * The weights a = (repeat, base, successors) and v (neighbours) maximising
 * sum_i log((1 - v_i) (a_0 r_i + a_1 q_i + a_2 s_i) + v_i k_i), v_i = v
 * where target i has neighbours (k_i >= 0) and 0 elsewhere, by EM
 * (Dempster, Laird & Rubin 1977: v <- the neighbours' mean responsibility
 * over the targets that have them, a_j <- component j's responsibility
 * over that of the three); r, s or k NULL leaves that component out
 * (weight 0).  r has stride `stride`.  Returns the log-likelihood.
 */
static double
lstm_mixture_em(const double *r, int stride, const double *q, const double *s, const double *k,
				int64 N, double a[3], double *v)
{
	double		ll = 0.0;
	int			parts = 1 + (r != NULL) + (s != NULL);
	int64		nk = 0;

	a[0] = r ? 1.0 / parts : 0.0;
	a[2] = s ? 1.0 / parts : 0.0;
	for (int64 i = 0; k && i < N; i++)
		nk += k[i] >= 0.0;
	*v = nk > 0 ? 0.1 : 0.0;
	for (int it = 0; it < 200; it++)
	{
		/* responsibilities: repeat, successors, neighbours, the three */
		double		resp[4] = {0.0, 0.0, 0.0, 0.0};
		double		change;

		CHECK_FOR_INTERRUPTS();
		a[1] = 1.0 - a[0] - a[2];
		for (int64 i = 0; i < N; i++)
		{
			bool		has = nk > 0 && k[i] >= 0.0;
			double		w = has ? 1.0 - *v : 1.0;
			double		c0 = r ? w * a[0] * r[i * stride] : 0.0;
			double		c2 = s ? w * a[2] * s[i] : 0.0;
			double		c3 = c0 + w * a[1] * q[i] + c2;
			double		ck = has ? *v * k[i] : 0.0;

			if (c3 + ck > 0.0)
			{
				resp[0] += c0 / (c3 + ck);
				resp[1] += c2 / (c3 + ck);
				resp[2] += ck / (c3 + ck);
				resp[3] += c3 / (c3 + ck);
			}
		}
		if (resp[3] <= 0.0)
			break;
		change = Max(Max(fabs(resp[0] / resp[3] - a[0]), fabs(resp[1] / resp[3] - a[2])),
					 nk > 0 ? fabs(resp[2] / nk - *v) : 0.0);
		a[0] = resp[0] / resp[3];
		a[2] = resp[1] / resp[3];
		*v = nk > 0 ? resp[2] / nk : 0.0;
		if (change < 1e-7)
			break;
	}
	a[1] = 1.0 - a[0] - a[2];
	for (int64 i = 0; i < N; i++)
	{
		bool		has = nk > 0 && k[i] >= 0.0;
		double		p3 = (r ? a[0] * r[i * stride] : 0.0) + a[1] * q[i] + (s ? a[2] * s[i] : 0.0);

		ll += log((has ? (1.0 - *v) * p3 + *v * k[i] : p3) + 1e-30);
	}
	return ll;
}

void
lstm_repeat_prepare(LstmWork *w, int V)
{
	w->py = palloc(sizeof(float) * (size_t) w->T * w->B);
	w->pseen = palloc(sizeof(float) * (size_t) w->T * w->B);
	w->mark = palloc0(sizeof(int32) * V);
	w->stamp = 0;
}

int64
lstm_repeat_cap(int V, int H)
{
	return (int64) Min(200000.0, Max(1000.0, 2e10 / ((double) V * H)));
}

int64
lstm_repeat_targets(LstmNet *net, LstmWork *w, const LstmData *d, const int64 *seqs, int n,
					const LstmSuccessors *succ, const LstmNeighbours *knn,
					LstmKnnWork *kw, LstmRepeatTarget *out, int64 room)
{
	static const double decays[] = LSTM_REPEAT_DECAYS;
	int64		N = 0;
	int64		nt;
	int			T;

	StaticAssertStmt(lengthof(decays) == LSTM_REPEAT_NDECAYS, "LSTM_REPEAT_NDECAYS");
	lstm_batch(net, NULL, w, d, seqs, n, NULL, false, 0, &nt);
	/* rows sorted longest first: the first sets the batch's steps */
	T = (int) (d->off[w->rows[0] + 1] - d->off[w->rows[0]]) - 1;
	for (int t = 0; t < T; t++)
		for (int r = 0; r < w->nact[t] && N < room; r++)
		{
			const int32 *tok = d->tok + d->off[w->rows[r]];
			LstmRepeatTarget *x = out + N++;
			bool		seen = false;

			for (int j = 0; j <= t && !seen; j++)
				seen = tok[j] == tok[t + 1];
			x->ps = w->py[t * w->B + r];
			/* the explore mode's probability of the target (0 if seen) */
			x->pe = seen ? 0.0 : x->ps / Max(1.0 - w->pseen[t * w->B + r], 1e-12);
			for (int k = 0; k < LSTM_REPEAT_NDECAYS; k++)
				x->rv[k] = lstm_repeat_prob(tok, t + 1, tok[t + 1], decays[k]);
			x->pk = knn ? lstm_neighbours_prob(knn, tok, t + 1, tok[t + 1], kw) : -1.0;
			x->sbt = x->sut = 0.0;
			if (succ == NULL)
				continue;
			x->sbt = lstm_successor_counts(succ, tok[t], tok[t + 1], NULL, 0, &x->sbn);
			++w->stamp;
			for (int j = 0; j <= t; j++)
				w->mark[tok[j]] = w->stamp;
			x->sut = lstm_successor_counts(succ, tok[t], tok[t + 1], w->mark, w->stamp, &x->sun);
		}
	return N;
}

/*
 * Each target's probabilities under the base distribution of each mode
 * (q: softmax, then explore) and the repeat mode's per decay (rv).
 */
static void
lstm_mixture_inputs(const LstmRepeatTarget *x, int64 N, double *q, double *rv, double *kv)
{
	for (int64 i = 0; i < N; i++)
	{
		q[i] = x[i].ps;
		q[N + i] = x[i].pe;
		memcpy(rv + i * LSTM_REPEAT_NDECAYS, x[i].rv, sizeof(x[i].rv));
		kv[i] = x[i].pk;
	}
}

/*
 * Each target's probability under the successors smoothed by `smooth`
 * towards the base, as lstm_successors_mix scores (the base where the last
 * token has no successor left), for the three ways of mixing them (sv):
 * over the softmax; in explore mode over the successors not in the
 * sequence; in explore mode over all of them (a seen target then has
 * successor mass only).
 */
static void
lstm_successor_inputs(const LstmRepeatTarget *x, int64 N, const double *q, double smooth,
					  double *sv)
{
	for (int64 i = 0; i < N; i++)
	{
		sv[i] = x[i].sbt > 0.0 ? (x[i].sbn + smooth * q[i]) / (x[i].sbt + smooth) : q[i];
		sv[N + i] = x[i].sut > 0.0 ? (x[i].sun + smooth * q[N + i]) / (x[i].sut + smooth)
								   : q[N + i];
		sv[2 * N + i] = x[i].sbt > 0.0 ? (x[i].sbn + smooth * q[N + i]) / (x[i].sbt + smooth)
									   : q[N + i];
	}
}

/*
 * Modes: 0 the softmax, 1 explore, 2 explore with successors that may be
 * seen.  The explore modes exist only with the repeat mechanism, the last
 * only with successors.
 */
static int
lstm_mixture_modes(bool repeat, bool successors)
{
	return repeat ? (successors ? 3 : 2) : 1;
}

void
lstm_repeat_select(const LstmRepeatTarget *x, int64 N, bool repeat, double succ_unit,
				   float rep[3], float succ_params[3], float *knn_weight)
{
	static const double decays[] = LSTM_REPEAT_DECAYS;
	static const double smooths[] = LSTM_SUCC_SMOOTHS;
	Size		n = Max(N, 1);
	double	   *q = palloc_extended(sizeof(double) * n * 2, MCXT_ALLOC_HUGE);
	bool		successors = succ_unit > 0.0;
	double	   *sv = successors ? palloc_extended(sizeof(double) * n * 3, MCXT_ALLOC_HUGE) : NULL;
	double	   *rv = palloc_extended(sizeof(double) * n * LSTM_REPEAT_NDECAYS, MCXT_ALLOC_HUGE);
	double	   *kv = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
	double		best_ll = -INFINITY;

	lstm_mixture_inputs(x, N, q, rv, kv);
	*knn_weight = 0.0f;
	rep[0] = 0.0f;
	rep[1] = 1.0f;
	rep[2] = 0.0f;
	succ_params[0] = succ_params[1] = succ_params[2] = 0.0f;
	for (int h = 0; h < (successors ? (int) lengthof(smooths) : 1) && N > 0; h++)
	{
		if (sv)
			lstm_successor_inputs(x, N, q, smooths[h] * succ_unit, sv);
		for (int mode = 0; mode < lstm_mixture_modes(repeat, successors); mode++)
			for (int k = 0; k < (repeat ? LSTM_REPEAT_NDECAYS : 1); k++)
			{
				const double *r = repeat ? rv + k : NULL;
				const double *s = sv ? sv + mode * N : NULL;
				double		a[3];
				double		v;
				double		ll;

				ll = lstm_mixture_em(r, LSTM_REPEAT_NDECAYS, q + Min(mode, 1) * N, s, kv, N, a, &v);
				if (ll <= best_ll)
					continue;
				best_ll = ll;
				rep[0] = (float) a[0];
				rep[1] = repeat ? (float) decays[k] : 1.0f;
				rep[2] = (float) Min(mode, 1);
				succ_params[0] = a[0] < 1.0 ? (float) Min(Max(a[2] / (1.0 - a[0]), 0.0), 1.0) : 0.0f;
				succ_params[1] = (float) (smooths[h] * succ_unit);
				succ_params[2] = mode == 2 ? 1.0f : 0.0f;
				/* a weight this small changes no ranking: the model keeps no sessions */
				*knn_weight = v >= LSTM_KNN_MIN_WEIGHT ? (float) Min(v, 1.0) : 0.0f;
			}
	}
	pfree(kv);
	pfree(q);
	if (sv)
		pfree(sv);
	pfree(rv);
}

/*
 * Fit the repeat mechanism (lstm_repeat.c, when repeat) and the successor
 * weight (lstm_successors.c, when succ is not NULL) by maximum likelihood
 * over the next-token predictions of the sequences seqs[0..n): for each
 * mode (explore or softmax) and decay in LSTM_REPEAT_DECAYS the weights by
 * EM (with the neighbours' weight when knn is not NULL), then those of
 * the best likelihood.  At most lstm_repeat_cap
 * targets are used (the softmax pass is the cost).  rep: weight, decay,
 * mode.
 */
void
lstm_fit_repeat(LstmNet *net, LstmWork *w, const LstmData *d, const int64 *seqs, int64 n,
				const LstmSuccessors *succ, const LstmNeighbours *knn, bool repeat,
				float rep[3], float succ_params[3], float *knn_weight)
{
	int64		cap = lstm_repeat_cap(net->V, net->H);
	size_t		room = cap + (size_t) w->T * w->B;
	LstmRepeatTarget *x = palloc_extended(sizeof(LstmRepeatTarget) * room, MCXT_ALLOC_HUGE);
	int64		N = 0;
	LstmKnnWork kw;

	if (knn)
		lstm_neighbours_work_init(&kw, knn);
	lstm_repeat_prepare(w, net->V);
	for (int64 i = 0; i < n && N < cap; i += w->B)
		N += lstm_repeat_targets(net, w, d, seqs + i, (int) Min(w->B, n - i), succ, knn,
								 knn ? &kw : NULL, x + N, room - N);
	w->py = NULL;
	lstm_repeat_select(x, N, repeat, succ ? succ->unit : 0.0, rep, succ_params, knn_weight);
	pfree(x);
}

/* json number that is valid JSON even when not finite */
void
lstm_append_loss(StringInfo buf, double x)
{
	if (isfinite(x))
		appendStringInfo(buf, "%.6g", x);
	else
		appendStringInfoString(buf, "null");
}

/* Adam's beta1, beta2 and eps, as PyTorch's defaults */
#define ADAM_HYPER 0.9f, 0.999f, 1e-8f

/* decoupled weight decay (AdamW): the weights' factor per step */
static inline float
decay_keep(const LstmOptions *o)
{
	return (float) (1.0 - o->learning_rate * o->weight_decay);
}

/*
 * Tied embeddings: the output layer's gradient joins the embedding's (the
 * one matrix's gradient is the sum of its two uses), in full or on the
 * output rows of a sparse step, which then become embedding rows too.
 * W_o's own Adam step sees a zero gradient and is overwritten by
 * tie_weights after the step.
 */
static void
tie_grads(LstmNet *net, LstmNet *grads, LstmWork *w, bool sparse)
{
	size_t		H = net->H;

	if (!sparse)
	{
		for (size_t i = 0; i < (size_t) net->V * H; i++)
			grads->emb[i] += grads->Wo[i];
		memset(grads->Wo, 0, sizeof(float) * net->V * H);
		return;
	}
	for (int r = 0; r < w->n_out_rows; r++)
	{
		int32		c = w->out_rows[r];

		for (size_t j = 0; j < H; j++)
			grads->emb[c * H + j] += grads->Wo[c * H + j];
		memset(grads->Wo + c * H, 0, sizeof(float) * H);
		row_add(w->emb_rows, &w->n_emb_rows, w->emb_mark, w->row_stamp, c);
	}
}

/* tied: W_o takes the embedding's rows (rows NULL: all of them) */
static void
tie_weights(LstmNet *net, const int32 *rows, int n)
{
	size_t		H = net->H;

	if (rows == NULL)
		memcpy(net->Wo, net->emb, sizeof(float) * net->V * H);
	for (int r = 0; rows && r < n; r++)
		memcpy(net->Wo + rows[r] * H, net->emb + rows[r] * H, sizeof(float) * H);
}

/*
 * Adam on some rows of the embedding (emb_last given) or of the output
 * layer's weights and bias (out_last given), then the rows' stamps.
 */
static void
sparse_rows_update(LstmNet *net, LstmNet *grads, float *m, float *v, const int32 *rows,
				   int n, int32 *emb_last, int32 *out_last, float lr, float keep, int t)
{
	if (emb_last)
	{
		size_t		off = net->emb - net->params;

		adam_update_rows(net->emb, grads->emb, m + off, v + off, net->E, rows, n, emb_last,
						 lr, keep, ADAM_HYPER, t);
	}
	else
	{
		size_t		wo = net->Wo - net->params;
		size_t		bo = net->bo - net->params;

		adam_update_rows(net->Wo, grads->Wo, m + wo, v + wo, net->H, rows, n, out_last,
						 lr, keep, ADAM_HYPER, t);
		adam_update_rows(net->bo, grads->bo, m + bo, v + bo, 1, rows, n, out_last,
						 lr, keep, ADAM_HYPER, t);
	}
	for (int r = 0; r < n; r++)
		(emb_last ? emb_last : out_last)[rows[r]] = t;
}

/*
 * After sampled-softmax steps, before the weights are read (validation,
 * the model, a pass's checkpoint): every embedding and output row brought
 * to step t, the steps it sat out taken as adam_update_rows takes them.
 */
void
lstm_sparse_catch_up(LstmNet *net, float *m, float *v, LstmWork *w, const LstmOptions *o,
					 int t)
{
	size_t		emb = net->emb - net->params;
	size_t		wo = net->Wo - net->params;
	size_t		bo = net->bo - net->params;
	float		lr = (float) o->learning_rate;
	float		keep = decay_keep(o);

	if (!w->sampled || t <= 0)
		return;
	adam_catch_up(net->emb, m + emb, v + emb, net->E, net->V, w->emb_last, lr, keep,
				  ADAM_HYPER, t);
	adam_catch_up(net->Wo, m + wo, v + wo, net->H, net->V, w->out_last, lr, keep,
				  ADAM_HYPER, t);
	adam_catch_up(net->bo, m + bo, v + bo, 1, net->V, w->out_last, lr, keep,
				  ADAM_HYPER, t);
	for (int c = 0; c < net->V; c++)
		w->emb_last[c] = w->out_last[c] = t;
	if (net->tied)
		tie_weights(net, NULL, 0);
}

/*
 * The optimiser's step after a sampled-softmax batch: the layers' weights
 * in full, but of the embedding and the output layer only the rows the
 * batch touched (w's lists), whose gradients are the only nonzero ones
 * there: the norm and the clipping are the same as in full on them, and
 * each row first catches up with the steps it sat out (adam_update_rows),
 * so that the weights follow dense Adam.  In full, the V-row matrices made
 * 85% of a step's time at V = 40,000 (test/bench/RESULTS.md).  The rows'
 * gradients are zeroed again at the next step's start.
 */
static void
sparse_update(LstmNet *net, LstmNet *grads, float *m, float *v, LstmWork *w,
			  const LstmOptions *o, int t)
{
	size_t		dense_off = net->W[0] - net->params;
	size_t		ndense = net->Wo - net->W[0];
	double		norm;
	float		lr = (float) o->learning_rate;
	float		keep = decay_keep(o);

	norm = sqrt(nn_sum_squares(grads->W[0], ndense) +
				nn_sum_squares_rows(grads->emb, net->E, w->emb_rows, w->n_emb_rows) +
				nn_sum_squares_rows(grads->Wo, net->H, w->out_rows, w->n_out_rows) +
				nn_sum_squares_rows(grads->bo, 1, w->out_rows, w->n_out_rows));
	if (o->clip_norm > 0 && norm > o->clip_norm)
	{
		float		c = (float) (o->clip_norm / (norm + 1e-6));

		nn_scale(grads->W[0], ndense, c);
		nn_scale_rows(grads->emb, net->E, w->emb_rows, w->n_emb_rows, c);
		nn_scale_rows(grads->Wo, net->H, w->out_rows, w->n_out_rows, c);
		nn_scale_rows(grads->bo, 1, w->out_rows, w->n_out_rows, c);
	}
	if (o->weight_decay > 0)
		nn_scale(net->W[0], ndense, keep);
	adam_update(net->W[0], grads->W[0], m + dense_off, v + dense_off, ndense,
				lr, ADAM_HYPER, t);
	sparse_rows_update(net, grads, m, v, w->emb_rows, w->n_emb_rows, w->emb_last, NULL,
					   lr, keep, t);
	sparse_rows_update(net, grads, m, v, w->out_rows, w->n_out_rows, NULL, w->out_last,
					   lr, keep, t);
}

/* zero grads for a sparse step: the rows the last one listed, or all once */
static void
sparse_zero(LstmNet *net, LstmNet *grads, LstmWork *w)
{
	if (!w->grads_clean)
		memset(grads->params, 0, sizeof(float) * lstm_param_count(net->V, net->E, net->H, net->L, net->cell));
	else
	{
		memset(grads->W[0], 0, sizeof(float) * (grads->Wo - grads->W[0]));
		nn_zero_rows(grads->emb, net->E, w->emb_rows, w->n_emb_rows);
		nn_zero_rows(grads->Wo, net->H, w->out_rows, w->n_out_rows);
		nn_zero_rows(grads->bo, 1, w->out_rows, w->n_out_rows);
	}
	w->grads_clean = true;
	rows_reset(w, net->V);
}

void
lstm_grads_begin(LstmNet *net, LstmNet *grads, LstmWork *w, bool sampled)
{
	CHECK_FOR_INTERRUPTS();
	if (sampled)
	{
		sparse_zero(net, grads, w);
		w->track = true;
		return;
	}
	memset(grads->params, 0, sizeof(float) * lstm_param_count(net->V, net->E, net->H, net->L, net->cell));
	w->grads_clean = false;
}

void
lstm_grads_apply(LstmNet *net, LstmNet *grads, float *m, float *v, int *step, LstmWork *w,
				 bool sampled, const LstmOptions *o)
{
	size_t		P = lstm_param_count(net->V, net->E, net->H, net->L, net->cell);
	double		norm;

	if (sampled)
	{
		w->track = false;
		if (net->tied)
			tie_grads(net, grads, w, true);
		sparse_update(net, grads, m, v, w, o, ++*step);
		if (net->tied)
			tie_weights(net, w->emb_rows, w->n_emb_rows);
		return;
	}
	if (net->tied)
		tie_grads(net, grads, w, false);
	norm = sqrt(nn_sum_squares(grads->params, P));
	if (o->clip_norm > 0 && norm > o->clip_norm)
		nn_scale(grads->params, P, (float) (o->clip_norm / (norm + 1e-6)));
	/* decoupled weight decay, AdamW (Loshchilov & Hutter, ICLR 2019) */
	if (o->weight_decay > 0)
		nn_scale(net->params, P, decay_keep(o));
	adam_update(net->params, grads->params, m, v, P,
				(float) o->learning_rate, ADAM_HYPER, ++*step);
	if (net->tied)
		tie_weights(net, NULL, 0);
}

double
lstm_sgd_step(LstmNet *net, LstmNet *grads, float *m, float *v, int *step,
			  LstmWork *w, const LstmData *d, const int64 *seqs, int n,
			  EcmlRng *rng, bool sampled, const LstmOptions *o, int64 *ntargets)
{
	double		loss;

	lstm_grads_begin(net, grads, w, sampled);
	loss = lstm_batch(net, grads, w, d, seqs, n, rng, sampled, o->bptt, ntargets);
	lstm_grads_apply(net, grads, m, v, step, w, sampled, o);
	return loss;
}

/*
 * "output_bias": "auto" starts from the prior with the sampled softmax: on
 * the catalogues above softmax_threshold measured (test/bench/RESULTS.md)
 * it was as good or better, where a rare item's bias learns only when the
 * item is drawn; with the full softmax it stopped MovieLens early.
 */
bool
lstm_prior_bias(const LstmOptions *o, bool sampled)
{
	return o->output_bias == LSTM_OUTPUT_BIAS_PRIOR ||
		   (o->output_bias == LSTM_OUTPUT_BIAS_AUTO && sampled);
}

/* the metrics section: how the training went */
static void
lstm_metrics_json(StringInfo json, const LstmOptions *o, const LstmFitReport *r)
{
	appendStringInfo(json,
					 "{\"epochs_run\": %d, \"best_epoch\": %d, \"stopped_early\": %s, "
					 "\"train_sequences\": " INT64_FORMAT ", \"validation_sequences\": " INT64_FORMAT
					 ", \"sequences_too_short\": " INT64_FORMAT ", \"null_sequences\": " INT64_FORMAT
					 ", \"tokens\": " INT64_FORMAT ", \"unknown_tokens\": " INT64_FORMAT
					 ", \"train_loss\": ",
					 r->epochs_run, r->best_epoch, r->stopped_early ? "true" : "false", r->ntrain,
					 r->nval, r->nshort, r->nnull, r->ntokens, r->nunknown);
	lstm_append_loss(json, r->train_loss);
	appendStringInfoString(json, ", \"validation_loss\": ");
	lstm_append_loss(json, r->nval > 0 ? r->val_loss : NAN);
	if (o->repeat == LSTM_REPEAT_AUTO)
		appendStringInfo(json, ", \"repeat_weight\": %.6g, \"repeat_decay\": %.6g"
							   ", \"repeat_mode\": \"%s\"",
						 r->repeat[0], r->repeat[1], r->repeat[2] == 1.0f ? "explore" : "softmax");
	if (r->succ)
		appendStringInfo(json, ", \"successor_weight\": %.6g, \"successor_smoothing\": %.6g"
							   ", \"successor_seen\": %s, \"successor_pairs\": %d",
						 r->succ_params[0], r->succ_params[1] / r->succ->unit,
						 r->succ_params[2] == 1.0f ? "true" : "false", r->succ->nnz);
	if (r->knn)
		appendStringInfo(json, ", \"neighbour_weight\": %.6g, \"neighbour_sessions\": %d",
						 r->knn_weight, r->knn_weight > 0.0f ? r->knn->nsess : 0);
	if (r->extra)
		appendStringInfoString(json, r->extra);
	appendStringInfo(json, ", \"history\": [%s]}", r->history);
}

bytea *
lstm_write_model(const LstmOptions *o, int token_type, const LstmVocab *vocab,
				 const LstmNet *net, const LstmFitReport *r, int64 rows_seen,
				 int64 rows_skipped)
{
	EcmlModelBuilder b;
	StringInfoData json;
	int32		shape[6];
	size_t		P = lstm_param_count(net->V, net->E, net->H, net->L, net->cell);

	ecml_builder_init(&b, ECML_KIND_LSTM);
	initStringInfo(&json);
	ecml_options_to_json(&json, lstm_option_specs, N_LSTM_OPTIONS, o);
	ecml_builder_add_json(&b, ECML_TAG_HYPERPARAMS, json.data);

	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"token_type\": \"%s\", \"vocabulary\": %d, \"embedding_dim\": %d, "
					 "\"hidden_size\": %d, \"layers\": %d, \"cell\": \"%s\", \"parameters\": %zu, "
					 "\"softmax\": \"%s\", \"max_length\": %d}",
					 token_type == LSTM_TOKENS_TEXT ? "text" : "bigint", net->V,
					 o->embedding_dim, o->hidden_size, o->layers, cell_choices[net->cell], P,
					 r->sampled ? "sampled" : "full", o->max_length);
	ecml_builder_add_json(&b, ECML_TAG_INFO, json.data);

	resetStringInfo(&json);
	lstm_metrics_json(&json, o, r);
	ecml_builder_add_json(&b, ECML_TAG_METRICS, json.data);

	shape[0] = token_type;
	shape[1] = net->V;
	shape[2] = o->embedding_dim;
	shape[3] = o->hidden_size;
	shape[4] = o->layers;
	shape[5] = o->max_length;
	ecml_builder_add(&b, LSTM_TAG_SHAPE, ECML_SECTION_INT32, shape, sizeof(shape));
	if (token_type == LSTM_TOKENS_TEXT)
		ecml_builder_add_texts(&b, LSTM_TAG_VOCAB, vocab->strs, vocab->n);
	else
		ecml_builder_add(&b, LSTM_TAG_VOCAB, ECML_SECTION_INT64, vocab->ids,
						 sizeof(int64) * vocab->n);
	ecml_builder_add(&b, LSTM_TAG_WEIGHTS, ECML_SECTION_FLOAT32, net->params, sizeof(float) * P);
	/* LSTM models have no cell section, as before it existed */
	if (net->cell != NN_CELL_LSTM)
		ecml_builder_add(&b, LSTM_TAG_CELL, ECML_SECTION_INT32, &net->cell, sizeof(int32));
	if (o->repeat == LSTM_REPEAT_AUTO)
		ecml_builder_add(&b, LSTM_TAG_REPEAT, ECML_SECTION_FLOAT32, r->repeat,
						 sizeof(r->repeat));
	if (r->succ)
		lstm_successors_write(&b, r->succ, r->succ_params);
	if (r->knn && r->knn_weight > 0.0f)
		lstm_neighbours_write(&b, r->knn, r->knn_weight);
	return ecml_builder_finish(&b, rows_seen, rows_skipped);
}
