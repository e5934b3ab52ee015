/*
 * lstm.h
 *	  Next-action prediction: an LSTM language model over token sequences,
 *	  trained by an aggregate (lstm_train.c) and scored by plain functions
 *	  (lstm_predict.c); the parameter layout and the parser are in
 *	  lstm_model.c.  Layers are in nn.h; the vocabulary in lstm_vocab.c.
 *
 * Parameters, one float32 block in this order:
 *	 embedding (V,E); per layer l: W_l (I_l+H,G), b_l (G) with I_0 = E,
 *	 I_l = H, G = 4H for LSTM cells and 3H for GRU cells (nn.h); output
 *	 W_o (V,H), b_o (V).
 * Vocabulary index 0 is the unknown token; 1..V-1 are the kept tokens,
 * most frequent first (ties by token).
 */
#ifndef ECML_LSTM_H
#define ECML_LSTM_H

#include "postgres.h"

#include "ecml.h"
#include "model.h"
#include "options.h"

#define LSTM_TAG_VOCAB		ECML_TAG('V', 'O', 'C', 'B')	/* int64[V-1] or TEXTS[V-1] */
#define LSTM_TAG_WEIGHTS	ECML_TAG('W', 'G', 'H', 'T')	/* float32: all parameters */
#define LSTM_TAG_SHAPE		ECML_TAG('S', 'H', 'P', 'E')	/* int32[6]: token type, V, E,
															 * H, layers, max_length */
/*
 * Optional (models since 0.2.0): float32[3] repeat weight, decay and mode
 * (1: explore, 0: softmax; lstm_repeat.c).  Models without it (older ones, or "repeat": "off")
 * score with the softmax alone.
 */
#define LSTM_TAG_REPEAT		ECML_TAG('R', 'P', 'E', 'T')
/*
 * Optional (models with "successors": "auto"; lstm_successors.c): the
 * successor table, int32[V + 1 + 2 nnz]: row offsets off[0..V] (off[0] = 0,
 * off[V] = nnz), then the successors' vocabulary indices and then their
 * transition counts, each row most frequent first (ties by index); and its
 * weight in [0, 1] and smoothing >= 0, float32[2].  Models without them
 * score as before.
 */
#define LSTM_TAG_SUCC_TABLE	ECML_TAG('S', 'U', 'C', 'T')
#define LSTM_TAG_SUCC_WEIGHT ECML_TAG('S', 'U', 'C', 'W')
/* float32[1], 1: the successors may be items of the session (lstm_successors.c) */
#define LSTM_TAG_SUCC_SEEN	ECML_TAG('S', 'U', 'C', 'S')
/*
 * Optional (models with "neighbours": "auto"; lstm_neighbours.c): the
 * training sessions, int32[2 + S + nitems]: their count S, offsets
 * off[0..S] (off[0] = 0, off[S] = nitems), then each session's distinct
 * items, ascending; and their weight in [0, 1], float32[1].
 */
#define LSTM_TAG_KNN_SESSIONS ECML_TAG('K', 'N', 'N', 'S')
#define LSTM_TAG_KNN_WEIGHT	ECML_TAG('K', 'N', 'N', 'W')
/*
 * Optional (models with "cell": "gru"): int32[1], the recurrent cell as
 * NnCell.  Models without it have LSTM cells.
 */
#define LSTM_TAG_CELL		ECML_TAG('C', 'E', 'L', 'L')

#define LSTM_UNKNOWN 0			/* vocabulary index of the unknown token */

#define LSTM_TOKENS_BIGINT 0
#define LSTM_TOKENS_TEXT 1

/*
 * Defaults tuned on MovieLens 100K (test/bench/RESULTS.md): 20 epochs at
 * learning rate 5e-3 over the last 200 tokens beat a first-order Markov
 * chain there, where 10 epochs at 1e-3 over 50 tokens under-train.
 * Dropout 0.25 and a 10% validation split with early stopping (which also
 * fits the repeat mechanism on held-out sequences) were chosen on
 * MovieLens and Taobao sessions (bench_sessions.py, issue 18).  The
 * embedding's width defaults to hidden_size, and then the embedding is
 * tied to the output layer (lstm_fit.c, lstm_resolve_tied).
 */
#define LSTM_HIDDEN_SIZE_DEFAULT	128
#define LSTM_DIM_MAX				4096
#define LSTM_LAYERS_DEFAULT			1
#define LSTM_LAYERS_MAX				8
#define LSTM_EPOCHS_DEFAULT			20
#define LSTM_EPOCHS_MAX				10000
#define LSTM_BATCH_SIZE_DEFAULT		64
#define LSTM_BATCH_SIZE_MAX			4096
#define LSTM_LEARNING_RATE_DEFAULT	5e-3
#define LSTM_MAX_LENGTH_DEFAULT		200
#define LSTM_MAX_LENGTH_MAX			10000
#define LSTM_MIN_COUNT_DEFAULT		1
#define LSTM_MAX_VOCAB_DEFAULT		100000
#define LSTM_MAX_VOCAB_MAX			10000000
#define LSTM_CLIP_NORM_DEFAULT		5.0
#define LSTM_PATIENCE_DEFAULT		3
#define LSTM_VALIDATION_FRACTION_DEFAULT 0.1
#define LSTM_SEED_DEFAULT			42
#define LSTM_SOFTMAX_THRESHOLD_DEFAULT 20000
#define LSTM_NUM_SAMPLED_DEFAULT	512
#define LSTM_DROPOUT_DEFAULT		0.25
#define LSTM_DROPOUT_MAX			0.9
#define LSTM_WEIGHT_DECAY_DEFAULT	0.0
#define LSTM_WEIGHT_DECAY_MAX		1.0
/*
 * Successors kept per item: V * LSTM_MAX_SUCCESSORS_MAX stays below 2^31,
 * so the table's offsets are int32.  The default was chosen on
 * bench_sessions.py's ac data (test/bench/RESULTS.md).
 */
#define LSTM_MAX_SUCCESSORS_DEFAULT 30
#define LSTM_MAX_SUCCESSORS_MAX		200

/*
 * Clicks after an item that count as its successors (1: the next click
 * only, a first-order Markov chain; more: sequential rules' 1/gap
 * weights).  The maximum keeps lcm(1 .. window) small and the gap in the
 * build's sort keys' four low bits.
 */
#define LSTM_SUCCESSOR_WINDOW_DEFAULT 1
#define LSTM_SUCCESSOR_WINDOW_MAX	10

/*
 * Session kNN (lstm_neighbours.c): VSKNN's usual sizes, 100 neighbours
 * among at most 1000 candidate sessions; sessions kept by default.
 */
#define LSTM_KNN_NEIGHBOURS			100
#define LSTM_KNN_SAMPLE				1000
#define LSTM_NEIGHBOUR_SESSIONS_DEFAULT 1000000
#define LSTM_NEIGHBOUR_SESSIONS_MAX 100000000
/* BPR-max's score penalty: 0 by measurement (GRU4Rec's is 1; docs/next-action.md) */
#define LSTM_BPR_REG_DEFAULT		0.0
#define LSTM_BPR_REG_MAX			100
/* the recurrent cell (NnCell; docs/next-action.md has the measurements) */
#define LSTM_CELL_DEFAULT			0	/* NN_CELL_LSTM */
#define LSTM_KNN_MIN_WEIGHT			1e-3
/*
 * Session-parallel mini-batches (lstm_lanes.c): clicks each lane advances
 * per mini-batch.  GRU4Rec takes 1; 5 ranked as well or better on four of
 * bench_sessions.py's six sets measured (within 0.002 on the other two)
 * and trained 1.1 to 1.9 times as fast (docs/next-action.md).
 */
#define LSTM_SESSION_STEPS_DEFAULT	5

/* the successor table's smoothings tried (lstm_successors_mix), best by likelihood */
#define LSTM_SUCC_SMOOTHS   \
	{                       \
		0.0, 1.0, 4.0, 16.0 \
	}

/* the recency decays tried when fitting the repeat mechanism, best by likelihood */
#define LSTM_REPEAT_DECAYS	{1.0, 0.8, 0.6, 0.4, 0.2}

typedef enum LstmRepeat
{
	LSTM_REPEAT_AUTO = 0,
	LSTM_REPEAT_OFF = 1
} LstmRepeat;

typedef enum LstmOutputBias
{
	LSTM_OUTPUT_BIAS_UNIFORM = 0,
	LSTM_OUTPUT_BIAS_PRIOR = 1,
	LSTM_OUTPUT_BIAS_AUTO = 2	/* prior with the sampled softmax, else uniform */
} LstmOutputBias;

typedef enum LstmSuccessorsOpt
{
	LSTM_SUCCESSORS_AUTO = 0,
	LSTM_SUCCESSORS_OFF = 1
} LstmSuccessorsOpt;

typedef enum LstmNeighboursOpt
{
	LSTM_NEIGHBOURS_AUTO = 0,
	LSTM_NEIGHBOURS_OFF = 1
} LstmNeighboursOpt;

/*
 * The training loss; BPR-max and TOP1-max are NnRankLoss's values.  auto:
 * BPR-max when the output layer samples, else the cross-entropy.
 */
typedef enum LstmLoss
{
	LSTM_LOSS_CROSS_ENTROPY = 0,
	LSTM_LOSS_BPR_MAX = 1,
	LSTM_LOSS_TOP1_MAX = 2,
	LSTM_LOSS_AUTO = 3
} LstmLoss;

/* how training sequences become mini-batches (lstm_fit.c, lstm_lanes.c) */
typedef enum LstmBatching
{
	LSTM_BATCHING_SEQUENCES = 0,	/* whole sequences, padded */
	LSTM_BATCHING_SESSION_PARALLEL = 1	/* lanes of sessions, a few clicks each */
} LstmBatching;

typedef enum LstmSoftmax
{
	LSTM_SOFTMAX_AUTO = 0,
	LSTM_SOFTMAX_FULL = 1,
	LSTM_SOFTMAX_SAMPLED = 2
} LstmSoftmax;

typedef struct LstmOptions
{
	int			embedding_dim;
	int			hidden_size;
	int			layers;
	int			epochs;
	int			batch_size;
	double		learning_rate;
	int			max_length;
	int			min_count;
	int			max_vocab;
	double		clip_norm;
	double		validation_fraction;
	int			patience;
	int64		seed;
	int			softmax;		/* LstmSoftmax */
	int			softmax_threshold;
	int			num_sampled;
	int			bptt;
	int			repeat;			/* LstmRepeat */
	double		dropout;
	double		weight_decay;
	int			successors;		/* LstmSuccessorsOpt */
	int			max_successors;
	int			successor_window;
	int			output_bias;	/* LstmOutputBias */
	int			neighbours;		/* LstmNeighboursOpt */
	int			neighbour_sessions;
	int			loss;			/* LstmLoss */
	double		bpr_reg;
	int			cell;			/* NnCell */
	bool		tied;			/* the output layer's weights are the embedding */
	int			batching;		/* LstmBatching */
	int			session_steps;
} LstmOptions;

/* Sizes of the network and where each parameter block starts. */
typedef struct LstmNet
{
	int			V;
	int			E;
	int			H;
	int			L;
	int			cell;			/* NnCell */
	/*
	 * Training keeps W_o equal to the embedding (E = H): one matrix, its
	 * gradient the sum of both uses.  The model stores both copies.
	 */
	bool		tied;
	size_t		nparams;
	float	   *params;			/* the block */
	float	   *emb;
	float	   *W[LSTM_LAYERS_MAX];
	float	   *b[LSTM_LAYERS_MAX];
	float	   *Wo;
	float	   *bo;
} LstmNet;

/* Floats in the parameter block of a (V,E,H,L) network of cell (NnCell). */
extern size_t lstm_param_count(int V, int E, int H, int L, int cell);
/* Point net's blocks into params (lstm_param_count floats for net->cell). */
extern void lstm_net_layout(LstmNet *net, float *params);

/*
 * The vocabulary: tokens (bigint or text) to indices 1..V-1 by an
 * open-addressing hash table, and back.
 */
typedef struct LstmVocab
{
	int			token_type;		/* LSTM_TOKENS_* */
	int			n;				/* tokens held (V - 1) */
	int			cap;
	int64	   *ids;			/* bigint tokens, [cap] */
	char	  **strs;			/* text tokens, [cap], NUL-terminated */
	int		   *lens;			/* their byte lengths */
	int64	   *counts;			/* occurrences while counting */
	int32	   *slots;			/* hash table: entry index or -1 */
	uint32		mask;			/* slots - 1 */
} LstmVocab;

extern void lstm_vocab_init(LstmVocab *v, int token_type, int expected);
/* Entry index of a token, adding it (count 0) when absent. */
extern int	lstm_vocab_add(LstmVocab *v, int64 id, const char *s, int len);
/*
 * A token's hash under this process's random SipHash key: for tables that
 * live in one process only (another process's hashes differ).
 */
extern uint64 lstm_token_hash(int token_type, int64 id, const char *s, int len);
/* Entry index of a token, or -1. */
extern int	lstm_vocab_find(const LstmVocab *v, int64 id, const char *s, int len);

/*
 * The successor table: for each vocabulary index a, at most max_successors
 * items that followed a in the training sequences, with their counts.
 */
typedef struct LstmSuccessors
{
	int			V;
	int32		nnz;			/* 0: no table */
	int32	   *off;			/* [V + 1]: a's row is off[a] .. off[a + 1] - 1 */
	int32	   *next;			/* [nnz] successors, most frequent first */
	int32	   *count;			/* [nnz] transitions a -> next, in units */
	int32		unit;			/* the count of one next click (training) */
} LstmSuccessors;

/*
 * The training sessions for session kNN: each one's distinct items, and
 * for each item at most LSTM_KNN_SAMPLE of the sessions holding it.
 */
typedef struct LstmNeighbours
{
	int			V;
	int32		nsess;			/* 0: none */
	int32		nitems;
	int32	   *soff;			/* [nsess + 1] */
	int32	   *items;			/* [nitems]: distinct known tokens, ascending */
	int32	   *ioff;			/* [V + 1]: item c's sessions are ioff[c] .. ioff[c + 1] - 1 */
	int32	   *isess;			/* [npost] */
	int32		npost;
	int64		mem_items;		/* items allocated (training) */
} LstmNeighbours;

/* per-query buffers of lstm_neighbours_find */
typedef struct LstmKnnWork
{
	float	   *wt;				/* [V] position weights of the session's items, else 0 */
	uint8	   *taken;			/* [nsess bits] candidates so far */
	int32	   *cand;			/* [LSTM_KNN_SAMPLE] candidate sessions */
	float	   *sim;			/* [LSTM_KNN_SAMPLE] their similarities */
	int32	   *order;			/* [LSTM_KNN_SAMPLE] candidates, best first */
} LstmKnnWork;

/* A model ready to score (cached per backend by the model cache). */
typedef struct LstmModel
{
	int			token_type;
	int			max_length;
	LstmNet		net;
	LstmVocab	vocab;			/* entry i is vocabulary index i + 1 */
	float		repeat_weight;	/* 0: no repeat mechanism (older models) */
	float		repeat_decay;
	bool		repeat_explore; /* mix with the explore mode, not the softmax */
	LstmSuccessors succ;		/* nnz 0: none (older models, "successors": "off") */
	float		succ_params[3]; /* weight, smoothing, 1: successors may be seen */
	LstmNeighbours knn;			/* nsess 0: none */
	float		knn_weight;
} LstmModel;

extern void *lstm_parse(const EcmlModel *model, MemoryContext mcxt);

/* the repeat mechanism (lstm_repeat.c) */
extern double lstm_repeat_prob(const int32 *ids, int n, int32 y, double decay);
extern double lstm_seen_mass(const float *p, const int32 *ids, int n, int32 *mark,
							 int32 stamp);
extern void lstm_explore_base(float *p, int V, const int32 *ids, int n);
extern void lstm_repeat_mix(float *p, int V, const int32 *ids, int n,
							float weight, float decay);

/* the transition component (lstm_successors.c) */
extern void lstm_successors_build(LstmSuccessors *s, int V, int K, int window, const int64 *off,
								  const int32 *tok, const int64 *seqs, int64 n,
								  EcmlTrainMemory *mem);
extern void lstm_successors_free(LstmSuccessors *s, EcmlTrainMemory *mem);
extern double lstm_successor_counts(const LstmSuccessors *s, int32 last, int32 y,
									const int32 *mark, int32 stamp, double *num);
extern void lstm_successors_mix(float *p, int V, const LstmSuccessors *s, const int32 *ids,
								int n, float weight, float smooth, bool unseen_only);
extern void lstm_successors_parse(const EcmlModel *model, int V, bool explore,
								  LstmSuccessors *s, float params[3]);
extern void lstm_successors_write(EcmlModelBuilder *b, const LstmSuccessors *s,
								  const float params[3]);

/* the neighbourhood component (lstm_neighbours.c) */
extern void lstm_neighbours_build(LstmNeighbours *k, int V, int max_sessions, const int64 *off,
								  const int32 *tok, const int64 *seqs, int64 n,
								  EcmlTrainMemory *mem);
extern void lstm_neighbours_free(LstmNeighbours *k, EcmlTrainMemory *mem);
extern void lstm_neighbours_work_init(LstmKnnWork *w, const LstmNeighbours *k);
extern int lstm_neighbours_find(const LstmNeighbours *k, const int32 *ids, int n,
								LstmKnnWork *w);
extern double lstm_neighbours_prob(const LstmNeighbours *k, const int32 *ids, int n, int32 y,
								   LstmKnnWork *w);
extern void lstm_neighbours_mix(float *p, int V, const LstmNeighbours *k, const int32 *ids,
								int n, float weight);
extern void lstm_neighbours_parse(const EcmlModel *model, int V, LstmNeighbours *k,
								  float *weight);
extern void lstm_neighbours_write(EcmlModelBuilder *b, const LstmNeighbours *k, float weight);

#endif							/* ECML_LSTM_H */
