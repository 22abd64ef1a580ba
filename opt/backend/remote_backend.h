// RemoteBackend: an OpenAI-compatible upstream (vLLM, TGI, llama.cpp,
// OpenAI, another tern serve) over HTTP/1.1 or HTTPS, on Boost.Beast.
//
// Requests are asynchronous on the io_context given at creation (the
// gateway's I/O threads). Streamed responses are parsed as SSE and passed
// on delta by delta; idle keep-alive connections are pooled and reused.
//
// Timeouts: connect (TCP + TLS handshake), first byte (request sent →
// response header) and total (whole request). Retries: connection errors,
// HTTP 5xx and 429 are retried with exponential backoff and full jitter,
// always before anything was delivered to the caller; a first-byte or total
// timeout is not retried (the upstream may still be working on it), so the
// gateway falls back to the next backend instead.
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"

namespace boost::asio {
class io_context;
}

namespace tern::opt {

struct RemoteOptions {
  std::string name;
  std::string base_url;        // "http://127.0.0.1:8080/v1", "https://api.openai.com/v1"
  std::string api_key;         // sent as "Authorization: Bearer"; "" for none
  std::string model;           // upstream model id; "" keeps the client's
  double connect_timeout_s = 5;
  double first_byte_timeout_s = 60;
  double total_timeout_s = 600;
  int max_retries = 2;         // extra attempts after the first
  double backoff_initial_s = 0.1;
  double backoff_max_s = 2;
  int max_idle_connections = 64;
  bool verify_tls = true;
  std::string ca_file;         // "" : the system store
};

// Parsed base URL.
struct UrlParts {
  bool tls = false;
  std::string host;
  std::string port;
  std::string prefix;  // path without the trailing slash: "/v1"
};
Result<UrlParts> parse_base_url(const std::string& url);

struct RemoteStats {
  int64_t requests = 0;
  int64_t retries = 0;
  int64_t failures = 0;
  int64_t connections_opened = 0;
};

class RemoteBackend : public Backend {
 public:
  static Result<std::unique_ptr<RemoteBackend>> create(boost::asio::io_context& io, RemoteOptions options);
  ~RemoteBackend() override;

  const std::string& name() const override;
  uint64_t start(BackendRequest request, EventFn on_event) override;
  void cancel(uint64_t handle) override;
  RemoteStats stats() const;

  struct Shared;

 private:
  explicit RemoteBackend(std::shared_ptr<Shared> shared);
  std::shared_ptr<Shared> shared_;
};

}  // namespace tern::opt
