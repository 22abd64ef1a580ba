// HttpServer: an asynchronous HTTP/1.1 server (Boost.Beast) that hands each
// request to one Handler. It owns the I/O threads and nothing else: routing,
// authentication and the OpenAI API live above it (server/handlers/).
//
// Connections are keep-alive; each runs on its own strand, so a handler and
// the functions it posts never run concurrently for one connection. While a
// request is being answered the connection keeps reading, so that a peer
// that goes away is noticed at once and the Exchange's on_close callbacks
// fire (the handler cancels its engine work there).
//
// Limits: bodies over max_body_bytes get 413 before the body is read;
// malformed requests get 400; both close the connection. Idle keep-alive
// connections close after idle_timeout_s.
//
// Shutdown: request_stop() (or SIGINT/SIGTERM while run() is blocking) stops
// accepting, closes idle connections, lets in-flight responses finish for up
// to drain_timeout_s, then stops the I/O threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "http/exchange.h"
#include "tern/status.h"

namespace tern::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0: any free port (see on_listening)
  int64_t max_body_bytes = 8 << 20;
  int threads = 2;
  int idle_timeout_s = 60;
  int drain_timeout_s = 30;
  bool handle_signals = true;      // run() returns on SIGINT/SIGTERM
  bool log_requests = true;        // one JSON line per request on stderr
  // Body of the errors this layer answers itself (400 malformed, 413, 431,
  // 500 from a handler that threw). Default: OpenAI-shaped JSON.
  std::function<HttpResponse(int status, const std::string& message)> error_response;
  // Called once per request with its final status (499: the peer went away).
  std::function<void(int status)> on_response;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens, calls on_listening(port) and serves until stopped.
  // Returns an error if the address cannot be bound.
  Status run(const std::function<void(int port)>& on_listening = {});
  // Thread-safe; run() returns after the drain. Destroy whatever still calls
  // Exchange::post() (the engine) after run() returns and before the server.
  void request_stop();
  // True after a stop was requested: handlers answer 503 to new work.
  bool draining() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::server
