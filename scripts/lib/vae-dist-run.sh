# Sourced by the checks that drive vae-dist from Python's side (check-seed-checkpoints.sh, check-tensorboard.sh):
# sets `bin` (VAE_DIST, else the release binary built up to date with the sources under test), `work` (a temporary
# folder removed on exit) and `quiet` (runs vae-dist, showing its output only when it fails).
if [ -n "${VAE_DIST:-}" ]; then
    bin="$VAE_DIST"
else
    swift build -c release --product vae-dist >/dev/null
    bin="$(swift build -c release --show-bin-path)/vae-dist"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
quiet() { "$bin" "$@" >"$work/log" 2>&1 || { cat "$work/log"; echo "FAIL vae-dist $1"; exit 1; }; }
