#!/usr/bin/env bash
# Issue 27's one-shot GPU run (bench/GPU_SCALE.md says what it measures and how to call it).
#
#   bash bench/gpu_scale.sh fetch-wheels        # here, with PyPI: the wheels the GPU machine lacks
#   bash bench/gpu_scale.sh [gpu_scale.py args]  # on the GPU machine (no network): install them, run
#
# The GPU run writes $OUT/gpu_scale_<gpu>.json (rewritten after every point) and $OUT/gpu_scale.log.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
WHEELS=bench/out/wheels   # ignored by git (out/): name it in the device call's carry

if [ "${1:-}" = "fetch-wheels" ]; then
    # PyAV 18.1.0 is cp311-abi3 (any CPython >= 3.11, 35.8 MB); the two compiled helpers come for
    # 3.11, 3.12 and 3.13, since the GPU image's python is read there, not assumed (3.12.3 when
    # last seen). About 37 MB in all: the device tool carries at most 64 MiB with the tree.
    mkdir -p "$WHEELS"
    platforms="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
    "$PY" -m pip download -q --no-deps --only-binary=:all: --implementation cp --python-version 3.12 $platforms \
        -d "$WHEELS" av==18.1.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 || exit 1
    for version in 3.11 3.12 3.13; do
        "$PY" -m pip download -q --no-deps --only-binary=:all: --implementation cp --python-version "$version" \
            $platforms -d "$WHEELS" simplejpeg==1.9.0 rpds-py==2026.9.1 || exit 1
    done
    ls -l "$WHEELS"
    du -sh "$WHEELS"
    exit 0
fi

OUT="${OUT:-bench/out/gpu_scale}"
mkdir -p "$OUT"
LOG="$OUT/gpu_scale.log"
SITE="${GPU_SCALE_SITE:-/tmp/gpu_scale_site}"
{
    echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -m), $("$PY" -V 2>&1), $(nproc) cores"
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,utilization.gpu --format=csv 2>&1 | head -3
    # Whichever wheels match this python: each on its own, no index, no dependencies (the image has
    # numpy, pillow, attrs and typing-extensions); a wheel for another python is skipped.
    for wheel in "$WHEELS"/*.whl; do
        [ -e "$wheel" ] || { echo "no wheels in $WHEELS: the harness needs PyAV (numpy frames instead)"; break; }
        if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
            "$wheel" >/dev/null 2>&1; then
            echo "installed $(basename "$wheel")"
        else
            echo "skipped $(basename "$wheel") (not for this python or platform)"
        fi
    done
} 2>&1 | tee "$LOG"
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$PY" -c "import av; print('PyAV', av.__version__, 'from', av.__file__)" 2>&1 | tail -1 | tee -a "$LOG"
"$PY" bench/gpu_scale.py --check-meta 2>&1 | grep -v -i "warn" | tee -a "$LOG"
"$PY" bench/gpu_scale.py --out "$OUT" "$@" 2>&1 | tee -a "$LOG"
status=${PIPESTATUS[0]}
echo "== gpu_scale.py exited $status at $(date -u +%H:%M:%SZ)" | tee -a "$LOG"
exit "$status"
