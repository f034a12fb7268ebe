#!/usr/bin/env bash
# Copy the dashboard's and the API docs' browser assets from node_modules into the
# package's static/vendor folder, each with its licence (make vendor-js).
set -euo pipefail
modules=$1
vendor=$2  # the package's static/vendor
# $3: tests/e2e/vendor
cp "$modules/lightweight-charts/dist/lightweight-charts.standalone.production.js" "$vendor/"
cp "$modules/lightweight-charts/LICENSE" "$vendor/lightweight-charts.LICENSE"
cp "$modules/swagger-ui-dist/swagger-ui-bundle.js" "$modules/swagger-ui-dist/swagger-ui.css" "$vendor/"
cp "$modules/swagger-ui-dist/LICENSE" "$vendor/swagger-ui.LICENSE"
cp "$modules/redoc/bundles/redoc.standalone.js" "$vendor/"
# ReDoc's sidebar asks cdn.redoc.ly for a logo: refused by the page's policy, an error in
# the browser's console. An empty image in its place (the "API docs by Redocly" text stays).
sed -i 's#https://cdn.redoc.ly/redoc/logo-mini.svg#data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E#' \
  "$vendor/redoc.standalone.js"
cp "$modules/redoc/LICENSE" "$vendor/redoc.LICENSE"
# axe-core: only the browser tests use it (an accessibility check of the dashboard).
tests_vendor=$3
mkdir -p "$tests_vendor"
cp "$modules/axe-core/axe.min.js" "$tests_vendor/"
cp "$modules/axe-core/LICENSE" "$tests_vendor/axe-core.LICENSE"
echo "[vendor-js] copied into $vendor and $tests_vendor"
