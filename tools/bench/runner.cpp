#include "bench/runner.h"

#include <utility>  // before asio: its awaitable.hpp uses std::exchange

#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <random>

#include "bench/response.h"

namespace tern::bench {

namespace asio = boost::asio;
using nlohmann::json;

std::string LoadPoint::label() const {
  char b[64];
  if (mode == kClosed) std::snprintf(b, sizeof b, "c=%d", concurrency);
  else std::snprintf(b, sizeof b, "rate=%g/s", rate);
  return b;
}

std::string LoadPoint::mode_name() const {
  return mode == kClosed ? "closed" : mode == kPoisson ? "poisson" : "constant";
}

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// One phase (warm-up or measured) of a point.
class Phase {
 public:
  Phase(asio::io_context& io, ConnectionPool& pool, const RunOptions& o, Workload& w, const LoadPoint& p,
        int limit, double duration_s, bool measured, std::mt19937_64& rng)
      : io_(io), pool_(pool), o_(o), w_(w), p_(p), limit_(limit), duration_s_(duration_s),
        measured_(measured), rng_(rng) {
    headers_.emplace_back("Accept", o.body.stream ? "text/event-stream" : "application/json");
    if (!o.api_key.empty()) headers_.emplace_back("Authorization", "Bearer " + o.api_key);
  }

  void run() {
    start_ = Clock::now();
    if (p_.mode == LoadPoint::kClosed) {
      for (int i = 0; i < p_.concurrency; ++i) spawn([this]() -> asio::awaitable<void> {
          while (!exhausted()) co_await run_job(w_.next(rng_));
        });
    } else {
      spawn([this]() -> asio::awaitable<void> { co_await arrivals(); });
    }
    bool show = o_.progress && isatty(2);
    if (show) spawn([this]() -> asio::awaitable<void> { co_await progress(); });
    io_.restart();
    io_.run();
    if (show) std::fprintf(stderr, "\r\033[K");
  }

  std::vector<RequestRecord> records;
  Clock::time_point first_send, last_done;
  size_t dropped() const { return dropped_; }

 private:
  template <class F>
  void spawn(F f) {
    ++live_;
    asio::co_spawn(io_, [this, f]() -> asio::awaitable<void> {
      co_await f();
      --live_;
    }, asio::detached);
  }

  bool exhausted() const {
    if (limit_ > 0 && issued_ >= limit_) return true;
    if (duration_s_ > 0 && std::chrono::duration<double>(Clock::now() - start_).count() >= duration_s_) return true;
    return limit_ <= 0 && duration_s_ <= 0;
  }

  asio::awaitable<void> sleep_until(Clock::time_point t) {
    asio::steady_timer timer(io_);
    timer.expires_at(t);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<void> arrivals() {
    std::exponential_distribution<double> gap(p_.rate);
    auto next = Clock::now();
    while (!exhausted()) {
      co_await sleep_until(next);
      if (exhausted()) break;
      if (o_.max_inflight <= 0 || inflight_ < o_.max_inflight) {
        Job job = w_.next(rng_);
        spawn([this, job]() -> asio::awaitable<void> { co_await run_job(job); });
      } else {
        ++dropped_;
      }
      double dt = p_.mode == LoadPoint::kPoisson ? gap(rng_) : 1.0 / p_.rate;
      next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(dt));
    }
  }

  asio::awaitable<void> progress() {
    auto t = Clock::now();
    while (live_ > 1) {
      t += std::chrono::milliseconds(250);
      co_await sleep_until(t);
      double el = std::chrono::duration<double>(Clock::now() - start_).count();
      size_t ok = 0, tok = 0;
      for (const auto& r : records)
        if (r.ok()) ++ok, tok += static_cast<size_t>(r.output_tokens);
      std::fprintf(stderr, "\r\033[K  %s %-12s %5zu done (%zu err) %3d in flight  %7.2f req/s %8.1f tok/s  %6.1f s",
                   measured_ ? "bench  " : "warm-up", p_.label().c_str(), records.size(), records.size() - ok,
                   inflight_, el > 0 ? static_cast<double>(ok) / el : 0.0, el > 0 ? static_cast<double>(tok) / el : 0.0, el);
      std::fflush(stderr);
    }
  }

  // Sends one request; returns its record and the generated text.
  asio::awaitable<RequestRecord> request(const std::string& body, std::string* text) {
    ++inflight_;
    auto sent = Clock::now();
    if (!sent_any_) first_send = sent, sent_any_ = true;
    ResponseReader reader(o_.body.stream, sent);
    HttpResult http = co_await pool_.post(o_.target, body, headers_, o_.timeout_s,
                                          [&](std::string_view b, Clock::time_point t) { reader.on_data(b, t); });
    auto end = Clock::now();
    RequestRecord rec;
    reader.finish(http, end, &rec);
    rec.start_s = std::chrono::duration<double>(sent - start_).count();
    if (text) *text = reader.text();
    last_done = end;
    --inflight_;
    co_return rec;
  }

  asio::awaitable<void> run_job(Job job) {
    if (!job.session) {
      if (exhausted()) co_return;
      ++issued_;
      records.push_back(co_await request(build_body(o_.body, job.prompt, json()), nullptr));
      co_return;
    }
    const Session& s = *job.session;
    Prompt p;
    p.messages = json::array();
    if (!s.system.empty()) p.messages.push_back({{"role", "system"}, {"content", s.system}});
    for (const Turn& t : s.turns) {
      if (t.delay_ms > 0)
        co_await sleep_until(Clock::now() + std::chrono::microseconds(static_cast<int64_t>(t.delay_ms * 1000)));
      if (exhausted()) co_return;
      ++issued_;
      append_turn_input(t, &p.messages);
      p.max_tokens = t.output_tokens;
      std::string text;
      RequestRecord rec = co_await request(build_body(o_.body, p, s.tools), &text);
      bool ok = rec.ok();
      records.push_back(std::move(rec));
      if (!ok) co_return;  // the conversation cannot go on
      p.messages.push_back(assistant_message(t, text));
    }
  }

  asio::io_context& io_;
  ConnectionPool& pool_;
  const RunOptions& o_;
  Workload& w_;
  const LoadPoint& p_;
  int limit_;
  double duration_s_;
  bool measured_;
  std::mt19937_64& rng_;
  std::vector<std::pair<std::string, std::string>> headers_;
  Clock::time_point start_;
  int issued_ = 0, inflight_ = 0, live_ = 0;
  size_t dropped_ = 0;
  bool sent_any_ = false;
};

}  // namespace

PointRun run_point(const RunOptions& o, Workload& w, const LoadPoint& p) {
  asio::io_context io(1);
  std::string err;
  auto eps = resolve(io, o.url, &err);
  PointRun out;
  if (eps.empty()) {
    RequestRecord r;
    r.error = "resolve";
    out.records.push_back(r);
    return out;
  }
  ConnectionPool pool(io, eps, o.url.host + ":" + o.url.port);
  std::mt19937_64 rng(o.seed);
  if (o.warmup > 0) {
    Phase warm(io, pool, o, w, p, o.warmup, 0, false, rng);
    warm.run();
  }
  double cpu0 = cpu_seconds();
  Phase phase(io, pool, o, w, p, o.requests, o.duration_s, true, rng);
  phase.run();
  out.cpu_s = cpu_seconds() - cpu0;
  out.records = std::move(phase.records);
  if (!out.records.empty())
    out.duration_s = std::chrono::duration<double>(phase.last_done - phase.first_send).count();
  out.connections = pool.opened();
  out.dropped = phase.dropped();
  return out;
}

}  // namespace tern::bench
