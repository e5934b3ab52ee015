/*
 * hnsw.h
 *	  ecml_hnsw: an index access method for approximate nearest-neighbour
 *	  search over real[] (Malkov & Yashunin, "Efficient and robust
 *	  approximate nearest neighbor search using Hierarchical Navigable Small
 *	  World graphs", IEEE TPAMI 2018).
 *
 * Page format (every page has an HnswPageOpaque special area):
 *
 *	 block 0	the meta page: HnswMetaPageData at the start of the contents.
 *	 block 1..	element pages: one index tuple per indexed heap row, an
 *				HnswElementTupleData header followed by the vector (dim
 *				floats; unit length for cosine) and the neighbour slots of
 *				every level of the element, level 0 first: 2m slots at level
 *				0, m at each level above.  A slot is a block number and an
 *				offset (6 bytes); unused slots are invalid and come after the
 *				used ones.  An element's size never changes after it is
 *				added, so neighbour lists are rewritten in place.
 *
 * Every change goes through generic WAL (or, for a fresh build, full-page
 * images of every page), so the index is crash-safe and replicates; an
 * unlogged index's init fork (its empty meta page) is WAL-logged and synced
 * when it is created.
 */
#ifndef ECML_HNSW_H
#define ECML_HNSW_H

#include "postgres.h"

#include "access/amapi.h"
#include "access/genam.h"
#include "access/itup.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

/* reloptions and GUCs: *_DEFAULT / *_MIN / *_MAX */
#define HNSW_M_DEFAULT			16
#define HNSW_M_MIN				2
#define HNSW_M_MAX				100
#define HNSW_EF_CONSTRUCTION_DEFAULT 64
#define HNSW_EF_CONSTRUCTION_MIN 4
#define HNSW_EF_CONSTRUCTION_MAX 1000
#define HNSW_EF_SEARCH_DEFAULT	40
#define HNSW_EF_SEARCH_MIN		1
#define HNSW_EF_SEARCH_MAX		1000
#define HNSW_MAX_SCAN_TUPLES_DEFAULT 20000
#define HNSW_MAX_SCAN_TUPLES_MIN 1
#define HNSW_MAX_SCAN_TUPLES_MAX INT_MAX

/* a resumed scan doubles its candidate set each round, up to this times ef_search */
#define HNSW_EF_GROWTH_MAX		8

/* half, int8: a scan's first batch when W holds at least twice as many */
#define HNSW_RERANK_BATCH		20

/*
 * A scan's first batch is never smaller than at the default ef_search (or
 * than its candidate set): a lower ef_search makes a search smaller, and a
 * LIMIT 10 query one search of ef_search candidates, as in the paper.
 */
#define HNSW_FIRST_BATCH_MIN	10	/* a quarter of HNSW_EF_SEARCH_DEFAULT */

/* levels are drawn from floor(-ln(U) / ln(m)); capped so a tuple stays small */
#define HNSW_MAX_LEVEL			15

#define HNSW_MAGIC				0x45484E53	/* "EHNS" */
#define HNSW_VERSION			1
#define HNSW_METAPAGE_BLKNO		0

/* build subphases in pg_stat_progress_create_index (1 is "initializing") */
#define HNSW_PHASE_MEMORY		2
#define HNSW_PHASE_WRITE		3
#define HNSW_PHASE_DISK			4

/* page kinds in HnswPageOpaque.flags */
#define HNSW_PAGE_META			1
#define HNSW_PAGE_ELEMENT		2

/*
 * How an element stores its vector (index option storage): 4, 2 or 1 byte
 * per dimension.  half and int8 keep, before the components, the norm of
 * the rounding error |x - decoded x| (int8 also its scale), so that a scan
 * can report a distance that is never above the exact one and let the
 * executor re-rank by the exact distance from the heap.
 */
typedef enum HnswStorage
{
	HNSW_STORAGE_FLOAT = 0,		/* float4[dim] */
	HNSW_STORAGE_HALF = 1,		/* float4 err, IEEE half[dim] */
	HNSW_STORAGE_INT8 = 2		/* float4 scale, float4 err, int8[dim] */
} HnswStorage;

/* the distance an operator class orders by (support function 1) */
typedef enum HnswMetric
{
	HNSW_METRIC_L2 = 1,			/* <->: internal distance |x - q|^2 */
	HNSW_METRIC_IP = 2,			/* <#>: internal distance -x.q */
	HNSW_METRIC_COSINE = 3		/* <=>: unit vectors, internal -x.q */
} HnswMetric;

typedef struct HnswPageOpaqueData
{
	uint32		magic;
	uint16		flags;
	uint16		unused;
} HnswPageOpaqueData;

typedef HnswPageOpaqueData *HnswPageOpaque;

#define HnswPageGetOpaque(page) ((HnswPageOpaque) PageGetSpecialPointer(page))

typedef struct HnswMetaPageData
{
	uint32		magic;
	uint32		version;
	int32		dim;			/* 0 until the first row is indexed */
	int32		m;
	int32		ef_construction;
	int32		metric;			/* HnswMetric the index was built with */
	BlockNumber entry_blkno;	/* InvalidBlockNumber when empty */
	OffsetNumber entry_offno;
	int16		entry_level;
	BlockNumber insert_blkno;	/* the last element page: where inserts go */
	int32		storage;		/* HnswStorage of the vectors (0 before issue 17) */
} HnswMetaPageData;

typedef HnswMetaPageData *HnswMetaPage;

#define HnswPageGetMeta(page) ((HnswMetaPage) PageGetContents(page))

/* a neighbour slot: 6 bytes, no alignment */
typedef struct HnswSlot
{
	BlockIdData blk;
	OffsetNumber off;
} HnswSlot;

typedef struct HnswElementTupleData
{
	ItemPointerData heaptid;
	uint8		level;
	uint8		flags;			/* HNSW_ELEMENT_* */
	/* the vector follows (offset 8, hnsw_vector_bytes), then HnswSlot slots[] */
} HnswElementTupleData;

typedef HnswElementTupleData *HnswElementTuple;

/*
 * Set by VACUUM on an element whose heap row is dead, before it repairs
 * the graph and removes it: searches still pass through it, but inserts no
 * longer choose it as a neighbour.
 */
#define HNSW_ELEMENT_DELETED	0x01

/*
 * The heavyweight page lock (on the meta page's number) that inserts hold
 * in share mode while they link a new element: VACUUM takes it exclusively,
 * after marking the dead elements, to wait for the inserts that may have
 * chosen them as neighbours before they were marked.
 */
#define HNSW_UPDATE_LOCK		HNSW_METAPAGE_BLKNO

#define HNSW_ELEMENT_HEADER		MAXALIGN(sizeof(HnswElementTupleData))
#define HnswElementVector(t)	((char *) (t) + HNSW_ELEMENT_HEADER)
#define HnswElementSlots(t, storage, dim) \
	((HnswSlot *) ((char *) (t) + HNSW_ELEMENT_HEADER + hnsw_vector_bytes(storage, dim)))

/* bytes of a stored vector; even, so the slots after it stay 2-aligned */
static inline Size
hnsw_vector_bytes(int storage, int dim)
{
	switch (storage)
	{
		case HNSW_STORAGE_HALF:
			return sizeof(float) + 2 * (Size) dim;
		case HNSW_STORAGE_INT8:
			return 2 * sizeof(float) + (((Size) dim + 1) & ~(Size) 1);
	}
	return sizeof(float) * (Size) dim;
}

/* slots of level l: 2m at level 0, m above; first slot index of level l */
static inline int
hnsw_level_capacity(int m, int level)
{
	return level == 0 ? 2 * m : m;
}

static inline int
hnsw_level_start(int m, int level)
{
	return level == 0 ? 0 : 2 * m + (level - 1) * m;
}

static inline Size
hnsw_element_size(int storage, int dim, int m, int level)
{
	return HNSW_ELEMENT_HEADER + hnsw_vector_bytes(storage, dim) +
		sizeof(HnswSlot) * (2 * m + level * m);
}

/* the largest element a page can hold */
#define HNSW_MAX_ELEMENT_SIZE \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(ItemIdData)) - \
	 MAXALIGN(sizeof(HnswPageOpaqueData)))

/* an element's address in the index, packed for hashing and comparing */
typedef uint64 HnswAddr;

#define HNSW_INVALID_ADDR		PG_UINT64_MAX
#define HnswMakeAddr(blk, off)	(((uint64) (blk) << 16) | (uint64) (off))
#define HnswAddrBlock(a)		((BlockNumber) ((a) >> 16))
#define HnswAddrOffset(a)		((OffsetNumber) ((a) & 0xffff))

static inline HnswAddr
hnsw_slot_addr(const HnswSlot *s)
{
	if (s->off == InvalidOffsetNumber)
		return HNSW_INVALID_ADDR;
	return HnswMakeAddr(BlockIdGetBlockNumber(&s->blk), s->off);
}

static inline void
hnsw_slot_set(HnswSlot *s, HnswAddr a)
{
	if (a == HNSW_INVALID_ADDR)
	{
		BlockIdSet(&s->blk, InvalidBlockNumber);
		s->off = InvalidOffsetNumber;
	}
	else
	{
		BlockIdSet(&s->blk, HnswAddrBlock(a));
		s->off = HnswAddrOffset(a);
	}
}

/* reloptions */
typedef struct HnswOptions
{
	int32		vl_len_;
	int			m;
	int			ef_construction;
	int			storage_offset; /* the storage option's string */
} HnswOptions;

/* what a build, insert, scan or vacuum knows about the index */
typedef struct HnswIndexInfo
{
	HnswMetric	metric;
	int			dim;			/* from the meta page; 0 when not yet fixed */
	int			m;
	int			ef_construction;
	int			storage;		/* HnswStorage, from the meta page */
} HnswIndexInfo;

/* GUCs */
extern int	hnsw_ef_search;
extern int	hnsw_max_scan_tuples;
extern bool hnsw_strict_order;

/* the storage option's value by name; -1 for an unknown name */
extern int	hnsw_storage_from_name(const char *name);

/* hnsw.c */
extern void hnsw_init(void);
extern HnswMetric hnsw_index_metric(Relation index);
extern void hnsw_index_options(Relation index, int *m, int *ef_construction);
extern HnswStorage hnsw_index_storage(Relation index);
extern int	hnsw_first_ef(int storage);
extern const char *hnsw_storage_name(int storage);
extern void hnsw_check_fits(const HnswIndexInfo *info, int dim);
extern void hnsw_encode_vector(int storage, const float *x, int dim, char *out);
extern void hnsw_decode_vector(int storage, const char *in, int dim, float *out);
extern float hnsw_vector_error(int storage, const char *in);
extern float *hnsw_prepare_vector(Datum value, HnswMetric metric, int dim,
								  const char *what, int *dim_out, float *buf);
extern void hnsw_check_dim(int have, int got, const char *what);
extern bool hnsw_vector_usable(Datum value, const HnswIndexInfo *info, int dim);
extern double hnsw_reported_distance(HnswMetric metric, float internal);
extern void hnsw_init_page(Page page, uint16 kind);
extern void hnsw_check_page(Relation index, Page page, BlockNumber blkno);
extern void hnsw_read_meta(Relation index, HnswMetaPageData *meta);
extern void hnsw_meta_info(Relation index, const HnswMetaPageData *meta,
						   HnswIndexInfo *info);
extern int	hnsw_random_level(double u, int m);

static inline float hnsw_distance(HnswMetric metric, const float *x, const float *y, int dim);

/*
 * distance of a stored vector x' to q; scratch holds dim floats.  A
 * cosine index storing half or int8 also sets *norm2 = |x'|^2 (the scan's
 * bound); int8 codes are read without decoding (distance.c).
 */
static inline float
hnsw_stored_distance(const HnswIndexInfo *info, const char *stored, const float *q,
					 float *scratch, float *norm2)
{
	extern float ecml_inner_product_f32(const float *x, const float *y, int n);
	extern float ecml_l2_squared_i8(const int8 *c, float scale, const float *q, int n);
	extern float ecml_dot_i8(const int8 *c, float scale, const float *q, int n, float *norm2);

	if (info->storage == HNSW_STORAGE_FLOAT)
		return hnsw_distance(info->metric, (const float *) stored, q, info->dim);
	if (info->storage == HNSW_STORAGE_INT8)
	{
		const int8 *codes = (const int8 *) (stored + 2 * sizeof(float));
		float		scale;

		memcpy(&scale, stored + sizeof(float), sizeof(float));
		if (info->metric == HNSW_METRIC_L2)
			return ecml_l2_squared_i8(codes, scale, q, info->dim);
		return -ecml_dot_i8(codes, scale, q, info->dim, norm2);
	}
	hnsw_decode_vector(info->storage, stored, info->dim, scratch);
	if (info->metric == HNSW_METRIC_COSINE)
		*norm2 = ecml_inner_product_f32(scratch, scratch, info->dim);
	return hnsw_distance(info->metric, scratch, q, info->dim);
}

static inline float
hnsw_distance(HnswMetric metric, const float *x, const float *y, int dim)
{
	extern float ecml_inner_product_f32(const float *x, const float *y, int n);
	extern float ecml_l2_squared_f32(const float *x, const float *y, int n);

	if (metric == HNSW_METRIC_L2)
		return ecml_l2_squared_f32(x, y, dim);
	return -ecml_inner_product_f32(x, y, dim);
}

/* hnsw_graph.c: the graph on disk, shared by insert and scan */

/* a found element during a search of the graph on disk */
typedef struct HnswCand
{
	HnswAddr	addr;
	float		dist;
	float		err;			/* the stored vector's rounding error (half, int8) */
	float		norm2;			/* |x'|^2 of the stored vector (cosine: half, int8) */
	uint8		state;			/* HNSW_CAND_* */
	ItemPointerData heaptid;
} HnswCand;

#define HNSW_CAND_EXPANDED	1	/* its neighbours were visited */
#define HNSW_CAND_IN_C		2	/* it is in the candidate heap */
#define HNSW_CAND_EMITTED	4	/* returned by the scan */
#define HNSW_CAND_DELETED	8	/* marked HNSW_ELEMENT_DELETED */

/* an entry of a heap: the candidate's distance kept beside its index */
typedef struct HnswHeapItem
{
	float		dist;
	int			idx;
} HnswHeapItem;

/*
 * a binary heap of indexes into an HnswCand array, min or max by dist;
 * filled by hnsw_heap_append, it is put in order by its first pop
 */
typedef struct HnswHeap
{
	HnswHeapItem *items;
	int			n;
	int			cap;
	bool		max;
	bool		ordered;		/* false after an append, until a pop */
} HnswHeap;

/* an open-addressing set of addresses (the visited set) */
typedef struct HnswAddrSet
{
	HnswAddr   *keys;
	uint32		mask;
	uint32		n;
} HnswAddrSet;

/* one search of the graph on disk: state kept across batches of a scan */
typedef struct HnswSearch
{
	Relation	index;
	HnswIndexInfo info;
	const float *query;
	HnswCand   *cands;
	int			ncands;
	int			capcands;
	HnswHeap	C;				/* candidates to expand, nearest first */
	HnswHeap	W;				/* the ef nearest found, farthest on top */
	HnswHeap	D;				/* found and dropped from W, nearest first */
	HnswAddrSet visited;
	int64		ndistances;		/* elements whose distance was computed */
	bool		keep_dropped;	/* keep D (a scan resumes from it) */
	bool		skip_deleted;	/* deleted elements are expanded, never in W */
	Buffer		buf;			/* the pinned (not locked) buffer, or invalid */
	HnswAddr   *nbuf;			/* scratch neighbour list */
	float	   *vbuf;			/* scratch decoded vector (half, int8) */
	int		   *nidx;			/* and the candidate numbers of its elements */
} HnswSearch;

extern void hnsw_heap_init(HnswHeap *h, bool max);
extern void hnsw_heap_push(HnswHeap *h, const HnswCand *c, int i);
extern void hnsw_heap_append(HnswHeap *h, const HnswCand *c, int i);
extern int	hnsw_heap_pop(HnswHeap *h, const HnswCand *c);

/* the top's index and distance (not after an append: pop first) */
static inline int
hnsw_heap_top(const HnswHeap *h)
{
	Assert(h->ordered);
	return h->items[0].idx;
}

static inline float
hnsw_heap_top_dist(const HnswHeap *h)
{
	Assert(h->ordered);
	return h->items[0].dist;
}

extern Buffer hnsw_read_buffer(Relation index, BlockNumber blkno);
extern void hnsw_addrset_init(HnswAddrSet *s, uint32 cap);
extern bool hnsw_addrset_add(HnswAddrSet *s, HnswAddr a);
extern bool hnsw_addrset_contains(const HnswAddrSet *s, HnswAddr a);

extern void hnsw_search_init(HnswSearch *s, Relation index,
							 const HnswIndexInfo *info, const float *query);
extern void hnsw_search_restart(HnswSearch *s, const float *query);
extern void hnsw_search_end(HnswSearch *s);
extern void hnsw_search_reset(HnswSearch *s);
extern int	hnsw_search_add(HnswSearch *s, HnswAddr addr);
extern void hnsw_search_seed(HnswSearch *s, int i);
extern int	hnsw_search_greedy(HnswSearch *s, int from, int level);
extern void hnsw_search_layer(HnswSearch *s, int ef, int level);
extern bool hnsw_search_resume(HnswSearch *s, int ef);
extern int	hnsw_search_entry(HnswSearch *s, HnswMetaPageData *meta);
extern int	hnsw_read_neighbours(Relation index, const HnswIndexInfo *info,
								 Buffer *buf, HnswAddr addr, int level,
								 HnswAddr *out, float *vec_out, int *level_out,
								 bool *deleted_out);
extern int	hnsw_select_neighbours(HnswMetric metric, int dim, const float *q,
								   const float *vecs, const float *dists,
								   const int *order, int ncand, int mmax,
								   bool keep_pruned, int *out);

/* hnsw_cost.c */
extern void hnsw_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
							  Cost *indexStartupCost, Cost *indexTotalCost,
							  Selectivity *indexSelectivity, double *indexCorrelation,
							  double *indexPages);
extern int	hnsw_index_dim(Oid indexoid);
extern double hnsw_distance_cost(int dim);
extern double hnsw_detoast_cost(int dim);

/* hnsw_build.c */
extern IndexBuildResult *hnsw_build(Relation heap, Relation index, IndexInfo *indexInfo);
extern void hnsw_buildempty(Relation index);

/* hnsw_insert.c */
extern bool hnsw_insert(Relation index, Datum *values, bool *isnull,
						ItemPointer heap_tid, Relation heap,
						IndexUniqueCheck checkUnique, bool indexUnchanged,
						IndexInfo *indexInfo);
extern void hnsw_link_back(Relation index, const HnswIndexInfo *info, HnswAddr e_addr,
						   int level, HnswAddr new_addr, const float *new_vec);
extern void hnsw_insert_vector(Relation index, const HnswIndexInfo *info,
							   const float *vec, ItemPointer heaptid, int level);

/* hnsw_scan.c */
extern IndexScanDesc hnsw_beginscan(Relation index, int nkeys, int norderbys);
extern void hnsw_rescan(IndexScanDesc scan, ScanKey keys, int nkeys,
						ScanKey orderbys, int norderbys);
extern bool hnsw_gettuple(IndexScanDesc scan, ScanDirection dir);
extern void hnsw_endscan(IndexScanDesc scan);

/* hnsw_vacuum.c */
extern IndexBulkDeleteResult *hnsw_bulkdelete(IndexVacuumInfo *info,
											  IndexBulkDeleteResult *stats,
											  IndexBulkDeleteCallback callback,
											  void *callback_state);
extern IndexBulkDeleteResult *hnsw_vacuumcleanup(IndexVacuumInfo *info,
												 IndexBulkDeleteResult *stats);
extern int64 hnsw_relink_unreached(Relation index, BufferAccessStrategy strategy);

#endif							/* ECML_HNSW_H */
