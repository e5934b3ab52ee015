# ecml_hnsw with storage = 'int8' (issue 17) survives an immediate shutdown
# during inserts: crash recovery replays the generic WAL of the quantized
# elements, after which an index scan reaches every committed row exactly
# once, recall@10 stays high, and rows come in exact distance order (the
# executor re-ranks by the exact distance from the heap).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use HnswTap;

my $D    = 64;
my $N0   = 3000;
my $K    = 10;
my $NQ   = 30;
my $EF   = 40;
my $SEED = 20261204;

my $node = PostgreSQL::Test::Cluster->new('hnsw_storage_crash');
$node->init;
$node->append_conf('postgresql.conf', <<'CONF');
wal_level = replica
max_wal_senders = 0
log_statement = none
max_parallel_maintenance_workers = 0
CONF
$node->start;

$node->safe_psql('postgres',
	setup_sql() . load_items('items', 1, $N0, $D) . load_queries('queries', $NQ, $D));
$node->safe_psql('postgres',
	"CREATE INDEX items_q ON items USING ecml_hnsw (embedding ecml.real_cosine_ops) "
	  . "WITH (storage = 'int8')");
$node->safe_psql('postgres', 'CHECKPOINT');
ok(uses_index($node, 'items_q'), 'k-NN query plan uses the int8 index');

sub check_index
{
	my ($when) = @_;
	my ($n, $distinct, $all) =
	  full_scan_count($node, 'items', '(SELECT v FROM queries WHERE qid = 1)');
	is($n, $all, "$when: a full index scan returns every one of the $all committed rows");
	is($distinct, $n, "$when: ... each once");
	my $exact = knn($node, exact_settings(), k => $K);
	my $ann   = knn($node, ann_settings(ef => $EF), k => $K);
	my ($r, $short) = recall($ann, $exact, $K);
	cmp_ok($r, '>=', 0.9, "$when: recall\@$K vs exact ($r) at ef_search $EF");
	is($short, 0, "$when: every query returns $K rows");
	is(out_of_order($node, ann_settings(ef => $EF), k => $K), 0,
		"$when: every query's rows come in exact distance order");
}

check_index('after build');

# inserts, one per transaction, cut off by an immediate shutdown
my $before = $node->safe_psql('postgres', 'SELECT max(id) FROM items');
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[ $node->installed_command('psql'), '-XAtq', '-d', $node->connstr('postgres'), '-c',
	  "DO \$\$ BEGIN FOR i IN $before + 1 .. $before + 1000000 LOOP "
		. "INSERT INTO items VALUES (i, tap_vec(i, $D, 40, $SEED)); COMMIT; END LOOP; END \$\$" ],
	'>', \$out, '2>', \$err);
$node->poll_query_until('postgres', "SELECT max(id) >= $before + 300 FROM items")
  or die 'inserts did not progress';
my $log_offset = -s $node->logfile;
$node->stop('immediate');
$h->finish;
$node->start;
ok($node->log_contains('database system was not properly shut down; automatic recovery in progress', $log_offset),
	'the restart went through crash recovery');
cmp_ok($node->safe_psql('postgres', 'SELECT max(id) FROM items'), '>', $before + 200,
	'rows committed before the shutdown are there');
check_index('after immediate shutdown and recovery');

# VACUUM after deletes, then more inserts
$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 4 = 0');
$node->safe_psql('postgres', 'VACUUM items');
$node->safe_psql('postgres',
	"INSERT INTO items SELECT i, tap_vec(i, $D, 40, $SEED) FROM generate_series(5000000, 5000500) i");
check_index('after deletes, VACUUM and inserts');

$node->stop;
done_testing();
