/*
 * lstm_train.c
 *	  ecml.lstm_train(sequence bigint[] | text[] [, options jsonb]): the
 *	  aggregate that buffers sequences, and the mini-batch trainer.
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
 *
 * Determinism: sequences are put in a canonical order (by length, then by
 * vocabulary indices) before the seeded shuffle, so the same sequences give
 * the same model whatever order the scan or parallel workers deliver them
 * in.  Nothing time-dependent goes into the payload: two runs differ only
 * in the container header's creation time (and the header's checksum).
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "arrays.h"
#include "blas.h"
#include "catalog/pg_type.h"
#include "ecml.h"
#include "lstm.h"
#include "miscadmin.h"
#include "nn.h"
#include "rowbuf.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define TRAINER "ecml.lstm_train"

static const char *const softmax_choices[] = {"auto", "full", "sampled", NULL};

static const EcmlOptionSpec lstm_option_specs[] = {
	{"embedding_dim", ECML_OPT_INT, offsetof(LstmOptions, embedding_dim), 1, LSTM_DIM_MAX},
	{"hidden_size", ECML_OPT_INT, offsetof(LstmOptions, hidden_size), 1, LSTM_DIM_MAX},
	{"layers", ECML_OPT_INT, offsetof(LstmOptions, layers), 1, LSTM_LAYERS_MAX},
	{"epochs", ECML_OPT_INT, offsetof(LstmOptions, epochs), 1, LSTM_EPOCHS_MAX},
	{"batch_size", ECML_OPT_INT, offsetof(LstmOptions, batch_size), 1, LSTM_BATCH_SIZE_MAX},
	{"learning_rate", ECML_OPT_REAL, offsetof(LstmOptions, learning_rate), 0, 10, true},
	{"max_length", ECML_OPT_INT, offsetof(LstmOptions, max_length), 2, LSTM_MAX_LENGTH_MAX},
	{"min_count", ECML_OPT_INT, offsetof(LstmOptions, min_count), 1, INT_MAX},
	{"max_vocab", ECML_OPT_INT, offsetof(LstmOptions, max_vocab), 2, LSTM_MAX_VOCAB_MAX},
	{"clip_norm", ECML_OPT_REAL, offsetof(LstmOptions, clip_norm), 0, 1e6},
	{"validation_fraction", ECML_OPT_REAL, offsetof(LstmOptions, validation_fraction), 0, 0.5},
	{"patience", ECML_OPT_INT, offsetof(LstmOptions, patience), 1, 1000},
	{"seed", ECML_OPT_INT64, offsetof(LstmOptions, seed), 0, (double) PG_INT64_MAX},
	{"softmax", ECML_OPT_CHOICE, offsetof(LstmOptions, softmax), 0, 0, false, softmax_choices},
	{"softmax_threshold", ECML_OPT_INT, offsetof(LstmOptions, softmax_threshold), 2, LSTM_MAX_VOCAB_MAX},
	{"num_sampled", ECML_OPT_INT, offsetof(LstmOptions, num_sampled), 1, 100000},
	{"bptt", ECML_OPT_INT, offsetof(LstmOptions, bptt), 0, LSTM_MAX_LENGTH_MAX},
};

#define N_LSTM_OPTIONS lengthof(lstm_option_specs)

static void
lstm_parse_options(Jsonb *opts, LstmOptions *o)
{
	o->embedding_dim = LSTM_EMBEDDING_DIM_DEFAULT;
	o->hidden_size = LSTM_HIDDEN_SIZE_DEFAULT;
	o->layers = LSTM_LAYERS_DEFAULT;
	o->epochs = LSTM_EPOCHS_DEFAULT;
	o->batch_size = LSTM_BATCH_SIZE_DEFAULT;
	o->learning_rate = LSTM_LEARNING_RATE_DEFAULT;
	o->max_length = LSTM_MAX_LENGTH_DEFAULT;
	o->min_count = LSTM_MIN_COUNT_DEFAULT;
	o->max_vocab = LSTM_MAX_VOCAB_DEFAULT;
	o->clip_norm = LSTM_CLIP_NORM_DEFAULT;
	o->validation_fraction = 0.0;
	o->patience = LSTM_PATIENCE_DEFAULT;
	o->seed = LSTM_SEED_DEFAULT;
	o->softmax = LSTM_SOFTMAX_AUTO;
	o->softmax_threshold = LSTM_SOFTMAX_THRESHOLD_DEFAULT;
	o->num_sampled = LSTM_NUM_SAMPLED_DEFAULT;
	o->bptt = 0;
	ecml_parse_options(opts, lstm_option_specs, N_LSTM_OPTIONS, o, TRAINER);
}

/* ---------------- the aggregate state ---------------- */

/*
 * Buffered sequences, each cut to its last max_length tokens: their lengths
 * in seqlen, their tokens one after another in buf (bigint: int64 each;
 * text: int32 byte length, then the bytes).
 */
typedef struct LstmState
{
	int32		token_type;
	int32		max_length;
	int64		nnull;			/* NULL sequences, skipped */
	int64		nshort;			/* sequences of fewer than 2 tokens, skipped */
	int64		nseq;
	int64		ntokens;
	int64		seqcap;
	int32	   *seqlen;
	char	   *buf;
	Size		len;
	Size		cap;
	Jsonb	   *options;
} LstmState;

static Size
state_bytes(const LstmState *st)
{
	return st->cap + (Size) st->seqcap * sizeof(int32);
}

static void
state_reserve(LstmState *st, MemoryContext aggcxt, int64 more_seqs, Size more_bytes)
{
	if (st->nseq + more_seqs > st->seqcap)
	{
		int64		newcap = Max(1024, st->seqcap * 2);

		while (newcap < st->nseq + more_seqs)
			newcap *= 2;
		ecml_check_train_memory(st->cap + (Size) newcap * sizeof(int32), TRAINER);
		if (st->seqlen == NULL)
			st->seqlen = MemoryContextAllocHuge(aggcxt, newcap * sizeof(int32));
		else
			st->seqlen = repalloc_huge(st->seqlen, newcap * sizeof(int32));
		st->seqcap = newcap;
	}
	if (st->len + more_bytes > st->cap)
	{
		Size		newcap = Max(64 * 1024, st->cap * 2);

		while (newcap < st->len + more_bytes)
			newcap *= 2;
		ecml_check_train_memory(newcap + (Size) st->seqcap * sizeof(int32), TRAINER);
		if (st->buf == NULL)
			st->buf = MemoryContextAllocHuge(aggcxt, newcap);
		else
			st->buf = repalloc_huge(st->buf, newcap);
		st->cap = newcap;
	}
}

static void
check_token_type(const LstmState *st, int token_type)
{
	if (st->token_type != token_type)
		elog(ERROR, "ecml: lstm_train partial states of different token types");
}

/* the shared transition: type is LSTM_TOKENS_BIGINT or _TEXT */
static Datum
lstm_transition(FunctionCallInfo fcinfo, int token_type)
{
	MemoryContext aggcxt;
	LstmState  *st;
	ArrayType  *arr;
	int			n;
	int			first;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "lstm_train_transfn called in non-aggregate context");

	st = PG_ARGISNULL(0) ? NULL : (LstmState *) PG_GETARG_POINTER(0);
	if (st == NULL)
	{
		LstmOptions o;

		st = MemoryContextAllocZero(aggcxt, sizeof(LstmState));
		st->token_type = token_type;
		st->options = ecml_options_arg(fcinfo, 2, aggcxt);
		/* parse now so a bad option fails before the scan, not after */
		lstm_parse_options(st->options, &o);
		st->max_length = o.max_length;
	}

	if (PG_ARGISNULL(1))
	{
		st->nnull++;
		PG_RETURN_POINTER(st);
	}
	arr = PG_GETARG_ARRAYTYPE_P(1);

	if (token_type == LSTM_TOKENS_BIGINT)
	{
		int64	   *tok = ecml_array_int8(arr, "sequence", -1, &n);

		if (n < 2)
		{
			st->nshort++;
			PG_RETURN_POINTER(st);
		}
		first = Max(0, n - st->max_length);
		n -= first;
		state_reserve(st, aggcxt, 1, sizeof(int64) * n);
		memcpy(st->buf + st->len, tok + first, sizeof(int64) * n);
		st->len += sizeof(int64) * n;
	}
	else
	{
		Datum	   *elems;
		bool	   *nulls;
		Size		bytes = 0;

		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("sequence must be a one-dimensional array, got %d dimensions",
							ARR_NDIM(arr))));
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("sequence must not contain NULL elements")));
		if (n < 2)
		{
			st->nshort++;
			PG_RETURN_POINTER(st);
		}
		first = Max(0, n - st->max_length);
		for (int i = first; i < n; i++)
			bytes += sizeof(int32) + VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i]));
		state_reserve(st, aggcxt, 1, bytes);
		for (int i = first; i < n; i++)
		{
			text	   *t = (text *) DatumGetPointer(elems[i]);
			int32		tl = VARSIZE_ANY_EXHDR(t);

			memcpy(st->buf + st->len, &tl, sizeof(int32));
			memcpy(st->buf + st->len + sizeof(int32), VARDATA_ANY(t), tl);
			st->len += sizeof(int32) + tl;
		}
		n -= first;
	}
	st->seqlen[st->nseq++] = n;
	st->ntokens += n;
	PG_RETURN_POINTER(st);
}

/* transition for bigint[] sequences */
PG_FUNCTION_INFO_V1(lstm_train_transfn_int8);
Datum
lstm_train_transfn_int8(PG_FUNCTION_ARGS)
{
	return lstm_transition(fcinfo, LSTM_TOKENS_BIGINT);
}

/* transition for text[] sequences */
PG_FUNCTION_INFO_V1(lstm_train_transfn_text);
Datum
lstm_train_transfn_text(PG_FUNCTION_ARGS)
{
	return lstm_transition(fcinfo, LSTM_TOKENS_TEXT);
}

/* combine: append state2's sequences to state1 */
PG_FUNCTION_INFO_V1(lstm_train_combinefn);
Datum
lstm_train_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LstmState  *s1 = PG_ARGISNULL(0) ? NULL : (LstmState *) PG_GETARG_POINTER(0);
	LstmState  *s2 = PG_ARGISNULL(1) ? NULL : (LstmState *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "lstm_train_combinefn called in non-aggregate context");
	if (s2 == NULL)
		PG_RETURN_POINTER(s1);
	if (s1 == NULL)
		PG_RETURN_POINTER(s2);
	check_token_type(s1, s2->token_type);
	if (s1->max_length != s2->max_length)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s options differ between rows", TRAINER),
				 errhint("Pass the same options with every row (a constant).")));

	ecml_check_train_memory(state_bytes(s1) + state_bytes(s2), TRAINER);
	state_reserve(s1, aggcxt, s2->nseq, s2->len);
	if (s2->nseq > 0)
		memcpy(s1->seqlen + s1->nseq, s2->seqlen, sizeof(int32) * s2->nseq);
	if (s2->len > 0)
		ecml_copy_interruptible(s1->buf + s1->len, s2->buf, s2->len);
	s1->len += s2->len;
	s1->nseq += s2->nseq;
	s1->ntokens += s2->ntokens;
	s1->nnull += s2->nnull;
	s1->nshort += s2->nshort;
	if (s1->options == NULL)
		s1->options = s2->options;
	PG_RETURN_POINTER(s1);
}

/*
 * Serialized state: int32 token_type, max_length, options length, pad;
 * int64 nnull, nshort, nseq, ntokens, len; the options jsonb padded to 8;
 * the sequence lengths padded to 8; the token bytes.
 */
#define SERIAL_HEAD 56

PG_FUNCTION_INFO_V1(lstm_train_serialfn);
Datum
lstm_train_serialfn(PG_FUNCTION_ARGS)
{
	LstmState  *st = (LstmState *) PG_GETARG_POINTER(0);
	int32		optlen = st->options ? VARSIZE(st->options) : 0;
	int64		len64 = (int64) st->len;
	Size		lenbytes = MAXALIGN(sizeof(int32) * st->nseq);
	bytea	   *out;
	char	   *head;
	char	   *p;

	out = rowbuf_frame_new(TRAINER, " or train on a sample", SERIAL_HEAD, st->options,
						   lenbytes + st->len, &head, &p);
	memcpy(head, &st->token_type, 4);
	memcpy(head + 4, &st->max_length, 4);
	memcpy(head + 8, &optlen, 4);
	memcpy(head + 16, &st->nnull, 8);
	memcpy(head + 24, &st->nshort, 8);
	memcpy(head + 32, &st->nseq, 8);
	memcpy(head + 40, &st->ntokens, 8);
	memcpy(head + 48, &len64, 8);
	if (st->nseq > 0)
		memcpy(p, st->seqlen, sizeof(int32) * st->nseq);
	p += lenbytes;
	if (st->len > 0)
		ecml_copy_interruptible(p, st->buf, st->len);
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(lstm_train_deserialfn);
Datum
lstm_train_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	const char *p;
	MemoryContext aggcxt;
	LstmState  *st;
	int32		optlen;
	int64		len64;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "lstm_train_deserialfn called in non-aggregate context");
	p = rowbuf_frame_head(in, SERIAL_HEAD, "lstm_train");
	st = MemoryContextAllocZero(aggcxt, sizeof(LstmState));
	memcpy(&st->token_type, p, 4);
	memcpy(&st->max_length, p + 4, 4);
	memcpy(&optlen, p + 8, 4);
	memcpy(&st->nnull, p + 16, 8);
	memcpy(&st->nshort, p + 24, 8);
	memcpy(&st->nseq, p + 32, 8);
	memcpy(&st->ntokens, p + 40, 8);
	memcpy(&len64, p + 48, 8);
	if (st->nseq < 0 || len64 < 0 ||
		st->nseq > (int64) (VARSIZE_ANY_EXHDR(in) / sizeof(int32)))
		elog(ERROR, "ecml: invalid lstm_train partial state");
	p = rowbuf_frame_body(in, SERIAL_HEAD, optlen,
						  MAXALIGN(sizeof(int32) * st->nseq) + (Size) len64,
						  aggcxt, "lstm_train", &st->options);
	{
		int64		nseq = st->nseq;

		st->nseq = 0;
		state_reserve(st, aggcxt, nseq, (Size) len64);
		st->nseq = nseq;
	}
	if (st->nseq > 0)
		memcpy(st->seqlen, p, sizeof(int32) * st->nseq);
	p += MAXALIGN(sizeof(int32) * st->nseq);
	if (len64 > 0)
		ecml_copy_interruptible(st->buf, p, len64);
	st->len = (Size) len64;
	PG_RETURN_POINTER(st);
}

/* ---------------- vocabulary and sequences ---------------- */

/* The training data after the vocabulary: indices per sequence. */
typedef struct LstmData
{
	int64		nseq;
	int64	   *off;			/* [nseq + 1] into tok */
	int32	   *tok;			/* vocabulary indices, 0 = unknown */
	LstmVocab	vocab;			/* kept tokens; entry i is index i + 1 */
	int64	   *counts;			/* [V] occurrences by vocabulary index */
	int64		nunknown;		/* token occurrences mapped to the unknown token */
} LstmData;

static int
vocab_order_cmp(const void *a, const void *b, void *arg)
{
	const LstmVocab *v = (const LstmVocab *) arg;
	int			ea = *(const int *) a;
	int			eb = *(const int *) b;

	if (v->counts[ea] != v->counts[eb])
		return v->counts[ea] > v->counts[eb] ? -1 : 1;
	if (v->token_type == LSTM_TOKENS_TEXT)
	{
		int			c = memcmp(v->strs[ea], v->strs[eb], Min(v->lens[ea], v->lens[eb]));

		if (c != 0)
			return c;
		return (v->lens[ea] > v->lens[eb]) - (v->lens[ea] < v->lens[eb]);
	}
	return (v->ids[ea] > v->ids[eb]) - (v->ids[ea] < v->ids[eb]);
}

/*
 * Bytes a vocabulary of cap entries holds: id or string pointer and length,
 * count, and at least two hash slots an entry (lstm_vocab.c); text tokens'
 * bytes are bounded by the buffer they are copied from.
 */
#define VOCAB_ENTRY_BYTES (sizeof(int64) * 2 + sizeof(char *) + sizeof(int) + 2 * sizeof(int32))

static Size
vocab_bytes(const LstmVocab *v)
{
	return (Size) v->cap * VOCAB_ENTRY_BYTES;
}

/*
 * Count the tokens, keep those seen at least min_count times (at most
 * max_vocab - 1 of them, most frequent first), map every token to its
 * index.  The vocabulary grows while counting: it is checked against the
 * training's account at every growth, and charged once built.
 */
static void
lstm_build_data(LstmState *st, const LstmOptions *o, LstmData *d, EcmlTrainMemory *mem)
{
	LstmVocab	all;
	int32	   *ent;
	int		   *order;
	int32	   *index_of;
	int			kept = 0;
	int			checked_cap = 0;
	Size		pos = 0;

	ent = ecml_train_alloc(mem, Max(st->ntokens, 1), sizeof(int32), 0, "token index");
	ecml_train_memory_charge(mem, sizeof(int64) * ((Size) st->nseq + 1), "sequence offsets");
	lstm_vocab_init(&all, st->token_type, 1024);
	for (int64 i = 0; i < st->ntokens; i++)
	{
		int			e;

		if ((i & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (all.cap != checked_cap)
		{
			/* the table has grown (it doubles): twice the entries, old and new */
			ecml_train_memory_check(mem, vocab_bytes(&all) * 3 / 2, "token vocabulary");
			checked_cap = all.cap;
		}
		if (st->token_type == LSTM_TOKENS_BIGINT)
		{
			int64		id;

			memcpy(&id, st->buf + pos, sizeof(int64));
			pos += sizeof(int64);
			e = lstm_vocab_add(&all, id, NULL, 0);
		}
		else
		{
			int32		tl;

			memcpy(&tl, st->buf + pos, sizeof(int32));
			e = lstm_vocab_add(&all, 0, st->buf + pos + sizeof(int32), tl);
			pos += sizeof(int32) + tl;
		}
		all.counts[e]++;
		ent[i] = e;
	}

	ecml_train_memory_charge(mem, vocab_bytes(&all), "token vocabulary");
	order = ecml_train_alloc(mem, all.n, sizeof(int) * 2, 0, "token vocabulary order");
	for (int e = 0; e < all.n; e++)
		order[e] = e;
	qsort_arg(order, all.n, sizeof(int), vocab_order_cmp, &all);
	for (int k = 0; k < all.n && kept < o->max_vocab - 1; k++)
		if (all.counts[order[k]] >= o->min_count)
			kept++;
	if (kept == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no token occurs at least min_count = %d times", TRAINER, o->min_count),
				 errhint("Lower the \"min_count\" option or train on more sequences.")));

	/* kept tokens in frequency order: vocabulary indices 1..kept */
	ecml_train_memory_charge(mem, (Size) Max(kept, 16) * VOCAB_ENTRY_BYTES +
							 sizeof(int64) * ((Size) kept + 1), "kept vocabulary");
	lstm_vocab_init(&d->vocab, st->token_type, kept);
	index_of = palloc_extended(sizeof(int32) * all.n, MCXT_ALLOC_HUGE);
	for (int e = 0; e < all.n; e++)
		index_of[e] = LSTM_UNKNOWN;
	d->counts = palloc0(sizeof(int64) * (kept + 1));
	for (int k = 0; k < kept; k++)
	{
		int			e = order[k];

		if (st->token_type == LSTM_TOKENS_TEXT)
			lstm_vocab_add(&d->vocab, 0, all.strs[e], all.lens[e]);
		else
			lstm_vocab_add(&d->vocab, all.ids[e], NULL, 0);
		index_of[e] = k + 1;
	}
	d->nseq = st->nseq;
	d->tok = ent;
	d->nunknown = 0;
	for (int64 i = 0; i < st->ntokens; i++)
	{
		ent[i] = index_of[ent[i]];
		d->counts[ent[i]]++;
	}
	d->nunknown = d->counts[LSTM_UNKNOWN];
	d->off = palloc_extended(sizeof(int64) * (st->nseq + 1), MCXT_ALLOC_HUGE);
	d->off[0] = 0;
	for (int64 s = 0; s < st->nseq; s++)
	{
		/* rows were cut with the first row's options; these must agree */
		if (st->seqlen[s] > o->max_length)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s options differ between rows", TRAINER),
					 errhint("Pass the same options with every row (a constant).")));
		d->off[s + 1] = d->off[s] + st->seqlen[s];
	}
}

/* canonical order of sequences: by length, then by their indices */
static int
seq_order_cmp(const void *a, const void *b, void *arg)
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

/* ---------------- training ---------------- */

/* Work buffers for one mini-batch of at most B rows and T steps. */
typedef struct LstmWork
{
	int			B;
	int			T;
	int32	   *x;				/* (T,B) inputs */
	int32	   *y;				/* (T,B) targets */
	int		   *nact;			/* (T) */
	float	   *x0;				/* (T,B,E) embedded inputs */
	LstmActs	acts[LSTM_LAYERS_MAX];
	float	   *dh[LSTM_LAYERS_MAX];	/* (T,B,H) gradient w.r.t. layer outputs */
	float	   *dx0;			/* (T,B,E) */
	float	   *scratch;
	/* the output layer runs on chunks of up to R target rows gathered across steps */
	int			R;
	float	   *hg;				/* (R,H) gathered top-layer states */
	float	   *dhg;			/* (R,H) their gradients */
	int32	   *yg;				/* (R) their targets */
	float	   *probs;			/* (R,V) full softmax */
	/* sampled softmax */
	bool		sampled;
	int			S;
	double	   *cdf;			/* (V) cumulative proposal */
	float	   *logq;			/* (V) log(S Q(c)) */
	int32	   *samples;		/* (S) */
	float	   *logq_s;			/* (S) */
	float	   *logq_y;			/* (R) */
	float	   *work;			/* (R,S+1) */
	float	   *wsamp;			/* (S,H) */
	float	   *dwsamp;			/* (S,H) */
	int64	   *rows;			/* (B) sequences of the batch, sorted */
} LstmWork;

/*
 * PyTorch's initialisation, so the benchmark compares like with like:
 * embedding N(0,1); LSTM weights U(-k,k), k = 1/sqrt(H), and the bias the
 * sum of two such draws (PyTorch keeps b_ih and b_hh); output layer
 * U(-k,k) with k = 1/sqrt(H).
 */
static void
lstm_init_params(LstmNet *net, EcmlRng *rng)
{
	float		k = (float) (1.0 / sqrt((double) net->H));
	int			G = 4 * net->H;

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

static size_t
lstm_work_floats(const LstmNet *net, int B, int T, bool sampled, int S)
{
	size_t		n = (size_t) T * B * net->E * 2;

	for (int l = 0; l < net->L; l++)
	{
		int			I = l == 0 ? net->E : net->H;

		n += lstm_acts_floats(T, B, I, net->H) + (size_t) T * B * net->H;
	}
	n += lstm_backward_scratch_floats(B, Max(net->E, net->H), net->H);
	/* probabilities of the full softmax: training, or validation when sampled */
	n += (size_t) lstm_chunk_rows(B, net->V, net->H) * (net->V + 2 * net->H + 1);
	if (sampled)
		n += (size_t) lstm_chunk_rows(B, net->V, net->H) * (S + 2) + 2 * (size_t) S * net->H +
			(size_t) net->V * 3;
	return n;
}

static void
lstm_work_init(LstmWork *w, const LstmNet *net, int B, int T, bool sampled, int S)
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
		int			I = l == 0 ? net->E : net->H;
		float	   *block = palloc_extended(sizeof(float) * lstm_acts_floats(T, B, I, net->H),
											MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

		lstm_acts_layout(&w->acts[l], block, T, B, I, net->H);
		w->acts[l].on_step = lstm_check_interrupts;
		w->dh[l] = palloc_extended(sizeof(float) * T * B * net->H, MCXT_ALLOC_HUGE);
	}
	w->scratch = palloc_extended(sizeof(float) * lstm_backward_scratch_floats(B, Max(net->E, net->H), net->H),
								 MCXT_ALLOC_HUGE);
	w->sampled = sampled;
	w->S = S;
	/* validation always scores the full softmax */
	w->R = lstm_chunk_rows(B, net->V, net->H);
	w->hg = palloc_extended(sizeof(float) * w->R * net->H, MCXT_ALLOC_HUGE);
	w->dhg = palloc_extended(sizeof(float) * w->R * net->H, MCXT_ALLOC_HUGE);
	w->yg = palloc_extended(sizeof(int32) * w->R, MCXT_ALLOC_HUGE);
	w->probs = palloc_extended(sizeof(float) * w->R * net->V, MCXT_ALLOC_HUGE);
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
	}
}

/*
 * The sampled softmax's proposal: the smoothed unigram distribution of the
 * tokens, Q(c) = (count(c) + 1) / (total + V), so every class can be drawn.
 */
static void
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
		double		u = ecml_rng_uniform(rng);
		int			lo = 0,
					hi = V - 1;

		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

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
	return seq_order_cmp(a, b, arg);
}

/*
 * One mini-batch of the sequences seqs[0..n): forward, and when grads is
 * not NULL backward into grads (mean loss over the batch's targets).
 * Returns the summed cross-entropy; *ntargets gets the target count.
 */
static double
lstm_batch(LstmNet *net, LstmNet *grads, LstmWork *w, const LstmData *d,
		   const int64 *seqs, int n, EcmlRng *rng, bool use_sampled,
		   int bptt, int64 *ntargets)
{
	int			B = w->B;
	int			E = net->E;
	int			H = net->H;
	int			V = net->V;
	int			L = net->L;
	int			T;
	int64		N = 0;
	double		loss = 0.0;
	float		scale;
	const float *in;

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
	scale = (float) (1.0 / (double) N);

	/* forward */
	for (int t = 0; t < T; t++)
		embedding_forward(w->x0 + (size_t) t * B * E, w->x + (size_t) t * B, w->nact[t],
						  net->emb, E);
	in = w->x0;
	for (int l = 0; l < L; l++)
	{
		int			I = l == 0 ? E : H;

		memset(w->acts[l].h, 0, sizeof(float) * B * H);
		memset(w->acts[l].c, 0, sizeof(float) * B * H);
		lstm_forward(&w->acts[l], in, w->nact, T, B, I, H, net->W[l], net->b[l]);
		in = w->acts[l].h + (size_t) B * H;
	}
	if (grads)
	{
		for (int l = 0; l < L; l++)
			memset(w->dh[l], 0, sizeof(float) * T * B * H);
		memset(w->dx0, 0, sizeof(float) * T * B * E);
	}

	/* output layer over chunks of steps: rows gathered, scored, scattered back */
	for (int t0 = 0, t1; t0 < T; t0 = t1)
	{
		int			rows = 0;

		CHECK_FOR_INTERRUPTS();
		for (t1 = t0; t1 < T && (t1 == t0 || rows + w->nact[t1] <= w->R); t1++)
		{
			int			a = w->nact[t1];

			memcpy(w->hg + (size_t) rows * H, w->acts[L - 1].h + (size_t) (t1 + 1) * B * H,
				   sizeof(float) * a * H);
			memcpy(w->yg + rows, w->y + (size_t) t1 * B, sizeof(int32) * a);
			rows += a;
		}
		if (grads)
			memset(w->dhg, 0, sizeof(float) * rows * H);
		if (use_sampled)
		{
			lstm_draw_samples(w, rng, V);
			for (int r = 0; r < rows; r++)
				w->logq_y[r] = w->logq[w->yg[r]];
			loss += sampled_softmax_forward(w->work, w->wsamp, w->hg, rows, H, net->Wo, net->bo,
											w->yg, w->logq_y, w->samples, w->S, w->logq_s);
			if (grads)
				sampled_softmax_backward(w->work, w->wsamp, w->hg, rows, H, net->Wo, w->yg,
										 w->samples, w->S, scale, grads->Wo, grads->bo,
										 w->dhg, w->dwsamp);
		}
		else
		{
			loss += softmax_xent_forward(w->probs, w->hg, rows, H, V, net->Wo, net->bo, w->yg);
			if (grads)
				softmax_xent_backward(w->probs, w->hg, rows, H, V, net->Wo, w->yg, scale,
									  grads->Wo, grads->bo, w->dhg);
		}
		if (grads)
		{
			rows = 0;
			for (int t = t0; t < t1; t++)
			{
				memcpy(w->dh[L - 1] + (size_t) t * B * H, w->dhg + (size_t) rows * H,
					   sizeof(float) * w->nact[t] * H);
				rows += w->nact[t];
			}
		}
	}
	if (!grads)
		return loss;

	/* backward through the layers, then the embedding */
	for (int l = L - 1; l >= 0; l--)
	{
		int			I = l == 0 ? E : H;

		CHECK_FOR_INTERRUPTS();
		lstm_backward(&w->acts[l], w->dh[l], w->nact, T, B, I, H, net->W[l],
					  grads->W[l], grads->b[l], l == 0 ? w->dx0 : w->dh[l - 1],
					  bptt, w->scratch);
	}
	for (int t = 0; t < T; t++)
		embedding_backward(grads->emb, w->dx0 + (size_t) t * B * E, w->x + (size_t) t * B,
						   w->nact[t], E);
	return loss;
}

/* Mean cross-entropy (full softmax) over the sequences seqs[0..n). */
static double
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

/* json number that is valid JSON even when not finite */
static void
append_loss(StringInfo buf, double x)
{
	if (isfinite(x))
		appendStringInfo(buf, "%.6g", x);
	else
		appendStringInfoString(buf, "null");
}

/* final: train on the buffered sequences and return the model */
PG_FUNCTION_INFO_V1(lstm_train_finalfn);
Datum
lstm_train_finalfn(PG_FUNCTION_ARGS)
{
	LstmState  *st = PG_ARGISNULL(0) ? NULL : (LstmState *) PG_GETARG_POINTER(0);
	TimestampTz start = GetCurrentTimestamp();
	LstmOptions o;
	LstmData	d;
	LstmNet		net;
	LstmNet		grads;
	LstmWork	w;
	EcmlRng		rng;
	int64	   *order;
	int64		nval;
	int64		ntrain;
	int64	   *train;
	int64	   *val;
	float	   *best = NULL;
	float	   *adam_m;
	float	   *adam_v;
	size_t		P;
	int			V;
	int			Tmax;
	bool		sampled;
	int			step = 0;
	int			epoch;
	int			best_epoch = 0;
	double		best_val = INFINITY;
	double		last_loss = NAN;
	double		last_val = NAN;
	double		best_loss = NAN;
	int			bad_epochs = 0;
	bool		stopped_early = false;
	StringInfoData history;
	StringInfoData json;
	EcmlModelBuilder b;
	EcmlTrainMemory mem;
	int32		shape[6];

	if (st == NULL || st->nseq == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no training sequences", TRAINER),
				 errdetail("Sequences seen: " INT64_FORMAT "; skipped: " INT64_FORMAT " NULL, " INT64_FORMAT " shorter than 2 tokens.",
						   st ? st->nseq + st->nnull + st->nshort : 0,
						   st ? st->nnull : 0, st ? st->nshort : 0),
				 errhint("Pass one row per sequence with at least 2 tokens each, e.g. array_agg(item ORDER BY ts) grouped by session.")));
	lstm_parse_options(st->options, &o);

	ecml_train_memory_init(&mem, TRAINER, state_bytes(st));
	lstm_build_data(st, &o, &d, &mem);
	V = d.vocab.n + 1;
	sampled = o.softmax == LSTM_SOFTMAX_SAMPLED ||
		(o.softmax == LSTM_SOFTMAX_AUTO && V > o.softmax_threshold);

	/* the canonical order, then a seeded shuffle; validation comes first */
	order = ecml_train_alloc(&mem, d.nseq, sizeof(int64), 0, "sequence order");
	for (int64 s = 0; s < d.nseq; s++)
		order[s] = s;
	qsort_arg(order, d.nseq, sizeof(int64), seq_order_cmp, &d);
	ecml_rng_seed(&rng, (uint64) o.seed);
	for (int64 i = d.nseq - 1; i > 0; i--)
	{
		int64		j = (int64) ecml_rng_below(&rng, (uint64) (i + 1));
		int64		tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	nval = (int64) floor(o.validation_fraction * d.nseq + 0.5);
	if (o.validation_fraction > 0 && nval == 0 && d.nseq >= 2)
		nval = 1;
	nval = Min(nval, d.nseq - 1);
	val = order;
	train = order + nval;
	ntrain = d.nseq - nval;

	/* network, gradients, Adam moments */
	net.V = grads.V = V;
	net.E = grads.E = o.embedding_dim;
	net.H = grads.H = o.hidden_size;
	net.L = grads.L = o.layers;
	P = lstm_param_count(V, o.embedding_dim, o.hidden_size, o.layers);
	Tmax = o.max_length - 1;
	/*
	 * Parameters, gradients, two Adam moments and the best epoch's copy;
	 * then the activations of a mini-batch of batch_size x (max_length - 1)
	 * steps, and the model that copies the parameters.  All counts are
	 * bounded by the options (V < 10^7, E, H <= 4096), so the float counts
	 * fit a 64-bit Size; the byte counts are checked.
	 */
	ecml_train_memory_charge(&mem, ecml_mul_size(P, sizeof(float) * (nval > 0 ? 5 : 4)),
							 psprintf("network parameters, gradients and Adam moments (%zu parameters)",
									  P));
	ecml_train_memory_charge(&mem,
							 ecml_add_size(ecml_mul_size(lstm_work_floats(&net, o.batch_size, Tmax, sampled,
																		  o.num_sampled),
														 sizeof(float)),
										   2 * sizeof(int32) * (Size) Tmax * o.batch_size),
							 psprintf("mini-batch activations (%d sequences x %d steps)",
									  o.batch_size, Tmax));
	ecml_train_memory_charge(&mem, ecml_add_size(ecml_mul_size(P, sizeof(float)),
												 sizeof(int64) * (Size) d.vocab.n),
							 "model");
	lstm_net_layout(&net, palloc_extended(sizeof(float) * P, MCXT_ALLOC_HUGE));
	lstm_net_layout(&grads, palloc_extended(sizeof(float) * P, MCXT_ALLOC_HUGE));
	adam_m = palloc_extended(sizeof(float) * P, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	adam_v = palloc_extended(sizeof(float) * P, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	if (nval > 0)
		best = palloc_extended(sizeof(float) * P, MCXT_ALLOC_HUGE);
	lstm_init_params(&net, &rng);
	lstm_work_init(&w, &net, o.batch_size, Tmax, sampled, o.num_sampled);
	if (sampled)
		lstm_proposal(&w, &d, V);

	ecml_blas_prepare();
	initStringInfo(&history);
	for (epoch = 1; epoch <= o.epochs; epoch++)
	{
		double		loss = 0.0;
		int64		targets = 0;
		double		elapsed;

		/* a fresh seeded order of the training sequences each epoch */
		for (int64 i = ntrain - 1; i > 0; i--)
		{
			int64		j = (int64) ecml_rng_below(&rng, (uint64) (i + 1));
			int64		tmp = train[i];

			train[i] = train[j];
			train[j] = tmp;
		}
		for (int64 i = 0; i < ntrain; i += o.batch_size)
		{
			int			n = (int) Min(o.batch_size, ntrain - i);
			int64		nt;
			double		norm;

			CHECK_FOR_INTERRUPTS();
			memset(grads.params, 0, sizeof(float) * P);
			loss += lstm_batch(&net, &grads, &w, &d, train + i, n, &rng, sampled,
							   o.bptt, &nt);
			targets += nt;
			norm = sqrt(nn_sum_squares(grads.params, P));
			if (o.clip_norm > 0 && norm > o.clip_norm)
				nn_scale(grads.params, P, (float) (o.clip_norm / (norm + 1e-6)));
			adam_update(net.params, grads.params, adam_m, adam_v, P,
						(float) o.learning_rate, 0.9f, 0.999f, 1e-8f, ++step);
		}
		last_loss = loss / Max(targets, 1);
		if (!isfinite(last_loss))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s: the training loss diverged in epoch %d", TRAINER, epoch),
					 errhint("Lower \"learning_rate\" or set \"clip_norm\".")));
		if (nval > 0)
			last_val = lstm_eval(&net, &w, &d, val, nval);

		appendStringInfo(&history, "%s{\"epoch\": %d, \"loss\": ", epoch > 1 ? ", " : "", epoch);
		append_loss(&history, last_loss);
		appendStringInfoString(&history, ", \"validation_loss\": ");
		append_loss(&history, last_val);
		appendStringInfo(&history, ", \"target_tokens\": " INT64_FORMAT "}", targets);

		elapsed = ecml_elapsed_seconds(start);
		if (ecml_progress)
			ereport(NOTICE,
					(errmsg("%s: epoch %d/%d, loss %.4f, validation loss %s, %.0f tokens/s, %.2f s elapsed, at most %.1f s left",
							TRAINER, epoch, o.epochs, last_loss,
							nval > 0 ? psprintf("%.4f", last_val) : "n/a",
							targets * epoch / Max(elapsed, 1e-6), elapsed,
							elapsed / epoch * (o.epochs - epoch))));

		if (nval > 0)
		{
			if (last_val < best_val)
			{
				best_val = last_val;
				best_loss = last_loss;
				best_epoch = epoch;
				bad_epochs = 0;
				memcpy(best, net.params, sizeof(float) * P);
			}
			else if (++bad_epochs >= o.patience)
			{
				stopped_early = epoch < o.epochs;
				break;
			}
		}
	}
	if (epoch > o.epochs)
		epoch = o.epochs;
	if (nval > 0)
		memcpy(net.params, best, sizeof(float) * P);
	else
	{
		best_epoch = epoch;
		best_loss = last_loss;
	}

	/* the model */
	ecml_builder_init(&b, ECML_KIND_LSTM);
	initStringInfo(&json);
	ecml_options_to_json(&json, lstm_option_specs, N_LSTM_OPTIONS, &o);
	ecml_builder_add_json(&b, ECML_TAG_HYPERPARAMS, json.data);

	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"token_type\": \"%s\", \"vocabulary\": %d, \"embedding_dim\": %d, "
					 "\"hidden_size\": %d, \"layers\": %d, \"parameters\": %zu, "
					 "\"softmax\": \"%s\", \"max_length\": %d}",
					 st->token_type == LSTM_TOKENS_TEXT ? "text" : "bigint", V,
					 o.embedding_dim, o.hidden_size, o.layers, P,
					 sampled ? "sampled" : "full", o.max_length);
	ecml_builder_add_json(&b, ECML_TAG_INFO, json.data);

	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"epochs_run\": %d, \"best_epoch\": %d, \"stopped_early\": %s, "
					 "\"train_sequences\": " INT64_FORMAT ", \"validation_sequences\": " INT64_FORMAT
					 ", \"sequences_too_short\": " INT64_FORMAT ", \"null_sequences\": " INT64_FORMAT
					 ", \"tokens\": " INT64_FORMAT ", \"unknown_tokens\": " INT64_FORMAT
					 ", \"train_loss\": ",
					 epoch, best_epoch, stopped_early ? "true" : "false", ntrain, nval,
					 st->nshort, st->nnull, st->ntokens, d.nunknown);
	append_loss(&json, best_loss);
	appendStringInfoString(&json, ", \"validation_loss\": ");
	append_loss(&json, nval > 0 ? best_val : NAN);
	appendStringInfo(&json, ", \"history\": [%s]}", history.data);
	ecml_builder_add_json(&b, ECML_TAG_METRICS, json.data);

	shape[0] = st->token_type;
	shape[1] = V;
	shape[2] = o.embedding_dim;
	shape[3] = o.hidden_size;
	shape[4] = o.layers;
	shape[5] = o.max_length;
	ecml_builder_add(&b, LSTM_TAG_SHAPE, ECML_SECTION_INT32, shape, sizeof(shape));
	if (st->token_type == LSTM_TOKENS_TEXT)
		ecml_builder_add_texts(&b, LSTM_TAG_VOCAB, d.vocab.strs, d.vocab.n);
	else
		ecml_builder_add(&b, LSTM_TAG_VOCAB, ECML_SECTION_INT64, d.vocab.ids,
						 sizeof(int64) * d.vocab.n);
	ecml_builder_add(&b, LSTM_TAG_WEIGHTS, ECML_SECTION_FLOAT32, net.params, sizeof(float) * P);

	PG_RETURN_BYTEA_P(ecml_builder_finish(&b, st->nseq + st->nnull + st->nshort,
										  st->nnull + st->nshort));
}
