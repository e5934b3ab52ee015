/*
 * detoast_cache.c
 *	  The current statement's vectors that are stored out of line, fetched
 *	  from TOAST once.
 *
 * A real[] of more than about 500 elements is stored out of line, and every
 * function call that reads it fetches its chunks again: a lookup in the
 * TOAST table's index and two or more heap pages.  A query that compares
 * one such vector with many rows pays that for the same vector on every
 * row (the query vector of a kNN join's inner scan), and the rows an index
 * scan returns pay it twice or three times: the executor's re-rank of a
 * half or int8 index, then the ORDER BY value the scan's projection
 * computes again.  perf put those fetches at a quarter of a 768-dimension
 * kNN join over a float index.
 *
 * Identity: a TOAST pointer names one immutable value for as long as the
 * value exists, and its value id is reused only after the value was deleted
 * and vacuumed away, which cannot happen to a value the running statement
 * has read while its snapshot holds the rows back.  So entries live for one
 * statement of one transaction and are keyed by the whole pointer.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/xact.h"
#include "detoast_cache.h"
#include "ecml_compat.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* larger values (over 16,000 floats) are detoasted as usual */
#define DETOAST_CACHE_MAX_VALUE ((Size) 64 * 1024 + VARHDRSZ)

typedef struct DetoastSlot
{
	varatt_external pointer;
	struct varlena *value;		/* NULL: empty */
	uint64		last_used;
} DetoastSlot;

static DetoastSlot slots[DETOAST_CACHE_SLOTS];
static MemoryContext cache_cxt = NULL;
static uint64 clock_now = 0;
static LocalTransactionId cache_lxid = InvalidLocalTransactionId;
static TimestampTz cache_statement = 0;

/* Empty the cache when a new statement or transaction has begun. */
static void
cache_check_statement(void)
{
	TimestampTz stmt = GetCurrentStatementStartTimestamp();

	if (cache_cxt != NULL && ECML_MY_LXID() == cache_lxid && stmt == cache_statement)
		return;
	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "ecml detoast cache",
										  ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(cache_cxt);
	memset(slots, 0, sizeof(slots));
	cache_lxid = ECML_MY_LXID();
	cache_statement = stmt;
}

/* The slot to refill: an empty one, else the least recently used. */
static DetoastSlot *
cache_victim(void)
{
	DetoastSlot *victim = &slots[0];

	for (int i = 0; i < DETOAST_CACHE_SLOTS; i++)
	{
		if (slots[i].value == NULL)
			return &slots[i];
		if (slots[i].last_used < victim->last_used)
			victim = &slots[i];
	}
	pfree(victim->value);
	victim->value = NULL;
	return victim;
}

struct varlena *
ecml_detoast_cached(struct varlena *v)
{
	varatt_external pointer;
	DetoastSlot *slot;
	MemoryContext old;

	if (!VARATT_IS_EXTERNAL_ONDISK(v))
		return pg_detoast_datum(v);
	VARATT_EXTERNAL_GET_POINTER(pointer, v);
	if ((Size) pointer.va_rawsize > DETOAST_CACHE_MAX_VALUE)
		return pg_detoast_datum(v);

	cache_check_statement();
	for (int i = 0; i < DETOAST_CACHE_SLOTS; i++)
	{
		if (slots[i].value != NULL &&
			slots[i].pointer.va_valueid == pointer.va_valueid &&
			memcmp(&slots[i].pointer, &pointer, sizeof(pointer)) == 0)
		{
			slots[i].last_used = ++clock_now;
			return slots[i].value;
		}
	}

	/* detoast straight into the cache: a failed fetch leaves the slot empty */
	slot = cache_victim();
	old = MemoryContextSwitchTo(cache_cxt);
	slot->value = detoast_attr(v);
	MemoryContextSwitchTo(old);
	slot->pointer = pointer;
	slot->last_used = ++clock_now;
	return slot->value;
}
