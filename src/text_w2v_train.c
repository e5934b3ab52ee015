/*
 * text_w2v_train.c
 *	  ecml.word2vec_train(tokens text[] [, options]): word vectors by
 *	  skip-gram or CBOW with negative sampling (Mikolov et al. 2013), with
 *	  frequent-word subsampling and a linearly decaying learning rate, and
 *	  optionally character n-gram subwords (Bojanowski et al. 2017, the
 *	  fastText model) so that unseen and misspelt words get vectors.
 *
 *	  The aggregate buffers the documents (text_rows.c); the final function
 *	  builds the vocabulary, trains in one thread with one seeded generator
 *	  (the same rows in the same order give a byte-identical model), and
 *	  stores the word vectors, the n-gram rows that were trained, and the
 *	  common component of the training documents' SIF embeddings.
 */
#include "postgres.h"

#include <limits.h>

#include <math.h>

#include "arrays.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "text.h"
#include "text_w2v.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "vecops.h"

#define TRAINER "word2vec_train"

static const char *const method_choices[] = {"skipgram", "cbow", NULL};

static const EcmlOptionSpec w2v_option_specs[] = {
	{"method", ECML_OPT_CHOICE, offsetof(W2vOptions, method), 0, 0, false, method_choices},
	{"dim", ECML_OPT_INT, offsetof(W2vOptions, dim), 1, WV_DIM_MAX},
	{"window", ECML_OPT_INT, offsetof(W2vOptions, window), 1, WV_WINDOW_MAX},
	{"negative", ECML_OPT_INT, offsetof(W2vOptions, negative), 1, WV_NEGATIVE_MAX},
	{"epochs", ECML_OPT_INT, offsetof(W2vOptions, epochs), 1, WV_EPOCHS_MAX},
	{"min_count", ECML_OPT_INT, offsetof(W2vOptions, min_count), 1, INT_MAX},
	{"max_vocab", ECML_OPT_INT, offsetof(W2vOptions, max_vocab), 1, WV_MAX_VOCAB_MAX},
	{"sample", ECML_OPT_REAL, offsetof(W2vOptions, sample), 0, 1},
	{"learning_rate", ECML_OPT_REAL, offsetof(W2vOptions, learning_rate), 0, 10, true},
	{"minn", ECML_OPT_INT, offsetof(W2vOptions, minn), 1, WV_NGRAM_MAX},
	{"maxn", ECML_OPT_INT, offsetof(W2vOptions, maxn), 0, WV_NGRAM_MAX},
	{"buckets", ECML_OPT_INT, offsetof(W2vOptions, buckets), 1, WV_BUCKETS_MAX},
	{"sif_a", ECML_OPT_REAL, offsetof(W2vOptions, sif_a), 0, 1, true},
	{"seed", ECML_OPT_INT64, offsetof(W2vOptions, seed), 0, (double) PG_INT64_MAX},
};

#define N_W2V_OPTIONS lengthof(w2v_option_specs)

void
w2v_parse_options(Jsonb *opts, W2vOptions *o, const char *trainer)
{
	o->method = W2V_SKIPGRAM;
	o->dim = WV_DIM_DEFAULT;
	o->window = WV_WINDOW_DEFAULT;
	o->negative = WV_NEGATIVE_DEFAULT;
	o->epochs = WV_EPOCHS_DEFAULT;
	o->min_count = WV_MIN_COUNT_DEFAULT;
	o->max_vocab = WV_MAX_VOCAB_DEFAULT;
	o->sample = WV_SAMPLE_DEFAULT;
	o->learning_rate = WV_LR_DEFAULT;
	o->minn = WV_MINN_DEFAULT;
	o->maxn = WV_MAXN_DEFAULT;
	o->buckets = WV_BUCKETS_DEFAULT;
	o->sif_a = WV_SIF_A_DEFAULT;
	o->seed = WV_SEED_DEFAULT;
	ecml_parse_options(opts, w2v_option_specs, N_W2V_OPTIONS, o, trainer);
	if (o->maxn > 0 && o->minn > o->maxn)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"minn\" (%d) is larger than \"maxn\" (%d)",
						trainer, o->minn, o->maxn),
				 errhint("Pass minn <= maxn, or maxn 0 for no subwords.")));
}

void
w2v_options_json(StringInfo out, const W2vOptions *o)
{
	ecml_options_to_json(out, w2v_option_specs, N_W2V_OPTIONS, o);
}

/* ---------------- the aggregate ---------------- */

/* transition: buffer one document's tokens */
PG_FUNCTION_INFO_V1(word2vec_train_transfn);
Datum
word2vec_train_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	TextRows   *st;

	aggcxt = ecml_agg_context(fcinfo, "word2vec_train_transfn");
	st = PG_ARGISNULL(0) ? NULL : (TextRows *) PG_GETARG_POINTER(0);
	if (st == NULL)
	{
		W2vOptions	o;

		st = text_rows_new(aggcxt, TRAINER);
		st->options = ecml_options_arg(fcinfo, 2, aggcxt);
		/* a bad option fails before the scan, not after it */
		w2v_parse_options(st->options, &o, TRAINER);
	}
	if (PG_ARGISNULL(1))
		st->nnull++;
	else
		text_rows_append(st, aggcxt, PG_GETARG_ARRAYTYPE_P(1), NULL, 0);
	PG_RETURN_POINTER(st);
}

/* ---------------- vocabulary and corpus ---------------- */

static int
count_order_cmp(const void *a, const void *b, void *arg)
{
	static uint32 calls = 0;
	const TextVocab *v = (const TextVocab *) arg;
	int			ea = *(const int *) a;
	int			eb = *(const int *) b;
	int			c;

	/* millions of words take a while to sort: stay interruptible */
	if ((++calls & 0xFFFF) == 0)
		CHECK_FOR_INTERRUPTS();

	if (v->counts[ea] != v->counts[eb])
		return v->counts[ea] > v->counts[eb] ? -1 : 1;
	c = memcmp(v->strs[ea], v->strs[eb], Min(v->lens[ea], v->lens[eb]));
	if (c != 0)
		return c;
	return v->lens[ea] - v->lens[eb];
}

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return x < y ? -1 : x > y;
}

/*
 * Count the words, keep those seen min_count times (at most max_vocab, the
 * most frequent), and map the documents to their indices (dropped words
 * are removed, as word2vec does).
 */
static void
w2v_build_vocab(const TextRows *st, const W2vOptions *o, W2vData *d)
{
	TextVocab	all;
	TextRowsCursor cur;
	int		   *order;
	int		   *remap;
	int			V = 0;
	int64		k = 0;
	Size		vocab_bytes = 0;
	TextDocKey *order_keys;

	text_vocab_init(&all, 1024);
	text_rows_cursor(st, &cur);
	for (int64 doc = 0; doc < st->ndocs; doc++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int t = 0; t < st->ntok[doc]; t++)
		{
			int			len;
			const char *s = text_rows_token(&cur, &len);
			int			e = text_vocab_find(&all, s, len);

			if (e < 0)
			{
				e = text_vocab_add(&all, s, len);
				vocab_bytes += len + 1 + 2 * sizeof(int32) + sizeof(int64) + sizeof(char *);
				if ((all.n & 4095) == 0)
					ecml_check_train_memory(st->cap + vocab_bytes, TRAINER);
			}
			all.counts[e]++;
		}
	}

	order = palloc_extended(sizeof(int) * Max(all.n, 1), MCXT_ALLOC_HUGE);
	for (int e = 0; e < all.n; e++)
		order[e] = e;
	qsort_arg(order, all.n, sizeof(int), count_order_cmp, &all);
	remap = palloc_extended(sizeof(int) * Max(all.n, 1), MCXT_ALLOC_HUGE);
	for (int e = 0; e < all.n; e++)
		remap[e] = -1;
	for (int i = 0; i < all.n && V < o->max_vocab; i++)
		if (all.counts[order[i]] >= o->min_count)
			remap[order[i]] = V++;
	if (V == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no word occurs at least min_count (%d) times", TRAINER,
						o->min_count),
				 errdetail("The documents hold " INT64_FORMAT " tokens of %d distinct words.",
						   st->ntokens, all.n),
				 errhint("Lower min_count, or train on more documents.")));
	d->V = V;
	d->words = palloc_extended(sizeof(char *) * V, MCXT_ALLOC_HUGE);
	d->counts = palloc_extended(sizeof(int64) * V, MCXT_ALLOC_HUGE);
	for (int e = 0; e < all.n; e++)
		if (remap[e] >= 0)
		{
			d->words[remap[e]] = all.strs[e];
			d->counts[remap[e]] = all.counts[e];
		}
	d->words_dropped = all.n - V;

	ecml_check_train_memory(st->cap + vocab_bytes + sizeof(int32) * st->ntokens, TRAINER);
	d->ndocs = st->ndocs;
	d->doc_off = palloc_extended(sizeof(int64) * (st->ndocs + 1), MCXT_ALLOC_HUGE);
	d->ids = palloc_extended(sizeof(int32) * Max(st->ntokens, 1), MCXT_ALLOC_HUGE);
	d->tokens_dropped = 0;
	order_keys = text_rows_order(st, (uint64) o->seed);
	text_rows_cursor(st, &cur);
	for (int64 doc = 0; doc < st->ndocs; doc++)
	{
		CHECK_FOR_INTERRUPTS();
		cur.off = order_keys[doc].off;
		d->doc_off[doc] = k;
		while (cur.off < order_keys[doc].off + order_keys[doc].len)
		{
			int			len;
			const char *s = text_rows_token(&cur, &len);
			int			w = remap[text_vocab_find(&all, s, len)];

			if (w >= 0)
				d->ids[k++] = w;
			else
				d->tokens_dropped++;
		}
	}
	d->doc_off[st->ndocs] = k;
	d->ntrain = k;
}

/*
 * Each word's input rows: its own, then (subwords) the rows of its
 * character n-grams.  Only buckets some word uses get a row, so the model
 * stores the n-grams that were trained and nothing else.
 */
void
w2v_build_subwords(const W2vOptions *o, W2vData *d)
{
	int64		total = 0;
	int32	   *all;
	int64		k = 0;
	int			n = 0;

	d->in_off = palloc_extended(sizeof(int64) * (d->V + 1), MCXT_ALLOC_HUGE);
	for (int w = 0; w < d->V; w++)
		total += o->maxn > 0 ? text_ngram_count(d->words[w], strlen(d->words[w]), o->minn, o->maxn) : 0;
	ecml_check_train_memory(sizeof(int32) * (Size) (2 * total + d->V), TRAINER);
	all = palloc_extended(sizeof(int32) * Max(total, 1), MCXT_ALLOC_HUGE);
	d->in_rows = palloc_extended(sizeof(int32) * (total + d->V), MCXT_ALLOC_HUGE);
	for (int w = 0; w < d->V && o->maxn > 0; w++)
	{
		CHECK_FOR_INTERRUPTS();
		k += text_word_ngrams(d->words[w], strlen(d->words[w]), o->minn, o->maxn,
							  o->buckets, all + k);
	}
	/* the distinct buckets, ascending */
	if (k > 0)
	{
		pg_qsort(all, k, sizeof(int32), int32_cmp);
		for (int64 i = 0; i < k; i++)
			if (n == 0 || all[i] != all[n - 1])
				all[n++] = all[i];
	}
	d->nngrams = n;
	d->ngram_ids = all;

	k = 0;
	for (int w = 0; w < d->V; w++)
	{
		int			m;

		CHECK_FOR_INTERRUPTS();
		d->in_off[w] = k;
		d->in_rows[k++] = w;
		if (o->maxn <= 0)
			continue;
		m = text_word_ngrams(d->words[w], strlen(d->words[w]), o->minn, o->maxn,
							 o->buckets, d->in_rows + k);
		for (int i = 0; i < m; i++)
		{
			int32	   *hit = bsearch(&d->in_rows[k + i], d->ngram_ids, n,
									  sizeof(int32), int32_cmp);

			d->in_rows[k + i] = d->V + (int32) (hit - d->ngram_ids);
		}
		k += m;
	}
	d->in_off[d->V] = k;
}

/* ---------------- training ---------------- */

static inline uint64
w2v_rand(W2vNet *net)
{
	/* the linear congruential generator of word2vec.c, seeded per model */
	net->rnd = net->rnd * UINT64CONST(25214903917) + 11;
	return net->rnd >> 16;
}

/* initial input rows uniform in [-0.5, 0.5) / dim, output rows zero */
void
w2v_init_weights(W2vNet *net, const W2vOptions *o, Size nrows)
{
	int			dim = o->dim;
	EcmlRng		rng;

	ecml_rng_seed(&rng, (uint64) o->seed);
	net->rnd = ecml_rng_next(&rng);
	for (Size r = 0; r < nrows * dim; r++)
		net->in[r] = (float) ((ecml_rng_uniform(&rng) - 0.5) / dim);
}

void
w2v_init_tables(W2vNet *net, const W2vOptions *o, const int64 *counts, int V, int64 ntrain)
{
	double		z = 0.0;
	double		acc = 0.0;
	double		thresh = o->sample * (double) ntrain;

	net->dim = o->dim;
	net->V = V;

	/*
	 * Negatives are drawn from the unigram distribution to the 3/4 power by
	 * a binary search of its cumulative table, as gensim does: V entries stay
	 * in cache, where word2vec.c's 1e8-slot table costs a cache miss a draw.
	 */
	net->cum = palloc_extended(sizeof(uint32) * V, MCXT_ALLOC_HUGE);
	for (int w = 0; w < V; w++)
		z += pow((double) counts[w], 0.75);
	for (int w = 0; w < V; w++)
	{
		acc += pow((double) counts[w], 0.75) / z;
		net->cum[w] = (uint32) Min(NEG_DOMAIN, rint(acc * NEG_DOMAIN));
	}
	net->cum[V - 1] = (uint32) NEG_DOMAIN;

	/* Mikolov et al. 2013's subsampling, in word2vec.c's form */
	net->keep = palloc_extended(sizeof(float) * V, MCXT_ALLOC_HUGE);
	for (int w = 0; w < V; w++)
	{
		double		f = (double) counts[w];

		net->keep[w] = o->sample > 0 ?
			(float) Min(1.0, (sqrt(f / thresh) + 1) * thresh / f) : 1.0f;
	}
	for (int t = 0; t <= SIGMOID_TABLE; t++)
	{
		double		x = ((double) t / SIGMOID_TABLE * 2 - 1) * SIGMOID_MAX;

		net->sigmoid[t] = (float) (1.0 / (1.0 + exp(-x)));
		net->logsig[t] = (float) log(1.0 / (1.0 + exp(-x)));
	}
}

static void
w2v_init_net(W2vNet *net, const W2vOptions *o, const W2vData *d)
{
	Size nrows = (Size) d->V + d->nngrams;

	ecml_check_train_memory(sizeof(float) * (nrows + d->V) * o->dim +
								sizeof(int32) * (d->V + d->ntrain),
							TRAINER);
	net->in = palloc_extended(sizeof(float) * nrows * o->dim, MCXT_ALLOC_HUGE);
	net->out = palloc_extended(sizeof(float) * (Size) d->V * o->dim, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	w2v_init_weights(net, o, nrows);
	w2v_init_tables(net, o, d->counts, d->V, d->ntrain);
}

/* the first word whose cumulative weight exceeds a uniform draw */
static inline int
w2v_negative_word(W2vNet *net)
{
	/* a draw in [0, NEG_DOMAIN) by multiply-shift, not a 64-bit modulo */
	uint32		x = (uint32) (((w2v_rand(net) & 0xFFFFFFFF) * (uint64) NEG_DOMAIN) >> 32);
	return ecml_upper_bound_uint32(net->cum, 0, net->V - 1, x);
}

/*
 * One negative-sampling step (Mikolov et al. 2013, eq. 4): raise
 * sigma(h . out[target]) and lower it for `negative` words drawn from the
 * table; grad (dim) accumulates the step for the input rows, out is
 * updated in place.
 */
static inline void
w2v_negative_step(W2vNet *net, const float *h, float *grad, int target,
				  int negative, float lr)
{
	int			dim = net->dim;

	for (int s = 0; s <= negative; s++)
	{
		int			word;
		float		label;
		float		f;
		float		g;
		float	   *o;
		int			idx;

		if (s == 0)
		{
			word = target;
			label = 1.0f;
		}
		else
		{
			word = w2v_negative_word(net);
			if (word == target)
				continue;
			label = 0.0f;
		}
		o = net->out + (Size) word * dim;
		f = ecml_dot_inline(h, o, dim);
		if (f >= SIGMOID_MAX)
			idx = SIGMOID_TABLE;
		else if (f <= -SIGMOID_MAX)
			idx = 0;
		else
			idx = (int) ((f + SIGMOID_MAX) * (SIGMOID_TABLE / SIGMOID_MAX / 2));
		/* -log sigma(f) for the target, -log sigma(-f) for a negative */
		net->loss -= label > 0 ? net->logsig[idx] : net->logsig[SIGMOID_TABLE - idx];
		g = (label - net->sigmoid[idx]) * lr;
		/* grad first: it takes the output row before its update */
		ecml_axpy_inline(grad, g, o, dim);
		ecml_axpy_inline(o, g, h, dim);
	}
	net->nloss++;
}

/* h (dim) = the average of rows (n) of the input matrix */
static inline void
w2v_hidden(const W2vNet *net, const int32 *rows, int64 n, float *h)
{
	int			dim = net->dim;
	float		inv = 1.0f / (float) n;

	memset(h, 0, sizeof(float) * dim);
	for (int64 r = 0; r < n; r++)
		ecml_axpy_inline(h, 1.0f, net->in + (Size) rows[r] * dim, dim);
	for (int i = 0; i < dim; i++)
		h[i] *= inv;
}

static inline void
w2v_apply(W2vNet *net, const int32 *rows, int64 n, const float *grad)
{
	int			dim = net->dim;

	for (int64 r = 0; r < n; r++)
		ecml_axpy_inline(net->in + (Size) rows[r] * dim, 1.0f, grad, dim);
}

/* skip-gram over one sentence: each word predicts its neighbours */
TEXT_CLONES static void
w2v_skipgram(W2vNet *net, const W2vData *d, const W2vOptions *o,
			 const int32 *sen, int n, float lr, float *h, float *grad)
{
	int			dim = net->dim;

	for (int pos = 0; pos < n; pos++)
	{
		int			w = sen[pos];
		int			b = (int) (w2v_rand(net) % o->window);
		const int32 *rows = d->in_rows + d->in_off[w];
		int64		nrows = d->in_off[w + 1] - d->in_off[w];

		for (int c = pos - o->window + b; c <= pos + o->window - b; c++)
		{
			if (c < 0 || c >= n || c == pos)
				continue;
			memset(grad, 0, sizeof(float) * dim);
			if (nrows == 1)
			{
				/* word2vec proper: the word's own row is the hidden layer */
				w2v_negative_step(net, net->in + (Size) w * dim, grad, sen[c],
								  o->negative, lr);
			}
			else
			{
				w2v_hidden(net, rows, nrows, h);
				w2v_negative_step(net, h, grad, sen[c], o->negative, lr);
			}
			w2v_apply(net, rows, nrows, grad);
		}
	}
}

/* CBOW over one sentence: the average of the neighbours predicts each word */
TEXT_CLONES static void
w2v_cbow(W2vNet *net, const W2vData *d, const W2vOptions *o,
		 const int32 *sen, int n, float lr, float *h, float *grad, int32 *ctx)
{
	int			dim = net->dim;

	for (int pos = 0; pos < n; pos++)
	{
		int			b = (int) (w2v_rand(net) % o->window);
		int64		m = 0;

		for (int c = pos - o->window + b; c <= pos + o->window - b; c++)
		{
			int			w;

			if (c < 0 || c >= n || c == pos)
				continue;
			w = sen[c];
			memcpy(ctx + m, d->in_rows + d->in_off[w],
				   sizeof(int32) * (d->in_off[w + 1] - d->in_off[w]));
			m += d->in_off[w + 1] - d->in_off[w];
		}
		if (m == 0)
			continue;
		w2v_hidden(net, ctx, m, h);
		memset(grad, 0, sizeof(float) * dim);
		w2v_negative_step(net, h, grad, sen[pos], o->negative, lr);
		w2v_apply(net, ctx, m, grad);
	}
}

void
w2v_scratch_init(W2vScratch *s, const W2vOptions *o, const W2vData *d, int maxlen)
{
	int64		maxrows = 1;

	for (int w = 0; w < d->V; w++)
		maxrows = Max(maxrows, d->in_off[w + 1] - d->in_off[w]);
	s->maxlen = Max(maxlen, 1);
	s->sen = palloc_extended(sizeof(int32) * s->maxlen, MCXT_ALLOC_HUGE);
	s->ctx = palloc_extended(sizeof(int32) * maxrows * 2 * o->window, MCXT_ALLOC_HUGE);
	s->h = palloc(sizeof(float) * o->dim);
	s->grad = palloc(sizeof(float) * o->dim);
}

void
w2v_train_doc(W2vNet *net, const W2vData *d, const W2vOptions *o,
			  const int32 *ids, int n, float lr, W2vScratch *s)
{
	int			m = 0;

	if (n > s->maxlen)
	{
		pfree(s->sen);
		s->maxlen = n;
		s->sen = palloc_extended(sizeof(int32) * n, MCXT_ALLOC_HUGE);
	}
	for (int t = 0; t < n; t++)
	{
		int32		w = ids[t];

		if (net->keep[w] < 1.0f &&
			net->keep[w] < (float) (w2v_rand(net) & 0xFFFF) / 65536.0f)
			continue;
		s->sen[m++] = w;
	}
	if (o->method == W2V_SKIPGRAM)
		w2v_skipgram(net, d, o, s->sen, m, lr, s->h, s->grad);
	else
		w2v_cbow(net, d, o, s->sen, m, lr, s->h, s->grad, s->ctx);
}

static double
w2v_train(W2vNet *net, const W2vData *d, const W2vOptions *o, StringInfo history)
{
	int			maxlen = 0;
	W2vScratch	scratch;
	double		total = (double) o->epochs * d->ntrain + 1;
	int64		done = 0;
	float		lr = (float) o->learning_rate;
	float		min_lr = (float) (o->learning_rate * 1e-4);
	TimestampTz start = GetCurrentTimestamp();

	for (int64 doc = 0; doc < d->ndocs; doc++)
		maxlen = Max(maxlen, (int) (d->doc_off[doc + 1] - d->doc_off[doc]));
	w2v_scratch_init(&scratch, o, d, maxlen);

	for (int epoch = 1; epoch <= o->epochs; epoch++)
	{
		net->loss = 0.0;
		net->nloss = 0;
		for (int64 doc = 0; doc < d->ndocs; doc++)
		{
			CHECK_FOR_INTERRUPTS();
			/* linear decay to 1e-4 of the start, as word2vec.c */
			done += d->doc_off[doc + 1] - d->doc_off[doc];
			lr = (float) (o->learning_rate * (1.0 - done / total));
			if (lr < min_lr)
				lr = min_lr;
			w2v_train_doc(net, d, o, d->ids + d->doc_off[doc],
						  (int) (d->doc_off[doc + 1] - d->doc_off[doc]), lr, &scratch);
		}
		appendStringInfo(history, "%s%.6f", epoch > 1 ? ", " : "",
						 net->nloss > 0 ? net->loss / net->nloss : 0.0);
		ecml_progress_notice("%s: epoch %d/%d, loss %.4f, %.1f s", TRAINER, epoch,
							 o->epochs, net->nloss > 0 ? net->loss / net->nloss : 0.0,
							 ecml_elapsed_seconds(start));
	}
	return ecml_elapsed_seconds(start);
}

/* ---------------- the model ---------------- */

/* each word's vector: the average of its input rows (fastText) */
float *
w2v_word_vectors(const W2vNet *net, const W2vData *d)
{
	float	   *vec = palloc_extended(sizeof(float) * (Size) d->V * net->dim, MCXT_ALLOC_HUGE);

	for (int w = 0; w < d->V; w++)
	{
		CHECK_FOR_INTERRUPTS();
		w2v_hidden(net, d->in_rows + d->in_off[w], d->in_off[w + 1] - d->in_off[w],
				   vec + (Size) w * net->dim);
	}
	return vec;
}

/* the common component of the training documents' SIF embeddings */
static void
w2v_common_component(const W2vData *d, const float *vec, int dim, double a, float *u)
{
	float	   *emb = palloc_extended(sizeof(float) * (Size) Max(d->ndocs, 1) * dim,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	double		total = 0.0;

	for (int w = 0; w < d->V; w++)
		total += (double) d->counts[w];
	for (int64 doc = 0; doc < d->ndocs; doc++)
	{
		float	   *e = emb + (Size) doc * dim;
		int64		n = d->doc_off[doc + 1] - d->doc_off[doc];

		CHECK_FOR_INTERRUPTS();
		for (int64 t = d->doc_off[doc]; t < d->doc_off[doc + 1]; t++)
		{
			int			w = d->ids[t];
			float		wt = (float) (a / (a + d->counts[w] / total));
			const float *v = vec + (Size) w * dim;

			for (int i = 0; i < dim; i++)
				e[i] += wt * v[i];
		}
		if (n > 0)
			for (int i = 0; i < dim; i++)
				e[i] /= (float) n;
	}
	text_first_component(emb, d->ndocs, dim, u);
	pfree(emb);
}

PG_FUNCTION_INFO_V1(word2vec_train_finalfn);
Datum
word2vec_train_finalfn(PG_FUNCTION_ARGS)
{
	TextRows   *st = PG_ARGISNULL(0) ? NULL : (TextRows *) PG_GETARG_POINTER(0);
	W2vOptions	o;
	W2vData		d;
	W2vNet		net;
	float	   *vec;
	float	   *common;
	StringInfoData history;
	StringInfoData hyper;
	StringInfoData metrics;

	if (st == NULL || st->ndocs == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no documents with tokens", TRAINER),
				 errdetail("Rows seen: " INT64_FORMAT "; skipped: " INT64_FORMAT " NULL, " INT64_FORMAT " without tokens.",
						   st ? st->nnull + st->nempty : 0,
						   st ? st->nnull : 0, st ? st->nempty : 0),
				 errhint("Pass one row per document, its tokens from ecml.tokenize().")));
	w2v_parse_options(st->options, &o, TRAINER);
	memset(&d, 0, sizeof(d));
	memset(&net, 0, sizeof(net));
	w2v_build_vocab(st, &o, &d);
	w2v_build_subwords(&o, &d);
	w2v_init_net(&net, &o, &d);

	initStringInfo(&history);
	/* no time in the model: the same rows and options give the same bytes */
	(void) w2v_train(&net, &d, &o, &history);

	vec = w2v_word_vectors(&net, &d);
	common = palloc(sizeof(float) * o.dim);
	w2v_common_component(&d, vec, o.dim, o.sif_a, common);

	initStringInfo(&hyper);
	w2v_options_json(&hyper, &o);
	initStringInfo(&metrics);
	appendStringInfo(&metrics,
					 "{\"documents\": " INT64_FORMAT ", \"null_documents\": " INT64_FORMAT
					 ", \"empty_documents\": " INT64_FORMAT ", \"tokens\": " INT64_FORMAT
					 ", \"tokens_dropped\": " INT64_FORMAT ", \"words_dropped\": " INT64_FORMAT
					 ", \"loss\": [%s]}",
					 st->ndocs, st->nnull, st->nempty, st->ntokens, d.tokens_dropped,
					 d.words_dropped, history.data);
	PG_RETURN_BYTEA_P(word_vectors_build(d.words, d.V, o.dim, d.counts, vec,
										 o.maxn > 0 ? o.minn : 0, o.maxn,
										 o.maxn > 0 ? o.buckets : 0, d.ngram_ids,
										 d.nngrams, net.in + (Size) d.V * o.dim,
										 o.sif_a, common, hyper.data, metrics.data,
										 st->ndocs + st->nnull + st->nempty,
										 st->nnull + st->nempty));
}
