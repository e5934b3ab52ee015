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

#include "access/generic_xlog.h"
#include "access/xloginsert.h"
#include "commands/progress.h"
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
	memcpy(b->listcopy, list, sizeof(int32) * (list[0] + 1));
	LWLockRelease(&b->locks[i]);
	return b->listcopy;
}

static inline void
prefetch_vec(BuildState *b, int32 i)
{
	const char *p = (const char *) vec_of(b, i);
	int			bytes = Min((int) sizeof(float) * b->info.dim, 1024);

	for (int o = 0; o < bytes; o += 64)
		__builtin_prefetch(p + o);
}

static inline float
dist_ids(BuildState *b, int32 x, int32 y)
{
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
		for (int k = 1; k <= list[0]; k++)
			if (b->visited[list[k]] != b->gen)
				prefetch_vec(b, list[k]);
		for (int k = 1; k <= list[0]; k++)
		{
			int32		e = list[k];
			float		d;

			if (!visit(b, e))
				continue;
			d = hnsw_distance(b->info.metric, vec_of(b, e), qv, b->info.dim);
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

/* Add new to e's list on level, pruned with the heuristic when full. */
static void
link_back_locked(BuildState *b, int32 e, int level, int32 new, float dnew)
{
	int32	   *list = list_of(b, e, level);
	int			cap = hnsw_level_capacity(b->info.m, level);
	int			n = list[0];

	if (n < cap)
	{
		list[n + 1] = new;
		list[0] = n + 1;
		return;
	}
	for (int i = 1; i <= n; i++)
		prefetch_vec(b, list[i]);
	/* candidates sorted by distance to e (insertion sort, n <= 2m + 1) */
	for (int i = 0; i <= n; i++)
	{
		int32		id = i < n ? list[i + 1] : new;
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
	}
	n = select_mem(b, b->cand_ids, b->cand_d, n + 1, cap, true);
	memcpy(list + 1, b->cand_ids, sizeof(int32) * n);
	list[0] = n;
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
	nold = mine[0];
	memcpy(b->listcopy, mine + 1, sizeof(int32) * nold);
	memcpy(mine + 1, ids, sizeof(int32) * n);
	for (int k = 0; k < nold && n < cap; k++)
	{
		bool		dup = false;

		for (int j = 0; j < n && !dup; j++)
			dup = mine[j + 1] == b->listcopy[k];
		if (!dup)
			mine[++n] = b->listcopy[k];
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

	ep.d = hnsw_distance(b->info.metric, vec_of(b, ep.id), qv, b->info.dim);
	for (int lc = maxlevel; lc > level; lc--)
	{
		bool		moved = true;

		while (moved)
		{
			int32	   *list = read_list(b, ep.id, lc);

			moved = false;
			for (int k = 1; k <= list[0]; k++)
			{
				float		d = hnsw_distance(b->info.metric, vec_of(b, list[k]), qv, b->info.dim);

				if (d < ep.d)
				{
					ep.d = d;
					ep.id = list[k];
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
			link_back_mem(b, b->keep[i], lc,
						  q, hnsw_distance(b->info.metric, vec_of(b, b->keep[i]), qv, b->info.dim));
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

			for (int k = 1; k <= list[0]; k++)
				if (visit(b, list[k]))
					order[tail++] = list[k];
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
					hnsw_slot_set(&ls[j], j < list[0] ? addr[list[j + 1]] : HNSW_INVALID_ADDR);
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
	b->listcopy = palloc(sizeof(int32) * (2 * b->info.m + 1));
}
