/*
 * logreg_train.c
 *	  ecml.logreg_train(features real[], label boolean [, options jsonb]):
 *	  the aggregate that buffers rows, and its pass over them for the
 *	  optimizer in logreg_fit.c.
 *
 * Rows live in float32 chunks, each row its features followed by its label,
 * so a chunk is a strided matrix BLIS can read in place.  Sums over rows are
 * taken per chunk in float32 (BLIS) and across chunks in float64.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "arrays.h"
#include "blas.h"
#include "ecml.h"
#include "labelrows.h"
#include "logreg.h"
#include "logreg_fit.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define TRAINER "ecml.logreg_train"

#define BLOCK_BYTES (256 * 1024)	/* a pass block: fits in L2 */

/*
 * Flops of one Hessian block product between interrupt checks: about a
 * tenth of a second.  At tens of thousands of features a single syrk over
 * a pass block would otherwise run for seconds without one.
 */
#define HESS_PANEL_FLOPS ((Size) 1 << 27)

static void
check_options(Jsonb *options, const char *trainer)
{
	LogregOptions o;

	logreg_parse_options(options, &o, trainer);
}

static const LabelRowsAgg logreg_agg = {
	TRAINER, "logreg_train", LOGREG_MAX_FEATURES, PG_INT64_MAX, check_options,
	"logreg_train_transfn", "logreg_train_combinefn", "logreg_train_deserialfn"
};

/* transition: buffer one row; NULL rows are counted and skipped */
PG_FUNCTION_INFO_V1(logreg_train_transfn);
Datum
logreg_train_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LabelRows  *st;
	float	   *x;
	float	   *slot;
	int			n;

	if (labelrows_transfn_begin(fcinfo, &logreg_agg, &st, &aggcxt))
	{
		x = ecml_array_float4(PG_GETARG_ARRAYTYPE_P(1), "feature vector", -1, &n, false);
		slot = labelrows_append(st, n, PG_GETARG_BOOL(2), aggcxt, TRAINER);
		memcpy(slot, x, sizeof(float) * n);
	}
	PG_RETURN_POINTER(st);
}

/* combine: move state2's chunks into state1 (both live in the aggregate context) */
PG_FUNCTION_INFO_V1(logreg_train_combinefn);
Datum
logreg_train_combinefn(PG_FUNCTION_ARGS)
{
	return labelrows_combinefn(fcinfo, &logreg_agg);
}

PG_FUNCTION_INFO_V1(logreg_train_serialfn);
Datum
logreg_train_serialfn(PG_FUNCTION_ARGS)
{
	return labelrows_serialfn(fcinfo, &logreg_agg);
}

PG_FUNCTION_INFO_V1(logreg_train_deserialfn);
Datum
logreg_train_deserialfn(PG_FUNCTION_ARGS)
{
	return labelrows_deserialfn(fcinfo, &logreg_agg);
}

/* ---------------- the pass over the buffered rows ---------------- */

/* Scratch of the buffered pass, sized for one block of rows. */
typedef struct LogregBuffered
{
	LabelRows  *st;
	int			stride;			/* floats per buffered row */
	int			block_rows;		/* rows per pass block */
	float	   *wf;
	float	   *z;
	float	   *g;
	float	   *d;
	float	   *gtmp;
	float	   *xs;				/* (block_rows,f), when the fit wants Hessians */
	float	   *hblock;			/* (f,f) */
} LogregBuffered;

/*
 * hblock (f,f) lower triangle = xs^T xs for xs (r,f).  One syrk when it is
 * short; else panels of hblock's rows, each one sgemm, with an interrupt
 * check between them (rows j0..j1 of the triangle = xs[:, j0:j1]^T xs[:, :j1]).
 */
static void
logreg_hessian_block(const float *xs, int r, int f, float *hblock)
{
	Size		panel = Max((Size) 64, HESS_PANEL_FLOPS / Max((Size) f * r, 1));

	if (panel >= (Size) f)
	{
		ecml_ssyrk_t(f, r, 1.0f, xs, f, 0.0f, hblock, f);
		return;
	}
	for (int j0 = 0; j0 < f; j0 += (int) panel)
	{
		int			j1 = (int) Min((Size) f, j0 + panel);

		CHECK_FOR_INTERRUPTS();
		ecml_sgemm(true, false, j1 - j0, j1, r, 1.0f, xs + j0, f, xs, f,
				   0.0f, hblock + (Size) j0 * f, f);
	}
}

/* H_ww += (D^1/2 X)^T (D^1/2 X); H_bw += X^T d, for one block of r rows */
static void
logreg_buffered_hessian(LogregProblem *pb, LogregBuffered *bp, const float *X, int r,
						double *hess)
{
	int			f = pb->f;
	int			p = pb->p;

	for (int i = 0; i < r; i++)
	{
		float		sq = sqrtf(bp->d[i]);
		const float *xi = X + (Size) i * bp->stride;
		float	   *out = bp->xs + (Size) i * f;

		for (int j = 0; j < f; j++)
			out[j] = sq * xi[j];
	}
	logreg_hessian_block(bp->xs, r, f, bp->hblock);
	for (int j = 0; j < f; j++)
	{
		double	   *hrow = hess + (Size) j * p;
		const float *brow = bp->hblock + (Size) j * f;

		if ((j & 255) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int k = 0; k <= j; k++)
			hrow[k] += brow[k];
	}
	if (pb->fit_intercept)
	{
		ecml_sgemv_t(r, f, 1.0f, X, bp->stride, bp->d, 0.0f, bp->gtmp);
		for (int j = 0; j < f; j++)
			hess[(Size) f * p + j] += bp->gtmp[j];
	}
}

/* The pass callback (logreg_fit.h) over the buffered, standardized rows. */
static void
logreg_buffered_pass(LogregProblem *pb, const double *theta, double *grad,
					 double *hess, LogregSums *sums)
{
	LogregBuffered *bp = (LogregBuffered *) pb->pass_arg;
	int			f = pb->f;
	double		b = pb->fit_intercept ? theta[f] : 0.0;

	for (int j = 0; j < f; j++)
		bp->wf[j] = (float) theta[j];

	ecml_blas_prepare();
	/*
	 * Blocks of at most block_rows rows, so that X, z, g and d stay in cache
	 * between the sgemv, the loop and the transposed sgemv.  A chunk can be
	 * large: a parallel worker's whole share arrives as one.
	 */
	for (int c = 0; c < bp->st->rows.nchunks; c++)
	{
		RowbufChunk *ch = &bp->st->rows.chunks[c];

		for (int start = 0; start < ch->nrows; start += bp->block_rows)
		{
			int			r = Min(bp->block_rows, ch->nrows - start);
			const float *X = (const float *) ch->data + (Size) start * bp->stride;

			CHECK_FOR_INTERRUPTS();

			/* z (r) = X (r,f) . w (f) */
			ecml_sgemv(r, f, 1.0f, X, bp->stride, bp->wf, 0.0f, bp->z);
			for (int i = 0; i < r; i++)
			{
				bool		y = X[(Size) i * bp->stride + f] > 0.5f;
				double		prob;

				bp->g[i] = (float) logreg_row_terms((double) bp->z[i] + b, y,
													y ? pb->w_pos : pb->w_neg,
													sums, &prob);
				sums->gsum += bp->g[i];
				if (hess)
					bp->d[i] = (float) logreg_row_curvature(prob, y ? pb->w_pos : pb->w_neg,
															sums);
			}

			/* grad_w += X^T (f,r) . g (r) */
			ecml_sgemv_t(r, f, 1.0f, X, bp->stride, bp->g, 0.0f, bp->gtmp);
			for (int j = 0; j < f; j++)
				grad[j] += bp->gtmp[j];
			if (hess)
				logreg_buffered_hessian(pb, bp, X, r, hess);
		}
	}
}

/* Means and scales of the features; standardizes the buffer in place. */
static void
logreg_standardize(LabelRows *st, bool standardize, double *mean, double *scale)
{
	int			f = st->nfeatures;
	int			stride = f + 1;
	double	   *ss = palloc0(sizeof(double) * f);

	memset(mean, 0, sizeof(double) * f);
	for (int j = 0; j < f; j++)
		scale[j] = 1.0;
	if (!standardize)
		return;

	/* two passes: the mean, then squared deviations (stable for large offsets) */
	for (int c = 0; c < st->rows.nchunks; c++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < st->rows.chunks[c].nrows; i++)
		{
			const float *x = (const float *) st->rows.chunks[c].data + (Size) i * stride;

			for (int j = 0; j < f; j++)
				mean[j] += x[j];
		}
	}
	for (int j = 0; j < f; j++)
		mean[j] /= (double) st->rows.nrows;
	for (int c = 0; c < st->rows.nchunks; c++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < st->rows.chunks[c].nrows; i++)
		{
			const float *x = (const float *) st->rows.chunks[c].data + (Size) i * stride;

			for (int j = 0; j < f; j++)
			{
				double		dev = x[j] - mean[j];

				ss[j] += dev * dev;
			}
		}
	}
	for (int j = 0; j < f; j++)
	{
		double		sd = sqrt(ss[j] / (double) st->rows.nrows);

		/* a constant feature keeps scale 1: centred, it is all zeros */
		scale[j] = sd > 0 ? sd : 1.0;
	}
	for (int c = 0; c < st->rows.nchunks; c++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < st->rows.chunks[c].nrows; i++)
		{
			float	   *x = (float *) st->rows.chunks[c].data + (Size) i * stride;

			for (int j = 0; j < f; j++)
				x[j] = (float) ((x[j] - mean[j]) / scale[j]);
		}
	}
}
/* final: fit the buffered rows and return the model */
PG_FUNCTION_INFO_V1(logreg_train_finalfn);
Datum
logreg_train_finalfn(PG_FUNCTION_ARGS)
{
	LabelRows  *st = PG_ARGISNULL(0) ? NULL : (LabelRows *) PG_GETARG_POINTER(0);
	LogregOptions o;
	LogregProblem pb;
	LogregBuffered bp;
	double	   *mean;
	double	   *scale;
	int			maxrows = 0;
	int			f;
	bool		want_hess;
	EcmlTrainMemory mem;

	memset(&pb, 0, sizeof(pb));
	pb.trainer = TRAINER;
	pb.nrows = st ? st->rows.nrows : 0;
	pb.npos = st ? st->npos : 0;
	logreg_parse_options(st ? st->options : NULL, &o, TRAINER);
	f = st ? st->nfeatures : 0;
	logreg_problem_init(&pb, &o, f, st ? st->nskipped : 0);

	memset(&bp, 0, sizeof(bp));
	bp.st = st;
	bp.stride = f + 1;
	for (int c = 0; c < st->rows.nchunks; c++)
		maxrows = Max(maxrows, st->rows.chunks[c].nrows);
	bp.block_rows = Min(maxrows, Max(16, (int) (BLOCK_BYTES / (sizeof(float) * bp.stride))));

	/* the rows and the pass's scratch are charged before it is allocated */
	ecml_train_memory_init(&mem, TRAINER, st->rows.bytes);
	want_hess = logreg_wants_hessian(&o, f);
	logreg_charge_solver(&mem, &o, f);
	ecml_train_memory_charge(&mem, sizeof(float) * ((Size) 2 * f + (Size) 3 * bp.block_rows) +
							 (want_hess ? sizeof(float) * ((Size) f * f + (Size) bp.block_rows * f) : 0),
							 "pass scratch");

	mean = palloc(sizeof(double) * f);
	scale = palloc(sizeof(double) * f);
	logreg_standardize(st, o.standardize, mean, scale);
	bp.wf = palloc(sizeof(float) * f);
	bp.gtmp = palloc(sizeof(float) * f);
	bp.z = palloc_extended(sizeof(float) * bp.block_rows, MCXT_ALLOC_HUGE);
	bp.g = palloc_extended(sizeof(float) * bp.block_rows, MCXT_ALLOC_HUGE);
	bp.d = palloc_extended(sizeof(float) * bp.block_rows, MCXT_ALLOC_HUGE);
	if (want_hess)
	{
		/* row-scaled copy of a pass block and a float32 (f,f) block for syrk */
		bp.xs = palloc_extended(sizeof(float) * (Size) bp.block_rows * f, MCXT_ALLOC_HUGE);
		bp.hblock = palloc_extended(sizeof(float) * (Size) f * f, MCXT_ALLOC_HUGE);
	}
	pb.pass = logreg_buffered_pass;
	pb.pass_arg = &bp;

	PG_RETURN_BYTEA_P(logreg_fit_model(&pb, &o, mean, scale, st->rows.nrows + st->nskipped,
									   st->nskipped, NULL, NULL));
}
