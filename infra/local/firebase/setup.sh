#!/usr/bin/env bash
# Idempotent setup of the Firebase emulator suite for the capture e2e tests (and local runs):
#   1. firebase-tools 13.35.1 (the last line that runs on Java 17) from the npm registry, into
#      infra/local/firebase/node_modules (npm ci against the committed lockfile);
#   2. the launcher jar that lets firebase-tools use the preinstalled Firestore emulator offline;
#   3. functions_gcp/venv with functions_gcp/requirements.txt installed (firebase-tools runs the
#      Python functions from there);
#   4. the rules-test dependencies (npm `firebase`) in tests/rules/node_modules;
#   5. the bundler check's app (esbuild, typescript, `firebase`, client/ as a linked folder) in
#      tests/bundler/node_modules.
# Re-running does only what is missing. Prints the variables to export at the end.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
PYTHON="${PYTHON:-python3.11}"
FIRESTORE_JAR="${FIRESTORE_JAR:-/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar}"
PUBSUB_BIN="${PUBSUB_BIN:-/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator}"
LAUNCHER="$HERE/.cache/firestore-launcher.jar"

npm_ci() {  # npm ci only when the lockfile changed since the last install
  local dir="$1"
  if [[ ! -f "$dir/node_modules/.package-lock.json" || "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --prefer-offline)
  fi
}

echo "== firebase-tools" >&2
npm_ci "$HERE"
"$HERE/node_modules/.bin/firebase" --version >&2

echo "== firestore launcher jar" >&2
[[ -f "$FIRESTORE_JAR" ]] || { echo "missing $FIRESTORE_JAR (google-cloud-cli-firestore-emulator)" >&2; exit 1; }
if [[ ! -f "$LAUNCHER" ]]; then
  mkdir -p "$HERE/.cache"
  manifest="$(mktemp)"
  printf 'Main-Class: com.google.cloud.datastore.emulator.firestore.CloudFirestore\nClass-Path: file://%s\n' \
    "$FIRESTORE_JAR" > "$manifest"
  (cd "$HERE/.cache" && jar cfm firestore-launcher.jar "$manifest")
  rm -f "$manifest"
fi

echo "== functions_gcp/venv" >&2
VENV="$REPO/functions_gcp/venv"
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$REPO/functions_gcp/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
if [[ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]]; then
  # pip's notes about unreachable local index mirrors are noise here
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REPO/functions_gcp/requirements.txt" 2>&1 \
    | { grep -v '^WARNING: Location' || true; } >&2
  echo "$WANT" > "$STAMP"
fi

echo "== rules test dependencies" >&2
npm_ci "$REPO/tests/rules"

echo "== bundler test dependencies" >&2
npm_ci "$REPO/tests/bundler"

cat <<EOV
export FIRESTORE_EMULATOR_BINARY_PATH=$LAUNCHER
export PUBSUB_EMULATOR_BINARY_PATH=$PUBSUB_BIN
export FIREBASE_TOOLS=$HERE/node_modules/.bin/firebase
EOV
