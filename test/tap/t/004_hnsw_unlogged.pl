# ecml_hnsw on unlogged tables: after a crash, and on a standby that is
# promoted, an unlogged table's index is reset from its init fork.  That fork
# holds the empty index's meta page, which must be WAL-logged and synced when
# the index is created: written only to shared buffers (as it was), it was
# lost by an immediate shutdown before the next checkpoint, and never reached
# a standby, so every INSERT failed with "block 0 is not an ecml_hnsw page"
# or "could not read block 0" until REINDEX.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HnswTap;

my $D = 8;

my $primary = PostgreSQL::Test::Cluster->new('hnsw_unlogged_primary');
$primary->init(allows_streaming => 1);
# no checkpoint between creating the indexes and the crash, and room in
# shared buffers (not the 1 MB of a streaming setup): a checkpoint or an
# eviction would write the init fork's buffer and hide a missing WAL record
$primary->append_conf('postgresql.conf', <<'CONF');
log_statement = none
shared_buffers = '32MB'
checkpoint_timeout = '1h'
max_wal_size = '1GB'
max_parallel_maintenance_workers = 0
CONF
$primary->start;
$primary->safe_psql('postgres', setup_sql());

# the standby starts before the indexes exist: their init forks reach it
# only through WAL
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('hnsw_unlogged_standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', "log_statement = none\n");
$standby->start;

# u_empty: the index is created on an empty table (the issue's case);
# u_full: built over rows (the main fork by the build, the init fork empty)
$primary->safe_psql('postgres', <<"SQL");
CREATE UNLOGGED TABLE u_empty (id int, v real[]);
CREATE INDEX u_empty_v ON u_empty USING ecml_hnsw (v ecml.real_l2_ops);
CREATE UNLOGGED TABLE u_full (id int, v real[]);
INSERT INTO u_full SELECT i, tap_vec(i, $D, 10, 7) FROM generate_series(1, 500) i;
CREATE INDEX u_full_v ON u_full USING ecml_hnsw (v ecml.real_l2_ops);
INSERT INTO u_empty SELECT i, tap_vec(i, $D, 10, 7) FROM generate_series(1, 200) i;
SQL
$primary->wait_for_catchup($standby, 'replay');

# rows inserted into $t with ids $from..$to; then the rows an index scan
# returns (every one, nearest to row $from first) and the exact nearest row
sub insert_and_scan
{
	my ($node, $t, $from, $to) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"INSERT INTO $t SELECT i, tap_vec(i, $D, 10, 7) FROM generate_series($from, $to) i");
	return ("INSERT failed: $err") if $ret != 0;
	my $settings = ann_settings(ef => 1000) . ' SET ecml.hnsw_strict_order = off;';
	my $plan = $node->safe_psql('postgres',
		"$settings EXPLAIN (COSTS OFF) SELECT id FROM $t ORDER BY v OPERATOR(ecml.<->) tap_vec($from, $D, 10, 7)");
	return ("no index scan:\n$plan") unless $plan =~ /Index Scan using ${t}_v/;
	my $got = $node->safe_psql('postgres',
		"$settings SELECT count(*), count(DISTINCT id), (array_agg(id))[1] FROM "
		  . "(SELECT id FROM $t ORDER BY v OPERATOR(ecml.<->) tap_vec($from, $D, 10, 7) LIMIT 1000000) s");
	return ('ok', split(/\|/, $got));
}

# a crash: the unlogged tables come back empty, their indexes empty and usable
$primary->stop('immediate');
$primary->start;
for my $t ('u_empty', 'u_full')
{
	is($primary->safe_psql('postgres', "SELECT count(*) FROM $t"), 0,
		"$t is empty after crash recovery");
	my ($status, $n, $distinct, $first) = insert_and_scan($primary, $t, 1001, 1300);
	is($status, 'ok', "after crash recovery, INSERT into $t works and its index is scanned");
	is($n, 300, "... a full index scan of $t returns each of the 300 new rows")
	  and is($distinct, 300, '... once');
	is($first, 1001, '... nearest first');
}
# and again: the init fork is the same after a second crash; TRUNCATE gives
# the index a new init fork, made the same way
$primary->safe_psql('postgres', 'TRUNCATE u_full');
$primary->stop('immediate');
$primary->start;
my ($status, $n) = insert_and_scan($primary, 'u_empty', 2001, 2100);
is($status, 'ok', 'after a second crash, INSERT into u_empty works');
is($n, 100, '... and its index returns the 100 new rows');
($status, $n) = insert_and_scan($primary, 'u_full', 2001, 2100);
is($status, 'ok', 'after TRUNCATE and a crash, INSERT into u_full works');
is($n, 100, '... and its index returns the 100 new rows');

# promotion: the standby's unlogged tables start empty, from the init forks
# it replayed
$primary->stop;
$standby->promote;
for my $t ('u_empty', 'u_full')
{
	is($standby->safe_psql('postgres', "SELECT count(*) FROM $t"), 0,
		"$t is empty on the promoted standby");
	my ($status, $n, $distinct, $first) = insert_and_scan($standby, $t, 3001, 3250);
	is($status, 'ok', "on the promoted standby, INSERT into $t works and its index is scanned");
	is($n, 250, "... a full index scan of $t returns each of the 250 new rows")
	  and is($distinct, 250, '... once');
	is($first, 3001, '... nearest first');
}

# an unlogged index created after promotion, and a crash of the new primary
$standby->safe_psql('postgres',
	"CREATE UNLOGGED TABLE u_late (id int, v real[]);"
	  . "CREATE INDEX u_late_v ON u_late USING ecml_hnsw (v ecml.real_l2_ops);");
$standby->stop('immediate');
$standby->start;
($status, $n) = insert_and_scan($standby, 'u_late', 1, 150);
is($status, 'ok', 'an unlogged index created on the promoted standby survives its crash');
is($n, 150, '... and returns the 150 rows inserted after it');

$standby->stop;
done_testing();
