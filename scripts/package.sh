#!/usr/bin/env bash
# scripts/package.sh [BUILD_DIR]: the .deb (`make package`). A release build
# of the binary alone, without the tests' hooks (default build-pkg), then
# cpack -G DEB in it; prints the package's path.
set -euo pipefail
dir=${1:-build-pkg}
# The flags the tests build with (-O2; GCC 12 at -O3 warns falsely in libstdc++).
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DXDPGUARD_TESTS=OFF -DXDPGUARD_BENCH=OFF >/dev/null
cmake --build "$dir" --target xdpguard -j"${JOBS:-2}" >/dev/null
(cd "$dir" && cpack -G DEB >/dev/null)
ls "$dir"/xdpguard_*.deb
