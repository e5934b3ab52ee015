/*
 * hnsw_build.h
 *	  The in-memory graph of an ecml_hnsw build (hnsw_build_graph.c), used
 *	  by the serial build (hnsw_build.c) and the parallel one
 *	  (hnsw_build_parallel.c).  Elements
 *	  are numbered, and neighbour lists hold numbers, not pointers, so the
 *	  same arrays work in a process's own memory and in a dynamic shared
 *	  memory segment mapped at a different address in every process.
 */
#ifndef ECML_HNSW_BUILD_H
#define ECML_HNSW_BUILD_H

#include "ecml.h"
#include "hnsw.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

/*
 * The fewest dimensions at which a build computes its distances over half
 * copies (hnsw_build_half_wanted): measured in test/bench/RESULTS.md
 */
#define HNSW_BUILD_HALF_MIN_DIM 64

/* a (distance, element) pair of the in-memory searches */
typedef struct BuildPair
{
	float		d;
	int32		id;
} BuildPair;

typedef struct BuildHeap
{
	BuildPair  *p;
	int			n;
	int			cap;
	bool		max;
} BuildHeap;

/*
 * The state of a parallel build in its dynamic shared memory segment; the
 * graph's arrays follow in a second chunk, laid out by the first process
 * that sees a row (the dimension fixes their sizes).
 */
typedef struct HnswBuildShared
{
	/* set by the leader before the workers start */
	Oid heaprelid;
	Oid indexrelid;
	bool isconcurrent;
	int tranche;		/* of the element locks */
	HnswIndexInfo info; /* dim 0: see below */
	Size graph_bytes;	/* size of the graph chunk */

	slock_t mutex;
	/* under mutex */
	int dim;	/* 0 until the layout is set */
	int64 maxn; /* elements that fit */
	Size off_vecs,
		off_nb0,
		off_upoff,
		off_tids,
		off_levels,
		off_hvecs,
		off_centre,
		off_upool;	  /* offsets into the graph chunk; locks at 0 */
	bool half;		  /* the graph has half copies (hnsw_build_half_wanted) */
	double est_rows;  /* rows the table was estimated to have */
	uint64 upool_cap; /* int32s in the pool */
	int32 entry;
	int maxlevel;
	double reltuples; /* sums over the participants */
	double indtuples;
	int nworkers_done;

	pg_atomic_uint64 next; /* element numbers handed out */
	pg_atomic_uint64 upool_used;
	pg_atomic_uint32 overflow; /* the graph did not fit: build serially */
	pg_atomic_uint32 nohalf;   /* a vector is beyond half's range */

	/* a ParallelTableScanDescData follows at HNSW_SHARED_SCAN_OFFSET */
} HnswBuildShared;

#define HNSW_SHARED_SCAN_OFFSET BUFFERALIGN(sizeof(HnswBuildShared))

typedef struct BuildState
{
	Relation heap;
	Relation index;
	HnswIndexInfo info;
	double reltuples; /* rows scanned */
	double indtuples; /* rows indexed */
	EcmlRng rng;

	/* the graph in memory: element i */
	int64 n;
	int64 cap;
	int64 maxn; /* most elements that fit maintenance_work_mem */
	Size memlimit;
	Size upper_bytes; /* neighbour lists above level 0 */
	float *vecs;	  /* i * dim */
	ItemPointerData *tids;
	uint8 *levels;
	int32 *nb0;	  /* i * (2m + 1): count, then ids (LIST_COUNT, ENTRY_ID) */
	int32 **nbup; /* level l > 0 at (l - 1) * (m + 1) */

	/*
	 * Half-precision copies of the vectors (i * dim), which the graph's
	 * distances are computed over while there are any: for L2, of v minus
	 * centre (one of the vectors; distances do not change, and data far
	 * from the origin keeps its precision); hq is the inserted element's
	 * vector minus centre.  NULL when the distances are over vecs.
	 */
	uint16 *hvecs;
	float *centre;
	float *hq;
	int32 entry;
	int maxlevel;

	/*
	 * A parallel build: the arrays above (but nbup) live in shared memory,
	 * the lists above level 0 at upool + upoff[i], and element i's lists
	 * are read and written under locks[i].
	 */
	struct HnswBuildShared *shared;
	LWLock *locks;
	uint32 *upoff;
	int32 *upool;
	int32 *listcopy; /* a list read under its lock */

	/* search scratch */
	uint32 *visited;
	uint32 gen;
	BuildHeap C,
		W;
	BuildPair *found;
	int32 *cand_ids;
	float *cand_d;
	int *order;
	int32 *keep;
	int32 *pruned;
	bool *cand_pruned; /* an overflowing list's marks (link_back_locked) */

	bool on_disk;
	MemoryContext ctx;
	List	   *deferred;		/* DeferredTuple (hnsw_build.c): old versions
								 * seen before the dimension was known */
	MemoryContext deferred_ctx;
} BuildState;

static inline float *
hnsw_build_vec(BuildState *b, int64 i)
{
	return b->vecs + (Size) i * b->info.dim;
}

/* hnsw_build_graph.c */
extern void hnsw_build_scratch(BuildState *b);
extern bool hnsw_build_half_wanted(const HnswIndexInfo *info);
extern bool hnsw_build_set_half(BuildState *b, int32 i);
extern bool hnsw_build_insert_mem(BuildState *b, int32 q);
extern int	hnsw_build_level(BuildState *b);
extern void hnsw_build_write_graph(BuildState *b);
extern void hnsw_build_fill_meta(Page page, const HnswIndexInfo *info, HnswAddr entry,
								 int entry_level, BlockNumber insert_blkno);

/* hnsw_build_parallel.c */
extern bool hnsw_build_parallel(BuildState *b, IndexInfo *indexInfo);

#endif							/* ECML_HNSW_BUILD_H */
