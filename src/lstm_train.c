/*
 * lstm_train.c
 *	  ecml.lstm_train(sequence bigint[] | text[] [, options jsonb]): the
 *	  aggregate that buffers sequences, builds the vocabulary and trains on
 *	  them in one statement.  The training step is in lstm_fit.c, which
 *	  ecml.train('lstm') (lstm_passes.c) shares.
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
#include "lstm_fit.h"
#include "miscadmin.h"
#include "nn.h"
#include "rowbuf.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define TRAINER "ecml.lstm_train"


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

	aggcxt = ecml_agg_context(fcinfo, "lstm_train_transfn");

	st = PG_ARGISNULL(0) ? NULL : (LstmState *) PG_GETARG_POINTER(0);
	if (st == NULL)
	{
		LstmOptions o;

		st = MemoryContextAllocZero(aggcxt, sizeof(LstmState));
		st->token_type = token_type;
		st->options = ecml_options_arg(fcinfo, 2, aggcxt);
		/* parse now so a bad option fails before the scan, not after */
		lstm_parse_options(st->options, &o, TRAINER);
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

	aggcxt = ecml_agg_context(fcinfo, "lstm_train_combinefn");
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

	aggcxt = ecml_agg_context(fcinfo, "lstm_train_deserialfn");
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
		ecml_partial_state_invalid("lstm_train");
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


/* ---------------- collect, fit, write ---------------- */

/* The sequences in training order: validation first, then training. */
typedef struct LstmSplit
{
	int64	   *order;
	int64	   *val;
	int64		nval;
	int64	   *train;
	int64		ntrain;
} LstmSplit;

/*
 * Collect: the vocabulary and the sequences as indices, in the canonical
 * order, then a seeded shuffle; the first validation_fraction of them are
 * held out.
 */
static void
lstm_collect(LstmState *st, const LstmOptions *o, LstmData *d, LstmSplit *sp,
			 EcmlRng *rng, EcmlTrainMemory *mem)
{
	lstm_build_data(st, o, d, mem);
	sp->order = ecml_train_alloc(mem, d->nseq, sizeof(int64), 0, "sequence order");
	for (int64 s = 0; s < d->nseq; s++)
		sp->order[s] = s;
	qsort_arg(sp->order, d->nseq, sizeof(int64), lstm_seq_order_cmp, d);
	ecml_rng_seed(rng, (uint64) o->seed);
	for (int64 i = d->nseq - 1; i > 0; i--)
	{
		int64		j = (int64) ecml_rng_below(rng, (uint64) (i + 1));
		int64		tmp = sp->order[i];

		sp->order[i] = sp->order[j];
		sp->order[j] = tmp;
	}
	sp->nval = (int64) floor(o->validation_fraction * d->nseq + 0.5);
	if (o->validation_fraction > 0 && sp->nval == 0 && d->nseq >= 2)
		sp->nval = 1;
	sp->nval = Min(sp->nval, d->nseq - 1);
	sp->val = sp->order;
	sp->train = sp->order + sp->nval;
	sp->ntrain = d->nseq - sp->nval;
}

/* The network, its gradients, the Adam moments and the work buffers. */
typedef struct LstmFitBuffers
{
	LstmNet		net;
	LstmNet		grads;
	LstmWork	w;
	float	   *adam_m;
	float	   *adam_v;
	float	   *best;			/* the best epoch's parameters, with validation */
	size_t		P;
	LstmLanes  *lanes;			/* with "batching": "session_parallel" */
} LstmFitBuffers;

/*
 * Parameters, gradients, two Adam moments and the best epoch's copy; then
 * the activations of a mini-batch of batch_size x (max_length - 1) steps,
 * and the model that copies the parameters.  All counts are bounded by the
 * options (V < 10^7, E, H <= 4096), so the float counts fit a 64-bit Size;
 * the byte counts are checked.
 */
static void
lstm_fit_alloc(LstmFitBuffers *fb, const LstmOptions *o, int V, int nvocab, bool sampled,
			   bool validate, EcmlTrainMemory *mem)
{
	size_t		P = lstm_param_count(V, o->embedding_dim, o->hidden_size, o->layers, o->cell);
	int			Tmax = o->max_length - 1;

	fb->net.V = fb->grads.V = V;
	fb->net.E = fb->grads.E = o->embedding_dim;
	fb->net.H = fb->grads.H = o->hidden_size;
	fb->net.L = fb->grads.L = o->layers;
	fb->net.cell = fb->grads.cell = o->cell;
	fb->net.tied = fb->grads.tied = o->tied;
	fb->P = P;
	ecml_train_memory_charge(mem, ecml_mul_size(P, sizeof(float) * (validate ? 5 : 4)),
							 psprintf("network parameters, gradients and Adam moments (%zu parameters)",
									  P));
	ecml_train_memory_charge(mem,
							 ecml_add_size(ecml_mul_size(lstm_work_floats(&fb->net, o->batch_size, Tmax,
																		  sampled, o->num_sampled,
																		  o->dropout),
														 sizeof(float)),
										   2 * sizeof(int32) * (Size) Tmax * o->batch_size),
							 psprintf("mini-batch activations (%d sequences x %d steps)",
									  o->batch_size, Tmax));
	ecml_train_memory_charge(mem, ecml_add_size(ecml_mul_size(P, sizeof(float)), sizeof(int64) * (Size) nvocab),
							 "model");
	lstm_net_layout(&fb->net, palloc_extended(sizeof(float) * P, MCXT_ALLOC_HUGE));
	lstm_net_layout(&fb->grads, palloc_extended(sizeof(float) * P, MCXT_ALLOC_HUGE));
	fb->adam_m = palloc_extended(sizeof(float) * P, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	fb->adam_v = palloc_extended(sizeof(float) * P, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	fb->best = validate ? palloc_extended(sizeof(float) * P, MCXT_ALLOC_HUGE) : NULL;
	fb->lanes = NULL;
	if (o->batching == LSTM_BATCHING_SESSION_PARALLEL)
	{
		ecml_train_memory_charge(mem, lstm_lanes_bytes(&fb->net, o->batch_size),
								 "session-parallel lanes' states");
		fb->lanes = palloc(sizeof(LstmLanes));
		lstm_lanes_init(fb->lanes, &fb->net, o->batch_size, Min(o->session_steps, Tmax));
	}
}

/* One epoch's history entry and progress message. */
static void
lstm_epoch_done(StringInfo history, const LstmOptions *o, int epoch, double loss,
				double val, bool validate, int64 targets, TimestampTz start)
{
	double		elapsed = ecml_elapsed_seconds(start);

	appendStringInfo(history, "%s{\"epoch\": %d, \"loss\": ", epoch > 1 ? ", " : "", epoch);
	lstm_append_loss(history, loss);
	appendStringInfoString(history, ", \"validation_loss\": ");
	lstm_append_loss(history, val);
	appendStringInfo(history, ", \"target_tokens\": " INT64_FORMAT "}", targets);
	ecml_progress_notice("%s: epoch %d/%d, loss %.4f, validation loss %s, %.0f tokens/s, %.2f s elapsed, at most %.1f s left",
						 TRAINER, epoch, o->epochs, loss,
						 validate ? psprintf("%.4f", val) : "n/a",
						 targets * epoch / Max(elapsed, 1e-6), elapsed,
						 ecml_seconds_left(elapsed, epoch, o->epochs));
}

/*
 * Fit: epochs of shuffled mini-batches with early stopping on the
 * validation loss; net ends with the best epoch's parameters.
 */
static void
lstm_fit(LstmFitBuffers *fb, const LstmOptions *o, const LstmData *d, LstmSplit *sp,
		 EcmlRng *rng, bool sampled, LstmFitReport *r)
{
	TimestampTz start = GetCurrentTimestamp();
	StringInfoData history;
	int			step = 0;
	int			bad_epochs = 0;
	int			epoch;
	double		best_val = INFINITY;
	double		last_loss = NAN;
	double		last_val = NAN;

	initStringInfo(&history);
	for (epoch = 1; epoch <= o->epochs; epoch++)
	{
		double		loss = 0.0;
		int64		targets = 0;

		/* a fresh seeded order of the training sequences each epoch */
		for (int64 i = sp->ntrain - 1; i > 0; i--)
		{
			int64		j = (int64) ecml_rng_below(rng, (uint64) (i + 1));
			int64		tmp = sp->train[i];

			sp->train[i] = sp->train[j];
			sp->train[j] = tmp;
		}
		if (fb->lanes)
			loss = lstm_lanes_epoch(fb->lanes, &fb->net, &fb->grads, fb->adam_m, fb->adam_v,
									&step, &fb->w, d, sp->train, sp->ntrain, rng, sampled, o,
									&targets);
		for (int64 i = 0; i < sp->ntrain && !fb->lanes; i += o->batch_size)
		{
			int64		nt;

			loss += lstm_sgd_step(&fb->net, &fb->grads, fb->adam_m, fb->adam_v, &step, &fb->w,
								  d, sp->train + i, (int) Min(o->batch_size, sp->ntrain - i),
								  rng, sampled, o, &nt);
			targets += nt;
		}
		lstm_sparse_catch_up(&fb->net, fb->adam_m, fb->adam_v, &fb->w, o, step);
		last_loss = loss / Max(targets, 1);
		if (!isfinite(last_loss))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s: the training loss diverged in epoch %d", TRAINER, epoch),
					 errhint("Lower \"learning_rate\" or set \"clip_norm\".")));
		if (sp->nval > 0)
			last_val = lstm_eval(&fb->net, &fb->w, d, sp->val, sp->nval);
		lstm_epoch_done(&history, o, epoch, last_loss, last_val, sp->nval > 0, targets, start);

		if (sp->nval > 0)
		{
			if (last_val < best_val)
			{
				best_val = last_val;
				r->train_loss = last_loss;
				r->best_epoch = epoch;
				bad_epochs = 0;
				memcpy(fb->best, fb->net.params, sizeof(float) * fb->P);
			}
			else if (++bad_epochs >= o->patience)
			{
				r->stopped_early = epoch < o->epochs;
				break;
			}
		}
	}
	r->epochs_run = Min(epoch, o->epochs);
	if (sp->nval > 0)
		memcpy(fb->net.params, fb->best, sizeof(float) * fb->P);
	else
	{
		r->best_epoch = r->epochs_run;
		r->train_loss = last_loss;
	}
	r->val_loss = best_val;
	r->history = history.data;
}

/*
 * The repeat mechanism, the successor weight and the neighbours' weight,
 * fitted on the held-out sequences when there are any (training ones
 * flatter the softmax, the successor counts and the neighbours, which
 * would include the sequence itself) with a successor table and sessions
 * of the training sequences; the model then keeps those of every sequence.
 */
static void
lstm_fit_mixture(LstmFitBuffers *fb, const LstmOptions *o, const LstmData *d,
				 const LstmSplit *sp, LstmFitReport *r, EcmlTrainMemory *mem)
{
	LstmSuccessors *succ = NULL;
	LstmNeighbours *knn = NULL;
	int			V = d->vocab.n + 1;

	if (o->successors == LSTM_SUCCESSORS_AUTO)
	{
		succ = palloc0(sizeof(LstmSuccessors));
		lstm_successors_build(succ, V, o->max_successors, o->successor_window, d->off, d->tok, sp->train,
							  sp->ntrain, mem);
	}
	/* without held-out sequences each target's own session would be its best neighbour */
	if (o->neighbours == LSTM_NEIGHBOURS_AUTO && sp->nval > 0)
	{
		knn = palloc0(sizeof(LstmNeighbours));
		lstm_neighbours_build(knn, V, o->neighbour_sessions, d->off, d->tok, sp->train,
							  sp->ntrain, mem);
	}
	lstm_fit_repeat(&fb->net, &fb->w, d, sp->nval > 0 ? sp->val : sp->train,
					sp->nval > 0 ? sp->nval : sp->ntrain, succ, knn,
					o->repeat == LSTM_REPEAT_AUTO, r->repeat, r->succ_params, &r->knn_weight);
	if (succ && sp->nval > 0)
	{
		lstm_successors_free(succ, mem);
		lstm_successors_build(succ, V, o->max_successors, o->successor_window, d->off, d->tok, sp->order,
							  d->nseq, mem);
	}
	if (knn)
		lstm_neighbours_free(knn, mem);
	if (knn && r->knn_weight > 0.0f)
	{
		lstm_neighbours_build(knn, V, o->neighbour_sessions, d->off, d->tok, sp->order,
							  d->nseq, mem);
	}
	r->succ = succ;
	/* "neighbours": "auto" reports its weight, 0 without held-out sequences */
	r->knn = knn ? knn : (o->neighbours == LSTM_NEIGHBOURS_AUTO ? palloc0(sizeof(LstmNeighbours)) : NULL);
}

/* final: collect, fit and write the model */
PG_FUNCTION_INFO_V1(lstm_train_finalfn);
Datum
lstm_train_finalfn(PG_FUNCTION_ARGS)
{
	LstmState  *st = PG_ARGISNULL(0) ? NULL : (LstmState *) PG_GETARG_POINTER(0);
	LstmOptions o;
	LstmData	d;
	LstmSplit	sp;
	LstmFitBuffers fb;
	LstmFitReport r;
	EcmlRng		rng;
	EcmlTrainMemory mem;
	int			V;

	if (st == NULL || st->nseq == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no training sequences", TRAINER),
				 errdetail("Sequences seen: " INT64_FORMAT "; skipped: " INT64_FORMAT " NULL, " INT64_FORMAT " shorter than 2 tokens.",
						   st ? st->nseq + st->nnull + st->nshort : 0,
						   st ? st->nnull : 0, st ? st->nshort : 0),
				 errhint("Pass one row per sequence with at least 2 tokens each, e.g. array_agg(item ORDER BY ts) grouped by session.")));
	lstm_parse_options(st->options, &o, TRAINER);

	ecml_train_memory_init(&mem, TRAINER, state_bytes(st));
	lstm_collect(st, &o, &d, &sp, &rng, &mem);
	V = d.vocab.n + 1;
	memset(&r, 0, sizeof(r));
	r.sampled = lstm_uses_sampled(&o, V);
	/* the model records the loss it was trained with */
	lstm_resolve_loss(&o, r.sampled);
	lstm_fit_alloc(&fb, &o, V, d.vocab.n, r.sampled, sp.nval > 0, &mem);
	lstm_init_params(&fb.net, &rng);
	if (lstm_prior_bias(&o, r.sampled))
		lstm_init_output_prior(&fb.net, d.counts);
	lstm_work_init(&fb.w, &fb.net, o.batch_size, o.max_length - 1, r.sampled, o.num_sampled,
				   o.dropout);
	fb.w.loss = o.loss;
	fb.w.bpr_reg = (float) o.bpr_reg;
	if (r.sampled)
		lstm_proposal(&fb.w, &d, V);
	ecml_blas_prepare();

	lstm_fit(&fb, &o, &d, &sp, &rng, r.sampled, &r);
	r.repeat[1] = 1.0f;
	if (o.repeat == LSTM_REPEAT_AUTO || o.successors == LSTM_SUCCESSORS_AUTO ||
		o.neighbours == LSTM_NEIGHBOURS_AUTO)
		lstm_fit_mixture(&fb, &o, &d, &sp, &r, &mem);

	r.ntrain = sp.ntrain;
	r.nval = sp.nval;
	r.nshort = st->nshort;
	r.nnull = st->nnull;
	r.ntokens = st->ntokens;
	r.nunknown = d.nunknown;
	PG_RETURN_BYTEA_P(lstm_write_model(&o, st->token_type, &d.vocab, &fb.net, &r,
									   st->nseq + st->nnull + st->nshort,
									   st->nnull + st->nshort));
}
