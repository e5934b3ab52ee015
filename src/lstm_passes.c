/*
 * lstm_passes.c
 *	  ecml.train('lstm', source, options): the LSTM trained in passes over
 *	  the source, by model averaging (local SGD), with the epoch pass
 *	  ecml.lstm_pass.
 *
 * The vocabulary comes from one pass of ecml.lstm_vocab_pass
 * (lstm_vocab_sketch.c).  Then each epoch is one pass (or passes_per_epoch
 * passes, each over a hash slice of the rows) whose state is a checkpoint:
 * the weights, the Adam moments and a shuffle buffer of up to 16
 * mini-batches of sequences.  The transition function buffers its rows and,
 * whenever the buffer is full, draws a mini-batch from it at random and
 * takes the same step as ecml.lstm_train (lstm_sgd_step, lstm_fit.c) on the
 * state's weights, in place.  So every partition (a parallel worker's rows,
 * a Citus shard) trains from the same weights on its own rows, and the
 * combine function averages two partial states' weights and moments
 * weighted by the sequences each trained on (McMahan et al. 2017,
 * "federated averaging"; Lin et al. 2020, "local SGD").  A serial plan is
 * one partition: mini-batch Adam over the rows, shuffled within the buffer
 * by a generator seeded per epoch.  After the epochs one more pass collects
 * the held-out sequences' next-token probabilities at the end of the
 * checkpoint, from which the repeat mechanism is fitted as ecml.lstm_train
 * fits it (lstm_repeat_select).
 *
 * What differs from ecml.lstm_train: the shuffle is within the buffer, not
 * over all rows (on a table of at most 16 mini-batches per partition it is
 * a full shuffle); the sequences a partition still buffers when its scan
 * ends are trained on where the partial states are combined (the leader,
 * the coordinator); the validation split is by a hash of each sequence
 * (the same share, another draw), scored by an evaluation pass after each
 * epoch.  Measured on MovieLens in test/bench/RESULTS.md.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "arrays.h"
#include "blas.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "ecml.h"
#include "executor/spi.h"
#include "lstm_fit.h"
#include "lstm_passes.h"
#include "miscadmin.h"
#include "nn.h"
#include "parser/parse_coerce.h"
#include "train.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#define PASS_TRAINER "ecml.train(lstm)"
#define PASS_AGG "ecml.lstm_pass"
#define LSTM_PASS_MAGIC 0x4c535450	/* "LSTP" */

/* What a pass does with its rows. */
#define PASS_EVALUATE 0			/* score the validation sequences */
#define PASS_TRAIN 1			/* train on the others */
#define PASS_REPEAT 2			/* collect the repeat mechanism's targets */

/*
 * The shuffle buffer of a training pass: at most this many bytes of
 * buffered tokens, and between 1 and 16 mini-batches of sequences.  Each
 * mini-batch is drawn at random from the buffer, so the batches differ
 * from epoch to epoch although the scan order does not.
 */
#define PASS_SHUFFLE_BYTES (4 * 1024 * 1024)
#define PASS_SHUFFLE_BATCHES 16
/* lstm_repeat_cap's largest value */
#define LSTM_PASS_REPEAT_CAP_MAX 200000
#define LSTM_PASSES_PER_EPOCH_MAX 1000

/*
 * The checkpoint and the pass state: this header, then the parameters, the
 * two Adam moments (float[P] each), the token counts by vocabulary index
 * (int64[V], the sampled softmax's proposal), the step each embedding row
 * and each output row was last brought to (int32[2 * V], the sampled
 * softmax's sparse Adam, lstm_fit.c), the buffered sequences'
 * lengths (int32[nslots]) and tokens (int32[nslots * max_length], one slot
 * of max_length per sequence) and last the repeat targets
 * (LstmRepeatTarget[repcap]), so that a checkpoint grows by appending them.
 */
typedef struct LstmPassState
{
	int32		vl_len_;
	int32		magic;
	int32		token_type;
	int32		V;
	int32		E;
	int32		H;
	int32		L;
	int32		max_length;
	int32		batch_size;
	int32		mode;			/* PASS_* */
	int32		step;			/* Adam steps: before the pass, then the most of any partition */
	int32		epoch;
	int32		sampled;
	int32		num_sampled;
	int32		bptt;
	int32		nbuf;			/* sequences buffered */
	int32		nbuftok;		/* their tokens */
	int32		rng_seeded;
	int32		nparts;			/* partial states averaged into this one */
	int32		nslots;			/* the buffer's capacity in sequences (>= batch_size) */
	int32		nslices;		/* a training pass trains on one hash slice of its rows */
	int32		slice;
	int32		repeat_on_val;	/* PASS_REPEAT: on the validation sequences (else the others) */
	int32		cell;			/* NnCell */
	int32		tied;			/* LstmNet.tied */
	int64		repcap;			/* PASS_REPEAT: targets kept at most */
	int64		nrep;			/* targets kept */
	double		learning_rate;
	double		clip_norm;
	double		weight_decay;
	double		dropout;
	double		validation_fraction;
	int64		seed;
	/* this pass's rows */
	int64		nseq;			/* sequences of at least 2 tokens */
	int64		nnull;
	int64		nshort;
	int64		ntokens;
	uint64		checksum;		/* as the vocabulary pass sums it */
	int64		ntrain;			/* sequences trained on */
	int64		nval;			/* validation sequences */
	int64		nunknown;		/* tokens of trained or scored sequences out of the vocabulary */
	int64		train_targets;
	int64		val_targets;
	double		train_loss;		/* sums over targets */
	double		val_loss;
	EcmlRng		rng;			/* dropout and sampled softmax draws */
} LstmPassState;

typedef struct PassLayout
{
	size_t		P;
	float	   *params;
	float	   *adam_m;
	float	   *adam_v;
	int64	   *counts;
	int32	   *last;			/* (2V) embedding rows, then output rows */
	int32	   *buflen;
	int32	   *buftok;
	LstmRepeatTarget *rep;
} PassLayout;

static size_t
pass_nparams(const LstmPassState *s)
{
	return lstm_param_count(s->V, s->E, s->H, s->L, s->cell);
}

static Size
pass_size(const LstmPassState *s)
{
	Size P = pass_nparams(s);

	return MAXALIGN(sizeof(LstmPassState)) + MAXALIGN(sizeof(float) * P * 3) +
		   sizeof(int64) * (Size) s->V + MAXALIGN(sizeof(int32) * 2 * (Size) s->V) +
		   MAXALIGN(sizeof(int32) * (Size) s->nslots) +
		   MAXALIGN(sizeof(int32) * (Size) s->nslots * s->max_length) +
		   sizeof(LstmRepeatTarget) * (Size) s->repcap;
}

static void
pass_layout(const LstmPassState *s, PassLayout *l)
{
	char *p = (char *) s + MAXALIGN(sizeof(LstmPassState));

	l->P = pass_nparams(s);
	l->params = (float *) p;
	l->adam_m = l->params + l->P;
	l->adam_v = l->adam_m + l->P;
	p += MAXALIGN(sizeof(float) * l->P * 3);
	l->counts = (int64 *) p;
	l->last = (int32 *) (l->counts + s->V);
	l->buflen = (int32 *) ((char *) l->last + MAXALIGN(sizeof(int32) * 2 * (Size) s->V));
	l->buftok = (int32 *) ((char *) l->buflen + MAXALIGN(sizeof(int32) * (Size) s->nslots));
	l->rep = (LstmRepeatTarget *) ((char *) l->buftok +
								   MAXALIGN(sizeof(int32) * (Size) s->nslots * s->max_length));
}

/* the layout, and the network over the state's weights */
static void
pass_net(const LstmPassState *s, PassLayout *l, LstmNet *net)
{
	pass_layout(s, l);
	net->V = s->V;
	net->E = s->E;
	net->H = s->H;
	net->L = s->L;
	net->cell = s->cell;
	net->tied = s->tied != 0;
	lstm_net_layout(net, l->params);
}

#define pass_corrupt(what) ecml_pass_state_invalid(PASS_AGG, "lstm", (what))

/* the header's sizes, then the total size; the buffer's contents */
static void
pass_check(const LstmPassState *s)
{
	PassLayout	l;
	int64		tok = 0;

	if (VARSIZE_ANY(s) < sizeof(LstmPassState) || s->magic != LSTM_PASS_MAGIC ||
		(s->token_type != LSTM_TOKENS_BIGINT && s->token_type != LSTM_TOKENS_TEXT) ||
		s->V < 2 || s->V > LSTM_MAX_VOCAB_MAX || s->E < 1 || s->E > LSTM_DIM_MAX ||
		s->H < 1 || s->H > LSTM_DIM_MAX || s->L < 1 || s->L > LSTM_LAYERS_MAX ||
		(s->cell != NN_CELL_LSTM && s->cell != NN_CELL_GRU) || (s->tied != 0 && s->tied != 1) ||
		(s->tied && s->E != s->H) ||
		s->max_length < 2 || s->max_length > LSTM_MAX_LENGTH_MAX ||
		s->batch_size < 1 || s->batch_size > LSTM_BATCH_SIZE_MAX ||
		(s->mode != PASS_TRAIN && s->mode != PASS_EVALUATE && s->mode != PASS_REPEAT) ||
		s->step < 0 || s->nparts < 0 || s->num_sampled < 1 || s->bptt < 0 ||
		s->nslots < s->batch_size || s->nslots > PASS_SHUFFLE_BATCHES * s->batch_size ||
		s->nbuf < 0 || s->nbuf > s->nslots || s->nslices < 1 || s->slice < 0 ||
		s->slice >= s->nslices || s->repcap < 0 || s->repcap > LSTM_PASS_REPEAT_CAP_MAX ||
		s->nrep < 0 || s->nrep > s->repcap ||
		!(s->learning_rate >= 0) || !(s->clip_norm >= 0) || !(s->weight_decay >= 0) ||
		!(s->dropout >= 0 && s->dropout <= LSTM_DROPOUT_MAX) ||
		!(s->validation_fraction >= 0 && s->validation_fraction <= 0.5) ||
		VARSIZE_ANY(s) != pass_size(s))
		pass_corrupt("checkpoint");
	pass_layout(s, &l);
	for (int i = 0; i < s->nbuf; i++)
	{
		if (l.buflen[i] < 2 || l.buflen[i] > s->max_length)
			pass_corrupt("checkpoint: buffered sequence");
		tok += l.buflen[i];
		for (int j = 0; j < l.buflen[i]; j++)
			if (l.buftok[(Size) i * s->max_length + j] < 0 ||
				l.buftok[(Size) i * s->max_length + j] >= s->V)
				pass_corrupt("checkpoint: buffered token");
	}
	if (tok != s->nbuftok)
		pass_corrupt("checkpoint: buffered tokens");
	for (int i = 0; i < 2 * s->V; i++)
		if (l.last[i] < 0 || l.last[i] > s->step)
			pass_corrupt("checkpoint: sparse Adam steps");
}

/* the options the step reads, from the checkpoint */
static void
pass_options(const LstmPassState *s, LstmOptions *o)
{
	memset(o, 0, sizeof(*o));
	o->embedding_dim = s->E;
	o->hidden_size = s->H;
	o->layers = s->L;
	o->batch_size = s->batch_size;
	o->max_length = s->max_length;
	o->learning_rate = s->learning_rate;
	o->clip_norm = s->clip_norm;
	o->weight_decay = s->weight_decay;
	o->dropout = s->dropout;
	o->bptt = s->bptt;
	o->num_sampled = s->num_sampled;
}

/*
 * Per support function call site (fn_extra): the work buffers of a
 * mini-batch and, for the transition function, the vocabulary.  Kept for
 * the whole aggregation; rebuilt when a group starts.
 */
typedef struct PassCache
{
	MemoryContext mcxt;
	LstmPassState key;			/* the header it was built for */
	LstmNet		grads;
	LstmWork	w;
	LstmData	d;				/* a mini-batch gathered from the buffer */
	int32	   *btok;			/* its tokens (batch_size * max_length) */
	int64	   *seqs;			/* 0 .. batch_size - 1 */
	LstmVocab	vocab;
	bool		has_vocab;
} PassCache;

static PassCache *
pass_cache(FunctionCallInfo fcinfo, const LstmPassState *s, bool fresh)
{
	PassCache  *c = (PassCache *) fcinfo->flinfo->fn_extra;
	MemoryContext old;
	PassLayout	l;

	if (c != NULL && !fresh && c->key.V == s->V && c->key.E == s->E && c->key.H == s->H &&
		c->key.L == s->L && c->key.batch_size == s->batch_size &&
		c->key.max_length == s->max_length && c->key.sampled == s->sampled &&
		c->key.num_sampled == s->num_sampled && c->key.dropout == s->dropout &&
		c->key.token_type == s->token_type && c->key.mode == s->mode)
		return c;
	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(PassCache));
		c->mcxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "ecml.lstm_pass work",
										ALLOCSET_DEFAULT_SIZES);
		fcinfo->flinfo->fn_extra = c;
	}
	MemoryContextReset(c->mcxt);
	c->has_vocab = false;
	memcpy(&c->key, s, sizeof(LstmPassState));
	old = MemoryContextSwitchTo(c->mcxt);
	c->grads.V = s->V;
	c->grads.E = s->E;
	c->grads.H = s->H;
	c->grads.L = s->L;
	c->grads.cell = s->cell;
	c->grads.tied = s->tied != 0;
	/* the state, a copy (a new group, or a partial state's last batch), the work */
	ecml_check_train_memory(ecml_add_size(VARSIZE(s) * 2,
										  ecml_mul_size(lstm_work_floats(&c->grads, s->batch_size,
																		 s->max_length - 1,
																		 s->sampled, s->num_sampled,
																		 s->dropout),
														sizeof(float))),
							PASS_AGG);
	lstm_net_layout(&c->grads, palloc_extended(sizeof(float) * pass_nparams(s), MCXT_ALLOC_HUGE));
	lstm_work_init(&c->w, &c->grads, s->batch_size, s->max_length - 1, s->sampled,
				   s->num_sampled, s->dropout);
	pass_layout(s, &l);
	memset(&c->d, 0, sizeof(c->d));
	c->d.off = palloc(sizeof(int64) * (s->batch_size + 1));
	c->btok = palloc(sizeof(int32) * (Size) s->batch_size * s->max_length);
	if (s->mode == PASS_REPEAT)
		lstm_repeat_prepare(&c->w, s->V);
	c->d.counts = palloc(sizeof(int64) * s->V);
	memcpy(c->d.counts, l.counts, sizeof(int64) * s->V);
	if (s->sampled)
		lstm_proposal(&c->w, &c->d, s->V);
	c->seqs = palloc(sizeof(int64) * s->batch_size);
	for (int i = 0; i < s->batch_size; i++)
		c->seqs[i] = i;
	ecml_blas_prepare();
	MemoryContextSwitchTo(old);
	return c;
}

/*
 * Move n buffered sequences into the cache's mini-batch: at random in a
 * training pass (the shuffle buffer), else the last ones.
 */
static void
pass_gather(LstmPassState *s, PassCache *c, int n)
{
	PassLayout	l;
	int32	   *out = c->btok;

	pass_layout(s, &l);
	c->d.nseq = n;
	c->d.tok = c->btok;
	c->d.off[0] = 0;
	for (int i = 0; i < n; i++)
	{
		int			last = s->nbuf - 1;
		int32	   *slot = l.buftok + (Size) last * s->max_length;

		if (s->mode == PASS_TRAIN)
		{
			int			j = (int) ecml_rng_below(&s->rng, (uint64) s->nbuf);
			int32	   *other = l.buftok + (Size) j * s->max_length;
			int32		len = l.buflen[j];

			/* the drawn sequence to the end: swap slot j with the last */
			for (int k = 0; j != last && k < Max(len, l.buflen[last]); k++)
			{
				int32		tmp = other[k];

				other[k] = slot[k];
				slot[k] = tmp;
			}
			l.buflen[j] = l.buflen[last];
			l.buflen[last] = len;
		}
		memcpy(out, slot, sizeof(int32) * l.buflen[last]);
		out += l.buflen[last];
		c->d.off[i + 1] = c->d.off[i] + l.buflen[last];
		s->nbuftok -= l.buflen[last];
		s->nbuf--;
	}
}

/*
 * Train on (or score, or collect the repeat targets of) n sequences of the
 * buffer.  The generator is seeded by the first sequence a partition
 * trains on (pass_seed), so that partitions draw differently and a serial
 * plan is deterministic.
 */
static void
pass_batch(LstmPassState *s, PassCache *c, int n)
{
	PassLayout	l;
	LstmNet		net;
	LstmOptions o;
	int64		nt;
	double		loss;

	pass_gather(s, c, n);
	pass_net(s, &l, &net);
	if (s->mode == PASS_EVALUATE)
	{
		loss = lstm_batch(&net, NULL, &c->w, &c->d, c->seqs, n, NULL, false, 0, &nt);
		s->val_loss += loss;
		s->val_targets += nt;
	}
	else if (s->mode == PASS_REPEAT)
		s->nrep += lstm_repeat_targets(&net, &c->w, &c->d, c->seqs, n, NULL, NULL, NULL, l.rep + s->nrep,
									   s->repcap - s->nrep);
	else
	{
		int			step = s->step;

		pass_options(s, &o);
		c->w.emb_last = l.last;
		c->w.out_last = l.last + s->V;
		loss = lstm_sgd_step(&net, &c->grads, l.adam_m, l.adam_v, &step, &c->w, &c->d,
							 c->seqs, n, &s->rng, s->sampled, &o, &nt);
		s->step = step;
		s->ntrain += n;
		s->train_loss += loss;
		s->train_targets += nt;
	}
}

/* every buffered sequence, in mini-batches */
static void
pass_drain(LstmPassState *s, PassCache *c)
{
	while (s->nbuf > 0)
	{
		CHECK_FOR_INTERRUPTS();
		pass_batch(s, c, Min(s->nbuf, s->batch_size));
	}
}

/*
 * A training pass's weights as dense Adam has them after s->step steps:
 * with a sampled softmax, the embedding and output rows a partition's
 * steps left behind catch up (before states are averaged or read).
 */
static void
pass_catch_up(LstmPassState *s, PassCache *c)
{
	PassLayout	l;
	LstmNet		net;
	LstmOptions o;

	if (s->mode != PASS_TRAIN || !s->sampled)
		return;
	pass_net(s, &l, &net);
	pass_options(s, &o);
	c->w.emb_last = l.last;
	c->w.out_last = l.last + s->V;
	lstm_sparse_catch_up(&net, l.adam_m, l.adam_v, &c->w, &o, s->step);
}

/* a partition's generator, from the seed, the epoch, the slice and its first sequence */
static void
pass_seed(LstmPassState *s, uint64 h)
{
	if (s->rng_seeded)
		return;
	ecml_rng_seed(&s->rng, (uint64) s->seed ^ ((uint64) s->epoch << 32) ^
							   ((uint64) s->slice << 48) ^ h);
	s->rng_seeded = 1;
}

/* is this sequence in this training pass's slice? (another draw each epoch) */
static bool
pass_in_slice(const LstmPassState *s, uint64 h)
{
	uint64		x;

	if (s->nslices == 1)
		return true;
	x = hash_bytes_extended((const unsigned char *) &h, sizeof(h),
							(uint64) s->seed ^ ((uint64) s->epoch * 0x9e3779b97f4a7c15ULL));
	return (int) (x % (uint64) s->nslices) == s->slice;
}

/* is this sequence held out for validation? (by its hash, the same each pass) */
static bool
pass_is_validation(const LstmPassState *s, uint64 h)
{
	uint64		x = hash_bytes_extended((const unsigned char *) &h, sizeof(h), (uint64) s->seed);

	return (double) (x >> 11) * (1.0 / 9007199254740992.0) < s->validation_fraction;
}

/* the vocabulary argument, in vocabulary order (index 1 first) */
static void
pass_build_vocab(PassCache *c, const LstmPassState *s, ArrayType *arr)
{
	MemoryContext old;
	LstmSeqTokens t;
	ArrayType  *copy;

	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) ||
		ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) != s->V - 1 ||
		ARR_ELEMTYPE(arr) != (s->token_type == LSTM_TOKENS_TEXT ? TEXTOID : INT8OID))
		pass_corrupt("vocabulary: not the checkpoint's");
	old = MemoryContextSwitchTo(c->mcxt);
	copy = (ArrayType *) palloc(VARSIZE(arr));
	memcpy(copy, arr, VARSIZE(arr));
	/* no cut (a vocabulary of one token is "too short" but read alike) */
	(void) lstm_seq_tokens(copy, INT_MAX, &t);
	lstm_vocab_init(&c->vocab, s->token_type, s->V - 1);
	for (int i = 0; i < s->V - 1; i++)
	{
		int64		id;
		const char *str;
		int			len;

		lstm_seq_token(&t, i, &id, &str, &len);
		if (lstm_vocab_add(&c->vocab, id, str, len) != i)
			pass_corrupt("vocabulary: a token twice");
	}
	c->has_vocab = true;
	MemoryContextSwitchTo(old);
}

/* a new group: the checkpoint copied into the aggregate's memory */
static LstmPassState *
pass_start(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	LstmPassState *in;
	LstmPassState *s;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: vocabulary and checkpoint must not be NULL", PASS_AGG)));
	in = (LstmPassState *) PG_GETARG_BYTEA_P(3);
	pass_check(in);
	s = MemoryContextAllocHuge(aggcxt, VARSIZE(in));
	memcpy(s, in, VARSIZE(in));
	s->nbuf = s->nbuftok = 0;
	s->rng_seeded = 0;
	s->nparts = 1;
	s->nseq = s->nnull = s->nshort = s->ntokens = 0;
	s->checksum = 0;
	s->ntrain = s->nval = s->nunknown = s->train_targets = s->val_targets = 0;
	s->train_loss = s->val_loss = 0.0;
	s->nrep = 0;
	pass_build_vocab(pass_cache(fcinfo, s, true), s, PG_GETARG_ARRAYTYPE_P(2));
	return s;
}

/* the sequence's tokens as vocabulary indices, into the buffer */
static void
pass_buffer(LstmPassState *s, PassCache *c, const LstmSeqTokens *t)
{
	PassLayout	l;
	int32	   *out;

	pass_layout(s, &l);
	out = l.buftok + (Size) s->nbuf * s->max_length;
	for (int i = 0; i < t->n; i++)
	{
		int64		id;
		const char *str;
		int			len;
		int			e;

		lstm_seq_token(t, i, &id, &str, &len);
		e = lstm_vocab_find(&c->vocab, id, str, len);
		out[i] = e < 0 ? LSTM_UNKNOWN : e + 1;
		s->nunknown += e < 0;
	}
	l.buflen[s->nbuf++] = t->n;
	s->nbuftok += t->n;
}

/*
 * ecml.lstm_pass_transfn(state, sequence, vocabulary, checkpoint): count the
 * row, then buffer it if this pass uses it, training (or scoring) each full
 * mini-batch.  The state is changed in place.
 */
PG_FUNCTION_INFO_V1(lstm_pass_transfn);
Datum
lstm_pass_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LstmPassState *s;
	PassCache  *c;
	LstmSeqTokens t;
	uint64		h;
	bool		val;
	bool		agg;

	/* called directly (not as an aggregate): on a copy */
	agg = AggCheckCallContext(fcinfo, &aggcxt);
	if (!agg)
		aggcxt = CurrentMemoryContext;
	if (PG_ARGISNULL(0))
		s = pass_start(fcinfo, aggcxt);
	else
	{
		s = (LstmPassState *) (agg ? PG_GETARG_BYTEA_P(0) : PG_GETARG_BYTEA_P_COPY(0));
		if (!agg)
			pass_check(s);
		else if (s->magic != LSTM_PASS_MAGIC)
			pass_corrupt("state");
	}
	c = pass_cache(fcinfo, s, false);
	if (!c->has_vocab || !agg)
	{
		if (PG_ARGISNULL(2))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s: vocabulary must not be NULL", PASS_AGG)));
		pass_build_vocab(c, s, PG_GETARG_ARRAYTYPE_P(2));
	}
	if (PG_ARGISNULL(1))
	{
		s->nnull++;
		PG_RETURN_BYTEA_P(s);
	}
	if (!lstm_seq_tokens(PG_GETARG_ARRAYTYPE_P(1), s->max_length, &t))
	{
		s->nshort++;
		PG_RETURN_BYTEA_P(s);
	}
	if (t.token_type != s->token_type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: the sequences' token type is not the vocabulary's", PASS_AGG)));
	h = lstm_seq_hash(&t);
	s->nseq++;
	s->ntokens += t.n;
	s->checksum += h;
	val = pass_is_validation(s, h);
	s->nval += val;
	if (s->mode == PASS_REPEAT ? val != (bool) s->repeat_on_val : val != (s->mode == PASS_EVALUATE))
		PG_RETURN_BYTEA_P(s);
	if (s->mode == PASS_TRAIN)
	{
		if (!pass_in_slice(s, h))
			PG_RETURN_BYTEA_P(s);
		pass_seed(s, h);
	}
	else if (s->mode == PASS_REPEAT && s->nrep >= s->repcap)
		PG_RETURN_BYTEA_P(s);
	pass_buffer(s, c, &t);
	if (s->nbuf == (s->mode == PASS_TRAIN ? s->nslots : s->batch_size))
		pass_batch(s, c, s->batch_size);
	PG_RETURN_BYTEA_P(s);
}

/*
 * combine: each side's last partial mini-batch is trained on (or scored)
 * first; then, in a training pass, the weights and the Adam moments are
 * averaged, weighted by the sequences each side trained on.
 */
PG_FUNCTION_INFO_V1(lstm_pass_combinefn);
Datum
lstm_pass_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LstmPassState *s1 = PG_ARGISNULL(0) ? NULL : (LstmPassState *) PG_GETARG_BYTEA_P(0);
	LstmPassState *s2 = PG_ARGISNULL(1) ? NULL : (LstmPassState *) PG_GETARG_BYTEA_P(1);
	PassLayout	l1;
	PassLayout	l2;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
	{
		/* called directly: on a copy */
		aggcxt = CurrentMemoryContext;
		s1 = PG_ARGISNULL(0) ? NULL : (LstmPassState *) PG_GETARG_BYTEA_P_COPY(0);
	}
	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	pass_check(s2);
	if (s1 == NULL)
	{
		s1 = MemoryContextAllocHuge(aggcxt, VARSIZE(s2));
		memcpy(s1, s2, VARSIZE(s2));
		PG_RETURN_BYTEA_P(s1);
	}
	pass_check(s1);
	if (VARSIZE(s1) != VARSIZE(s2) || s1->mode != s2->mode || s1->V != s2->V ||
		s1->token_type != s2->token_type)
		pass_corrupt("partial states: of different checkpoints");
	if (s2->nbuf > 0 || (s2->mode == PASS_TRAIN && s2->sampled))
	{
		LstmPassState *copy = palloc_extended(VARSIZE(s2), MCXT_ALLOC_HUGE);

		memcpy(copy, s2, VARSIZE(s2));
		s2 = copy;
		pass_drain(s2, pass_cache(fcinfo, s2, false));
		pass_catch_up(s2, pass_cache(fcinfo, s2, false));
	}
	pass_drain(s1, pass_cache(fcinfo, s1, false));
	pass_catch_up(s1, pass_cache(fcinfo, s1, false));
	pass_layout(s1, &l1);
	pass_layout(s2, &l2);
	if (s1->mode == PASS_TRAIN && s2->ntrain > 0)
	{
		float		w2 = (float) ((double) s2->ntrain / (double) (s1->ntrain + s2->ntrain));

		for (size_t i = 0; i < l1.P * 3; i++)
		{
			if ((i & 0xfffff) == 0)
				CHECK_FOR_INTERRUPTS();
			l1.params[i] += w2 * (l2.params[i] - l1.params[i]);
		}
		s1->step = Max(s1->step, s2->step);
		for (int i = 0; i < 2 * s1->V; i++)
			l1.last[i] = s1->step;
	}
	if (s1->mode == PASS_REPEAT && s2->nrep > 0)
	{
		int64		n = Min(s2->nrep, s1->repcap - s1->nrep);

		memcpy(l1.rep + s1->nrep, l2.rep, sizeof(LstmRepeatTarget) * n);
		s1->nrep += n;
	}
	s1->nparts += s2->nparts;
	s1->nseq += s2->nseq;
	s1->nnull += s2->nnull;
	s1->nshort += s2->nshort;
	s1->ntokens += s2->ntokens;
	s1->checksum += s2->checksum;
	s1->ntrain += s2->ntrain;
	s1->nval += s2->nval;
	s1->nunknown += s2->nunknown;
	s1->train_targets += s2->train_targets;
	s1->val_targets += s2->val_targets;
	s1->train_loss += s2->train_loss;
	s1->val_loss += s2->val_loss;
	PG_RETURN_BYTEA_P(s1);
}

/* final: the last partial mini-batch, then the checkpoint */
PG_FUNCTION_INFO_V1(lstm_pass_finalfn);
Datum
lstm_pass_finalfn(PG_FUNCTION_ARGS)
{
	LstmPassState *s;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	/* in place in an aggregate (FINALFUNC_MODIFY = READ_WRITE), else on a copy */
	if (AggCheckCallContext(fcinfo, NULL))
		s = (LstmPassState *) PG_GETARG_BYTEA_P(0);
	else
		s = (LstmPassState *) PG_GETARG_BYTEA_P_COPY(0);
	pass_check(s);
	if (s->nbuf > 0)
		pass_drain(s, pass_cache(fcinfo, s, false));
	pass_catch_up(s, pass_cache(fcinfo, s, false));
	PG_RETURN_BYTEA_P(s);
}

/* ---------------- the driver's side ---------------- */

typedef struct LstmPassRun
{
	EcmlTrainDriver *d;
	LstmOptions o;
	const char *cast;			/* "bigint[]" or "text[]" */
	LstmSketch *sketch;
	Datum		vocab_array;
	LstmVocab	vocab;
	int64		nunknown;
	LstmPassState *ck;			/* the current checkpoint */
	int			slices;			/* training passes per epoch */
} LstmPassRun;

/* the driver's copy of a pass's one result */
static void
run_take_result(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Datum	   *out = (Datum *) arg;
	bool		isnull;
	Datum		v = SPI_getbinval(tuple, desc, 1, &isnull);

	*out = isnull ? (Datum) 0 : datumCopy(v, false, -1);
}

static int
entry_order_cmp(const void *a, const void *b, void *arg)
{
	const LstmSketch *s = (const LstmSketch *) arg;
	const LstmSketchEntry *x = (const LstmSketchEntry *) a;
	const LstmSketchEntry *y = (const LstmSketchEntry *) b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (s->token_type == LSTM_TOKENS_TEXT)
	{
		const char *arena = lstm_sketch_arena(s);
		int			c = memcmp(arena + x->key, arena + y->key, Min(x->len, y->len));

		if (c != 0)
			return c;
		return (x->len > y->len) - (x->len < y->len);
	}
	return (x->key > y->key) - (x->key < y->key);
}

/*
 * The vocabulary pass, then the kept tokens as ecml.lstm_train keeps them:
 * at least min_count occurrences, at most max_vocab - 1, most frequent
 * first, ties by token.  Returns their counts by vocabulary index.
 */
static int64 *
run_vocabulary(LstmPassRun *r)
{
	double		pv[2];
	char	   *select;
	Datum		res;
	bool		isnull;
	LstmSketch *s;
	LstmSketchEntry *e;
	int			kept = 0;
	int64	   *counts;
	Datum	   *elems;

	pv[0] = r->o.max_length;
	/* exact up to a million distinct tokens (or four times the vocabulary) */
	pv[1] = Min(Max(4.0 * r->o.max_vocab, 1 << 20), LSTM_SKETCH_CAPACITY_MAX);
	select = psprintf("ecml.lstm_vocab_pass(c1::%s, $1)", r->cast);
	res = ecml_train_pass(r->d, "vocabulary", select, FLOAT8ARRAYOID,
						  PointerGetDatum(ecml_float8_array(pv, 2)), &isnull);
	s = isnull ? NULL : (LstmSketch *) DatumGetByteaP(res);
	if (s)
		lstm_sketch_check(s);
	if (s == NULL || s->nseq == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no training sequences", PASS_TRAINER),
				 errdetail("Sequences seen: " INT64_FORMAT "; skipped: " INT64_FORMAT " NULL, " INT64_FORMAT " shorter than 2 tokens.",
						   s ? s->nnull + s->nshort : 0, s ? s->nnull : 0, s ? s->nshort : 0),
				 errhint("The source must return one row per sequence with at least 2 tokens each, e.g. array_agg(item ORDER BY ts) grouped by session.")));
	r->sketch = s;
	e = lstm_sketch_entries(s);
	qsort_arg(e, s->n, sizeof(LstmSketchEntry), entry_order_cmp, s);
	while (kept < s->n && kept < r->o.max_vocab - 1 && e[kept].count >= r->o.min_count)
		kept++;
	if (kept == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no token occurs at least min_count = %d times", PASS_TRAINER,
						r->o.min_count),
				 errhint("Lower the \"min_count\" option or train on more sequences.")));

	counts = palloc0(sizeof(int64) * (kept + 1));
	elems = palloc(sizeof(Datum) * kept);
	lstm_vocab_init(&r->vocab, s->token_type, kept);
	counts[LSTM_UNKNOWN] = s->ntokens;
	for (int k = 0; k < kept; k++)
	{
		const char *str = lstm_sketch_arena(s) + e[k].key;

		if (s->token_type == LSTM_TOKENS_TEXT)
		{
			lstm_vocab_add(&r->vocab, 0, str, e[k].len);
			elems[k] = PointerGetDatum(cstring_to_text_with_len(str, e[k].len));
		}
		else
		{
			lstm_vocab_add(&r->vocab, e[k].key, NULL, 0);
			elems[k] = Int64GetDatum(e[k].key);
		}
		counts[k + 1] = e[k].count;
		counts[LSTM_UNKNOWN] -= e[k].count;
	}
	/* with a summary the kept counts are low: the unknown count is high by as much */
	r->nunknown = counts[LSTM_UNKNOWN];
	r->vocab_array = PointerGetDatum(s->token_type == LSTM_TOKENS_TEXT
										 ? construct_array(elems, kept, TEXTOID, -1, false, TYPALIGN_INT)
										 : construct_array(elems, kept, INT8OID, 8, FLOAT8PASSBYVAL,
														   TYPALIGN_DOUBLE));
	return counts;
}

/* the first checkpoint: initial weights as ecml.lstm_train draws them */
static LstmPassState *
run_first_checkpoint(LstmPassRun *r, const int64 *counts, bool sampled)
{
	LstmPassState head;
	LstmPassState *ck;
	PassLayout	l;
	LstmNet		net;
	EcmlRng		rng;

	memset(&head, 0, sizeof(head));
	head.magic = LSTM_PASS_MAGIC;
	head.token_type = r->sketch->token_type;
	head.V = r->vocab.n + 1;
	head.E = r->o.embedding_dim;
	head.H = r->o.hidden_size;
	head.L = r->o.layers;
	head.cell = r->o.cell;
	head.tied = r->o.tied;
	head.max_length = r->o.max_length;
	head.batch_size = r->o.batch_size;
	head.mode = PASS_TRAIN;
	head.sampled = sampled;
	head.num_sampled = r->o.num_sampled;
	head.bptt = r->o.bptt;
	head.learning_rate = r->o.learning_rate;
	head.clip_norm = r->o.clip_norm;
	head.weight_decay = r->o.weight_decay;
	head.dropout = r->o.dropout;
	head.validation_fraction = r->o.validation_fraction;
	head.seed = r->o.seed;
	head.nslots = (int32) Min(Max(PASS_SHUFFLE_BYTES / ((Size) sizeof(int32) * head.max_length),
								  (Size) head.batch_size),
							  (Size) PASS_SHUFFLE_BATCHES * head.batch_size);
	head.nslices = r->slices;
	ecml_check_train_memory(ecml_mul_size(pass_size(&head), 3), PASS_TRAINER);
	ck = palloc_extended(pass_size(&head), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	memcpy(ck, &head, sizeof(head));
	SET_VARSIZE(ck, pass_size(&head));
	pass_net(ck, &l, &net);
	ecml_rng_seed(&rng, (uint64) r->o.seed);
	lstm_init_params(&net, &rng);
	if (lstm_prior_bias(&r->o, sampled))
		lstm_init_output_prior(&net, counts);
	memcpy(l.counts, counts, sizeof(int64) * head.V);
	return ck;
}

/* every pass must see the rows the vocabulary pass saw */
static void
run_check_same_source(const LstmPassRun *r, const LstmPassState *s)
{
	const LstmSketch *k = r->sketch;

	if (s->nseq != k->nseq || s->nnull != k->nnull || s->nshort != k->nshort ||
		s->ntokens != k->ntokens || s->checksum != k->checksum)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s: the source returned other rows in pass %d than in pass 1",
						PASS_TRAINER, r->d->passes),
				 errdetail("Pass 1: " INT64_FORMAT " sequences (" INT64_FORMAT " NULL, " INT64_FORMAT
						   " too short), " INT64_FORMAT " tokens; pass %d: " INT64_FORMAT
						   " sequences (" INT64_FORMAT " NULL, " INT64_FORMAT " too short), " INT64_FORMAT " tokens%s.",
						   k->nseq, k->nnull, k->nshort, k->ntokens, r->d->passes, s->nseq,
						   s->nnull, s->nshort, s->ntokens,
						   s->ntokens == k->ntokens ? ", other tokens" : ""),
				 errhint("Every pass reads the caller's snapshot, so only a volatile source (random(), TABLESAMPLE without REPEATABLE, a volatile function) can change; make it deterministic.")));
}

/* one pass over the source from the current checkpoint; returns the new one */
static LstmPassState *
run_pass(LstmPassRun *r, int mode, int epoch, int slice, const char *what)
{
	Oid			types[2];
	Datum		values[2];
	Datum		res = (Datum) 0;
	char	   *sql;
	LstmPassState *s;

	r->ck->mode = mode;
	r->ck->epoch = epoch;
	r->ck->slice = slice;
	types[0] = r->sketch->token_type == LSTM_TOKENS_TEXT ? TEXTARRAYOID : INT8ARRAYOID;
	types[1] = BYTEAOID;
	values[0] = r->vocab_array;
	values[1] = PointerGetDatum(r->ck);
	sql = psprintf("SELECT ecml.lstm_pass(c1::%s, $1, $2) FROM %s", r->cast, r->d->from);
	ecml_train_pass_rows(r->d, what, sql, 2, types, values, run_take_result, &res);
	if (res == (Datum) 0)
		elog(ERROR, "%s: pass %d returned no checkpoint", PASS_TRAINER, r->d->passes);
	s = (LstmPassState *) DatumGetByteaP(res);
	pass_check(s);
	if (s->V != r->ck->V || VARSIZE(s) != VARSIZE(r->ck))
		pass_corrupt("checkpoint from a pass");
	run_check_same_source(r, s);
	pfree(sql);
	return s;
}

/*
 * The "passes_per_epoch" option, ecml.train's own (removed from *options):
 * each epoch trains in that many passes over hash slices of the rows, so
 * that the partitions average their weights as often.
 */
static int
run_take_passes_per_epoch(Jsonb **options)
{
	JsonbValue	v;
	double		k;

	if (*options == NULL ||
		getKeyJsonValueFromContainer(&(*options)->root, "passes_per_epoch", 16, &v) == NULL ||
		v.type == jbvNull)
		return 1;
	k = NAN;
	if (v.type == jbvNumeric)
		k = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
	if (!(k >= 1 && k <= LSTM_PASSES_PER_EPOCH_MAX) || k != floor(k))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"passes_per_epoch\" must be an integer between 1 and %d",
						PASS_TRAINER, LSTM_PASSES_PER_EPOCH_MAX),
				 errhint("Each pass trains on a slice of the rows and averages the partitions' weights; 1 averages once per epoch.")));
	*options = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(*options),
												  CStringGetTextDatum("passes_per_epoch")));
	return (int) k;
}

/*
 * The successor table (lstm_successors.c) and the neighbour sessions
 * (lstm_neighbours.c) are not built in passes: the counts of item pairs
 * and the sessions are not states of bounded size that partitions can
 * merge, and their weights are fitted with the training sequences only,
 * which the hash split of the passes does not give a SQL count.  Asked
 * for by name, "auto" is an error; by default they are off.
 */
static void
run_refuse_auto(Jsonb *options, const char *name, int *field, const char *what)
{
	JsonbValue	v;

	/* both options' "auto" is 0 and "off" 1 */
	StaticAssertStmt(LSTM_SUCCESSORS_AUTO == 0 && LSTM_NEIGHBOURS_AUTO == 0 &&
						 LSTM_SUCCESSORS_OFF == 1 && LSTM_NEIGHBOURS_OFF == 1,
					 "auto and off");
	if (*field == 0 && options != NULL &&
		getKeyJsonValueFromContainer(&options->root, name, strlen(name), &v) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s does not support the option \"%s\": \"auto\"", PASS_TRAINER, name),
				 errdetail("%s built by ecml.lstm_train only.", what),
				 errhint("Train with ecml.lstm_train, or leave out \"%s\" (it is off in ecml.train).",
						 name)));
	*field = 1;
}

/* options that belong to another kind are errors; the source's token type */
static void
run_init(LstmPassRun *r, EcmlTrainDriver *d, Jsonb *options)
{
	Oid			have = d->coltypes[0];
	Oid			want;

	memset(r, 0, sizeof(*r));
	r->d = d;
	r->slices = run_take_passes_per_epoch(&options);
	lstm_parse_options(options, &r->o, PASS_TRAINER);
	run_refuse_auto(options, "successors", &r->o.successors, "The successor table is");
	run_refuse_auto(options, "neighbours", &r->o.neighbours, "The neighbour sessions are");
	if (r->o.loss == LSTM_LOSS_AUTO)
		r->o.loss = LSTM_LOSS_CROSS_ENTROPY;
	if (r->o.loss != LSTM_LOSS_CROSS_ENTROPY)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s does not support the option \"loss\": \"%s\"", PASS_TRAINER,
						r->o.loss == LSTM_LOSS_BPR_MAX ? "bpr_max" : "top1_max"),
				 errdetail("Its passes train with the cross-entropy only."),
				 errhint("Train with ecml.lstm_train, or leave out \"loss\".")));
	if (r->o.batching != LSTM_BATCHING_SEQUENCES)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s does not support the option \"batching\": \"session_parallel\"",
						PASS_TRAINER),
				 errdetail("Its passes train on mini-batches of whole sequences."),
				 errhint("Train with ecml.lstm_train, or leave out \"batching\".")));
	want = INT8ARRAYOID;
	if (can_coerce_type(1, &have, &want, COERCION_IMPLICIT))
		r->cast = "bigint[]";
	else
	{
		want = TEXTARRAYOID;
		if (!can_coerce_type(1, &have, &want, COERCION_IMPLICIT))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("ecml.train: column 1 of the source is of type %s, kind \"lstm\" needs bigint[] or text[]",
							format_type_be(have)),
					 errdetail("The columns, in this order: sequence bigint[] or text[].")));
		r->cast = "text[]";
	}
}

/*
 * The repeat mechanism, fitted as ecml.lstm_train fits it: one pass that
 * collects the next-token probabilities of the held-out sequences (or,
 * without any, the training ones), at most lstm_repeat_cap targets, at the
 * end of the checkpoint; then the same selection.
 */
static void
run_repeat(LstmPassRun *r, LstmFitReport *rep)
{
	LstmPassState head;
	LstmPassState *ck;
	LstmPassState *s;
	PassLayout	l;

	memcpy(&head, r->ck, sizeof(head));
	head.repcap = lstm_repeat_cap(head.V, head.H);
	head.nrep = 0;
	head.repeat_on_val = rep->nval > 0;
	ecml_check_train_memory(ecml_mul_size(pass_size(&head), 3), PASS_TRAINER);
	/* the targets come last: the checkpoint grows by appending them */
	ck = palloc_extended(pass_size(&head), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	memcpy(ck, r->ck, VARSIZE(r->ck));
	memcpy(ck, &head, sizeof(head));
	SET_VARSIZE(ck, pass_size(&head));
	pfree(r->ck);
	r->ck = ck;
	s = run_pass(r, PASS_REPEAT, rep->epochs_run, 0, "repeat");
	pass_layout(s, &l);
	lstm_repeat_select(l.rep, s->nrep, true, 0.0, rep->repeat, rep->succ_params, &rep->knn_weight);
	pfree(s);
}

/* epochs of a training pass and, with validation, a scoring pass */
static void
run_epochs(LstmPassRun *r, LstmFitReport *rep, float **best_out)
{
	StringInfoData history;
	double		best_val = INFINITY;
	float	   *best = NULL;
	int			bad_epochs = 0;
	int			epoch;
	bool		validate = r->o.validation_fraction > 0;
	PassLayout	l;

	initStringInfo(&history);
	for (epoch = 1; epoch <= r->o.epochs; epoch++)
	{
		LstmPassState *s = NULL;
		double		loss_sum = 0.0;
		int64		targets = 0;
		int64		ntrain = 0;
		int			nparts = 0;
		double		loss;
		double		val = NAN;

		/* one pass per slice: the partitions average their weights after each */
		for (int slice = 0; slice < r->slices; slice++)
		{
			char	   *what = psprintf("epoch %d", epoch);

			if (r->slices > 1)
				what = psprintf("epoch %d, slice %d/%d", epoch, slice + 1, r->slices);
			s = run_pass(r, PASS_TRAIN, epoch, slice, what);
			loss_sum += s->train_loss;
			targets += s->train_targets;
			ntrain += s->ntrain;
			nparts = Max(nparts, s->nparts);
			pfree(r->ck);
			r->ck = s;
		}
		loss = loss_sum / Max(targets, 1);
		if (ntrain == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s: every sequence fell into the validation split", PASS_TRAINER),
					 errhint("Lower \"validation_fraction\" or train on more sequences.")));
		if (!isfinite(loss))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s: the training loss diverged in epoch %d", PASS_TRAINER, epoch),
					 errhint("Lower \"learning_rate\" or set \"clip_norm\".")));
		rep->ntrain = ntrain;
		rep->nval = s->nval;
		validate = validate && s->nval > 0;
		if (validate)
		{
			LstmPassState *e = run_pass(r, PASS_EVALUATE, epoch, 0,
										psprintf("validation %d", epoch));

			val = e->val_loss / Max(e->val_targets, 1);
			pfree(e);
		}
		appendStringInfo(&history, "%s{\"epoch\": %d, \"loss\": ", epoch > 1 ? ", " : "", epoch);
		lstm_append_loss(&history, loss);
		appendStringInfoString(&history, ", \"validation_loss\": ");
		lstm_append_loss(&history, val);
		appendStringInfo(&history, ", \"target_tokens\": " INT64_FORMAT ", \"partitions\": %d}",
						 targets, nparts);
		if (!validate)
		{
			rep->train_loss = loss;
			rep->best_epoch = epoch;
			continue;
		}
		pass_layout(r->ck, &l);
		if (val < best_val)
		{
			best_val = val;
			rep->train_loss = loss;
			rep->best_epoch = epoch;
			bad_epochs = 0;
			if (best == NULL)
				best = palloc_extended(sizeof(float) * l.P, MCXT_ALLOC_HUGE);
			memcpy(best, l.params, sizeof(float) * l.P);
		}
		else if (++bad_epochs >= r->o.patience)
		{
			rep->stopped_early = epoch < r->o.epochs;
			break;
		}
	}
	rep->epochs_run = Min(epoch, r->o.epochs);
	rep->val_loss = best_val;
	if (!validate)
		rep->nval = 0;
	rep->history = history.data;
	*best_out = validate ? best : NULL;
}

/*
 * ecml.train('lstm', source, options): the vocabulary pass, then per epoch
 * a training pass and (with validation) a scoring pass; the model is the
 * one ecml.lstm_train writes.  The backend holds a few checkpoints.
 */
bytea *
lstm_train_passes(EcmlTrainDriver *d, Jsonb *options)
{
	LstmPassRun r;
	LstmFitReport rep;
	int64 *counts;
	float *best;
	PassLayout l;
	LstmNet net;
	StringInfoData extra;

	run_init(&r, d, options);
	counts = run_vocabulary(&r);
	memset(&rep, 0, sizeof(rep));
	rep.sampled = lstm_uses_sampled(&r.o, r.vocab.n + 1);
	r.ck = run_first_checkpoint(&r, counts, rep.sampled);
	run_epochs(&r, &rep, &best);

	pass_net(r.ck, &l, &net);
	if (best)
		memcpy(l.params, best, sizeof(float) * l.P);
	rep.repeat[1] = 1.0f;
	if (r.o.repeat == LSTM_REPEAT_AUTO)
	{
		run_repeat(&r, &rep);
		pass_layout(r.ck, &l);
		lstm_net_layout(&net, l.params);
	}
	rep.nshort = r.sketch->nshort;
	rep.nnull = r.sketch->nnull;
	rep.ntokens = r.sketch->ntokens;
	rep.nunknown = r.nunknown;
	initStringInfo(&extra);
	appendStringInfo(&extra, ", \"vocabulary_exact\": %s, \"vocabulary_count_error\": " INT64_FORMAT ", \"passes\": %d, \"pass_history\": [%s]",
					 r.sketch->error == 0 ? "true" : "false", r.sketch->error, d->passes,
					 d->history.data);
	rep.extra = extra.data;
	return lstm_write_model(&r.o, r.sketch->token_type, &r.vocab, &net, &rep,
							r.sketch->nseq + r.sketch->nnull + r.sketch->nshort,
							r.sketch->nnull + r.sketch->nshort);
}
