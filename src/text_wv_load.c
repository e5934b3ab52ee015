/*
 * text_wv_load.c
 *	  ecml.word_vectors_load(word text, vector real[] [, options]): a
 *	  word_vectors model from pretrained rows (GloVe, fastText .vec files
 *	  loaded with COPY), so that they serve word_vector, similar_words and
 *	  embed_text like vectors trained here.  Such files carry no counts: the
 *	  SIF weights are then all 1 (embed_text is the plain average with the
 *	  common component removed), and the component is that of the word
 *	  vectors themselves.
 */
#include "postgres.h"

#include "arrays.h"
#include "miscadmin.h"
#include "text.h"
#include "utils/builtins.h"

#define LOADER "word_vectors_load"

typedef struct WvLoadOptions
{
	double		sif_a;
} WvLoadOptions;

static const EcmlOptionSpec load_option_specs[] = {
	{"sif_a", ECML_OPT_REAL, offsetof(WvLoadOptions, sif_a), 0, 1, true},
};

static void
load_parse_options(Jsonb *opts, WvLoadOptions *o)
{
	o->sif_a = WV_SIF_A_DEFAULT;
	ecml_parse_options(opts, load_option_specs, lengthof(load_option_specs), o, LOADER);
}

/* transition: one (word, vector) row, kept as two byte strings */
PG_FUNCTION_INFO_V1(word_vectors_load_transfn);
Datum
word_vectors_load_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	TextRows   *st;
	text	   *word;
	float	   *v;
	int			n;
	char	   *strs[2];
	int			lens[2];

	aggcxt = ecml_agg_context(fcinfo, "word_vectors_load_transfn");
	st = PG_ARGISNULL(0) ? NULL : (TextRows *) PG_GETARG_POINTER(0);
	if (st == NULL)
	{
		WvLoadOptions o;

		st = text_rows_new(aggcxt, LOADER);
		st->options = ecml_options_arg(fcinfo, 3, aggcxt);
		load_parse_options(st->options, &o);
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		st->nnull++;
		PG_RETURN_POINTER(st);
	}
	word = PG_GETARG_TEXT_PP(1);
	if (VARSIZE_ANY_EXHDR(word) == 0)
	{
		st->nempty++;
		PG_RETURN_POINTER(st);
	}
	v = ecml_array_float4(PG_GETARG_ARRAYTYPE_P(2), "vector", -1, &n, false);
	if (n < 1 || n > WV_DIM_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: vector has %d elements, expected 1 to %d", LOADER, n, WV_DIM_MAX)));
	if (st->width >= 0 && n != st->width)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: vector of \"%s\" has %d elements, earlier rows %d", LOADER,
						text_to_cstring(word), n, st->width),
				 errhint("Pass vectors of one length.")));
	if (st->ndocs >= WV_MAX_VOCAB_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: more than %d words", LOADER, WV_MAX_VOCAB_MAX),
				 errhint("Load the most frequent words only (the first rows of a GloVe or fastText file).")));
	st->width = n;
	strs[0] = VARDATA_ANY(word);
	lens[0] = VARSIZE_ANY_EXHDR(word);
	strs[1] = (char *) v;
	lens[1] = sizeof(float) * n;
	text_rows_put(st, aggcxt, strs, lens, 2);
	st->ntokens++;
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(word_vectors_load_finalfn);
Datum
word_vectors_load_finalfn(PG_FUNCTION_ARGS)
{
	TextRows   *st = PG_ARGISNULL(0) ? NULL : (TextRows *) PG_GETARG_POINTER(0);
	WvLoadOptions o;
	TextVocab	vocab;
	TextRowsCursor cur;
	float	   *vectors;
	int			dim;
	int			V;
	StringInfoData hyper;
	StringInfoData metrics;

	if (st == NULL || st->ndocs == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no rows with a word and a vector", LOADER),
				 errhint("Load the vectors into a table (word text, vector real[]) and aggregate it.")));
	load_parse_options(st->options, &o);
	dim = st->width;
	V = (int) st->ndocs;
	ecml_check_train_memory(st->cap + sizeof(float) * (Size) V * dim * 3, LOADER);
	vectors = palloc_extended(sizeof(float) * (Size) V * dim, MCXT_ALLOC_HUGE);
	text_vocab_init(&vocab, V);
	text_rows_cursor(st, &cur);
	for (int r = 0; r < V; r++)
	{
		int			wl;
		int			vl;
		const char *w = text_rows_token(&cur, &wl);
		const char *v = text_rows_token(&cur, &vl);

		CHECK_FOR_INTERRUPTS();
		if (text_vocab_find(&vocab, w, wl) >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("%s: word \"%s\" appears more than once", LOADER,
							pnstrdup(w, wl)),
					 errhint("Pass each word once (SELECT DISTINCT ON (word) ...).")));
		text_vocab_add(&vocab, w, wl);
		memcpy(vectors + (Size) r * dim, v, sizeof(float) * dim);
	}
	initStringInfo(&hyper);
	ecml_options_to_json(&hyper, load_option_specs, lengthof(load_option_specs), &o);
	initStringInfo(&metrics);
	appendStringInfo(&metrics,
					 "{\"words\": %d, \"null_rows\": " INT64_FORMAT ", \"empty_words\": " INT64_FORMAT "}",
					 V, st->nnull, st->nempty);
	PG_RETURN_BYTEA_P(word_vectors_build(vocab.strs, V, dim, NULL, vectors, 0, 0, 0,
										 NULL, 0, NULL, o.sif_a, NULL, hyper.data,
										 metrics.data, V + st->nnull + st->nempty,
										 st->nnull + st->nempty));
}
