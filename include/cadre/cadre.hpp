#pragma once
/// \file cadre.hpp
/// The whole public API of cadre: `#include <cadre/cadre.hpp>`.

#include "cadre/control.hpp"
#include "cadre/detail/archive.hpp"
#include "cadre/detail/registry.hpp"
#include "cadre/errors.hpp"
#include "cadre/future.hpp"
#include "cadre/hub.hpp"
#include "cadre/ids.hpp"
#include "cadre/nodes.hpp"
#include "cadre/options.hpp"
#include "cadre/process.hpp"
#include "cadre/runtime.hpp"
#include "cadre/tasks.hpp"
