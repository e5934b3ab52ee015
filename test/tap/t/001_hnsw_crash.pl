# ecml_hnsw survives crashes during inserts: a session inserts one row per
# transaction in a loop while (1) its backend is killed with SIGKILL (the
# postmaster resets shared memory and replays WAL) and (2) the server is shut
# down in immediate mode (no checkpoint) and started again; (4) VACUUM is
# killed in its index pass.  After each, the index must be consistent with
# the heap: an index scan reaches every committed row exactly once, recall@10
# against exact search stays high, and further inserts and queries work.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use HnswTap;

my $D     = 32;
my $N0    = 5000;
my $K     = 10;
my $NQ    = 50;
my $EF    = 40;
my $SEED  = 20261129;
my $MIN_RECALL = 0.93;

my $node = PostgreSQL::Test::Cluster->new('hnsw_crash');
$node->init;
# WAL-log everything (wal_level minimal would skip WAL for the index built in
# its own transaction), and let the postmaster reinitialize after a backend
# dies.
$node->append_conf('postgresql.conf', <<'CONF');
wal_level = replica
max_wal_senders = 0
restart_after_crash = on
log_statement = none
max_parallel_maintenance_workers = 0
CONF
$node->start;

$node->safe_psql('postgres',
	setup_sql() . load_items('items', 1, $N0, $D) . load_queries('queries', $NQ, $D));
$node->safe_psql('postgres',
	"CREATE INDEX items_hnsw ON items USING ecml_hnsw (embedding ecml.real_cosine_ops) "
	  . "WITH (m = 16, ef_construction = 64)");
# from here on, index pages changed since this checkpoint exist only in
# shared buffers and WAL: a crash loses the buffers, recovery must replay
$node->safe_psql('postgres', 'CHECKPOINT');
ok(uses_index($node, 'items_hnsw'), 'k-NN query plan uses the ecml_hnsw index');

# Start a session inserting rows $from, $from + 1, ... one per transaction.
sub start_inserts
{
	my ($from) = @_;
	my ($out, $err) = ('', '');
	my $sql = "DO \$\$ BEGIN FOR i IN $from .. $from + 1000000 LOOP "
	  . "INSERT INTO items VALUES (i, tap_vec(i, $D, 40, $SEED)); COMMIT; END LOOP; END \$\$";
	my $h = IPC::Run::start(
		[ $node->installed_command('psql'), '-XAtq', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$out, '2>', \$err);
	return ($h, \$err);
}

sub max_id
{
	return $node->safe_psql('postgres', 'SELECT max(id) FROM items');
}

# The index agrees with the heap and still finds neighbours.
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
	cmp_ok($r, '>=', $MIN_RECALL, "$when: recall\@$K vs exact ($r) at ef_search $EF");
	is($short, 0, "$when: every query returns $K rows");
}

check_index('after build');

# (1) SIGKILL the inserting backend in the middle of its inserts
my $before = max_id();
my ($h, $err) = start_inserts($before + 1);
$node->poll_query_until('postgres', "SELECT count(*) >= $N0 + 400 FROM items")
  or die 'inserts did not progress';
# scans while another session inserts
my $during = knn($node, ann_settings(ef => $EF), k => $K);
is(scalar(grep { @{ $during->{$_} } == $K } keys %$during), $NQ,
	"index scans during concurrent inserts return $K rows for each of the $NQ queries");
my $log_offset = -s $node->logfile;
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE query LIKE 'DO %' AND pid <> pg_backend_pid()");
ok($pid =~ /^\d+$/, 'found the inserting backend');
kill 'KILL', $pid;
$h->finish;
like($$err, qr/server closed the connection|terminating connection|connection to server was lost/,
	'the inserting session was cut off by the crash');
$node->poll_query_until('postgres', 'SELECT 1', '1')
  or die 'server did not come back after the crash';
ok($node->log_contains('all server processes terminated; reinitializing', $log_offset),
	'postmaster reinitialized after the backend was killed');
cmp_ok(max_id(), '>', $before + 300, 'rows committed before the kill are there');
check_index('after SIGKILL of the inserting backend');

# (2) immediate shutdown in the middle of inserts, then crash recovery
$before = max_id();
($h, $err) = start_inserts($before + 1);
$node->poll_query_until('postgres', "SELECT max(id) >= $before + 400 FROM items")
  or die 'inserts did not progress';
$log_offset = -s $node->logfile;
$node->stop('immediate');
$h->finish;
$node->start;
ok($node->log_contains('database system was not properly shut down; automatic recovery in progress', $log_offset),
	'the restart went through crash recovery');
cmp_ok(max_id(), '>', $before + 300, 'rows committed before the shutdown are there');
check_index('after immediate shutdown and recovery');

# (3) the index keeps working: more inserts, an exact hit on a new row
$before = max_id();
$node->safe_psql('postgres',
	"INSERT INTO items SELECT i, tap_vec(i, $D, 40, $SEED) FROM generate_series($before + 1, $before + 1000) i;"
	  . "INSERT INTO items SELECT 100000000 + qid, v FROM queries WHERE qid <= 5;");
my $top1 = knn($node, ann_settings(ef => $EF), k => 1);
is_deeply([ map { $top1->{$_}[0] } 1 .. 5 ], [ map { 100000000 + $_ } 1 .. 5 ],
	'a row inserted after recovery equal to a query is its nearest neighbour');
check_index('after further inserts');

# (4) SIGKILL of VACUUM while it removes dead tuples from the index and
# repairs their neighbours' links
$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 5 < 2');
$log_offset = -s $node->logfile;
my ($vout, $verr) = ('', '');
my $vh = IPC::Run::start(
	[ $node->installed_command('psql'), '-XAtq', '-d', $node->connstr('postgres'), '-c', 'VACUUM items' ],
	'>', \$vout, '2>', \$verr);
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_stat_progress_vacuum WHERE phase IN ('vacuuming indexes', 'cleaning up indexes') "
	  . "OR NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query = 'VACUUM items')")
  or die 'VACUUM did not start';
my $vpid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_progress_vacuum WHERE phase IN ('vacuuming indexes', 'cleaning up indexes')");
if ($vpid =~ /^\d+$/)
{
	kill 'KILL', $vpid;
	$vh->finish;
	$node->poll_query_until('postgres', 'SELECT 1', '1')
	  or die 'server did not come back after the crash';
	ok($node->log_contains('all server processes terminated; reinitializing', $log_offset),
		'postmaster reinitialized after VACUUM was killed in its index pass');
}
else
{
	$vh->finish;
	diag('VACUUM finished before its index pass could be caught; no crash in this run');
}
check_index('after SIGKILL during VACUUM');
$node->safe_psql('postgres', 'VACUUM items');
check_index('after VACUUM ran to the end');

$node->stop;
done_testing();
