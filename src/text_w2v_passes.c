/*
 * text_w2v_passes.c
 *	  ecml.train('word2vec', 'SELECT tokens FROM ...', options): word vectors
 *	  trained in passes over the source, the corpus streamed rather than
 *	  buffered, so memory is O(model) whatever the corpus.
 *
 *	  Pass 1, the vocabulary, is a plain grouped count (unnest, GROUP BY):
 *	  the executor spills it to disk past work_mem and parallel workers or
 *	  Citus shards count in parts, so it is exact; the backend keeps the
 *	  max_vocab most frequent words seen at least min_count times.  Then one
 *	  pass per epoch of ecml.word2vec_pass, whose bytea state is the
 *	  checkpoint (word and n-gram input rows, output rows): each partition
 *	  trains on its own documents with word2vec_train's steps, its learning
 *	  rate decaying linearly by the corpus-wide count of words trained on
 *	  (previous passes) plus its own, and partial states average their
 *	  weights row by row, each row weighted by how often each side's
 *	  documents used it (model averaging).  A
 *	  last pass sums the second moments of the documents' SIF embeddings,
 *	  whose leading eigenvector is the common component embed_text removes.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "ecml.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "text.h"
#include "text_w2v.h"
#include "train.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"

#define PASS_AGG "ecml.word2vec_pass"
#define PASS_TRAINER "ecml.train('word2vec')"
#define W2V_PASS_MAGIC 0x57325650	/* "W2VP" */

typedef enum W2vPassMode
{
	W2V_PASS_TRAIN = 0,
	W2V_PASS_COMPONENT = 1		/* sum the SIF embeddings' second moments */
} W2vPassMode;

/*
 * The checkpoint and the pass state.  After the header: counts int64[V],
 * ngram_ids int32[nngrams], in float[(V + nngrams) * dim], out
 * float[V * dim], moments double[dim * dim], then the rows' weights in
 * this pass (the documents' occurrences of the word they belong to):
 * in_weight float[V + nngrams], out_weight float[V]; each MAXALIGNed.
 */
typedef struct W2vPassState
{
	int32		vl_len_;
	int32		magic;
	int32		mode;
	int32		V;
	int32		nngrams;
	int32		epoch;
	W2vOptions	o;
	int64		ntrain;			/* kept tokens of the corpus */
	int64		words_before;	/* trained on in earlier passes */
	int64		words;			/* trained on by this state in this pass */
	int64		ndocs;			/* this pass's documents with tokens */
	int64		nnull;
	int64		nempty;
	int64		ntokens;
	int64		nparts;			/* partial states merged into this one */
	uint64		rnd;
	double		loss;
	int64		nloss;
} W2vPassState;

/* test/pgtap/{bad_inputs,parallel}.sql and cancel_all.sh spell one out */
StaticAssertDecl(sizeof(W2vPassState) == 192, "W2vPassState layout changed");

typedef struct PassLayout
{
	int64	   *counts;
	int32	   *ngram_ids;
	float	   *in;
	float	   *out;
	double	   *moments;
	float	   *in_weight;
	float	   *out_weight;
} PassLayout;

static Size
pass_size(int V, int nngrams, int dim)
{
	Size		s = MAXALIGN(sizeof(W2vPassState));

	s = ecml_add_size(s, ecml_mul_size(sizeof(int64), V));
	s = ecml_add_size(s, MAXALIGN(ecml_mul_size(sizeof(int32), nngrams)));
	s = ecml_add_size(s, MAXALIGN(ecml_mul_size(ecml_mul_size(sizeof(float), (Size) V + nngrams), dim)));
	s = ecml_add_size(s, MAXALIGN(ecml_mul_size(ecml_mul_size(sizeof(float), V), dim)));
	s = ecml_add_size(s, ecml_mul_size(ecml_mul_size(sizeof(double), dim), dim));
	s = ecml_add_size(s, MAXALIGN(ecml_mul_size(sizeof(float), (Size) V + nngrams)));
	return ecml_add_size(s, MAXALIGN(ecml_mul_size(sizeof(float), V)));
}

static void
pass_layout(const W2vPassState *s, PassLayout *l)
{
	char	   *p = (char *) s + MAXALIGN(sizeof(W2vPassState));
	int			dim = s->o.dim;

	l->counts = (int64 *) p;
	p += sizeof(int64) * s->V;
	l->ngram_ids = (int32 *) p;
	p += MAXALIGN(sizeof(int32) * s->nngrams);
	l->in = (float *) p;
	p += MAXALIGN(sizeof(float) * ((Size) s->V + s->nngrams) * dim);
	l->out = (float *) p;
	p += MAXALIGN(sizeof(float) * (Size) s->V * dim);
	l->moments = (double *) p;
	p += sizeof(double) * dim * dim;
	l->in_weight = (float *) p;
	p += MAXALIGN(sizeof(float) * ((Size) s->V + s->nngrams));
	l->out_weight = (float *) p;
}

#define pass_corrupt(what) ecml_pass_state_invalid(PASS_AGG, "word2vec", (what))

/* a checkpoint from anywhere (it is a bytea argument) must be well-formed */
static void
pass_check(const W2vPassState *s, const char *what)
{
	const W2vOptions *o = &s->o;
	PassLayout	l;

	if (VARSIZE_ANY(s) < sizeof(W2vPassState) || VARATT_IS_SHORT(s) ||
		s->magic != W2V_PASS_MAGIC ||
		(s->mode != W2V_PASS_TRAIN && s->mode != W2V_PASS_COMPONENT) ||
		s->V < 1 || s->V > WV_MAX_VOCAB_MAX || s->nngrams < 0 ||
		o->dim < 1 || o->dim > WV_DIM_MAX || o->window < 1 || o->window > WV_WINDOW_MAX ||
		o->negative < 1 || o->negative > WV_NEGATIVE_MAX ||
		o->epochs < 1 || o->epochs > WV_EPOCHS_MAX ||
		(o->method != W2V_SKIPGRAM && o->method != W2V_CBOW) ||
		o->maxn < 0 || o->maxn > WV_NGRAM_MAX || o->minn < 1 ||
		(o->maxn > 0 && (o->minn > o->maxn || o->buckets < 1 || s->nngrams > o->buckets)) ||
		(o->maxn == 0 && s->nngrams != 0) ||
		!(o->sample >= 0 && o->sample <= 1) || !(o->learning_rate > 0 && o->learning_rate <= 10) ||
		!(o->sif_a > 0 && o->sif_a <= 1) || s->ntrain < 1 || s->words_before < 0 ||
		VARSIZE(s) != pass_size(s->V, s->nngrams, o->dim))
		pass_corrupt(what);
	pass_layout(s, &l);
	for (int w = 0; w < s->V; w++)
		if (l.counts[w] < 1)
			pass_corrupt(what);
	for (int i = 0; i < s->nngrams; i++)
		if (l.ngram_ids[i] < 0 || l.ngram_ids[i] >= o->buckets ||
			(i > 0 && l.ngram_ids[i] <= l.ngram_ids[i - 1]))
			pass_corrupt(what);
}

/* ---------------- the aggregate ---------------- */

/* what a partition builds once per pass: the vocabulary and the tables */
typedef struct PassCache
{
	MemoryContext mcxt;
	TextVocab	vocab;
	W2vData		d;
	W2vNet		net;
	W2vScratch	scratch;
	int32	   *ids;
	int			maxids;
	float	   *vectors;		/* component pass: the word vectors */
	double		total;			/* component pass: the counts' sum */
} PassCache;

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return x < y ? -1 : x > y;
}

/* each word's input rows from the checkpoint's n-gram list */
static void
cache_rows(PassCache *c, const W2vPassState *s, const PassLayout *l)
{
	W2vData    *d = &c->d;
	int64		total = 0;
	int64		k = 0;

	d->in_off = palloc_extended(sizeof(int64) * (d->V + 1), MCXT_ALLOC_HUGE);
	for (int w = 0; w < d->V && s->o.maxn > 0; w++)
		total += text_ngram_count(d->words[w], strlen(d->words[w]), s->o.minn, s->o.maxn);
	d->in_rows = palloc_extended(sizeof(int32) * (total + d->V), MCXT_ALLOC_HUGE);
	for (int w = 0; w < d->V; w++)
	{
		int			m = 0;

		d->in_off[w] = k;
		d->in_rows[k++] = w;
		if (s->o.maxn > 0)
			m = text_word_ngrams(d->words[w], strlen(d->words[w]), s->o.minn, s->o.maxn,
								 s->o.buckets, d->in_rows + k);
		for (int i = 0; i < m; i++)
		{
			int32 *hit = bsearch(&d->in_rows[k + i], l->ngram_ids, s->nngrams,
								 sizeof(int32), int32_cmp);

			if (hit == NULL)
				pass_corrupt("checkpoint's n-gram list");
			d->in_rows[k + i] = d->V + (int32) (hit - l->ngram_ids);
		}
		k += m;
	}
	d->in_off[d->V] = k;
}

static PassCache *
pass_cache(FunctionCallInfo fcinfo, const W2vPassState *s, ArrayType *vocabulary)
{
	PassCache  *c = (PassCache *) fcinfo->flinfo->fn_extra;
	MemoryContext old;
	PassLayout	l;
	char	  **strs;
	int		   *lens;
	int			n;

	if (c != NULL && c->d.V == s->V)
		return c;
	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(PassCache));
		c->mcxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "ecml.word2vec_pass work",
										ALLOCSET_DEFAULT_SIZES);
		fcinfo->flinfo->fn_extra = c;
	}
	MemoryContextReset(c->mcxt);
	old = MemoryContextSwitchTo(c->mcxt);
	text_array_tokens(vocabulary, "vocabulary", &strs, &lens, &n);
	if (n != s->V)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: vocabulary has %d words, the checkpoint %d", PASS_AGG, n, s->V),
				 errhint("Pass the vocabulary the checkpoint was made for.")));
	memset(&c->d, 0, sizeof(c->d));
	text_vocab_init(&c->vocab, n);
	c->d.words = palloc(sizeof(char *) * n);
	for (int w = 0; w < n; w++)
	{
		if (text_vocab_add(&c->vocab, strs[w], lens[w]) != w)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s: vocabulary word %d repeats an earlier one", PASS_AGG, w + 1)));
		c->d.words[w] = c->vocab.strs[w];
	}
	c->d.V = n;
	pass_layout(s, &l);
	c->d.counts = palloc(sizeof(int64) * n);
	memcpy(c->d.counts, l.counts, sizeof(int64) * n);
	c->d.nngrams = s->nngrams;
	cache_rows(c, s, &l);
	memset(&c->net, 0, sizeof(c->net));
	w2v_init_tables(&c->net, &s->o, l.counts, n, s->ntrain);
	w2v_scratch_init(&c->scratch, &s->o, &c->d, 1024);
	c->maxids = 1024;
	c->ids = palloc(sizeof(int32) * c->maxids);
	c->vectors = NULL;
	MemoryContextSwitchTo(old);
	return c;
}

/* the document's tokens as vocabulary indices (others dropped); how many */
static int
pass_doc_ids(PassCache *c, W2vPassState *s, ArrayType *tokens)
{
	char	  **strs;
	int		   *lens;
	int			n;
	int			kept = 0;
	int			m = 0;

	text_array_tokens(tokens, "tokens", &strs, &lens, &n);
	if (n > c->maxids)
	{
		c->ids = repalloc_huge(c->ids, sizeof(int32) * n);
		c->maxids = n;
	}
	for (int i = 0; i < n; i++)
	{
		int			w;

		/* the tokens word2vec_train buffers (text_rows.c) */
		if (lens[i] == 0 || lens[i] > TEXT_TOKEN_MAX_BYTES)
			continue;
		kept++;
		w = text_vocab_find(&c->vocab, strs[i], lens[i]);
		if (w >= 0)
			c->ids[m++] = w;
	}
	pfree(strs);
	pfree(lens);
	if (kept == 0)
		s->nempty++;
	else
	{
		s->ndocs++;
		s->ntokens += kept;
	}
	return m;
}

/* one document's SIF embedding, its outer product added to the moments */
static void
pass_add_moments(PassCache *c, const W2vPassState *s, double *moments, int n)
{
	int			dim = s->o.dim;
	float	   *e = c->scratch.h;

	if (c->vectors == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(c->mcxt);

		c->vectors = w2v_word_vectors(&c->net, &c->d);
		c->total = 0.0;
		for (int w = 0; w < c->d.V; w++)
			c->total += (double) c->d.counts[w];
		MemoryContextSwitchTo(old);
	}
	if (n == 0)
		return;
	memset(e, 0, sizeof(float) * dim);
	for (int t = 0; t < n; t++)
	{
		int			w = c->ids[t];
		float		wt = (float) (s->o.sif_a / (s->o.sif_a + c->d.counts[w] / c->total));
		const float *v = c->vectors + (Size) w * dim;

		for (int i = 0; i < dim; i++)
			e[i] += wt * v[i];
	}
	for (int i = 0; i < dim; i++)
		e[i] /= (float) n;
	for (int i = 0; i < dim; i++)
		for (int j = 0; j < dim; j++)
			moments[(Size) i * dim + j] += (double) e[i] * e[j];
}

/* a new group: the checkpoint copied into the aggregate's memory */
static W2vPassState *
pass_start(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	W2vPassState *in;
	W2vPassState *s;
	PassLayout	l;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: vocabulary and checkpoint must not be NULL", PASS_AGG)));
	in = (W2vPassState *) PG_GETARG_BYTEA_P(3);
	pass_check(in, "checkpoint");
	s = MemoryContextAllocHuge(aggcxt, VARSIZE(in));
	memcpy(s, in, VARSIZE(in));
	s->words = s->ndocs = s->nnull = s->nempty = s->ntokens = 0;
	s->nparts = 1;
	s->loss = 0.0;
	s->nloss = 0;
	pass_layout(s, &l);
	memset(l.in_weight, 0, sizeof(float) * ((Size) s->V + s->nngrams));
	memset(l.out_weight, 0, sizeof(float) * s->V);
	return s;
}

PG_FUNCTION_INFO_V1(word2vec_pass_transfn);
Datum
word2vec_pass_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	W2vPassState *s;
	PassCache  *c;
	PassLayout	l;
	int			n;
	bool		agg;

	/* called directly (not as an aggregate): on a copy */
	agg = AggCheckCallContext(fcinfo, &aggcxt);
	if (!agg)
		aggcxt = CurrentMemoryContext;
	if (PG_ARGISNULL(0))
		s = pass_start(fcinfo, aggcxt);
	else
	{
		s = (W2vPassState *) (agg ? PG_GETARG_BYTEA_P(0) : PG_GETARG_BYTEA_P_COPY(0));
		if (!agg)
			pass_check(s, "state");
		else if (s->magic != W2V_PASS_MAGIC)
			pass_corrupt("state");
	}
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: vocabulary must not be NULL", PASS_AGG)));
	c = pass_cache(fcinfo, s, PG_GETARG_ARRAYTYPE_P(2));
	if (PG_ARGISNULL(1))
	{
		s->nnull++;
		PG_RETURN_BYTEA_P(s);
	}
	n = pass_doc_ids(c, s, PG_GETARG_ARRAYTYPE_P(1));
	pass_layout(s, &l);
	c->net.in = l.in;
	c->net.out = l.out;
	if (s->mode == W2V_PASS_COMPONENT)
		pass_add_moments(c, s, l.moments, n);
	else if (n > 0)
	{
		double		total = (double) s->o.epochs * s->ntrain + 1;
		double		done = (double) (s->words_before + s->words + n);
		float		lr = (float) (s->o.learning_rate * (1.0 - done / total));

		/* linear decay to 1e-4 of the start, as word2vec_train */
		lr = Max(lr, (float) (s->o.learning_rate * 1e-4));
		c->net.rnd = s->rnd;
		c->net.loss = 0.0;
		c->net.nloss = 0;
		w2v_train_doc(&c->net, &c->d, &s->o, c->ids, n, lr, &c->scratch);
		s->rnd = c->net.rnd;
		s->loss += c->net.loss;
		s->nloss += c->net.nloss;
		s->words += n;
		for (int t = 0; t < n; t++)
		{
			int			w = c->ids[t];

			l.out_weight[w] += 1.0f;
			for (int64 r = c->d.in_off[w]; r < c->d.in_off[w + 1]; r++)
				l.in_weight[c->d.in_rows[r]] += 1.0f;
		}
	}
	PG_RETURN_BYTEA_P(s);
}

/*
 * Average two partitions' copies of n rows row by row, each weighted by how
 * often that side's documents used it: a word one partition never saw
 * keeps the other's update instead of half of it.  Rows neither side's
 * documents used (output rows moved only as negatives) take the sides'
 * shares of the words.
 */
static void
average_rows(float *rows1, float *w1, const float *rows2, const float *w2, Size n, int dim,
			 float fallback)
{
	for (Size r = 0; r < n; r++)
	{
		float		f = w1[r] + w2[r] > 0 ? w2[r] / (w1[r] + w2[r]) : fallback;
		float	   *a = rows1 + r * dim;
		const float *b = rows2 + r * dim;

		if ((r & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < dim; i++)
			a[i] += f * (b[i] - a[i]);
		w1[r] += w2[r];
	}
}

/*
 * combine: the weights averaged row by row (model averaging); the counters
 * and the moments added.
 */
PG_FUNCTION_INFO_V1(word2vec_pass_combinefn);
Datum
word2vec_pass_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	W2vPassState *s1 = PG_ARGISNULL(0) ? NULL : (W2vPassState *) PG_GETARG_BYTEA_P(0);
	W2vPassState *s2 = PG_ARGISNULL(1) ? NULL : (W2vPassState *) PG_GETARG_BYTEA_P(1);
	PassLayout	l1;
	PassLayout	l2;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
	{
		/* called directly: on a copy */
		aggcxt = CurrentMemoryContext;
		s1 = PG_ARGISNULL(0) ? NULL : (W2vPassState *) PG_GETARG_BYTEA_P_COPY(0);
	}
	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		pass_check(s1, "partial state");
		PG_RETURN_BYTEA_P(s1);
	}
	pass_check(s2, "partial state");
	if (s1 == NULL)
	{
		s1 = MemoryContextAllocHuge(aggcxt, VARSIZE(s2));
		memcpy(s1, s2, VARSIZE(s2));
		PG_RETURN_BYTEA_P(s1);
	}
	pass_check(s1, "partial state");
	if (VARSIZE(s1) != VARSIZE(s2) || s1->mode != s2->mode || s1->V != s2->V ||
		s1->nngrams != s2->nngrams || s1->o.dim != s2->o.dim)
		pass_corrupt("partial states: of different checkpoints");
	pass_layout(s1, &l1);
	pass_layout(s2, &l2);
	if (s1->mode == W2V_PASS_TRAIN && s2->words > 0)
	{
		float		fallback = (float) ((double) s2->words / (double) (s1->words + s2->words));

		average_rows(l1.in, l1.in_weight, l2.in, l2.in_weight, (Size) s1->V + s1->nngrams,
					 s1->o.dim, fallback);
		average_rows(l1.out, l1.out_weight, l2.out, l2.out_weight, s1->V, s1->o.dim, fallback);
	}
	if (s1->mode == W2V_PASS_COMPONENT)
		for (Size i = 0; i < (Size) s1->o.dim * s1->o.dim; i++)
			l1.moments[i] += l2.moments[i];
	s1->nparts += s2->nparts;
	s1->words += s2->words;
	s1->ndocs += s2->ndocs;
	s1->nnull += s2->nnull;
	s1->nempty += s2->nempty;
	s1->ntokens += s2->ntokens;
	s1->loss += s2->loss;
	s1->nloss += s2->nloss;
	PG_RETURN_BYTEA_P(s1);
}

/* ---------------- the driver's side ---------------- */

typedef struct W2vPassRun
{
	EcmlTrainDriver *d;
	W2vOptions	o;
	W2vData		data;
	int64		ntokens;		/* all tokens, from the vocabulary pass */
	int64		ndistinct;
	Datum		vocab_array;
	W2vPassState *ck;
} W2vPassRun;

static void
run_take_word(HeapTuple tuple, TupleDesc desc, void *arg)
{
	W2vPassRun *r = (W2vPassRun *) arg;
	bool		isnull;
	int			k = r->data.V++;

	r->data.words[k] = TextDatumGetCString(SPI_getbinval(tuple, desc, 1, &isnull));
	r->data.counts[k] = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
	r->ntokens = DatumGetInt64(SPI_getbinval(tuple, desc, 3, &isnull));
	r->ndistinct = DatumGetInt64(SPI_getbinval(tuple, desc, 4, &isnull));
	r->data.ntrain += r->data.counts[k];
}

/*
 * The vocabulary: the words seen min_count times, the max_vocab most
 * frequent (ties by byte order, as word2vec_train), with their counts.
 */
static void
run_vocabulary(W2vPassRun *r)
{
	char *sql;
	Oid types[2] = { INT8OID, INT8OID };
	Datum values[2];
	Datum *elems;

	sql = psprintf("SELECT w, n, total, ndistinct FROM "
				   "(SELECT w, n, sum(n) OVER ()::bigint AS total, count(*) OVER () AS ndistinct FROM "
				   "(SELECT w, count(*) AS n FROM %s, unnest(c1::text[]) AS ecml_w(w) "
				   "WHERE octet_length(w) BETWEEN 1 AND %d GROUP BY w) g) t "
				   "WHERE n >= $1 ORDER BY n DESC, w COLLATE \"C\" LIMIT $2",
				   r->d->from, TEXT_TOKEN_MAX_BYTES);
	values[0] = Int64GetDatum(r->o.min_count);
	values[1] = Int64GetDatum(r->o.max_vocab);
	r->data.words = palloc_extended(sizeof(char *) * r->o.max_vocab, MCXT_ALLOC_HUGE);
	r->data.counts = palloc_extended(sizeof(int64) * r->o.max_vocab, MCXT_ALLOC_HUGE);
	ecml_train_pass_rows(r->d, "vocabulary", sql, 2, types, values, run_take_word, r);
	if (r->data.V == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no word occurs at least min_count (%d) times", PASS_TRAINER,
						r->o.min_count),
				 errhint("Lower min_count, or train on more documents (one row per document, its tokens from ecml.tokenize()).")));
	elems = palloc(sizeof(Datum) * r->data.V);
	for (int w = 0; w < r->data.V; w++)
		elems[w] = CStringGetTextDatum(r->data.words[w]);
	r->vocab_array = PointerGetDatum(construct_array(elems, r->data.V, TEXTOID, -1, false,
													 TYPALIGN_INT));
}

/* the first checkpoint: word2vec_train's initial weights */
static void
run_first_checkpoint(W2vPassRun *r)
{
	Size		size;
	W2vPassState *ck;
	PassLayout	l;
	W2vNet		net;

	w2v_build_subwords(&r->o, &r->data);
	size = pass_size(r->data.V, r->data.nngrams, r->o.dim);
	/* the checkpoint, the pass's state, its copy in the result */
	ecml_check_train_memory(ecml_mul_size(size, 3), PASS_TRAINER);
	ck = palloc_extended(size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	SET_VARSIZE(ck, size);
	ck->magic = W2V_PASS_MAGIC;
	ck->mode = W2V_PASS_TRAIN;
	ck->V = r->data.V;
	ck->nngrams = r->data.nngrams;
	ck->o = r->o;
	ck->ntrain = r->data.ntrain;
	pass_layout(ck, &l);
	memcpy(l.counts, r->data.counts, sizeof(int64) * r->data.V);
	memcpy(l.ngram_ids, r->data.ngram_ids, sizeof(int32) * r->data.nngrams);
	memset(&net, 0, sizeof(net));
	net.in = l.in;
	w2v_init_weights(&net, &r->o, (Size) r->data.V + r->data.nngrams);
	ck->rnd = net.rnd;
	r->ck = ck;
}

/* the driver's copy of a pass's one result */
static void
run_take_result(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Datum	   *out = (Datum *) arg;
	bool		isnull;
	Datum		v = SPI_getbinval(tuple, desc, 1, &isnull);

	*out = isnull ? (Datum) 0 : datumCopy(v, false, -1);
}

static void
run_pass(W2vPassRun *r, const char *what)
{
	Oid types[2] = { TEXTARRAYOID, BYTEAOID };
	Datum values[2];
	Datum res = (Datum) 0;
	char *sql;
	W2vPassState *s;

	values[0] = r->vocab_array;
	values[1] = PointerGetDatum(r->ck);
	sql = psprintf("SELECT ecml.word2vec_pass(c1::text[], $1, $2) FROM %s", r->d->from);
	ecml_train_pass_rows(r->d, what, sql, 2, types, values, run_take_result, &res);
	if (res == (Datum) 0)
		elog(ERROR, "%s: pass %d returned no checkpoint", PASS_TRAINER, r->d->passes);
	s = (W2vPassState *) DatumGetByteaP(res);
	pass_check(s, "checkpoint from a pass");
	if (s->V != r->ck->V || s->mode != r->ck->mode)
		pass_corrupt("checkpoint from a pass");
	pfree(sql);
	r->ck = s;
}

bytea *
word2vec_train_passes(EcmlTrainDriver *d, Jsonb *options)
{
	W2vPassRun	r;
	StringInfoData loss;
	StringInfoData parts;
	StringInfoData hyper;
	StringInfoData metrics;
	W2vNet		net;
	PassLayout	l;
	float	   *common;
	float	   *vec;
	int64		ndocs = 0;

	memset(&r, 0, sizeof(r));
	r.d = d;
	w2v_parse_options(options, &r.o, PASS_TRAINER);
	run_vocabulary(&r);
	run_first_checkpoint(&r);
	initStringInfo(&loss);
	initStringInfo(&parts);
	for (int epoch = 1; epoch <= r.o.epochs; epoch++)
	{
		char	   *what = psprintf("epoch %d", epoch);

		r.ck->mode = W2V_PASS_TRAIN;
		r.ck->epoch = epoch;
		r.ck->words_before = (int64) (epoch - 1) * r.data.ntrain;
		run_pass(&r, what);
		/* every pass must see the documents the first one saw */
		if (epoch == 1)
			ndocs = r.ck->ndocs;
		else if (r.ck->ndocs != ndocs)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s: pass %d saw " INT64_FORMAT " documents, the first epoch " INT64_FORMAT,
							PASS_TRAINER, d->passes, r.ck->ndocs, ndocs),
					 errhint("Every pass reads the caller's snapshot, so only a volatile source (random(), TABLESAMPLE without REPEATABLE, a volatile function) can change; make it deterministic.")));
		appendStringInfo(&loss, "%s%.6f", epoch > 1 ? ", " : "",
						 r.ck->nloss > 0 ? r.ck->loss / r.ck->nloss : 0.0);
		appendStringInfo(&parts, "%s" INT64_FORMAT, epoch > 1 ? ", " : "", r.ck->nparts);
	}
	r.ck->mode = W2V_PASS_COMPONENT;
	run_pass(&r, "common component");

	pass_layout(r.ck, &l);
	memset(&net, 0, sizeof(net));
	net.dim = r.o.dim;
	net.V = r.data.V;
	net.in = l.in;
	vec = w2v_word_vectors(&net, &r.data);
	common = palloc(sizeof(float) * r.o.dim);
	text_leading_eigenvector(l.moments, r.o.dim, common);

	initStringInfo(&hyper);
	w2v_options_json(&hyper, &r.o);
	initStringInfo(&metrics);
	appendStringInfo(&metrics,
					 "{\"documents\": " INT64_FORMAT ", \"null_documents\": " INT64_FORMAT
					 ", \"empty_documents\": " INT64_FORMAT ", \"tokens\": " INT64_FORMAT
					 ", \"tokens_dropped\": " INT64_FORMAT ", \"words_dropped\": " INT64_FORMAT
					 ", \"loss\": [%s], \"partitions\": [%s], \"passes\": %d}",
					 r.ck->ndocs, r.ck->nnull, r.ck->nempty, r.ck->ntokens,
					 r.ck->ntokens - r.data.ntrain, r.ndistinct - r.data.V, loss.data,
					 parts.data, d->passes);
	return word_vectors_build(r.data.words, r.data.V, r.o.dim, r.data.counts, vec,
							  r.o.maxn > 0 ? r.o.minn : 0, r.o.maxn,
							  r.o.maxn > 0 ? r.o.buckets : 0, r.data.ngram_ids,
							  r.data.nngrams, l.in + (Size) r.data.V * r.o.dim,
							  r.o.sif_a, common, hyper.data, metrics.data,
							  r.ck->ndocs + r.ck->nnull + r.ck->nempty,
							  r.ck->nnull + r.ck->nempty);
}
