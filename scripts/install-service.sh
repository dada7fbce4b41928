#!/usr/bin/env bash
# Installs Tickwire as a systemd service: the system user `tickwire`, the binary in
# /usr/local/bin, the configuration in /etc/tickwire (existing files are kept: they are the
# operator's), the unit in /etc/systemd/system, then `systemctl daemon-reload`.
# Idempotent: a second run only replaces the binary and the unit.
#
#   scripts/install-service.sh [--dry-run] [BINARY]     (default BINARY: .build/release/tickwire)
#
# --dry-run prints each step instead of doing it (no root needed).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
user=tickwire
binary_target=/usr/local/bin/tickwire
config_dir=/etc/tickwire
unit_target=/etc/systemd/system/tickwire.service

dry_run=0
binary=""
for argument in "$@"; do
  case "$argument" in
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "install-service: unknown option $argument (expected --dry-run or a binary path)" >&2; exit 2 ;;
    *) [ -z "$binary" ] || { echo "install-service: one binary path, got '$binary' and '$argument'" >&2; exit 2; }
       binary=$argument ;;
  esac
done
binary=${binary:-$repo/.build/release/tickwire}

# Prints the command in dry-run mode, runs it otherwise.
step() {
  if [ "$dry_run" = 1 ]; then printf 'would run: %s\n' "$*"; else "$@"; fi
}

if [ ! -x "$binary" ]; then
  echo "install-service: no executable at $binary (build it: scripts/build-release.sh or swift build -c release)" >&2
  exit 1
fi
if [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
  echo "install-service: needs root (creates a system user, writes /etc and /usr/local); try --dry-run" >&2
  exit 1
fi

if getent passwd "$user" >/dev/null; then
  echo "user $user exists"
else
  step useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$user"
fi

step install -D -m 0755 "$binary" "$binary_target"

# Root owns the configuration; the service user may read it, not change it.
step install -d -m 0750 -o root -g "$user" "$config_dir"
for file in "$repo"/config/*.toml; do
  target=$config_dir/$(basename "$file")
  if [ -e "$target" ]; then
    echo "keeping existing $target"
  else
    step install -m 0640 -o root -g "$user" "$file" "$target"
  fi
done
[ -e "$config_dir/main.toml" ] || [ -e "$repo/config/main.toml" ] ||
  echo "note: write $config_dir/main.toml (venues, channels, cores; see README.md) before starting"

step install -D -m 0644 "$repo/scripts/systemd/tickwire.service" "$unit_target"

# Without systemd as PID 1 (containers, chroots) there is no manager to reload.
if [ -d /run/systemd/system ]; then
  step systemctl daemon-reload
else
  echo "systemd is not running here: skipped systemctl daemon-reload"
fi

echo "next: systemctl enable --now tickwire; journalctl -u tickwire -f"
