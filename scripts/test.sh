#!/usr/bin/env bash
# Install va-engine with its test dependencies, then lint, type-check and test.
# This is the README's test command and what CI (.ci/run) runs.
#   ./scripts/test.sh              # everything
#   ./scripts/test.sh -k store     # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# Debian packages for the real servers and tools the integration tests start:
# Dovecot (IMAP) and poppler-utils (pdftoppm for PDF checks). Only as root,
# and only when something is missing, so a developer's run stays fast.
need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
# WeasyPrint (handover PDF) needs Pango and HarfBuzz's subsetter and a font.
for pkg in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "note: not root, so ${need[*]} cannot be installed; tests needing them will skip"
  fi
fi

"$PYTHON" -m pip install --quiet --disable-pip-version-check -e ".[test]" ruff mypy

echo "== ruff"
"$PYTHON" -m ruff check va_engine tests benchmarks scripts
echo "== mypy"
"$PYTHON" -m mypy

echo "== pytest"
set +e
"$PYTHON" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests; treating as success"
  exit 0
fi
exit "$status"
