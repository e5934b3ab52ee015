/*
 * hnsw_build_parallel.c
 *	  A parallel ecml_hnsw build.  The leader and up to
 *	  max_parallel_maintenance_workers workers scan the heap together (a
 *	  parallel table scan, as nbtree's parallel build) and every one of them
 *	  inserts the rows it reads into one graph held in dynamic shared memory:
 *	  element numbers come from an atomic counter, each element's neighbour
 *	  lists are read and rewritten under its own LWLock, the entry point
 *	  under a spinlock.  The leader then writes the graph out as the serial
 *	  build does.
 *
 *	  The segment is sized from the table, at most maintenance_work_mem.
 *	  When the graph does not fit in it, or no worker could be started, the
 *	  index is built serially instead (which may then continue on disk).
 */
#include "postgres.h"

#include <math.h>

#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "distance.h"
#include "hnsw_build.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "storage/shm_toc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#define HNSW_KEY_SHARED		UINT64CONST(0xEC3100000000001)
#define HNSW_KEY_GRAPH		UINT64CONST(0xEC3100000000002)
#define HNSW_KEY_QUERY		UINT64CONST(0xEC3100000000003)

#define SharedScan(sh) \
	((ParallelTableScanDesc) ((char *) (sh) + HNSW_SHARED_SCAN_OFFSET))

/* one process's part of the build: its insertion state and the graph */
typedef struct Participant
{
	BuildState	b;
	char	   *graph;
	bool		progress;		/* the leader reports progress */
} Participant;

PGDLLEXPORT void ecml_hnsw_build_main(dsm_segment *seg, shm_toc *toc);

/* the element locks' tranche, one per backend that led a parallel build */
static int	build_tranche = 0;

/*
 * Lay the graph chunk out for vectors of dim: element locks, vectors,
 * level-0 lists, pool offsets, heap TIDs, levels, the half copies and
 * their centre when every estimated row fits with them, then the pool of
 * lists above level 0.  An element has 1/(m-1) upper levels on average;
 * the pool has room for twice that.  Arithmetic only: runs under the
 * spinlock.
 */
static void
set_layout(HnswBuildShared *sh, int dim)
{
	int m = sh->info.m;
	double upper = 2.0 * (m + 1) / (m - 1);
	Size per = sizeof(LWLock) + sizeof(float) * dim +
			   sizeof(int32) * (2 * m + 1) + sizeof(uint32) + sizeof(ItemPointerData) + 1;
	Size usable = sh->graph_bytes > 8192 + sizeof(float) * dim ? sh->graph_bytes - 8192 - sizeof(float) * dim : 0;
	double maxn = floor(usable / (per + sizeof(int32) * upper));
	double maxn_half = floor(usable / (per + sizeof(uint16) * dim + sizeof(int32) * upper));
	HnswIndexInfo info = sh->info;

	info.dim = dim;
	sh->half = hnsw_build_half_wanted(&info) && maxn_half >= sh->est_rows;
	if (sh->half)
		maxn = maxn_half;
	/* element numbers are int32, pool offsets uint32 */
	maxn = Min(maxn, (double) PG_INT32_MAX / (upper + 1));
	sh->dim = dim;
	sh->maxn = (int64) maxn;
	sh->off_vecs = MAXALIGN(sizeof(LWLock) * sh->maxn);
	sh->off_nb0 = MAXALIGN(sh->off_vecs + sizeof(float) * dim * sh->maxn);
	sh->off_upoff = MAXALIGN(sh->off_nb0 + sizeof(int32) * (2 * m + 1) * sh->maxn);
	sh->off_tids = MAXALIGN(sh->off_upoff + sizeof(uint32) * sh->maxn);
	sh->off_levels = MAXALIGN(sh->off_tids + sizeof(ItemPointerData) * sh->maxn);
	sh->off_hvecs = MAXALIGN(sh->off_levels + sh->maxn);
	sh->off_centre = MAXALIGN(sh->off_hvecs + (sh->half ? sizeof(uint16) * dim * sh->maxn : 0));
	sh->off_upool = MAXALIGN(sh->off_centre + sizeof(float) * dim);
	sh->upool_cap = sh->graph_bytes > sh->off_upool ? (sh->graph_bytes - sh->off_upool) / sizeof(int32) : 0;
}

/* Point b's arrays into the graph chunk, as laid out in sh. */
static void
attach_graph(BuildState *b, HnswBuildShared *sh, char *graph)
{
	b->shared = sh;
	b->info.dim = sh->dim;
	b->maxn = sh->maxn;
	b->locks = (LWLock *) graph;
	b->vecs = (float *) (graph + sh->off_vecs);
	b->nb0 = (int32 *) (graph + sh->off_nb0);
	b->upoff = (uint32 *) (graph + sh->off_upoff);
	b->tids = (ItemPointerData *) (graph + sh->off_tids);
	b->levels = (uint8 *) (graph + sh->off_levels);
	b->upool = (int32 *) (graph + sh->off_upool);
	b->hvecs = sh->half ? (uint16 *) (graph + sh->off_hvecs) : NULL;
	b->centre = (float *) (graph + sh->off_centre);
}

/* The first row this process sees: fix the layout if nobody has yet. */
static void
attach_layout(Participant *p, Datum value)
{
	BuildState *b = &p->b;
	HnswBuildShared *sh = b->shared;
	int			n;
	float	   *first = hnsw_prepare_vector(value, b->info.metric, 0, "vector", &n, NULL);

	hnsw_check_fits(&b->info, n);
	SpinLockAcquire(&sh->mutex);
	if (sh->dim == 0)
	{
		set_layout(sh, n);
		/* L2's half copies are of the vectors minus this first one */
		memcpy(p->graph + sh->off_centre, first, sizeof(float) * n);
	}
	SpinLockRelease(&sh->mutex);
	pfree(first);
	attach_graph(b, sh, p->graph);
	b->hq = palloc(sizeof(float) * n);
	if (b->hvecs)
		ereport(DEBUG1,
				(errmsg_internal("ecml_hnsw build: distances over half-precision copies")));
	/* the visited marks are this process's own */
	b->cap = b->maxn;
	b->visited = palloc_extended(sizeof(uint32) * Max(b->maxn, 1),
								 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

static void
parallel_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
				  bool tupleIsAlive, void *state)
{
	Participant *p = (Participant *) state;
	BuildState *b = &p->b;
	HnswBuildShared *sh = b->shared;
	uint64		id;
	int			n;

	if (isnull[0] || pg_atomic_read_u32(&sh->overflow))
		return;
	if (!tupleIsAlive)
	{
		int			dim = b->info.dim;

		/*
		 * An old version, as in the serial build_callback: indexed when the
		 * index can hold it; here one seen before any live row fixed the
		 * dimension is skipped rather than held back.
		 */
		if (dim == 0)
		{
			SpinLockAcquire(&sh->mutex);
			dim = sh->dim;
			SpinLockRelease(&sh->mutex);
		}
		if (dim == 0 || !hnsw_vector_usable(values[0], &b->info, dim))
			return;
	}
	if (b->info.dim == 0)
		attach_layout(p, values[0]);

	id = pg_atomic_fetch_add_u64(&sh->next, 1);
	if (id >= (uint64) b->maxn)
	{
		pg_atomic_write_u32(&sh->overflow, 1);
		return;
	}
	hnsw_prepare_vector(values[0], b->info.metric, b->info.dim, "vector", &n,
						b->vecs + (Size) id * b->info.dim);
	/* once a vector is beyond half's range, every process uses floats */
	if (b->hvecs && (pg_atomic_read_u32(&sh->nohalf) || !hnsw_build_set_half(b, (int32) id)))
	{
		pg_atomic_write_u32(&sh->nohalf, 1);
		b->hvecs = NULL;
	}
	b->tids[id] = *tid;
	b->levels[id] = hnsw_build_level(b);
	LWLockInitialize(&b->locks[id], sh->tranche);
	if (!hnsw_build_insert_mem(b, (int32) id))
	{
		pg_atomic_write_u32(&sh->overflow, 1);
		return;
	}
	b->indtuples++;
	if (p->progress && (int64) b->indtuples % 1000 == 0)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
									 (int64) pg_atomic_read_u64(&sh->next));
}

/* Scan this process's share of the heap into the graph; add up the counts. */
static void
participate(HnswBuildShared *sh, char *graph, Relation heap, Relation index,
			IndexInfo *indexInfo, bool progress)
{
	Participant p;
	TableScanDesc scan;
	double		reltuples;

	memset(&p, 0, sizeof(p));
	p.b.heap = heap;
	p.b.index = index;
	p.b.info = sh->info;
	p.b.info.dim = 0;
	p.b.shared = sh;
	p.graph = graph;
	p.progress = progress;
	/* every process its own stream of levels */
	ecml_rng_seed(&p.b.rng, UINT64CONST(0x45434d4c484e5357) + ParallelWorkerNumber + 1);
	hnsw_build_scratch(&p.b);

	scan = table_beginscan_parallel(heap, SharedScan(sh));
	reltuples = table_index_build_scan(heap, index, indexInfo, true, progress,
									   parallel_callback, &p, scan);

	SpinLockAcquire(&sh->mutex);
	sh->reltuples += reltuples;
	sh->indtuples += p.b.indtuples;
	sh->nworkers_done++;
	SpinLockRelease(&sh->mutex);
}

/* the number of workers to ask for; 0 builds serially */
static int
workers_wanted(BuildState *b, IndexInfo *indexInfo)
{
	if (!IsNormalProcessingMode() || IsInParallelMode())
		return 0;
#if PG_VERSION_NUM >= 170000
	/* index_build asked the planner, since amcanbuildparallel is set */
	return indexInfo->ii_ParallelWorkers;
#else
	/* PostgreSQL 15 asks the planner for btree only: ask it here */
	return plan_create_index_workers(RelationGetRelid(b->heap), RelationGetRelid(b->index));
#endif
}

static void
end_parallel(ParallelContext *pcxt, Snapshot snapshot)
{
	if (IsMVCCSnapshot(snapshot))
		UnregisterSnapshot(snapshot);
	DestroyParallelContext(pcxt);
	ExitParallelMode();
}

/*
 * The graph chunk's size: maintenance_work_mem, or less for a smaller
 * table.  The graph keeps each vector as float4 like the heap (or its TOAST
 * table) does, and for cosine and L2 half as much again for the half
 * copies, plus the element's lists and bookkeeping; a quarter more covers
 * the rest.  A graph that does not fit after all is built serially.
 * Returns the rows the table is estimated to have in *rows.
 */
static Size
graph_bytes(BuildState *b, double *rows)
{
	bool halves = hnsw_build_half_wanted(&b->info); /* dim still 0 */
	Relation heap = b->heap;
	int m = b->info.m;
	double pages = RelationGetNumberOfBlocks(heap);
	double tuples;
	double per = sizeof(LWLock) + sizeof(int32) * (2 * m + 1) + 64 +
				 sizeof(int32) * 2.0 * (m + 1) / (m - 1);
	double need;

	/* rows per page as last counted, else at most one per 32 bytes */
	if (heap->rd_rel->relpages > 0 && heap->rd_rel->reltuples >= 0)
		tuples = heap->rd_rel->reltuples / heap->rd_rel->relpages * pages;
	else
		tuples = pages * BLCKSZ / 32;
	if (OidIsValid(heap->rd_rel->reltoastrelid))
	{
		Relation	toast = table_open(heap->rd_rel->reltoastrelid, AccessShareLock);

		pages += RelationGetNumberOfBlocks(toast);
		table_close(toast, AccessShareLock);
	}
	*rows = tuples;
	need = 1.25 * ((halves ? 1.5 : 1.0) * pages * BLCKSZ + tuples * per) + 1024 * 1024;
	return need < (double) b->memlimit ? (Size) need : b->memlimit;
}

/* the shared state, the graph chunk and the query text in a new segment */
static HnswBuildShared *
setup_shared(ParallelContext *pcxt, BuildState *b, IndexInfo *indexInfo,
			 Snapshot snapshot, Size estshared, Size gbytes, char **graph)
{
	HnswBuildShared *sh = shm_toc_allocate(pcxt->toc, estshared);

	memset(sh, 0, sizeof(HnswBuildShared));
	sh->heaprelid = RelationGetRelid(b->heap);
	sh->indexrelid = RelationGetRelid(b->index);
	sh->isconcurrent = indexInfo->ii_Concurrent;
	if (build_tranche == 0)
		build_tranche = LWLockNewTrancheId();
	LWLockRegisterTranche(build_tranche, "ecml_hnsw_build");
	sh->tranche = build_tranche;
	sh->info = b->info;
	sh->graph_bytes = gbytes;
	SpinLockInit(&sh->mutex);
	sh->entry = -1;
	pg_atomic_init_u64(&sh->next, 0);
	pg_atomic_init_u64(&sh->upool_used, 0);
	pg_atomic_init_u32(&sh->overflow, 0);
	pg_atomic_init_u32(&sh->nohalf, 0);
	table_parallelscan_initialize(b->heap, SharedScan(sh), snapshot);
	shm_toc_insert(pcxt->toc, HNSW_KEY_SHARED, sh);

	*graph = shm_toc_allocate(pcxt->toc, gbytes);
	shm_toc_insert(pcxt->toc, HNSW_KEY_GRAPH, *graph);

	if (debug_query_string)
	{
		Size		len = strlen(debug_query_string) + 1;
		char	   *q = shm_toc_allocate(pcxt->toc, len);

		memcpy(q, debug_query_string, len);
		shm_toc_insert(pcxt->toc, HNSW_KEY_QUERY, q);
	}
	return sh;
}

/* Write the finished shared graph out with b, the leader's state. */
static void
write_shared_graph(BuildState *b, HnswBuildShared *sh, char *graph)
{
	uint64		next = pg_atomic_read_u64(&sh->next);

	b->reltuples = sh->reltuples;
	b->indtuples = sh->indtuples;
	if (sh->dim > 0)
		attach_graph(b, sh, graph);
	b->n = Min((int64) next, b->maxn);
	b->entry = sh->entry;
	b->maxlevel = sh->maxlevel;
	b->cap = b->n;
	b->gen = 0;
	b->visited = palloc_extended(sizeof(uint32) * Max(b->n, 1),
								 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	hnsw_build_write_graph(b);
	b->shared = NULL;
}

/*
 * Build the index with parallel workers when the planner grants some;
 * false when the caller is to build it serially (nothing was written).
 */
bool
hnsw_build_parallel(BuildState *b, IndexInfo *indexInfo)
{
	int			request = workers_wanted(b, indexInfo);
	ParallelContext *pcxt;
	Snapshot	snapshot;
	Size		estshared;
	Size		gbytes;
	double		est_rows;
	HnswBuildShared *sh;
	char	   *graph;
	bool		done;
	MemoryContext old;

	if (request <= 0)
		return false;

	EnterParallelMode();
	pcxt = CreateParallelContext("ecml", "ecml_hnsw_build_main", request);
	/* as nbtree: every tuple for a plain build, an MVCC snapshot for CIC */
	snapshot = indexInfo->ii_Concurrent ? RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;
	estshared = add_size(HNSW_SHARED_SCAN_OFFSET,
						 table_parallelscan_estimate(b->heap, snapshot));
	shm_toc_estimate_chunk(&pcxt->estimator, estshared);
	gbytes = graph_bytes(b, &est_rows);
	shm_toc_estimate_chunk(&pcxt->estimator, gbytes);
	shm_toc_estimate_keys(&pcxt->estimator, 2);
	if (debug_query_string)
	{
		shm_toc_estimate_chunk(&pcxt->estimator, strlen(debug_query_string) + 1);
		shm_toc_estimate_keys(&pcxt->estimator, 1);
	}
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		end_parallel(pcxt, snapshot);
		return false;
	}
	sh = setup_shared(pcxt, b, indexInfo, snapshot, estshared, gbytes, &graph);
	sh->est_rows = est_rows;

	LaunchParallelWorkers(pcxt);
	if (pcxt->nworkers_launched == 0)
	{
		end_parallel(pcxt, snapshot);
		return false;
	}
	ereport(DEBUG1,
			(errmsg_internal("ecml_hnsw build: %d parallel workers launched (%d requested), %zu bytes of shared memory for the graph",
							 pcxt->nworkers_launched, request, gbytes)));

	old = MemoryContextSwitchTo(b->ctx);
	participate(sh, graph, b->heap, b->index, indexInfo, true);
	WaitForParallelWorkersToFinish(pcxt);

	done = pg_atomic_read_u32(&sh->overflow) == 0;
	if (done)
		write_shared_graph(b, sh, graph);
	else
		ereport(DEBUG1,
				(errmsg_internal("ecml_hnsw build: the graph does not fit %zu bytes of shared memory, building serially",
								 gbytes)));
	MemoryContextSwitchTo(old);
	end_parallel(pcxt, snapshot);
	/* the serial build starts from scratch, in an empty context */
	if (!done)
		MemoryContextReset(b->ctx);
	return done;
}

/* The entry point of a parallel build's worker (the name is looked up). */
void
ecml_hnsw_build_main(dsm_segment *seg, shm_toc *toc)
{
	HnswBuildShared *sh;
	char	   *graph;
	Relation	heap;
	Relation	index;
	IndexInfo  *indexInfo;
	LOCKMODE	heapmode;
	LOCKMODE	indexmode;

	debug_query_string = shm_toc_lookup(toc, HNSW_KEY_QUERY, true);
	pgstat_report_activity(STATE_RUNNING, debug_query_string);
	sh = shm_toc_lookup(toc, HNSW_KEY_SHARED, false);
	graph = shm_toc_lookup(toc, HNSW_KEY_GRAPH, false);

	/* the lock modes index.c holds in the leader, as nbtree's workers */
	heapmode = sh->isconcurrent ? ShareUpdateExclusiveLock : ShareLock;
	indexmode = sh->isconcurrent ? RowExclusiveLock : AccessExclusiveLock;
	heap = table_open(sh->heaprelid, heapmode);
	index = index_open(sh->indexrelid, indexmode);
	indexInfo = BuildIndexInfo(index);
	indexInfo->ii_Concurrent = sh->isconcurrent;
	LWLockRegisterTranche(sh->tranche, "ecml_hnsw_build");

	participate(sh, graph, heap, index, indexInfo, false);

	index_close(index, indexmode);
	table_close(heap, heapmode);
}
