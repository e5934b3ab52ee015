/*
 * hnsw_reach.c
 *	  VACUUM links the elements no scan can reach back into an ecml_hnsw
 *	  graph.
 *
 * HNSW does not keep every element reachable: a full neighbour list that
 * is pruned with the heuristic can drop an element's last way in.  It
 * happens most to an element an insert placed where it found few live
 * neighbours (a region whose rows were deleted, while VACUUM removes
 * them), and an index scan then never returns its row.
 *
 * So VACUUM's cleanup walks level 0 breadth first from the entry point,
 * where every scan starts, remembering for each element the one it was
 * first reached from (a tree of links), then goes over the element pages
 * for the elements the walk did not reach.  Each is linked from one of its
 * own neighbours that the walk reached, in a free slot or in place of a
 * link that is not one of the tree's: what that link led to is still
 * reached through the tree, so nothing the walk reached is lost.  The walk
 * then goes on from the element.  An element none of whose neighbours is
 * reachable waits for a later round, once others are linked; what still
 * stays unreached (no reached neighbour has a slot the walk did not need,
 * or its neighbours are all gone) is counted at DEBUG1.
 * Inserts and scans run meanwhile; an insert that prunes a tree link only
 * makes this pass less complete, as any prune could.
 *
 * CREATE INDEX runs the same pass at its end.  It costs one read of every
 * element, in graph order, and a map of all their addresses (48 to 80
 * bytes each); when that would exceed maintenance_work_mem the pass links
 * nothing (DEBUG1 says so).  Not done under inner product (see
 * hnsw_relink_unreached).
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "common/hashfn.h"
#include "ecml_compat.h"
#include "hnsw.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

typedef struct Reach
{
	Relation	index;
	HnswIndexInfo info;
	BufferAccessStrategy strategy;
	/* reached elements (open addressing) and the one each was reached from */
	HnswAddr   *keys;
	HnswAddr   *parents;
	uint32		mask;
	uint32		nkeys;
	HnswAddr   *queue;			/* the walk's queue, all it ever held */
	int64		nqueue;
	int64		qcap;
	Size		memlimit;		/* maintenance_work_mem */
	bool		full;			/* the map and queue would exceed it */
	Buffer		rbuf;
} Reach;

static uint32
reach_slot(const Reach *r, HnswAddr a)
{
	uint32		i = murmurhash32((uint32) (a ^ (a >> 32))) & r->mask;

	while (r->keys[i] != HNSW_INVALID_ADDR && r->keys[i] != a)
		i = (i + 1) & r->mask;
	return i;
}

static void
reach_grow(Reach *r)
{
	HnswAddr   *keys = r->keys;
	HnswAddr   *parents = r->parents;
	uint32		size = r->mask + 1;

	r->mask = size * 2 - 1;
	r->keys = palloc_extended(sizeof(HnswAddr) * (Size) size * 2, MCXT_ALLOC_HUGE);
	r->parents = palloc_extended(sizeof(HnswAddr) * (Size) size * 2, MCXT_ALLOC_HUGE);
	memset(r->keys, 0xff, sizeof(HnswAddr) * (Size) size * 2);
	for (uint32 j = 0; j < size; j++)
		if (keys[j] != HNSW_INVALID_ADDR)
		{
			uint32		i = reach_slot(r, keys[j]);

			r->keys[i] = keys[j];
			r->parents[i] = parents[j];
		}
	pfree(keys);
	pfree(parents);
}

static bool
reached(const Reach *r, HnswAddr a)
{
	return r->keys[reach_slot(r, a)] == a;
}

/* Is the link from -> a one of the tree's? */
static bool
tree_link(const Reach *r, HnswAddr from, HnswAddr a)
{
	uint32		i = reach_slot(r, a);

	return r->keys[i] == a && r->parents[i] == from;
}

/* Queue a, first reached from parent, unless it was reached before. */
static void
reach_push(Reach *r, HnswAddr a, HnswAddr parent)
{
	uint32		i;

	if (a == HNSW_INVALID_ADDR || r->full)
		return;
	/* the map doubles, and the queue may double too */
	if ((r->nkeys + 1) * 2 > r->mask + 1 &&
		(Size) (r->mask + 1) * 4 * sizeof(HnswAddr) + r->qcap * 2 * sizeof(HnswAddr) >
		r->memlimit)
	{
		r->full = true;
		return;
	}
	if ((r->nkeys + 1) * 2 > r->mask + 1)
		reach_grow(r);
	i = reach_slot(r, a);
	if (r->keys[i] == a)
		return;
	r->keys[i] = a;
	r->parents[i] = parent;
	r->nkeys++;
	if (r->nqueue == r->qcap)
	{
		r->qcap *= 2;
		r->queue = repalloc_huge(r->queue, sizeof(HnswAddr) * r->qcap);
	}
	r->queue[r->nqueue++] = a;
}

/* Walk level 0 from the queue's entries at from and after. */
static void
reach_walk(Reach *r, int64 from)
{
	HnswAddr	nb[2 * HNSW_M_MAX];

	for (int64 i = from; i < r->nqueue && !r->full; i++)
	{
		int			lv;
		int			n;

		if ((i & 255) == 0)
			ecml_vacuum_delay_point();
		n = hnsw_read_neighbours(r->index, &r->info, &r->rbuf, r->queue[i], 0, nb, NULL,
								 &lv, NULL);
		for (int j = 0; j < n; j++)
			reach_push(r, nb[j], r->queue[i]);
	}
}

/* The live elements of the index the walk did not reach, into *out. */
static int64
reach_missed(Reach *r, HnswAddr **out)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(r->index);
	int64		n = 0,
				cap = 64;
	HnswAddr   *missed = palloc(sizeof(HnswAddr) * cap);

	for (BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf = ReadBufferExtended(r->index, MAIN_FORKNUM, blkno, RBM_NORMAL,
											 r->strategy);
		Page		page;
		OffsetNumber maxoff = InvalidOffsetNumber;

		ecml_vacuum_delay_point();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!PageIsNew(page) && HnswPageGetOpaque(page)->flags == HNSW_PAGE_ELEMENT)
			maxoff = PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		iid = PageGetItemId(page, off);
			HnswAddr	a = HnswMakeAddr(blkno, off);

			if (!ItemIdIsNormal(iid) || reached(r, a) ||
				(((HnswElementTuple) PageGetItem(page, iid))->flags & HNSW_ELEMENT_DELETED))
				continue;
			if (n == cap)
			{
				cap *= 2;
				missed = repalloc_huge(missed, sizeof(HnswAddr) * cap);
			}
			missed[n++] = a;
		}
		UnlockReleaseBuffer(buf);
	}
	*out = missed;
	return n;
}

/*
 * Link e (reached) to a (not reached) at level 0, in a free slot or in
 * place of a link of e that is not one of the tree's (see the file
 * header), under e's page lock alone.  Returns whether e links to a now.
 */
static bool
link_from(Reach *r, HnswAddr e_addr, HnswAddr a)
{
	Buffer		buf = ReadBufferExtended(r->index, MAIN_FORKNUM, HnswAddrBlock(e_addr),
										 RBM_NORMAL, r->strategy);
	int			cap = hnsw_level_capacity(r->info.m, 0);
	Page		page;
	ItemId		iid = NULL;
	HnswElementTuple e = NULL;
	HnswSlot   *slots = NULL;
	int			slot = -1;
	GenericXLogState *state;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	if (!PageIsNew(page) && HnswPageGetOpaque(page)->flags == HNSW_PAGE_ELEMENT &&
		HnswAddrOffset(e_addr) <= PageGetMaxOffsetNumber(page))
		iid = PageGetItemId(page, HnswAddrOffset(e_addr));
	if (iid && ItemIdIsNormal(iid))
		e = (HnswElementTuple) PageGetItem(page, iid);
	if (e != NULL && !(e->flags & HNSW_ELEMENT_DELETED))
	{
		slots = HnswElementSlots(e, r->info.storage, r->info.dim);
		/*
		 * the first free slot (or a's, when e links to it already), else
		 * the last link to a reached element that is not the tree's
		 */
		for (int i = 0; i < cap && slot < 0; i++)
			if (hnsw_slot_addr(&slots[i]) == HNSW_INVALID_ADDR ||
				hnsw_slot_addr(&slots[i]) == a)
				slot = i;
		for (int i = cap - 1; i >= 0 && slot < 0; i--)
		{
			HnswAddr	x = hnsw_slot_addr(&slots[i]);

			if (reached(r, x) && !tree_link(r, e_addr, x))
				slot = i;
		}
	}
	if (slot < 0 || hnsw_slot_addr(&slots[slot]) == a)
	{
		UnlockReleaseBuffer(buf);
		return slot >= 0;
	}
	state = GenericXLogStart(r->index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	e = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, HnswAddrOffset(e_addr)));
	hnsw_slot_set(&HnswElementSlots(e, r->info.storage, r->info.dim)[slot], a);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	return true;
}

typedef enum
{
	RELINK_LINKED,				/* linked from a neighbour, walked on from */
	RELINK_DONE,				/* reached meanwhile, or gone */
	RELINK_NOT_YET				/* no reached neighbour could take it */
} Relink;

/*
 * Link the unreached element at a from a reached neighbour of its own and
 * walk on from it.  An element reached meanwhile, through one linked
 * before, is done.
 */
static Relink
reach_relink(Reach *r, HnswAddr a)
{
	HnswAddr	own[2 * HNSW_M_MAX];
	int			lv;
	bool		deleted;
	int			n;

	if (reached(r, a))
		return RELINK_DONE;
	n = hnsw_read_neighbours(r->index, &r->info, &r->rbuf, a, 0, own, NULL, &lv, &deleted);
	if (n < 0 || deleted)
		return RELINK_DONE;
	for (int j = 0; j < n; j++)
	{
		int64		from = r->nqueue;

		if (!reached(r, own[j]) || !link_from(r, own[j], a))
			continue;
		reach_push(r, a, own[j]);
		reach_walk(r, from);
		return RELINK_LINKED;
	}
	return RELINK_NOT_YET;
}

/*
 * The cleanup's pass (see the file header); returns the number of
 * elements linked back.
 */
int64
hnsw_relink_unreached(Relation index, BufferAccessStrategy strategy)
{
	HnswMetaPageData meta;
	Reach		r;
	HnswAddr   *missed = NULL;
	int64		nmissed;
	int64		linked = 0;
	MemoryContext ctx,
				old;

	/*
	 * Not under inner product: there an element inside the data's hull is
	 * no query's best match, and tight clusters leave half the elements
	 * with no way in; linking them back took the slots of links searches
	 * need (recall@10 0.90 instead of 0.95 in test/pgtap/hnsw.sql).
	 */
	if (hnsw_index_metric(index) == HNSW_METRIC_IP)
		return 0;
	hnsw_read_meta(index, &meta);
	if (meta.dim == 0 || meta.entry_blkno == InvalidBlockNumber)
		return 0;
	ctx = AllocSetContextCreate(CurrentMemoryContext, "ecml_hnsw relink",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);
	r.index = index;
	hnsw_meta_info(index, &meta, &r.info);
	r.strategy = strategy;
	r.rbuf = InvalidBuffer;
	r.qcap = 1024;
	r.nqueue = 0;
	r.queue = palloc(sizeof(HnswAddr) * r.qcap);
	r.memlimit = (Size) maintenance_work_mem * 1024;
	r.full = false;
	r.mask = 1023;
	r.nkeys = 0;
	r.keys = palloc(sizeof(HnswAddr) * (r.mask + 1));
	r.parents = palloc(sizeof(HnswAddr) * (r.mask + 1));
	memset(r.keys, 0xff, sizeof(HnswAddr) * (r.mask + 1));

	reach_push(&r, HnswMakeAddr(meta.entry_blkno, meta.entry_offno), HNSW_INVALID_ADDR);
	reach_walk(&r, 0);
	if (r.full)
	{
		/* a partial walk would link what is reachable anyway */
		ereport(DEBUG1,
				(errmsg_internal("ecml_hnsw index \"%s\": more elements than maintenance_work_mem can map, none linked back",
								 RelationGetRelationName(index))));
		nmissed = 0;
	}
	else
		nmissed = reach_missed(&r, &missed);
	/* rounds while they link some: a later one may reach an earlier miss */
	while (nmissed > 0)
	{
		int64		left = 0;

		for (int64 i = 0; i < nmissed; i++)
		{
			Relink		res = reach_relink(&r, missed[i]);

			if (res == RELINK_LINKED)
				linked++;
			else if (res == RELINK_NOT_YET)
				missed[left++] = missed[i];
		}
		if (left == nmissed)
			break;
		nmissed = left;
	}
	if (nmissed > 0)
		ereport(DEBUG1,
				(errmsg_internal("ecml_hnsw index \"%s\": %lld elements stay unreachable",
								 RelationGetRelationName(index), (long long) nmissed)));
	if (BufferIsValid(r.rbuf))
		ReleaseBuffer(r.rbuf);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return linked;
}
