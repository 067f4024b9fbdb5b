// Must not compile in the node layer: a node file that includes a service header.
#include "node/core.hpp"
#include "services/processes.hpp"
