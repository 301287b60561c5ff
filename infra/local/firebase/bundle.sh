#!/usr/bin/env bash
# Copy the local package shared/ (and the Personalize schemas it reads) into functions_gcp/,
# because Firebase uploads (and the emulator runs) only the functions source folder.
# Idempotent; `make bundle` calls this. The copy is git-ignored.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
DEST="$REPO/functions_gcp/shared"
TMP="$(mktemp -d "$REPO/functions_gcp/.shared.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
cp -R "$REPO/shared/." "$TMP/"
find "$TMP" -name '__pycache__' -type d -prune -exec rm -rf {} +
rm -rf "$TMP/schemas" && mkdir -p "$TMP/schemas"
cp "$REPO"/infra/personalize/schemas/*.avsc "$TMP/schemas/"
rm -rf "$DEST" && mv "$TMP" "$DEST"
echo "bundled shared/ into $DEST" >&2
