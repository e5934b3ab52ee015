# What the ecml_hnsw TAP tests share: deterministic clustered data made in
# SQL, k-nearest-neighbour queries through the index and by exact search, and
# recall between the two.
#
# Data: row i of a data set is the centre of cluster c(i) (c(i) a hash of i)
# plus noise; every coordinate is a 24-bit uniform drawn from
# hashint8extended(x, seed), so the same (i, d, clusters, seed) gives the same
# vector on every run, in every session, and inside a server-side loop.
package HnswTap;

use strict;
use warnings;
use Exporter 'import';
use Test::More;

our @EXPORT = qw(setup_sql load_items load_queries knn recall full_scan_count
  ann_settings exact_settings uses_index guc_max out_of_order);

# SQL functions tap_u, tap_vec: create them once per database.
sub setup_sql
{
	return <<'SQL';
CREATE EXTENSION IF NOT EXISTS ecml;
CREATE FUNCTION tap_u(x bigint, seed bigint) RETURNS float8
IMMUTABLE PARALLEL SAFE LANGUAGE sql
AS $$ SELECT (hashint8extended(x, seed) & 16777215)::float8 / 16777216 $$;
-- a clustered vector: centre of cluster c in [-1, 1]^d, plus noise in
-- [-2, 2] (sum of two uniforms): overlapping clusters, so that recall at
-- small ef_search is well below 1 and a damaged graph shows
CREATE FUNCTION tap_vec(i bigint, d int, clusters int, seed bigint) RETURNS real[]
IMMUTABLE PARALLEL SAFE LANGUAGE sql
AS $$
  SELECT array_agg((2 * tap_u(c * 4096 + j, seed) - 1
                    + 2.0 * (tap_u(i * 4096 + j, seed + 1) + tap_u(i * 4096 + j, seed + 2) - 1))::real
                   ORDER BY j)
  FROM (SELECT (hashint8extended(i, seed + 3) & 2147483647) % clusters AS c) s,
       generate_series(1, d) j
$$;
SQL
}

# SQL that creates table $t(id bigint primary key, embedding real[]) with
# rows $from..$to
sub load_items
{
	my ($t, $from, $to, $d, %o) = @_;
	my $clusters = $o{clusters} // 40;
	my $seed     = $o{seed}     // 20261129;
	return <<"SQL";
CREATE TABLE $t (id bigint PRIMARY KEY, embedding real[]);
INSERT INTO $t SELECT i, tap_vec(i, $d, $clusters, $seed) FROM generate_series($from, $to) i;
SQL
}

# SQL that creates $t(qid int primary key, v real[]): $n query vectors from
# the same mixture (negative row numbers, so not rows of the table)
sub load_queries
{
	my ($t, $n, $d, %o) = @_;
	my $clusters = $o{clusters} // 40;
	my $seed     = $o{seed}     // 20261129;
	return <<"SQL";
CREATE TABLE $t (qid int PRIMARY KEY, v real[]);
INSERT INTO $t SELECT q, tap_vec(-q, $d, $clusters, $seed) FROM generate_series(1, $n) q;
SQL
}

# session settings that force the index (and its search width)
sub ann_settings
{
	my (%o) = @_;
	my $s = "SET enable_seqscan = off; SET enable_bitmapscan = off; SET max_parallel_workers_per_gather = 0;";
	$s .= " SET ecml.hnsw_ef_search = $o{ef};" if defined $o{ef};
	$s .= " SET ecml.hnsw_max_scan_tuples = $o{max_scan};" if defined $o{max_scan};
	return $s;
}

# session settings that forbid any index: exact search (sequential scan + sort)
sub exact_settings
{
	return "SET enable_indexscan = off; SET enable_bitmapscan = off; SET max_parallel_workers_per_gather = 0;";
}

# the per-query SELECT knn() runs
sub knn_sql
{
	my (%o) = @_;
	my $op    = $o{op}    // '<=>';
	my $where = $o{where} // 'true';
	my $k     = $o{k}     // 10;
	my $t     = $o{table} // 'items';
	my $qt    = $o{queries} // 'queries';
	return "SELECT q.qid, (SELECT string_agg(x.id::text, ',' ORDER BY x.r) FROM "
	  . "(SELECT id, row_number() OVER () AS r FROM (SELECT id FROM $t WHERE $where "
	  . "ORDER BY embedding OPERATOR(ecml.$op) q.v LIMIT $k) s) x) FROM $qt q ORDER BY q.qid";
}

# { qid => [ids in the order returned] } for every query: $settings (ann_settings
# or exact_settings) then the k-NN query of each query vector
sub knn
{
	my ($node, $settings, %o) = @_;
	my $out = $node->safe_psql($o{db} // 'postgres', $settings . "\n" . knn_sql(%o));
	my %res;
	for my $line (split /\n/, $out)
	{
		my ($qid, $ids) = split /\|/, $line, 2;
		$res{$qid} = [ grep { length } split /,/, ($ids // '') ];
	}
	return \%res;
}

# the number of queries whose index scan returns rows out of distance order
# (ORDER BY is satisfied by the index: the executor does not sort again).
# The index ranks by float32 distances, the operator computes in double
# precision: two rows within float32 rounding (1e-6 relative) of each other
# may come in either order.
sub out_of_order
{
	my ($node, $settings, %o) = @_;
	my $op    = $o{op}    // '<=>';
	my $where = $o{where} // 'true';
	my $k     = $o{k}     // 10;
	my $t     = $o{table} // 'items';
	my $qt    = $o{queries} // 'queries';
	return $node->safe_psql($o{db} // 'postgres', $settings . "\n"
		  . "SELECT count(*) FILTER (WHERE NOT sorted) FROM (SELECT q.qid, "
		  . "(SELECT bool_and(prev IS NULL OR d >= prev - 1e-6 * (1 + abs(prev))) FROM (SELECT d, lag(d) OVER (ORDER BY r) AS prev "
		  . "FROM (SELECT d, row_number() OVER () AS r FROM (SELECT embedding OPERATOR(ecml.$op) q.v AS d "
		  . "FROM $t WHERE $where ORDER BY embedding OPERATOR(ecml.$op) q.v LIMIT $k) s) x) y) AS sorted "
		  . "FROM $qt q) z");
}

# does the k-NN query plan use an index scan of $index?
sub uses_index
{
	my ($node, $index, %o) = @_;
	my $plan = $node->safe_psql($o{db} // 'postgres',
		ann_settings() . "\nEXPLAIN (COSTS OFF) " . knn_sql(%o));
	return $plan =~ /Index Scan using $index\b/ ? 1 : 0;
}

# recall of $got against $exact, and the number of queries whose list is
# not exactly k long: (recall, short_lists, queries)
sub recall
{
	my ($got, $exact, $k) = @_;
	my ($hit, $total, $short) = (0, 0, 0);
	for my $q (keys %$exact)
	{
		my %e = map { $_ => 1 } @{ $exact->{$q} };
		my @g = @{ $got->{$q} // [] };
		$short++ if @g != $k;
		$hit += grep { $e{$_} } @g;
		$total += @{ $exact->{$q} };
	}
	return ($total ? $hit / $total : 0, $short, scalar keys %$exact);
}

# the maximum value a GUC accepts (pg_settings.max_val)
sub guc_max
{
	my ($node, $name) = @_;
	# load the library first: until then the setting is a placeholder
	return $node->safe_psql('postgres',
		"LOAD 'ecml'; SELECT max_val FROM pg_settings WHERE name = '$name'");
}

# (rows an index scan ordered by distance to $qexpr returns without LIMIT,
# distinct ids among them, rows in the table): with the widest search and the
# largest scan budget, an index scan must reach every live row.  Strict
# distance order is off: with it, a row found after a farther one was
# returned is skipped by design, and this checks the graph, not the order.
sub full_scan_count
{
	my ($node, $t, $qexpr, %o) = @_;
	my $op  = $o{op} // '<=>';
	my $ef  = guc_max($node, 'ecml.hnsw_ef_search');
	my $max = guc_max($node, 'ecml.hnsw_max_scan_tuples');
	my $sql = "SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM $t "
	  . "ORDER BY embedding OPERATOR(ecml.$op) ($qexpr) LIMIT 1000000000) s";
	my $settings = ann_settings(ef => $ef, max_scan => $max) . " SET ecml.hnsw_strict_order = off;";
	my $plan = $node->safe_psql($o{db} // 'postgres', "$settings\nEXPLAIN (COSTS OFF) $sql");
	die "full scan does not use an index scan:\n$plan" unless $plan =~ /Index Scan/;
	my $got = $node->safe_psql($o{db} // 'postgres', "$settings\n$sql");
	my $all = $node->safe_psql($o{db} // 'postgres',
		exact_settings() . "\nSELECT count(*) FROM $t");
	my ($n, $distinct) = split /\|/, $got;
	return ($n, $distinct, $all);
}

1;
