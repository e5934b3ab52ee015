/*
 * hnsw_insert.c
 *	  aminsert for ecml_hnsw: insert one element into the graph on disk
 *	  (Malkov & Yashunin, Algorithm 1), also used by a build that outgrew
 *	  maintenance_work_mem.
 *
 * Locking protocol (buffer content locks; every change is one generic WAL
 * record):
 *	- A backend holds at most one element page's content lock at a time,
 *	  plus, only while it holds a new page it just added, the meta page's.
 *	  The meta page is otherwise locked alone (share to read the entry
 *	  point, exclusive to change it, recheck under the lock), so no two
 *	  backends can wait on each other's locks.
 *	- A new element is added to a page with an exclusive lock, with empty
 *	  neighbour lists; nothing points to it yet, so scans cannot reach it.
 *	  Then, level by level from the top, its own list is written (exclusive
 *	  lock on its page, merged with the links that concurrent inserts which
 *	  reached it through a level above already made to it) and each chosen
 *	  neighbour's list is updated; then, when its level is the highest, it
 *	  becomes the entry point.
 *	- Elements VACUUM marked deleted are searched through but never chosen
 *	  as neighbours.  aminsert holds the heavyweight HNSW_UPDATE_LOCK in
 *	  share mode throughout, so that VACUUM, which takes it exclusively
 *	  after marking, knows when no insert can still link to a marked
 *	  element.  No other heavyweight lock but the relation extension lock
 *	  is taken while it is held.
 *	- A neighbour's list is updated optimistically: read it (share lock),
 *	  compute the new list, whose pruning needs other elements' vectors
 *	  read under their own share locks, then take the neighbour's page
 *	  exclusively and write only if the list is still what was read;
 *	  otherwise start over (three tries, then the link stays one-way).
 *	- Scans read under share locks one element at a time, so they see each
 *	  neighbour list either before or after an update, never half of it.
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "hnsw.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/*
 * A uniform number in (0, 1] from the heap row's address (splitmix64's
 * finaliser): levels stay random across rows but the same rows give the
 * same graph, so results are reproducible.
 */
static double
tid_uniform(ItemPointer tid)
{
	uint64		z = ((uint64) ItemPointerGetBlockNumberNoCheck(tid) << 16) |
		ItemPointerGetOffsetNumberNoCheck(tid);

	z += UINT64CONST(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64CONST(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94d049bb133111eb);
	z ^= z >> 31;
	return ((double) (z >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

/* the highest level whose element still fits a page */
static int
fitting_level(int storage, int dim, int m, int level)
{
	while (level > 0 && hnsw_element_size(storage, dim, m, level) > HNSW_MAX_ELEMENT_SIZE)
		level--;
	return level;
}

/*
 * Put an element tuple on a page: one the free space map knows, else the
 * last page, else a new page (recorded as the last one on the meta page).
 */
static HnswAddr
add_element(Relation index, HnswElementTuple tup, Size size)
{
	BlockNumber blkno;
	Buffer		buf;
	Page		page;
	GenericXLogState *state;
	OffsetNumber off;
	HnswMetaPageData meta;

	blkno = GetPageWithFreeSpace(index, size + sizeof(ItemIdData));
	if (blkno == InvalidBlockNumber || blkno == HNSW_METAPAGE_BLKNO)
	{
		hnsw_read_meta(index, &meta);
		blkno = meta.insert_blkno;
	}
	if (blkno != InvalidBlockNumber && blkno != HNSW_METAPAGE_BLKNO &&
		blkno < RelationGetNumberOfBlocks(index))
	{
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		if (!PageIsNew(page) && HnswPageGetOpaque(page)->magic == HNSW_MAGIC &&
			HnswPageGetOpaque(page)->flags == HNSW_PAGE_ELEMENT &&
			PageGetFreeSpace(page) >= size)
		{
			off = PageAddItem(page, (Item) tup, size, InvalidOffsetNumber, false, false);
			if (off != InvalidOffsetNumber)
			{
				GenericXLogFinish(state);
				UnlockReleaseBuffer(buf);
				return HnswMakeAddr(blkno, off);
			}
		}
		GenericXLogAbort(state);
		/* not enough room after all: the map was stale */
		RecordPageWithFreeSpace(index, blkno, PageGetFreeSpace(BufferGetPage(buf)));
		UnlockReleaseBuffer(buf);
	}

	/* a new page */
	LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBuffer(index, P_NEW);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	UnlockRelationForExtension(index, ExclusiveLock);
	blkno = BufferGetBlockNumber(buf);

	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
	hnsw_init_page(page, HNSW_PAGE_ELEMENT);
	off = PageAddItem(page, (Item) tup, size, InvalidOffsetNumber, false, false);
	if (off == InvalidOffsetNumber)
		elog(ERROR, "could not add an element of %zu bytes to a new page of index \"%s\"",
			 size, RelationGetRelationName(index));
	{
		Buffer		metabuf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
		Page		metapage;

		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		metapage = GenericXLogRegisterBuffer(state, metabuf, 0);
		HnswPageGetMeta(metapage)->insert_blkno = blkno;
		GenericXLogFinish(state);
		UnlockReleaseBuffer(metabuf);
	}
	UnlockReleaseBuffer(buf);
	return HnswMakeAddr(blkno, off);
}

/*
 * Write the neighbours of level of the new element at addr (n of them).
 * The element is on its page from the start, with empty lists, so a
 * concurrent insert may already have found it and linked back to itself
 * here: those links are kept, ahead of the chosen ones when the list
 * overflows (they may be the other element's only way in; the chosen ones
 * all link back to this element whether they fit or not).  Overwriting the
 * list lost them, and left rows that no scan could reach.
 */
static void
write_neighbours(Relation index, const HnswIndexInfo *info, HnswAddr addr,
				 int level, const HnswAddr *nb, int n)
{
	Buffer		buf = ReadBuffer(index, HnswAddrBlock(addr));
	GenericXLogState *state;
	Page		page;
	HnswElementTuple e;
	HnswSlot   *slots;
	int			cap = hnsw_level_capacity(info->m, level);
	HnswAddr	merged[2 * HNSW_M_MAX];
	int			nmerged = 0;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	e = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, HnswAddrOffset(addr)));
	slots = HnswElementSlots(e, info->storage, info->dim) + hnsw_level_start(info->m, level);
	for (int i = 0; i < cap; i++)
	{
		HnswAddr	a = hnsw_slot_addr(&slots[i]);
		bool		chosen = false;

		if (a == HNSW_INVALID_ADDR)
			break;
		for (int j = 0; j < n && !chosen; j++)
			chosen = (nb[j] == a);
		if (!chosen)
			merged[nmerged++] = a;
	}
	for (int j = 0; j < n && nmerged < cap; j++)
		merged[nmerged++] = nb[j];
	for (int i = 0; i < cap; i++)
		hnsw_slot_set(&slots[i], i < nmerged ? merged[i] : HNSW_INVALID_ADDR);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}

/* Scratch of hnsw_link_back, for a list of cap entries plus the new one. */
typedef struct LinkBack
{
	int			cap;
	HnswAddr   *orig;			/* the list as read */
	HnswAddr   *list;			/* candidates */
	HnswAddr   *newlist;		/* the list to write */
	float	   *e_vec;			/* the neighbour's vector */
	float	   *vecs;			/* candidates' vectors */
	float	   *dists;			/* candidates' distances to e */
	int		   *order;
	int		   *keep;
	bool	   *deleted;		/* candidates VACUUM is removing */
} LinkBack;

static void
link_back_init(LinkBack *lb, const HnswIndexInfo *info, int level)
{
	int			cap = hnsw_level_capacity(info->m, level);

	lb->cap = cap;
	lb->orig = palloc(sizeof(HnswAddr) * cap);
	lb->list = palloc(sizeof(HnswAddr) * (cap + 1));
	lb->newlist = palloc(sizeof(HnswAddr) * cap);
	lb->e_vec = palloc(sizeof(float) * info->dim);
	lb->vecs = palloc(sizeof(float) * info->dim * (cap + 1));
	lb->dists = palloc(sizeof(float) * (cap + 1));
	lb->order = palloc(sizeof(int) * (cap + 1));
	lb->keep = palloc(sizeof(int) * cap);
	lb->deleted = palloc(sizeof(bool) * (cap + 1));
}

/*
 * The candidates of a full list: the current neighbours that still exist,
 * and the new one last (a neighbour VACUUM is deleting stays a candidate:
 * the repair of this list refills its slot from its neighbours), ordered
 * by distance to e.  Returns their number.
 */
static int
link_back_candidates(LinkBack *lb, Relation index, const HnswIndexInfo *info,
					 Buffer *rbuf, int n, HnswAddr new_addr, const float *new_vec)
{
	int			ncand = 0;
	HnswAddr	dummy;

	for (int i = 0; i < n; i++)
	{
		int			lv;
		float	   *v = lb->vecs + (Size) ncand * info->dim;

		if (hnsw_read_neighbours(index, info, rbuf, lb->list[i], HNSW_MAX_LEVEL + 1,
								 &dummy, v, &lv, &lb->deleted[ncand]) < 0)
			continue;
		lb->list[ncand] = lb->list[i];
		lb->dists[ncand] = hnsw_distance(info->metric, v, lb->e_vec, info->dim);
		ncand++;
	}
	memcpy(lb->vecs + (Size) ncand * info->dim, new_vec, sizeof(float) * info->dim);
	lb->deleted[ncand] = false;
	lb->list[ncand] = new_addr;
	lb->dists[ncand] = hnsw_distance(info->metric, new_vec, lb->e_vec, info->dim);
	ncand++;
	for (int i = 0; i < ncand; i++)
		lb->order[i] = i;
	/* insertion sort: ncand is at most 2m + 1 */
	for (int i = 1; i < ncand; i++)
	{
		int			o = lb->order[i];
		int			j = i;

		while (j > 0 && lb->dists[lb->order[j - 1]] > lb->dists[o])
		{
			lb->order[j] = lb->order[j - 1];
			j--;
		}
		lb->order[j] = o;
	}
	return ncand;
}

/*
 * The pruned list of a full list of n entries into lb->newlist; its
 * length, or -1 when it is the list already there (nothing to write).
 */
static int
link_back_prune(LinkBack *lb, Relation index, const HnswIndexInfo *info, Buffer *rbuf,
				int n, HnswAddr new_addr, const float *new_vec)
{
	int			ncand = link_back_candidates(lb, index, info, rbuf, n, new_addr, new_vec);
	int			nnew;
	bool		kept_new = false;

	nnew = hnsw_select_neighbours(info->metric, info->dim, lb->e_vec, lb->vecs, lb->dists,
								  lb->order, ncand, lb->cap, true, lb->keep);
	for (int i = 0; i < nnew; i++)
	{
		lb->newlist[i] = lb->list[lb->keep[i]];
		if (lb->keep[i] == ncand - 1)
			kept_new = true;
	}

	/*
	 * Pruned, the new element would lose this way in to a neighbour that
	 * VACUUM is removing: it takes the farthest such one's slot instead (an
	 * insert that runs while VACUUM repairs the graph is not linked to
	 * deleted elements, so those may be its only ways in otherwise).
	 */
	if (!kept_new)
	{
		int			victim = -1;

		for (int i = 0; i < nnew; i++)
			if (lb->deleted[lb->keep[i]] &&
				(victim < 0 || lb->dists[lb->keep[i]] > lb->dists[lb->keep[victim]]))
				victim = i;
		if (victim >= 0)
		{
			lb->newlist[victim] = new_addr;
			kept_new = true;
		}
	}
	if (!kept_new && nnew == n)
	{
		bool		unchanged = true;

		for (int i = 0; i < n; i++)
			if (lb->newlist[i] != lb->orig[i])
				unchanged = false;
		if (unchanged)
			return -1;
	}
	return nnew;
}

typedef enum
{
	LINK_WRITTEN,				/* done */
	LINK_GONE,					/* e no longer exists: nothing to do */
	LINK_CHANGED				/* the list changed since it was read: retry */
} LinkWrite;

/* Write newlist[0..nnew) over e's list at level if it is still orig[0..n). */
static LinkWrite
link_back_write(Relation index, const HnswIndexInfo *info, HnswAddr e_addr, int level,
				const LinkBack *lb, int n, int nnew)
{
	Buffer		buf = ReadBuffer(index, HnswAddrBlock(e_addr));
	Page		page;
	HnswElementTuple e;
	HnswSlot   *slots;
	GenericXLogState *state;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	if (HnswAddrOffset(e_addr) > PageGetMaxOffsetNumber(page) ||
		!ItemIdIsNormal(PageGetItemId(page, HnswAddrOffset(e_addr))))
	{
		UnlockReleaseBuffer(buf);
		return LINK_GONE;
	}
	e = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, HnswAddrOffset(e_addr)));
	slots = HnswElementSlots(e, info->storage, info->dim) + hnsw_level_start(info->m, level);
	for (int i = 0; i < lb->cap; i++)
		if (hnsw_slot_addr(&slots[i]) != (i < n ? lb->orig[i] : HNSW_INVALID_ADDR))
		{
			UnlockReleaseBuffer(buf);
			return LINK_CHANGED;
		}
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	e = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, HnswAddrOffset(e_addr)));
	slots = HnswElementSlots(e, info->storage, info->dim) + hnsw_level_start(info->m, level);
	for (int i = 0; i < lb->cap; i++)
		hnsw_slot_set(&slots[i], i < nnew ? lb->newlist[i] : HNSW_INVALID_ADDR);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	return LINK_WRITTEN;
}

/*
 * Add the new element to the level-list of neighbour e, pruning with the
 * heuristic when the list is full (see the locking protocol above): read
 * the list, compute the new one, write it if the list is still the one
 * read, else try again (three times).
 */
void
hnsw_link_back(Relation index, const HnswIndexInfo *info, HnswAddr e_addr, int level,
			   HnswAddr new_addr, const float *new_vec)
{
	LinkBack	lb;
	Buffer		rbuf = InvalidBuffer;

	link_back_init(&lb, info, level);
	for (int attempt = 0; attempt < 3; attempt++)
	{
		int			n;
		int			e_level;
		int			nnew;
		bool		present = false;

		n = hnsw_read_neighbours(index, info, &rbuf, e_addr, level, lb.orig, lb.e_vec,
								 &e_level, NULL);
		if (n < 0 || level > e_level)
			break;
		for (int i = 0; i < n; i++)
			if (lb.orig[i] == new_addr)
				present = true;
		if (present)
			break;
		memcpy(lb.list, lb.orig, sizeof(HnswAddr) * n);
		if (n < lb.cap)
		{
			memcpy(lb.newlist, lb.list, sizeof(HnswAddr) * n);
			lb.newlist[n] = new_addr;
			nnew = n + 1;
		}
		else if ((nnew = link_back_prune(&lb, index, info, &rbuf, n, new_addr, new_vec)) < 0)
			break;
		if (BufferIsValid(rbuf))
		{
			ReleaseBuffer(rbuf);
			rbuf = InvalidBuffer;
		}
		if (link_back_write(index, info, e_addr, level, &lb, n, nnew) != LINK_CHANGED)
			break;
	}
	if (BufferIsValid(rbuf))
		ReleaseBuffer(rbuf);
}

/* Fix the index's dimension on its first row (meta page, exclusive). */
static int
fix_dimension(Relation index, int dim)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	GenericXLogState *state;
	Page		page;
	int			have;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	have = HnswPageGetMeta(page)->dim;
	if (have == 0)
	{
		HnswPageGetMeta(page)->dim = dim;
		GenericXLogFinish(state);
		have = dim;
	}
	else
		GenericXLogAbort(state);
	UnlockReleaseBuffer(buf);
	return have;
}

/*
 * Make the element the entry point when the index has none, its level is
 * above the current entry's, or the entry point is still replace (not
 * HNSW_INVALID_ADDR).  Returns false when there was an entry point (whose
 * copy is then in *meta).
 */
static bool
maybe_set_entry(Relation index, HnswAddr addr, int level, HnswMetaPageData *meta,
				HnswAddr replace)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	GenericXLogState *state;
	Page		page;
	HnswMetaPage m;
	bool		set = false;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	m = HnswPageGetMeta(page);
	if (m->entry_blkno == InvalidBlockNumber || level > m->entry_level ||
		(replace != HNSW_INVALID_ADDR &&
		 HnswMakeAddr(m->entry_blkno, m->entry_offno) == replace))
	{
		bool		was_empty = (m->entry_blkno == InvalidBlockNumber);

		m->entry_blkno = HnswAddrBlock(addr);
		m->entry_offno = HnswAddrOffset(addr);
		m->entry_level = level;
		GenericXLogFinish(state);
		set = was_empty;
	}
	else
		GenericXLogAbort(state);
	memcpy(meta, m, sizeof(HnswMetaPageData));
	UnlockReleaseBuffer(buf);
	return set;
}

/* The element's tuple (vector, empty neighbour lists) added to the index. */
static HnswAddr
insert_element(Relation index, const HnswIndexInfo *info, const float *vec,
			   ItemPointer heaptid, int level)
{
	Size		size = hnsw_element_size(info->storage, info->dim, info->m, level);
	HnswElementTuple tup = palloc0(size);

	tup->heaptid = *heaptid;
	tup->level = level;
	hnsw_encode_vector(info->storage, vec, info->dim, HnswElementVector(tup));
	for (int i = 0; i < 2 * info->m + level * info->m; i++)
		hnsw_slot_set(&HnswElementSlots(tup, info->storage, info->dim)[i], HNSW_INVALID_ADDR);
	return add_element(index, tup, size);
}

/* Candidate lists of one level's search, for ef_construction + 1 entries. */
typedef struct InsertLevel
{
	HnswAddr   *eps;			/* entry points, then the level's result W */
	int			neps;
	HnswAddr   *nb;				/* the candidates still there */
	float	   *vecs;
	float	   *dists;
	int		   *order;
	int		   *keep;
} InsertLevel;

static void
insert_level_init(InsertLevel *il, const HnswIndexInfo *info)
{
	int			maxcand = info->ef_construction + 1;

	il->eps = palloc(sizeof(HnswAddr) * maxcand);
	il->neps = 0;
	il->nb = palloc(sizeof(HnswAddr) * maxcand);
	il->vecs = palloc(sizeof(float) * info->dim * maxcand);
	il->dists = palloc(sizeof(float) * maxcand);
	il->order = palloc(sizeof(int) * maxcand);
	il->keep = palloc(sizeof(int) * maxcand);
}

/* Search level lc from the entry points; W into eps/dists, nearest first. */
static void
insert_search_level(HnswSearch *s, InsertLevel *il, HnswAddr addr, int ef, int lc)
{
	hnsw_search_reset(s);
	for (int i = 0; i < il->neps; i++)
	{
		int			j;

		if (!hnsw_addrset_add(&s->visited, il->eps[i]))
			continue;
		j = hnsw_search_add(s, il->eps[i]);
		if (j >= 0)
		{
			hnsw_addrset_add(&s->visited, il->eps[i]);
			hnsw_search_seed(s, j);
		}
	}
	/* never link to itself */
	hnsw_addrset_add(&s->visited, addr);
	hnsw_search_layer(s, ef, lc);
	il->neps = 0;
	while (s->W.n > 0)
	{
		int			i = hnsw_heap_pop(&s->W, s->cands);

		il->eps[s->W.n] = s->cands[i].addr;
		il->dists[s->W.n] = s->cands[i].dist;
		il->neps++;
	}
}

/*
 * Link the element at level lc: the heuristic picks its neighbours among
 * W's elements that still exist, its list is written and each neighbour
 * links back.  W's survivors become the next level's entry points.
 * Returns the number of neighbours linked.
 */
static int
insert_link_level(Relation index, const HnswIndexInfo *info, InsertLevel *il,
				  HnswAddr addr, const float *vec, int lc)
{
	HnswAddr	chosen[2 * HNSW_M_MAX];
	Buffer		rbuf = InvalidBuffer;
	int			ncand = 0;
	int			nkeep;

	for (int i = 0; i < il->neps; i++)
	{
		int			lv;
		HnswAddr	dummy;

		if (hnsw_read_neighbours(index, info, &rbuf, il->eps[i], HNSW_MAX_LEVEL + 1,
								 &dummy, il->vecs + (Size) ncand * info->dim, &lv,
								 NULL) < 0)
			continue;
		il->nb[ncand] = il->eps[i];
		il->dists[ncand] = il->dists[i];
		il->order[ncand] = ncand;
		ncand++;
	}
	if (BufferIsValid(rbuf))
		ReleaseBuffer(rbuf);
	nkeep = hnsw_select_neighbours(info->metric, info->dim, vec, il->vecs, il->dists,
								   il->order, ncand, hnsw_level_capacity(info->m, lc),
								   false, il->keep);
	for (int i = 0; i < nkeep; i++)
		chosen[i] = il->nb[il->keep[i]];
	write_neighbours(index, info, addr, lc, chosen, nkeep);
	for (int i = 0; i < nkeep; i++)
	{
		CHECK_FOR_INTERRUPTS();
		hnsw_link_back(index, info, chosen[i], lc, addr, vec);
	}
	memcpy(il->eps, il->nb, sizeof(HnswAddr) * ncand);
	il->neps = ncand;
	return nkeep;
}

/*
 * Algorithm 1 of the paper on disk: add the element, find its neighbours
 * level by level from the entry point (greedy above its level, a search
 * of ef_construction at and below it), link both ways, and raise the
 * entry point when the element is the highest.
 */
void
hnsw_insert_vector(Relation index, const HnswIndexInfo *info, const float *vec,
				   ItemPointer heaptid, int level)
{
	HnswAddr	addr;
	HnswMetaPageData meta;
	HnswSearch	s;
	InsertLevel il;
	int			ep_level;
	int			cur;
	HnswAddr	entry;
	int			nlinked = 0;

	level = fitting_level(info->storage, info->dim, info->m, level);
	addr = insert_element(index, info, vec, heaptid, level);
	hnsw_read_meta(index, &meta);
	if (meta.entry_blkno == InvalidBlockNumber)
	{
		if (maybe_set_entry(index, addr, level, &meta, HNSW_INVALID_ADDR))
			return;
	}

	hnsw_search_init(&s, index, info, vec);
	insert_level_init(&il, info);

	/*
	 * Elements VACUUM marked deleted lead the search on, but are never
	 * chosen: VACUUM removes them once the inserts that started before it
	 * marked them are done (HNSW_UPDATE_LOCK).
	 */
	s.skip_deleted = true;
	cur = hnsw_search_entry(&s, &meta);
	if (cur < 0)
	{
		maybe_set_entry(index, addr, level, &meta, HNSW_INVALID_ADDR);
		hnsw_search_end(&s);
		return;
	}
	entry = s.cands[cur].addr;
	ep_level = meta.entry_level;
	/* greedy descent through the levels above the element's */
	for (int lc = ep_level; lc > level; lc--)
		cur = hnsw_search_greedy(&s, cur, lc);
	il.eps[0] = s.cands[cur].addr;
	il.neps = 1;

	for (int lc = Min(level, ep_level); lc >= 0; lc--)
	{
		insert_search_level(&s, &il, addr, info->ef_construction, lc);
		nlinked = insert_link_level(index, info, &il, addr, vec, lc);
		/* the next level down starts from everything found here */
		if (il.neps == 0)
		{
			il.eps[0] = HnswMakeAddr(meta.entry_blkno, meta.entry_offno);
			il.neps = 1;
		}
	}
	hnsw_search_end(&s);

	if (level > ep_level)
		maybe_set_entry(index, addr, level, &meta, HNSW_INVALID_ADDR);
	else if (nlinked == 0)
	{
		/*
		 * Nothing but deleted elements was found (a VACUUM is removing all
		 * the rest): nothing would lead to this element once they are gone,
		 * so it takes over as the entry point, unless the entry point moved
		 * meanwhile.
		 */
		maybe_set_entry(index, addr, level, &meta, entry);
	}
}

/* aminsert: index one new heap row; NULL vectors are not indexed */
bool
hnsw_insert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
			Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
			IndexInfo *indexInfo)
{
	MemoryContext ctx,
				old;
	HnswIndexInfo info;
	HnswMetaPageData meta;
	float	   *vec;
	int			n;

	if (isnull[0])
		return false;
	ctx = AllocSetContextCreate(CurrentMemoryContext, "ecml_hnsw insert",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);

	info.metric = hnsw_index_metric(index);
	hnsw_index_options(index, &info.m, &info.ef_construction);
	hnsw_read_meta(index, &meta);
	info.m = meta.m;
	info.ef_construction = meta.ef_construction;
	info.storage = meta.storage;
	vec = hnsw_prepare_vector(values[0], info.metric, meta.dim, "vector", &n, NULL);
	hnsw_check_fits(&info, n);
	if (meta.dim == 0)
		hnsw_check_dim(fix_dimension(index, n), n, "vector");
	info.dim = n;

	LockPage(index, HNSW_UPDATE_LOCK, ShareLock);
	hnsw_insert_vector(index, &info, vec, heap_tid,
					   hnsw_random_level(tid_uniform(heap_tid), info.m));
	UnlockPage(index, HNSW_UPDATE_LOCK, ShareLock);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return false;
}
