/*
 * hnsw_build.c
 *	  ambuild and ambuildempty for ecml_hnsw.  A build runs in parallel
 *	  (hnsw_build_parallel.c) when workers are granted; otherwise here, in
 *	  one process: the graph is built in memory (hnsw_build_graph.c) while
 *	  it fits maintenance_work_mem, then written out page by page with
 *	  full-page WAL images; when it stops fitting, what was built is
 *	  written out and the remaining rows are inserted on disk like aminsert
 *	  does, with a NOTICE.
 */
#include "postgres.h"

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "ecml.h"
#include "ecml_compat.h"
#include "hnsw.h"
#include "hnsw_build.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/* ---- the serial build ---- */

/* bytes of one element of the serial build's arrays, its half copy too */
static Size
element_bytes(const BuildState *b)
{
	const HnswIndexInfo *info = &b->info;

	return sizeof(float) * info->dim + sizeof(ItemPointerData) + 1 +
		   sizeof(int32) * (2 * info->m + 1) + sizeof(int32 *) + sizeof(uint32) +
		   (b->centre ? sizeof(uint16) * info->dim : 0);
}

/*
 * Go on with the distances over the float vectors: the half copies no
 * longer fit the memory, or a vector is beyond half's range.  The graph so
 * far stays as it is.
 */
static void
drop_halves(BuildState *b, const char *why)
{
	ereport(DEBUG1,
			(errmsg_internal("ecml_hnsw build: distances over float vectors after %lld rows (%s)",
							 (long long) b->n, why)));
	if (b->hvecs)
		pfree(b->hvecs);
	b->hvecs = NULL;
	b->centre = NULL;
	b->maxn = Max(b->n, (int64) ((b->memlimit - Min(b->upper_bytes, b->memlimit)) / element_bytes(b)));
}

/* Grow the arrays to hold one more element; false when over the memory cap. */
static bool
reserve_element(BuildState *b)
{
	int64		newcap;
	MemoryContext old;

	if (b->n < b->cap)
		return true;
	if (b->n >= b->maxn && b->centre)
		drop_halves(b, "the half copies do not fit maintenance_work_mem");
	if (b->n >= b->maxn)
		return false;
	newcap = Min(Max(b->cap * 2, 1024), b->maxn);
	old = MemoryContextSwitchTo(b->ctx);
	if (b->cap == 0)
	{
		b->vecs = palloc_extended(sizeof(float) * b->info.dim * newcap, MCXT_ALLOC_HUGE);
		b->tids = palloc_extended(sizeof(ItemPointerData) * newcap, MCXT_ALLOC_HUGE);
		b->levels = palloc_extended(newcap, MCXT_ALLOC_HUGE);
		b->nb0 = palloc_extended(sizeof(int32) * (2 * b->info.m + 1) * newcap, MCXT_ALLOC_HUGE);
		b->nbup = palloc_extended(sizeof(int32 *) * newcap, MCXT_ALLOC_HUGE);
		b->visited = palloc_extended(sizeof(uint32) * newcap, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		if (b->centre)
			b->hvecs = palloc_extended(sizeof(uint16) * b->info.dim * newcap, MCXT_ALLOC_HUGE);
	}
	else
	{
		b->vecs = repalloc_huge(b->vecs, sizeof(float) * b->info.dim * newcap);
		b->tids = repalloc_huge(b->tids, sizeof(ItemPointerData) * newcap);
		b->levels = repalloc_huge(b->levels, newcap);
		b->nb0 = repalloc_huge(b->nb0, sizeof(int32) * (2 * b->info.m + 1) * newcap);
		b->nbup = repalloc_huge(b->nbup, sizeof(int32 *) * newcap);
		b->visited = repalloc_huge(b->visited, sizeof(uint32) * newcap);
		memset(b->visited + b->cap, 0, sizeof(uint32) * (newcap - b->cap));
		if (b->hvecs)
			b->hvecs = repalloc_huge(b->hvecs, sizeof(uint16) * b->info.dim * newcap);
	}
	MemoryContextSwitchTo(old);
	b->cap = newcap;
	return true;
}
/* ---- the build ---- */

/* Stop building in memory: write what there is, continue on disk. */
static void
switch_to_disk(BuildState *b)
{
	ereport(NOTICE,
			(errmsg("ecml_hnsw graph no longer fits maintenance_work_mem after %lld rows, building the rest on disk",
					(long long) b->n),
			 errhint("Raise maintenance_work_mem to build faster.")));
	hnsw_build_write_graph(b);
	b->on_disk = true;
	MemoryContextReset(b->ctx);
	b->vecs = NULL;
	b->hvecs = NULL;
	b->centre = NULL;
	b->cap = 0;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_DISK);
}

/* a recently-dead tuple's vector, kept until the dimension is known */
typedef struct DeferredTuple
{
	ItemPointerData tid;
	Datum		value;
} DeferredTuple;

/* Add one heap tuple's vector to the graph; the first fixes the dimension. */
static void
add_tuple(BuildState *b, ItemPointer tid, Datum value)
{
	int			n;
	int			level;

	if (b->info.dim == 0)
	{
		float	   *first = hnsw_prepare_vector(value, b->info.metric, 0, "vector", &n, NULL);

		hnsw_check_fits(&b->info, n);
		b->info.dim = n;
		if (hnsw_build_half_wanted(&b->info))
		{
			/* L2's copies are of the vectors minus this first one */
			b->centre = MemoryContextAlloc(b->ctx, sizeof(float) * n);
			b->hq = MemoryContextAlloc(b->ctx, sizeof(float) * n);
			memcpy(b->centre, first, sizeof(float) * n);
			ereport(DEBUG1,
					(errmsg_internal("ecml_hnsw build: distances over half-precision copies")));
		}
		b->maxn = Max(b->memlimit / element_bytes(b), 1);
		reserve_element(b);
		memcpy(hnsw_build_vec(b, 0), first, sizeof(float) * n);
		pfree(first);
	}
	else if (!b->on_disk && !reserve_element(b))
		switch_to_disk(b);

	level = hnsw_build_level(b);

	if (b->on_disk)
	{
		MemoryContext old = MemoryContextSwitchTo(b->ctx);
		float	   *v;

		v = hnsw_prepare_vector(value, b->info.metric, b->info.dim, "vector", &n, NULL);
		hnsw_insert_vector(b->index, &b->info, v, tid, level);
		MemoryContextSwitchTo(old);
		MemoryContextReset(b->ctx);
	}
	else
	{
		if (b->n > 0)
			hnsw_prepare_vector(value, b->info.metric, b->info.dim, "vector", &n,
								hnsw_build_vec(b, b->n));
		if (b->hvecs && !hnsw_build_set_half(b, b->n))
			drop_halves(b, "a vector is beyond half precision's range");
		b->tids[b->n] = *tid;
		b->levels[b->n] = level;
		hnsw_build_insert_mem(b, b->n);
		b->n++;
		/* the upper lists count against the memory too */
		if (b->upper_bytes > 0 && b->maxn > b->n &&
			(Size) b->maxn * element_bytes(b) + b->upper_bytes > b->memlimit)
			b->maxn = Max(b->n, (int64) ((b->memlimit - b->upper_bytes) / element_bytes(b)));
	}
	b->indtuples++;
	if ((int64) b->indtuples % 1000 == 0)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) b->indtuples);
}

/*
 * Old versions held back until a live tuple fixes the dimension: index
 * those of that dimension, skip the others.  With no live tuple at all, the
 * first old version fixes it.
 */
static void
add_deferred(BuildState *b)
{
	for (int i = 0; i < list_length(b->deferred); i++)
	{
		DeferredTuple *d = (DeferredTuple *) list_nth(b->deferred, i);

		if (hnsw_vector_usable(d->value, &b->info, b->info.dim))
			add_tuple(b, &d->tid, d->value);
	}
	b->deferred = NIL;
	MemoryContextReset(b->deferred_ctx);
}

static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	BuildState *b = (BuildState *) state;

	b->reltuples++;
	if (isnull[0])
		return;

	/*
	 * A recently-dead tuple (deleted or updated, but an older snapshot may
	 * still see it) is indexed like a live one, so that a transaction older
	 * than the build still finds it through the new index.  But its vector
	 * is history: a row inserted empty and filled by an UPDATE, or embedded
	 * with an earlier model.  One the index could not hold is skipped (no
	 * snapshot taken from now on sees it; an older one may miss it in the
	 * index, where a sequential scan would fail on it anyway), and it does
	 * not get to fix the dimension the live rows must have.
	 */
	if (!tupleIsAlive)
	{
		if (!hnsw_vector_usable(values[0], &b->info, b->info.dim))
			return;
		if (b->info.dim == 0)
		{
			MemoryContext old = MemoryContextSwitchTo(b->deferred_ctx);
			DeferredTuple *d = palloc(sizeof(DeferredTuple));

			d->tid = *tid;
			d->value = PointerGetDatum(PG_DETOAST_DATUM_COPY(values[0]));
			b->deferred = lappend(b->deferred, d);
			MemoryContextSwitchTo(old);
			return;
		}
	}
	add_tuple(b, tid, values[0]);
	if (b->deferred != NIL)
		add_deferred(b);
}

static void
hnsw_build_check_options(const HnswIndexInfo *info)
{
	if (info->ef_construction < 2 * info->m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction (%d) must be at least twice m (%d)",
						info->ef_construction, info->m),
				 errhint("Raise ef_construction or lower m.")));
}

IndexBuildResult *
hnsw_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	BuildState	b;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));

	memset(&b, 0, sizeof(b));
	b.heap = heap;
	b.index = index;
	b.info.metric = hnsw_index_metric(index);
	hnsw_index_options(index, &b.info.m, &b.info.ef_construction);
	b.info.storage = hnsw_index_storage(index);
	hnsw_build_check_options(&b.info);
	b.info.dim = 0;
	b.entry = -1;
	b.gen = 0;
	b.memlimit = (Size) maintenance_work_mem * 1024;
	ecml_rng_seed(&b.rng, UINT64CONST(0x45434d4c484e5357));	/* "ECMLHNSW" */
	b.ctx = AllocSetContextCreate(CurrentMemoryContext, "ecml_hnsw build",
								  ALLOCSET_DEFAULT_SIZES);
	b.deferred_ctx = AllocSetContextCreate(CurrentMemoryContext, "ecml_hnsw build deferred",
										   ALLOCSET_SMALL_SIZES);
	hnsw_build_scratch(&b);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_MEMORY);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) Max(heap->rd_rel->reltuples, 0));
	if (!hnsw_build_parallel(&b, indexInfo))
	{
		b.reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
											 build_callback, &b, NULL);
		if (b.deferred != NIL)
			add_deferred(&b);
		if (!b.on_disk)
			hnsw_build_write_graph(&b);
	}
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) b.indtuples);
	/* the heuristic's prunes left some elements without a way in */
	hnsw_relink_unreached(index, NULL);
	MemoryContextDelete(b.ctx);
	MemoryContextDelete(b.deferred_ctx);

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = b.reltuples;
	result->index_tuples = b.indtuples;
	return result;
}

/*
 * ambuildempty: the meta page of an unlogged index's init fork, from which
 * crash recovery and promotion reset the index.  Generic WAL writes nothing
 * for an unlogged relation and a shared buffer may never be written before
 * a crash, so the page is written to the fork directly, WAL-logged (a
 * standby, and recovery that recreates the database directory, get it
 * from the record) and synced at once: the write bypassed shared buffers,
 * so a checkpoint that began after the record would not flush it.
 */
void
hnsw_buildempty(Relation index)
{
	PGAlignedBlock block;
	Page		page = block.data;
	HnswIndexInfo info;

	info.metric = hnsw_index_metric(index);
	hnsw_index_options(index, &info.m, &info.ef_construction);
	info.storage = hnsw_index_storage(index);
	info.dim = 0;
	hnsw_build_fill_meta(page, &info, HNSW_INVALID_ADDR, 0, InvalidBlockNumber);

	log_newpage(ECML_SMGR_LOCATOR(RelationGetSmgr(index)), INIT_FORKNUM,
				HNSW_METAPAGE_BLKNO, page, true);
	PageSetChecksumInplace(page, HNSW_METAPAGE_BLKNO);
	smgrextend(RelationGetSmgr(index), INIT_FORKNUM, HNSW_METAPAGE_BLKNO,
			   (char *) page, true);
	smgrimmedsync(RelationGetSmgr(index), INIT_FORKNUM);
}
