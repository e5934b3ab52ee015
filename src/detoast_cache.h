/*
 * detoast_cache.h
 *	  Vectors stored out of line, detoasted once per statement.
 */
#ifndef ECML_DETOAST_CACHE_H
#define ECML_DETOAST_CACHE_H

#include "postgres.h"

/*
 * v detoasted.  A value stored out of line (a TOAST pointer) comes from a
 * small per-backend cache of the current statement's values: the result is
 * not palloc'd in the caller's context, must not be freed or changed, and
 * stays valid while the caller asks for fewer than DETOAST_CACHE_SLOTS
 * other values.  Any other value is detoasted as pg_detoast_datum does.
 */
extern struct varlena *ecml_detoast_cached(struct varlena *v);

#define DETOAST_CACHE_SLOTS 64

#endif							/* ECML_DETOAST_CACHE_H */
