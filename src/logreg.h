/*
 * logreg.h
 *	  Purchase probability: logistic regression trained by an aggregate
 *	  (logreg_train.c) and scored by plain functions (logreg_predict.c).
 */
#ifndef ECML_LOGREG_H
#define ECML_LOGREG_H

#include "postgres.h"

#include "model.h"
#include "options.h"

/* section tags of a logreg model */
#define LOGREG_TAG_MEAN		ECML_TAG('M', 'E', 'A', 'N')	/* float64[f]: feature means */
#define LOGREG_TAG_SCALE	ECML_TAG('S', 'C', 'A', 'L')	/* float64[f]: feature scales */
#define LOGREG_TAG_COEF		ECML_TAG('C', 'O', 'E', 'F')	/* float64[f+1]: intercept,
																 * standardized weights */
#define LOGREG_TAG_STDERR	ECML_TAG('S', 'E', 'R', 'R')	/* float64[f+1]: standard
																 * errors, original units */
#define LOGREG_TAG_FLAGS	ECML_TAG('F', 'L', 'A', 'G')	/* int32[1]: bit 0 =
																 * fit_intercept */

#define LOGREG_MAX_FEATURES 100000
#define LOGREG_NEWTON_MAX_FEATURES 500	/* "auto" picks Newton up to here */
#define LOGREG_STDERR_MAX_FEATURES 2000 /* above, no covariance is formed */

#define LOGREG_L2_DEFAULT		1e-4
#define LOGREG_L2_MIN			0.0
#define LOGREG_L2_MAX			1e6
#define LOGREG_L1_DEFAULT		0.0
#define LOGREG_MAX_ITER_DEFAULT 100
#define LOGREG_MAX_ITER_MIN		1
#define LOGREG_MAX_ITER_MAX		100000
#define LOGREG_TOL_DEFAULT		1e-6
#define LOGREG_TOL_MIN			0.0
#define LOGREG_TOL_MAX			1.0

typedef enum LogregSolver
{
	LOGREG_SOLVER_AUTO = 0,
	LOGREG_SOLVER_NEWTON = 1,
	LOGREG_SOLVER_LBFGS = 2
} LogregSolver;

typedef struct LogregOptions
{
	double		l2;
	double		l1;
	bool		fit_intercept;
	bool		standardize;
	EcmlRealOrChoice class_weight;	/* choice 0: "balanced"; else the
									 * positive-class weight */
	int			max_iter;
	double		tol;
	int			solver;			/* LogregSolver */
	EcmlTextArray feature_names;
} LogregOptions;

/* What scoring needs, in the features' original units. */
typedef struct LogregModel
{
	int			nfeatures;
	bool		fit_intercept;
	double		intercept;		/* original units */
	double	   *weights;		/* [nfeatures], original units */
	float	   *weights_f32;	/* the same as float, for the scoring dot */
	double	   *stderrs;		/* [nfeatures + 1]: intercept first; NaN if unknown */
	char	  **feature_names;	/* [nfeatures], never NULL */
} LogregModel;

extern void *logreg_parse(const EcmlModel *model, MemoryContext mcxt);

#endif							/* ECML_LOGREG_H */
