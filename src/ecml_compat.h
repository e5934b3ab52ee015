/*
 * ecml_compat.h
 *	  The server APIs that changed between the PostgreSQL versions ecml
 *	  builds against (15 and 18), behind PG_VERSION_NUM as PostgreSQL's own
 *	  extensions do it, so one source tree builds for each.
 *
 * Include after postgres.h.  Each macro names what the caller means; the
 * version branches say where the server moved it.
 */
#ifndef ECML_COMPAT_H
#define ECML_COMPAT_H

/* 16 moved the varlena macros out of postgres.h */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* 16 renamed RelFileNode to RelFileLocator (log_newpage takes one) */
#if PG_VERSION_NUM >= 160000
#define ECML_SMGR_LOCATOR(smgr)		(&(smgr)->smgr_rlocator.locator)
#else
#define ECML_SMGR_LOCATOR(smgr)		(&(smgr)->smgr_rnode.node)
#endif

/* the relation's file, as ReadRecentBuffer takes it (RelFileLocator in 16) */
#if PG_VERSION_NUM >= 160000
#define ECML_REL_LOCATOR(rel)		((rel)->rd_locator)
#else
#define ECML_REL_LOCATOR(rel)		((rel)->rd_node)
#endif

/* 17 grouped the backend's virtual transaction id into PGPROC.vxid */
#if PG_VERSION_NUM >= 170000
#define ECML_MY_LXID()				(MyProc->vxid.lxid)
#else
#define ECML_MY_LXID()				(MyProc->lxid)
#endif

/* 18 tells vacuum_delay_point whether ANALYZE or VACUUM is sleeping */
#if PG_VERSION_NUM >= 180000
#define ecml_vacuum_delay_point()	vacuum_delay_point(false)
#else
#define ecml_vacuum_delay_point()	vacuum_delay_point()
#endif

/* 18 replaced the pg_attribute_noreturn() suffix by a pg_noreturn prefix */
#if PG_VERSION_NUM >= 180000 && !defined(pg_attribute_noreturn)
#define pg_attribute_noreturn()		__attribute__((noreturn))
#endif

#endif							/* ECML_COMPAT_H */
