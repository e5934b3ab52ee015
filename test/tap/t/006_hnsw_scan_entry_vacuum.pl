# ecml_hnsw: a scan whose entry point a concurrent VACUUM removes.  A scan
# reads the entry point from the meta page, then the element; if VACUUM
# moved the entry point and removed the element in between, the scan used to
# end with no rows.  It must read the meta page again.  The window is a few
# instructions wide, so the test holds the scanning backend in it with gdb
# (a breakpoint on the return from hnsw_read_meta), runs VACUUM, and lets the
# scan go on; it is skipped when gdb is not installed or may not attach.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $gdb = `command -v gdb 2>/dev/null`;
chomp $gdb;
plan skip_all => 'gdb is not installed' unless $gdb;

my $node = PostgreSQL::Test::Cluster->new('hnsw_scan_entry');
$node->init;
$node->append_conf('postgresql.conf', "log_statement = none\nautovacuum = off\n");
$node->start;

# rows 1..500 with the index built over them, 501..510 inserted after; then
# 1..500 are deleted, so the entry point (the highest element of the build)
# is dead and VACUUM will move it to one of 501..510 and remove it
$node->safe_psql('postgres', <<'SQL');
CREATE EXTENSION ecml;
CREATE EXTENSION pageinspect;
CREATE TABLE items (id int, v real[]);
INSERT INTO items SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)]::real[]
  FROM generate_series(1, 500) i;
CREATE INDEX items_v ON items USING ecml_hnsw (v ecml.real_l2_ops);
INSERT INTO items SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)]::real[]
  FROM generate_series(501, 510) i;
DELETE FROM items WHERE id <= 500;
SQL

# the meta page's entry point (block, offset: HnswMetaPageData after the
# 24-byte page header)
my $entry_sql = "SELECT get_byte(p, 48) + 256 * get_byte(p, 49) + 65536 * get_byte(p, 50), "
  . "get_byte(p, 52) + 256 * get_byte(p, 53) FROM get_raw_page('items_v', 0) p";
my $entry_before = $node->safe_psql('postgres', $entry_sql);

# the scanning session
my ($in, $out, $err) = ('', '', '');
my $timer = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
my $psql = IPC::Run::start(
	[ $node->installed_command('psql'), '-XAtq', '-d', $node->connstr('postgres') ],
	'<', \$in, '>', \$out, '2>', \$err, $timer);
$in .= "SELECT 'pid=' || pg_backend_pid();\n";
$psql->pump until $out =~ /pid=(\d+)/ || $timer->is_expired;
my $pid = $1;
die "the scanning session did not start: $err" unless defined $pid;

# gdb stops the backend when hnsw_read_meta returns (the scan has its copy
# of the meta page), touches $hit, and lets it go when $go exists
my $dir = $node->basedir;
my ($hit, $go, $ready) = ("$dir/gdb_hit", "$dir/gdb_go", "$dir/gdb_ready");
my ($gout, $gerr) = ('', '');
my $g = IPC::Run::start(
	[ $gdb, '-p', $pid, '-batch', '-nx',
	  '-ex', 'set breakpoint pending on',
	  '-ex', 'break hnsw_read_meta',
	  '-ex', "shell touch $ready",
	  '-ex', 'continue',
	  '-ex', 'finish',
	  '-ex', "shell touch $hit",
	  '-ex', "shell while [ ! -e $go ]; do sleep 0.1; done",
	  '-ex', 'detach' ],
	'>', \$gout, '2>', \$gerr);
my $waited = 0;
usleep(100_000), $waited++ until -e $ready || $waited > 300 || !$g->pumpable;
if (!-e $ready || $gerr =~ /ptrace|Operation not permitted/)
{
	$g->kill_kill;
	$psql->kill_kill;
	$node->stop;
	plan skip_all => "gdb could not attach to the backend: $gerr";
}

$in .= "SET enable_seqscan = off;\n"
  . "SELECT 'rows=' || count(*) FROM (SELECT id FROM items ORDER BY v OPERATOR(ecml.<->) "
  . "ARRAY[0, 1, 0, 1]::real[] LIMIT 5) s;\n";
$psql->pump_nb;
$waited = 0;
while (!-e $hit && $waited < 600)
{
	$psql->pump_nb;
	usleep(100_000);
	$waited++;
}
ok(-e $hit, 'the scan stopped after reading the meta page');

# meanwhile: VACUUM moves the entry point and removes the old one
$node->safe_psql('postgres', 'VACUUM items');
my $entry_after = $node->safe_psql('postgres', $entry_sql);
isnt($entry_after, $entry_before,
	"VACUUM moved the entry point ($entry_before -> $entry_after) while the scan held the old one");

# the scan goes on from the meta page's new entry point
open(my $fh, '>', $go) or die "cannot create $go: $!";
close $fh;
$psql->pump until $out =~ /rows=(\d+)/ || $timer->is_expired;
is($1, 5, 'the scan re-read the meta page and returned 5 rows');
$g->finish;
$in .= "\\q\n";
$psql->finish;

$node->stop;
done_testing();
