#!/usr/bin/env bash
# `npm run test:setup`: installs what the test suite needs on a fresh machine of this kind, and is
# quick when everything is there already. System packages through apt-get (sudo when not root);
# the Temporal CLI, the PostgreSQL 9.6 binaries and the Kubernetes test binaries into the project's
# cache (see README, "Tests").
set -euo pipefail
cd "$(dirname "$0")/../.."

packages=(postgresql-15 postgresql-client-15 podman runc uidmap fuse-overlayfs slapd ldap-utils chromium etcd-server openssl unzip xz-utils maven)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "test:setup: installing system packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  # Debian starts system slapd and etcd on install; the tests run their own on loopback.
  for service in slapd etcd; do
    "${sudo[@]}" systemctl stop "$service" 2>/dev/null || "${sudo[@]}" service "$service" stop 2>/dev/null || true
  done
fi

# The Temporal CLI and PostgreSQL 9.6 (each fetched once, saying so), the same way the demo gets them.
node --import tsx test/setup/fetch-binaries.ts

# kube-apiserver, kube-controller-manager, kube-scheduler and kwok, built once per machine.
bash test/support/kube/build.sh

# The Kaapana admin the cluster tests run deploy_platform.sh as (it refuses root).
if ! id -u kaapana-test >/dev/null 2>&1; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "test:setup: creating the OS user kaapana-test (the cluster tests run deploy_platform.sh as it)"
  "${sudo[@]}" useradd --create-home --shell /bin/bash kaapana-test
fi
