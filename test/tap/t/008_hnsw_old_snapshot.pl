# An ecml_hnsw build while an older snapshot is open: the build scan hands
# the access method the recently-dead versions of updated rows too (an older
# transaction may still need them).  Rows inserted with an empty embedding
# and updated afterwards (what the tour's generator did) must not make
# CREATE INDEX fail with "vector must not be empty"; old versions of another
# dimension must not fix the index's dimension either.  Old versions with a
# valid vector stay indexed: the old snapshot still finds them through the
# index.  A live row with an empty vector still fails the build.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use HnswTap;

my $D    = 8;
my $SEED = 20261205;

my $node = PostgreSQL::Test::Cluster->new('hnsw_old_snapshot');
$node->init;
$node->append_conf('postgresql.conf', "max_parallel_maintenance_workers = 0\n");
$node->start;

# ids 1..10: 4-d old versions first in the heap (updated to 8-d later);
# ids 11..60: valid 8-d vectors, updated to other 8-d vectors later.  The
# btree on embedding keeps the updates off HOT chains (an indexed column changes),
# so the build sees the old versions as recently dead, not as broken chains.
$node->safe_psql('postgres', setup_sql() . <<"SQL");
CREATE TABLE t (id int PRIMARY KEY, embedding real[] NOT NULL);
CREATE INDEX t_embedding_btree ON t (embedding);
INSERT INTO t SELECT i, tap_vec(i, 4, 5, $SEED) FROM generate_series(1, 10) i;
INSERT INTO t SELECT i, tap_vec(i, $D, 5, $SEED) FROM generate_series(11, 60) i;
SQL

# Session A: a repeatable-read snapshot held open from here on.
my ($a_in, $a_out, $a_err) = ('', '', '');
my $timer = IPC::Run::timer($PostgreSQL::Test::Utils::timeout_default);
my $a = IPC::Run::start(
	[ $node->installed_command('psql'), '-XAtq', '-d', $node->connstr('postgres'), '-f', '-' ],
	'<', \$a_in, '>', \$a_out, '2>', \$a_err, $timer);
sub session_a
{
	my ($sql, $marker) = @_;
	$a_out = '';
	$a_in .= "$sql\nSELECT '$marker';\n";
	$a->pump until $a_out =~ /^\Q$marker\E$/m || $timer->is_expired;
	die "session A timed out: $a_err" if $timer->is_expired;
	(my $res = $a_out) =~ s/^\Q$marker\E\n?//m;
	return $res;
}
session_a("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM t;", 'snapshot');

# Session B: the generator's pattern (insert empty, update afterwards), and
# updates of the existing rows.
$node->safe_psql('postgres', <<"SQL");
INSERT INTO t SELECT i, '{}' FROM generate_series(101, 400) i;
UPDATE t SET embedding = tap_vec(id, $D, 5, $SEED) WHERE id > 100;
UPDATE t SET embedding = tap_vec(id, $D, 5, $SEED) WHERE id <= 10;
UPDATE t SET embedding = tap_vec(id + 1000, $D, 5, $SEED) WHERE id BETWEEN 11 AND 60;
SQL

my ($rc, $out, $err) = $node->psql('postgres',
	'CREATE INDEX t_hnsw ON t USING ecml_hnsw (embedding ecml.real_l2_ops)');
is($rc, 0, 'CREATE INDEX succeeds while an older snapshot sees rows with empty vectors')
  or diag($err);

my $force = ann_settings();
is( $node->safe_psql('postgres', "$force SELECT id FROM t ORDER BY embedding OPERATOR(ecml.<->) "
		  . "tap_vec(250, $D, 5, $SEED) LIMIT 1"),
	'250', 'the index finds a row that was inserted empty and updated');
is( $node->safe_psql('postgres', "$force SELECT id FROM t ORDER BY embedding OPERATOR(ecml.<->) "
		  . "tap_vec(5, $D, 5, $SEED) LIMIT 1"),
	'5', 'the index finds a row whose old version had another dimension');
like($node->safe_psql('postgres', "$force EXPLAIN (COSTS OFF) SELECT id FROM t "
		  . "ORDER BY embedding OPERATOR(ecml.<->) tap_vec(5, $D, 5, $SEED) LIMIT 1"),
	qr/Index Scan using t_hnsw/, 'those queries use the index');
my ($n, $distinct, $all) = full_scan_count($node, 't', "tap_vec(1, $D, 5, $SEED)", op => '<->');
is($all, 360, 'the table has 360 live rows');
is($n, $all, 'a full index scan returns every live row');
is($distinct, $n, '... each once');

# The old snapshot sees the old 8-d versions of ids 11..60: the build
# indexed those recently-dead tuples, so it finds them through the index.
is( session_a("$force SELECT id FROM t ORDER BY embedding OPERATOR(ecml.<->) tap_vec(33, $D, 5, $SEED) LIMIT 1;",
		'old1'),
	"33\n", 'the older snapshot finds an old version through the new index');
like(session_a("$force EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY embedding OPERATOR(ecml.<->) "
		  . "tap_vec(33, $D, 5, $SEED) LIMIT 1;", 'old2'),
	qr/Index Scan using t_hnsw/, '... with an index scan');
session_a("COMMIT;", 'done');
$a_in .= "\\q\n";
$a->finish;

# A live row with an empty vector still fails the build.
$node->safe_psql('postgres', "DROP INDEX t_hnsw; INSERT INTO t VALUES (999, '{}')");
($rc, $out, $err) = $node->psql('postgres',
	'CREATE INDEX t_hnsw2 ON t USING ecml_hnsw (embedding ecml.real_l2_ops)');
isnt($rc, 0, 'a live row with an empty vector still fails the build');
like($err, qr/vector must not be empty/, '... with the vector error');

$node->stop;
done_testing();
