/*
 * text_clf.c
 *	  Scoring with a text_classifier model: ecml.text_classify() (every
 *	  label with its probability), ecml.text_label() (the best label) and
 *	  ecml.text_explain() (each token's contribution to a label).  The
 *	  model is parsed once (model cache); a document costs its tokens'
 *	  lookups, one average and one (labels x dim) product.
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "text.h"
#include "utils/builtins.h"
#include "vecops.h"

#define CLF_MAX_ABS 1e6f

typedef struct TextClf
{
	int			V;
	int			dim;
	int			L;
	int			buckets;
	int			word_ngrams;
	int			nbuckets;
	TextVocab	words;
	TextVocab	labels;
	int32	   *bucket_ids;		/* [nbuckets] ascending */
	float	   *in;				/* (V + nbuckets, dim) */
	float	   *out;			/* (L, dim) */
} TextClf;

/* "invalid ecml model: text_classifier <what>" (data_corrupted), model.c */
#define MODEL_CORRUPTED(what) \
	ecml_model_kind_corrupted("text_classifier", (what), \
							  "Pass a model produced by ecml.text_classifier_train, unmodified.")

static void
check_floats(const float *x, Size n, const char *what)
{
	for (Size i = 0; i < n; i++)
		if (!(fabsf(x[i]) <= CLF_MAX_ABS))
			MODEL_CORRUPTED(what);
}

static void
load_vocab(const EcmlModel *model, uint32 tag, int n, TextVocab *v, const char *what)
{
	int			got;
	char	  **strs = ecml_section_texts(model, tag, &got);

	if (got != n || (n > 0 && strs == NULL))
		MODEL_CORRUPTED(what);
	text_vocab_init(v, Max(n, 16));
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (text_vocab_add(v, strs[i], strlen(strs[i])) != i)
			MODEL_CORRUPTED(what);
	}
}

/* Parse a validated text_classifier model (in mcxt). */
void *
text_clf_parse(const EcmlModel *model, MemoryContext mcxt)
{
	TextClf    *m = palloc0(sizeof(TextClf));
	const EcmlSection *s = ecml_model_section(model, CLF_TAG_SHAPE, ECML_SECTION_INT32, true);
	int32		shape[8];
	Size		nin;

	if (s->length != sizeof(shape))
		MODEL_CORRUPTED("shape section has the wrong length");
	memcpy(shape, s->data, sizeof(shape));
	if (shape[0] < 0 || shape[0] > WV_MAX_VOCAB_MAX ||
		shape[1] < 1 || shape[1] > WV_DIM_MAX ||
		shape[2] < 2 || shape[2] > CLF_MAX_LABELS ||
		shape[4] < 1 || shape[4] > CLF_WORD_NGRAMS_MAX ||
		(shape[4] > 1 && (shape[3] < 1 || shape[3] > WV_BUCKETS_MAX)) ||
		(shape[4] == 1 && (shape[3] != 0 || shape[5] != 0)) ||
		shape[5] < 0 || (shape[4] > 1 && shape[5] > shape[3]))
		MODEL_CORRUPTED("shape out of range");
	m->V = shape[0];
	m->dim = shape[1];
	m->L = shape[2];
	m->buckets = shape[3];
	m->word_ngrams = shape[4];
	m->nbuckets = shape[5];
	load_vocab(model, WV_TAG_VOCAB, m->V, &m->words, "vocabulary is damaged");
	load_vocab(model, CLF_TAG_LABELS, m->L, &m->labels, "labels are damaged");
	if (m->nbuckets > 0)
	{
		const EcmlSection *ids = ecml_model_section(model, WV_TAG_NGRAM_IDS,
													ECML_SECTION_INT32, true);

		if (ids->length != sizeof(int32) * (Size) m->nbuckets)
			MODEL_CORRUPTED("n-gram section has the wrong length");
		m->bucket_ids = palloc(ids->length);
		memcpy(m->bucket_ids, ids->data, ids->length);
		for (int i = 0; i < m->nbuckets; i++)
			if (m->bucket_ids[i] < 0 || m->bucket_ids[i] >= m->buckets ||
				(i > 0 && m->bucket_ids[i] <= m->bucket_ids[i - 1]))
				MODEL_CORRUPTED("n-gram buckets are out of order");
	}
	nin = ((Size) m->V + m->nbuckets) * m->dim;
	m->in = ecml_section_floats(model, CLF_TAG_INPUT, nin);
	check_floats(m->in, nin, "input weights are out of range");
	m->out = ecml_section_floats(model, CLF_TAG_OUTPUT, (Size) m->L * m->dim);
	check_floats(m->out, (Size) m->L * m->dim, "output weights are out of range");
	return m;
}

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return x < y ? -1 : x > y;
}

/*
 * A document's input rows (known words, then known n-grams) and, when
 * names is not NULL, the token (or "a b" n-gram) of each row.
 */
typedef struct ClfDoc
{
	int			n;
	int32	   *rows;
	char	  **names;
} ClfDoc;

static void
clf_doc(const TextClf *m, ArrayType *arr, bool want_names, ClfDoc *doc)
{
	char	  **strs;
	int		   *lens;
	int			n;
	uint32	   *hashes;
	int32	   *ng;
	int			nng = 0;
	int			k = 0;

	text_array_tokens(arr, "tokens", &strs, &lens, &n);
	doc->rows = palloc(sizeof(int32) * (Size) Max(n, 1) * m->word_ngrams);
	doc->names = want_names ? palloc(sizeof(char *) * (Size) Max(n, 1) * m->word_ngrams) : NULL;
	hashes = palloc(sizeof(uint32) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		int			w = text_vocab_find(&m->words, strs[i], lens[i]);

		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		hashes[i] = text_hash(strs[i], lens[i]);
		if (w < 0)
			continue;
		if (want_names)
			doc->names[k] = pnstrdup(strs[i], lens[i]);
		doc->rows[k++] = w;
	}
	if (m->word_ngrams > 1 && m->nbuckets > 0)
	{
		int			i = 0;
		int			g = 1;

		ng = palloc(sizeof(int32) * (Size) Max(n, 1) * (m->word_ngrams - 1));
		nng = text_clf_ngrams(hashes, n, m->word_ngrams, m->buckets, ng);
		/* text_clf_ngrams emits, for each start i, the runs i..i+g */
		for (int j = 0; j < nng; j++)
		{
			int32	   *hit = bsearch(&ng[j], m->bucket_ids, m->nbuckets,
									  sizeof(int32), int32_cmp);

			while (g >= m->word_ngrams || i + g >= n)
			{
				i++;
				g = 1;
			}
			if (hit != NULL)
			{
				if (want_names)
				{
					StringInfoData buf;

					initStringInfo(&buf);
					for (int t = i; t <= i + g; t++)
					{
						if (t > i)
							appendStringInfoChar(&buf, ' ');
						appendBinaryStringInfo(&buf, strs[t], lens[t]);
					}
					doc->names[k] = buf.data;
				}
				doc->rows[k++] = m->V + (int32) (hit - m->bucket_ids);
			}
			g++;
		}
	}
	doc->n = k;
}

/* h (dim): the average of the document's rows (zero when it has none) */
static void
clf_hidden(const TextClf *m, const ClfDoc *doc, float *h)
{
	memset(h, 0, sizeof(float) * m->dim);
	for (int r = 0; r < doc->n; r++)
		ecml_axpy_inline(h, 1.0f, m->in + (Size) doc->rows[r] * m->dim, m->dim);
	if (doc->n > 0)
		for (int i = 0; i < m->dim; i++)
			h[i] /= (float) doc->n;
}

/* p (L) = softmax(W h) */
static void
clf_probs(const TextClf *m, const float *h, float *p)
{
	float		mx = -INFINITY;
	double		z = 0.0;

	for (int l = 0; l < m->L; l++)
	{
		p[l] = ecml_dot_inline(m->out + (Size) l * m->dim, h, m->dim);
		mx = Max(mx, p[l]);
	}
	for (int l = 0; l < m->L; l++)
	{
		p[l] = expf(p[l] - mx);
		z += p[l];
	}
	for (int l = 0; l < m->L; l++)
		p[l] = (float) (p[l] / z);
}

/* the best label: ties go to the more frequent label (the lower index) */
static int
clf_best(const TextClf *m, const float *p)
{
	int			best = 0;

	for (int l = 1; l < m->L; l++)
		if (p[l] > p[best])
			best = l;
	return best;
}

static TextClf *
get_model(FunctionCallInfo fcinfo)
{
	return (TextClf *) ecml_model_cached(fcinfo, 0, ECML_KIND_TEXTCLF, text_clf_parse);
}

static Datum
label_datum(const TextClf *m, int l)
{
	return PointerGetDatum(cstring_to_text_with_len(m->labels.strs[l], m->labels.lens[l]));
}

/*
 * ecml.text_classify(model, tokens) → TABLE(label, probability): every
 * label, most probable first (ties: the more frequent label first).
 */
PG_FUNCTION_INFO_V1(ecml_text_classify);
Datum
ecml_text_classify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TextClf    *m;
	ClfDoc		doc;
	float	   *h;
	float	   *p;
	int		   *order;

	InitMaterializedSRF(fcinfo, 0);
	m = get_model(fcinfo);
	clf_doc(m, PG_GETARG_ARRAYTYPE_P(1), false, &doc);
	h = palloc(sizeof(float) * m->dim);
	p = palloc(sizeof(float) * m->L);
	clf_hidden(m, &doc, h);
	clf_probs(m, h, p);
	order = palloc(sizeof(int) * m->L);
	/* insertion sort by probability descending, stable on label index */
	for (int l = 0; l < m->L; l++)
	{
		int			j = l;

		while (j > 0 && p[order[j - 1]] < p[l])
		{
			order[j] = order[j - 1];
			j--;
		}
		order[j] = l;
	}
	for (int i = 0; i < m->L; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = label_datum(m, order[i]);
		values[1] = Float4GetDatum(p[order[i]]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ecml.text_label(model, tokens) → text: the most probable label */
PG_FUNCTION_INFO_V1(ecml_text_label);
Datum
ecml_text_label(PG_FUNCTION_ARGS)
{
	TextClf    *m = get_model(fcinfo);
	ClfDoc		doc;
	float	   *h = palloc(sizeof(float) * m->dim);
	float	   *p = palloc(sizeof(float) * m->L);

	clf_doc(m, PG_GETARG_ARRAYTYPE_P(1), false, &doc);
	clf_hidden(m, &doc, h);
	clf_probs(m, h, p);
	PG_RETURN_DATUM(label_datum(m, clf_best(m, p)));
}

/* largest contribution first; equal ones in document order */
static int
contrib_cmp(const void *a, const void *b, void *arg)
{
	const float *c = (const float *) arg;
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	if (c[x] != c[y])
		return c[x] > c[y] ? -1 : 1;
	return x - y;
}

/*
 * ecml.text_explain(model, tokens [, label]) → TABLE(token, contribution):
 * each known token's (and word n-gram's) share of the label's score
 * relative to the average label: (1/n) x_t . (W_label - mean_l W_l), so
 * the contributions add up to the label's logit minus the mean logit.
 * Without a label: the most probable one.  Largest contribution first.
 */
PG_FUNCTION_INFO_V1(ecml_text_explain);
Datum
ecml_text_explain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TextClf    *m;
	ClfDoc		doc;
	int			label;
	float	   *dir;
	float	   *contrib;
	int		   *order;

	InitMaterializedSRF(fcinfo, 0);
	/* not strict (label may be NULL): no model or no document, no rows */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	m = get_model(fcinfo);
	clf_doc(m, PG_GETARG_ARRAYTYPE_P(1), true, &doc);
	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
	{
		text	   *t = PG_GETARG_TEXT_PP(2);

		label = text_vocab_find(&m->labels, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		if (label < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("label \"%s\" is not one of the model's labels", text_to_cstring(t)),
					 errhint("ecml.model_info(model)->'metrics'->'label_counts' lists them.")));
	}
	else
	{
		float	   *h = palloc(sizeof(float) * m->dim);
		float	   *p = palloc(sizeof(float) * m->L);

		clf_hidden(m, &doc, h);
		clf_probs(m, h, p);
		label = clf_best(m, p);
	}
	if (doc.n == 0)
		return (Datum) 0;

	/* dir (dim) = W_label - mean over labels of W_l */
	dir = palloc0(sizeof(float) * m->dim);
	for (int l = 0; l < m->L; l++)
		for (int i = 0; i < m->dim; i++)
			dir[i] -= m->out[(Size) l * m->dim + i] / m->L;
	for (int i = 0; i < m->dim; i++)
		dir[i] += m->out[(Size) label * m->dim + i];
	contrib = palloc(sizeof(float) * doc.n);
	order = palloc(sizeof(int) * doc.n);
	for (int r = 0; r < doc.n; r++)
	{
		const float *x = m->in + (Size) doc.rows[r] * m->dim;
		float		s = 0.0f;

		for (int i = 0; i < m->dim; i++)
			s += x[i] * dir[i];
		contrib[r] = s / doc.n;
	}
	for (int r = 0; r < doc.n; r++)
		order[r] = r;
	qsort_arg(order, doc.n, sizeof(int), contrib_cmp, contrib);
	for (int i = 0; i < doc.n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(doc.names[order[i]]);
		values[1] = Float4GetDatum(contrib[order[i]]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
