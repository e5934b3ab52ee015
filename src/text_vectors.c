/*
 * text_vectors.c
 *	  Scoring with a word_vectors model: ecml.word_vector(),
 *	  ecml.similar_words() (by word or by vector) and ecml.embed_text().
 *	  The model is parsed once (model cache) into its vocabulary, its word
 *	  vectors and their unit-length copies for cosine ranking.
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "text.h"
#include "topk.h"
#include "tsearch/ts_cache.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "vecops.h"

/* the largest magnitude a stored vector element may have */
#define WV_MAX_ABS 1e6f

/* "invalid ecml model: word_vectors <what>" (data_corrupted), model.c */
#define MODEL_CORRUPTED(what) \
	ecml_model_kind_corrupted("word_vectors", (what), \
							  "Pass a model produced by ecml.word2vec_train or ecml.word_vectors_load, unmodified.")

static void
check_floats(const float *x, Size n, const char *what)
{
	for (Size i = 0; i < n; i++)
		if (!(fabsf(x[i]) <= WV_MAX_ABS))
			MODEL_CORRUPTED(what);
}

static void
unit_rows(const float *x, float *u, int64 n, int dim)
{
	for (int64 r = 0; r < n; r++)
	{
		const float *xr = x + (Size) r * dim;
		float	   *ur = u + (Size) r * dim;
		double		s = 0.0;

		for (int i = 0; i < dim; i++)
			s += (double) xr[i] * xr[i];
		s = s > 0 ? 1.0 / sqrt(s) : 0.0;
		for (int i = 0; i < dim; i++)
			ur[i] = (float) (xr[i] * s);
	}
}

/* Parse a validated word_vectors model (in mcxt). */
void *
word_vectors_parse(const EcmlModel *model, MemoryContext mcxt)
{
	WordVectors *m = palloc0(sizeof(WordVectors));
	const EcmlSection *s = ecml_model_section(model, WV_TAG_SHAPE, ECML_SECTION_INT32, true);
	int32		shape[8];
	char	  **words;
	int			n;
	double	   *params;
	Size		nv;

	if (s->length != sizeof(shape))
		MODEL_CORRUPTED("shape section has the wrong length");
	memcpy(shape, s->data, sizeof(shape));
	if (shape[0] < 1 || shape[0] > WV_MAX_VOCAB_MAX ||
		shape[1] < 1 || shape[1] > WV_DIM_MAX ||
		shape[3] < 0 || shape[3] > WV_NGRAM_MAX ||
		(shape[3] > 0 && (shape[2] < 1 || shape[2] > shape[3] ||
						  shape[4] < 1 || shape[4] > WV_BUCKETS_MAX)) ||
		shape[5] < 0 || (shape[3] == 0 && shape[5] != 0) ||
		(shape[3] > 0 && shape[5] > shape[4]) ||
		(shape[6] != 0 && shape[6] != 1))
		MODEL_CORRUPTED("shape out of range");
	m->V = shape[0];
	m->dim = shape[1];
	m->minn = shape[2];
	m->maxn = shape[3];
	m->buckets = shape[4];
	m->nngrams = shape[5];
	m->has_counts = shape[6] == 1;
	nv = (Size) m->V * m->dim;

	words = ecml_section_texts(model, WV_TAG_VOCAB, &n);
	if (words == NULL || n != m->V)
		MODEL_CORRUPTED("vocabulary has the wrong size");
	text_vocab_init(&m->vocab, m->V);
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (text_vocab_add(&m->vocab, words[i], strlen(words[i])) != i)
			MODEL_CORRUPTED("vocabulary has a repeated word");
	}
	if (m->has_counts)
	{
		m->counts = ecml_section_int64s(model, WV_TAG_COUNTS, m->V);
		for (int i = 0; i < m->V; i++)
			if (m->counts[i] < 1)
				MODEL_CORRUPTED("word counts are out of range");
	}
	m->vectors = ecml_section_floats(model, WV_TAG_VECTORS, nv);
	check_floats(m->vectors, nv, "vectors are out of range");
	if (m->nngrams > 0)
	{
		const EcmlSection *ids = ecml_model_section(model, WV_TAG_NGRAM_IDS,
													ECML_SECTION_INT32, true);

		if (ids->length != sizeof(int32) * (Size) m->nngrams)
			MODEL_CORRUPTED("n-gram section has the wrong length");
		m->ngram_ids = palloc(ids->length);
		memcpy(m->ngram_ids, ids->data, ids->length);
		for (int i = 0; i < m->nngrams; i++)
			if (m->ngram_ids[i] < 0 || m->ngram_ids[i] >= m->buckets ||
				(i > 0 && m->ngram_ids[i] <= m->ngram_ids[i - 1]))
				MODEL_CORRUPTED("n-gram buckets are out of order");
		m->ngram_vecs = ecml_section_floats(model, WV_TAG_NGRAM_VECS,
											(Size) m->nngrams * m->dim);
		check_floats(m->ngram_vecs, (Size) m->nngrams * m->dim,
					 "n-gram vectors are out of range");
	}
	params = ecml_section_doubles(model, WV_TAG_PARAMS, 2);
	m->sif_a = params[0];
	m->total = params[1];
	if (!(m->sif_a > 0 && m->sif_a <= 1) || !(m->total >= 1))
		MODEL_CORRUPTED("SIF parameters are out of range");
	m->common = ecml_section_floats(model, WV_TAG_COMMON, m->dim);
	check_floats(m->common, m->dim, "common component is out of range");
	m->unit = palloc_extended(sizeof(float) * Max(nv, 1), MCXT_ALLOC_HUGE);
	unit_rows(m->vectors, m->unit, m->V, m->dim);
	return m;
}

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return x < y ? -1 : x > y;
}

bool
word_vectors_lookup(const WordVectors *m, const char *w, int len, float *out)
{
	int			e = text_vocab_find(&m->vocab, w, len);
	int32	   *ng;
	int			n;
	int			found = 0;

	if (e >= 0)
	{
		memcpy(out, m->vectors + (Size) e * m->dim, sizeof(float) * m->dim);
		return true;
	}
	if (m->nngrams == 0 || len == 0 || len > TEXT_TOKEN_MAX_BYTES)
		return false;
	/* an unseen word: the average of its n-grams that were trained */
	ng = palloc(sizeof(int32) * text_ngram_count(w, len, m->minn, m->maxn));
	n = text_word_ngrams(w, len, m->minn, m->maxn, m->buckets, ng);
	memset(out, 0, sizeof(float) * m->dim);
	for (int i = 0; i < n; i++)
	{
		int32	   *hit = bsearch(&ng[i], m->ngram_ids, m->nngrams, sizeof(int32), int32_cmp);
		const float *v;

		if (hit == NULL)
			continue;
		v = m->ngram_vecs + (Size) (hit - m->ngram_ids) * m->dim;
		for (int j = 0; j < m->dim; j++)
			out[j] += v[j];
		found++;
	}
	pfree(ng);
	if (found == 0)
		return false;
	for (int j = 0; j < m->dim; j++)
		out[j] /= (float) found;
	return true;
}

/*
 * p(w) is the word's share of the training tokens; an unseen word (and
 * every word of a model loaded without counts) has p = 0 and weight 1.
 */
int
word_vectors_sif(const WordVectors *m, char **strs, const int *lens, int n, float *out)
{
	float	   *v = palloc(sizeof(float) * m->dim);
	int			used = 0;

	memset(out, 0, sizeof(float) * m->dim);
	for (int t = 0; t < n; t++)
	{
		int			e;
		double		p = 0.0;
		float		wt;

		CHECK_FOR_INTERRUPTS();
		if (!word_vectors_lookup(m, strs[t], lens[t], v))
			continue;
		if (m->has_counts && (e = text_vocab_find(&m->vocab, strs[t], lens[t])) >= 0)
			p = (double) m->counts[e] / m->total;
		wt = (float) (m->sif_a / (m->sif_a + p));
		for (int j = 0; j < m->dim; j++)
			out[j] += wt * v[j];
		used++;
	}
	if (used > 0)
		for (int j = 0; j < m->dim; j++)
			out[j] /= (float) used;
	pfree(v);
	return used;
}

static WordVectors *
get_model(FunctionCallInfo fcinfo)
{
	return (WordVectors *) ecml_model_cached(fcinfo, 0, ECML_KIND_WORDVEC, word_vectors_parse);
}

/* ecml.word_vector(model, word) → real[]: NULL for a word without a vector */
PG_FUNCTION_INFO_V1(ecml_word_vector);
Datum
ecml_word_vector(PG_FUNCTION_ARGS)
{
	WordVectors *m = get_model(fcinfo);
	text	   *w = PG_GETARG_TEXT_PP(1);
	float	   *v = palloc(sizeof(float) * m->dim);

	if (!word_vectors_lookup(m, VARDATA_ANY(w), VARSIZE_ANY_EXHDR(w), v))
		PG_RETURN_NULL();
	PG_RETURN_ARRAYTYPE_P(ecml_float4_array(v, m->dim));
}

static void
check_k(int32 k)
{
	if (k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be positive, got %d", k)));
}

/* the k vocabulary words nearest q (dim) by cosine, skipping word index skip */
static void
similar_to(FunctionCallInfo fcinfo, const WordVectors *m, float *q, int k, int skip)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EcmlTopK	top;
	double		s = 0.0;
	int			found;

	for (int j = 0; j < m->dim; j++)
		s += (double) q[j] * q[j];
	if (s == 0.0)
		return;
	s = 1.0 / sqrt(s);
	for (int j = 0; j < m->dim; j++)
		q[j] = (float) (q[j] * s);
	ecml_topk_init(&top, Min(k, m->V));
	for (int w = 0; w < m->V; w++)
	{
		float		dot;

		if ((w & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		if (w == skip)
			continue;
		dot = ecml_dot_inline(q, m->unit + (Size) w * m->dim, m->dim);
		if (-dot <= ecml_topk_bound(&top))
			ecml_topk_push(&top, -dot, w);
	}
	found = ecml_topk_sort(&top);
	for (int i = 0; i < found; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};
		int			w = (int) top.id[i];

		values[0] = PointerGetDatum(cstring_to_text_with_len(m->vocab.strs[w], m->vocab.lens[w]));
		values[1] = Float4GetDatum(-top.key[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * ecml.similar_words(model, word, k) → TABLE(word, similarity): the k
 * words nearest by cosine, the word itself left out; none for a word
 * without a vector.
 */
PG_FUNCTION_INFO_V1(ecml_similar_words);
Datum
ecml_similar_words(PG_FUNCTION_ARGS)
{
	WordVectors *m;
	text	   *w = PG_GETARG_TEXT_PP(1);
	int32		k = PG_GETARG_INT32(2);
	float	   *q;

	check_k(k);
	InitMaterializedSRF(fcinfo, 0);
	m = get_model(fcinfo);
	q = palloc(sizeof(float) * m->dim);
	if (word_vectors_lookup(m, VARDATA_ANY(w), VARSIZE_ANY_EXHDR(w), q))
		similar_to(fcinfo, m, q, k,
				   text_vocab_find(&m->vocab, VARDATA_ANY(w), VARSIZE_ANY_EXHDR(w)));
	return (Datum) 0;
}

/* ecml.similar_words(model, vector real[], k): the k words nearest a vector */
PG_FUNCTION_INFO_V1(ecml_similar_words_vec);
Datum
ecml_similar_words_vec(PG_FUNCTION_ARGS)
{
	WordVectors *m;
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	int32		k = PG_GETARG_INT32(2);
	float	   *q;
	int			n;

	check_k(k);
	InitMaterializedSRF(fcinfo, 0);
	m = get_model(fcinfo);
	q = ecml_array_float4(arr, "vector", m->dim, &n, false);
	/* similar_to normalises q in place; the array may be the caller's */
	q = memcpy(palloc(sizeof(float) * n), q, sizeof(float) * n);
	similar_to(fcinfo, m, q, k, -1);
	return (Datum) 0;
}

/*
 * The SIF embedding of tokens with the common component removed, at unit
 * length; NULL when no token has a vector.
 */
static Datum
embed_tokens(FunctionCallInfo fcinfo, const WordVectors *m, char **strs,
			 const int *lens, int n)
{
	float	   *e = palloc(sizeof(float) * m->dim);
	double		proj = 0.0;
	double		norm = 0.0;

	if (word_vectors_sif(m, strs, lens, n, e) == 0)
		PG_RETURN_NULL();
	/* Arora et al. 2017, algorithm 1, line 5: v - u u^T v */
	for (int j = 0; j < m->dim; j++)
		proj += (double) m->common[j] * e[j];
	for (int j = 0; j < m->dim; j++)
	{
		e[j] -= (float) (proj * m->common[j]);
		norm += (double) e[j] * e[j];
	}
	if (norm == 0.0)
		PG_RETURN_NULL();
	norm = 1.0 / sqrt(norm);
	for (int j = 0; j < m->dim; j++)
		e[j] = (float) (e[j] * norm);
	PG_RETURN_ARRAYTYPE_P(ecml_float4_array(e, m->dim));
}

/* ecml.embed_text(model, tokens text[]) → real[] */
PG_FUNCTION_INFO_V1(ecml_embed_text_tokens);
Datum
ecml_embed_text_tokens(PG_FUNCTION_ARGS)
{
	WordVectors *m = get_model(fcinfo);
	char	  **strs;
	int		   *lens;
	int			n;

	text_array_tokens(PG_GETARG_ARRAYTYPE_P(1), "tokens", &strs, &lens, &n);
	return embed_tokens(fcinfo, m, strs, lens, n);
}

/* ecml.embed_text(model, document text [, config]) → real[] */
PG_FUNCTION_INFO_V1(ecml_embed_text_document);
Datum
ecml_embed_text_document(PG_FUNCTION_ARGS)
{
	WordVectors *m = get_model(fcinfo);
	text	   *doc = PG_GETARG_TEXT_PP(1);
	Oid			cfgid = PG_NARGS() > 2 ? PG_GETARG_OID(2) : getTSCurrentConfig(true);
	char	  **strs;
	int		   *lens;
	int			n;

	text_check_config(cfgid);
	strs = text_tokens(cfgid, VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc), &n);
	lens = palloc(sizeof(int) * Max(n, 1));
	for (int i = 0; i < n; i++)
		lens[i] = strlen(strs[i]);
	return embed_tokens(fcinfo, m, strs, lens, n);
}
