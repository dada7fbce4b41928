#!/usr/bin/env bash
# Compiles the XDP programs in bpf/ to BPF objects in .build-bpf/ (git-ignored), where
# XdpUdpReceiver looks for them by default (override: TICKWIRE_XDP_OBJECT). Rebuilds only
# what changed. Any clang with the BPF target works: Swift's (on PATH in CI) or Debian's.
# Both need the multiarch include dir for <asm/types.h>; <bpf/bpf_helpers.h> is libbpf-dev's.
#   scripts/build-bpf.sh            prints the object paths
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG=${BPF_CLANG:-clang}
OUT=.build-bpf
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
mkdir -p "$OUT"
for source in bpf/*.c; do
  object=$OUT/$(basename "${source%.c}").o
  if [ ! -e "$object" ] || [ "$source" -nt "$object" ]; then
    "$CLANG" -O2 -g -Wall -Werror -target bpf -I"/usr/include/$multiarch" -c "$source" -o "$object.tmp"
    mv "$object.tmp" "$object"
  fi
  echo "$object"
done
