/*
 * lstm_passes.h
 *	  ecml.train('lstm'): the vocabulary pass (lstm_vocab_sketch.c) and the
 *	  epoch passes with their driver (lstm_passes.c).  Both aggregates keep
 *	  a flat bytea state that parallel workers and Citus shards build from
 *	  their own rows and that the leader or coordinator merges.
 */
#ifndef ECML_LSTM_PASSES_H
#define ECML_LSTM_PASSES_H

#include "postgres.h"

#include "lstm.h"
#include "utils/array.h"

/*
 * The vocabulary pass's state: token counters, exact while the distinct
 * tokens fit in `capacity` counters, else a Misra-Gries summary (Misra &
 * Gries 1982; mergeable by Agarwal et al. 2012) whose every count is low
 * by at most `error` <= ntokens / (capacity + 1).  After the header:
 * entries[cap], slots int32[nslots] (a hash table in this process's hash,
 * rebuilt when a state comes from another process), the text tokens'
 * bytes (arena_cap).
 */
typedef struct LstmSketch
{
	int32		vl_len_;
	int32		magic;
	int32		token_type;		/* -1 before the first sequence */
	int32		max_length;		/* sequences are cut to their last max_length tokens */
	int32		capacity;		/* counters kept */
	int32		cap;			/* entries allocated */
	int32		n;				/* entries held */
	int32		nslots;			/* a power of two, >= 2 cap */
	int64		nseq;			/* sequences of at least 2 tokens */
	int64		nnull;
	int64		nshort;
	int64		ntokens;		/* their tokens, after the cut */
	int64		error;			/* subtracted from every counter so far */
	uint64		checksum;		/* sum of the sequences' hashes: a changed source */
	int64		arena_len;
	int64		arena_cap;
} LstmSketch;

typedef struct LstmSketchEntry
{
	int64		count;
	int64		key;			/* the bigint token, or the text's arena offset */
	int32		len;			/* text: byte length */
	int32		pad;
} LstmSketchEntry;

#define LSTM_SKETCH_MAGIC 0x4c56534b	/* "LVSK" */
#define LSTM_SKETCH_CAPACITY_MAX (1 << 24)

extern LstmSketchEntry *lstm_sketch_entries(const LstmSketch *s);
extern const char *lstm_sketch_arena(const LstmSketch *s);
/* ERROR unless s is a well-formed vocabulary pass state */
extern void lstm_sketch_check(const LstmSketch *s);

/*
 * A sequence's tokens, cut to the last max_length, in one flat form: the
 * bigint tokens or the texts.  Shared by both passes, which must agree on
 * the cut, the skipped rows and the sequence hash.
 */
typedef struct LstmSeqTokens
{
	int			token_type;
	int			n;
	int64	   *ids;			/* bigint */
	Datum	   *texts;			/* text */
} LstmSeqTokens;

/* false for a sequence to skip (fewer than 2 tokens) */
extern bool lstm_seq_tokens(ArrayType *arr, int max_length, LstmSeqTokens *t);
extern void lstm_seq_token(const LstmSeqTokens *t, int i, int64 *id, const char **s, int *len);
/* a hash of the tokens that every process computes alike */
extern uint64 lstm_seq_hash(const LstmSeqTokens *t);

#endif							/* ECML_LSTM_PASSES_H */
