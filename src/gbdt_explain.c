/*
 * gbdt_explain.c
 *	  ecml.fraud_explain(model, features [, k]): per-feature contributions
 *	  to the log-odds by exact TreeSHAP (Lundberg, Erion & Lee 2018,
 *	  "Consistent Individualized Feature Attribution for Tree Ensembles",
 *	  Algorithm 2), so that base_value + sum(contributions) = margin.
 *
 * The expectation a tree is measured against weights each child by its
 * share of the training rows of the pair, the same shares
 * the algorithm's "zero fractions" use, which is what makes the sum exact.
 */
#include "postgres.h"

#include <math.h>

#include "ecml.h"
#include "gbdt.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

/* One element of the path of unique features from the root (the paper's m). */
typedef struct PathElem
{
	int			d;				/* feature, -1 for the root element */
	double		z;				/* fraction of "zero" paths (feature unknown) */
	double		o;				/* fraction of "one" paths (feature known) */
	double		w;				/* permutation weight */
} PathElem;

typedef struct ShapContext
{
	const GbdtModel *m;
	const float *x;
	double	   *phi;
	PathElem   *paths;			/* one path per recursion depth */
	int			stride;
} ShapContext;

/* EXTEND: add a feature with zero/one fractions pz, po to the path of length l. */
static void
path_extend(PathElem *m, int l, double pz, double po, int pi)
{
	m[l].d = pi;
	m[l].z = pz;
	m[l].o = po;
	m[l].w = l == 0 ? 1.0 : 0.0;
	for (int i = l - 1; i >= 0; i--)
	{
		m[i + 1].w += po * m[i].w * (i + 1) / (double) (l + 1);
		m[i].w = pz * m[i].w * (l - i) / (double) (l + 1);
	}
}

/* UNWIND: remove element i from the path of length len (undoes EXTEND). */
static void
path_unwind(PathElem *m, int len, int i)
{
	int			l = len - 1;
	double		n = m[l].w;
	double		o = m[i].o;
	double		z = m[i].z;

	for (int j = l - 1; j >= 0; j--)
	{
		if (o != 0)
		{
			double		t = m[j].w;

			m[j].w = n * (l + 1) / ((j + 1) * o);
			n = t - m[j].w * z * (l - j) / (double) (l + 1);
		}
		else
			m[j].w = m[j].w * (l + 1) / (z * (l - j));
	}
	for (int j = i; j < l; j++)
	{
		m[j].d = m[j + 1].d;
		m[j].z = m[j + 1].z;
		m[j].o = m[j + 1].o;
	}
}

/* sum(UNWIND(m, i).w) without changing the path */
static double
path_unwound_sum(const PathElem *m, int len, int i)
{
	int			l = len - 1;
	double		o = m[i].o;
	double		z = m[i].z;
	double		n = m[l].w;
	double		total = 0.0;

	for (int j = l - 1; j >= 0; j--)
	{
		if (o != 0)
		{
			double		w = n * (l + 1) / ((j + 1) * o);

			total += w;
			n = m[j].w - w * z * (l - j) / (double) (l + 1);
		}
		else
			total += m[j].w * (l + 1) / (z * (l - j));
	}
	return total;
}

/* RECURSE of Algorithm 2, at node k with the parent's path of length len. */
static void
shap_recurse(ShapContext *cx, int k, const PathElem *parent, int len, double pz,
			 double po, int pi, int depth)
{
	const GbdtModel *m = cx->m;
	const GbdtNode *nd = &m->nodes[k];
	PathElem   *path = cx->paths + (Size) depth * cx->stride;
	int			hot,
				cold;
	double		sl,
				sr,
				sh,
				sc;
	double		iz = 1.0,
				io = 1.0;
	float		v;

	if (len > 0)
		memcpy(path, parent, sizeof(PathElem) * len);
	path_extend(path, len, pz, po, pi);
	len++;

	if (nd->feature < 0)
	{
		for (int i = 1; i < len; i++)
		{
			double		w = path_unwound_sum(path, len, i);

			cx->phi[path[i].d] += w * (path[i].o - path[i].z) * nd->value;
		}
		return;
	}

	v = cx->x[nd->feature];
	if (isnan(v) ? m->default_left[k] : v <= nd->threshold)
	{
		hot = nd->left;
		cold = nd->left + 1;
	}
	else
	{
		hot = nd->left + 1;
		cold = nd->left;
	}
	gbdt_child_shares(m, k, &sl, &sr);
	sh = hot == nd->left ? sl : sr;
	sc = hot == nd->left ? sr : sl;

	/* a feature met before on this path: undo its earlier extension */
	for (int i = 1; i < len; i++)
	{
		if (path[i].d == nd->feature)
		{
			iz = path[i].z;
			io = path[i].o;
			path_unwind(path, len, i);
			len--;
			break;
		}
	}
	shap_recurse(cx, hot, path, len, iz * sh, io, nd->feature, depth + 1);
	/* a cold child no training cover reaches adds nothing */
	if (iz * sc > 0)
		shap_recurse(cx, cold, path, len, iz * sc, 0.0, nd->feature, depth + 1);
}

typedef struct Contribution
{
	int			feature;
	double		phi;
} Contribution;

static int
cmp_abs_desc(const void *a, const void *b)
{
	const Contribution *x = a;
	const Contribution *y = b;

	if (fabs(x->phi) != fabs(y->phi))
		return fabs(x->phi) > fabs(y->phi) ? -1 : 1;
	return (x->feature > y->feature) - (x->feature < y->feature);
}

/*
 * ecml.fraud_explain(model, features [, k]) → {"base_value", "margin",
 * "contributions": {feature: log-odds contribution}}; k keeps the k
 * largest contributions by absolute value.
 */
PG_FUNCTION_INFO_V1(fraud_explain);
Datum
fraud_explain(PG_FUNCTION_ARGS)
{
	GbdtModel  *m = ecml_model_cached(fcinfo, 0, ECML_KIND_GBDT, gbdt_parse);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	int			k = m->nfeatures;
	float	   *buf = palloc(sizeof(float) * m->nfeatures);
	const float *x;
	ShapContext cx;
	Contribution *c;
	StringInfoData out;

	if (PG_NARGS() > 2)
	{
		k = PG_GETARG_INT32(2);
		if (k <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("k must be positive, got %d", k)));
		k = Min(k, m->nfeatures);
	}
	x = gbdt_features(arr, m->nfeatures, buf);

	cx.m = m;
	cx.x = x;
	cx.phi = palloc0(sizeof(double) * m->nfeatures);
	cx.stride = m->max_depth + 2;
	cx.paths = palloc(sizeof(PathElem) * (Size) cx.stride * cx.stride);
	/*
	 * gbdt_parse proved every tree a proper tree of at most
	 * GBDT_MAX_DEPTH_MAX levels, so one tree costs at most its leaves times
	 * the depth squared: check for interrupts per tree.
	 */
	for (int t = 0; t < m->ntrees; t++)
	{
		CHECK_FOR_INTERRUPTS();
		shap_recurse(&cx, m->tree_start[t], NULL, 0, 1.0, 1.0, -1, 0);
	}

	c = palloc(sizeof(Contribution) * m->nfeatures);
	for (int j = 0; j < m->nfeatures; j++)
	{
		c[j].feature = j;
		c[j].phi = cx.phi[j];
	}
	if (k < m->nfeatures)
		qsort(c, m->nfeatures, sizeof(Contribution), cmp_abs_desc);

	initStringInfo(&out);
	appendStringInfo(&out, "{\"base_value\": %.17g, \"margin\": %.17g, \"contributions\": {",
					 m->expected_margin, gbdt_margin(m, x));
	for (int i = 0; i < k; i++)
	{
		if (i > 0)
			appendStringInfoString(&out, ", ");
		escape_json(&out, m->feature_names[c[i].feature]);
		appendStringInfo(&out, ": %.17g", c[i].phi);
	}
	appendStringInfoString(&out, "}}");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}
