/*
 * hnsw_vacuum.c
 *	  ambulkdelete and amvacuumcleanup for ecml_hnsw.
 *
 * Bulk delete runs in three passes over the element pages:
 *	1. find the elements whose heap rows are dead (share locks) and mark
 *	   them HNSW_ELEMENT_DELETED (exclusive lock, generic WAL), so that
 *	   inserts stop choosing them as neighbours; then wait, through
 *	   HNSW_UPDATE_LOCK, for the inserts that may have chosen one before it
 *	   was marked;
 *	2. repair every element that points to a dead one, including those
 *	   inserted since pass 1 (a new row next to deleted ones may have been
 *	   linked to nothing else): on that level it keeps its live neighbours
 *	   and refills the dead ones' slots with the heuristic (Algorithm 4)
 *	   from the dead ones' live neighbours; the list is written if it did
 *	   not change meanwhile (exclusive lock on its page only, generic WAL)
 *	   and the new neighbours link back to it; a dead entry point is
 *	   replaced by the live element of the highest level;
 *	3. remove the dead elements from their pages (their line pointers
 *	   become unused; nothing links to them any more but the lists of
 *	   other dead ones) and record the free space for inserts.
 * Cleanup, after every VACUUM, links the elements no scan can reach back
 * into the graph (hnsw_reach.c).
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "ecml_compat.h"
#include "hnsw.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

typedef struct VacuumState
{
	Relation	index;
	HnswIndexInfo info;
	BufferAccessStrategy strategy;
	HnswAddrSet dead;
	HnswAddrSet live;
	HnswSearch	search;			/* the repairs' candidates */
	Buffer		rbuf;			/* pin for reading other elements */
} VacuumState;

/* Is the element at a dead (pass 1) or gone?  Unknown addresses are looked at. */
static bool
is_bad(VacuumState *v, HnswAddr a)
{
	HnswAddr	dummy;
	int			lv;

	if (hnsw_addrset_contains(&v->dead, a))
		return true;
	if (hnsw_addrset_contains(&v->live, a))
		return false;

	/*
	 * an element added after pass 1, a reference to one removed earlier, or
	 * one marked by a VACUUM that did not finish
	 */
	{
		bool		deleted;

		return hnsw_read_neighbours(v->index, &v->info, &v->rbuf, a, HNSW_MAX_LEVEL + 1,
									&dummy, NULL, &lv, &deleted) < 0 || deleted;
	}
}

/*
 * New neighbours on level for the element at addr (vector vec) whose list
 * old (n entries) has dead ones.  Its live neighbours stay; the slots of
 * the dead ones are refilled, nearest first, from the live neighbours of
 * the dead ones, each kept when it is nearer to the element than to every
 * neighbour kept (the heuristic of Algorithm 4).  Two alternatives did
 * worse on 20,000 clustered rows with a third deleted: choosing the whole
 * list again cut the long links the graph is navigated by (a search from a
 * random element at level 0 found its target 5% of the time, against 98%
 * in a fresh graph), and refilling from a layer search of ef_construction
 * gave recall@10 0.956 against 0.972 here, at 30 times the cost.
 *
 * But when at least half the list is dead, the element sits in a region
 * whose rows were deleted, and the dead ones' live neighbours may be only
 * other elements of that region (rows inserted there after the delete):
 * refilled from those alone, the region became an island no scan reached
 * once VACUUM removed the elements around it.  Such a list is refilled from
 * a layer search of ef_construction that passes through the dead elements
 * to the live ones beyond them, as an insert would search.  Into out,
 * returns how many.
 */
static int
repair_list(VacuumState *v, HnswAddr addr, const float *vec, int level,
			const HnswAddr *old, int n, HnswAddr *out)
{
	int			cap = hnsw_level_capacity(v->info.m, level);
	HnswSearch *s = &v->search;
	float	   *kept = palloc(sizeof(float) * v->info.dim * (cap + 1));
	int		   *found;
	int			nfound,
				nkeep = 0,
				nbad = 0;

	for (int i = 0; i < n; i++)
		nbad += is_bad(v, old[i]) ? 1 : 0;
	s->query = vec;
	hnsw_search_reset(s);
	hnsw_addrset_add(&s->visited, addr);
	if (2 * nbad >= n)
	{
		/* through the deleted region: seeded at every old neighbour */
		for (int i = 0; i < n; i++)
		{
			int			c;

			if (!hnsw_addrset_add(&s->visited, old[i]))
				continue;
			c = hnsw_search_add(s, old[i]);
			if (c >= 0)
				hnsw_search_seed(s, c);
		}
		hnsw_search_layer(s, v->info.ef_construction, level);
	}
	for (int i = 0; i < n; i++)
		hnsw_addrset_add(&s->visited, old[i]);
	/* candidates: the neighbours of the dead neighbours, nearest first */
	for (int i = 0; i < n && 2 * nbad < n; i++)
	{
		HnswAddr	nb[2 * HNSW_M_MAX];
		int			lv,
					k;

		if (!is_bad(v, old[i]))
			continue;
		k = hnsw_read_neighbours(v->index, &v->info, &v->rbuf, old[i], level, nb, NULL, &lv,
								 NULL);
		for (int j = 0; j < k; j++)
		{
			int			c;

			if (!hnsw_addrset_add(&s->visited, nb[j]) || is_bad(v, nb[j]))
				continue;
			c = hnsw_search_add(s, nb[j]);
			if (c >= 0)
				hnsw_heap_push(&s->W, s->cands, c);
		}
	}
	nfound = s->W.n;
	found = palloc(sizeof(int) * Max(nfound, 1));
	while (s->W.n > 0)
	{
		int			i = hnsw_heap_pop(&s->W, s->cands);

		found[s->W.n] = i;
	}

	/* the live old neighbours stay: long links a local search would not find */
	for (int i = 0; i < n && nkeep < cap; i++)
	{
		HnswAddr	dummy;
		int			lv;

		if (is_bad(v, old[i]) ||
			hnsw_read_neighbours(v->index, &v->info, &v->rbuf, old[i], HNSW_MAX_LEVEL + 1,
								 &dummy, kept + (Size) nkeep * v->info.dim, &lv, NULL) < 0)
			continue;
		out[nkeep++] = old[i];
	}
	/* the freed slots: Algorithm 4 over those candidates */
	for (int k = 0; k < nfound && nkeep < cap; k++)
	{
		HnswCand   *c = &s->cands[found[k]];
		float	   *cv = kept + (Size) nkeep * v->info.dim;
		HnswAddr	dummy;
		int			lv;
		bool		good = true;

		for (int r = 0; r < nkeep && good; r++)
			good = (out[r] != c->addr);
		if (!good || is_bad(v, c->addr) ||
			hnsw_read_neighbours(v->index, &v->info, &v->rbuf, c->addr, HNSW_MAX_LEVEL + 1,
								 &dummy, cv, &lv, NULL) < 0 || lv < level)
			continue;
		for (int r = 0; r < nkeep && good; r++)
			good = hnsw_distance(v->info.metric, cv, kept + (Size) r * v->info.dim,
								 v->info.dim) >= c->dist;
		if (good)
			out[nkeep++] = c->addr;
	}
	pfree(kept);
	pfree(found);
	return nkeep;
}

/*
 * Pass 2 for one element: repair each of its levels that points to a dead
 * one.  The repaired list is computed from the list as read, without a
 * lock; an insert may have linked to the element since (the inserts keep
 * coming while VACUUM runs).  Such links are kept, ahead of the repair's
 * own choice when the list overflows, and the dead ones go either way:
 * retrying until the list stays still could give up on an element that
 * inserts keep linking to, and leave it pointing only to dead ones.
 */
static void
repair_element(VacuumState *v, HnswAddr addr)
{
	float	   *vec = palloc(sizeof(float) * v->info.dim);
	HnswAddr	old[2 * HNSW_M_MAX];
	HnswAddr	fixed[2 * HNSW_M_MAX];
	HnswAddr	merged[2 * HNSW_M_MAX];
	int			level;

	if (hnsw_read_neighbours(v->index, &v->info, &v->rbuf, addr, HNSW_MAX_LEVEL + 1,
							 old, vec, &level, NULL) < 0)
		return;
	for (int l = 0; l <= level; l++)
	{
		int			n = hnsw_read_neighbours(v->index, &v->info, &v->rbuf, addr, l,
											 old, NULL, &level, NULL);
		bool		any_bad = false;
		int			nfixed,
					nmerged = 0;
		int			cap = hnsw_level_capacity(v->info.m, l);
		Buffer		buf;
		Page		page;
		HnswSlot   *slots;
		GenericXLogState *state;

		if (n < 0)
			break;
		for (int i = 0; i < n && !any_bad; i++)
			any_bad = is_bad(v, old[i]);
		if (!any_bad)
			continue;
		nfixed = repair_list(v, addr, vec, l, old, n, fixed);

		buf = ReadBufferExtended(v->index, MAIN_FORKNUM, HnswAddrBlock(addr),
								 RBM_NORMAL, v->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(v->index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		slots = HnswElementSlots(PageGetItem(page, PageGetItemId(page, HnswAddrOffset(addr))),
								 v->info.storage, v->info.dim) + hnsw_level_start(v->info.m, l);
		/* links made since the list was read (no reads of other pages here) */
		for (int i = 0; i < cap; i++)
		{
			HnswAddr	a = hnsw_slot_addr(&slots[i]);
			bool		known = false;

			if (a == HNSW_INVALID_ADDR)
				break;
			for (int j = 0; j < n && !known; j++)
				known = (old[j] == a);
			if (!known && !hnsw_addrset_contains(&v->dead, a))
				merged[nmerged++] = a;
		}
		for (int i = 0; i < nfixed && nmerged < cap; i++)
		{
			bool		dup = false;

			for (int j = 0; j < nmerged && !dup; j++)
				dup = (merged[j] == fixed[i]);
			if (!dup)
				merged[nmerged++] = fixed[i];
		}
		for (int i = 0; i < cap; i++)
			hnsw_slot_set(&slots[i], i < nmerged ? merged[i] : HNSW_INVALID_ADDR);
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
		/* the new neighbours link back, as an insert links (Algorithm 1) */
		for (int i = 0; i < nfixed; i++)
		{
			bool		was = false;

			for (int j = 0; j < n && !was; j++)
				was = (old[j] == fixed[i]);
			if (!was)
				hnsw_link_back(v->index, &v->info, fixed[i], l, addr, vec);
		}
	}
	pfree(vec);
}

/* Replace a dead entry point by the highest live element (or none). */
static void
replace_entry(VacuumState *v, HnswAddr best, int best_level)
{
	Buffer		buf = ReadBuffer(v->index, HNSW_METAPAGE_BLKNO);
	GenericXLogState *state;
	Page		page;
	HnswMetaPage meta;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(v->index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	meta = HnswPageGetMeta(page);
	if (meta->entry_blkno != InvalidBlockNumber &&
		is_bad(v, HnswMakeAddr(meta->entry_blkno, meta->entry_offno)))
	{
		meta->entry_blkno = best == HNSW_INVALID_ADDR ? InvalidBlockNumber : HnswAddrBlock(best);
		meta->entry_offno = best == HNSW_INVALID_ADDR ? InvalidOffsetNumber : HnswAddrOffset(best);
		meta->entry_level = best_level;
		GenericXLogFinish(state);
	}
	else
		GenericXLogAbort(state);
	UnlockReleaseBuffer(buf);
}

/*
 * Read block blkno for a vacuum pass and share-lock it.  Returns the locked
 * buffer if it is an element page, else releases it and returns
 * InvalidBuffer (new pages and other page kinds hold no elements).
 */
static Buffer
lock_element_page(Relation index, BlockNumber blkno, BufferAccessStrategy strategy)
{
	Buffer		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
	Page		page;

	ecml_vacuum_delay_point();
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (!PageIsNew(page) && HnswPageGetOpaque(page)->flags == HNSW_PAGE_ELEMENT)
		return buf;
	UnlockReleaseBuffer(buf);
	return InvalidBuffer;
}

/*
 * Pass 1's mark on the n dead elements at offs of page blkno (exclusive
 * lock, one generic WAL record).  Only VACUUM removes elements, so they are
 * still there.
 */
static void
mark_deleted(VacuumState *v, BlockNumber blkno, const OffsetNumber *offs, int n)
{
	Buffer		buf = ReadBufferExtended(v->index, MAIN_FORKNUM, blkno, RBM_NORMAL,
										 v->strategy);
	GenericXLogState *state;
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(v->index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	for (int i = 0; i < n; i++)
	{
		ItemId		iid = PageGetItemId(page, offs[i]);

		if (ItemIdIsNormal(iid))
			((HnswElementTuple) PageGetItem(page, iid))->flags |= HNSW_ELEMENT_DELETED;
	}
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}

/*
 * Pass 1: sort the elements into v->dead and v->live by the callback, mark
 * the dead ones; returns the number of live ones.
 */
static double
find_dead(VacuumState *v, BlockNumber nblocks, IndexBulkDeleteCallback callback,
		  void *callback_state)
{
	double		live = 0;
	OffsetNumber offs[MaxOffsetNumber];

	for (BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf = lock_element_page(v->index, blkno, v->strategy);
		Page		page;
		int			ndead = 0;

		if (!BufferIsValid(buf))
			continue;
		page = BufferGetPage(buf);
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			ItemId		iid = PageGetItemId(page, off);
			HnswElementTuple e;

			if (!ItemIdIsNormal(iid))
				continue;
			e = (HnswElementTuple) PageGetItem(page, iid);
			if (callback(&e->heaptid, callback_state))
			{
				hnsw_addrset_add(&v->dead, HnswMakeAddr(blkno, off));
				if (!(e->flags & HNSW_ELEMENT_DELETED))
					offs[ndead++] = off;
			}
			else
			{
				hnsw_addrset_add(&v->live, HnswMakeAddr(blkno, off));
				live++;
			}
		}
		UnlockReleaseBuffer(buf);
		if (ndead > 0)
			mark_deleted(v, blkno, offs, ndead);
	}
	return live;
}

/*
 * Pass 2: repair every element of the index now that points to a dead one
 * (those inserted since pass 1 too); into *best the live element of the
 * highest level, for the entry point.
 */
static void
repair_all(VacuumState *v, HnswAddr *best, int *best_level)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(v->index);
	HnswAddr	addrs[MaxOffsetNumber];

	*best = HNSW_INVALID_ADDR;
	*best_level = -1;
	for (BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf = lock_element_page(v->index, blkno, v->strategy);
		Page		page;
		int			n = 0;

		if (!BufferIsValid(buf))
			continue;
		page = BufferGetPage(buf);
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			ItemId		iid = PageGetItemId(page, off);
			HnswElementTuple e;

			if (!ItemIdIsNormal(iid))
				continue;
			e = (HnswElementTuple) PageGetItem(page, iid);
			if ((e->flags & HNSW_ELEMENT_DELETED) ||
				hnsw_addrset_contains(&v->dead, HnswMakeAddr(blkno, off)))
				continue;
			addrs[n++] = HnswMakeAddr(blkno, off);
			if (e->level > *best_level)
			{
				*best_level = e->level;
				*best = HnswMakeAddr(blkno, off);
			}
		}
		UnlockReleaseBuffer(buf);
		for (int i = 0; i < n; i++)
		{
			ecml_vacuum_delay_point();
			repair_element(v, addrs[i]);
		}
	}
}

IndexBulkDeleteResult *
hnsw_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	HnswMetaPageData meta;
	VacuumState v;
	BlockNumber nblocks;
	HnswAddr	best;
	int			best_level;
	MemoryContext ctx,
				old;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	hnsw_read_meta(index, &meta);
	nblocks = RelationGetNumberOfBlocks(index);
	stats->num_pages = nblocks;
	if (meta.dim == 0)
		return stats;

	ctx = AllocSetContextCreate(CurrentMemoryContext, "ecml_hnsw vacuum",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);
	v.index = index;
	hnsw_meta_info(index, &meta, &v.info);
	v.strategy = info->strategy;
	v.rbuf = InvalidBuffer;
	hnsw_addrset_init(&v.dead, 1024);
	hnsw_addrset_init(&v.live, 1024);
	hnsw_search_init(&v.search, index, &v.info, NULL);
	v.search.skip_deleted = true;

	stats->num_index_tuples = find_dead(&v, nblocks, callback, callback_state);

	if (v.dead.n > 0)
	{
		/*
		 * An insert that read a dead element before pass 1 marked it may
		 * still link its new element to it, even to it alone: wait for such
		 * inserts to finish, so that pass 2 sees and repairs what they did.
		 * Inserts that start later pass the marked elements by.
		 */
		LockPage(index, HNSW_UPDATE_LOCK, ExclusiveLock);
		UnlockPage(index, HNSW_UPDATE_LOCK, ExclusiveLock);

		repair_all(&v, &best, &best_level);
		replace_entry(&v, best, Max(best_level, 0));

		/* pass 3 */
		for (BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
		{
			Buffer		buf;
			Page		page;
			GenericXLogState *state = NULL;
			int			removed = 0;

			ecml_vacuum_delay_point();
			buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, info->strategy);
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			page = BufferGetPage(buf);
			if (!PageIsNew(page) && HnswPageGetOpaque(page)->flags == HNSW_PAGE_ELEMENT)
			{
				for (OffsetNumber off = PageGetMaxOffsetNumber(page); off >= FirstOffsetNumber; off--)
				{
					HnswAddr	a = HnswMakeAddr(blkno, off);

					if (!ItemIdIsNormal(PageGetItemId(page, off)))
						continue;
					if (!hnsw_addrset_contains(&v.dead, a))
						continue;
					if (state == NULL)
					{
						state = GenericXLogStart(index);
						page = GenericXLogRegisterBuffer(state, buf, 0);
					}
					PageIndexTupleDeleteNoCompact(page, off);
					removed++;
				}
			}
			if (state)
				GenericXLogFinish(state);
			if (removed > 0)
				RecordPageWithFreeSpace(index, blkno, PageGetFreeSpace(BufferGetPage(buf)));
			UnlockReleaseBuffer(buf);
			stats->tuples_removed += removed;
		}
	}
	if (BufferIsValid(v.rbuf))
		ReleaseBuffer(v.rbuf);
	hnsw_search_end(&v.search);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return stats;
}

IndexBulkDeleteResult *
hnsw_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	index = info->index;

	if (info->analyze_only)
		return stats;
	if (stats == NULL)
	{
		/* no bulk delete ran: count the elements */
		BlockNumber nblocks = RelationGetNumberOfBlocks(index);

		stats = palloc0(sizeof(IndexBulkDeleteResult));
		stats->num_pages = nblocks;
		for (BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
		{
			Buffer		buf = lock_element_page(index, blkno, info->strategy);
			Page		page;

			if (!BufferIsValid(buf))
				continue;
			page = BufferGetPage(buf);
			for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
				if (ItemIdIsNormal(PageGetItemId(page, off)))
					stats->num_index_tuples++;
			UnlockReleaseBuffer(buf);
		}
	}
	FreeSpaceMapVacuum(index);
	hnsw_relink_unreached(index, info->strategy);
	return stats;
}
