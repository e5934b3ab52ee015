/*
 * hash_features.c
 *	  The signed hashing trick: ecml.hash_features(tokens text[], n) turns a
 *	  bag of tokens (categories, words, "key=value" pairs) into a real[] of
 *	  fixed length n, identical to scikit-learn's
 *	  FeatureHasher(n_features=n, input_type='string', alternate_sign=True)
 *	  on one sample.
 *
 * Each token is hashed with MurmurHash3 x86 32-bit (seed 0) over its UTF-8
 * bytes; the hash, read as a signed int32 h, picks the column |h| mod n and
 * the sign of h says whether the token adds +1 or -1 there.  The random sign
 * makes collisions cancel in expectation instead of piling up (Weinberger et
 * al. 2009, "Feature Hashing for Large Scale Multitask Learning").
 */
#include "postgres.h"

#include "arrays.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* Limits on n: one column at least, a 64 MB result at most. */
#define HASH_FEATURES_MIN	1
#define HASH_FEATURES_MAX	(1 << 24)

static inline uint32
rotl32(uint32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* MurmurHash3's finalizer: every input bit affects every output bit. */
static inline uint32
fmix32(uint32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/*
 * MurmurHash3_x86_32 (Austin Appleby, public domain algorithm).  Blocks are
 * read as little-endian words byte by byte, so the result does not depend
 * on the host's byte order or on the alignment of key.
 */
static uint32
murmurhash3_x86_32(const unsigned char *key, Size len, uint32 seed)
{
	const uint32 c1 = 0xcc9e2d51;
	const uint32 c2 = 0x1b873593;
	Size		nblocks = len / 4;
	const unsigned char *tail = key + nblocks * 4;
	uint32		h = seed;
	uint32		k;

	for (Size i = 0; i < nblocks; i++)
	{
		const unsigned char *b = key + i * 4;

		k = (uint32) b[0] | ((uint32) b[1] << 8) |
			((uint32) b[2] << 16) | ((uint32) b[3] << 24);
		k *= c1;
		k = rotl32(k, 15);
		k *= c2;

		h ^= k;
		h = rotl32(h, 13);
		h = h * 5 + 0xe6546b64;
	}

	k = 0;
	switch (len & 3)
	{
		case 3:
			k ^= (uint32) tail[2] << 16;
			/* FALLTHROUGH */
		case 2:
			k ^= (uint32) tail[1] << 8;
			/* FALLTHROUGH */
		case 1:
			k ^= (uint32) tail[0];
			k *= c1;
			k = rotl32(k, 15);
			k *= c2;
			h ^= k;
	}

	/* only the low 32 bits of the length enter the hash, as in the reference */
	h ^= (uint32) len;
	return fmix32(h);
}

static inline void
check_hash_width(int32 n)
{
	if (n < HASH_FEATURES_MIN || n > HASH_FEATURES_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be between %d and %d, got %d",
						HASH_FEATURES_MIN, HASH_FEATURES_MAX, n),
				 errhint("Pass the number of hashed columns the model expects, for example 1024 or 1048576 (2^20).")));
}

/*
 * A token's signed 32-bit MurmurHash3: scikit-learn hashes the UTF-8
 * encoding of each string, so other server encodings convert first.
 */
static int32
hash_token(const text *t, bool convert)
{
	const char *bytes = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	int32		h;
	char	   *utf8;

	if (!convert)
		return (int32) murmurhash3_x86_32((const unsigned char *) bytes, len, 0);
	utf8 = pg_server_to_any(bytes, len, PG_UTF8);
	h = (int32) murmurhash3_x86_32((const unsigned char *) utf8, strlen(utf8), 0);
	if (utf8 != bytes)
		pfree(utf8);
	return h;
}

/*
 * ecml.hash_features(tokens text[], n integer) → real[]: the signed hashing
 * trick over the non-NULL tokens, like scikit-learn's FeatureHasher.
 */
PG_FUNCTION_INFO_V1(ecml_hash_features);
Datum
ecml_hash_features(PG_FUNCTION_ARGS)
{
	ArrayType  *tokens = PG_GETARG_ARRAYTYPE_P(0);
	int32		n = PG_GETARG_INT32(1);
	bool		convert = GetDatabaseEncoding() != PG_UTF8 &&
		GetDatabaseEncoding() != PG_SQL_ASCII;
	ArrayType  *result;
	char	   *data;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	check_hash_width(n);
	if (ARR_NDIM(tokens) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("tokens must be a one-dimensional array, got %d dimensions",
						ARR_NDIM(tokens)),
				 errhint("Pass one sample's tokens as a flat text[]; use unnest() or one call per row for several samples.")));

	/*
	 * The result is built in place: the counts are summed as int32 (exact
	 * for any array PostgreSQL can hold) and then rewritten as floats in the
	 * same storage, so a 2^24-column result needs one 64 MB allocation.
	 */
	result = ecml_new_array(FLOAT4OID, sizeof(float), n);
	data = ARR_DATA_PTR(result);
	StaticAssertStmt(sizeof(int32) == sizeof(float), "int32 and float differ in size");

	/*
	 * Take the element type from the array: a varchar[] argument arrives
	 * relabelled as text[] but still says varchar inside; both are varlena
	 * strings with the same layout.
	 */
	get_typlenbyvalalign(ARR_ELEMTYPE(tokens), &typlen, &typbyval, &typalign);
	if (typlen != -1)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("tokens must be an array of text, got %s[]",
						format_type_be(ARR_ELEMTYPE(tokens)))));
	deconstruct_array(tokens, ARR_ELEMTYPE(tokens), typlen, typbyval, typalign,
					  &elems, &nulls, &nelems);
	for (int i = 0; i < nelems; i++)
	{
		int32		h;
		uint64		index;
		int32		c;

		if ((i & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		/* a NULL element is a missing category: it adds nothing */
		if (nulls[i])
			continue;
		h = hash_token(DatumGetTextPP(elems[i]), convert);
		/* |h| in 64 bits, so |-2^31| is 2^31 rather than an overflow */
		index = (uint64) (h < 0 ? -(int64) h : (int64) h) % (uint64) n;
		memcpy(&c, data + index * sizeof(int32), sizeof(int32));
		c += h >= 0 ? 1 : -1;
		memcpy(data + index * sizeof(int32), &c, sizeof(int32));
	}

	/* rewrite the counts as floats, element by element in the same storage */
	for (Size j = 0; j < (Size) n; j++)
	{
		int32		c;
		float		f;

		memcpy(&c, data + j * sizeof(int32), sizeof(int32));
		f = (float) c;
		memcpy(data + j * sizeof(float), &f, sizeof(float));
	}

	PG_RETURN_ARRAYTYPE_P(result);
}
