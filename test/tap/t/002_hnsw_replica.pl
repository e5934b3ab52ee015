# ecml_hnsw on a streaming replica: the index is built (partly on disk),
# grown, pruned and vacuumed on the primary; after catch-up the standby's
# index answers the same queries with the same rows in the same order,
# reaches every live row, and has the same recall against exact search as on
# the primary; promoted, it takes inserts of its own.  The primary runs with
# 1 MB of shared buffers (PostgreSQL::Test::Cluster's streaming setting), so
# index pages are written out and read back while the WAL is produced.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HnswTap;

my $D     = 32;
my $K     = 10;
my $NQ    = 40;
my $EF    = 64;
my $SEED  = 20261129;
my $MIN_RECALL = 0.95;

my $primary = PostgreSQL::Test::Cluster->new('hnsw_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "log_statement = none\nmax_parallel_maintenance_workers = 0\n");
$primary->start;
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('hnsw_standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', "log_statement = none\n");
$standby->start;

# build, insert, delete and vacuum on the primary
$primary->safe_psql('postgres',
	setup_sql() . load_items('items', 1, 6000, $D) . load_queries('queries', $NQ, $D));
# a build that outgrows maintenance_work_mem: the in-memory part and the
# on-disk continuation both reach the standby through WAL
my ($ret, $out, $err) = $primary->psql('postgres',
	"SET maintenance_work_mem = '1MB'; SET client_min_messages = notice; "
	  . "CREATE INDEX items_hnsw ON items USING ecml_hnsw (embedding ecml.real_cosine_ops) "
	  . "WITH (m = 16, ef_construction = 64)");
is($ret, 0, 'index built on the primary');
like($err, qr/NOTICE:.*maintenance_work_mem/, '... partly on disk (it outgrew maintenance_work_mem)');
$primary->safe_psql('postgres',
	"INSERT INTO items SELECT i, tap_vec(i, $D, 40, $SEED) FROM generate_series(6001, 8000) i");
$primary->safe_psql('postgres', 'DELETE FROM items WHERE id % 10 = 0');
$primary->safe_psql('postgres', 'VACUUM items');
$primary->wait_for_catchup($standby, 'replay');

is($standby->safe_psql('postgres', "SELECT pg_relation_size('items_hnsw')"),
	$primary->safe_psql('postgres', "SELECT pg_relation_size('items_hnsw')"),
	'the standby has an index of the primary\'s size');
ok(uses_index($standby, 'items_hnsw'), 'k-NN query plan on the standby uses the index');

my $on_primary = knn($primary, ann_settings(ef => $EF), k => $K);
my $on_standby = knn($standby, ann_settings(ef => $EF), k => $K);
is_deeply($on_standby, $on_primary,
	"index scans on the standby return the primary's rows, in the same order ($NQ queries)");

my $exact = knn($standby, exact_settings(), k => $K);
my ($r, $short) = recall($on_standby, $exact, $K);
cmp_ok($r, '>=', $MIN_RECALL, "standby recall\@$K vs exact ($r) at ef_search $EF");
is($short, 0, "every query on the standby returns $K rows");

my $where = 'id % 10 = 3';
my $f_ann   = knn($standby, ann_settings(), k => $K, where => $where);
my $f_exact = knn($standby, exact_settings(), k => $K, where => $where);
($r, $short) = recall($f_ann, $f_exact, $K);
is($short, 0, "filtered index scans on the standby (WHERE $where, 10% of rows) return $K rows");
cmp_ok($r, '>=', $MIN_RECALL - 0.05, "... with recall\@$K $r vs exact filtered search");

my ($n, $distinct, $all) =
  full_scan_count($standby, 'items', '(SELECT v FROM queries WHERE qid = 1)');
is($n, $all, "a full index scan on the standby returns every one of the $all live rows");
is($distinct, $n, '... each once');

# rows inserted later reach the standby's index too
$primary->safe_psql('postgres',
	'INSERT INTO items SELECT 100000000 + qid, v FROM queries WHERE qid <= 5');
$primary->wait_for_catchup($standby, 'replay');
my $top1 = knn($standby, ann_settings(ef => $EF), k => 1);
is_deeply([ map { $top1->{$_}[0] } 1 .. 5 ], [ map { 100000000 + $_ } 1 .. 5 ],
	'a row inserted on the primary equal to a query is its nearest neighbour on the standby');

# after promotion the former standby's index takes inserts of its own
$primary->stop;
$standby->promote;
$standby->safe_psql('postgres',
	"INSERT INTO items SELECT 200000000 + qid, v FROM queries WHERE qid BETWEEN 6 AND 10;"
	  . "INSERT INTO items SELECT i, tap_vec(i, $D, 40, $SEED) FROM generate_series(8001, 9000) i");
$top1 = knn($standby, ann_settings(ef => $EF), k => 1);
is_deeply([ map { $top1->{$_}[0] } 6 .. 10 ], [ map { 200000000 + $_ } 6 .. 10 ],
	'after promotion, rows inserted on the new primary are found through the index');
($n, $distinct, $all) =
  full_scan_count($standby, 'items', '(SELECT v FROM queries WHERE qid = 1)');
is($n, $all, "after promotion a full index scan returns every one of the $all rows");
is($distinct, $n, '... each once');

$standby->stop;
done_testing();
