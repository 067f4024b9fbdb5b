#!/usr/bin/env bash
# The layering is enforced by the node layer's include path: compiled with it, a node file
# that includes a service header fails (the header is not found), while the node's own
# headers compile. Usage: check.sh <c++ compiler> <source dir> <node-layer include dir>
set -u
cxx=$1 src=$2 layer=$3
flags=(-std=c++20 -fsyntax-only -I "$src/include" -I "$layer")
if ! out=$("$cxx" "${flags[@]}" "$src/tests/layering/node_includes_node.cpp" 2>&1); then
  echo "layering: the control (node headers on the node layer's path) does not compile:"
  echo "$out"
  exit 1
fi
if out=$("$cxx" "${flags[@]}" "$src/tests/layering/node_includes_service.cpp" 2>&1); then
  echo "layering: a node file including services/processes.hpp compiled: the node layer's"
  echo "include path reaches the services"
  exit 1
fi
if ! grep -qE "services/processes.hpp(: No such file|.* file not found)" <<<"$out"; then
  echo "layering: the service include failed for another reason:"
  echo "$out"
  exit 1
fi
echo "layering: ok (the node layer cannot include a service header)"
