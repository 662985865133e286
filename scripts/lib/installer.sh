# Sourced by the scripts that build virtualenvs: one installer for them all.
# uv installs the ~350 pinned packages in seconds where pip takes minutes (measured on the 2-core CI machine:
# 6.5 s against 2 min 51 s, warm caches both), so a fresh machine's first test run spends its time on tests.
# uv itself is pinned here and installed with pip into a small tool venv; if that fails, pip does the work.
UV_VERSION=0.13.9
TOOLS_DIR=${EVOLINK_TOOLS_DIR:-.tools}

# ensure_uv: set UV to a pinned uv binary, or leave it empty when uv cannot be installed.
# The full test run builds both venvs at once, so two callers may arrive together: the tool venv is built
# under a lock, in a scratch folder moved into place only when uv runs.
ensure_uv() {
  UV=""
  local tool_venv="$TOOLS_DIR/uv-$UV_VERSION"
  mkdir -p "$TOOLS_DIR"
  (
    flock 9 2>/dev/null || true
    if ! [ -x "$tool_venv/bin/uv" ]; then
      local scratch
      scratch=$(mktemp -d "$TOOLS_DIR/.uv-XXXXXX")
      "$PYTHON" -m venv "$scratch" >/dev/null 2>&1 \
        && "$scratch/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" 2>&1 \
          | grep -v '^WARNING: Location' || true
      # A venv's scripts name their folder: move it, then check uv runs from where it now is.
      if [ -x "$scratch/bin/uv" ] && mv "$scratch" "$tool_venv" && "$tool_venv/bin/uv" --version >/dev/null; then
        :
      else
        rm -rf "$scratch"
      fi
    fi
  ) 9>"$TOOLS_DIR/.lock"
  if [ -x "$tool_venv/bin/uv" ] && "$tool_venv/bin/uv" --version >/dev/null 2>&1; then
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
