/*
 * iforest.h
 *	  Anomaly scoring without labels: an isolation forest (Liu, Ting & Zhou
 *	  2008) trained by an aggregate that keeps one reservoir sample per tree
 *	  (iforest_train.c) and scored by a plain function (iforest_score.c)
 *	  that reads it through iforest_model.c (c(n), the parser).
 */
#ifndef ECML_IFOREST_H
#define ECML_IFOREST_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "model.h"
#include "options.h"
#include "utils/jsonb.h"

/* section tags of an isolation forest model */
#define IFOREST_TAG_PARAMS	ECML_TAG('I', 'F', 'P', 'R')	/* int32[4]: features,
																 * trees, sample size,
																 * height limit */
#define IFOREST_TAG_TREES	ECML_TAG('I', 'F', 'T', 'R')	/* int32[trees + 1]: first
																 * node of each tree, then
																 * the node count */
#define IFOREST_TAG_FEATURE ECML_TAG('I', 'F', 'F', 'E')	/* int32[nodes]: split
																 * feature, -1 at a leaf */
#define IFOREST_TAG_VALUE	ECML_TAG('I', 'F', 'V', 'A')	/* float32[nodes]: split
																 * value; at a leaf the
																 * path length e + c(size) */
#define IFOREST_TAG_LEFT	ECML_TAG('I', 'F', 'L', 'E')	/* int32[nodes]: left
																 * child (right = left + 1),
																 * -1 at a leaf */

#define IFOREST_MAX_FEATURES		100000
#define IFOREST_N_TREES_DEFAULT		100
#define IFOREST_N_TREES_MIN			1
#define IFOREST_N_TREES_MAX			10000
#define IFOREST_SAMPLE_SIZE_DEFAULT 256
#define IFOREST_SAMPLE_SIZE_MIN		2
#define IFOREST_SAMPLE_SIZE_MAX		1000000
#define IFOREST_SEED_DEFAULT		0
#define IFOREST_SEED_MAX			1e15
#define IFOREST_MAX_FEATURES_DEFAULT 1.0

typedef struct IForestOptions
{
	int			n_trees;
	int			sample_size;
	int64		seed;
	double		max_features;	/* fraction of the features each tree may split on */
} IForestOptions;

/*
 * One node as scoring walks it: 12 bytes, children adjacent.  A leaf points
 * to itself (left = its index, value = +infinity, so every finite x goes
 * "left"): all trees then take exactly height_limit steps without a branch,
 * and the steps of different trees interleave.
 */
typedef struct IForestNode
{
	int32		feature;
	float		value;			/* go to left when x[feature] < value, else left + 1 */
	int32		left;
} IForestNode;

/* What scoring needs. */
typedef struct IForestModel
{
	int			nfeatures;
	int			ntrees;
	int			sample_size;	/* psi, as used for training */
	int			height_limit;
	double		cpsi;			/* c(psi): the normalizer */
	int32	   *roots;			/* [ntrees]: first node of each tree */
	IForestNode *nodes;
	float	   *path;			/* [nodes]: at a leaf, depth + c(size) */
	int32	   *at;				/* [ntrees]: scratch, the node each walk is at */
} IForestModel;

/*
 * Training after sampling (iforest_train.c): what iforest_grow needs of
 * the per-tree samples, wherever they were drawn.
 */
typedef struct IForestSample
{
	const char *trainer;		/* for messages */
	const float *rows;			/* the sampled rows, nfeatures each */
	int			nfeatures;
	int64		nrows;			/* rows sampled from */
	int64		nskipped;		/* rows with a NULL feature vector */
	Size		held;			/* bytes the samples take, for the memory limit */
	/* tree t's psi rows, as indexes into rows */
	void		(*tree_rows) (void *arg, int t, int psi, int32 *idx);
	void	   *arg;
	/* optional: more members of the model's metrics object */
	void		(*metrics) (StringInfo buf, void *arg);
	void	   *metrics_arg;
} IForestSample;

extern void iforest_parse_options(Jsonb *opts, IForestOptions *o, const char *trainer);
extern bytea *iforest_grow(const IForestSample *s, const IForestOptions *o);

/* c(n) = 2 H(n-1) - 2 (n-1) / n: the mean path length of an unsuccessful BST search */
extern double iforest_c(double n);

extern void *iforest_parse(const EcmlModel *model, MemoryContext mcxt);

#endif							/* ECML_IFOREST_H */
