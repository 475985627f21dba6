#!/usr/bin/env bash
# Copy the pinned front-end packages (package.json) from npm into static/vendor.
# Run after changing a version; the copied files are committed, so nothing is fetched at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
npm install --no-audit --no-fund --ignore-scripts
mkdir -p static/vendor
cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
cp node_modules/@picocss/pico/css/pico.min.css static/vendor/pico.min.css
echo "vendored: $(ls static/vendor)"
