/*
 * text_vocab.c
 *	  What training and scoring of text models share: the vocabulary (an
 *	  open-addressing hash table of strings), the FNV-1a hash, character
 *	  n-gram subwords, and reading a text[] argument.
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "text.h"
#include "utils/array.h"

/* FNV-1a, 32 bits: the hash fastText uses for subwords */
uint32
text_hash(const char *s, int len)
{
	uint32		h = 2166136261u;

	for (int i = 0; i < len; i++)
	{
		h ^= (uint32) (unsigned char) s[i];
		h *= 16777619u;
	}
	return h;
}

static void
vocab_alloc(TextVocab *v, int cap)
{
	int			nslots = 16;

	while (nslots < cap * 2)
		nslots *= 2;
	v->cap = cap;
	v->strs = palloc_extended(sizeof(char *) * cap, MCXT_ALLOC_HUGE);
	v->lens = palloc_extended(sizeof(int) * cap, MCXT_ALLOC_HUGE);
	v->counts = palloc_extended(sizeof(int64) * cap, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	v->slots = palloc_extended(sizeof(int32) * nslots, MCXT_ALLOC_HUGE);
	memset(v->slots, 0xff, sizeof(int32) * nslots);
	v->mask = nslots - 1;
}

void
text_vocab_init(TextVocab *v, int expected)
{
	v->n = 0;
	vocab_alloc(v, Max(expected, 16));
}

int
text_vocab_find(const TextVocab *v, const char *s, int len)
{
	uint32		i = text_hash(s, len) & v->mask;

	for (;;)
	{
		int32		e = v->slots[i];

		if (e < 0)
			return -1;
		if (v->lens[e] == len && memcmp(v->strs[e], s, len) == 0)
			return e;
		i = (i + 1) & v->mask;
	}
}

static void
vocab_grow(TextVocab *v)
{
	TextVocab	old = *v;

	vocab_alloc(v, old.cap * 2);
	memcpy(v->strs, old.strs, sizeof(char *) * old.n);
	memcpy(v->lens, old.lens, sizeof(int) * old.n);
	memcpy(v->counts, old.counts, sizeof(int64) * old.n);
	for (int e = 0; e < old.n; e++)
	{
		uint32		i = text_hash(v->strs[e], v->lens[e]) & v->mask;

		while (v->slots[i] >= 0)
			i = (i + 1) & v->mask;
		v->slots[i] = e;
	}
	pfree(old.strs);
	pfree(old.lens);
	pfree(old.counts);
	pfree(old.slots);
}

int
text_vocab_add(TextVocab *v, const char *s, int len)
{
	uint32		i;
	int			e = text_vocab_find(v, s, len);

	if (e >= 0)
		return e;
	if (v->n == v->cap)
	{
		if (v->cap >= INT_MAX / 4)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("vocabulary has more than %d distinct words", v->cap)));
		vocab_grow(v);
	}
	e = v->n++;
	v->strs[e] = pnstrdup(s, len);
	v->lens[e] = len;
	v->counts[e] = 0;
	i = text_hash(s, len) & v->mask;
	while (v->slots[i] >= 0)
		i = (i + 1) & v->mask;
	v->slots[i] = e;
	return e;
}

/* the byte offsets of the characters of "<word>" (nchars + 1 of them) */
static int
char_offsets(const char *word, int len, int *off)
{
	int			n = 0;
	int			p = 0;

	off[n++] = 0;				/* '<' */
	p = 1;
	for (int i = 0; i < len;)
	{
		int			cl = pg_utf_mblen((const unsigned char *) word + i);

		if (cl < 1 || i + cl > len)
			cl = 1;
		off[n++] = p;
		p += cl;
		i += cl;
	}
	off[n++] = p;				/* '>' */
	off[n] = p + 1;
	return n;
}

int
text_ngram_count(const char *word, int len, int minn, int maxn)
{
	int			nchars = 0;

	if (maxn <= 0)
		return 0;
	for (int i = 0; i < len;)
	{
		int			cl = pg_utf_mblen((const unsigned char *) word + i);

		if (cl < 1 || i + cl > len)
			cl = 1;
		nchars++;
		i += cl;
	}
	nchars += 2;
	return nchars * (maxn - minn + 1);
}

int
text_word_ngrams(const char *word, int len, int minn, int maxn, int buckets,
				 int32 *out)
{
	char		stackbuf[256];
	int			stackoff[258];
	char	   *buf = len + 2 <= (int) sizeof(stackbuf) ? stackbuf : palloc(len + 2);
	int		   *off = len + 2 <= (int) sizeof(stackbuf) ? stackoff : palloc(sizeof(int) * (len + 4));
	int			nchars;
	int			k = 0;

	if (maxn <= 0)
		return 0;
	buf[0] = '<';
	memcpy(buf + 1, word, len);
	buf[len + 1] = '>';
	nchars = char_offsets(word, len, off);
	for (int i = 0; i < nchars; i++)
		for (int n = minn; n <= maxn && i + n <= nchars; n++)
			out[k++] = (int32) (text_hash(buf + off[i], off[i + n] - off[i]) % (uint32) buckets);
	if (buf != stackbuf)
	{
		pfree(buf);
		pfree(off);
	}
	return k;
}

void
text_array_tokens(ArrayType *arr, const char *what, char ***strs, int **lens, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			count;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array, got %d dimensions",
						what, ARR_NDIM(arr))));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count);
	*strs = palloc(sizeof(char *) * Max(count, 1));
	*lens = palloc(sizeof(int) * Max(count, 1));
	for (int i = 0; i < count; i++)
	{
		text	   *t;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL elements", what)));
		t = (text *) DatumGetPointer(elems[i]);
		(*strs)[i] = VARDATA_ANY(t);
		(*lens)[i] = VARSIZE_ANY_EXHDR(t);
	}
	*n = count;
}

/*
 * The n-gram buckets of a document of n tokens: the hash of each run of
 * 2..word_ngrams tokens (fastText's h = h * 116049371 + hash(word)), mod
 * buckets, into out; returns how many.
 */
int
text_clf_ngrams(uint32 *hashes, int n, int word_ngrams, int buckets, int32 *out)
{
	int			k = 0;

	for (int i = 0; i < n; i++)
	{
		uint64		h = hashes[i];

		for (int g = 1; g < word_ngrams && i + g < n; g++)
		{
			h = h * 116049371 + hashes[i + g];
			out[k++] = (int32) (h % (uint64) buckets);
		}
	}
	return k;
}

