#!/usr/bin/env bash
# Style gate (clang 14, as on Debian 12):
#  (a) clang-format --dry-run -Werror on every tracked *.h / *.cc under alloc io engine client tools
#      tests bench (.clang-format at the root);
#  (b) clang-tidy (.clang-tidy at the root: every enabled check is an error) on the library's
#      translation units, alloc/ io/ engine/ client/ tools/, with their headers; tests/ and bench/ are not
#      tidied. Uses build/ci/compile_commands.json (configures the ci preset when it is missing).
# Usage: tools/check_style.sh [format|tidy]   (no argument: both). Exit status 0 when clean.
# SLUICE_STYLE_JOBS overrides the parallelism (default: nproc).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
what="${1:-all}"
jobs="${SLUICE_STYLE_JOBS:-$(nproc)}"

pick() {  # the versioned binary if installed, so another default clang cannot change the verdict
  if command -v "$1-14" >/dev/null 2>&1; then echo "$1-14"; else echo "$1"; fi
}
clang_format="${CLANG_FORMAT:-$(pick clang-format)}"
clang_tidy="${CLANG_TIDY:-$(pick clang-tidy)}"
status=0

if [[ "$what" == all || "$what" == format ]]; then
  echo "check_style: $clang_format on tracked C++ files"
  if ! git ls-files -z -- {alloc,io,engine,client,tools,tests,bench}/'*.h' {alloc,io,engine,client,tools,tests,bench}/'*.cc' |
      xargs -0 -r "$clang_format" --dry-run -Werror --style=file; then
    echo "check_style: files above are not clang-formatted (fix: $clang_format -i FILE...)" >&2
    status=1
  fi
fi

if [[ "$what" == all || "$what" == tidy ]]; then
  db=build/ci/compile_commands.json
  [[ -f "$db" ]] || cmake --preset ci >/dev/null
  mapfile -t units < <(git ls-files -- 'alloc/*.cc' 'io/*.cc' 'engine/*.cc' 'client/*.cc' 'tools/*.cc' |
    while read -r f; do grep -qF "\"file\": \"$root/$f\"" "$db" && echo "$f"; done)
  echo "check_style: $clang_tidy on ${#units[@]} library translation units ($jobs jobs)"
  logs="$(mktemp -d)"
  trap 'rm -rf "$logs"' EXIT
  # One log per unit, printed only when that unit fails, so parallel output does not interleave.
  # -Wno-unknown-warning-option: the database comes from a g++ build and may hold g++-only flags.
  if ! printf '%s\0' "${units[@]}" | xargs -0 -r -n 1 -P "$jobs" bash -c '
      log="$1/$(echo "$3" | tr / _).log"
      if ! "$2" -p build/ci --quiet --extra-arg=-Wno-unknown-warning-option "$3" >"$log" 2>&1; then
        grep -v -E "^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$" "$log" >&2; exit 1
      fi' tidy_unit "$logs" "$clang_tidy"; then
    echo "check_style: clang-tidy findings above (each enabled check is an error, see .clang-tidy)" >&2
    status=1
  fi
fi

[[ $status -eq 0 ]] && echo "check_style: clean"
exit $status
