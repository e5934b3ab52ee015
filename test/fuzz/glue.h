/*
 * glue.h
 *	  One entry per model kind: decode a validated container with the
 *	  kind's own parser, then use the parsed model a little the way its
 *	  scoring functions do, so that an index inside a model that passed the
 *	  parser's checks but points outside its arrays is caught.  Each glue_*.c
 *	  includes the kind's source file to reach its static scoring helpers.
 */
#ifndef ECML_FUZZ_GLUE_H
#define ECML_FUZZ_GLUE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "model.h"

/* results are added here so the compiler keeps the loads that make them */
extern volatile double fuzz_sink;

extern void fuzz_logreg(const EcmlModel *model);
extern void fuzz_mf(const EcmlModel *model);
extern void fuzz_vectors(const EcmlModel *model);
extern void fuzz_lstm(const EcmlModel *model);
extern void fuzz_gbdt(const EcmlModel *model);
extern void fuzz_iforest(const EcmlModel *model);
extern void fuzz_wordvec(const EcmlModel *model);
extern void fuzz_textclf(const EcmlModel *model);

#endif							/* ECML_FUZZ_GLUE_H */
