// The route table: method and path → handler, with the checks every route
// shares: authentication (Bearer key, compared in constant time, on /v1/*),
// 404 for unknown paths, 405 for known paths with the wrong method, and the
// exception boundary (no exception leaves a handler; the client gets 500).
#pragma once

#include <string>

#include "handlers/context.h"
#include "http/exchange.h"

namespace tern::server {

Handler make_router(ServerContext& ctx);

// Equal strings → true, in time that depends only on the lengths.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace tern::server
