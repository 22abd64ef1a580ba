// http_post: one blocking HTTP/1.1 POST (http:// or https://) with a
// deadline, for small control-plane calls such as the semantic cache's
// remote embedder (cache::RemoteEmbedder). Each call opens its own
// connection on a private io_context, so it never touches the gateway's I/O
// threads' event loop; it blocks the calling thread for at most timeout_ms.
//
// Errors: a Status naming the URL's host and what failed (resolve, connect,
// TLS, timeout, a non-2xx status with the start of the body); never throws.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tern/status.h"

namespace tern::opt {

struct HttpPostOptions {
  bool verify_tls = true;
  std::string ca_file;       // "": the system store
  size_t max_body_bytes = 64u << 20;
};

// POST `url` (scheme://host[:port]/path) with the headers and body; the
// response body for a 2xx status.
Result<std::string> http_post(const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::string& body, int timeout_ms, const HttpPostOptions& options = {});

}  // namespace tern::opt
