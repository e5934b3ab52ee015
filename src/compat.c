/*
 * compat.c
 *	  The C entry points of 0.1.0 under their old names.
 *
 * sql/ecml--0.1.0.sql, the released install script, names these symbols,
 * and CREATE EXTENSION ecml VERSION '0.1.0' (then ALTER EXTENSION UPDATE)
 * needs them to exist; the update script re-points every function to the
 * entry point named after its SQL function (docs/DESIGN.md, names).  Each
 * wrapper only calls the new entry point.
 */
#include "postgres.h"

#include "fmgr.h"

extern Datum ecml_embed_text_document(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(ecml_embed_document);
Datum
ecml_embed_document(PG_FUNCTION_ARGS)
{
	return ecml_embed_text_document(fcinfo);
}

extern Datum ecml_embed_text_tokens(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(ecml_embed_tokens);
Datum
ecml_embed_tokens(PG_FUNCTION_ARGS)
{
	return ecml_embed_text_tokens(fcinfo);
}

extern Datum ecml_model(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(ecml_model_lookup);
Datum
ecml_model_lookup(PG_FUNCTION_ARGS)
{
	return ecml_model(fcinfo);
}

extern Datum fraud_explain(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(gbdt_explain);
Datum
gbdt_explain(PG_FUNCTION_ARGS)
{
	return fraud_explain(fcinfo);
}

extern Datum fraud_feature_importance(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(gbdt_feature_importance);
Datum
gbdt_feature_importance(PG_FUNCTION_ARGS)
{
	return fraud_feature_importance(fcinfo);
}

extern Datum fraud_score(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(gbdt_score);
Datum
gbdt_score(PG_FUNCTION_ARGS)
{
	return fraud_score(fcinfo);
}

extern Datum fraud_train_combinefn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(gbdt_train_combinefn);
Datum
gbdt_train_combinefn(PG_FUNCTION_ARGS)
{
	return fraud_train_combinefn(fcinfo);
}

extern Datum fraud_train_deserialfn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(gbdt_train_deserialfn);
Datum
gbdt_train_deserialfn(PG_FUNCTION_ARGS)
{
	return fraud_train_deserialfn(fcinfo);
}

extern Datum fraud_train_finalfn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(gbdt_train_finalfn);
Datum
gbdt_train_finalfn(PG_FUNCTION_ARGS)
{
	return fraud_train_finalfn(fcinfo);
}

extern Datum fraud_train_serialfn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(gbdt_train_serialfn);
Datum
gbdt_train_serialfn(PG_FUNCTION_ARGS)
{
	return fraud_train_serialfn(fcinfo);
}

extern Datum fraud_train_transfn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(gbdt_train_transfn);
Datum
gbdt_train_transfn(PG_FUNCTION_ARGS)
{
	return fraud_train_transfn(fcinfo);
}

extern Datum anomaly_score(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(iforest_score);
Datum
iforest_score(PG_FUNCTION_ARGS)
{
	return anomaly_score(fcinfo);
}

extern Datum anomaly_train_combinefn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(iforest_train_combinefn);
Datum
iforest_train_combinefn(PG_FUNCTION_ARGS)
{
	return anomaly_train_combinefn(fcinfo);
}

extern Datum anomaly_train_deserialfn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(iforest_train_deserialfn);
Datum
iforest_train_deserialfn(PG_FUNCTION_ARGS)
{
	return anomaly_train_deserialfn(fcinfo);
}

extern Datum anomaly_train_finalfn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(iforest_train_finalfn);
Datum
iforest_train_finalfn(PG_FUNCTION_ARGS)
{
	return anomaly_train_finalfn(fcinfo);
}

extern Datum anomaly_train_serialfn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(iforest_train_serialfn);
Datum
iforest_train_serialfn(PG_FUNCTION_ARGS)
{
	return anomaly_train_serialfn(fcinfo);
}

extern Datum anomaly_train_transfn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(iforest_train_transfn);
Datum
iforest_train_transfn(PG_FUNCTION_ARGS)
{
	return anomaly_train_transfn(fcinfo);
}

extern Datum lstm_top(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(lstm_predict);
Datum
lstm_predict(PG_FUNCTION_ARGS)
{
	return lstm_top(fcinfo);
}

extern Datum pack_vectors_combinefn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(vectors_pack_combinefn);
Datum
vectors_pack_combinefn(PG_FUNCTION_ARGS)
{
	return pack_vectors_combinefn(fcinfo);
}

extern Datum pack_vectors_deserialfn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(vectors_pack_deserialfn);
Datum
vectors_pack_deserialfn(PG_FUNCTION_ARGS)
{
	return pack_vectors_deserialfn(fcinfo);
}

extern Datum pack_vectors_finalfn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(vectors_pack_finalfn);
Datum
vectors_pack_finalfn(PG_FUNCTION_ARGS)
{
	return pack_vectors_finalfn(fcinfo);
}

extern Datum pack_vectors_serialfn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(vectors_pack_serialfn);
Datum
vectors_pack_serialfn(PG_FUNCTION_ARGS)
{
	return pack_vectors_serialfn(fcinfo);
}

extern Datum pack_vectors_transfn(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(vectors_pack_transfn);
Datum
vectors_pack_transfn(PG_FUNCTION_ARGS)
{
	return pack_vectors_transfn(fcinfo);
}

extern Datum ecml_search(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(vectors_search);
Datum
vectors_search(PG_FUNCTION_ARGS)
{
	return ecml_search(fcinfo);
}

extern Datum ecml_search_batch(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(vectors_search_batch);
Datum
vectors_search_batch(PG_FUNCTION_ARGS)
{
	return ecml_search_batch(fcinfo);
}
