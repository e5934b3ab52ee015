/*
 * lstm_fit.h
 *	  The LSTM's mini-batch training step, shared by the one-statement
 *	  aggregate ecml.lstm_train (lstm_train.c) and the multi-pass trainer
 *	  ecml.train('lstm') (lstm_passes.c): options, work buffers, the
 *	  forward/backward pass of a mini-batch, the Adam step, validation,
 *	  the repeat mechanism's fit and the model's layout on disk.
 */
#ifndef ECML_LSTM_FIT_H
#define ECML_LSTM_FIT_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "lstm.h"
#include "nn.h"
#include "utils/jsonb.h"

extern const EcmlOptionSpec lstm_option_specs[];

#define N_LSTM_OPTIONS 32

/* Parse and check the options of an LSTM trainer (named in errors). */
extern void lstm_parse_options(Jsonb *opts, LstmOptions *o, const char *trainer);
extern bool lstm_uses_sampled(const LstmOptions *o, int V);
extern void lstm_resolve_loss(LstmOptions *o, bool sampled);

static inline bool
lstm_ranking_loss(int loss)
{
	return loss == LSTM_LOSS_BPR_MAX || loss == LSTM_LOSS_TOP1_MAX;
}

/* The training data after the vocabulary: indices per sequence. */
typedef struct LstmData
{
	int64		nseq;
	int64	   *off;			/* [nseq + 1] into tok */
	int32	   *tok;			/* vocabulary indices, 0 = unknown */
	LstmVocab	vocab;			/* kept tokens; entry i is index i + 1 */
	int64	   *counts;			/* [V] occurrences by vocabulary index */
	int64		nunknown;		/* token occurrences mapped to the unknown token */
} LstmData;

/* Work buffers for one mini-batch of at most B rows and T steps. */
typedef struct LstmWork
{
	int			B;
	int			T;
	int32	   *x;				/* (T,B) inputs */
	int32	   *y;				/* (T,B) targets */
	int		   *nact;			/* (T) */
	float	   *x0;				/* (T,B,E) embedded inputs */
	LstmActs	acts[LSTM_LAYERS_MAX];
	float	   *dh[LSTM_LAYERS_MAX];	/* (T,B,H) gradient w.r.t. layer outputs */
	float	   *dx0;			/* (T,B,E) */
	float	   *scratch;
	/* the output layer runs on chunks of up to R target rows gathered across steps */
	int			R;
	float	   *hg;				/* (R,H) gathered top-layer states */
	float	   *dhg;			/* (R,H) their gradients */
	int32	   *yg;				/* (R) their targets */
	float	   *probs;			/* (R,V) full softmax */
	/* sampled softmax */
	bool		sampled;
	int			S;
	double	   *cdf;			/* (V) cumulative proposal */
	float	   *logq;			/* (V) log(S Q(c)) */
	int32	   *samples;		/* (S) */
	float	   *logq_s;			/* (S) */
	float	   *logq_y;			/* (R) */
	float	   *work;			/* (R,S+1) */
	float	   *wsamp;			/* (S,H) */
	float	   *dwsamp;			/* (S,H) */
	int			loss;			/* LstmLoss: over the samples, when not cross-entropy */
	float		bpr_reg;
	int64	   *rows;			/* (B) sequences of the batch, sorted */
	/* acts' initial h and c rows are the caller's (lstm_lanes.c), not zero */
	bool		keep_state;
	/* when py is not NULL, a full-softmax pass records for row r at step t: */
	float	   *py;				/* (T,B) p(target) */
	float	   *pseen;			/* (T,B) p of the distinct tokens up to step t */
	int32	   *mark;			/* (V) for lstm_seen_mass */
	int32		stamp;
	/* dropout masks of a training batch (NULL without dropout) */
	float		dropout;
	float	   *mask_x;			/* (T,B,E) on the embedded inputs */
	float	   *mask_h;			/* (R,H) on a chunk's top-layer states */
	/*
	 * A sampled-softmax training step's gradient is zero outside these rows
	 * of the embedding and of the output layer: the step's input tokens,
	 * and its targets and drawn classes (lstm_sgd_step updates only them).
	 */
	bool		track;			/* lstm_batch is to fill them */
	bool		grads_clean;	/* grads are zero outside the rows listed */
	int32	   *emb_rows;		/* (min(V, T*B)) */
	int			n_emb_rows;
	int32	   *out_rows;		/* (V) */
	int			n_out_rows;
	int32	   *emb_mark;		/* (V) stamps: listed at this step */
	int32	   *out_mark;		/* (V) */
	int32		row_stamp;
	/*
	 * The Adam step each embedding and output row was last brought to (see
	 * adam_update_rows; zero at step 0).  lstm_sparse_catch_up brings every
	 * row to the current step.  A pass points them into its checkpoint.
	 */
	int32	   *emb_last;		/* (V) */
	int32	   *out_last;		/* (V) */
} LstmWork;

/* canonical order of sequences (qsort_arg over int64 indices, arg LstmData) */
extern int	lstm_seq_order_cmp(const void *a, const void *b, void *arg);

extern void lstm_init_params(LstmNet *net, EcmlRng *rng);
/* output bias = log unigram shares of counts[V] ("output_bias": "prior") */
extern void lstm_init_output_prior(LstmNet *net, const int64 *counts);
/* whether training starts from that bias (the option, "auto" resolved) */
extern bool lstm_prior_bias(const LstmOptions *o, bool sampled);
extern size_t lstm_work_floats(const LstmNet *net, int B, int T, bool sampled, int S,
							   double dropout);
extern void lstm_work_init(LstmWork *w, const LstmNet *net, int B, int T, bool sampled,
						   int S, double dropout);
extern void lstm_proposal(LstmWork *w, const LstmData *d, int V);
extern double lstm_batch(LstmNet *net, LstmNet *grads, LstmWork *w, const LstmData *d,
						 const int64 *seqs, int n, EcmlRng *rng, bool use_sampled,
						 int bptt, int64 *ntargets);
/*
 * The batch already in w (x, y, nact for T steps, ntargets targets), as
 * lstm_batch runs it after gathering.
 */
extern double lstm_batch_run(LstmNet *net, LstmNet *grads, LstmWork *w, const LstmData *d,
							 int T, int64 ntargets, EcmlRng *rng, bool use_sampled, int bptt);
extern double lstm_eval(LstmNet *net, LstmWork *w, const LstmData *d, const int64 *seqs,
						int64 n);

/*
 * One optimiser step on the mini-batch seqs[0..n): gradients into grads,
 * global-norm clipping, decoupled weight decay, Adam with moments m and v
 * at step ++*step.  Returns the batch's summed loss; *ntargets its targets.
 */
extern double lstm_sgd_step(LstmNet *net, LstmNet *grads, float *m, float *v, int *step,
							LstmWork *w, const LstmData *d, const int64 *seqs, int n,
							EcmlRng *rng, bool sampled, const LstmOptions *o,
							int64 *ntargets);
/* lstm_sgd_step's halves: zero the gradients; clip, decay and take the Adam step */
extern void lstm_grads_begin(LstmNet *net, LstmNet *grads, LstmWork *w, bool sampled);
extern void lstm_grads_apply(LstmNet *net, LstmNet *grads, float *m, float *v, int *step,
							 LstmWork *w, bool sampled, const LstmOptions *o);
/*
 * Session-parallel mini-batches (lstm_lanes.c): batch_size lanes walk
 * through the sessions order[0..n), each mini-batch session_steps clicks
 * of every lane, the state carried between them.  One epoch: returns the
 * summed loss and sets *ntargets.
 */
typedef struct LstmLanes
{
	int			B;
	int			K;				/* clicks per lane per mini-batch */
	int			L;
	int			H;
	int64	   *seq;			/* (B) the lane's sequence, -1: none */
	int		   *pos;			/* (B) its next input's position */
	int		   *steps;			/* (B) this mini-batch's clicks */
	int		   *perm;			/* (B) batch row r is lane perm[r] */
	float	   *h[LSTM_LAYERS_MAX];	/* (B,H) each lane's state */
	float	   *c[LSTM_LAYERS_MAX];
} LstmLanes;
extern size_t lstm_lanes_bytes(const LstmNet *net, int B);
extern void lstm_lanes_init(LstmLanes *ln, const LstmNet *net, int B, int K);
extern double lstm_lanes_epoch(LstmLanes *ln, LstmNet *net, LstmNet *grads, float *m,
							   float *v, int *step, LstmWork *w, const LstmData *d,
							   const int64 *order, int64 n, EcmlRng *rng, bool sampled,
							   const LstmOptions *o, int64 *ntargets);
extern void lstm_sparse_catch_up(LstmNet *net, float *m, float *v, LstmWork *w,
								 const LstmOptions *o, int t);

/* The repeat mechanism's fit, also in parts (ecml.train collects in a pass). */
#define LSTM_REPEAT_NDECAYS 5	/* lengthof(LSTM_REPEAT_DECAYS) */
typedef struct LstmRepeatTarget
{
	double		ps;				/* the softmax's probability of the target */
	double		pe;				/* the explore mode's (0 if seen before) */
	double		rv[LSTM_REPEAT_NDECAYS];	/* the repeat mode's, per decay */
	/* the last token's transitions to the target and to all its successors */
	double		sbn;
	double		sbt;			/* 0: none (lstm_successors.c) */
	/* the same over the successors not in the sequence */
	double		sun;
	double		sut;
	double		pk;				/* the neighbours' (lstm_neighbours.c); -1: none */
} LstmRepeatTarget;

/* targets to collect at most, for V tokens and hidden size H */
extern int64 lstm_repeat_cap(int V, int H);
/* the buffers lstm_repeat_targets fills (w->py: set until the fit is done) */
extern void lstm_repeat_prepare(LstmWork *w, int V);
/*
 * score a batch and append at most room of its targets to out; returns how
 * many (succ: the successor table to score them with, knn the sessions
 * with kw its buffers; either may be NULL)
 */
extern int64 lstm_repeat_targets(LstmNet *net, LstmWork *w, const LstmData *d,
								 const int64 *seqs, int n, const LstmSuccessors *succ,
								 const LstmNeighbours *knn, LstmKnnWork *kw,
								 LstmRepeatTarget *out, int64 room);
/*
 * the repeat weight, decay and mode (with repeat), the successor weight
 * and smoothing (succ_unit > 0: the table's count of one next click; 0:
 * no table) and the neighbours' weight (0 where no target has
 * neighbours) of the best likelihood over N targets
 */
extern void lstm_repeat_select(const LstmRepeatTarget *x, int64 N, bool repeat,
							   double succ_unit, float rep[3], float succ_params[3],
							   float *knn_weight);
extern void lstm_fit_repeat(LstmNet *net, LstmWork *w, const LstmData *d, const int64 *seqs,
							int64 n, const LstmSuccessors *succ, const LstmNeighbours *knn,
							bool repeat, float rep[3], float succ_params[3], float *knn_weight);
extern void lstm_append_loss(StringInfo buf, double x);

/* What a trained model's metrics report (lstm_write_model). */
typedef struct LstmFitReport
{
	int			epochs_run;
	int			best_epoch;
	bool		stopped_early;
	bool		sampled;
	int64		ntrain;
	int64		nval;
	int64		nshort;
	int64		nnull;
	int64		ntokens;
	int64		nunknown;
	double		train_loss;
	double		val_loss;		/* NAN without validation */
	float		repeat[3];		/* weight, decay, mode; with "repeat": "auto" */
	const LstmSuccessors *succ; /* with "successors": "auto", else NULL */
	float		succ_params[3]; /* weight, smoothing, successors may be seen */
	const LstmNeighbours *knn;	/* with "neighbours": "auto", else NULL */
	float		knn_weight;
	const char *history;		/* JSON array elements, one per epoch */
	const char *extra;			/* more metrics (", \"key\": value ..."), or NULL */
} LstmFitReport;

/*
 * The model container lstm_model.c parses: hyperparameters, info, metrics,
 * shape, vocabulary (entry i is index i + 1), weights, repeat triple.
 */
extern bytea *lstm_write_model(const LstmOptions *o, int token_type, const LstmVocab *vocab,
							   const LstmNet *net, const LstmFitReport *r, int64 rows_seen,
							   int64 rows_skipped);

#endif							/* ECML_LSTM_FIT_H */
