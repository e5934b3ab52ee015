/*
 * model_cache.c
 *	  The parsed-model cache (model.h): a scoring function asks for its
 *	  model argument parsed by the kind's parser and gets it back from its
 *	  call site or from a small per-backend cache instead of parsing it per
 *	  row.  It knows no model kind: the caller passes the parser.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "miscadmin.h"
#include "ecml.h"
#include "model.h"
#include "nodes/primnodes.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* ---- the parsed-model cache ---- */

/*
 * Identity.  The header holds the payload's CRC32C, which catches damage
 * but not a model made on purpose to share another's header: CRC32C is
 * affine, so anyone can pick four bytes of a changed payload that restore
 * the old CRC.  Two different models must never share a parse (one role
 * could otherwise make another role's scoring use its weights), so a slot
 * is keyed by the SHA-256 of the whole value, computed when the value is
 * read in full anyway (to check its CRC).  The shortcuts that do not read
 * the whole value rely on identities PostgreSQL guarantees instead: an
 * out-of-line value is immutable under its TOAST pointer, so a slot lists
 * the TOAST pointers found to hold its bytes; an inline value at a call
 * site is compared byte for byte with the last one (up to
 * CALLSITE_COPY_MAX bytes), or by address for larger in-memory values,
 * which a query builds once (a parameter, a PL/pgSQL variable, an
 * InitPlan) rather than per row.  A model written into the query as a
 * constant is compared by address alone, whatever its size: a Const's
 * value is the same bytes at the same address for as long as the call
 * site exists, and the byte comparison was a sixth of a scoring query's
 * time.
 */
#define CACHE_SLOTS 16
#define CACHE_MAX_BYTES ((Size) 1024 * 1024 * 1024)
#define CACHE_TOAST_IDS 4
#define CALLSITE_COPY_MAX ((Size) 64 * 1024)

/* What names an out-of-line value for as long as it exists. */
typedef struct ToastId
{
	Oid			toastrelid;
	Oid			valueid;
} ToastId;

typedef struct CacheSlot
{
	uint64		serial;			/* 0: empty */
	uint64		last_used;
	char		header[ECML_HEADER_SIZE];
	Size		size;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];	/* key: SHA-256 of the value */
	int			ntoast;			/* out-of-line values known to hold it */
	ToastId		toast[CACHE_TOAST_IDS];
	EcmlParseFn parse;
	MemoryContext mcxt;
	Size		bytes;
	void	   *parsed;
} CacheSlot;

static CacheSlot cache_slots[CACHE_SLOTS];
static uint64 cache_serial = 0;
static uint64 cache_clock = 0;
static MemoryContext cache_context = NULL;

/* What a call site (fn_extra) remembers about the last model it saw. */
typedef struct CallSiteCache
{
	int			slot;
	uint64		serial;
	bool		external;
	varatt_external toast;		/* identity of an out-of-line value */
	Size		size;			/* an inline value: its size (0: none) ... */
	char		header[ECML_HEADER_SIZE];	/* ... header ... */
	const void *address;		/* ... and address, or ... */
	char	   *copy;			/* ... all of it, when small */
	Size		copy_alloc;
	bool		arg_const;		/* the model argument is a Const */
} CallSiteCache;

static void
cache_evict(int i)
{
	if (cache_slots[i].serial != 0)
		MemoryContextDelete(cache_slots[i].mcxt);
	memset(&cache_slots[i], 0, sizeof(CacheSlot));
}

void
ecml_model_cache_reset(void)
{
	for (int i = 0; i < CACHE_SLOTS; i++)
		cache_evict(i);
}

static void *
slot_hit(CallSiteCache *cs, int slot)
{
	cs->slot = slot;
	cs->serial = cache_slots[slot].serial;
	cache_slots[slot].last_used = ++cache_clock;
	return cache_slots[slot].parsed;
}

static void
sha256(const char *data, Size len, uint8 *digest)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "ecml: could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

/*
 * Forget the parse of one model.  A multi-pass trainer passes each
 * intermediate model (ALS's factors after a half-step) to one query only;
 * kept, they would fill the cache with parses the size of the model.
 */
void
ecml_model_cache_forget(const bytea *model)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	Size		size = VARSIZE_ANY_EXHDR(model);

	sha256(VARDATA_ANY(model), size, digest);
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (cache_slots[i].serial != 0 && cache_slots[i].size == size &&
			memcmp(cache_slots[i].digest, digest, PG_SHA256_DIGEST_LENGTH) == 0)
			cache_evict(i);
}

static bool
slot_knows_toast(const CacheSlot *slot, const varatt_external *toast)
{
	for (int i = 0; i < slot->ntoast; i++)
		if (slot->toast[i].toastrelid == toast->va_toastrelid &&
			slot->toast[i].valueid == toast->va_valueid)
			return true;
	return false;
}

/* Remember that the out-of-line value toast holds slot's bytes. */
static void
slot_add_toast(CacheSlot *slot, const varatt_external *toast)
{
	if (slot_knows_toast(slot, toast))
		return;
	if (slot->ntoast == CACHE_TOAST_IDS)
	{
		/* forget the oldest */
		memmove(&slot->toast[0], &slot->toast[1], sizeof(ToastId) * (CACHE_TOAST_IDS - 1));
		slot->ntoast--;
	}
	slot->toast[slot->ntoast].toastrelid = toast->va_toastrelid;
	slot->toast[slot->ntoast].valueid = toast->va_valueid;
	slot->ntoast++;
}

/* Remember an inline value at the call site: all of it when small. */
static void
callsite_remember_inline(FunctionCallInfo fcinfo, CallSiteCache *cs,
						 struct varlena *v, const char *data, Size size)
{
	cs->external = false;
	cs->size = size;
	memcpy(cs->header, data, ECML_HEADER_SIZE);
	cs->address = v;
	if (size > CALLSITE_COPY_MAX || cs->arg_const)
		return;
	if (cs->copy_alloc < size)
	{
		if (cs->copy)
			pfree(cs->copy);
		cs->copy = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, size);
		cs->copy_alloc = size;
	}
	memcpy(cs->copy, data, size);
}

/* True when the inline value v is the call site's last model. */
static bool
callsite_same_inline(const CallSiteCache *cs, struct varlena *v)
{
	Size		size = VARSIZE_ANY_EXHDR(v);

	if (cs->external || cs->size == 0 || size != cs->size ||
		memcmp(VARDATA_ANY(v), cs->header, ECML_HEADER_SIZE) != 0)
		return false;
	if (cs->arg_const)
		return (const void *) v == cs->address;
	if (size <= CALLSITE_COPY_MAX)
		return memcmp(VARDATA_ANY(v), cs->copy, size) == 0;
	return (const void *) v == cs->address;
}

/* True when argument argno of the call is a Const in the query's plan. */
static bool
callsite_arg_is_const(FmgrInfo *flinfo, int argno)
{
	List	   *args;

	if (flinfo->fn_expr == NULL || !IsA(flinfo->fn_expr, FuncExpr))
		return false;
	args = ((FuncExpr *) flinfo->fn_expr)->args;
	return argno < list_length(args) && IsA(list_nth(args, argno), Const);
}

/* The call site's memory of its last model, made on its first call. */
static CallSiteCache *
callsite_get(FunctionCallInfo fcinfo, int argno)
{
	CallSiteCache *cs = (CallSiteCache *) fcinfo->flinfo->fn_extra;

	if (cs == NULL)
	{
		cs = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallSiteCache));
		cs->slot = -1;
		cs->arg_const = callsite_arg_is_const(fcinfo->flinfo, argno);
		fcinfo->flinfo->fn_extra = cs;
	}
	return cs;
}

/* The slot of the call site's last model when v is that model, else -1. */
static int
callsite_same_model(const CallSiteCache *cs, struct varlena *v, EcmlParseFn parse)
{
	if (cs->slot < 0 || cache_slots[cs->slot].serial != cs->serial ||
		cache_slots[cs->slot].parse != parse)
		return -1;
	if (VARATT_IS_EXTERNAL_ONDISK(v))
	{
		varatt_external toast;

		VARATT_EXTERNAL_GET_POINTER(toast, v);
		if (cs->external && memcmp(&toast, &cs->toast, sizeof(toast)) == 0)
			return cs->slot;
	}
	else if (!VARATT_IS_EXTENDED(v) || VARATT_IS_SHORT(v))
	{
		if (callsite_same_inline(cs, v))
			return cs->slot;
	}
	return -1;
}

/*
 * A model stored out of line (anything over about 2 kB) and already
 * cached is found by its TOAST pointer, without detoasting and checking
 * all of it again (milliseconds for a large model on the first row of
 * every new query).  The header slice, one toast chunk, must match too:
 * a value id is reused only after its value was deleted and vacuumed
 * away, and then the header tells a different model.  Returns the slot,
 * remembered at the call site, or -1.
 */
static int
cache_find_by_toast(CallSiteCache *cs, struct varlena *v, EcmlParseFn parse)
{
	varatt_external toast;
	Size		extsize;
	int			hit = -1;
	struct varlena *head;

	if (!VARATT_IS_EXTERNAL_ONDISK(v))
		return -1;
	VARATT_EXTERNAL_GET_POINTER(toast, v);
	extsize = toast.va_rawsize - VARHDRSZ;
	for (int i = 0; i < CACHE_SLOTS; i++)
	{
		if (cache_slots[i].serial != 0 && cache_slots[i].parse == parse &&
			cache_slots[i].size == extsize &&
			slot_knows_toast(&cache_slots[i], &toast))
		{
			hit = i;
			break;
		}
	}
	if (hit < 0 || extsize < ECML_HEADER_SIZE)
		return -1;
	head = detoast_attr_slice(v, 0, ECML_HEADER_SIZE);
	if (VARSIZE_ANY_EXHDR(head) != ECML_HEADER_SIZE ||
		memcmp(cache_slots[hit].header, VARDATA_ANY(head), ECML_HEADER_SIZE) != 0)
		hit = -1;
	pfree(head);
	if (hit >= 0)
	{
		cs->external = true;
		cs->toast = toast;
		cs->size = extsize;
	}
	return hit;
}

/* Remember v (size bytes of model at data) as the call site's last model. */
static void
callsite_remember(FunctionCallInfo fcinfo, CallSiteCache *cs, struct varlena *v,
				  const char *data, Size size)
{
	if (VARATT_IS_EXTERNAL_ONDISK(v))
	{
		cs->external = true;
		VARATT_EXTERNAL_GET_POINTER(cs->toast, v);
		cs->size = size;
	}
	else if (VARATT_IS_EXTENDED(v) && !VARATT_IS_SHORT(v))
	{
		/* an inline compressed value has no cheap identity: never a fast hit */
		cs->external = false;
		cs->size = 0;
	}
	else
		callsite_remember_inline(fcinfo, cs, v, data, size);
}

/* The slot holding the parse of the model with this digest, or -1. */
static int
cache_find_by_digest(EcmlParseFn parse, Size size, const uint8 *digest)
{
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (cache_slots[i].serial != 0 && cache_slots[i].parse == parse &&
			cache_slots[i].size == size &&
			memcmp(cache_slots[i].digest, digest, PG_SHA256_DIGEST_LENGTH) == 0)
			return i;
	return -1;
}

/*
 * Free a slot for a new parse of total bytes: an empty one or the least
 * recently used, then more of the oldest while the cache would hold more
 * than CACHE_MAX_BYTES.  Returns the freed slot.
 */
static int
cache_make_room(Size total)
{
	int			victim = 0;

	for (int i = 0; i < CACHE_SLOTS; i++)
	{
		if (cache_slots[i].serial == 0)
		{
			victim = i;
			break;
		}
		if (cache_slots[i].last_used < cache_slots[victim].last_used)
			victim = i;
	}
	cache_evict(victim);
	for (;;)
	{
		Size		used = total;
		int			oldest = -1;

		for (int i = 0; i < CACHE_SLOTS; i++)
		{
			if (cache_slots[i].serial == 0)
				continue;
			used += cache_slots[i].bytes;
			if (oldest < 0 || cache_slots[i].last_used < cache_slots[oldest].last_used)
				oldest = i;
		}
		if (used <= CACHE_MAX_BYTES || oldest < 0)
			break;
		cache_evict(oldest);
	}
	return victim;
}

/*
 * Parse a validated model and keep the parse in a slot; returns the slot.
 * The parse runs under the current context first: if the parser fails, the
 * context goes away with the error.  Only a complete parse is kept.
 */
static int
cache_parse_and_store(const CallSiteCache *cs, const EcmlModel *model, Size size,
					  const uint8 *digest, EcmlParseFn parse)
{
	MemoryContext mcxt;
	MemoryContext oldcxt;
	void	   *parsed;
	Size		total;
	int			victim;

	mcxt = AllocSetContextCreate(CurrentMemoryContext, "ecml parsed model",
								 ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(mcxt);
	parsed = parse(model, mcxt);
	MemoryContextSwitchTo(oldcxt);

	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(TopMemoryContext, "ecml model cache",
											  ALLOCSET_SMALL_SIZES);
	total = MemoryContextMemAllocated(mcxt, true);
	victim = cache_make_room(total);

	MemoryContextSetParent(mcxt, cache_context);
	cache_slots[victim].serial = ++cache_serial;
	memcpy(cache_slots[victim].header, model->bytes, ECML_HEADER_SIZE);
	cache_slots[victim].size = size;
	memcpy(cache_slots[victim].digest, digest, PG_SHA256_DIGEST_LENGTH);
	cache_slots[victim].ntoast = 0;
	if (cs->external)
		slot_add_toast(&cache_slots[victim], &cs->toast);
	cache_slots[victim].parse = parse;
	cache_slots[victim].mcxt = mcxt;
	cache_slots[victim].bytes = total;
	cache_slots[victim].parsed = parsed;
	return victim;
}

void *
ecml_model_cached(FunctionCallInfo fcinfo, int argno, int expected_kind,
				  EcmlParseFn parse)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	CallSiteCache *cs = callsite_get(fcinfo, argno);
	bytea	   *raw;
	EcmlModel	model;
	Size		size;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	int			slot;

	/* fast paths: this call site's last model, or a cached out-of-line one */
	slot = callsite_same_model(cs, v, parse);
	if (slot < 0)
		slot = cache_find_by_toast(cs, v, parse);
	if (slot >= 0)
		return slot_hit(cs, slot);

	/* slow path: detoast, validate everything (CRC included), then look up */
	raw = (bytea *) pg_detoast_datum_packed(v);
	ecml_model_open(raw, expected_kind, &model);
	size = VARSIZE_ANY_EXHDR(raw);
	sha256(VARDATA_ANY(raw), size, digest);
	callsite_remember(fcinfo, cs, v, VARDATA_ANY(raw), size);

	slot = cache_find_by_digest(parse, size, digest);
	if (slot >= 0)
	{
		if (cs->external)
			slot_add_toast(&cache_slots[slot], &cs->toast);
	}
	else
		slot = cache_parse_and_store(cs, &model, size, digest, parse);

	if ((Pointer) raw != (Pointer) v)
		pfree(raw);
	return slot_hit(cs, slot);
}
