/*
 * text_rows.c
 *	  The training state of the text aggregates (word2vec_train,
 *	  text_classifier_train): documents of tokens buffered in the aggregate
 *	  context under ecml.train_memory_limit, combined by appending, and
 *	  serialized for parallel workers in the rowbuf frame.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "ecml.h"
#include "miscadmin.h"
#include "rowbuf.h"
#include "text.h"
#include "utils/lsyscache.h"

static Size
rows_bytes(const TextRows *st)
{
	return st->cap + (Size) st->doccap * sizeof(int32);
}

static void
rows_reserve(TextRows *st, MemoryContext cxt, int64 more_docs, Size more_bytes)
{
	if (st->ndocs + more_docs > st->doccap)
	{
		int64		newcap = Max(1024, st->doccap * 2);

		while (newcap < st->ndocs + more_docs)
			newcap *= 2;
		ecml_check_train_memory(st->cap + (Size) newcap * sizeof(int32), st->trainer);
		if (st->ntok == NULL)
			st->ntok = MemoryContextAllocHuge(cxt, newcap * sizeof(int32));
		else
			st->ntok = repalloc_huge(st->ntok, newcap * sizeof(int32));
		st->doccap = newcap;
	}
	if (st->len + more_bytes > st->cap)
	{
		Size		newcap = Max(64 * 1024, st->cap * 2);

		while (newcap < st->len + more_bytes)
			newcap *= 2;
		ecml_check_train_memory(newcap + (Size) st->doccap * sizeof(int32), st->trainer);
		if (st->buf == NULL)
			st->buf = MemoryContextAllocHuge(cxt, newcap);
		else
			st->buf = repalloc_huge(st->buf, newcap);
		st->cap = newcap;
	}
}

TextRows *
text_rows_new(MemoryContext cxt, const char *trainer)
{
	TextRows   *st = MemoryContextAllocZero(cxt, sizeof(TextRows));

	st->trainer = trainer;
	st->width = -1;
	return st;
}

static void
put_token(TextRows *st, const char *s, int32 len)
{
	memcpy(st->buf + st->len, &len, sizeof(int32));
	memcpy(st->buf + st->len + sizeof(int32), s, len);
	st->len += sizeof(int32) + len;
}

void
text_rows_put(TextRows *st, MemoryContext cxt, char **strs, const int *lens, int n)
{
	Size		bytes = 0;

	for (int i = 0; i < n; i++)
		bytes += sizeof(int32) + lens[i];
	rows_reserve(st, cxt, 1, bytes);
	for (int i = 0; i < n; i++)
		put_token(st, strs[i], lens[i]);
	st->ntok[st->ndocs++] = n;
}

void
text_rows_append(TextRows *st, MemoryContext cxt, ArrayType *arr,
				 const char *prefix, int prefixlen)
{
	char	  **strs;
	int		   *lens;
	int			n;
	int			kept = 0;

	text_array_tokens(arr, "tokens", &strs, &lens, &n);
	/* the prefix first, then the tokens text search could have made */
	if (prefix)
	{
		strs = repalloc(strs, sizeof(char *) * (n + 1));
		lens = repalloc(lens, sizeof(int) * (n + 1));
		memmove(strs + 1, strs, sizeof(char *) * n);
		memmove(lens + 1, lens, sizeof(int) * n);
		strs[0] = (char *) prefix;
		lens[0] = prefixlen;
		kept = 1;
		n++;
	}
	for (int i = kept; i < n; i++)
		if (lens[i] > 0 && lens[i] <= TEXT_TOKEN_MAX_BYTES)
		{
			strs[kept] = strs[i];
			lens[kept++] = lens[i];
		}
	if (kept == (prefix ? 1 : 0))
		st->nempty++;
	else
	{
		text_rows_put(st, cxt, strs, lens, kept);
		st->ntokens += kept - (prefix ? 1 : 0);
	}
	pfree(strs);
	pfree(lens);
}

void
text_rows_combine(TextRows *s1, TextRows *s2, MemoryContext cxt)
{
	ecml_check_train_memory(rows_bytes(s1) + rows_bytes(s2), s1->trainer);
	rows_reserve(s1, cxt, s2->ndocs, s2->len);
	if (s2->ndocs > 0)
		memcpy(s1->ntok + s1->ndocs, s2->ntok, sizeof(int32) * s2->ndocs);
	if (s2->len > 0)
		memcpy(s1->buf + s1->len, s2->buf, s2->len);
	s1->len += s2->len;
	s1->ndocs += s2->ndocs;
	s1->ntokens += s2->ntokens;
	s1->nnull += s2->nnull;
	s1->nempty += s2->nempty;
	if (s1->width < 0)
		s1->width = s2->width;
	else if (s2->width >= 0 && s2->width != s1->width)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: vectors of %d and %d elements", s1->trainer,
						s1->width, s2->width),
				 errhint("Pass vectors of one length.")));
	if (s1->options == NULL)
		s1->options = s2->options;
	if (s1->init == NULL)
		s1->init = s2->init;
}

/*
 * Serialized: int32 options length, width; int64 nnull, nempty, ndocs,
 * ntokens, len, init length; the options jsonb padded; the token counts
 * padded; the token bytes padded; the init model's bytes.
 */
#define TEXT_ROWS_HEAD 56

bytea *
text_rows_serialize(const TextRows *st)
{
	int32		optlen = st->options ? VARSIZE(st->options) : 0;
	int64		len64 = (int64) st->len;
	int64		initlen = st->init ? (int64) VARSIZE(st->init) : 0;
	Size		countbytes = MAXALIGN(sizeof(int32) * st->ndocs);
	bytea	   *out;
	char	   *head;
	char	   *p;

	out = rowbuf_frame_new(st->trainer, " or train on a sample", TEXT_ROWS_HEAD,
						   st->options, countbytes + MAXALIGN(st->len) + initlen,
						   &head, &p);
	memcpy(head, &optlen, 4);
	memcpy(head + 4, &st->width, 4);
	memcpy(head + 8, &st->nnull, 8);
	memcpy(head + 16, &st->nempty, 8);
	memcpy(head + 24, &st->ndocs, 8);
	memcpy(head + 32, &st->ntokens, 8);
	memcpy(head + 40, &len64, 8);
	memcpy(head + 48, &initlen, 8);
	if (st->ndocs > 0)
		memcpy(p, st->ntok, sizeof(int32) * st->ndocs);
	p += countbytes;
	if (st->len > 0)
		memcpy(p, st->buf, st->len);
	p += MAXALIGN(st->len);
	if (initlen > 0)
		memcpy(p, st->init, initlen);
	return out;
}

TextRows *
text_rows_deserialize(bytea *in, MemoryContext cxt, const char *trainer)
{
	const char *p = rowbuf_frame_head(in, TEXT_ROWS_HEAD, trainer);
	TextRows   *st = text_rows_new(cxt, trainer);
	int32		optlen;
	int64		ndocs;
	int64		len64;
	int64		initlen;

	memcpy(&optlen, p, 4);
	memcpy(&st->width, p + 4, 4);
	memcpy(&st->nnull, p + 8, 8);
	memcpy(&st->nempty, p + 16, 8);
	memcpy(&ndocs, p + 24, 8);
	memcpy(&st->ntokens, p + 32, 8);
	memcpy(&len64, p + 40, 8);
	memcpy(&initlen, p + 48, 8);
	if (ndocs < 0 || len64 < 0 || initlen < 0 ||
		ndocs > (int64) (VARSIZE_ANY_EXHDR(in) / sizeof(int32)) ||
		len64 > (int64) VARSIZE_ANY_EXHDR(in) ||
		initlen > (int64) VARSIZE_ANY_EXHDR(in))
		ecml_partial_state_invalid(trainer);
	p = rowbuf_frame_body(in, TEXT_ROWS_HEAD, optlen,
						  MAXALIGN(sizeof(int32) * ndocs) + MAXALIGN((Size) len64) +
							  (Size) initlen,
						  cxt, trainer, &st->options);
	rows_reserve(st, cxt, ndocs, (Size) len64);
	st->ndocs = ndocs;
	if (ndocs > 0)
		memcpy(st->ntok, p, sizeof(int32) * ndocs);
	p += MAXALIGN(sizeof(int32) * ndocs);
	if (len64 > 0)
		memcpy(st->buf, p, len64);
	st->len = (Size) len64;
	p += MAXALIGN((Size) len64);
	if (initlen > 0)
	{
		st->init = MemoryContextAlloc(cxt, initlen);
		memcpy(st->init, p, initlen);
		if (initlen < VARHDRSZ || VARSIZE(st->init) != (Size) initlen)
			ecml_partial_state_invalid(trainer);
	}
	return st;
}

void
text_rows_cursor(const TextRows *st, TextRowsCursor *c)
{
	c->rows = st;
	c->doc = 0;
	c->off = 0;
}

/*
 * Order by hash, then content.  Sorting millions of documents takes
 * seconds, so the comparison checks for interrupts now and then (an ERROR
 * may leave qsort: it holds no resources).
 */
static int
doc_key_cmp(const void *a, const void *b, void *arg)
{
	static uint32 calls = 0;
	const TextDocKey *x = (const TextDocKey *) a;
	const TextDocKey *y = (const TextDocKey *) b;
	const char *buf = (const char *) arg;
	int			c;

	if ((++calls & 0xFFFF) == 0)
		CHECK_FOR_INTERRUPTS();

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	c = memcmp(buf + x->off, buf + y->off, Min(x->len, y->len));
	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/*
 * The training order: documents sorted by a seeded hash of their content.
 * It is a shuffle (SGD should not see similar documents in a row), and it
 * does not depend on the order rows arrive in, so a parallel plan, whose
 * workers' rows interleave differently from run to run, trains the same
 * model byte for byte as a serial one.  Equal keys are equal documents.
 */
TextDocKey *
text_rows_order(const TextRows *st, uint64 seed)
{
	TextDocKey	   *keys = palloc_extended(sizeof(TextDocKey) * Max(st->ndocs, 1), MCXT_ALLOC_HUGE);
	TextRowsCursor cur;

	text_rows_cursor(st, &cur);
	for (int64 doc = 0; doc < st->ndocs; doc++)
	{
		int			len;

		CHECK_FOR_INTERRUPTS();
		keys[doc].off = cur.off;
		for (int t = 0; t < st->ntok[doc]; t++)
			(void) text_rows_token(&cur, &len);
		keys[doc].len = cur.off - keys[doc].off;
		keys[doc].hash = hash_bytes_extended((const unsigned char *) st->buf + keys[doc].off,
											 (int) keys[doc].len, seed);
	}
	qsort_arg(keys, st->ndocs, sizeof(TextDocKey), doc_key_cmp, st->buf);
	return keys;
}


/* ---------------- the support functions every text trainer shares ---------------- */

/*
 * The trainer a support function serves, for messages, from its SQL name
 * (ecml.word2vec_train_deserialfn: "ecml.word2vec_train"), in cxt.
 */
static const char *
text_rows_trainer(FunctionCallInfo fcinfo, MemoryContext cxt)
{
	char	   *name = get_func_name(fcinfo->flinfo->fn_oid);
	char	   *suffix = name ? strrchr(name, '_') : NULL;

	if (suffix)
		*suffix = '\0';
	return MemoryContextStrdup(cxt, psprintf("ecml.%s", name ? name : "text trainer"));
}

/* combine: move state2's documents after state1's */
PG_FUNCTION_INFO_V1(text_rows_combinefn);
Datum
text_rows_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	TextRows   *s1 = PG_ARGISNULL(0) ? NULL : (TextRows *) PG_GETARG_POINTER(0);
	TextRows   *s2 = PG_ARGISNULL(1) ? NULL : (TextRows *) PG_GETARG_POINTER(1);

	aggcxt = ecml_agg_context(fcinfo, "text_rows_combinefn");
	if (s2 == NULL)
		PG_RETURN_POINTER(s1);
	if (s1 == NULL)
		PG_RETURN_POINTER(s2);
	text_rows_combine(s1, s2, aggcxt);
	PG_RETURN_POINTER(s1);
}

PG_FUNCTION_INFO_V1(text_rows_serialfn);
Datum
text_rows_serialfn(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(text_rows_serialize((TextRows *) PG_GETARG_POINTER(0)));
}

PG_FUNCTION_INFO_V1(text_rows_deserialfn);
Datum
text_rows_deserialfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;

	aggcxt = ecml_agg_context(fcinfo, "text_rows_deserialfn");
	PG_RETURN_POINTER(text_rows_deserialize(PG_GETARG_BYTEA_PP(0), aggcxt,
											text_rows_trainer(fcinfo, aggcxt)));
}
