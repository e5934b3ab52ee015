/*
 * text_w2v.h
 *	  word2vec's training kernels, shared by the one-statement aggregate
 *	  (text_w2v_train.c) and ecml.train('word2vec')'s passes
 *	  (text_w2v_passes.c): options, the vocabulary's input rows (word and
 *	  n-grams), the tables, and one document's training step.
 */
#ifndef ECML_TEXT_W2V_H
#define ECML_TEXT_W2V_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#define SIGMOID_TABLE 1024
#define SIGMOID_MAX 6.0f
/* the cumulative negative-sampling table spans [0, NEG_DOMAIN) */
#define NEG_DOMAIN 2147483647.0

typedef enum W2vMethod
{
	W2V_SKIPGRAM = 0,
	W2V_CBOW = 1
} W2vMethod;

typedef struct W2vOptions
{
	int			method;
	int			dim;
	int			window;
	int			negative;
	int			epochs;
	int			min_count;
	int			max_vocab;
	double		sample;
	double		learning_rate;
	int			minn;
	int			maxn;
	int			buckets;
	double		sif_a;
	int64		seed;
} W2vOptions;

typedef struct W2vData
{
	int			V;
	char	  **words;			/* [V], most frequent first */
	int64	   *counts;			/* [V] */
	int64		ndocs;
	int64	   *doc_off;		/* [ndocs + 1] into ids */
	int32	   *ids;			/* kept tokens as word indices */
	int64		ntrain;			/* kept tokens */
	int64		tokens_dropped;
	int64		words_dropped;	/* distinct words below min_count or past max_vocab */
	int			nngrams;
	int32	   *ngram_ids;		/* [nngrams] buckets, ascending */
	int64	   *in_off;			/* [V + 1] into in_rows: word w's input rows */
	int32	   *in_rows;		/* the word's own row, then its n-gram rows
								 * (V + position in ngram_ids) */
} W2vData;

typedef struct W2vNet
{
	int			dim;
	float	   *in;				/* (V + nngrams, dim) */
	float	   *out;			/* (V, dim) */
	uint32	   *cum;			/* [V] cumulative unigram^0.75, scaled to
								 * NEG_DOMAIN */
	int			V;
	float	   *keep;			/* [V] subsampling: keep probability */
	float		sigmoid[SIGMOID_TABLE + 1];
	float		logsig[SIGMOID_TABLE + 1];
	uint64		rnd;
	double		loss;
	int64		nloss;
} W2vNet;

/* scratch for w2v_train_doc: sized by w2v_scratch_init */
typedef struct W2vScratch
{
	int32	   *sen;
	int			maxlen;
	int32	   *ctx;
	float	   *h;
	float	   *grad;
} W2vScratch;

extern void w2v_parse_options(Jsonb *opts, W2vOptions *o, const char *trainer);
extern void w2v_options_json(StringInfo out, const W2vOptions *o);
extern void w2v_build_subwords(const W2vOptions *o, W2vData *d);
/* initial input rows, as word2vec_train draws them; sets net->rnd */
extern void w2v_init_weights(W2vNet *net, const W2vOptions *o, Size nrows);
/* the negative-sampling, subsampling and sigmoid tables from the counts */
extern void w2v_init_tables(W2vNet *net, const W2vOptions *o, const int64 *counts,
							int V, int64 ntrain);
extern void w2v_scratch_init(W2vScratch *s, const W2vOptions *o, const W2vData *d, int maxlen);
/* subsample one document's word indices and train on them at rate lr */
extern void w2v_train_doc(W2vNet *net, const W2vData *d, const W2vOptions *o,
						  const int32 *ids, int n, float lr, W2vScratch *s);
extern float *w2v_word_vectors(const W2vNet *net, const W2vData *d);

#endif							/* ECML_TEXT_W2V_H */
