/*
 * text_clf_train.c
 *	  ecml.text_classifier_train(tokens text[], label text [, options]): a
 *	  fastText-style supervised text classifier (Joulin et al. 2017, "Bag
 *	  of Tricks for Efficient Text Classification"): a document is the
 *	  average of the embeddings of its words and hashed word n-grams, and a
 *	  softmax over the labels reads it; trained by SGD with a linearly
 *	  decaying learning rate.  Only the n-gram buckets that occur in
 *	  training get a row (the model stores them and nothing else).  The
 *	  four-argument form starts the words' input rows from a word_vectors
 *	  model (fastText's -pretrainedVectors) instead of at random.
 *
 *	  The aggregate buffers (label, tokens) documents (text_rows.c) and
 *	  trains in one thread in an order that depends on the seed and the
 *	  documents only, so the same documents give the same model byte for
 *	  byte, serial or parallel.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "access/detoast.h"
#include "arrays.h"
#include "miscadmin.h"
#include "text.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/timestamp.h"
#include "vecops.h"

#define TRAINER "text_classifier_train"

typedef struct ClfOptions
{
	int			dim;
	int			epochs;
	double		learning_rate;
	int			word_ngrams;
	int			buckets;
	int			min_count;
	int			max_vocab;
	int64		seed;
} ClfOptions;

static const EcmlOptionSpec clf_option_specs[] = {
	{"dim", ECML_OPT_INT, offsetof(ClfOptions, dim), 1, WV_DIM_MAX},
	{"epochs", ECML_OPT_INT, offsetof(ClfOptions, epochs), 1, WV_EPOCHS_MAX},
	{"learning_rate", ECML_OPT_REAL, offsetof(ClfOptions, learning_rate), 0, 10, true},
	{"word_ngrams", ECML_OPT_INT, offsetof(ClfOptions, word_ngrams), 1, CLF_WORD_NGRAMS_MAX},
	{"buckets", ECML_OPT_INT, offsetof(ClfOptions, buckets), 1, WV_BUCKETS_MAX},
	{"min_count", ECML_OPT_INT, offsetof(ClfOptions, min_count), 1, INT_MAX},
	{"max_vocab", ECML_OPT_INT, offsetof(ClfOptions, max_vocab), 1, WV_MAX_VOCAB_MAX},
	{"seed", ECML_OPT_INT64, offsetof(ClfOptions, seed), 0, (double) PG_INT64_MAX},
};

#define N_CLF_OPTIONS lengthof(clf_option_specs)

/*
 * The dimension of the word_vectors model init (a model of another kind,
 * or a damaged one, is an ERROR).
 */
static int
clf_init_dim(bytea *init)
{
	EcmlModel	model;
	const EcmlSection *s;
	int32		shape[8];

	ecml_model_open(init, ECML_KIND_WORDVEC, &model);
	s = ecml_model_section(&model, WV_TAG_SHAPE, ECML_SECTION_INT32, true);
	if (s->length != sizeof(shape))
		ecml_model_corrupted("word_vectors shape section has the wrong length", NULL);
	memcpy(shape, s->data, sizeof(shape));
	if (shape[1] < 1 || shape[1] > WV_DIM_MAX)
		ecml_model_corrupted("word_vectors dimension out of range", NULL);
	return shape[1];
}

/*
 * Options: with word vectors to start from (init_dim > 0), dim defaults to
 * theirs and another dim is an ERROR.
 */
static void
clf_parse_options(Jsonb *opts, int init_dim, ClfOptions *o)
{
	o->dim = init_dim > 0 ? init_dim : CLF_DIM_DEFAULT;
	o->epochs = CLF_EPOCHS_DEFAULT;
	o->learning_rate = CLF_LR_DEFAULT;
	o->word_ngrams = CLF_WORD_NGRAMS_DEFAULT;
	o->buckets = CLF_BUCKETS_DEFAULT;
	o->min_count = CLF_MIN_COUNT_DEFAULT;
	o->max_vocab = WV_MAX_VOCAB_DEFAULT;
	o->seed = WV_SEED_DEFAULT;
	ecml_parse_options(opts, clf_option_specs, N_CLF_OPTIONS, o, TRAINER);
	if (init_dim > 0 && o->dim != init_dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: option dim is %d, the word vectors have %d dimensions",
						TRAINER, o->dim, init_dim),
				 errhint("Leave dim out (it follows the word vectors), or train word vectors with \"dim\": %d.",
						 o->dim)));
}

/* ---------------- the aggregate ---------------- */

/*
 * Every row must pass the first row's word vectors (or NULL like it).  A
 * row's model is compared with the first by its size and header, which
 * holds the payload's CRC, reading only the header of a TOASTed value; a
 * different one is checked as a model first (kind, damage, version), so
 * that those errors say what is wrong with it.
 */
static void
clf_check_init_arg(const TextRows *st, FunctionCallInfo fcinfo)
{
	if (!PG_ARGISNULL(4) && st->init != NULL &&
		toast_raw_datum_size(PG_GETARG_DATUM(4)) == VARSIZE(st->init))
	{
		bytea	   *head = PG_GETARG_BYTEA_P_SLICE(4, 0, ECML_HEADER_SIZE);
		Size		n = VARSIZE(head) - VARHDRSZ;

		if (n == Min(ECML_HEADER_SIZE, VARSIZE(st->init) - VARHDRSZ) &&
			memcmp(VARDATA(head), VARDATA(st->init), n) == 0)
			return;
	}
	else if (PG_ARGISNULL(4) && st->init == NULL)
		return;
	if (!PG_ARGISNULL(4))
		(void) clf_init_dim(PG_GETARG_BYTEA_P(4));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: word_vectors differ between rows", TRAINER),
			 errhint("Pass one word_vectors model for all rows, for example as a scalar subquery.")));
}

/*
 * transition: buffer one labelled document, the label as its first token;
 * the options are the first row's, and so are the word vectors, which the
 * other rows must repeat
 */
PG_FUNCTION_INFO_V1(text_classifier_train_transfn);
Datum
text_classifier_train_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	TextRows   *st;
	text	   *label;
	int			labellen;

	aggcxt = ecml_agg_context(fcinfo, "text_classifier_train_transfn");
	st = PG_ARGISNULL(0) ? NULL : (TextRows *) PG_GETARG_POINTER(0);
	if (st == NULL)
	{
		ClfOptions	o;

		st = text_rows_new(aggcxt, TRAINER);
		st->options = ecml_options_arg(fcinfo, 3, aggcxt);
		/* the word vectors to start from: the first row's, kept whole */
		if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
		{
			bytea	   *init = PG_GETARG_BYTEA_P(4);

			st->init = MemoryContextAlloc(aggcxt, VARSIZE(init));
			memcpy(st->init, init, VARSIZE(init));
		}
		clf_parse_options(st->options, st->init ? clf_init_dim(st->init) : 0, &o);
	}
	else if (PG_NARGS() > 4)
		clf_check_init_arg(st, fcinfo);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		st->nnull++;
		PG_RETURN_POINTER(st);
	}
	label = PG_GETARG_TEXT_PP(2);
	labellen = VARSIZE_ANY_EXHDR(label);
	if (labellen == 0 || labellen > CLF_LABEL_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: a label must have 1 to %d bytes, got %d", TRAINER,
						CLF_LABEL_MAX_BYTES, labellen),
				 errhint("Pass NULL to skip a row without a label.")));
	text_rows_append(st, aggcxt, PG_GETARG_ARRAYTYPE_P(1), VARDATA_ANY(label), labellen);
	PG_RETURN_POINTER(st);
}

/* ---------------- data ---------------- */

typedef struct ClfData
{
	TextVocab	words;			/* kept words, most frequent first */
	TextVocab	labels;			/* most frequent first */
	int			V;
	int			L;
	int64		ndocs;
	int32	   *label;			/* [ndocs] */
	int64	   *off;			/* [ndocs + 1] into rows */
	int32	   *rows;			/* input rows of each document */
	int			nbuckets;		/* n-gram buckets with a row */
	int32	   *bucket_ids;		/* [nbuckets] ascending */
	int64		words_dropped;
} ClfData;

static int
vocab_count_cmp(const void *a, const void *b, void *arg)
{
	static uint32 calls = 0;
	const TextVocab *v = (const TextVocab *) arg;
	int			ea = *(const int *) a;
	int			eb = *(const int *) b;
	int			c;

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

/* the entries of all, most frequent first, count >= min_count, at most max */
static void
vocab_keep(const TextVocab *all, int min_count, int max, TextVocab *kept)
{
	int		   *order = palloc_extended(sizeof(int) * Max(all->n, 1), MCXT_ALLOC_HUGE);

	for (int e = 0; e < all->n; e++)
		order[e] = e;
	qsort_arg(order, all->n, sizeof(int), vocab_count_cmp, (void *) all);
	text_vocab_init(kept, Max(all->n, 16));
	for (int i = 0; i < all->n && kept->n < max; i++)
	{
		int			e = order[i];
		int			k;

		if (all->counts[e] < min_count)
			break;
		/* add first: text_vocab_add may move the counts array */
		k = text_vocab_add(kept, all->strs[e], all->lens[e]);
		kept->counts[k] = all->counts[e];
	}
	pfree(order);
}

/* Count the words and labels of every document; the longest document. */
static int
clf_count(const TextRows *st, TextVocab *allw, TextVocab *alll)
{
	TextRowsCursor cur;
	int			maxtok = 0;

	text_vocab_init(allw, 1024);
	text_vocab_init(alll, 16);
	text_rows_cursor(st, &cur);
	for (int64 doc = 0; doc < st->ndocs; doc++)
	{
		int			len;
		const char *s = text_rows_token(&cur, &len);
		int			e;

		CHECK_FOR_INTERRUPTS();
		/* add first: text_vocab_add may move the counts array */
		e = text_vocab_add(alll, s, len);
		alll->counts[e]++;
		if (alll->n > CLF_MAX_LABELS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s: more than %d distinct labels", TRAINER, CLF_MAX_LABELS),
					 errhint("Group rare labels into one, or train one classifier per label group.")));
		maxtok = Max(maxtok, st->ntok[doc] - 1);
		for (int t = 1; t < st->ntok[doc]; t++)
		{
			s = text_rows_token(&cur, &len);
			e = text_vocab_add(allw, s, len);
			allw->counts[e]++;
		}
		if ((doc & 1023) == 0)
			ecml_check_train_memory(st->cap + (Size) allw->cap * 48, TRAINER);
	}
	if (alll->n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: every document has the label \"%s\"; a classifier needs at least two labels",
						TRAINER, alll->strs[0]),
				 errhint("Train on documents of at least two labels.")));
	return maxtok;
}

/*
 * One document's input rows from k on: its kept words, then its n-gram
 * buckets as -1 - bucket (made row numbers once every bucket is known),
 * also appended to all_buckets[*nall ..].  Returns the new k.
 */
static int64
clf_doc_rows(const ClfOptions *o, ClfData *d, TextRowsCursor *cur, const TextDocKey *key,
			 int64 doc, int64 k, uint32 *hashes, int32 *all_buckets, int64 *nall)
{
	int			len;
	const char *s;
	int			ntok = 0;
	int			n;

	cur->off = key->off;
	s = text_rows_token(cur, &len);
	d->label[doc] = text_vocab_find(&d->labels, s, len);
	d->off[doc] = k;
	while (cur->off < key->off + key->len)
	{
		int			w;

		s = text_rows_token(cur, &len);
		hashes[ntok++] = text_hash(s, len);
		w = text_vocab_find(&d->words, s, len);
		if (w >= 0)
			d->rows[k++] = w;
	}
	if (o->word_ngrams == 1)
		return k;
	n = text_clf_ngrams(hashes, ntok, o->word_ngrams, o->buckets, d->rows + k);
	memcpy(all_buckets + *nall, d->rows + k, sizeof(int32) * n);
	for (int i = 0; i < n; i++)
		d->rows[k + i] = -1 - d->rows[k + i];
	*nall += n;
	return k + n;
}

/* The buckets in use, ascending, get the rows after the words'. */
static void
clf_bucket_rows(ClfData *d, int32 *all_buckets, int64 nall, int64 nrows)
{
	int			n = 0;

	if (nall > 0)
	{
		pg_qsort(all_buckets, nall, sizeof(int32), int32_cmp);
		for (int64 i = 0; i < nall; i++)
			if (n == 0 || all_buckets[i] != all_buckets[n - 1])
				all_buckets[n++] = all_buckets[i];
	}
	d->nbuckets = n;
	d->bucket_ids = all_buckets;
	for (int64 i = 0; i < nrows; i++)
		if (d->rows[i] < 0)
			d->rows[i] = d->V + (int32) ecml_find_int32(all_buckets, n, -1 - d->rows[i]);
}

static void
clf_build_data(const TextRows *st, const ClfOptions *o, ClfData *d)
{
	TextVocab	allw;
	TextVocab	alll;
	TextRowsCursor cur;
	TextDocKey *order;
	int32	   *all_buckets;
	int64		nall = 0;
	int64		maxrows = 0;
	int64		k = 0;
	int			maxtok = clf_count(st, &allw, &alll);
	uint32	   *hashes;

	vocab_keep(&allw, o->min_count, o->max_vocab, &d->words);
	vocab_keep(&alll, 1, CLF_MAX_LABELS, &d->labels);
	d->V = d->words.n;
	d->L = d->labels.n;
	if (d->V == 0 && o->word_ngrams == 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no word occurs at least min_count (%d) times", TRAINER, o->min_count),
				 errhint("Lower min_count, or train on more documents.")));
	d->words_dropped = allw.n - d->V;

	/* every document's input rows: its kept words, then its n-grams */
	hashes = palloc(sizeof(uint32) * Max(maxtok, 1));
	order = text_rows_order(st, (uint64) o->seed);
	for (int64 doc = 0; doc < st->ndocs; doc++)
		maxrows += (int64) (st->ntok[doc] - 1) * o->word_ngrams;
	ecml_check_train_memory(st->cap + sizeof(int32) * (Size) maxrows * 2, TRAINER);
	d->ndocs = st->ndocs;
	d->label = palloc_extended(sizeof(int32) * st->ndocs, MCXT_ALLOC_HUGE);
	d->off = palloc_extended(sizeof(int64) * (st->ndocs + 1), MCXT_ALLOC_HUGE);
	d->rows = palloc_extended(sizeof(int32) * Max(maxrows, 1), MCXT_ALLOC_HUGE);
	all_buckets = palloc_extended(sizeof(int32) * Max(maxrows, 1), MCXT_ALLOC_HUGE);
	text_rows_cursor(st, &cur);
	for (int64 doc = 0; doc < st->ndocs; doc++)
	{
		CHECK_FOR_INTERRUPTS();
		k = clf_doc_rows(o, d, &cur, &order[doc], doc, k, hashes, all_buckets, &nall);
	}
	d->off[st->ndocs] = k;
	clf_bucket_rows(d, all_buckets, nall, k);
}

/* ---------------- training ---------------- */

/*
 * Start the input rows of the words from a word_vectors model (fastText's
 * -pretrainedVectors): each word with a vector there, its own or, for a
 * model with subwords, its character n-grams', gets it; the others keep
 * their random start, as do the word n-gram rows.  Returns how many words
 * were set.
 */
static int
clf_init_words(bytea *init, const TextVocab *words, float *in, int dim)
{
	EcmlModel	model;
	WordVectors *wv;
	float	   *v = palloc(sizeof(float) * dim);
	int			n = 0;

	ecml_model_open(init, ECML_KIND_WORDVEC, &model);
	wv = (WordVectors *) word_vectors_parse(&model, CurrentMemoryContext);
	Assert(wv->dim == dim);
	for (int w = 0; w < words->n; w++)
	{
		CHECK_FOR_INTERRUPTS();
		/* a miss may have written zeros to v: copy hits only */
		if (word_vectors_lookup(wv, words->strs[w], words->lens[w], v))
		{
			memcpy(in + (Size) w * dim, v, sizeof(float) * dim);
			n++;
		}
	}
	pfree(v);
	return n;
}

/*
 * One SGD step on one document (fastText's supervised update): h is the
 * average of its input rows, p = softmax(W h); the output rows move by
 * lr (y - p) h, the input rows by the gradient on h divided by their
 * number.  Returns the document's loss, -log p[label].
 */
TEXT_CLONES static double
clf_step(float *in, float *out, int dim, int L, const int32 *rows, int64 n,
		 int label, float lr, float *h, float *grad, float *p)
{
	float		mx = -INFINITY;
	double		z = 0.0;
	double		loss;

	memset(h, 0, sizeof(float) * dim);
	for (int64 r = 0; r < n; r++)
		ecml_axpy_inline(h, 1.0f, in + (Size) rows[r] * dim, dim);
	for (int i = 0; i < dim; i++)
		h[i] /= (float) n;
	/* p (L) = softmax(W (L, dim) h (dim)) */
	for (int l = 0; l < L; l++)
	{
		p[l] = ecml_dot_inline(out + (Size) l * dim, h, dim);
		mx = Max(mx, p[l]);
	}
	for (int l = 0; l < L; l++)
	{
		p[l] = expf(p[l] - mx);
		z += p[l];
	}
	for (int l = 0; l < L; l++)
		p[l] = (float) (p[l] / z);
	loss = -log(Max(p[label], 1e-10f));

	memset(grad, 0, sizeof(float) * dim);
	for (int l = 0; l < L; l++)
	{
		float	   *w = out + (Size) l * dim;
		float		alpha = lr * ((l == label ? 1.0f : 0.0f) - p[l]);

		/* grad first: it takes the output row before its update */
		ecml_axpy_inline(grad, alpha, w, dim);
		ecml_axpy_inline(w, alpha, h, dim);
	}
	for (int i = 0; i < dim; i++)
		grad[i] /= (float) n;
	for (int64 r = 0; r < n; r++)
		ecml_axpy_inline(in + (Size) rows[r] * dim, 1.0f, grad, dim);
	return loss;
}

/*
 * Fit: epochs of SGD over the documents in their seeded order, the
 * learning rate decaying linearly over every token of every epoch
 * (fastText).  The mean loss of each epoch goes to history.
 */
static void
clf_fit(const ClfOptions *o, const ClfData *d, float *in, float *out,
		StringInfo history, TimestampTz start)
{
	float	   *h = palloc(sizeof(float) * o->dim);
	float	   *grad = palloc(sizeof(float) * o->dim);
	float	   *p = palloc(sizeof(float) * d->L);
	int64		ntok = 0;
	int64		done = 0;
	double		total;

	for (int64 doc = 0; doc < d->ndocs; doc++)
		ntok += d->off[doc + 1] - d->off[doc];
	total = (double) o->epochs * ntok + 1;
	for (int epoch = 1; epoch <= o->epochs; epoch++)
	{
		double		loss = 0.0;
		int64		nloss = 0;

		for (int64 doc = 0; doc < d->ndocs; doc++)
		{
			int64		n = d->off[doc + 1] - d->off[doc];
			float		lr;

			CHECK_FOR_INTERRUPTS();
			done += n;
			if (n == 0)
				continue;
			lr = (float) (o->learning_rate * Max(1.0 - done / total, 0.0));
			loss += clf_step(in, out, o->dim, d->L, d->rows + d->off[doc], n,
							 d->label[doc], lr, h, grad, p);
			nloss++;
		}
		appendStringInfo(history, "%s%.6f", epoch > 1 ? ", " : "",
						 nloss > 0 ? loss / nloss : 0.0);
		ecml_progress_notice("%s: epoch %d/%d, loss %.4f, %.1f s", TRAINER, epoch, o->epochs,
							 nloss > 0 ? loss / nloss : 0.0, ecml_elapsed_seconds(start));
	}
}

/* The model's info and metrics sections (JSON). */
static void
clf_write_json(EcmlModelBuilder *b, const TextRows *st, const ClfOptions *o,
			   const ClfData *d, int ninit, const char *history)
{
	StringInfoData json;

	initStringInfo(&json);
	ecml_options_to_json(&json, clf_option_specs, N_CLF_OPTIONS, o);
	ecml_builder_add_json(b, ECML_TAG_HYPERPARAMS, json.data);
	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"words\": %d, \"labels\": %d, \"dim\": %d, \"word_ngrams\": %d, "
					 "\"ngram_buckets_stored\": %d",
					 d->V, d->L, o->dim, o->word_ngrams, d->nbuckets);
	if (ninit >= 0)
		appendStringInfo(&json, ", \"words_from_word_vectors\": %d", ninit);
	appendStringInfoChar(&json, '}');
	ecml_builder_add_json(b, ECML_TAG_INFO, json.data);
	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"documents\": " INT64_FORMAT ", \"skipped_null\": " INT64_FORMAT
					 ", \"skipped_empty\": " INT64_FORMAT ", \"tokens\": " INT64_FORMAT
					 ", \"words_dropped\": " INT64_FORMAT ", \"label_counts\": {",
					 st->ndocs, st->nnull, st->nempty, st->ntokens, d->words_dropped);
	for (int l = 0; l < d->L; l++)
	{
		if (l > 0)
			appendStringInfoString(&json, ", ");
		escape_json(&json, d->labels.strs[l]);
		appendStringInfo(&json, ": " INT64_FORMAT, d->labels.counts[l]);
	}
	appendStringInfo(&json, "}, \"loss\": [%s]}", history);
	ecml_builder_add_json(b, ECML_TAG_METRICS, json.data);
}

/* The model: JSON sections, shape, vocabulary, labels, buckets, weights. */
static bytea *
clf_write(const TextRows *st, const ClfOptions *o, const ClfData *d, const float *in,
		  const float *out, int ninit, const char *history)
{
	Size		nin = (Size) d->V + d->nbuckets;
	EcmlModelBuilder b;
	int32		shape[8];

	ecml_builder_init(&b, ECML_KIND_TEXTCLF);
	clf_write_json(&b, st, o, d, ninit, history);
	shape[0] = d->V;
	shape[1] = o->dim;
	shape[2] = d->L;
	shape[3] = o->word_ngrams > 1 ? o->buckets : 0;
	shape[4] = o->word_ngrams;
	shape[5] = d->nbuckets;
	shape[6] = 0;
	shape[7] = 0;
	ecml_builder_add(&b, CLF_TAG_SHAPE, ECML_SECTION_INT32, shape, sizeof(shape));
	ecml_builder_add_texts(&b, WV_TAG_VOCAB, d->words.strs, d->V);
	ecml_builder_add_texts(&b, CLF_TAG_LABELS, d->labels.strs, d->L);
	if (d->nbuckets > 0)
		ecml_builder_add(&b, WV_TAG_NGRAM_IDS, ECML_SECTION_INT32, d->bucket_ids,
						 sizeof(int32) * d->nbuckets);
	ecml_builder_add(&b, CLF_TAG_INPUT, ECML_SECTION_FLOAT32, in, sizeof(float) * nin * o->dim);
	ecml_builder_add(&b, CLF_TAG_OUTPUT, ECML_SECTION_FLOAT32, out,
					 sizeof(float) * (Size) d->L * o->dim);
	return ecml_builder_finish(&b, st->ndocs + st->nnull + st->nempty,
							   st->nnull + st->nempty);
}

PG_FUNCTION_INFO_V1(text_classifier_train_finalfn);
Datum
text_classifier_train_finalfn(PG_FUNCTION_ARGS)
{
	TextRows   *st = PG_ARGISNULL(0) ? NULL : (TextRows *) PG_GETARG_POINTER(0);
	TimestampTz start = GetCurrentTimestamp();
	ClfOptions	o;
	ClfData		d;
	Size		nin;
	float	   *in;
	float	   *out;
	EcmlRng		rng;
	int			ninit = -1;
	StringInfoData history;

	if (st == NULL || st->ndocs == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no labelled documents with tokens", TRAINER),
				 errdetail("Rows seen: " INT64_FORMAT "; skipped: " INT64_FORMAT " with a NULL document or label, " INT64_FORMAT " without tokens.",
						   st ? st->nnull + st->nempty : 0,
						   st ? st->nnull : 0, st ? st->nempty : 0),
				 errhint("Pass one row per document: its tokens from ecml.tokenize() and its label.")));
	clf_parse_options(st->options, st->init ? clf_init_dim(st->init) : 0, &o);
	memset(&d, 0, sizeof(d));
	clf_build_data(st, &o, &d);

	nin = (Size) d.V + d.nbuckets;
	ecml_check_train_memory(st->cap + sizeof(float) * (nin + d.L) * o.dim, TRAINER);
	in = palloc_extended(sizeof(float) * Max(nin, 1) * o.dim, MCXT_ALLOC_HUGE);
	out = palloc_extended(sizeof(float) * (Size) d.L * o.dim, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	/* fastText: input rows uniform in [-1/dim, 1/dim], output rows zero */
	ecml_rng_seed(&rng, (uint64) o.seed);
	for (Size i = 0; i < nin * o.dim; i++)
		in[i] = (float) ((2.0 * ecml_rng_uniform(&rng) - 1.0) / o.dim);
	if (st->init)
		ninit = clf_init_words(st->init, &d.words, in, o.dim);

	initStringInfo(&history);
	clf_fit(&o, &d, in, out, &history, start);
	PG_RETURN_BYTEA_P(clf_write(st, &o, &d, in, out, ninit, history.data));
}
