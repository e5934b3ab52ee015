/*
 * text_tokenize.c
 *	  ecml.tokenize(): a document's tokens in document order, through a
 *	  PostgreSQL text search configuration, so that the words a model sees
 *	  are the lexemes to_tsvector() indexes: the configuration's parser
 *	  splits the text and its dictionaries normalise each token (stemming
 *	  and stop words with english, lower-casing only with simple).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "text.h"
#include "tsearch/ts_cache.h"
#include "tsearch/ts_utils.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#define TOKENIZE_NGRAMS_MAX 5

/*
 * parsetext() appends the lexemes of each token in the order the parser
 * meets the tokens (to_tsvector sorts them only afterwards), so its word
 * list is the document order; a token its dictionaries drop (a stop word)
 * leaves nothing.  A token with several lexemes (a thesaurus, ispell
 * variants) yields each of them in turn.
 */
char **
text_tokens(Oid cfgid, const char *document, int len, int *ntokens)
{
	ParsedText	prs;
	char	  **out;

	prs.lenwords = Max(len / 6, 16);
	prs.curwords = 0;
	prs.pos = 0;
	prs.words = palloc_extended(sizeof(ParsedWord) * prs.lenwords, MCXT_ALLOC_HUGE);
	parsetext(cfgid, &prs, (char *) document, len);

	out = palloc_extended(sizeof(char *) * Max(prs.curwords, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < prs.curwords; i++)
	{
		CHECK_FOR_INTERRUPTS();
		out[i] = prs.words[i].word;
		out[i][prs.words[i].len] = '\0';
	}
	*ntokens = prs.curwords;
	pfree(prs.words);
	return out;
}

/*
 * A regconfig given as a bare number passes the type's input function; the
 * text search cache would fail on it with an internal error.
 */
void
text_check_config(Oid cfgid)
{
	if (!SearchSysCacheExists1(TSCONFIGOID, ObjectIdGetDatum(cfgid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("text search configuration %u does not exist", cfgid),
				 errhint("Pass a configuration name such as 'english' or 'simple'; \\dF lists them.")));
}

static void
check_ngrams(int ngrams)
{
	if (ngrams < 1 || ngrams > TOKENIZE_NGRAMS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ngrams must be between 1 and %d, got %d",
						TOKENIZE_NGRAMS_MAX, ngrams),
				 errhint("Pass 1 for words only, 2 to add word pairs, and so on.")));
}

/*
 * The tokens, then (ngrams > 1) each run of 2..ngrams consecutive tokens
 * joined by a space, shorter runs first, each in document order.
 */
static ArrayType *
tokens_array(char **tok, int n, int ngrams)
{
	int64		total = n;
	Datum	   *elems;
	int64		k = 0;
	StringInfoData buf;

	for (int g = 2; g <= ngrams; g++)
		total += Max(n - g + 1, 0);
	if (total > MaxAllocSize / sizeof(Datum))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("document has too many tokens (" INT64_FORMAT ")", total),
				 errhint("Split the document, or pass fewer ngrams.")));
	elems = palloc(sizeof(Datum) * Max(total, 1));
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		elems[k++] = PointerGetDatum(cstring_to_text(tok[i]));
	}
	initStringInfo(&buf);
	for (int g = 2; g <= ngrams; g++)
		for (int i = 0; i + g <= n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			resetStringInfo(&buf);
			for (int j = 0; j < g; j++)
			{
				if (j > 0)
					appendStringInfoChar(&buf, ' ');
				appendStringInfoString(&buf, tok[i + j]);
			}
			elems[k++] = PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
		}
	return construct_array(elems, (int) k, TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * ecml.tokenize(document [, config [, ngrams]]) → text[]: the lexemes of
 * the document in order; without config, default_text_search_config.
 */
PG_FUNCTION_INFO_V1(ecml_tokenize);
Datum
ecml_tokenize(PG_FUNCTION_ARGS)
{
	text	   *doc = PG_GETARG_TEXT_PP(0);
	Oid			cfgid = PG_NARGS() > 1 ? PG_GETARG_OID(1) : getTSCurrentConfig(true);
	int32		ngrams = PG_NARGS() > 2 ? PG_GETARG_INT32(2) : 1;
	char	  **tok;
	int			n;

	check_ngrams(ngrams);
	text_check_config(cfgid);
	tok = text_tokens(cfgid, VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc), &n);
	PG_RETURN_ARRAYTYPE_P(tokens_array(tok, n, ngrams));
}
