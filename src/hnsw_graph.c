/*
 * hnsw_graph.c
 *	  The HNSW graph on disk, as inserts and scans read it: candidate heaps,
 *	  the visited set, reading an element's distance and neighbours through
 *	  the buffer manager, the greedy descent and the layer search
 *	  (Malkov & Yashunin, Algorithms 2 and 5) and the neighbour selection
 *	  heuristic (Algorithm 4).
 *
 * Readers hold one buffer pin at a time (kept while consecutive elements
 * sit on the same page) and take the content lock in share mode only
 * while they copy or compute from one element; they never hold two
 * content locks.  An element that is gone (its line pointer unused after
 * VACUUM) is skipped.
 */
#include "postgres.h"

#include "ecml_compat.h"
#include "hnsw.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/* ---- heaps of candidate indexes, ordered by distance ---- */

void
hnsw_heap_init(HnswHeap *h, bool max)
{
	h->cap = 64;
	h->n = 0;
	h->max = max;
	h->ordered = true;
	h->items = palloc(sizeof(HnswHeapItem) * h->cap);
}

/* a before b: nearer first in a min-heap, farther first in a max-heap */
static inline bool
heap_before(const HnswHeap *h, float a, float b)
{
	return h->max ? a > b : a < b;
}

static inline void
heap_grow(HnswHeap *h)
{
	if (h->n == h->cap)
	{
		h->cap *= 2;
		h->items = repalloc_huge(h->items, sizeof(HnswHeapItem) * h->cap);
	}
}

void
hnsw_heap_push(HnswHeap *h, const HnswCand *c, int i)
{
	HnswHeapItem it = { c[i].dist, i };
	int			pos;

	if (!h->ordered)
	{
		hnsw_heap_append(h, c, i);
		return;
	}
	heap_grow(h);
	pos = h->n++;
	while (pos > 0)
	{
		int			parent = (pos - 1) / 2;

		if (!heap_before(h, it.dist, h->items[parent].dist))
			break;
		h->items[pos] = h->items[parent];
		pos = parent;
	}
	h->items[pos] = it;
}

/*
 * Add i and leave the order for later.  The dropped set D grows by nearly
 * every element a search computes, and most scans never take from it.
 */
void
hnsw_heap_append(HnswHeap *h, const HnswCand *c, int i)
{
	heap_grow(h);
	h->items[h->n].dist = c[i].dist;
	h->items[h->n].idx = i;
	h->n++;
	h->ordered = false;
}

/* put it at pos and move it down to its place among h->items[0..h->n) */
static void
heap_sift_down(HnswHeap *h, int pos, HnswHeapItem it)
{
	for (;;)
	{
		int			child = 2 * pos + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n &&
			heap_before(h, h->items[child + 1].dist, h->items[child].dist))
			child++;
		if (!heap_before(h, h->items[child].dist, it.dist))
			break;
		h->items[pos] = h->items[child];
		pos = child;
	}
	h->items[pos] = it;
}

int
hnsw_heap_pop(HnswHeap *h, const HnswCand *c)
{
	int			top;

	if (!h->ordered)
	{
		/* Floyd's construction: sift down every parent, last first */
		for (int p = h->n / 2 - 1; p >= 0; p--)
			heap_sift_down(h, p, h->items[p]);
		h->ordered = true;
	}
	top = h->items[0].idx;
	h->n--;
	if (h->n > 0)
		heap_sift_down(h, 0, h->items[h->n]);
	return top;
}

/* ---- the visited set: open addressing, linear probing ---- */

static inline uint32
addr_hash(HnswAddr a)
{
	uint64		h = a * UINT64CONST(0x9e3779b97f4a7c15);

	return (uint32) (h >> 32);
}

void
hnsw_addrset_init(HnswAddrSet *s, uint32 cap)
{
	uint32		size = 64;

	while (size < cap * 2)
		size *= 2;
	s->keys = palloc(sizeof(HnswAddr) * size);
	memset(s->keys, 0xff, sizeof(HnswAddr) * size);
	s->mask = size - 1;
	s->n = 0;
}

/* true when a was not in the set (and now is) */
bool
hnsw_addrset_add(HnswAddrSet *s, HnswAddr a)
{
	uint32		i;

	if ((s->n + 1) * 2 > s->mask + 1)
	{
		HnswAddr   *old = s->keys;
		uint32		oldsize = s->mask + 1;

		s->mask = oldsize * 2 - 1;
		/* beside the old keys: a scan keeps the set across rescans */
		s->keys = MemoryContextAllocExtended(GetMemoryChunkContext(old),
											 sizeof(HnswAddr) * (Size) (s->mask + 1),
											 MCXT_ALLOC_HUGE);
		memset(s->keys, 0xff, sizeof(HnswAddr) * (Size) (s->mask + 1));
		for (uint32 j = 0; j < oldsize; j++)
		{
			if (old[j] != HNSW_INVALID_ADDR)
			{
				i = addr_hash(old[j]) & s->mask;
				while (s->keys[i] != HNSW_INVALID_ADDR)
					i = (i + 1) & s->mask;
				s->keys[i] = old[j];
			}
		}
		pfree(old);
	}
	i = addr_hash(a) & s->mask;
	while (s->keys[i] != HNSW_INVALID_ADDR)
	{
		if (s->keys[i] == a)
			return false;
		i = (i + 1) & s->mask;
	}
	s->keys[i] = a;
	s->n++;
	return true;
}

bool
hnsw_addrset_contains(const HnswAddrSet *s, HnswAddr a)
{
	uint32		i = addr_hash(a) & s->mask;

	while (s->keys[i] != HNSW_INVALID_ADDR)
	{
		if (s->keys[i] == a)
			return true;
		i = (i + 1) & s->mask;
	}
	return false;
}

/* ---- reading elements ---- */

/*
 * The buffers this backend last read index pages into, by block number
 * (direct-mapped, any relation).  A search reads each page it visits two
 * or three times and the pages near the entry point on every query; a
 * buffer found here is pinned by ReadRecentBuffer, which checks that it
 * still holds the block, without the shared buffer mapping table whose
 * lookup was the largest single cost of a scan (15% of its time on 30,000
 * x 128 in memory).  A stale entry only costs that check.  One entry per
 * shared buffer, up to HNSW_RECENT_BUFFERS_MAX: with 4,096 a 20,000 x
 * 1,536 index (one element per page) missed most of the time, and the
 * mapping table's lookups were again 14% of a scan.
 */
#define HNSW_RECENT_BUFFERS_MIN 1024
#define HNSW_RECENT_BUFFERS_MAX 65536

typedef struct HnswRecentBuffer
{
	Oid			relid;
	BlockNumber blkno;
	Buffer		buf;
} HnswRecentBuffer;

static HnswRecentBuffer *recent_buffers = NULL;
static uint32 recent_mask;

static void
recent_buffers_init(void)
{
	uint32		n = HNSW_RECENT_BUFFERS_MIN;

	while (n < (uint32) NBuffers && n < HNSW_RECENT_BUFFERS_MAX)
		n *= 2;
	recent_buffers = MemoryContextAllocZero(TopMemoryContext, sizeof(HnswRecentBuffer) * n);
	recent_mask = n - 1;
}

Buffer
hnsw_read_buffer(Relation index, BlockNumber blkno)
{
	HnswRecentBuffer *r;
	Buffer		buf;

	if (recent_buffers == NULL)
		recent_buffers_init();
	r = &recent_buffers[blkno & recent_mask];
	if (r->buf != InvalidBuffer && r->blkno == blkno &&
		r->relid == RelationGetRelid(index) &&
		ReadRecentBuffer(ECML_REL_LOCATOR(index), MAIN_FORKNUM, blkno, r->buf))
	{
		/* ReadBuffer would count it in pg_statio_*_indexes */
		pgstat_count_buffer_hit(index);
		return r->buf;
	}
	buf = ReadBuffer(index, blkno);
	r->relid = RelationGetRelid(index);
	r->blkno = blkno;
	r->buf = buf;
	return buf;
}

/* Pin blkno in *buf, reusing the pin when it is already that block. */
static inline void
pin_block(Relation index, Buffer *buf, BlockNumber blkno)
{
	if (BufferIsValid(*buf))
	{
		if (BufferGetBlockNumber(*buf) == blkno)
			return;
		ReleaseBuffer(*buf);
	}
	*buf = hnsw_read_buffer(index, blkno);
}

/* The element at off of a share-locked page, or NULL when it is gone. */
static inline HnswElementTuple
page_element(Page page, OffsetNumber off)
{
	ItemId		iid;

	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		return NULL;
	iid = PageGetItemId(page, off);
	if (!ItemIdIsNormal(iid))
		return NULL;
	return (HnswElementTuple) PageGetItem(page, iid);
}

/*
 * Neighbours of the element at addr on level into out (at most the level's
 * capacity), its vector into vec_out (dim floats), level into level_out
 * and whether VACUUM marked it deleted into deleted_out when not NULL.
 * Returns the neighbour count, 0 when the element has no such level, -1
 * when it is gone.
 */
int
hnsw_read_neighbours(Relation index, const HnswIndexInfo *info, Buffer *buf,
					 HnswAddr addr, int level, HnswAddr *out, float *vec_out,
					 int *level_out, bool *deleted_out)
{
	Page		page;
	HnswElementTuple e;
	int			n = 0;

	pin_block(index, buf, HnswAddrBlock(addr));
	LockBuffer(*buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(*buf);
	e = page_element(page, HnswAddrOffset(addr));
	if (e == NULL || HnswPageGetOpaque(page)->flags != HNSW_PAGE_ELEMENT)
	{
		LockBuffer(*buf, BUFFER_LOCK_UNLOCK);
		return -1;
	}
	if (level_out)
		*level_out = e->level;
	if (deleted_out)
		*deleted_out = (e->flags & HNSW_ELEMENT_DELETED) != 0;
	if (vec_out)
		hnsw_decode_vector(info->storage, HnswElementVector(e), info->dim, vec_out);
	if (level <= e->level)
	{
		HnswSlot   *slots = HnswElementSlots(e, info->storage, info->dim) +
			hnsw_level_start(info->m, level);
		int			cap = hnsw_level_capacity(info->m, level);

		for (; n < cap; n++)
		{
			HnswAddr	a = hnsw_slot_addr(&slots[n]);

			if (a == HNSW_INVALID_ADDR)
				break;
			out[n] = a;
		}
	}
	LockBuffer(*buf, BUFFER_LOCK_UNLOCK);
	return n;
}

/* ---- one search ---- */

void
hnsw_search_init(HnswSearch *s, Relation index, const HnswIndexInfo *info,
				 const float *query)
{
	s->index = index;
	s->info = *info;
	s->query = query;
	s->capcands = 256;
	s->cands = palloc(sizeof(HnswCand) * s->capcands);
	s->ncands = 0;
	hnsw_heap_init(&s->C, false);
	hnsw_heap_init(&s->W, true);
	hnsw_heap_init(&s->D, false);
	hnsw_addrset_init(&s->visited, 512);
	s->ndistances = 0;
	s->keep_dropped = false;
	s->skip_deleted = false;
	s->buf = InvalidBuffer;
	s->nbuf = palloc(sizeof(HnswAddr) * 2 * info->m);
	s->nidx = palloc(sizeof(int) * 2 * info->m);
	s->vbuf = info->storage == HNSW_STORAGE_FLOAT ? NULL :
		palloc(sizeof(float) * Max(info->dim, 1));
}

/*
 * s, made by hnsw_search_init for the same index and still holding its
 * arrays, for a new query (a scan's rescan).
 */
void
hnsw_search_restart(HnswSearch *s, const float *query)
{
	hnsw_search_reset(s);
	s->query = query;
	s->ndistances = 0;
	s->keep_dropped = false;
	s->skip_deleted = false;
	s->C.ordered = s->W.ordered = true;
}

/* Forget what was found, keep the allocations (a new layer or query). */
void
hnsw_search_reset(HnswSearch *s)
{
	s->ncands = 0;
	s->C.n = s->W.n = s->D.n = 0;
	s->D.ordered = true;
	memset(s->visited.keys, 0xff, sizeof(HnswAddr) * (Size) (s->visited.mask + 1));
	s->visited.n = 0;
}

void
hnsw_search_end(HnswSearch *s)
{
	if (BufferIsValid(s->buf))
		ReleaseBuffer(s->buf);
	s->buf = InvalidBuffer;
}

/*
 * c <- the element e at addr with its distance to the query.  A cosine
 * index storing half or int8 also keeps |x'|^2 of the stored vector, for
 * the scan's bound (hnsw_scan.c, cosine_bound).
 */
static void
cand_fill(HnswSearch *s, HnswCand *c, HnswAddr addr, HnswElementTuple e)
{
	c->addr = addr;
	c->norm2 = 1.0f;
	c->dist = hnsw_stored_distance(&s->info, HnswElementVector(e), s->query, s->vbuf,
								   &c->norm2);
	c->err = hnsw_vector_error(s->info.storage, HnswElementVector(e));
	c->heaptid = e->heaptid;
	c->state = (e->flags & HNSW_ELEMENT_DELETED) ? HNSW_CAND_DELETED : 0;
}

/*
 * Compute the distance of the element at addr to the query and append it
 * to the candidates; -1 when the element is gone.
 */
int
hnsw_search_add(HnswSearch *s, HnswAddr addr)
{
	Page		page;
	HnswElementTuple e;

	pin_block(s->index, &s->buf, HnswAddrBlock(addr));
	LockBuffer(s->buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(s->buf);
	e = page_element(page, HnswAddrOffset(addr));
	if (e == NULL || HnswPageGetOpaque(page)->flags != HNSW_PAGE_ELEMENT)
	{
		LockBuffer(s->buf, BUFFER_LOCK_UNLOCK);
		return -1;
	}
	if (s->ncands == s->capcands)
	{
		s->capcands *= 2;
		s->cands = repalloc_huge(s->cands, sizeof(HnswCand) * s->capcands);
	}
	cand_fill(s, &s->cands[s->ncands], addr, e);
	LockBuffer(s->buf, BUFFER_LOCK_UNLOCK);
	s->ndistances++;
	return s->ncands++;
}

/*
 * hnsw_search_add for n addresses at once, their candidate numbers (or -1)
 * into out.  The addresses are taken page by page (a build writes
 * neighbours near each other), each page looked up once; the elements of
 * up to ADD_MANY_PAGES pages are prefetched before their distances are
 * computed (as hnswlib does): the time goes to buffer lookups and cache
 * misses more than to arithmetic.  At most ADD_MANY_PAGES pins are held,
 * and one content lock at a time: a backend tracks its first eight pins in
 * an array and any more in a hash table, whose lookups were a tenth of a
 * 128-d search when every neighbour's page stayed pinned.
 */
#define ADD_MANY_PAGES 4

typedef struct AddManyGroup
{
	int			start;
	int			end;
	Buffer		buf;
} AddManyGroup;

/* addrs[ord[g..)] of one page from g on: pin it and prefetch its elements */
static int
add_many_pin(HnswSearch *s, const HnswAddr *addrs, const int *ord, int n, int g,
			 int lines, AddManyGroup *group)
{
	BlockNumber blkno = HnswAddrBlock(addrs[ord[g]]);
	int			end = g;
	Page		page;

	while (end < n && HnswAddrBlock(addrs[ord[end]]) == blkno)
		end++;
	group->start = g;
	group->end = end;
	group->buf = hnsw_read_buffer(s->index, blkno);
	LockBuffer(group->buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(group->buf);
	for (int k = g; k < end; k++)
	{
		HnswElementTuple e = page_element(page, HnswAddrOffset(addrs[ord[k]]));

		if (e != NULL)
			for (int l = 0; l < lines; l++)
				__builtin_prefetch((char *) e + 64 * l);
	}
	LockBuffer(group->buf, BUFFER_LOCK_UNLOCK);
	return end;
}

/* the distances of one pinned group's elements, then the pin released */
static void
add_many_compute(HnswSearch *s, const HnswAddr *addrs, const int *ord,
				 const AddManyGroup *group, int *out)
{
	Page		page;
	bool		ok;

	LockBuffer(group->buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(group->buf);
	ok = HnswPageGetOpaque(page)->flags == HNSW_PAGE_ELEMENT;
	for (int k = group->start; k < group->end; k++)
	{
		HnswElementTuple e = ok ? page_element(page, HnswAddrOffset(addrs[ord[k]])) : NULL;

		if (e == NULL)
		{
			out[ord[k]] = -1;
			continue;
		}
		if (s->ncands == s->capcands)
		{
			s->capcands *= 2;
			s->cands = repalloc_huge(s->cands, sizeof(HnswCand) * s->capcands);
		}
		cand_fill(s, &s->cands[s->ncands], addrs[ord[k]], e);
		s->ndistances++;
		out[ord[k]] = s->ncands++;
	}
	UnlockReleaseBuffer(group->buf);
}

static void
add_many(HnswSearch *s, const HnswAddr *addrs, int n, int *out)
{
	int			ord[2 * HNSW_M_MAX];
	AddManyGroup groups[ADD_MANY_PAGES];
	int			lines = Min((int) (HNSW_ELEMENT_HEADER + hnsw_vector_bytes(s->info.storage, s->info.dim) + 63) / 64, 16);

	/* by address, so that one page's elements come together */
	for (int i = 0; i < n; i++)
	{
		int			j = i;

		while (j > 0 && addrs[ord[j - 1]] > addrs[i])
		{
			ord[j] = ord[j - 1];
			j--;
		}
		ord[j] = i;
	}
	if (BufferIsValid(s->buf))
	{
		ReleaseBuffer(s->buf);
		s->buf = InvalidBuffer;
	}
	for (int g = 0; g < n;)
	{
		int			ngroups = 0;

		while (g < n && ngroups < ADD_MANY_PAGES)
			g = add_many_pin(s, addrs, ord, n, g, lines, &groups[ngroups++]);
		for (int gi = 0; gi < ngroups; gi++)
			add_many_compute(s, addrs, ord, &groups[gi], out);
	}
}

/* Start a layer search from candidate i (already in cands). */
void
hnsw_search_seed(HnswSearch *s, int i)
{
	hnsw_addrset_add(&s->visited, s->cands[i].addr);
	s->cands[i].state |= HNSW_CAND_IN_C;
	hnsw_heap_push(&s->C, s->cands, i);
	if (!(s->skip_deleted && (s->cands[i].state & HNSW_CAND_DELETED)))
		hnsw_heap_push(&s->W, s->cands, i);
}

/*
 * The entry point named by the meta page *meta, added to the candidates;
 * -1 when the index is empty.  A VACUUM may have moved the entry point and
 * removed the old element since the meta page was read, and an insert may
 * even have reused its line pointer: the element is gone, or is not of the
 * entry's level.  The meta page then names another one (VACUUM changes it
 * before it removes the element), so it is read again into *meta.
 */
int
hnsw_search_entry(HnswSearch *s, HnswMetaPageData *meta)
{
	for (;;)
	{
		HnswAddr	entry,
					dummy;
		int			level;

		CHECK_FOR_INTERRUPTS();
		if (meta->entry_blkno == InvalidBlockNumber)
			return -1;
		entry = HnswMakeAddr(meta->entry_blkno, meta->entry_offno);
		if (hnsw_read_neighbours(s->index, &s->info, &s->buf, entry, HNSW_MAX_LEVEL + 1,
								 &dummy, NULL, &level, NULL) >= 0 &&
			level == meta->entry_level)
		{
			int			i = hnsw_search_add(s, entry);

			if (i >= 0)
				return i;
		}
		hnsw_read_meta(s->index, meta);
		if (meta->entry_blkno == HnswAddrBlock(entry) &&
			meta->entry_offno == HnswAddrOffset(entry))
		{
			/* not moved: the meta page names an element that is not there */
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" has an entry point (%u,%u) that is not an element of level %d",
							RelationGetRelationName(s->index), meta->entry_blkno,
							meta->entry_offno, meta->entry_level),
					 errhint("REINDEX the index.")));
		}
	}
}

/*
 * Greedy descent on one upper level (Algorithm 2 with ef = 1): move to the
 * nearest neighbour while it is nearer.  Returns the candidate reached.
 */
int
hnsw_search_greedy(HnswSearch *s, int from, int level)
{
	int			cur = from;
	bool		moved = true;

	while (moved)
	{
		int			n;

		CHECK_FOR_INTERRUPTS();
		moved = false;
		n = hnsw_read_neighbours(s->index, &s->info, &s->buf, s->cands[cur].addr,
								 level, s->nbuf, NULL, NULL, NULL);
		for (int i = 0; i < n; i++)
		{
			int			j;

			j = hnsw_search_add(s, s->nbuf[i]);
			if (j < 0)
				continue;
			if (s->cands[j].dist < s->cands[cur].dist)
			{
				cur = j;
				moved = true;
			}
			else
				s->ncands--;	/* not kept: reuse the slot */
		}
	}
	return cur;
}

/*
 * Algorithm 2 of the paper on one level: expand the nearest unexpanded
 * candidate while it is nearer than the farthest of the ef best found (W).
 * Elements dropped from W, or never good enough for it, go to D when the
 * search keeps them (a scan resumes from D for its next batch).
 */
void
hnsw_search_layer(HnswSearch *s, int ef, int level)
{
	while (s->C.n > 0)
	{
		int			ci = hnsw_heap_top(&s->C);
		int			n,
					nnew;

		if (s->W.n >= ef && s->cands[ci].dist > hnsw_heap_top_dist(&s->W))
			break;
		hnsw_heap_pop(&s->C, s->cands);
		s->cands[ci].state &= ~HNSW_CAND_IN_C;
		s->cands[ci].state |= HNSW_CAND_EXPANDED;

		CHECK_FOR_INTERRUPTS();
		n = hnsw_read_neighbours(s->index, &s->info, &s->buf, s->cands[ci].addr,
								 level, s->nbuf, NULL, NULL, NULL);
		nnew = 0;
		for (int i = 0; i < n; i++)
			if (hnsw_addrset_add(&s->visited, s->nbuf[i]))
				s->nbuf[nnew++] = s->nbuf[i];
		add_many(s, s->nbuf, nnew, s->nidx);
		for (int i = 0; i < nnew; i++)
		{
			int			j = s->nidx[i];
			HnswCand   *c;

			if (j < 0)
				continue;
			c = &s->cands[j];
			if (s->W.n < ef || c->dist < hnsw_heap_top_dist(&s->W))
			{
				c->state |= HNSW_CAND_IN_C;
				if (s->skip_deleted && (c->state & HNSW_CAND_DELETED))
				{
					/* a way through, not a neighbour of the new element */
					hnsw_heap_push(&s->C, s->cands, j);
					continue;
				}
				hnsw_heap_push(&s->C, s->cands, j);
				hnsw_heap_push(&s->W, s->cands, j);
				if (s->W.n > ef)
				{
					int			k = hnsw_heap_pop(&s->W, s->cands);

					if (s->keep_dropped)
						hnsw_heap_append(&s->D, s->cands, k);
				}
			}
			else if (s->keep_dropped)
				hnsw_heap_append(&s->D, s->cands, j);
		}
	}
}

/*
 * The next batch of a scan, once W was emitted: the ef nearest dropped
 * elements become W again (and candidates, unless expanded), and the layer
 * search continues from them and from the candidates it had not expanded.
 * False when nothing is left to find.
 */
bool
hnsw_search_resume(HnswSearch *s, int ef)
{
	while (s->D.n > 0 && s->W.n < ef)
	{
		int			i = hnsw_heap_pop(&s->D, s->cands);
		HnswCand   *c = &s->cands[i];

		if (!(c->state & (HNSW_CAND_EXPANDED | HNSW_CAND_IN_C)))
		{
			c->state |= HNSW_CAND_IN_C;
			hnsw_heap_push(&s->C, s->cands, i);
		}
		hnsw_heap_push(&s->W, s->cands, i);
	}
	if (s->W.n == 0 && s->C.n == 0)
		return false;
	hnsw_search_layer(s, ef, 0);
	return s->W.n > 0;
}

/*
 * Algorithm 4 of the paper (without extending the candidates): take
 * candidates nearest first, keep one when it is nearer to the new element
 * than to every one kept so far, up to mmax; with keep_pruned, fill up to
 * mmax with the nearest pruned ones (keepPrunedConnections).
 * vecs holds the candidates' vectors (ncand rows of dim), dists their
 * distances to q, order the candidates sorted by dists.  Returns how many
 * were kept, their candidate numbers in out.
 */
int
hnsw_select_neighbours(HnswMetric metric, int dim, const float *q,
					   const float *vecs, const float *dists,
					   const int *order, int ncand, int mmax, bool keep_pruned,
					   int *out)
{
	int			nout = 0;
	int			npruned = 0;
	int		   *pruned = keep_pruned ? palloc(sizeof(int) * Max(ncand, 1)) : NULL;

	for (int i = 0; i < ncand && nout < mmax; i++)
	{
		int			e = order[i];
		bool		good = true;

		for (int r = 0; r < nout; r++)
		{
			if (hnsw_distance(metric, vecs + (Size) e * dim,
							  vecs + (Size) out[r] * dim, dim) < dists[e])
			{
				good = false;
				break;
			}
		}
		if (good)
			out[nout++] = e;
		else if (keep_pruned)
			pruned[npruned++] = e;
	}
	for (int i = 0; i < npruned && nout < mmax; i++)
		out[nout++] = pruned[i];
	if (pruned)
		pfree(pruned);
	return nout;
}
