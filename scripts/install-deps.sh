#!/usr/bin/env bash
# Installs everything rowjit needs to build, test and benchmark, from Debian 12
# packages only. Run as root, or as a user with sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config python3
  libxbyak-dev libzydis-dev libfmt-dev
  libgtest-dev libbenchmark-dev
  libdnnl-dev libxnnpack-dev libpthreadpool-dev
  ocl-icd-opencl-dev
)

if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${packages[@]}"
