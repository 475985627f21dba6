#!/usr/bin/env bash
# Copy the pinned front-end packages (package.json) from npm into static/vendor.
# Run after changing a version; the copied files are committed, so nothing is fetched at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
npm install --no-audit --no-fund --ignore-scripts
mkdir -p static/vendor static/vendor/swagger-ui
cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
cp node_modules/@picocss/pico/css/pico.min.css static/vendor/pico.min.css
# The API docs page (/api/v1/docs): Swagger UI's bundle and styles, started by static/js/api-docs.js.
for f in swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE; do
    cp "node_modules/swagger-ui-dist/$f" "static/vendor/swagger-ui/$f"
done
# Charts (static/js/charts.js draws every <canvas data-chart>): Chart.js's UMD build and its licence.
mkdir -p static/vendor/chartjs
cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/chartjs/chart.umd.min.js
cp node_modules/chart.js/LICENSE.md static/vendor/chartjs/LICENSE.md
# Accessibility checks in the browser tests (tests/browser): axe-core, injected by the tests only, never served.
mkdir -p tests/browser/vendor
cp node_modules/axe-core/axe.min.js tests/browser/vendor/axe.min.js
cp node_modules/axe-core/LICENSE tests/browser/vendor/axe-core-LICENSE
echo "vendored: $(ls static/vendor) $(ls static/vendor/swagger-ui)"
