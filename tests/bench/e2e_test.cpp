// `tern bench` against a real `tern serve` on stories260K.gguf: a small
// concurrency sweep, a non-streamed run and an agent-trace replay, checked
// through the JSON report. Skipped when the model asset is absent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "test_assets.h"
#include "test_ports.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

using tern::test::can_connect;
using tern::test::free_port;

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class BenchE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = tern::test::asset("models/stories260K.gguf");
    if (!fs::exists(model_)) return;
    dir_ = fs::temp_directory_path() / ("tern_bench_e2e_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    port_ = free_port();
    std::string port = std::to_string(port_);
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // no orphaned server if ctest kills the test
      std::string log = (dir_ / "serve.log").string();
      freopen(log.c_str(), "w", stderr);
      execl(TERN_BIN, TERN_BIN, "serve", "-m", model_.c_str(), "--port", port.c_str(), "--threads", "1",
            "--log-requests", "false", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200 && !can_connect(port_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  static void TearDownTestSuite() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st = 0;
      waitpid(pid_, &st, 0);
    }
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    TERN_REQUIRE_ASSET("models/stories260K.gguf");
    ASSERT_TRUE(can_connect(port_)) << "tern serve did not start:\n" << slurp(dir_ / "serve.log");
  }

  // Runs `tern bench ARGS --json F` and returns the report.
  json bench(const std::string& args, const std::string& name) {
    fs::path out = dir_ / (name + ".json");
    std::string cmd = std::string(TERN_BIN) + " bench --url http://127.0.0.1:" + std::to_string(port_) + " " + args +
                      " -q --json " + out.string() + " > " + (dir_ / (name + ".out")).string() + " 2>&1";
    int rc = std::system(cmd.c_str());
    EXPECT_EQ(rc, 0) << cmd << "\n" << slurp(dir_ / (name + ".out"));
    return json::parse(slurp(out), nullptr, false);
  }

  static inline std::string model_;
  static inline fs::path dir_;
  static inline int port_ = 0;
  static inline pid_t pid_ = -1;
};

TEST_F(BenchE2E, ConcurrencySweepStreamed) {
  json r = bench("--concurrency 1,3 --requests 6 --warmup 1 --input-len 12 --output-len 8 --temperature 0 "
                 "--slo ttft=30s,tpot=10s --price-in 1 --price-out 2 --csv " + (dir_ / "s.csv").string() +
                 " --svg " + (dir_ / "s").string(), "sweep");
  ASSERT_TRUE(r.is_object());
  ASSERT_EQ(r["points"].size(), 2u);
  for (const json& p : r["points"]) {
    EXPECT_EQ(p["succeeded"], 6) << p.dump(2);
    EXPECT_EQ(p["failed"], 0);
    EXPECT_EQ(p["output_tokens"], 48);  // 6 x 8: max_tokens with ignore_eos
    EXPECT_GT(p["prompt_tokens"].get<int>(), 6 * 12);
    EXPECT_GT(p["ttft_ms"]["p50"].get<double>(), 0);
    EXPECT_GE(p["e2e_ms"]["p99"].get<double>(), p["e2e_ms"]["p50"].get<double>());
    EXPECT_GT(p["tpot_ms"]["mean"].get<double>(), 0);
    EXPECT_EQ(p["itl_ms"]["n"], 6 * 7);
    EXPECT_EQ(p["slo_met"], 6);
    EXPECT_GT(p["request_throughput"].get<double>(), 0);
    EXPECT_GT(p["cost_per_request_usd"].get<double>(), 0);
    EXPECT_EQ(p["e2e_ms_quantiles"].size(), 101u);
  }
  EXPECT_EQ(r["points"][1]["concurrency"], 3);
  EXPECT_NE(slurp(dir_ / "s-throughput.svg").find("<svg"), std::string::npos);
  EXPECT_NE(slurp(dir_ / "s-cdf.svg").find("</svg>"), std::string::npos);
  std::string csv = slurp(dir_ / "s.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);  // header + 2 points
}

TEST_F(BenchE2E, OpenLoopCompletionsNotStreamed) {
  json r = bench("--endpoint completions --no-stream --rate 20 --arrival constant --requests 5 --output-len 4",
                 "open");
  ASSERT_EQ(r["points"].size(), 1u);
  const json& p = r["points"][0];
  EXPECT_EQ(p["mode"], "constant");
  EXPECT_EQ(p["succeeded"], 5) << p.dump(2);
  EXPECT_EQ(p["output_tokens"], 20);
}

TEST_F(BenchE2E, TraceReplay) {
  fs::path trace = dir_ / "trace.jsonl";
  std::string gen = std::string(TERN_BIN) + " bench gen-trace --sessions 3 --min-turns 2 --max-turns 3 --tools 2 "
                    "--system-words 40 --user-words 8 --tool-result-items 1 --tool-call-tokens 4 --answer-tokens 8 -o " +
                    trace.string();
  ASSERT_EQ(std::system(gen.c_str()), 0);
  int turns = 0;
  std::ifstream f(trace);
  for (std::string line; std::getline(f, line);) turns += static_cast<int>(json::parse(line)["turns"].size());
  json r = bench("--trace " + trace.string() + " --concurrency 2 --requests " + std::to_string(turns), "trace");
  ASSERT_EQ(r["points"].size(), 1u);
  const json& p = r["points"][0];
  EXPECT_EQ(p["succeeded"], turns) << p.dump(2);
  EXPECT_EQ(p["failed"], 0);
  // Later turns resend the conversation so far: the prefix cache must see it.
  EXPECT_GT(p["cached_tokens"].get<int>(), 0);
  EXPECT_GT(p["cached_share"].get<double>(), 0.2);
}

TEST_F(BenchE2E, ConnectionRefusedIsAnErrorKind) {
  tern::test::RefusedPort refused;  // nothing listens there while the test runs
  int port = refused.port();
  ASSERT_GT(port, 0);
  fs::path out = dir_ / "refused.json";
  std::string cmd = std::string(TERN_BIN) + " bench -q --url http://127.0.0.1:" + std::to_string(port) +
                    " --requests 2 --json " + out.string() + " > /dev/null 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);  // no request succeeded
  json r = json::parse(slurp(out), nullptr, false);
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["points"][0]["errors"]["connect"], 2);
}

}  // namespace
