#!/usr/bin/env bash
# Fetch into .whl/ (git-ignored) what the device machine lacks for benchmarks/gpu_check.sh: Hydra
# and DeepSpeed with the packages they need that its image does not hold, plus Pythia's tokenizer.
# DeepSpeed and antlr4 are published as sources only: they are built here into pure-Python wheels
# (DS_BUILD_OPS=0: DeepSpeed compiles any op it needs on the GPU machine itself). About 5 MB.
#   bash benchmarks/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exclude="$(git rev-parse --git-path info/exclude)"
grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
PY="${PYTHON:-.venv/bin/python}"
mkdir -p .whl
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
    hydra-core==1.3.8 omegaconf==2.3.1 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 \
    typing-inspection==0.4.5 hjson==3.1.0
DS_BUILD_OPS=0 "$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w .whl deepspeed==0.19.8 \
    antlr4-python3-runtime==4.9.3
cp "${DEBIAS_DATA_DIR:-../shared/data}/pythia_tokenizer_config/20B_tokenizer.json" .whl/
ls -la .whl
