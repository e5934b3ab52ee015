/*
 * text.h
 *	  Text: tokens through PostgreSQL's text search configurations
 *	  (text_tokenize.c), word vectors trained in the database or loaded from
 *	  pretrained rows (text_w2v_train.c, text_wv_load.c), their scoring
 *	  (text_vectors.c), and a fastText-style text classifier
 *	  (text_clf_train.c, text_clf.c).  The training rows buffer and the
 *	  vocabulary and subword hashing shared by training and scoring are in
 *	  text_rows.c and text_vocab.c; scoring never calls training code.
 *
 * The word_vectors model (kind ECML_KIND_WORDVEC):
 *	 WSHP int32[8]	V, dim, minn, maxn, buckets, nngrams, has_counts, 0
 *	 WVOC texts[V]	the words, most frequent first (loaded: in row order)
 *	 WCNT int64[V]	training counts (absent for loaded vectors)
 *	 WVEC float32[V*dim] each word's vector (with subwords: the average of
 *				its own row and its character n-gram rows, as fastText)
 *	 NGID int32[nngrams] the hash buckets of the n-grams seen, ascending
 *	 NGVC float32[nngrams*dim] their rows
 *	 WPRM float64[2] SIF a, total count of the words
 *	 WPC1 float32[dim] the common component (unit vector) embed_text removes
 *
 * The text_classifier model (kind ECML_KIND_TEXTCLF):
 *	 CSHP int32[8]	V, dim, L (labels), buckets (the word n-gram hash
 *				modulus, 0 without n-grams), word_ngrams, nbuckets (buckets
 *				stored), 0, 0
 *	 WVOC texts[V]	the words, most frequent first
 *	 CLAB texts[L]	the labels, most frequent first
 *	 NGID int32[nbuckets] the n-gram buckets seen in training, ascending
 *	 CINP float32[(V+nbuckets)*dim] input rows: words, then n-gram buckets
 *	 COUT float32[L*dim] output weights (no bias, as fastText)
 */
#ifndef ECML_TEXT_H
#define ECML_TEXT_H

#include "postgres.h"

#include "ecml.h"
#include "model.h"
#include "options.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#define WV_TAG_SHAPE		ECML_TAG('W', 'S', 'H', 'P')
#define WV_TAG_VOCAB		ECML_TAG('W', 'V', 'O', 'C')
#define WV_TAG_COUNTS		ECML_TAG('W', 'C', 'N', 'T')
#define WV_TAG_VECTORS		ECML_TAG('W', 'V', 'E', 'C')
#define WV_TAG_NGRAM_IDS	ECML_TAG('N', 'G', 'I', 'D')
#define WV_TAG_NGRAM_VECS	ECML_TAG('N', 'G', 'V', 'C')
#define WV_TAG_PARAMS		ECML_TAG('W', 'P', 'R', 'M')
#define WV_TAG_COMMON		ECML_TAG('W', 'P', 'C', '1')

#define CLF_TAG_SHAPE		ECML_TAG('C', 'S', 'H', 'P')
#define CLF_TAG_LABELS		ECML_TAG('C', 'L', 'A', 'B')
#define CLF_TAG_INPUT		ECML_TAG('C', 'I', 'N', 'P')
#define CLF_TAG_OUTPUT		ECML_TAG('C', 'O', 'U', 'T')

/* ---- limits and defaults ---- */

#define WV_DIM_DEFAULT			100
#define WV_DIM_MAX				1024
#define WV_WINDOW_DEFAULT		5
#define WV_WINDOW_MAX			100
#define WV_NEGATIVE_DEFAULT		5
#define WV_NEGATIVE_MAX			100
#define WV_EPOCHS_DEFAULT		5
#define WV_EPOCHS_MAX			1000
#define WV_MIN_COUNT_DEFAULT	5
#define WV_SAMPLE_DEFAULT		1e-3
/* gensim's default for both methods */
#define WV_LR_DEFAULT			0.025
/* the vocabulary cap: the most frequent max_vocab words are kept */
#define WV_MAX_VOCAB_DEFAULT	100000
#define WV_MAX_VOCAB_MAX		2000000
#define WV_MINN_DEFAULT			3
#define WV_MAXN_DEFAULT			6
#define WV_NGRAM_MAX			20
#define WV_BUCKETS_DEFAULT		2000000
#define WV_BUCKETS_MAX			100000000
#define WV_SIF_A_DEFAULT		1e-3
#define WV_SEED_DEFAULT			42

#define CLF_DIM_DEFAULT			100
#define CLF_EPOCHS_DEFAULT		5
#define CLF_LR_DEFAULT			0.1
#define CLF_WORD_NGRAMS_DEFAULT	1
#define CLF_WORD_NGRAMS_MAX		5
#define CLF_BUCKETS_DEFAULT		2000000
#define CLF_MIN_COUNT_DEFAULT	1
#define CLF_MAX_LABELS			10000
#define CLF_LABEL_MAX_BYTES		1000

/*
 * The training kernels (dot products and axpys of dim floats) are built
 * for x86-64-v3 (AVX2, FMA) and a baseline, picked at load time.
 */
#define TEXT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))

/* a token longer than this (bytes) is skipped, as text search skips words */
#define TEXT_TOKEN_MAX_BYTES	2047

/* ---- the tokenizer (text_tokenize.c) ---- */

/*
 * The tokens of document (len bytes) under text search configuration
 * cfgid, in document order, as palloc'd strings; *ntokens gets the count.
 */
extern void text_check_config(Oid cfgid);
extern char **text_tokens(Oid cfgid, const char *document, int len, int *ntokens);

/* ---- vocabulary and hashing (text_vocab.c) ---- */

/* Strings to dense indices 0..n-1 by an open-addressing hash table. */
typedef struct TextVocab
{
	int			n;
	int			cap;
	char	  **strs;			/* NUL-terminated, [cap] */
	int		   *lens;
	int64	   *counts;
	int32	   *slots;			/* entry index or -1 */
	uint32		mask;
} TextVocab;

extern uint32 text_hash(const char *s, int len);
extern void text_vocab_init(TextVocab *v, int expected);
/* index of s, adding it (count 0) when absent; s is copied */
extern int	text_vocab_add(TextVocab *v, const char *s, int len);
extern int	text_vocab_find(const TextVocab *v, const char *s, int len);

/*
 * The hash buckets (mod buckets) of the character n-grams of "<word>" with
 * minn..maxn characters (UTF-8 aware; Bojanowski et al. 2017), written to
 * out (room for text_ngram_count()); returns how many.
 */
extern int	text_ngram_count(const char *word, int len, int minn, int maxn);
extern int	text_word_ngrams(const char *word, int len, int minn, int maxn,
							 int buckets, int32 *out);

/*
 * The tokens of a text[] argument as pointers into it (no copy); NULL
 * elements are an ERROR.  *n gets the count.
 */
extern void text_array_tokens(ArrayType *arr, const char *what, char ***strs,
							  int **lens, int *n);

/*
 * The word n-gram buckets of a document from its n token hashes
 * (text_hash): each run of 2..word_ngrams tokens, into out (room for
 * n * (word_ngrams - 1)); returns how many.
 */
extern int	text_clf_ngrams(uint32 *hashes, int n, int word_ngrams, int buckets,
							int32 *out);

/* ---- training rows (text_rows.c) ---- */

/*
 * Buffered documents: per document its token count in ntok, its tokens one
 * after another in buf (int32 byte length, then the bytes).  The classifier
 * puts the label first.
 */
typedef struct TextRows
{
	int64		ndocs;
	int64		nnull;			/* NULL rows, skipped */
	int64		nempty;			/* rows without tokens, skipped */
	int64		ntokens;
	int64		doccap;
	int32	   *ntok;
	char	   *buf;
	Size		len;
	Size		cap;
	int32		width;			/* word_vectors_load: the vector length, -1
								 * until the first row */
	Jsonb	   *options;
	bytea	   *init;			/* text_classifier_train: the word_vectors
								 * model its input rows start from, or NULL */
	const char *trainer;
} TextRows;

extern TextRows *text_rows_new(MemoryContext cxt, const char *trainer);
/*
 * Append a document of the n tokens of arr (text[]); prefix (may be NULL)
 * is stored as a first token.  Arrays without tokens count as empty.
 */
extern void text_rows_append(TextRows *st, MemoryContext cxt, ArrayType *arr,
							 const char *prefix, int prefixlen);
/* Append a document of n byte strings as they are. */
extern void text_rows_put(TextRows *st, MemoryContext cxt, char **strs,
						  const int *lens, int n);
extern void text_rows_combine(TextRows *s1, TextRows *s2, MemoryContext cxt);
extern bytea *text_rows_serialize(const TextRows *st);
extern TextRows *text_rows_deserialize(bytea *in, MemoryContext cxt, const char *trainer);

/* a document's place in the training order: see text_rows_order() */
typedef struct TextDocKey
{
	uint64		hash;
	Size		off;			/* its first token's offset in buf */
	Size		len;			/* its bytes in buf */
} TextDocKey;

extern TextDocKey *text_rows_order(const TextRows *st, uint64 seed);

/* iterate: a cursor over the buffered documents */
typedef struct TextRowsCursor
{
	const TextRows *rows;
	int64		doc;
	Size		off;
} TextRowsCursor;

extern void text_rows_cursor(const TextRows *st, TextRowsCursor *c);
/* the next token (pointer into the buffer, not NUL-terminated) */
static inline const char *
text_rows_token(TextRowsCursor *c, int *len)
{
	int32		l;
	const char *p = c->rows->buf + c->off;

	memcpy(&l, p, sizeof(int32));
	c->off += sizeof(int32) + l;
	*len = l;
	return p + sizeof(int32);
}

/* ---- the word vectors model (text_vectors.c) ---- */

typedef struct WordVectors
{
	int			V;
	int			dim;
	int			minn;
	int			maxn;
	int			buckets;
	int			nngrams;
	bool		has_counts;
	TextVocab	vocab;
	int64	   *counts;			/* [V] or NULL */
	float	   *vectors;		/* [V*dim] */
	float	   *unit;			/* [V*dim] the vectors at unit length (0 stays 0) */
	int32	   *ngram_ids;		/* [nngrams] ascending */
	float	   *ngram_vecs;		/* [nngrams*dim] */
	double		sif_a;
	double		total;
	float	   *common;			/* [dim] */
} WordVectors;

extern void *word_vectors_parse(const EcmlModel *model, MemoryContext mcxt);
extern void *text_clf_parse(const EcmlModel *model, MemoryContext mcxt);

/*
 * The vector of a word into out (dim floats): its row, or for an unseen
 * word the average of its known n-gram rows.  False when it has neither.
 */
extern bool word_vectors_lookup(const WordVectors *m, const char *w, int len, float *out);

/*
 * SIF sentence embedding (Arora, Liang, Ma 2017) of n tokens, before the
 * common component is removed: sum of a/(a + p(w)) * v(w) over the tokens
 * with a vector, divided by their number.  Returns that number.
 */
extern int	word_vectors_sif(const WordVectors *m, char **strs, const int *lens,
							 int n, float *out);

/*
 * Write a word_vectors model: vectors [V*dim], counts may be NULL; common
 * (dim) may be NULL (then computed from the word vectors).
 */
extern bytea *word_vectors_build(char **words, int V, int dim, const int64 *counts,
								 const float *vectors, int minn, int maxn,
								 int buckets, const int32 *ngram_ids, int nngrams,
								 const float *ngram_vecs, double sif_a,
								 const float *common, const char *hyper_json,
								 const char *metrics_json, int64 rows_seen,
								 int64 rows_skipped);

/* the first principal component (uncentered) of n rows x (n, dim) into u */
extern void text_first_component(const float *x, int64 n, int dim, float *u);
/* the leading eigenvector of a symmetric (dim, dim) matrix c into u */
extern void text_leading_eigenvector(const double *c, int dim, float *u);

#endif							/* ECML_TEXT_H */
