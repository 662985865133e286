# Sourced by the scripts that build virtualenvs: one installer for them all.
# uv installs the ~350 pinned packages in seconds where pip takes minutes (measured on the 2-core CI machine:
# 6.5 s against 2 min 51 s, warm caches both), so a fresh machine's first test run spends its time on tests.
# uv itself is pinned here and installed with pip into a small tool venv; if that fails, pip does the work.
UV_VERSION=0.13.9
TOOLS_DIR=${EVOLINK_TOOLS_DIR:-.tools}

# ensure_uv: set UV to a pinned uv binary, or leave it empty when uv cannot be installed.
ensure_uv() {
  UV=""
  local tool_venv="$TOOLS_DIR/uv-$UV_VERSION"
  if ! [ -x "$tool_venv/bin/uv" ]; then
    "$PYTHON" -m venv "$tool_venv" >/dev/null 2>&1 \
      && "$tool_venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" 2>&1 \
        | grep -v '^WARNING: Location' || true
  fi
  if [ -x "$tool_venv/bin/uv" ]; then
    UV=$(cd "$tool_venv/bin" && pwd)/uv
  else
    echo "uv could not be installed; installing with pip (slower)" >&2
  fi
}

# make_venv DIR: a new virtualenv (with pip in it, for anyone who reaches for it).
make_venv() {
  if [ -n "$UV" ]; then
    "$UV" venv --quiet --seed --python "$PYTHON" "$1"
  else
    "$PYTHON" -m venv "$1"
  fi
}

# venv_install DIR PIP-ARGS...: install into the virtualenv DIR.
venv_install() {
  local venv=$1
  shift
  if [ -n "$UV" ]; then
    "$UV" pip install --quiet --python "$venv/bin/python" "$@"
  else
    local args=()
    for arg in "$@"; do [ "$arg" = --reinstall ] && args+=(--force-reinstall) || args+=("$arg"); done
    set -- "${args[@]}"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 \
      | grep -v '^WARNING: Location' || true
  fi
}
