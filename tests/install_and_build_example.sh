#!/bin/sh
# Installs rowjit from a build folder into a temporary prefix, then builds and
# runs examples/engine_c against the installed package twice: with CMake's
# find_package(rowjit) and with pkg-config. This is what an engine that
# embeds rowjit does, so it checks the headers, libraries, CMake package and
# rowjit.pc that `cmake --install` writes.
#
# Usage: install_and_build_example.sh CMAKE BUILD_DIR SOURCE_DIR C_COMPILER [SANITIZERS]
# SANITIZERS is the build's ROWJIT_SANITIZE value: a sanitized library needs
# a program built with the same -fsanitize flags.
set -eu

cmake=$1
build_dir=$2
source_dir=$3
c_compiler=$4
sanitizers=${5:-}

work=$(mktemp -d "${TMPDIR:-/tmp}/rowjit_install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

flags=""
if [ -n "$sanitizers" ]; then
  flags="-fsanitize=$sanitizers -fno-omit-frame-pointer"
fi

echo "== cmake --install $build_dir --prefix $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix" > "$work/install.log"

echo "== build examples/engine_c with find_package(rowjit)"
"$cmake" -S "$source_dir/examples/engine_c" -B "$work/engine_cmake" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$c_compiler" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" > "$work/configure.log"
"$cmake" --build "$work/engine_cmake" > "$work/build.log"
"$work/engine_cmake/engine_c" "$source_dir/examples"

echo "== build examples/engine_c with pkg-config"
pc_file=$(find "$prefix" -name rowjit.pc)
if [ -z "$pc_file" ]; then
  echo "rowjit.pc is missing from $prefix" >&2
  exit 1
fi
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc_file")
libdir=$(pkg-config --variable=libdir rowjit)
# shellcheck disable=SC2046  # pkg-config prints several flags, split on purpose
"$c_compiler" -std=c99 -Wall -Wextra -Werror $flags $(pkg-config --cflags rowjit) \
  "$source_dir/examples/engine_c/engine.c" -o "$work/engine_pkg_config" \
  $(pkg-config --libs rowjit) -lpthread -lm -Wl,-rpath,"$libdir"
"$work/engine_pkg_config" "$source_dir/examples"
echo "== installed package works with CMake and pkg-config"
