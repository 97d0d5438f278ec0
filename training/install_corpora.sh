#!/usr/bin/env bash
# The corpora the memory adapter is trained on, and the one it is checked on (never trained on).
# Only the training pipeline needs them; CI installs python3.11-doc alone (.ci/run).
set -euo pipefail
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11-doc postgresql-doc-15 python-django-doc git-doc sqlite3-doc
