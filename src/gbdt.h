/*
 * gbdt.h
 *	  Fraud scoring with gradient-boosted decision trees: the training
 *	  aggregate (gbdt_train.c), binning and tree growth (gbdt_hist.c),
 *	  the model's parser and scoring kernels (gbdt_model.c), scoring and
 *	  importance (gbdt_predict.c) and TreeSHAP explanations (gbdt_explain.c).
 *	  Trainers write the model, gbdt_model.c reads it; the scorers depend on
 *	  gbdt_model.c only.
 */
#ifndef ECML_GBDT_H
#define ECML_GBDT_H

#include "postgres.h"

#include "common/hashfn.h"
#include "ecml.h"
#include "model.h"
#include "options.h"
#include "rowbuf.h"
#include "utils/array.h"
#include "utils/timestamp.h"

/*
 * Section tags of a gbdt model.  Trees are stored flat: tree t owns nodes
 * [TREE[t], TREE[t+1]); node k of the model has four int32 in NODI
 * (feature or -1 for a leaf, left child as a model-wide node index, the
 * right child being left + 1, flags) and four float32 in NODF (threshold:
 * x <= threshold goes left; leaf value; cover = training rows;
 * split gain).
 */
#define GBDT_TAG_TREES		ECML_TAG('T', 'R', 'E', 'E')	/* int32[ntrees + 1] */
#define GBDT_TAG_NODE_INTS	ECML_TAG('N', 'O', 'D', 'I')	/* int32[4 nnodes] */
#define GBDT_TAG_NODE_FLOATS ECML_TAG('N', 'O', 'D', 'F')	/* float32[4 nnodes] */
#define GBDT_TAG_BASE		ECML_TAG('B', 'A', 'S', 'E')	/* float64[2]: base margin,
																 * feature count */

#define GBDT_NODE_DEFAULT_LEFT 1	/* NODI flags: missing values go left */

#define GBDT_MAX_FEATURES 10000
#define GBDT_MAX_NODES_PER_TREE (1 << 17)

#define GBDT_N_TREES_DEFAULT	100
#define GBDT_N_TREES_MAX		100000
#define GBDT_MAX_DEPTH_DEFAULT	6
#define GBDT_MAX_DEPTH_MAX		16	/* also the deepest tree gbdt_parse accepts */
#define GBDT_MAX_LEAVES_MAX		65536
#define GBDT_MAX_BINS_DEFAULT	256
#define GBDT_MAX_BINS_MIN		3
#define GBDT_MAX_BINS_MAX		4096
#define GBDT_LEARNING_RATE_DEFAULT 0.1
#define GBDT_MIN_CHILD_WEIGHT_DEFAULT 1.0
#define GBDT_L2_DEFAULT			1.0
#define GBDT_VALIDATION_MAX		0.5
#define GBDT_EARLY_STOPPING_DEFAULT 10
#define GBDT_QUANTILE_SAMPLE	200000	/* rows sampled to place the bin edges */

typedef enum GbdtClassWeight
{
	GBDT_CLASS_WEIGHT_NONE = 0,
	GBDT_CLASS_WEIGHT_BALANCED = 1
} GbdtClassWeight;

typedef struct GbdtOptions
{
	int			n_trees;
	double		learning_rate;
	int			max_depth;
	int			max_leaves;		/* 0: no limit */
	int			max_bins;		/* bins per feature, the missing bin included */
	double		min_child_weight;
	double		l2;
	double		min_split_gain;
	double		subsample;
	double		colsample;
	double		scale_pos_weight;
	int			class_weight;	/* GbdtClassWeight */
	double		validation_fraction;
	int			early_stopping_rounds;	/* 0: never stop early */
	int64		seed;
	EcmlTextArray feature_names;
} GbdtOptions;

/* A grown tree in the model's flat layout (node indices local to the tree). */
typedef struct GbdtTree
{
	int			nnodes;
	int32	   *ints;			/* [4 nnodes]: feature, left, flags, unused */
	float	   *floats;			/* [4 nnodes]: threshold, value, cover, gain */
} GbdtTree;

/* What boosting produces. */
typedef struct GbdtFit
{
	int			ntrees;
	GbdtTree   *trees;
	double		base_margin;
	int			best_iteration; /* trees kept; -1 without validation */
	int			iterations;		/* trees grown */
	bool		stopped_early;
	double		train_log_loss;
	double		valid_log_loss; /* at the best iteration; NaN without validation */
	StringInfoData valid_history;	/* JSON numbers, comma-separated */
	int64		nvalid;
	int64		ntrain;
	int			max_bins_used;
	double		w_pos;
	double		w_neg;
} GbdtFit;

/*
 * gbdt_hist.c's working structures, shared with the multi-pass trainer
 * (gbdt_passes.c), which grows trees from histograms summed by SQL passes
 * with the same split finding.
 */
typedef struct HistBin
{
	double		g;
	double		h;
} HistBin;

/* The binned training rows. */
typedef struct Binned
{
	int			n;				/* training rows */
	int			f;
	bool		wide;			/* uint16 bins, else uint8 */
	uint8	   *b8;				/* [n][f] */
	uint16	   *b16;			/* [n][f] */
	uint8	   *c8;				/* [f][n]: the same codes by column */
	uint16	   *c16;			/* [f][n] */
	int		   *nbins;			/* value bins per feature; missing = nbins[j] */
	int		   *offset;			/* first histogram slot of each feature */
	int			total_bins;
	float	  **cuts;			/* [j][nbins[j] - 1]: bin b holds x <= cuts[b] */
	bool	   *usable;			/* can be split on */
} Binned;

/* A node while its tree grows. */
typedef struct GrowNode
{
	int			begin;			/* rows rowidx[begin .. end) */
	int			end;
	double		G;
	double		H;
	int			depth;
	int			out;			/* index in the output tree */
	HistBin    *hist;			/* NULL when not kept */
	/* best split found, feature -1 if none */
	int			feature;
	int			bin;
	bool		default_left;
	double		gain;
	double		GL;
	double		HL;
} GrowNode;

/* A tree under construction: GbdtTree plus each split's bin. */
typedef struct TreeBuf
{
	GbdtTree	t;
	int			capacity;
	int		   *split_bin;
} TreeBuf;

typedef struct Booster
{
	const GbdtOptions *o;
	EcmlTrainMemory *mem;		/* the training's memory account */
	Binned		bd;
	int			n;				/* training rows */
	int		   *rowidx;			/* rows of the current tree, grouped by node */
	int		   *scratch;
	float	   *gh;				/* [2n] gradient, Hessian per training row */
	int		   *feats;			/* features of the current tree */
	int			nfeats;
	double	   *F;				/* margins make_leaf moves, or NULL */
	HistBin   **pool;			/* free histogram buffers */
	int			npool;
	int			maxpool;
	int			nhist;			/* histogram buffers allocated */
	int			max_hist;		/* beyond this, children do not keep theirs */
} Booster;

/* gbdt_hist.c's binning and tree-growing steps, shared with gbdt_passes.c. */
extern int	bin_of(const float *cuts, int ncuts, float x);
extern float cut_between(float a, float b);
extern int	place_cuts(const float *v, int m, int max_value_bins, float *cuts);
extern void find_split(Booster *bs, GrowNode *nd);
extern int	tree_add_node(TreeBuf *tb);
extern int	gbdt_cmp_gain_desc(const void *a, const void *b);
extern void make_leaf(Booster *bs, TreeBuf *tb, GrowNode *nd);

/*
 * gbdt_hist.c: bin the rows and boost (rows are nrows x (f + 1) float32),
 * charging every working buffer and the trees to mem.
 */
extern void gbdt_boost(const RowbufChunk *chunks, int nchunks, int64 nrows, int f,
					   const GbdtOptions *o, GbdtFit *fit, EcmlTrainMemory *mem);

/* One node of the scoring form: 16 bytes, so a path stays in few lines. */
typedef struct GbdtNode
{
	float		threshold;		/* x <= threshold goes left */
	float		value;			/* leaf value (internal nodes: unused) */
	int32		left;			/* model-wide index; right child is left + 1 */
	int32		feature;		/* -1 for a leaf */
} GbdtNode;

/*
 * The walking form of a node for scoring: a leaf loops onto itself (all
 * values go "left" to itself), so a tree is walked a fixed number of steps
 * without a branch per level and several trees advance side by side.
 */
typedef struct GbdtWalkNode
{
	float		threshold;		/* leaves: +infinity */
	int32		feature;		/* leaves: 0 */
	int32		left;			/* leaves: the leaf itself */
	int32		missing_right;	/* 1 when NaN goes right */
} GbdtWalkNode;

#define GBDT_WALK_LANES 8		/* trees walked side by side */

/* The scoring form of a model, built once per model by gbdt_parse. */
typedef struct GbdtModel
{
	int			nfeatures;
	int			ntrees;
	int			nnodes;
	int			max_depth;		/* deepest leaf over all trees */
	double		base_margin;
	double		expected_margin;	/* base + each tree's cover-weighted mean */
	int32	   *tree_start;		/* [ntrees + 1] */
	GbdtNode   *nodes;			/* [nnodes] */
	GbdtWalkNode *walk;			/* [nnodes + 1]: the last is a zero leaf */
	float	   *leaf_value;		/* [nnodes + 1] */
	int		   *group_depth;	/* [ceil(ntrees / lanes)]: steps per group */
	bool	   *default_left;	/* [nnodes] */
	float	   *cover;			/* [nnodes]: training rows through the node */
	double	   *importance_gain;	/* [nfeatures] */
	int		   *importance_splits;	/* [nfeatures] */
	char	  **feature_names;	/* [nfeatures], never NULL */
} GbdtModel;

/*
 * gbdt_train.c: the options (trainer names the caller in messages), a
 * feature vector's length and its copy with NULL elements as NaN, and the
 * model writer both trainers use (extra_metrics may be NULL).
 */
extern void gbdt_parse_options(Jsonb *opts, GbdtOptions *o, const char *trainer);
extern int	gbdt_array_length(ArrayType *arr);
extern void gbdt_copy_features(ArrayType *arr, int n, float *out);
extern bytea *gbdt_write_model(const GbdtFit *fit, const GbdtOptions *o, int f, int64 npos,
							   int64 nrows, int64 nskipped, TimestampTz start,
							   EcmlTrainMemory *mem,
							   void (*extra_metrics) (StringInfo buf, void *arg),
							   void *extra_arg);

extern void *gbdt_parse(const EcmlModel *model, MemoryContext mcxt);

/*
 * The features of a scoring call: NULL elements and NaN become NaN
 * (missing); infinities are an error.  Returns a pointer into the array or
 * into buf (nfeatures floats) when NULLs had to be replaced.
 */
extern const float *gbdt_features(ArrayType *arr, int nfeatures, float *buf);

/* A feature vector's length after checking its type and shape. */
extern int	gbdt_array_length(ArrayType *arr);

/* Copy n elements, NULL as NaN (missing); infinities are an error. */
extern void gbdt_copy_features(ArrayType *arr, int n, float *out);

/* The shares of a split's two children in its cover. */
extern void gbdt_child_shares(const GbdtModel *m, int k, double *left, double *right);

/* A tree's cover-weighted mean leaf value (TreeSHAP's expectation). */
extern double gbdt_tree_expectation(const GbdtModel *m, int t);

/* Raw margin (log-odds) of one row. */
extern double gbdt_margin(const GbdtModel *m, const float *x);

/*
 * Row subsampling (the "subsample" option), shared by ecml.fraud_train and
 * ecml.train('gbdt') so that both draw the same rows: a row is in tree t's
 * sample by a hash of its content (its f features and its label as 1 or 0,
 * as floats) and the seed, not by a generator's sequence, so the draw is
 * the same in any order and in any partition of the rows.
 */
static inline uint64
gbdt_mix64(uint64 z)
{
	/* the splitmix64 finalizer */
	z += UINT64CONST(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64CONST(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* row (f features, then the label): f + 1 floats */
static inline uint64
gbdt_row_hash(const float *row, int f, int64 seed)
{
	return hash_bytes_extended((const unsigned char *) row, sizeof(float) * (f + 1),
							   (uint64) seed);
}

static inline bool
gbdt_row_in_tree(uint64 rowhash, int64 seed, int t, double subsample)
{
	uint64		z = gbdt_mix64(rowhash ^ gbdt_mix64((uint64) seed ^ ((uint64) (t + 1) << 32)));

	return subsample >= 1.0 || (double) (z >> 11) * (1.0 / 9007199254740992.0) < subsample;
}

#endif							/* ECML_GBDT_H */
