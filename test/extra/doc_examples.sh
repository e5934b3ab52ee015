#!/usr/bin/env bash
# Documentation that runs: every ```sql block of README.md and docs/*.md is
# executed, so an example cannot drift from the extension.  The tables the
# examples use are defined by the blocks of docs/example-data.md, run once
# into a template database; each page then runs in its own copy of it, its
# blocks in order (a page's later examples use what its earlier ones made).
# A block that must not run is fenced ```sql no-run and preceded by an
# HTML comment giving the reason (<!-- no-run: ... -->); this script fails
# on a no-run block without one.  Roles the examples create are dropped at
# the end.
set -euo pipefail
tmpl=ecml_docs_tmpl
work=$(mktemp -d)
dbs=()
roles_before=$(psql -X -At -d postgres -c "SELECT string_agg(quote_literal(rolname), ',') FROM pg_roles")
drop_new_roles() {
    psql -X -At -d postgres -c "SELECT format('DROP ROLE %I;', rolname) FROM pg_roles
                                WHERE rolname NOT IN ($roles_before)" |
        psql -X -q -d postgres >/dev/null 2>&1 || true
}
cleanup() {
    local db
    for db in "${dbs[@]}" "$tmpl"; do dropdb --if-exists "$db" 2>/dev/null || true; done
    drop_new_roles
    rm -rf "$work"
}
trap cleanup EXIT

# extract FILE: write each runnable block to $work/<n>.sql and print
# "<n> <line>" for it; print "skip <line>" for a no-run block.
extract() {
    awk -v dir="$work" -v base="$2" '
        /^```sql( no-run)?[ \t]*$/ && !on {
            on = 1; skip = ($0 ~ /no-run/); start = NR; n++
            if (skip) {
                if (prev !~ /^<!-- no-run: .+-->/) print "noreason " NR
                else print "skip " NR
            } else {
                f = sprintf("%s/%s_%03d.sql", dir, base, n); printf "" > f
                print n " " NR
            }
            next
        }
        on && /^```[ \t]*$/ { on = 0; if (!skip) close(f); next }
        on && !skip { print > f; next }
        { if (NF) prev = $0 }
    ' "$1"
}

total=0 failed=0 skipped=0
run_page() {
    local file=$1 db=$2 base n line out
    base=$(basename "$file" .md)
    while read -r n line; do
        case $n in
            skip) skipped=$((skipped + 1)); continue ;;
            noreason)
                echo "FAIL $file:$line: a no-run block without <!-- no-run: reason --> before it"
                failed=$((failed + 1)); continue ;;
        esac
        total=$((total + 1))
        if ! out=$(psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$work/${base}_$(printf %03d "$n").sql" 2>&1 >/dev/null); then
            echo "FAIL $file:$line:"
            printf '%s\n' "$out" | grep -E 'ERROR|DETAIL|HINT' | head -n 5 | sed 's/^/    /'
            failed=$((failed + 1))
        fi
    done < <(extract "$file" "$base")
}

dropdb --if-exists "$tmpl" 2>/dev/null
createdb "$tmpl"
run_page docs/example-data.md "$tmpl"
[ "$failed" -eq 0 ] || { echo "docs/example-data.md failed; not running the pages"; exit 1; }
for file in README.md docs/*.md; do
    [ "$file" = docs/example-data.md ] && continue
    grep -qE '^```sql' "$file" || continue
    db=ecml_docs_$(basename "$file" .md | tr -c 'a-z0-9\n' '_')
    dbs+=("$db")
    dropdb --if-exists "$db" 2>/dev/null
    createdb -T "$tmpl" "$db"
    run_page "$file" "$db"
    dropdb "$db"
    drop_new_roles
done
echo "documentation examples: $total run, $failed failed, $skipped marked no-run"
[ "$failed" -eq 0 ] && [ "$total" -gt 0 ]
