#!/usr/bin/env bash
# The project's GPU figures in one command: at most 8 minutes on one
# H100/H200 (--budget; batch 1024 needs about --budget=1200), JSON and
# markdown tables into --out.
#
#   benchmarks/gpu.sh [--out=DIR] [--budget=SECONDS] [--dry-run] [--help]
#
# Runs `python -m benchmarks.gpu` from the repository root with $PYTHON (or
# python, or python3); installs nothing, prints what is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
exec "$PYTHON" -m benchmarks.gpu "$@"
