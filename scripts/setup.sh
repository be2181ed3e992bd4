#!/usr/bin/env bash
# Sets up everything the pipeline needs on a fresh Debian 12 machine with Python 3.11:
#   - TeX Live from Debian's packages (pdflatex with amsmath, amssymb, amsfonts, mathtools, bm), and
#     dvisvgm for the report (equations as SVG);
#     needs root or sudo, and is skipped when those are already installed;
#   - Chromium and its driver from Debian's packages, for the serve stage's browser test;
#   - a virtual environment in .venv with the Python packages of pyproject.toml.
# torch is installed first and pinned (2.13.0): on a machine without a GPU that is the CPU wheel,
# and pinning it stops pip from resolving Lightning's torch to a multi-gigabyte CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v pdflatex >/dev/null 2>&1 || ! command -v dvisvgm >/dev/null 2>&1 \
   || ! kpsewhich mathtools.sty bm.sty amssymb.sty >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing TeX Live (texlive-latex-base, texlive-latex-recommended), dvisvgm"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    texlive-latex-base texlive-latex-recommended dvisvgm >/dev/null
fi

# The serve stage's browser test drives Debian's Chromium (a browser download at install time, as
# `playwright install` does, cannot work offline); the test is skipped, saying so, without it.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing chromium and chromium-driver (for the serve stage's browser test)"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
         --no-install-recommends chromium chromium-driver >/dev/null; }; then
    echo "setup: chromium could not be installed; the browser test will be skipped" >&2
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv || { echo "setup: '$PYTHON -m venv' failed: install Debian's python3-venv package" >&2; exit 1; }
fi
echo "setup: installing Python packages into .venv"
.venv/bin/pip install -q --disable-pip-version-check "torch==2.13.0"
.venv/bin/pip install -q --disable-pip-version-check -e ".[dev]"
echo "setup: done"
