// The control: the same node-layer include path compiles the node's own headers.
#include "node/core.hpp"
#include "node/service.hpp"
