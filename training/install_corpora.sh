#!/usr/bin/env bash
# The corpora the memory adapter is trained on, and the one it is checked on (never trained on).
# Only the training pipeline needs them; CI installs python3.11-doc alone (.ci/run).
#
# Installs only what is missing and never upgrades what is there: the evaluation's
# committed cases and datastore were made from the installed python3.11-doc, and a newer
# Debian revision changes some of its chunks (deb12u8 -> deb12u9 changed 4). The package
# lists are refreshed only when an install cannot find a package without it.
set -euo pipefail
packages=(python3.11-doc postgresql-doc-15 python-django-doc git-doc sqlite3-doc)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade "${missing[@]}"; }
    install || { apt-get update -qq && install; }
fi
dpkg-query -W -f='${Package} ${Version}\n' "${packages[@]}"
