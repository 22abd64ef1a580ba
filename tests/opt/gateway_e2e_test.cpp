// The gateway end to end: a real upstream (`tern serve` on stories260K.gguf),
// a real redis-server on loopback and two gateway instances (`tern serve
// --config`) sharing it. Cache hits across instances, invalidation, budget
// exhaustion (402), cascade escalation, upstream failure with fallback,
// streaming, and 200 concurrent requests against a small budget that never
// overspend it. Skipped when the model or redis-server is absent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "test_assets.h"
#include "test_ports.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

using tern::test::can_connect;
using tern::test::free_port;

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Reply {
  int status = 0;
  std::string body;
  std::string cache;  // x-tern-cache
  json j() const { return json::parse(body, nullptr, false); }
};

Reply request(int port, http::verb verb, const std::string& target, const std::string& body,
              const std::string& bearer = "") {
  Reply out;
  try {
    net::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
    req.body() = body;
    req.prepare_payload();
    http::write(s, req);
    boost::beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    out.status = res.result_int();
    out.body = res.body();
    out.cache = std::string(res["x-tern-cache"]);
  } catch (const std::exception& e) {
    out.body = e.what();
  }
  return out;
}

Reply post(int port, const std::string& path, const json& body, const std::string& bearer = "") {
  return request(port, http::verb::post, path, body.dump(), bearer);
}

pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // nothing outlives the test
    freopen(log.c_str(), "w", stderr);
    freopen(log.c_str(), "a", stdout);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

void stop(pid_t& pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  pid = -1;
}

bool have_redis() { return std::system("command -v redis-server > /dev/null 2>&1") == 0; }

json chat(const std::string& model, const std::string& user, json extra = json::object()) {
  json b = {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", user}}})}, {"max_tokens", 6}};
  for (auto& [k, v] : extra.items()) b[k] = v;
  return b;
}

class GatewayE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = tern::test::asset("models/stories260K.gguf");
    if (!fs::exists(model_) || !have_redis()) return;
    dir_ = fs::temp_directory_path() / ("tern_gateway_e2e_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    redis_port_ = free_port();
    redis_ = spawn({"redis-server", "--port", std::to_string(redis_port_), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no"},
                   dir_ / "redis.log");
    up_port_ = free_port();
    upstream_ = spawn({TERN_BIN, "serve", "-m", model_, "--alias", "up", "--port", std::to_string(up_port_),
                       "--threads", "1", "--log-requests", "false"},
                      dir_ / "upstream.log");
    refused_ = std::make_unique<tern::test::RefusedPort>();  // the failing upstream
    int dead_port = refused_->port();
    std::string up = "http://127.0.0.1:" + std::to_string(up_port_) + "/v1";
    std::ofstream cfg(dir_ / "gw.yaml");
    cfg << "http-threads: 2\nlog-requests: false\n"
        << "models:\n"
        << "  small: {url: '" << up << "', model: up, price: {input: 1, output: 2}}\n"
        << "  big: {url: '" << up << "', model: up, price: {input: 10, output: 20}}\n"
        << "  broken: {url: 'http://127.0.0.1:" << dead_port << "/v1', retries: 1, backoff: {initial: 0.01}}\n"
        << "routes:\n"
        << "  auto: {use: [small, big], escalate: {json: true}}\n"   // stories never writes JSON
        << "  safe: {use: broken, fallbacks: [small]}\n"
        << "teams:\n  lab: {budget: 100}\n"
        << "keys:\n"
        << "  alice: {secret: sk-alice, team: lab}\n"
        << "  poor: {secret: sk-poor, budget: '0.0005'}\n"
        << "  tight: {secret: sk-tight, budget: '0.002'}\n"
        << "admin_key: sk-admin\n"
        << "store: {kind: redis, host: 127.0.0.1, port: " << redis_port_ << ", prefix: 'e2e:'}\n";
    cfg.close();
    for (int i = 0; i < 200 && !(can_connect(redis_port_) && can_connect(up_port_)); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (int i = 0; i < 2; ++i) {
      gw_port_[i] = free_port();
      gw_[i] = spawn({TERN_BIN, "serve", "--config", (dir_ / "gw.yaml").string(), "--port", std::to_string(gw_port_[i])},
                     dir_ / ("gw" + std::to_string(i) + ".log"));
    }
    for (int i = 0; i < 200 && !(can_connect(gw_port_[0]) && can_connect(gw_port_[1])); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  static void TearDownTestSuite() {
    for (auto& p : gw_) stop(p);
    stop(upstream_);
    stop(redis_);
    refused_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    TERN_REQUIRE_ASSET("models/stories260K.gguf");
    if (!have_redis()) GTEST_SKIP() << "redis-server not installed (scripts/install-deps.sh)";
    ASSERT_TRUE(can_connect(redis_port_)) << slurp(dir_ / "redis.log");
    ASSERT_TRUE(can_connect(up_port_)) << slurp(dir_ / "upstream.log");
    for (int i = 0; i < 2; ++i)
      ASSERT_TRUE(can_connect(gw_port_[i])) << slurp(dir_ / ("gw" + std::to_string(i) + ".log"));
  }
  static std::string metrics(int i) { return request(gw_port_[i], http::verb::get, "/metrics", "").body; }

  static inline std::string model_;
  static inline fs::path dir_;
  static inline int redis_port_ = 0, up_port_ = 0;
  static inline int gw_port_[2] = {0, 0};
  static inline pid_t redis_ = -1, upstream_ = -1;
  static inline std::unique_ptr<tern::test::RefusedPort> refused_;
  static inline pid_t gw_[2] = {-1, -1};
};

TEST_F(GatewayE2E, CacheHitAcrossInstancesThenInvalidation) {
  json body = chat("small", "Once upon a time there was a cat", {{"temperature", 0}});
  Reply a = post(gw_port_[0], "/v1/chat/completions", body, "sk-alice");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.cache, "miss");
  EXPECT_EQ(a.j()["usage"]["tern_cache"], "miss");
  Reply b = post(gw_port_[1], "/v1/chat/completions", body, "sk-alice");
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(b.cache, "hit");
  EXPECT_EQ(b.j()["usage"]["tern_cache"], "hit");
  EXPECT_EQ(b.j()["choices"][0]["message"]["content"], a.j()["choices"][0]["message"]["content"]);

  Reply denied = post(gw_port_[1], "/admin/cache/invalidate", {{"prefix", "team-lab/"}}, "sk-alice");
  EXPECT_EQ(denied.status, 401);
  Reply inv = post(gw_port_[1], "/admin/cache/invalidate", {{"prefix", "team-lab/"}}, "sk-admin");
  ASSERT_EQ(inv.status, 200) << inv.body;
  EXPECT_GE(inv.j()["removed"].get<int>(), 1);
  Reply c = post(gw_port_[0], "/v1/chat/completions", body, "sk-alice");
  EXPECT_EQ(c.cache, "miss");
  EXPECT_NE(metrics(1).find("tern_gateway_cache_total{result=\"exact\"} 1"), std::string::npos) << metrics(1);
}

TEST_F(GatewayE2E, StreamedPassThrough) {
  Reply r = post(gw_port_[0], "/v1/chat/completions",
                 chat("small", "Lily went", {{"stream", true}, {"ignore_eos", true}, {"stream_options", {{"include_usage", true}}}}),
                 "sk-alice");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.cache, "miss");  // not cacheable (no temperature 0 or seed): a miss
  EXPECT_NE(r.body.find("chat.completion.chunk"), std::string::npos);
  EXPECT_NE(r.body.find("\"completion_tokens\":6"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.substr(r.body.size() - 14), "data: [DONE]\n\n");
}

TEST_F(GatewayE2E, BudgetExhaustionAnswers402) {
  int ok = 0, refused = 0;
  for (int i = 0; i < 20 && refused == 0; ++i) {
    Reply r = post(gw_port_[i % 2], "/v1/chat/completions", chat("small", "Tom had a ball " + std::to_string(i)), "sk-poor");
    if (r.status == 200) ++ok;
    else {
      EXPECT_EQ(r.status, 402) << r.body;
      EXPECT_EQ(r.j()["error"]["type"], "insufficient_quota") << r.body;
      ++refused;
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_EQ(refused, 1);
  Reply u = request(gw_port_[0], http::verb::get, "/v1/usage", "", "sk-poor");
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_LE(u.j()["data"][0]["cost_usd"].get<double>(), 0.0005 + 1e-12);
  EXPECT_EQ(post(gw_port_[0], "/v1/chat/completions", chat("small", "x"), "sk-wrong").status, 401);
}

TEST_F(GatewayE2E, CascadeEscalatesWhenTheSmallModelFailsValidation) {
  Reply r = post(gw_port_[1], "/v1/chat/completions", chat("auto", "Give me JSON", {{"temperature", 0}}), "sk-alice");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j()["model"], "big");
  EXPECT_NE(metrics(1).find("tern_gateway_escalations_total{route=\"auto\",reason=\"invalid_json\"} 1"),
            std::string::npos)
      << metrics(1);
}

TEST_F(GatewayE2E, UpstreamFailureFallsBack) {
  Reply r = post(gw_port_[0], "/v1/chat/completions", chat("safe", "Hello"), "sk-alice");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j()["model"], "small");
  EXPECT_NE(metrics(0).find("tern_gateway_fallbacks_total 1"), std::string::npos) << metrics(0);
  Reply direct = post(gw_port_[0], "/v1/chat/completions", chat("broken", "Hello"), "sk-alice");
  EXPECT_EQ(direct.status, 502) << direct.body;
  EXPECT_NE(direct.body.find("cannot connect"), std::string::npos) << direct.body;
}

TEST_F(GatewayE2E, ConcurrentRequestsNeverExceedTheBudget) {
  constexpr int kRequests = 200;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, refused{0}, other{0};
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([i, &ok, &refused, &other] {
      Reply r = post(gw_port_[i % 2], "/v1/chat/completions", chat("small", "Sam saw a dog " + std::to_string(i)), "sk-tight");
      if (r.status == 200) ++ok;
      else if (r.status == 402) ++refused;
      else ++other;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(refused.load(), 0);
  Reply u = request(gw_port_[1], http::verb::get, "/v1/usage?key=tight", "", "sk-admin");
  ASSERT_EQ(u.status, 200) << u.body;
  json row = u.j()["data"][0];
  EXPECT_LE(row["cost_usd"].get<double>(), 0.002 + 1e-12) << row.dump();
  EXPECT_EQ(row["requests"].get<int>(), kRequests) << row.dump();
  EXPECT_EQ(row["errors"].get<int>(), refused.load()) << row.dump();
}

// cache.embedder kind remote: a gateway whose semantic cache embeds through
// the upstream's /v1/embeddings answers a reworded repeat from the cache; one
// whose embedder cannot be reached still answers (a miss, never an error).
TEST_F(GatewayE2E, SemanticCacheWithRemoteEmbedder) {
  tern::test::RefusedPort dead;
  const std::string up = "http://127.0.0.1:" + std::to_string(up_port_) + "/v1";
  int port[2] = {0, 0};
  pid_t pid[2] = {-1, -1};
  for (int i = 0; i < 2; ++i) {
    const std::string embed_url = i == 0 ? up : "http://127.0.0.1:" + std::to_string(dead.port()) + "/v1";
    const fs::path cfg_path = dir_ / ("sem" + std::to_string(i) + ".yaml");
    std::ofstream cfg(cfg_path);
    cfg << "http-threads: 2\nlog-requests: false\n"
        << "models:\n  small: {url: '" << up << "', model: up}\n"
        << "routes:\n  ask: {use: small, cache: {semantic: true}}\n"  // semantic caching is per route
        << "store: {kind: memory}\n"
        << "cache:\n  semantic: {enabled: true, threshold: 0.95}\n"
        << "  embedder: {kind: remote, url: '" << embed_url << "', model: up}\n";
    cfg.close();
    port[i] = free_port();
    pid[i] = spawn({TERN_BIN, "serve", "--config", cfg_path.string(), "--port", std::to_string(port[i])},
                   dir_ / ("sem" + std::to_string(i) + ".log"));
  }
  for (int i = 0; i < 200 && !(can_connect(port[0]) && can_connect(port[1])); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(can_connect(port[0])) << slurp(dir_ / "sem0.log");
  ASSERT_TRUE(can_connect(port[1])) << slurp(dir_ / "sem1.log");
  const json first = chat("ask", "Once upon a time there was a little red ball", {{"temperature", 0}});
  const json again = chat("ask", "Once upon a time, there was a little red ball.", {{"temperature", 0}});
  Reply a = post(port[0], "/v1/chat/completions", first);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.cache, "miss");
  Reply b = post(port[0], "/v1/chat/completions", again);
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(b.cache, "semantic") << slurp(dir_ / "sem0.log");
  EXPECT_EQ(b.j()["choices"][0]["message"]["content"], a.j()["choices"][0]["message"]["content"]);
  for (int n = 0; n < 2; ++n) {  // unreachable embedder: both are misses that the model answers
    Reply c = post(port[1], "/v1/chat/completions", n == 0 ? first : again);
    ASSERT_EQ(c.status, 200) << c.body;
    EXPECT_EQ(c.cache, "miss");
  }
  for (auto& p : pid) stop(p);
}

// Logprobs the client asks for pass through the gateway unchanged: the same
// greedy request answered directly by the upstream and through a gateway
// carries the same logprobs, streamed (deltas concatenated) and not.
TEST_F(GatewayE2E, ClientLogprobsPassThrough) {
  json body = chat("small", "Lily and Ben went to the park", {{"temperature", 0}, {"logprobs", true}, {"top_logprobs", 2}});
  json direct_body = body;
  direct_body["model"] = "up";
  Reply direct = post(up_port_, "/v1/chat/completions", direct_body);
  ASSERT_EQ(direct.status, 200) << direct.body;
  const json want = direct.j()["choices"][0]["logprobs"];
  ASSERT_EQ(want["content"].size(), 6u) << direct.body;
  Reply gw = post(gw_port_[0], "/v1/chat/completions", body, "sk-alice");
  ASSERT_EQ(gw.status, 200) << gw.body;
  EXPECT_EQ(gw.j()["choices"][0]["logprobs"], want);
  json streamed = body;
  streamed["stream"] = true;
  streamed["seed"] = 7;  // another cache key than the request above
  Reply s = post(gw_port_[1], "/v1/chat/completions", streamed, "sk-alice");
  ASSERT_EQ(s.status, 200) << s.body;
  json content = json::array();
  std::istringstream lines(s.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("data: {", 0) != 0) continue;
    json c = json::parse(line.substr(6));
    if (c["choices"].empty() || c["choices"][0]["logprobs"].is_null()) continue;
    for (const auto& t : c["choices"][0]["logprobs"]["content"]) content.push_back(t);
  }
  EXPECT_EQ(content, want["content"]) << s.body;
  // Not asked for: none.
  Reply plain = post(gw_port_[0], "/v1/chat/completions", chat("small", "Lily and Ben went to the park"), "sk-alice");
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_TRUE(plain.j()["choices"][0]["logprobs"].is_null());
}

}  // namespace
