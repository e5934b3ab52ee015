# ecml_hnsw recall@10 against exact search on the same data: after the build,
# after inserts, after deletes + VACUUM, for filtered queries (WHERE keeping
# 10% and 1% of the rows must still give LIMIT rows), for a build that
# outgrows maintenance_work_mem, and for the L2 and inner-product operator
# classes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HnswTap;

my $D     = 48;
my $N     = 10000;
my $K     = 10;
my $NQ    = 100;
my $SEED  = 20261129;
# thresholds: recall@10 at the default ef_search (40) and at a wider search
my $MIN_DEFAULT = 0.93;
my $EF_WIDE     = 160;
my $MIN_WIDE    = 0.98;

my $node = PostgreSQL::Test::Cluster->new('hnsw_recall');
$node->init;
$node->append_conf('postgresql.conf', "log_statement = none\nmax_parallel_maintenance_workers = 0\n");
$node->start;
$node->safe_psql('postgres',
	setup_sql() . load_items('items', 1, $N, $D) . load_queries('queries', $NQ, $D));
$node->safe_psql('postgres',
	"CREATE INDEX items_hnsw ON items USING ecml_hnsw (embedding ecml.real_cosine_ops) "
	  . "WITH (m = 16, ef_construction = 64)");
ok(uses_index($node, 'items_hnsw'), 'k-NN query plan uses the index');

# recall at the default and at a wide ef_search, and LIMIT rows per query
# (thresholds: min_default, min_wide, or the defaults above)
sub check_recall
{
	my ($when, %o) = @_;
	my $min_default = delete $o{min_default} // $MIN_DEFAULT;
	my $min_wide    = delete $o{min_wide}    // $MIN_WIDE;
	my $exact = knn($node, exact_settings(), k => $K, %o);
	for my $c ([ undef, $min_default ], [ $EF_WIDE, $min_wide ])
	{
		my ($ef, $min) = @$c;
		my $ann = knn($node, ann_settings(ef => $ef), k => $K, %o);
		my ($r, $short) = recall($ann, $exact, $K);
		my $at = defined $ef ? "ef_search $ef" : 'default ef_search';
		cmp_ok($r, '>=', $min, "$when: recall\@$K $r >= $min at $at");
		is($short, 0, "$when: all $NQ queries return $K rows at $at");
	}
}

check_recall('after build');

$node->safe_psql('postgres',
	"INSERT INTO items SELECT i, tap_vec(i, $D, 40, $SEED) FROM generate_series($N + 1, $N + 5000) i");
check_recall('after 5000 inserts');

$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 10 < 3');
$node->safe_psql('postgres', 'VACUUM items');
check_recall('after deleting 30% and VACUUM');
my ($n, $distinct, $all) =
  full_scan_count($node, 'items', '(SELECT v FROM queries WHERE qid = 1)');
is($n, $all, "after VACUUM a full index scan returns every one of the $all live rows");
is($distinct, $n, '... each once');

$node->safe_psql('postgres',
	"INSERT INTO items SELECT i, tap_vec(i, $D, 40, $SEED) FROM generate_series($N + 5001, $N + 7000) i");
check_recall('after inserts into the vacuumed index');

# filtered queries: the scan goes on until LIMIT rows pass the filter.  The
# ten best rows that pass a 10% filter are about the hundred nearest of all
# rows, found less reliably than the ten nearest: lower thresholds.
check_recall('WHERE id % 10 = 7 (10% of rows)', where => 'id % 10 = 7',
	min_default => 0.90, min_wide => 0.95);
check_recall('WHERE id % 100 = 7 (1% of rows)', where => 'id % 100 = 7',
	min_default => 0.90, min_wide => 0.95);

# ORDER BY is answered by the index alone, so the rows must come in distance
# order (ecml.hnsw_strict_order, on by default), also when the scan resumes
# past its first ef_search candidates (LIMIT above ef_search, or a filter)
is(out_of_order($node, ann_settings(), k => 100), 0,
	'LIMIT 100 at the default ef_search: every query returns rows in distance order');
is(out_of_order($node, ann_settings(), k => $K, where => 'id % 10 = 7'), 0,
	'WHERE id % 10 = 7: every query returns rows in distance order');
is(out_of_order($node, ann_settings(ef => $EF_WIDE), k => $K), 0,
	"LIMIT $K at ef_search $EF_WIDE: every query returns rows in distance order");

# a build that does not fit in maintenance_work_mem (finishes on disk)
my ($ret, $out, $err) = $node->psql('postgres',
	"DROP INDEX items_hnsw; SET maintenance_work_mem = '1MB'; SET client_min_messages = notice; "
	  . "CREATE INDEX items_hnsw ON items USING ecml_hnsw (embedding ecml.real_cosine_ops)");
is($ret, 0, 'index built with maintenance_work_mem = 1MB');
like($err, qr/NOTICE:.*maintenance_work_mem/, 'the build says when the graph stops fitting in memory');
check_recall('after a build that outgrew maintenance_work_mem');

# the other operator classes, on unnormalized vectors
$node->safe_psql('postgres', load_items('other', 1, 4000, 16, seed => 7));
$node->safe_psql('postgres',
	"CREATE INDEX other_l2 ON other USING ecml_hnsw (embedding ecml.real_l2_ops);"
	  . "CREATE INDEX other_ip ON other USING ecml_hnsw (embedding ecml.real_ip_ops);"
	  . "CREATE TABLE other_q AS SELECT qid, tap_vec(-qid, 16, 40, 7) AS v FROM generate_series(1, 50) qid;");
for my $c ([ '<->', 'other_l2' ], [ '<#>', 'other_ip' ])
{
	my ($op, $index) = @$c;
	my %o = (op => $op, table => 'other', queries => 'other_q');
	ok(uses_index($node, $index, %o), "$op query plan uses $index");
	my $exact = knn($node, exact_settings(), k => $K, %o);
	for my $c ([ undef, $MIN_DEFAULT ], [ $EF_WIDE, $MIN_WIDE ])
	{
		my ($ef, $min) = @$c;
		my $ann = knn($node, ann_settings(ef => $ef), k => $K, %o);
		my ($r, $short) = recall($ann, $exact, $K);
		my $at = defined $ef ? "ef_search $ef" : 'default ef_search';
		cmp_ok($r, '>=', $min, "$op: recall\@$K $r >= $min at $at");
		is($short, 0, "$op: all queries return $K rows at $at");
	}
}

$node->stop;
done_testing();
