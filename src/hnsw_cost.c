/*
 * hnsw_cost.c
 *	  What the planner is told about vector search: the cost of one call of
 *	  a distance operator (a planner support function of the distance
 *	  functions), and the cost of an ecml_hnsw index scan (amcostestimate).
 *
 * Both sides must use the same unit for a distance, or the planner compares
 * a sort over every row with an index scan on different scales.  Before
 * this, a distance cost one cpu_operator_cost whatever the dimension, a
 * 784-d vector stored out of line (TOAST) was read for free, and the index
 * was charged a random page read per element it visits: on 9,000 x 784 the
 * planner chose Seq Scan + Sort (50 ms a query) over the index (0.7 ms)
 * from ecml.hnsw_ef_search 20 on.  Now:
 *
 *	 a distance		cpu_operator_cost * (1 + dim / 16): the arithmetic
 *	 reading a		per TOAST chunk a tuple and an index tuple, two
 *	 toasted value	operator calls, plus its bytes at seq_page_cost
 *	 an index scan	E elements, each an index tuple, a tuple's worth of work
 *					(pin and lock its page, copy its neighbours), four
 *					operators (visited set, candidate heaps) and a
 *					distance, E from
 *					m, ef_search, the LIMIT and the filter's selectivity;
 *					its pages at random_page_cost only for the share of the
 *					index that does not fit in effective_cache_size (every
 *					search walks the same upper levels and hub elements,
 *					and an HNSW index is only fast when it is cached: a
 *					random read for every element priced a 1 ms search like
 *					a thousand disk reads)
 *
 * The dimension of a distance call comes from a constant argument, or from
 * the ecml_hnsw index on the column argument (its meta page), or else is
 * unknown (then a call costs what it did before: one operator).
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/heaptoast.h"
#include "access/genam.h"
#include "catalog/pg_type.h"
#include "hnsw.h"
#include "nodes/supportnodes.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"

/* dimensions one cpu_operator_cost of distance arithmetic covers */
#define HNSW_DIMS_PER_OPERATOR	16.0

/* bytes of a real[] of dim elements without NULLs, as stored in a row */
static double
vector_bytes(int dim)
{
	return (double) ARR_OVERHEAD_NONULLS(1) + sizeof(float) * (double) dim;
}

/* The arithmetic of one distance of dim dimensions. */
double
hnsw_distance_cost(int dim)
{
	return cpu_operator_cost * (1.0 + Max(dim, 0) / HNSW_DIMS_PER_OPERATOR);
}

/*
 * Reading a real[] of dim elements from a heap row: free when it is stored
 * inline, else (over TOAST_TUPLE_THRESHOLD, random floats do not compress)
 * one TOAST index probe and chunk tuple per chunk and the chunks' bytes.
 */
double
hnsw_detoast_cost(int dim)
{
	double		bytes = vector_bytes(dim);
	double		chunks;

	if (bytes <= TOAST_TUPLE_THRESHOLD)
		return 0.0;
	chunks = ceil(bytes / TOAST_MAX_CHUNK_SIZE);
	return chunks * (cpu_tuple_cost + cpu_index_tuple_cost + 2 * cpu_operator_cost) +
		seq_page_cost * bytes / BLCKSZ;
}

/* the dimension of a constant real[] argument, or 0 */
static int
const_dim(Node *arg)
{
	Const	   *c;
	ArrayType  *arr;

	if (!IsA(arg, Const))
		return 0;
	c = (Const *) arg;
	if (c->constisnull || c->consttype != FLOAT4ARRAYOID)
		return 0;
	arr = DatumGetArrayTypeP(c->constvalue);
	if (ARR_NDIM(arr) != 1)
		return 0;
	return ARR_DIMS(arr)[0];
}

/* is this index an ecml_hnsw index? */
static bool
is_hnsw_index(IndexOptInfo *ind)
{
	return ind->amcostestimate == hnsw_costestimate;
}

/*
 * The dimension of a column argument (a Var of a base relation of this
 * query level), from the meta page of an ecml_hnsw index on it; 0 when
 * there is none or it is empty.
 */
static int
column_dim(PlannerInfo *root, Node *arg)
{
	Var		   *var;
	RelOptInfo *rel;
	ListCell   *lc;

	if (root == NULL || !IsA(arg, Var))
		return 0;
	var = (Var *) arg;
	if (var->varlevelsup != 0 || var->varno <= 0 ||
		var->varno >= root->simple_rel_array_size)
		return 0;
	rel = root->simple_rel_array[var->varno];
	if (rel == NULL || rel->reloptkind != RELOPT_BASEREL)
		return 0;
	foreach(lc, rel->indexlist)
	{
		IndexOptInfo *ind = (IndexOptInfo *) lfirst(lc);

		if (is_hnsw_index(ind) && ind->ncolumns == 1 &&
			ind->indexkeys[0] == var->varattno)
			return hnsw_index_dim(ind->indexoid);
	}
	return 0;
}

/* The dimension of an index from its meta page (0: empty, nothing indexed). */
int
hnsw_index_dim(Oid indexoid)
{
	Relation	index = index_open(indexoid, NoLock);	/* the planner locked it */
	HnswMetaPageData meta;

	hnsw_read_meta(index, &meta);
	index_close(index, NoLock);
	return meta.dim;
}

/*
 * ecml.vector_distance_support(internal) → internal: the planner support
 * function of the distance functions behind <->, <#> and <=> (and
 * inner_product): answers SupportRequestCost with the cost of one call for
 * the dimension of its arguments, including reading a column argument
 * stored out of line.
 */
PG_FUNCTION_INFO_V1(ecml_vector_distance_support);
Datum
ecml_vector_distance_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestCost *req;
	List	   *args;
	int			dim = 0;
	int			ncolumns = 0;
	ListCell   *lc;

	if (!IsA(rawreq, SupportRequestCost))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestCost *) rawreq;
	if (req->node == NULL)
		PG_RETURN_POINTER(NULL);
	if (IsA(req->node, FuncExpr))
		args = ((FuncExpr *) req->node)->args;
	else if (IsA(req->node, OpExpr))
		args = ((OpExpr *) req->node)->args;
	else
		PG_RETURN_POINTER(NULL);

	foreach(lc, args)
	{
		Node	   *arg = (Node *) lfirst(lc);

		if (dim == 0)
			dim = const_dim(arg);
		if (IsA(arg, Var))
			ncolumns++;
	}
	foreach(lc, args)
	{
		if (dim == 0)
			dim = column_dim(req->root, (Node *) lfirst(lc));
	}
	if (dim <= 0)
		PG_RETURN_POINTER(NULL);

	req->startup = 0;
	req->per_tuple = hnsw_distance_cost(dim) + ncolumns * hnsw_detoast_cost(dim);
	PG_RETURN_POINTER(req);
}

/*
 * Elements an index scan computes the distance of: about m new neighbours
 * for each of the ef candidates it expands (measured on 9,000 x 784 at
 * m = 16: 440 at ef 40 for N = 3,000, 750 for 9,000, 1,130 at ef 160), plus
 * the greedy descent through the upper levels.  ef is at least the first
 * search's (hnsw_first_ef: ef_search, for half and int8 at least 40), and
 * grows (up to the scan's limit of HNSW_EF_GROWTH_MAX times that, and
 * ecml.hnsw_max_scan_tuples elements) when the LIMIT, divided by the share
 * of rows the filter keeps, asks for more rows than the first batch (a
 * quarter of ef, at least HNSW_FIRST_BATCH_MIN) gives.
 */
static double
expected_elements(double ntuples, int m, int first_ef, double limit, double selectivity)
{
	double		levels = Max(log(ntuples) / log((double) m), 1.0);
	double		ef = first_ef;
	double		batch = Max(ef / 4, Min(ef, (double) HNSW_FIRST_BATCH_MIN));
	double		e;

	if (limit > 0 && selectivity > 0 && limit / Min(selectivity, 1.0) > batch)
	{
		double		want = 4.0 * limit / Min(selectivity, 1.0);

		ef = Max(ef, Min(want, (double) first_ef * HNSW_EF_GROWTH_MAX));
	}
	e = m * (ef + levels);
	if (limit > 0 && selectivity > 0 && limit / selectivity > Max(ef / 4, batch))
		e = Max(e, Min(limit / selectivity * m, (double) hnsw_max_scan_tuples));
	return Min(e, ntuples);
}

/*
 * The planner's view of an ecml_hnsw index scan: the search runs before
 * the first row comes (startup = total); scans that have no ORDER BY
 * distance (the only thing this index answers) are never chosen.
 */
void
hnsw_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				  Cost *indexStartupCost, Cost *indexTotalCost,
				  Selectivity *indexSelectivity, double *indexCorrelation,
				  double *indexPages)
{
	IndexOptInfo *ind = path->indexinfo;
	RelOptInfo *rel = ind->rel;
	double		ntuples = Max(ind->tuples, 1.0);
	double		pages = Max((double) ind->pages, 1.0);
	double		selectivity = 1.0;
	double		limit = root->limit_tuples;
	double		elements;
	double		touched;
	double		uncached;
	int			m;
	int			efc;
	int			first_ef;
	int			dim;
	Relation	index;

	if (path->indexorderbys == NIL)
	{
		*indexStartupCost = DBL_MAX;
		*indexTotalCost = DBL_MAX;
		*indexSelectivity = 0;
		*indexCorrelation = 0;
		*indexPages = 0;
		return;
	}

	index = index_open(ind->indexoid, NoLock);
	hnsw_index_options(index, &m, &efc);
	first_ef = hnsw_first_ef(hnsw_index_storage(index));
	index_close(index, NoLock);
	dim = hnsw_index_dim(ind->indexoid);

	if (rel->tuples > 0)
		selectivity = Max(rel->rows / rel->tuples, 1.0 / Max(rel->tuples, 1.0));
	elements = expected_elements(ntuples, m, first_ef, limit, selectivity);

	/* elements are scattered: about one page each, at most every page */
	touched = Min(elements, pages);
	if (loop_count > 1)
		touched = index_pages_fetched(touched * loop_count, (BlockNumber) pages,
									  pages, root) / loop_count;
	uncached = Min(1.0, pages / Max((double) effective_cache_size, 1.0));

	*indexStartupCost = touched * random_page_cost * uncached +
		elements * (cpu_index_tuple_cost + cpu_tuple_cost + 4 * cpu_operator_cost +
					hnsw_distance_cost(dim));
	*indexTotalCost = *indexStartupCost;
	*indexSelectivity = 1.0;
	*indexCorrelation = 0;
	*indexPages = touched;
}
