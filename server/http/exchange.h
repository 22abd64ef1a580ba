// Exchange: the response side of one HTTP request, as handlers see it.
//
// The HTTP layer (http_server.cpp) creates one Exchange per request and
// calls the route's handler on the connection's strand. A handler answers
// with respond(), or streams with begin_stream() / write() / end_stream(),
// at once or later. Work done on other threads (engine callbacks) must come
// back through post(), which runs it on the connection's strand.
//
// Thread safety: post() may be called from any thread. Everything else must
// be called on the strand (inside the handler or a posted function).
//
// Disconnects: when the peer goes away before the response is complete the
// on_close() callbacks run (once, on the strand) and later writes are
// dropped. The Exchange (and its connection) stays alive while anyone holds
// the shared_ptr, so holders must let go when their work ends.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tern::server {

struct HttpRequest {
  std::string method;                         // "GET", "POST", ...
  std::string target;                         // path and query as sent
  std::string path;                           // target without the query
  std::map<std::string, std::string> headers; // field names lower-cased
  std::string body;

  // The header's value, or "" when absent. name must be lower case.
  const std::string& header(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields
};

class Exchange {
 public:
  virtual ~Exchange() = default;

  // Runs fn on this connection's strand (from any thread). fn runs even when
  // the peer has gone, so that owners of engine requests can finish.
  virtual void post(std::function<void()> fn) = 0;

  // A complete response. Ignored after the first respond()/begin_stream().
  virtual void respond(HttpResponse response) = 0;
  // A chunked response whose body follows through write(); for SSE pass
  // content_type "text/event-stream".
  // `headers`: extra fields (e.g. x-tern-cache from the gateway).
  virtual void begin_stream(int status, const std::string& content_type,
                            const std::vector<std::pair<std::string, std::string>>& headers) = 0;
  void begin_stream(int status, const std::string& content_type) { begin_stream(status, content_type, {}); }
  virtual void write(std::string data) = 0;
  virtual void end_stream() = 0;

  // True once the peer has gone (or the connection failed).
  virtual bool closed() const = 0;
  // Called once if the peer goes away before the response is complete.
  virtual void on_close(std::function<void()> cb) = 0;

  // A field for this request's log line (one JSON object per request on
  // stderr, written when the response is complete or the peer has gone).
  virtual void log_field(const std::string& key, const std::string& value) = 0;
  virtual void log_field(const std::string& key, double value) = 0;
  // The request's id, unique in this process ("req-42"), for logs.
  virtual const std::string& request_id() const = 0;
};

using Handler = std::function<void(const HttpRequest&, std::shared_ptr<Exchange>)>;

}  // namespace tern::server
