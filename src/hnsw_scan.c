/*
 * hnsw_scan.c
 *	  Index scans of ecml_hnsw: ORDER BY col <op> query streams heap rows
 *	  nearest first.
 *
 * The first batch is the paper's search (greedy descent, then a layer-0
 * search with ef = ecml.hnsw_ef_search, for half and int8 at least 40:
 * hnsw_first_ef), the nearest quarter of its result returned in distance
 * order, and never fewer than HNSW_FIRST_BATCH_MIN rows (all of them below
 * that): a lower ef_search gives a smaller, faster search.  When the
 * executor asks for more (a WHERE clause rejected rows, or the LIMIT is
 * above the batch), the scan resumes with twice the candidate set (up to
 * 8 ef): the rest of the result and the nearest elements it had found but
 * dropped fill it again and the search continues from them and from the
 * candidates it had not expanded, giving the next batch, again in order.
 * It stops when nothing is left, or after it computed the distances of
 * ecml.hnsw_max_scan_tuples elements and returned the rest of what it had
 * found.  Each batch is in order, but a later batch can hold a row nearer
 * than the last row of the batch before (the graph reached it later): with
 * ecml.hnsw_strict_order (the default) such a row is skipped, so rows come
 * in non-decreasing distance as ORDER BY promises; without it the row is
 * returned, out of order.
 */
#include "postgres.h"

#include <math.h>

#include "access/relscan.h"
#include "detoast_cache.h"
#include "hnsw.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/rel.h"

typedef struct HnswScanOpaqueData
{
	MemoryContext ctx;			/* everything of one scan (reset by rescan) */
	MemoryContext search_ctx;	/* s's arrays, kept for the next rescan */
	bool		search_made;	/* s's arrays exist in search_ctx */
	bool		started;
	bool		done;
	bool		null_query;
	HnswSearch	s;
	bool		have_search;
	float	   *query;
	int		   *batch;			/* candidates of the current batch, in order */
	int			nbatch;
	int			pos;
	float		last_dist;		/* distance of the last row returned */
	float		qnorm;			/* |query|, for the bounds of half and int8 */
	int			ef;				/* the candidate set of the first search */
	int			ef_round;		/* the candidate set of the next round */
	/* a NULL query: every element, in physical order */
	BlockNumber blkno;
	OffsetNumber offno;
} HnswScanOpaqueData;

typedef HnswScanOpaqueData *HnswScanOpaque;

StaticAssertDecl(HNSW_FIRST_BATCH_MIN * 4 == HNSW_EF_SEARCH_DEFAULT,
				 "the first batch's minimum is the default ef_search's quarter");

/* a visited set of more slots than this is made anew, not cleared */
#define HNSW_REUSE_MAX_VISITED 16384

IndexScanDesc
hnsw_beginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	HnswScanOpaque so = palloc0(sizeof(HnswScanOpaqueData));

	so->ctx = AllocSetContextCreate(CurrentMemoryContext, "ecml_hnsw scan",
									ALLOCSET_DEFAULT_SIZES);
	so->search_ctx = AllocSetContextCreate(CurrentMemoryContext, "ecml_hnsw search",
										   ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	scan->xs_orderbyvals = palloc0(sizeof(Datum) * Max(norderbys, 1));
	scan->xs_orderbynulls = palloc(sizeof(bool) * Max(norderbys, 1));
	memset(scan->xs_orderbynulls, true, sizeof(bool) * Max(norderbys, 1));
	return scan;
}

static void
end_search(HnswScanOpaque so)
{
	if (so->have_search)
		hnsw_search_end(&so->s);
	so->have_search = false;
}

void
hnsw_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
			int norderbys)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	end_search(so);
	MemoryContextReset(so->ctx);
	so->started = false;
	so->done = false;
	so->null_query = false;
	so->nbatch = so->pos = 0;
	so->last_dist = -INFINITY;
	so->batch = NULL;
	so->query = NULL;
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
}

/*
 * The nearest quarter of the current W, nearest first, becomes the batch
 * to return; the rest stays in W for the next round of the search, which
 * may still find rows nearer than those (all of W goes when nothing is
 * left to search).  Returning only what the search has settled keeps rows
 * found later from coming in nearer than rows already returned (skipped
 * under ecml.hnsw_strict_order, out of order without it).  With the
 * candidate set doubling each round, on the pgTAP data (20,000 x 32,
 * ef_search 40) recall@10 under strict order went from 0.972 to 0.978 for
 * a filter keeping 10% of the rows and from 0.924 to 0.966 for 1%,
 * against half and a constant ef_search.  The first batch holds at least
 * HNSW_FIRST_BATCH_MIN rows: with a quarter, ef_search 10 returned 3 rows
 * and a LIMIT 10 query searched round after round, slower than at 40
 * (100,000 x 128 cosine: 2,964 q/s at recall 0.815, against 9,390 at
 * 0.699 now; 5,557 at 0.960 at ef_search 40).
 */
/*
 * cosine (unit q and x; internal -q.x', x' the stored x): -q.x >= -q.x' -
 * err holds, but through the Euclidean distance the bound is tighter for
 * near rows, as -q.x = |q - x|^2 / 2 - 1 and |q - x| >= |q - x'| - err,
 * with |q - x'|^2 = 1 + |x'|^2 - 2 q.x': it loses about |q - x| err
 * instead of err (test/bench/RESULTS.md: fewer heap rows re-ranked).
 * 1e-5 more covers the float rounding of |q - x'|: the executor errors on
 * a bound above the exact distance.
 */
static float
cosine_bound(const HnswCand *c)
{
	double		d = sqrt(Max(1.0 + c->norm2 + 2.0 * c->dist, 0.0)) - c->err;
	double		b = (d > 0 ? d * d / 2 : 0.0) - 1.0 - 1e-5;

	return (float) Max(b, (double) c->dist - c->err);
}

/*
 * The internal distance a scan reports for a candidate.  float: its
 * distance.  half and int8: a bound never above the exact distance of the
 * heap row's vector x, from the stored x' and err >= |x - x'|:
 * |q - x| >= |q - x'| - err, and -q.x >= -q.x' - |q| err.  The scan sets
 * xs_recheckorderby, so the executor computes the exact distance from the
 * heap and re-ranks (IndexNextWithReorder): the final order is exact.
 */
static float
cand_bound(HnswScanOpaque so, const HnswCand *c)
{
	if (so->s.info.storage == HNSW_STORAGE_FLOAT)
		return c->dist;
	if (so->s.info.metric == HNSW_METRIC_L2)
	{
		double		d = sqrt((double) Max(c->dist, 0.0f)) - c->err;

		return d > 0 ? (float) (d * d) : 0.0f;
	}
	if (so->s.info.metric == HNSW_METRIC_COSINE)
		return cosine_bound(c);
	return c->dist - so->qnorm * c->err;
}

/*
 * half, int8: the rows of so->batch[nemit..n) (the search's rows past the
 * batch's first nemit) whose bound is at most the largest bound among
 * those nemit join the batch; returns its new size.  The batch returns
 * rows up to the same bound as before, but no row left in W has a bound
 * below it: such a row came in a later batch under the last bound already
 * returned, and strict order skipped it.  On 100,000 x 128 clustered
 * vectors, int8 cosine at ef_search 40, a filter keeping 10% of the rows
 * had recall@10 0.82 and now 0.98, one keeping 1% 0.71 and now 0.97
 * (float: 0.99 and 0.97).  Unfiltered scans return the same rows, and
 * re-rank the few more rows found before (1,536-d: 4 a query, 7% slower;
 * test/bench/RESULTS.md).
 */
static int
close_under_bound(HnswScanOpaque so, int nemit, int n)
{
	HnswCand   *cands = so->s.cands;
	float		t = -INFINITY;
	int			k = nemit;

	if (nemit >= n)
		return n;
	for (int i = 0; i < nemit; i++)
		t = Max(t, cand_bound(so, &cands[so->batch[i]]));
	for (int i = nemit; i < n; i++)
		if (cand_bound(so, &cands[so->batch[i]]) <= t)
		{
			int			x = so->batch[i];

			so->batch[i] = so->batch[k];
			so->batch[k++] = x;
		}
	return k;
}

static void
take_batch(HnswScanOpaque so, bool all, bool first)
{
	HnswSearch *s = &so->s;
	int			n = s->W.n;
	int			nemit;

	so->batch = so->batch ? repalloc(so->batch, sizeof(int) * Max(n, 1))
		: palloc(sizeof(int) * Max(n, 1));
	while (s->W.n > 0)
	{
		int			i = hnsw_heap_pop(&s->W, s->cands);

		so->batch[s->W.n] = i;
	}
	/*
	 * half, int8: the executor re-ranks, and before it returns row k it
	 * fetches every row whose bound is below row k's exact distance, a few
	 * past LIMIT.  A batch of a quarter (10 at ef_search 40, LIMIT 10's k)
	 * made nearly every query pay a second search round: when W holds at
	 * least twice HNSW_RERANK_BATCH, the batch holds that many.  Only then:
	 * larger batches commit to a farther last row, and strict order then
	 * skips more rows found later (on 20,000 x 768, half of W at ef_search
	 * 10 lost 0.04 of recall@10).  Then the rows left behind with bounds
	 * below the batch's join it.
	 */
	if (all || (s->C.n == 0 && s->D.n == 0))
		nemit = n;
	else
	{
		bool		rerank = s->info.storage != HNSW_STORAGE_FLOAT;

		nemit = Max((n + 3) / 4, 1);
		if (rerank && n >= 2 * HNSW_RERANK_BATCH)
			nemit = Max(nemit, HNSW_RERANK_BATCH);
		if (first)
			nemit = Max(nemit, HNSW_FIRST_BATCH_MIN);
		nemit = Min(nemit, n);
		if (rerank)
			nemit = close_under_bound(so, nemit, n);
	}
	for (int i = nemit; i < n; i++)
		hnsw_heap_push(&s->W, s->cands, so->batch[i]);
	so->nbatch = nemit;
	so->pos = 0;
	/* half, int8: in order of the reported bounds (insertion sort, small) */
	if (so->s.info.storage != HNSW_STORAGE_FLOAT)
	{
		for (int i = 1; i < nemit; i++)
		{
			int			x = so->batch[i];
			float		bx = cand_bound(so, &s->cands[x]);
			int			j = i;

			while (j > 0 && cand_bound(so, &s->cands[so->batch[j - 1]]) > bx)
			{
				so->batch[j] = so->batch[j - 1];
				j--;
			}
			so->batch[j] = x;
		}
	}
}

/*
 * so->s ready for so->query.  A scan run once per outer row (a kNN join)
 * reuses the arrays the last query grew (candidates, heaps, visited set)
 * instead of growing them again from their first sizes, unless the visited
 * set grew so large that clearing it would cost more.
 */
static void
prepare_search(HnswScanOpaque so, Relation index, const HnswIndexInfo *info)
{
	MemoryContext old;

	if (so->search_made && so->s.info.dim == info->dim && so->s.info.m == info->m &&
		so->s.info.storage == info->storage && so->s.info.metric == info->metric &&
		so->s.visited.mask < HNSW_REUSE_MAX_VISITED)
	{
		hnsw_search_restart(&so->s, so->query);
		return;
	}
	MemoryContextReset(so->search_ctx);
	old = MemoryContextSwitchTo(so->search_ctx);
	hnsw_search_init(&so->s, index, info, so->query);
	MemoryContextSwitchTo(old);
	so->search_made = true;
}

static void
start_search(IndexScanDesc scan, HnswScanOpaque so)
{
	Relation	index = scan->indexRelation;
	HnswMetaPageData meta;
	HnswIndexInfo info;
	Datum		query;
	int			n;
	int			cur;

	hnsw_read_meta(index, &meta);
	if (meta.entry_blkno == InvalidBlockNumber)
	{
		so->done = true;
		return;
	}
	hnsw_meta_info(index, &meta, &info);

	if (scan->numberOfOrderBys == 0 ||
		(scan->orderByData[0].sk_flags & SK_ISNULL))
	{
		so->null_query = true;
		so->blkno = HNSW_METAPAGE_BLKNO + 1;
		so->offno = FirstOffsetNumber;
		return;
	}
	/* an out-of-line query from the statement's cache: the projection reads it again */
	query = scan->orderByData[0].sk_argument;
	if (VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(query)))
		query = PointerGetDatum(ecml_detoast_cached((struct varlena *) DatumGetPointer(query)));
	so->query = hnsw_prepare_vector(query, info.metric, info.dim, "query vector", &n, NULL);

	{
		double		q2 = 0.0;

		for (int i = 0; i < info.dim; i++)
			q2 += (double) so->query[i] * so->query[i];
		so->qnorm = (float) sqrt(q2);
	}
	prepare_search(so, index, &info);
	so->have_search = true;
	so->s.keep_dropped = true;
	/* an entry point a concurrent VACUUM removed: the meta page is read again */
	cur = hnsw_search_entry(&so->s, &meta);
	if (cur < 0)
	{
		so->done = true;
		return;
	}
	for (int lc = meta.entry_level; lc > 0; lc--)
		cur = hnsw_search_greedy(&so->s, cur, lc);
	hnsw_search_seed(&so->s, cur);
	so->ef = hnsw_first_ef(so->s.info.storage);
	hnsw_search_layer(&so->s, so->ef, 0);
	so->ef_round = Min(so->ef * 2, so->ef * HNSW_EF_GROWTH_MAX);
	take_batch(so, false, true);
}

/* the next live element in physical order, for a NULL query */
static bool
next_physical(IndexScanDesc scan, HnswScanOpaque so)
{
	Relation	index = scan->indexRelation;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);

	for (; so->blkno < nblocks; so->blkno++, so->offno = FirstOffsetNumber)
	{
		Buffer		buf = ReadBuffer(index, so->blkno);
		Page		page;
		bool		found = false;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!PageIsNew(page) && HnswPageGetOpaque(page)->flags == HNSW_PAGE_ELEMENT)
		{
			for (; so->offno <= PageGetMaxOffsetNumber(page); so->offno++)
			{
				ItemId		iid = PageGetItemId(page, so->offno);
				HnswElementTuple e;

				if (!ItemIdIsNormal(iid))
					continue;
				e = (HnswElementTuple) PageGetItem(page, iid);
				scan->xs_heaptid = e->heaptid;
				so->offno++;
				found = true;
				break;
			}
		}
		UnlockReleaseBuffer(buf);
		if (found)
			return true;
	}
	return false;
}

bool
hnsw_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	MemoryContext old;
	bool		found = false;

	if (so->done)
		return false;
	old = MemoryContextSwitchTo(so->ctx);
	if (!so->started)
	{
		so->started = true;
		pgstat_count_index_scan(scan->indexRelation);
		start_search(scan, so);
	}
	scan->xs_recheck = false;
	scan->xs_recheckorderby = false;
	if (so->have_search && so->s.info.storage != HNSW_STORAGE_FLOAT)
		scan->xs_recheckorderby = true;

	if (so->done)
		;
	else if (so->null_query)
	{
		found = next_physical(scan, so);
		if (scan->numberOfOrderBys > 0)
			scan->xs_orderbynulls[0] = true;
	}
	else
	{
		for (;;)
		{
			while (so->pos < so->nbatch)
			{
				HnswCand   *c = &so->s.cands[so->batch[so->pos++]];
				float		dist;

				if (c->state & HNSW_CAND_EMITTED)
					continue;
				c->state |= HNSW_CAND_EMITTED;
				/* found after a farther row was returned: out of order */
				dist = cand_bound(so, c);
				if (hnsw_strict_order && dist < so->last_dist)
					continue;
				so->last_dist = dist;
				scan->xs_heaptid = c->heaptid;
				scan->xs_orderbyvals[0] =
					Float8GetDatum(hnsw_reported_distance(so->s.info.metric, dist));
				scan->xs_orderbynulls[0] = false;
				found = true;
				break;
			}
			if (found)
				break;
			/* the batch is used up: search further, within the bound */
			if (so->s.ndistances >= hnsw_max_scan_tuples)
			{
				/* no more searching: what was found and held back goes out */
				if (so->s.W.n == 0)
					break;
				take_batch(so, true, false);
				continue;
			}
			if (!hnsw_search_resume(&so->s, so->ef_round))
				break;
			take_batch(so, false, false);
			so->ef_round = Min(so->ef_round * 2, so->ef * HNSW_EF_GROWTH_MAX);
		}
	}
	if (!found)
	{
		so->done = true;
		end_search(so);
	}
	MemoryContextSwitchTo(old);
	return found;
}

void
hnsw_endscan(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	end_search(so);
	MemoryContextDelete(so->ctx);
	MemoryContextDelete(so->search_ctx);
	pfree(so);
	scan->opaque = NULL;
}
