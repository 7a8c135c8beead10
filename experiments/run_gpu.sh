#!/usr/bin/env bash
# The one prepared command for a GPU machine: install what is missing, run experiments/autoformalization-gpu.toml
# with --device cuda under a time limit, and keep the report. See docs/experiments.md, "On a GPU".
#
#   experiments/run_gpu.sh [OUT_DIR [more zipfit experiment options, e.g. --set seeds=[0]]]
#
# OUT_DIR defaults to runs/autoformalization-gpu. Environment:
#   ZIPFIT_CONFIG   the config (default experiments/autoformalization-gpu.toml)
#   ZIPFIT_DATA     the shared data directory, linked to ../shared/data beside the repository when that is missing
#                   (default: ./shared/data in the repository)
#   ZIPFIT_DEVICE   default cuda
#   ZIPFIT_TIMEOUT  seconds before the run is stopped (default 900); a rerun into OUT_DIR continues where it stopped
#   ZIPFIT_RESULTS  also copy report.md, experiment.json, the log, the machine's description and the plots
#                   (plots.tar.gz) into this directory: at most 8 files, for a machine that returns only a few
#   PYTHON          default python3
# Installing: when torch (with CUDA), tokenizers, matplotlib and zipfit's own dependencies are already importable,
# only zipfit itself is installed, with --no-deps, so a machine's own CUDA build of torch is kept. Wheels in .whl/
# are installed first, offline (a machine with no network: see the docs). Otherwise pip installs '.[train]', which
# on Linux x86-64 brings PyPI's torch, a CUDA build.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-runs/autoformalization-gpu}
shift $(($# > 0 ? 1 : 0))
config=${ZIPFIT_CONFIG:-experiments/autoformalization-gpu.toml}
device=${ZIPFIT_DEVICE:-cuda}
limit=${ZIPFIT_TIMEOUT:-900}
python=${PYTHON:-python3}
say() { echo "run_gpu: $*" >&2; }

# ---- install ------------------------------------------------------------------------------------------------------
if compgen -G ".whl/*.whl" >/dev/null; then
    say "installing the wheels in .whl/ (offline)"
    "$python" -m pip install -q --no-index --no-deps --no-cache-dir --target /tmp/zipfit-site .whl/*.whl
    export PYTHONPATH=/tmp/zipfit-site${PYTHONPATH:+:$PYTHONPATH}
fi
missing=$("$python" - <<'EOF'
import importlib.util
names = ["torch", "tokenizers", "matplotlib", "numpy", "pyarrow", "zstandard", "tqdm"]
print(" ".join(n for n in names if importlib.util.find_spec(n) is None))
EOF
)
if [ -n "$missing" ]; then
    say "missing: $missing; pip install -e '.[train]'"
    "$python" -m pip install -q -e '.[train]'
elif ! "$python" -m zipfit experiment --help >/dev/null 2>&1; then
    say "installing zipfit itself (--no-deps: the machine's torch stays)"
    "$python" -m pip install -q --no-deps --no-build-isolation -e . || say "pip could not install zipfit; running it from src/"
fi
"$python" - "$device" <<'EOF'
import sys

import torch

device = sys.argv[1]
if device.startswith("cuda") and not torch.cuda.is_available():
    sys.exit(f"run_gpu: torch {torch.__version__} sees no CUDA GPU (ZIPFIT_DEVICE=cpu runs on the CPU)")
name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"
print(f"run_gpu: torch {torch.__version__}, {name}", file=sys.stderr)
EOF

# ---- data: the configs name it as ../shared/data beside the repository ----------------------------------------------
if [ ! -d ../shared/data ]; then
    data=${ZIPFIT_DATA:-$root/shared/data}
    [ -d "$data" ] || { say "no data: neither $(cd .. && pwd)/shared/data nor $data; set ZIPFIT_DATA"; exit 2; }
    mkdir -p ../shared
    ln -sfn "$(cd "$data" && pwd)" ../shared/data
    say "linked ../shared/data -> $data"
fi

# ---- run ---------------------------------------------------------------------------------------------------------
mkdir -p "$out"
log="$out/run_gpu.log"
{
    date -u +"started %Y-%m-%dT%H:%M:%SZ"
    echo "commit $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    nproc | sed 's/^/cpus /'
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/gpu /' || true
} > "$out/machine.txt"
if "$python" -m zipfit experiment --help >/dev/null 2>&1; then
    cmd=("$python" -m zipfit experiment "$config")
else  # zipfit not installed: its subcommand from src/, with the same one-line errors
    export PYTHONPATH=$root/src${PYTHONPATH:+:$PYTHONPATH}
    cmd=("$python" -c 'import sys
import zipfit.cli as cli
from zipfit.harness.cli import add_commands
cli._add_plugin_commands = add_commands  # no installed metadata to find the harness through
sys.exit(cli.main(["experiment", *sys.argv[1:]]))' "$config")
fi
say "${cmd[*]} --out $out --device $device $* (stopped after ${limit} s)"
started=$(date +%s)
set +e
PYTHONUNBUFFERED=1 timeout --signal=INT --kill-after=60 "$limit" "${cmd[@]}" --out "$out" --device "$device" "$@" \
    2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
seconds=$(($(date +%s) - started))
echo "wall $seconds s, exit $status" >> "$out/machine.txt"
if [ "$status" = 124 ]; then
    say "stopped after ${limit} s; run this again to continue from the finished steps"
elif [ "$status" = 0 ]; then
    say "done in $seconds s: $out/report.md"
else
    say "failed after $seconds s (exit $status): see $log"
fi

if [ -n "${ZIPFIT_RESULTS:-}" ]; then
    mkdir -p "$ZIPFIT_RESULTS"
    for f in report.md experiment.json run_gpu.log machine.txt; do
        [ -f "$out/$f" ] && cp "$out/$f" "$ZIPFIT_RESULTS/"
    done
    [ -d "$out/plots" ] && tar -czf "$ZIPFIT_RESULTS/plots.tar.gz" -C "$out" plots
fi
exit "$status"
