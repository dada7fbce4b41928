#!/usr/bin/env bash
# The test command: sets up a fresh Debian 12 machine (packages) and runs every test:
# the hot-path malloc gate, the SPSC ring under ThreadSanitizer, and the Swift test suites.
set -euo pipefail
cd "$(dirname "$0")/.."

# Root-only tests (hugetlb sysctls, mlock, AF_XDP) skip without root; CI must never skip them.
if [ -n "${CI:-}" ] && [ "$(id -u)" != 0 ]; then
  echo "test.sh: CI must run as root so that no root-only test is skipped" >&2
  exit 1
fi

scripts/setup-host.sh
scripts/build-bpf.sh >/dev/null   # the XDP receive program the AF_XDP tests load

echo "== hot-path malloc gate (package-benchmark)"
scripts/check-mallocs.sh

echo "== SPSC ring under ThreadSanitizer"
swift test --sanitize=thread --scratch-path .build-tsan --filter SpscRing

echo "== libFuzzer smoke run (every parser, ~10 s each)"
scripts/fuzz.sh --smoke

echo "== swift test"
# The release binary lets the hot-path allocation test count mallocs in the build users run.
swift build -c release --product tickwire
swift build --build-tests
swift test --skip-build
