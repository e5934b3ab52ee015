/*
 * hnsw_build_graph.c
 *	  The in-memory graph of an ecml_hnsw build: Algorithm 1 (insert) over
 *	  numbered elements in flat arrays with a generation-stamped visited
 *	  array, and the writing of the finished graph to pages.  One process
 *	  uses it for a serial build (hnsw_build.c); in a parallel build
 *	  (hnsw_build_parallel.c) every participant inserts into the same
 *	  arrays in shared memory, taking an element's lock around its lists.
 *	  Cosine vectors are normalised once, so every search is an inner
 *	  product.
 */
#include "postgres.h"

#include <math.h>

#include "access/generic_xlog.h"
#include "access/xloginsert.h"
#include "commands/progress.h"
#include "distance.h"
#include "ecml.h"
#include "hnsw.h"
#include "hnsw_build.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/* ---- pair heaps ---- */

static inline bool
pair_before(const BuildHeap *h, const BuildPair *a, const BuildPair *b)
{
	return h->max ? a->d > b->d : a->d < b->d;
}

static inline void
pair_push(BuildHeap *h, float d, int32 id)
{
	int pos;
	BuildPair x = { d, id };

	if (h->n == h->cap)
	{
		h->cap *= 2;
		h->p = repalloc_huge(h->p, sizeof(BuildPair) * h->cap);
	}
	pos = h->n++;

	while (pos > 0)
	{
		int			parent = (pos - 1) / 2;

		if (!pair_before(h, &x, &h->p[parent]))
			break;
		h->p[pos] = h->p[parent];
		pos = parent;
	}
	h->p[pos] = x;
}

static inline BuildPair
pair_pop(BuildHeap *h)
{
	BuildPair	top = h->p[0];
	BuildPair	last = h->p[--h->n];
	int			pos = 0;

	for (;;)
	{
		int			child = 2 * pos + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n && pair_before(h, &h->p[child + 1], &h->p[child]))
			child++;
		if (!pair_before(h, &h->p[child], &last))
			break;
		h->p[pos] = h->p[child];
		pos = child;
	}
	if (h->n > 0)
		h->p[pos] = last;
	return top;
}

/* ---- the graph in memory ---- */

/*
 * A list that has overflowed once stays in the order of Algorithm 4's scan
 * (by distance to its owner), list[0] flagged LIST_SORTED and each entry
 * flagged ENTRY_PRUNED when that scan pruned it (link_back_locked); readers
 * take LIST_COUNT and ENTRY_ID.
 */
#define LIST_SORTED		 0x40000000
#define LIST_COUNT(list) ((list)[0] & ~LIST_SORTED)
#define ENTRY_PRUNED	 PG_INT32_MIN
#define ENTRY_ID(x)		 ((x) &PG_INT32_MAX)

static inline float *
vec_of(BuildState *b, int32 i)
{
	return hnsw_build_vec(b, i);
}

/* the count-prefixed neighbour list of element i at level */
static inline int32 *
list_of(BuildState *b, int32 i, int level)
{
	if (level == 0)
		return b->nb0 + (Size) i * (2 * b->info.m + 1);
	if (b->shared)
		return b->upool + b->upoff[i] + (level - 1) * (b->info.m + 1);
	return b->nbup[i] + (level - 1) * (b->info.m + 1);
}

/*
 * The list of i at level to search from: in a parallel build a copy taken
 * under i's lock, since another process may be rewriting it.
 */
static inline int32 *
read_list(BuildState *b, int32 i, int level)
{
	int32	   *list = list_of(b, i, level);

	if (!b->shared)
		return list;
	LWLockAcquire(&b->locks[i], LW_SHARED);
	memcpy(b->listcopy, list, sizeof(int32) * (LIST_COUNT(list) + 1));
	LWLockRelease(&b->locks[i]);
	return b->listcopy;
}

static inline const uint16 *
half_of(BuildState *b, int32 i)
{
	return b->hvecs + (Size) i * b->info.dim;
}

/*
 * Ask for the vector the distance to i reads (its first 4 kB).  Always
 * inlined: GCC takes a function of prefetches alone for one without side
 * effects and drops its calls, which it did here until 2026-12-07; with
 * them a one-process build of 100,000 x 768 cosine takes about a quarter
 * less time (test/bench/RESULTS.md).
 */
static pg_attribute_always_inline void
prefetch_vec(BuildState *b, int32 i)
{
	const char *p = b->hvecs ? (const char *) half_of(b, i) : (const char *) vec_of(b, i);
	int			bytes = Min((b->hvecs ? 2 : (int) sizeof(float)) * b->info.dim, 4096);

	for (int o = 0; o < bytes; o += 64)
		__builtin_prefetch(p + o);
}

/*
 * Whether a build of this index computes its distances over half-precision
 * copies: where the CPU converts halves (F16C), for cosine (unit vectors)
 * and L2 (centred), at dimensions where reading the vectors is what the
 * build waits for.  Before the dimension is known (0), whether it may.
 */
bool
hnsw_build_half_wanted(const HnswIndexInfo *info)
{
	return (info->metric == HNSW_METRIC_COSINE || info->metric == HNSW_METRIC_L2) &&
		   (info->dim == 0 || info->dim >= HNSW_BUILD_HALF_MIN_DIM) && ecml_f16_supported();
}

/* v minus the centre into b->hq, which L2's half copies are taken of */
static const float *
centred(BuildState *b, const float *v)
{
	for (int k = 0; k < b->info.dim; k++)
		b->hq[k] = v[k] - b->centre[k];
	return b->hq;
}

/*
 * Element i's half copy from its vector (b->hvecs is set); false when a
 * component was beyond half's range (the copy is clamped, so finite).
 */
bool
hnsw_build_set_half(BuildState *b, int32 i)
{
#ifdef ECML_HAVE_F16_KERNELS
	const float *v = vec_of(b, i);

	if (b->info.metric == HNSW_METRIC_L2)
		v = centred(b, v);
	return ecml_f32_to_f16(v, b->hvecs + (Size) i * b->info.dim, b->info.dim);
#else
	elog(ERROR, "ecml_hnsw build: no half-precision kernels in this build");
	return false;
#endif
}

/* the distance of element e to the element being inserted, whose vector is qv */
static inline float
dist_to(BuildState *b, int32 e, const float *qv)
{
#ifdef ECML_HAVE_F16_KERNELS
	if (b->hvecs)
		return b->info.metric == HNSW_METRIC_L2 ? ecml_l2_squared_f16(half_of(b, e), b->hq, b->info.dim) : -ecml_dot_f16(half_of(b, e), qv, b->info.dim);
#endif
	return hnsw_distance(b->info.metric, vec_of(b, e), qv, b->info.dim);
}

static inline float
dist_ids(BuildState *b, int32 x, int32 y)
{
#ifdef ECML_HAVE_F16_KERNELS
	if (b->hvecs)
		return b->info.metric == HNSW_METRIC_L2 ? ecml_l2_squared_f16_f16(half_of(b, x), half_of(b, y), b->info.dim) : -ecml_dot_f16_f16(half_of(b, x), half_of(b, y), b->info.dim);
#endif
	return hnsw_distance(b->info.metric, vec_of(b, x), vec_of(b, y), b->info.dim);
}

static inline bool
visit(BuildState *b, int32 i)
{
	if (b->visited[i] == b->gen)
		return false;
	b->visited[i] = b->gen;
	return true;
}

static void
new_generation(BuildState *b)
{
	if (++b->gen == 0)
	{
		memset(b->visited, 0, sizeof(uint32) * b->cap);
		b->gen = 1;
	}
}

/*
 * Algorithm 2 in memory: the ef nearest to element q on level, starting
 * from eps; into b->found, nearest first.  Returns how many.
 */
static int
search_layer_mem(BuildState *b, int32 q, const BuildPair *eps, int neps, int ef, int level)
{
	const float *qv = vec_of(b, q);
	int			nfound;

	new_generation(b);
	b->C.n = b->W.n = 0;
	visit(b, q);
	for (int i = 0; i < neps; i++)
	{
		if (!visit(b, eps[i].id))
			continue;
		pair_push(&b->C, eps[i].d, eps[i].id);
		pair_push(&b->W, eps[i].d, eps[i].id);
	}
	while (b->C.n > 0)
	{
		BuildPair	c = b->C.p[0];
		int32	   *list;

		if (b->W.n >= ef && c.d > b->W.p[0].d)
			break;
		pair_pop(&b->C);
		list = read_list(b, c.id, level);
		/* the vectors are scattered: ask for all of them before using any */
		for (int k = 1; k <= LIST_COUNT(list); k++)
			if (b->visited[ENTRY_ID(list[k])] != b->gen)
				prefetch_vec(b, ENTRY_ID(list[k]));
		for (int k = 1; k <= LIST_COUNT(list); k++)
		{
			int32		e = ENTRY_ID(list[k]);
			float		d;

			if (!visit(b, e))
				continue;
			d = dist_to(b, e, qv);
			if (b->W.n < ef || d < b->W.p[0].d)
			{
				pair_push(&b->C, d, e);
				pair_push(&b->W, d, e);
				if (b->W.n > ef)
					pair_pop(&b->W);
			}
		}
	}
	nfound = b->W.n;
	for (int i = nfound - 1; i >= 0; i--)
		b->found[i] = pair_pop(&b->W);
	return nfound;
}

/*
 * Algorithm 4 in memory over ids[] with distances d[] to the element,
 * sorted ascending: keep a candidate nearer to the element than to every
 * one kept.  With keep_pruned (the paper's keepPrunedConnections) the
 * list is then filled up to mmax with the nearest pruned ones.  The kept
 * ids replace the start of ids[]; returns how many.
 *
 * A new element's own list is chosen without keep_pruned, an existing
 * list that overflows is shrunk with it: on 100k x 128 clustered vectors
 * that gave recall@10 0.952 at ef_search 40, against 0.950 for neither
 * and 0.959 for both, which lost recall at larger ef_search (0.987 at
 * 160, against 0.995).
 */
static int
select_mem(BuildState *b, int32 *ids, const float *d, int n, int mmax, bool keep_pruned)
{
	int nout = 0,
		npruned = 0;

	for (int i = 0; i < n && nout < mmax; i++)
	{
		bool good = true;

		for (int r = 0; r < nout; r++)
		{
			if (dist_ids(b, ids[i], ids[r]) < d[i])
			{
				good = false;
				break;
			}
		}
		if (good)
			ids[nout++] = ids[i];
		else
			b->pruned[npruned++] = ids[i];
	}
	/* keepPrunedConnections: fill up with the nearest pruned ones */
	for (int i = 0; keep_pruned && i < npruned && nout < mmax; i++)
		ids[nout++] = b->pruned[i];
	return nout;
}

/*
 * The candidates of an overflowing list are b->cand_ids, their marks
 * b->cand_pruned and their distances to the list's owner b->cand_d, NaN
 * until needed.
 */
static inline float
cand_dist(BuildState *b, int i, int32 owner)
{
	if (isnan(b->cand_d[i]))
		b->cand_d[i] = dist_ids(b, b->cand_ids[i], owner);
	return b->cand_d[i];
}

/* whether any of the first n candidates is marked pruned */
static bool
any_pruned(const bool *pruned, int n)
{
	for (int i = 0; i < n; i++)
		if (pruned[i])
			return true;
	return false;
}

/* whether candidate i is pruned by one before it that is not */
static bool
pruned_by_earlier(BuildState *b, int i, int32 owner)
{
	float		di = cand_dist(b, i, owner);

	for (int r = 0; r < i; r++)
		if (!b->cand_pruned[r] && dist_ids(b, b->cand_ids[i], b->cand_ids[r]) < di)
			return true;
	return false;
}

/*
 * The marks of an overflowing list's n = cap + 1 candidates, new at p.
 * Algorithm 4 with keepPrunedConnections (select_mem) keeps all of them
 * but one: the farthest it prunes, or the farthest when it prunes none.
 * Dropping either changes no other mark, so a list keeps its marks from
 * one overflow to the next, and the scan is redone only where the new
 * candidate changes it: nothing before p; after p nothing when new is
 * pruned, else a kept entry that new prunes, and all after the first
 * such.  In a 20,000 x 768 build the heuristic's distances were two
 * thirds of all, most of them these rescans.  Returns the one to drop.
 */
static int
mark_candidates(BuildState *b, int n, int p, bool sorted, int32 owner)
{
	bool	   *pruned = b->cand_pruned;
	bool		changed = !sorted;

	for (int i = sorted ? p : 0; i < n; i++)
	{
		if (i == p || changed)
		{
			/* as select_mem, which stops at cap kept, the last one dropped */
			if (!sorted && i == n - 1 && !any_pruned(pruned, n - 1))
				break;
			pruned[i] = pruned_by_earlier(b, i, owner);
		}
		else if (pruned[p])
			break;
		else if (!pruned[i] &&
				 dist_ids(b, b->cand_ids[i], b->cand_ids[p]) < cand_dist(b, i, owner))
			pruned[i] = changed = true;
	}
	for (int i = n - 1; i >= 0; i--)
		if (pruned[i])
			return i;
	return n - 1;
}

/*
 * The candidates of e's full list that has not overflowed before, and new:
 * all their distances to e, sorted, new after its equals.  Returns new's
 * place.
 */
static int
sort_candidates(BuildState *b, const int32 *list, int n, int32 e, int32 new, float dnew)
{
	int			p = 0;

	for (int i = 1; i <= n; i++)
		prefetch_vec(b, ENTRY_ID(list[i]));
	for (int i = 0; i <= n; i++)
	{
		int32		id = i < n ? ENTRY_ID(list[i + 1]) : new;
		float		d = i < n ? dist_ids(b, id, e) : dnew;
		int			j = i;

		while (j > 0 && b->cand_d[j - 1] > d)
		{
			b->cand_d[j] = b->cand_d[j - 1];
			b->cand_ids[j] = b->cand_ids[j - 1];
			j--;
		}
		b->cand_d[j] = d;
		b->cand_ids[j] = id;
		if (i == n)
			p = j;
	}
	memset(b->cand_pruned, 0, sizeof(bool) * (n + 1));
	return p;
}

/*
 * The same for a list that has overflowed before, sorted already: new's
 * place by bisection, which computes the only distances to e needed
 * before mark_candidates.
 */
static int
place_candidate(BuildState *b, const int32 *list, int n, int32 e, int32 new, float dnew)
{
	int lo = 0,
		hi = n;

	for (int i = 0; i < n; i++)
	{
		b->cand_ids[i] = ENTRY_ID(list[i + 1]);
		b->cand_pruned[i] = (list[i + 1] & ENTRY_PRUNED) != 0;
		b->cand_d[i] = NAN;
	}
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (cand_dist(b, mid, e) <= dnew)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(b->cand_ids + lo + 1, b->cand_ids + lo, sizeof(int32) * (n - lo));
	memmove(b->cand_pruned + lo + 1, b->cand_pruned + lo, sizeof(bool) * (n - lo));
	memmove(b->cand_d + lo + 1, b->cand_d + lo, sizeof(float) * (n - lo));
	b->cand_ids[lo] = new;
	b->cand_pruned[lo] = false;
	b->cand_d[lo] = dnew;
	return lo;
}

/*
 * Add new to e's list on level; when full, drop the one Algorithm 4 with
 * keepPrunedConnections would (mark_candidates).
 */
static void
link_back_locked(BuildState *b, int32 e, int level, int32 new, float dnew)
{
	int32 *list = list_of(b, e, level);
	int cap = hnsw_level_capacity(b->info.m, level);
	bool sorted = (list[0] & LIST_SORTED) != 0;
	int n = LIST_COUNT(list);
	int p,
		drop;

	if (n < cap)
	{
		list[n + 1] = new;
		list[0] = n + 1;
		return;
	}
	p = sorted ? place_candidate(b, list, n, e, new, dnew)
			   : sort_candidates(b, list, n, e, new, dnew);
	drop = mark_candidates(b, n + 1, p, sorted, e);
	for (int i = 0, k = 1; i <= n; i++)
		if (i != drop)
			list[k++] = b->cand_ids[i] | (b->cand_pruned[i] ? ENTRY_PRUNED : 0);
	list[0] = n | LIST_SORTED;
}

static void
link_back_mem(BuildState *b, int32 e, int level, int32 new, float dnew)
{
	if (!b->shared)
	{
		link_back_locked(b, e, level, new, dnew);
		return;
	}
	LWLockAcquire(&b->locks[e], LW_EXCLUSIVE);
	link_back_locked(b, e, level, new, dnew);
	LWLockRelease(&b->locks[e]);
}

/*
 * Room for q's lists above level 0, emptied: in a parallel build from the
 * shared pool, false when that is used up.
 */
static bool
alloc_upper(BuildState *b, int32 q, int level)
{
	Size		ints = (Size) level * (b->info.m + 1);

	if (b->shared)
	{
		uint64		off = 0;

		if (level > 0)
		{
			off = pg_atomic_fetch_add_u64(&b->shared->upool_used, ints);
			if (off + ints > b->shared->upool_cap)
				return false;
		}
		b->upoff[q] = (uint32) off;
	}
	else
	{
		b->nbup[q] = NULL;
		if (level > 0)
			b->nbup[q] = MemoryContextAlloc(b->ctx, sizeof(int32) * ints);
		b->upper_bytes += sizeof(int32) * ints;
	}
	for (int l = 1; l <= level; l++)
		list_of(b, q, l)[0] = 0;
	return true;
}

/*
 * The entry point and its level to insert q from; false when the graph is
 * empty and q becomes the entry point.  With raise, make q the entry point
 * when its level is above the graph's.
 */
static bool
graph_entry(BuildState *b, int32 q, int level, bool raise, int32 *entry, int *maxlevel)
{
	HnswBuildShared *sh = b->shared;
	int32	   *ent = sh ? &sh->entry : &b->entry;
	int		   *top = sh ? &sh->maxlevel : &b->maxlevel;
	bool		found = true;

	if (sh)
		SpinLockAcquire(&sh->mutex);
	if (*ent < 0 || (raise && level > *top))
	{
		*ent = q;
		*top = level;
		found = false;
	}
	else if (!raise)
	{
		*entry = *ent;
		*maxlevel = *top;
	}
	if (sh)
		SpinLockRelease(&sh->mutex);
	return found;
}

/*
 * q's own list on level from the kept candidates.  In a parallel build
 * another process may have linked to q already (it found q on the level
 * above): those links stay after the chosen ones while there is room.
 */
static void
set_own_list(BuildState *b, int32 q, int level, const int32 *ids, int n)
{
	int32	   *mine = list_of(b, q, level);
	int			cap = hnsw_level_capacity(b->info.m, level);
	int			nold;

	if (b->shared)
		LWLockAcquire(&b->locks[q], LW_EXCLUSIVE);
	nold = LIST_COUNT(mine);
	memcpy(b->listcopy, mine + 1, sizeof(int32) * nold);
	memcpy(mine + 1, ids, sizeof(int32) * n);
	for (int k = 0; k < nold && n < cap; k++)
	{
		int32		id = ENTRY_ID(b->listcopy[k]);
		bool		dup = false;

		for (int j = 0; j < n && !dup; j++)
			dup = mine[j + 1] == id;
		if (!dup)
			mine[++n] = id;
	}
	mine[0] = n;
	if (b->shared)
		LWLockRelease(&b->locks[q]);
}

/*
 * Algorithm 1 in memory for element q, whose vector and level are set;
 * false when a parallel build ran out of shared memory for it.
 */
bool
hnsw_build_insert_mem(BuildState *b, int32 q)
{
	int			level = b->levels[q];
	const float *qv = vec_of(b, q);
	BuildPair	ep;
	int			neps;
	int			maxlevel = 0;

	list_of(b, q, 0)[0] = 0;
	if (!alloc_upper(b, q, level))
		return false;
	if (!graph_entry(b, q, level, false, &ep.id, &maxlevel))
		return true;

	if (b->hvecs && b->info.metric == HNSW_METRIC_L2)
		centred(b, qv);
	ep.d = dist_to(b, ep.id, qv);
	for (int lc = maxlevel; lc > level; lc--)
	{
		bool		moved = true;

		while (moved)
		{
			int32	   *list = read_list(b, ep.id, lc);

			moved = false;
			for (int k = 1; k <= LIST_COUNT(list); k++)
			{
				int32		id = ENTRY_ID(list[k]);
				float		d = dist_to(b, id, qv);

				if (d < ep.d)
				{
					ep.d = d;
					ep.id = id;
					moved = true;
				}
			}
		}
	}

	b->found[0] = ep;
	neps = 1;
	for (int lc = Min(level, maxlevel); lc >= 0; lc--)
	{
		int			nfound = search_layer_mem(b, q, b->found, neps, b->info.ef_construction, lc);
		int			nkeep;

		for (int i = 0; i < nfound; i++)
		{
			b->cand_ids[i] = b->found[i].id;
			b->cand_d[i] = b->found[i].d;
		}
		nkeep = select_mem(b, b->cand_ids, b->cand_d, nfound,
						   hnsw_level_capacity(b->info.m, lc), false);
		/* select_mem compacts ids only: keep each one's distance */
		memcpy(b->keep, b->cand_ids, sizeof(int32) * nkeep);
		set_own_list(b, q, lc, b->keep, nkeep);
		for (int i = 0; i < nkeep; i++)
			link_back_mem(b, b->keep[i], lc, q, dist_to(b, b->keep[i], qv));
		neps = nfound;
	}
	if (level > maxlevel)
		graph_entry(b, q, level, true, NULL, NULL);
	return true;
}

/* ---- writing pages ---- */

void
hnsw_build_fill_meta(Page page, const HnswIndexInfo *info, HnswAddr entry, int entry_level,
					 BlockNumber insert_blkno)
{
	HnswMetaPage meta;

	hnsw_init_page(page, HNSW_PAGE_META);
	meta = HnswPageGetMeta(page);
	meta->magic = HNSW_MAGIC;
	meta->version = HNSW_VERSION;
	meta->dim = info->dim;
	meta->m = info->m;
	meta->ef_construction = info->ef_construction;
	meta->metric = info->metric;
	meta->entry_blkno = entry == HNSW_INVALID_ADDR ? InvalidBlockNumber : HnswAddrBlock(entry);
	meta->entry_offno = entry == HNSW_INVALID_ADDR ? InvalidOffsetNumber : HnswAddrOffset(entry);
	meta->entry_level = entry_level;
	meta->insert_blkno = insert_blkno;
	meta->storage = info->storage;
	/* keep the meta data out of the hole full-page images leave out */
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(HnswMetaPageData)) - (char *) page;
}

static void
write_page(Relation index, Page page, ForkNumber fork)
{
	Buffer		buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	memcpy(BufferGetPage(buf), page, BLCKSZ);
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

/*
 * The order elements are written in: breadth first over level 0 from the
 * entry point, so that the neighbours an element's expansion reads sit on
 * a few consecutive pages instead of one page each (graph reordering,
 * Coleman et al., "Graph reordering for cache-efficient near neighbor
 * search", 2021): fewer buffer lookups and cache misses per scan.
 * Elements the traversal does not reach follow in insertion order.
 */
static int32 *
bfs_order(BuildState *b)
{
	int32 *order = palloc_extended(sizeof(int32) * Max(b->n, 1), MCXT_ALLOC_HUGE);
	int64 head = 0,
		  tail = 0;
	int32 next = 0; /* no element before it is unvisited */

	if (b->n == 0)
		return order;
	new_generation(b);
	visit(b, b->entry);
	order[tail++] = b->entry;
	for (;;)
	{
		while (head < tail)
		{
			int32	   *list = list_of(b, order[head++], 0);

			for (int k = 1; k <= LIST_COUNT(list); k++)
				if (visit(b, ENTRY_ID(list[k])))
					order[tail++] = ENTRY_ID(list[k]);
		}
		if (tail == b->n)
			break;
		/* an element no path reaches: start again from the first such */
		for (; next < b->n; next++)
		{
			if (visit(b, next))
			{
				order[tail++] = next;
				break;
			}
		}
	}
	return order;
}

/*
 * Write the in-memory graph: the meta page, then the elements in
 * breadth-first order, each page filled as far as it goes; neighbour ids
 * become the addresses computed in a first pass.  Then one full-page WAL
 * image per page.
 */
void
hnsw_build_write_graph(BuildState *b)
{
	HnswAddr *addr = palloc_extended(sizeof(HnswAddr) * Max(b->n, 1), MCXT_ALLOC_HUGE);
	int32 *order = bfs_order(b);
	Size maxsize = hnsw_element_size(b->info.storage, b->info.dim, b->info.m, HNSW_MAX_LEVEL);
	HnswElementTuple tup = palloc0(maxsize);
	PGAlignedBlock block;
	Page page = block.data;
	BlockNumber blkno = 1;
	Size lower = SizeOfPageHeaderData,
		 upper = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData));
	OffsetNumber off = 0;
	int64 start;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_WRITE);

	/* pass 1: where each element goes */
	for (int64 k = 0; k < b->n; k++)
	{
		int32 i = order[k];
		Size size = MAXALIGN(hnsw_element_size(b->info.storage, b->info.dim, b->info.m, b->levels[i]));

		if (lower + sizeof(ItemIdData) + size > upper)
		{
			blkno++;
			lower = SizeOfPageHeaderData;
			upper = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData));
			off = 0;
		}
		lower += sizeof(ItemIdData);
		upper -= size;
		addr[i] = HnswMakeAddr(blkno, ++off);
	}

	hnsw_build_fill_meta(page, &b->info, b->n > 0 ? addr[b->entry] : HNSW_INVALID_ADDR,
						 b->n > 0 ? b->maxlevel : 0, b->n > 0 ? blkno : InvalidBlockNumber);
	write_page(b->index, page, MAIN_FORKNUM);

	/* pass 2: the pages */
	start = 0;
	while (start < b->n)
	{
		BlockNumber cur = HnswAddrBlock(addr[order[start]]);
		int64		k;

		CHECK_FOR_INTERRUPTS();
		hnsw_init_page(page, HNSW_PAGE_ELEMENT);
		for (k = start; k < b->n && HnswAddrBlock(addr[order[k]]) == cur; k++)
		{
			int32		i = order[k];
			int			level = b->levels[i];
			Size		size = hnsw_element_size(b->info.storage, b->info.dim, b->info.m, level);
			HnswSlot   *slots;

			memset(tup, 0, size);
			tup->heaptid = b->tids[i];
			tup->level = level;
			hnsw_encode_vector(b->info.storage, vec_of(b, i), b->info.dim, HnswElementVector(tup));
			slots = HnswElementSlots(tup, b->info.storage, b->info.dim);
			for (int l = 0; l <= level; l++)
			{
				int32	   *list = list_of(b, i, l);
				HnswSlot   *ls = slots + hnsw_level_start(b->info.m, l);
				int			cap = hnsw_level_capacity(b->info.m, l);

				for (int j = 0; j < cap; j++)
					hnsw_slot_set(&ls[j], j < LIST_COUNT(list) ? addr[ENTRY_ID(list[j + 1])] : HNSW_INVALID_ADDR);
			}
			if (PageAddItem(page, (Item) tup, size, InvalidOffsetNumber, false, false) !=
				HnswAddrOffset(addr[i]))
				elog(ERROR, "ecml_hnsw build: element %d did not go where planned", i);
		}
		write_page(b->index, page, MAIN_FORKNUM);
		start = k;
	}

	if (RelationNeedsWAL(b->index))
		log_newpage_range(b->index, MAIN_FORKNUM, 0,
						  RelationGetNumberOfBlocks(b->index), true);
	pfree(addr);
	pfree(order);
	pfree(tup);
}

/* a new element's level, capped so that its tuple fits a page */
int
hnsw_build_level(BuildState *b)
{
	int			level = hnsw_random_level(1.0 - ecml_rng_uniform(&b->rng), b->info.m);

	while (level > 0 && hnsw_element_size(b->info.storage, b->info.dim, b->info.m, level) > HNSW_MAX_ELEMENT_SIZE)
		level--;
	return level;
}

/* the search scratch of one process's insertions, sized by the options */
void
hnsw_build_scratch(BuildState *b)
{
	int			maxcand = Max(b->info.ef_construction, 2 * b->info.m) + 2;

	b->C.cap = 4 * maxcand;
	b->C.p = palloc(sizeof(BuildPair) * b->C.cap);
	b->C.max = false;
	b->W.cap = maxcand + 1;
	b->W.p = palloc(sizeof(BuildPair) * b->W.cap);
	b->W.max = true;
	b->found = palloc(sizeof(BuildPair) * maxcand);
	b->cand_ids = palloc(sizeof(int32) * maxcand);
	b->cand_d = palloc(sizeof(float) * maxcand);
	b->order = palloc(sizeof(int) * maxcand);
	b->keep = palloc(sizeof(int32) * maxcand);
	b->pruned = palloc(sizeof(int32) * maxcand);
	b->cand_pruned = palloc(sizeof(bool) * maxcand);
	b->listcopy = palloc(sizeof(int32) * (2 * b->info.m + 1));
}
