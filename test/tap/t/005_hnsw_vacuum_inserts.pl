# ecml_hnsw: inserts while VACUUM repairs the graph.  pgbench inserts rows
# next to a point; the rows nearest to that point are deleted.
#  - Inserts alone: two inserts next to each other must keep each other's
#    links (writing a new element's list used to overwrite the link another
#    insert had just made to it, and rows got unreachable).
#  - Inserts and VACUUM: new rows go next to the point only once VACUUM
#    works on the index (slowed by vacuum_cost_delay, so that many inserts
#    overlap it): they find nothing near but the dead rows it is removing.
#    Such a row must not end up linked only to elements the same VACUUM
#    removes (it used to: VACUUM repaired only the elements it had seen in
#    its first pass, and the row was unreachable afterwards).
# After every round, an index scan with the widest search must reach all
# live rows but at most 1%, and every one after a VACUUM.  Each delete
# moves to the next point, so the rows inserted next to one stay live for
# the check.  Not every one before the VACUUM: HNSW itself does not keep
# every element reachable (a neighbour's full list, pruned with the
# heuristic, can drop an element's last way in), and crowded inserts into
# a region VACUUM is emptying make it likelier: an insert there may find a
# single live neighbour (CI once lost such a row in round 3).  VACUUM links
# such elements back in (hnsw_reach.c); a row linked only to removed
# elements, the defect the VACUUM rounds were written for, it cannot.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use HnswTap;

my $D       = 32;
my $N0      = 6000;
my $HOLE    = 300;		# rows deleted around each point
my $POINTS  = 40;		# the points (query vectors of the data's mixture)
my $ROUNDS  = 3;
my $VACUUMS = 4;		# deletes (and VACUUMs) per round, one point each
my $TX      = 700;		# pgbench transactions per client and round

my $node = PostgreSQL::Test::Cluster->new('hnsw_vacuum_inserts');
$node->init;
$node->append_conf('postgresql.conf', <<'CONF');
log_statement = none
max_parallel_maintenance_workers = 0
autovacuum = off
CONF
$node->start;

# the point new rows go next to is target.v (a new row is the point plus
# noise of up to 0.5 per coordinate), or rows of the data's mixture when
# it is NULL
$node->safe_psql('postgres',
	setup_sql() . load_items('items', 1, $N0, $D) . load_queries('points', $POINTS, $D) . <<"SQL");
CREATE SEQUENCE item_ids START 1000000;
CREATE TABLE target (v real[]);
INSERT INTO target SELECT v FROM points WHERE qid = 1;
CREATE INDEX items_hnsw ON items USING ecml_hnsw (embedding ecml.real_l2_ops)
  WITH (m = 16, ef_construction = 64);
SQL

my $script = $node->basedir . '/insert.sql';
PostgreSQL::Test::Utils::append_to_file($script, <<"SQL");
INSERT INTO items SELECT n, CASE WHEN t.v IS NULL THEN tap_vec(n, $D, 40, 20261129) ELSE (SELECT array_agg((t.v[j] + (tap_u(n * 4096 + j, 13) - 0.5))::real ORDER BY j) FROM generate_series(1, $D) j) END FROM (SELECT nextval('item_ids') AS n) s, target t;
SQL

my ($n, $distinct, $all) = full_scan_count($node, 'items', 'SELECT v FROM points WHERE qid = 1', op => '<->');
is($n, $all, "after the build, a full index scan returns every one of the $all rows");

my $point = 1;

# One round: pgbench inserts $TX rows per client while, $VACUUMS times, the
# rows around the next point are deleted (and vacuumed when $vacuum) and
# new rows go next to that point; then a full index scan.
sub round
{
	my ($label, $vacuum) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ $node->installed_command('pgbench'), '-n', '-c', '2', '-j', '2', '-t', $TX,
		  '-f', $script, $node->connstr('postgres') ],
		'>', \$out, '2>', \$err);
	# wait for the first inserts, so that what follows overlaps them
	my $seen = $node->safe_psql('postgres', 'SELECT last_value FROM item_ids');
	$node->poll_query_until('postgres', "SELECT last_value > $seen + 20 FROM item_ids")
	  or die 'pgbench did not start inserting';
	my $steps = 0;
	while ($steps < $VACUUMS && $h->pumpable)
	{
		my $hole = exact_settings()
		  . "DELETE FROM items WHERE id IN (SELECT id FROM items ORDER BY "
		  . "embedding OPERATOR(ecml.<->) (SELECT v FROM points WHERE qid = $point) LIMIT $HOLE);";
		my $aim = "UPDATE target SET v = (SELECT v FROM points WHERE qid = $point);";
		if ($vacuum)
		{
			# the rows next to the point are deleted; new rows go there
			# once VACUUM works on the index, so that they find nothing but
			# the dead rows it is removing
			$node->safe_psql('postgres', $hole);
			my ($vout, $verr) = ('', '');
			my $vh = IPC::Run::start(
				[ $node->installed_command('psql'), '-XAtq', '-d', $node->connstr('postgres'),
				  '-c', "SET vacuum_cost_delay = '1ms'; SET vacuum_cost_limit = 10", '-c', 'VACUUM items' ],
				'>', \$vout, '2>', \$verr);
			# (poll_query_until waits 100 ms between tries: too long)
			for (my $try = 0; $try < 3000; $try++)
			{
				$vh->pump_nb;
				last unless $vh->pumpable;
				last if $node->safe_psql('postgres',
					'SELECT phase FROM pg_stat_progress_vacuum') eq 'vacuuming indexes';
			}
			$node->safe_psql('postgres', $aim);
			$vh->finish;
			die "VACUUM failed: $verr" if $vh->result(0) != 0;
			# afterwards new rows come from the data's mixture, not into the
			# emptied region (where a new row's only neighbours are at its
			# edge, whose full lists may prune it: a limit of HNSW itself)
			$node->safe_psql('postgres', 'UPDATE target SET v = NULL');
		}
		else
		{
			# new rows go next to the point, then the rows there are deleted
			$node->safe_psql('postgres', $aim . $hole . 'SELECT pg_sleep(0.1)');
		}
		$steps++;
		$point = $point % $POINTS + 1;
	}
	$h->finish;
	is($h->result(0), 0, "$label: pgbench inserts succeeded ($steps "
		  . ($vacuum ? 'VACUUMs' : 'deletes') . ' while they ran)')
	  or diag($err);
	($n, $distinct, $all) =
	  full_scan_count($node, 'items', "SELECT v FROM points WHERE qid = $point", op => '<->');
	cmp_ok($all - $n, '<=', $all / 100,
		"$label: a full index scan returns all but at most 1% of the $all live rows")
	  or diag("the scan returned $n");
	is($distinct, $n, "$label: ... each once");
	$node->safe_psql('postgres', 'VACUUM items');
	($n, $distinct, $all) =
	  full_scan_count($node, 'items', "SELECT v FROM points WHERE qid = $point", op => '<->');
	is($n, $all, "$label: after a VACUUM, every one of the $all live rows");
	is($distinct, $n, "$label: ... each once");
}

# concurrent inserts alone: two inserts next to each other link to each
# other (an insert used to overwrite the other's link to it)
round("inserts, round $_", 0) for 1 .. 2;
# and with VACUUM removing their neighbours meanwhile
round("inserts and VACUUM, round $_", 1) for 1 .. $ROUNDS;

$node->stop;
done_testing();
