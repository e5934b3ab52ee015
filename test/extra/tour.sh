#!/usr/bin/env bash
# The shop tour end to end on a small shop, as examples/demo.sh runs it:
# generate, train every model into ecml.models, walk the tour, and check
# that its summary has a held-out quality figure for every shop model.
set -euo pipefail
db=ecml_tour
q() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
trap 'dropdb --if-exists "$db" 2>/dev/null' EXIT
dropdb --if-exists "$db" 2>/dev/null
createdb "$db"
q -v scale=0.3 -f examples/shop/generate.sql -o /dev/null
q -c "CREATE EXTENSION ecml" -f examples/shop/train.sql -c "CALL shop.retrain()" -o /dev/null
out=$(q -f examples/shop/tour.sql)
printf '%s\n' "$out" | sed -n '/== Summary/,$p'
models=$(q -At -c "SELECT count(DISTINCT name) FROM ecml.models WHERE name LIKE 'shop\_%'")
# summary rows: "| <kind> |" lines whose last column is a number in [0, 1]
good=$(printf '%s\n' "$out" | sed -n '/== Summary/,$p' | grep -cE '^ shop_[a-z_]+ +\|.*\| +(0\.[0-9]+|1\.000) *$' || true)
echo "shop models: $models, summary rows with a quality figure: $good"
[ "$models" -ge 4 ] && [ "$good" -eq "$models" ]
# the tour's damaged night (shuffled labels) is kept but refused, and the
# version the nightly retraining promoted stays live
refused=$(q -At -c "SELECT (SELECT max(version) FROM ecml.models WHERE name = 'shop_purchase')
                           > (SELECT version FROM ecml.models WHERE name = 'shop_purchase' AND live)
                       AND EXISTS (SELECT 1 FROM ecml.model_history WHERE name = 'shop_purchase' AND event = 'refused')
                       AND (SELECT count(*) FROM ecml.models WHERE name = 'shop_purchase') = 3")
echo "damaged night refused, live version kept: $refused"
[ "$refused" = t ]
