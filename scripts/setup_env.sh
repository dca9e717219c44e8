#!/usr/bin/env bash
# Creates (once) the virtual environment ganforge runs in and installs the package with its test extras.
# The venv lives outside the checkout so fresh clones (CI) reuse it; GANFORGE_VENV overrides the place.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${GANFORGE_VENV:-$HOME/.cache/ganforge/venv}
stamp="$venv/.ganforge-stamp"
want=$(cat "$here/pyproject.toml" "$here/scripts/setup_env.sh" | sha256sum | cut -c1-16)

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  # Pinned torch where the pinned build is available (it is served from local disk on our machines); else any torch>=2.4.
  if ! "$venv/bin/python" -c "import torch, torchvision" 2>/dev/null; then
    "$venv/bin/python" -m pip install -q torch==2.14.1 torchvision==0.29.1 \
      || "$venv/bin/python" -m pip install -q "torch>=2.4" torchvision
  fi
  "$venv/bin/python" -m pip install -q -e "$here[test]"
  echo "$want" > "$stamp"
else
  # Same dependencies: only make sure this checkout is the one installed (editable).
  "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$here" >/dev/null
fi
"$venv/bin/python" -m ganforge.perceptual.setup_weights --quiet || echo "note: LPIPS backbone weights not imported (see docs/weights.md)"
