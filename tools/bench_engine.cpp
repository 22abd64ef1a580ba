// tern bench-engine — performance of the engine itself, no HTTP.
//
// Three modes:
//   kernel (default)  llama-bench style: pp = one batch of -p tokens through
//                     ModelRunner::forward on a fresh cache; tg = -n single-token
//                     decode steps from position 0. One warm-up, then -r reps,
//                     mean ± sample stddev of tok/s. tg is also reported as GB/s
//                     of weight traffic (Model::weight_bytes_per_token() x tok/s)
//                     against a measured streaming-read roofline.
//   serving           --concurrency C: closed loop through the Engine API; C
//                     requests in flight, the next submitted when one finishes,
//                     until --requests are done. Greedy, ignore_eos, so every
//                     request generates exactly --gen-len tokens.
//   replay            --replay-turns T: C agent conversations that grow by a turn
//                     per request (shared system prompt + user turns + the
//                     previous answers); run with and without prefix caching.
// Prompts are random token ids (seeded) from the vocabulary's ordinary range.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <thread>

#include <sys/resource.h>

#include "bench_spec.h"
#include "commands.h"
#include "engine_options.h"
#include "model/model_runner.h"
#include "tern/engine.h"

namespace tern::cli {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// CPU seconds (user + system) of this process so far. On a shared machine
// cpu / (wall x threads) says how much of the asked-for cores the run got.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

struct Summary {
  double mean = 0, stddev = 0;
};
Summary summarize(const std::vector<double>& v) {
  Summary s;
  if (v.empty()) return s;
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
  return s;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// Streaming-read bandwidth of a 512 MiB buffer with n threads: each thread
// sums its contiguous slice (integer adds, so the compiler vectorizes
// without reassociating floats). Best of 5 passes, as STREAM reports.
double measure_bandwidth_gbs(ThreadPool& pool) {
  constexpr size_t kBytes = size_t{512} << 20;
  const size_t n = kBytes / sizeof(uint64_t);
  std::vector<uint64_t> buf(n);
  pool.parallel_for(static_cast<int64_t>(n), 4096, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) buf[static_cast<size_t>(i)] = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
  });
  std::vector<uint64_t> sink(static_cast<size_t>(pool.size()) * 8);
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) {
    const auto t0 = Clock::now();
    pool.parallel_for(static_cast<int64_t>(n), 4096, [&](int64_t b, int64_t e, int tid) {
      uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      const uint64_t* p = buf.data();
      int64_t i = b;
      for (; i + 4 <= e; i += 4) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
      }
      for (; i < e; ++i) a0 += p[i];
      sink[static_cast<size_t>(tid) * 8] += a0 + a1 + a2 + a3;  // one cache line per thread
    });
    best = std::max(best, static_cast<double>(kBytes) / seconds_since(t0) / 1e9);
  }
  volatile uint64_t keep = std::accumulate(sink.begin(), sink.end(), uint64_t{0});
  (void)keep;
  return best;
}

std::vector<TokenId> random_tokens(std::mt19937_64& rng, int n, int n_vocab) {
  // Skip the low ids (control and byte tokens in SentencePiece vocabularies).
  const int lo = n_vocab > 1000 ? 259 : std::min(3, n_vocab - 1);
  std::uniform_int_distribution<int> dist(lo, n_vocab - 1);
  std::vector<TokenId> t(static_cast<size_t>(n));
  for (auto& x : t) x = dist(rng);
  return t;
}

struct Args {
  int n_prompt = 512, n_gen = 128, reps = 5;
  bool json_out = false;
  int concurrency = 0, prompt_len = 128, gen_len = 128, shared_prefix = 0, requests = 0, replay_turns = 0;
  uint64_t seed = 1234;
  bool no_bandwidth = false;
};

// ---- kernel mode ----

int run_kernel_bench(const EngineOptions& opt, const Args& a) {
  auto loaded = Model::load(opt.model_path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "tern bench-engine: %s\n", loaded.status().message().c_str());
    return 1;
  }
  const Model& m = **loaded;
  const ModelConfig& c = m.config();
  const int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ThreadPool pool(threads);
  const int max_tokens = std::max(a.n_prompt, a.n_gen);
  const int block = opt.block_size;
  const int n_blocks = (max_tokens + block - 1) / block;
  KvPool kv(c.n_layers, c.kv_dim(), block, n_blocks,
            opt.kv_type == KvCacheType::kF32 ? KvType::kF32 : KvType::kF16);
  ModelRunner runner(m, kv, pool);
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  std::iota(table.begin(), table.end(), 0);
  std::mt19937_64 rng(a.seed);
  std::vector<float> logits(static_cast<size_t>(c.n_vocab));

  // One batch of n tokens at positions start.. of the single sequence.
  auto forward = [&](const std::vector<TokenId>& toks, int32_t start) -> Status {
    std::vector<int32_t> pos(toks.size()), sidx(toks.size(), 0);
    std::iota(pos.begin(), pos.end(), start);
    const int32_t last = static_cast<int32_t>(toks.size()) - 1;
    ForwardBatch b{toks, pos, sidx, {table}, std::span<const int32_t>(&last, 1)};
    return runner.forward(b, logits.data());
  };
  std::vector<double> pp, tg;
  double cpu0 = 0;
  Clock::time_point wall0;
  for (int rep = -1; rep < a.reps; ++rep) {  // rep -1: warm-up
    if (rep == 0) {
      cpu0 = cpu_seconds();
      wall0 = Clock::now();
    }
    if (a.n_prompt > 0) {
      const std::vector<TokenId> toks = random_tokens(rng, a.n_prompt, c.n_vocab);
      const auto t0 = Clock::now();
      if (Status st = forward(toks, 0); !st.ok()) {
        std::fprintf(stderr, "tern bench-engine: %s\n", st.message().c_str());
        return 1;
      }
      if (rep >= 0) pp.push_back(a.n_prompt / seconds_since(t0));
    }
    if (a.n_gen > 0) {
      const std::vector<TokenId> toks = random_tokens(rng, a.n_gen, c.n_vocab);
      const auto t0 = Clock::now();
      for (int i = 0; i < a.n_gen; ++i) {
        if (Status st = forward({toks[static_cast<size_t>(i)]}, i); !st.ok()) {
          std::fprintf(stderr, "tern bench-engine: %s\n", st.message().c_str());
          return 1;
        }
      }
      if (rep >= 0) tg.push_back(a.n_gen / seconds_since(t0));
    }
  }
  const double cpu_share = (cpu_seconds() - cpu0) / (seconds_since(wall0) * threads);
  const double bw = a.no_bandwidth ? 0 : measure_bandwidth_gbs(pool);
  const Summary spp = summarize(pp), stg = summarize(tg);
  const double bytes_tok = static_cast<double>(m.weight_bytes_per_token());
  const double tg_gbs = bytes_tok * stg.mean / 1e9;
  const double roofline_tok = bw > 0 ? bw * 1e9 / bytes_tok : 0;
  uint64_t file_bytes = m.gguf().file_size();
  if (a.json_out) {
    json j = {{"mode", "kernel"},
              {"model", m.path()},
              {"model_name", c.name},
              {"file_bytes", file_bytes},
              {"threads", threads},
              {"reps", a.reps},
              {"weight_bytes_per_token", bytes_tok},
              {"bandwidth_gbs", bw},
              {"cpu_share", cpu_share},
              {"isa", kernels::isa_name(kernels::active_isa())}};
    if (a.n_prompt > 0)
      j["pp"] = {{"n_prompt", a.n_prompt}, {"tok_s", spp.mean}, {"stddev", spp.stddev}, {"samples", pp}};
    if (a.n_gen > 0)
      j["tg"] = {{"n_gen", a.n_gen},       {"tok_s", stg.mean},           {"stddev", stg.stddev},
                 {"samples", tg},          {"weight_gbs", tg_gbs},        {"roofline_tok_s", roofline_tok},
                 {"roofline_share", roofline_tok > 0 ? stg.mean / roofline_tok : 0.0}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("model: %s (%s, %.1f MiB, %.1f MiB of weights read per token), %d threads, isa %s\n", m.path().c_str(),
              c.name.c_str(), file_bytes / 1048576.0, bytes_tok / 1048576.0, threads,
              kernels::isa_name(kernels::active_isa()));
  std::printf("| %-8s | %16s | %12s |\n", "test", "tok/s", "weights GB/s");
  if (a.n_prompt > 0) std::printf("| pp%-6d | %8.1f ± %5.1f | %12s |\n", a.n_prompt, spp.mean, spp.stddev, "");
  if (a.n_gen > 0) std::printf("| tg%-6d | %8.1f ± %5.1f | %12.1f |\n", a.n_gen, stg.mean, stg.stddev, tg_gbs);
  if (bw > 0)
    std::printf("memory bandwidth (512 MiB streaming read, %d threads): %.1f GB/s -> tg roofline %.1f tok/s, tg at %.0f%%\n",
                threads, bw, roofline_tok, 100.0 * stg.mean / roofline_tok);
  std::printf("cpu share: the timed runs got %.0f%% of %d cores (less means a loaded machine)\n", 100.0 * cpu_share, threads);
  return 0;
}

// ---- serving and replay modes ----

// Waits for request completions; callbacks run on the engine thread.
struct Completions {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<size_t, GenerationEvent>> done;  // (client, final event)

  EventCallback callback(size_t client) {
    return [this, client](const GenerationEvent& ev) {
      if (!ev.finished) return;
      std::lock_guard<std::mutex> lock(mu);
      done.emplace_back(client, ev);
      cv.notify_one();
    };
  }
  std::pair<size_t, GenerationEvent> wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !done.empty(); });
    auto r = std::move(done.front());
    done.pop_front();
    return r;
  }
};

GenerationRequest make_request(std::vector<TokenId> prompt, int gen_len) {
  GenerationRequest r;
  r.prompt_tokens = std::move(prompt);
  r.sampling = SamplingParams::greedy();
  r.stop.max_tokens = gen_len;
  r.stop.ignore_eos = true;
  return r;
}

// Sizes the KV pool for `tokens` live tokens unless --kv-memory was given.
Status prepare_engine_options(EngineOptions& opt, int64_t tokens, int max_seq_len) {
  auto f = GgufFile::open(opt.model_path);
  if (!f.ok()) return f.status();
  auto cfg = ModelConfig::from_gguf(**f);
  if (!cfg.ok()) return cfg.status();
  if (opt.n_ctx == 0) opt.n_ctx = std::min(cfg->n_ctx_train, 8192);
  if (max_seq_len > opt.n_ctx)
    return InvalidArgument("a sequence needs " + std::to_string(max_seq_len) + " tokens but the context is " +
                           std::to_string(opt.n_ctx) + " (raise -c)");
  if (opt.kv_memory_bytes == 0) {
    const int64_t per_token = 2LL * cfg->n_layers * cfg->kv_dim() * (opt.kv_type == KvCacheType::kF32 ? 4 : 2);
    opt.kv_memory_bytes = per_token * (tokens + 4LL * opt.block_size * 64);
  }
  return Status::Ok();
}

struct RunResult {
  double wall_s = 0;
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  std::vector<double> ttft_ms;
  EngineStats before, after;
  int errors = 0;
  std::string first_error;
};

int run_serving_bench(EngineOptions opt, const Args& a) {
  const int c = a.concurrency, n_req = a.requests > 0 ? a.requests : c;
  const int shared = std::min(a.shared_prefix, a.prompt_len);
  if (Status st = prepare_engine_options(opt, int64_t{c} * (a.prompt_len + a.gen_len) + shared, a.prompt_len + a.gen_len);
      !st.ok()) {
    std::fprintf(stderr, "tern bench-engine: %s\n", st.message().c_str());
    return 1;
  }
  opt.max_num_seqs = std::max(opt.max_num_seqs, c);
  auto created = Engine::create(opt);
  if (!created.ok()) {
    std::fprintf(stderr, "tern bench-engine: %s\n", created.status().message().c_str());
    return 1;
  }
  Engine& engine = **created;
  const int n_vocab = engine.model_info().n_vocab;
  std::mt19937_64 rng(a.seed);
  const std::vector<TokenId> prefix = random_tokens(rng, shared, n_vocab);
  auto next_prompt = [&] {
    std::vector<TokenId> p = prefix;
    const std::vector<TokenId> rest = random_tokens(rng, a.prompt_len - shared, n_vocab);
    p.insert(p.end(), rest.begin(), rest.end());
    return p;
  };

  Completions comp;
  RunResult r;
  r.before = engine.stats();
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  int submitted = 0, finished = 0;
  auto submit_one = [&](size_t client) -> bool {
    auto id = engine.submit(make_request(next_prompt(), a.gen_len), comp.callback(client));
    if (!id.ok()) {
      std::fprintf(stderr, "tern bench-engine: %s\n", id.status().message().c_str());
      return false;
    }
    ++submitted;
    return true;
  };
  for (int i = 0; i < std::min(c, n_req); ++i)
    if (!submit_one(static_cast<size_t>(i))) return 1;
  while (finished < submitted) {
    auto [client, ev] = comp.wait();
    ++finished;
    if (ev.finish_reason == FinishReason::kError) {
      if (r.errors++ == 0) r.first_error = ev.error.message();
    } else {
      r.ttft_ms.push_back(ev.ttft_ms);
    }
    r.prompt_tokens += ev.usage.prompt_tokens;
    r.cached_tokens += ev.usage.cached_tokens;
    r.completion_tokens += ev.usage.completion_tokens;
    if (submitted < n_req && !submit_one(client)) return 1;
  }
  r.wall_s = seconds_since(t0);
  const double cpu_share = (cpu_seconds() - cpu0) / (r.wall_s * opt.threads);
  r.after = engine.stats();

  const double out_tps = r.completion_tokens / r.wall_s;
  const double total_tps = (r.prompt_tokens + r.completion_tokens) / r.wall_s;
  const int64_t q = r.after.prefix_query_tokens - r.before.prefix_query_tokens;
  const int64_t hit = r.after.prefix_hit_tokens - r.before.prefix_hit_tokens;
  const double hit_share = q > 0 ? static_cast<double>(hit) / static_cast<double>(q) : 0.0;
  const double ttft_mean = summarize(r.ttft_ms).mean;
  if (a.json_out) {
    json j = {{"mode", "serving"},
              {"model", opt.model_path},
              {"threads", opt.threads},
              {"concurrency", c},
              {"requests", n_req},
              {"prompt_len", a.prompt_len},
              {"gen_len", a.gen_len},
              {"shared_prefix", shared},
              {"prefix_caching", opt.prefix_caching},
              {"wall_s", r.wall_s},
              {"prompt_tokens", r.prompt_tokens},
              {"completion_tokens", r.completion_tokens},
              {"output_tok_s", out_tps},
              {"total_tok_s", total_tps},
              {"ttft_ms", {{"mean", ttft_mean}, {"p50", percentile(r.ttft_ms, 0.5)}, {"p99", percentile(r.ttft_ms, 0.99)}}},
              {"prefix_hit_share", hit_share},
              {"cached_tokens", r.cached_tokens},
              {"preemptions", r.after.preemptions - r.before.preemptions},
              {"errors", r.errors},
              {"cpu_share", cpu_share}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("serving: %d requests, %d concurrent, prompt %d (%d shared) + %d generated, prefix cache %s, %d threads\n",
                n_req, c, a.prompt_len, shared, a.gen_len, opt.prefix_caching ? "on" : "off", opt.threads);
    std::printf("  wall %.2f s | output %.1f tok/s | total %.1f tok/s\n", r.wall_s, out_tps, total_tps);
    std::printf("  TTFT mean %.1f ms, p50 %.1f ms, p99 %.1f ms\n", ttft_mean, percentile(r.ttft_ms, 0.5),
                percentile(r.ttft_ms, 0.99));
    std::printf("  prefix hits %.1f%% of %lld looked-up prompt tokens | preemptions %lld | errors %d\n",
                100.0 * hit_share, static_cast<long long>(q),
                static_cast<long long>(r.after.preemptions - r.before.preemptions), r.errors);
    std::printf("  cpu share: %.0f%% of %d cores (less means a loaded machine)\n", 100.0 * cpu_share, opt.threads);
  }
  if (r.errors > 0) std::fprintf(stderr, "tern bench-engine: %d requests failed: %s\n", r.errors, r.first_error.c_str());
  return r.errors > 0 ? 1 : 0;
}

struct ReplayResult {
  double wall_s = 0;
  std::vector<double> ttft_first, ttft_later;  // turn 1, turns 2..T
  int64_t prompt_later = 0, cached_later = 0, completion = 0, preemptions = 0;
  double cpu_share = 0;
  int errors = 0;
  std::string first_error;
};

// C conversations in parallel, each a chain of T requests: the prompt of turn
// k is system + (user_1, answer_1, ..., user_k).
Result<ReplayResult> run_replay(EngineOptions opt, const Args& a) {
  const int c = a.concurrency > 0 ? a.concurrency : 1;
  const int max_len = a.shared_prefix + a.replay_turns * (a.prompt_len + a.gen_len);
  TERN_RETURN_IF_ERROR(prepare_engine_options(opt, int64_t{c} * max_len, max_len));
  opt.max_num_seqs = std::max(opt.max_num_seqs, c);
  TERN_ASSIGN_OR_RETURN(auto engine, Engine::create(opt));
  const int n_vocab = engine->model_info().n_vocab;
  std::mt19937_64 rng(a.seed);
  const std::vector<TokenId> system = random_tokens(rng, a.shared_prefix, n_vocab);
  std::vector<std::vector<TokenId>> history(static_cast<size_t>(c), system);
  std::vector<int> turn(static_cast<size_t>(c), 0);
  std::mutex answers_mu;
  std::vector<std::vector<TokenId>> answers(static_cast<size_t>(c));

  Completions comp;
  ReplayResult r;
  auto submit_turn = [&](size_t conv) -> Status {
    const std::vector<TokenId> user = random_tokens(rng, a.prompt_len, n_vocab);
    history[conv].insert(history[conv].end(), user.begin(), user.end());
    {
      std::lock_guard<std::mutex> lock(answers_mu);
      answers[conv].clear();
    }
    auto done_cb = comp.callback(conv);
    TERN_ASSIGN_OR_RETURN(RequestId id, engine->submit(make_request(history[conv], a.gen_len),
                                                       [&, conv, done_cb](const GenerationEvent& ev) {
                                                         {
                                                           std::lock_guard<std::mutex> lock(answers_mu);
                                                           answers[conv].insert(answers[conv].end(), ev.tokens.begin(),
                                                                                ev.tokens.end());
                                                         }
                                                         done_cb(ev);
                                                       }));
    (void)id;
    return Status::Ok();
  };
  const EngineStats before = engine->stats();
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  for (size_t i = 0; i < static_cast<size_t>(c); ++i) TERN_RETURN_IF_ERROR(submit_turn(i));
  int in_flight = c;
  while (in_flight > 0) {
    auto [conv, ev] = comp.wait();
    --in_flight;
    if (ev.finish_reason == FinishReason::kError) {
      if (r.errors++ == 0) r.first_error = ev.error.message();
      continue;
    }
    const bool first = turn[conv] == 0;
    (first ? r.ttft_first : r.ttft_later).push_back(ev.ttft_ms);
    if (!first) {
      r.prompt_later += ev.usage.prompt_tokens;
      r.cached_later += ev.usage.cached_tokens;
    }
    r.completion += ev.usage.completion_tokens;
    {
      std::lock_guard<std::mutex> lock(answers_mu);
      history[conv].insert(history[conv].end(), answers[conv].begin(), answers[conv].end());
    }
    if (++turn[conv] < a.replay_turns) {
      TERN_RETURN_IF_ERROR(submit_turn(conv));
      ++in_flight;
    }
  }
  r.wall_s = seconds_since(t0);
  r.cpu_share = (cpu_seconds() - cpu0) / (r.wall_s * opt.threads);
  r.preemptions = engine->stats().preemptions - before.preemptions;
  return r;
}

int run_replay_bench(const EngineOptions& opt, const Args& a) {
  std::vector<bool> modes = opt.prefix_caching ? std::vector<bool>{true, false} : std::vector<bool>{false};
  json runs = json::array();
  double ttft_on = 0, ttft_off = 0;
  int errors = 0;
  for (bool caching : modes) {
    EngineOptions o = opt;
    o.prefix_caching = caching;
    auto res = run_replay(o, a);
    if (!res.ok()) {
      std::fprintf(stderr, "tern bench-engine: %s\n", res.status().message().c_str());
      return 1;
    }
    const ReplayResult& r = *res;
    errors += r.errors;
    if (r.errors > 0) std::fprintf(stderr, "tern bench-engine: %d requests failed: %s\n", r.errors, r.first_error.c_str());
    const double share = r.prompt_later > 0 ? static_cast<double>(r.cached_later) / static_cast<double>(r.prompt_later) : 0;
    const double later = summarize(r.ttft_later).mean;
    (caching ? ttft_on : ttft_off) = later;
    runs.push_back({{"prefix_caching", caching},
                    {"wall_s", r.wall_s},
                    {"output_tok_s", r.completion / r.wall_s},
                    {"ttft_first_turn_ms", {{"mean", summarize(r.ttft_first).mean}, {"p50", percentile(r.ttft_first, 0.5)}}},
                    {"ttft_later_turns_ms",
                     {{"mean", later}, {"p50", percentile(r.ttft_later, 0.5)}, {"p99", percentile(r.ttft_later, 0.99)}}},
                    {"prompt_tokens_after_first_turn", r.prompt_later},
                    {"cached_tokens_after_first_turn", r.cached_later},
                    {"prefix_hit_share_after_first_turn", share},
                    {"preemptions", r.preemptions},
                    {"errors", r.errors},
                    {"cpu_share", r.cpu_share}});
  }
  const double speedup = ttft_on > 0 && ttft_off > 0 ? ttft_off / ttft_on : 0;
  if (a.json_out) {
    json j = {{"mode", "replay"},        {"model", opt.model_path},          {"threads", opt.threads},
              {"conversations", a.concurrency > 0 ? a.concurrency : 1},     {"turns", a.replay_turns},
              {"system_tokens", a.shared_prefix}, {"user_tokens_per_turn", a.prompt_len},
              {"gen_len", a.gen_len},    {"runs", runs},                     {"ttft_speedup_from_prefix_cache", speedup}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("replay: %d conversations x %d turns, system %d tokens, +%d user and %d generated tokens per turn\n",
                a.concurrency > 0 ? a.concurrency : 1, a.replay_turns, a.shared_prefix, a.prompt_len, a.gen_len);
    for (const auto& run : runs) {
      std::printf("  prefix cache %-3s: wall %.2f s, output %.1f tok/s, TTFT turn 1 %.1f ms, later turns mean %.1f / p50 %.1f / p99 %.1f ms, cache hits after turn 1 %.1f%%, preemptions %lld, cpu share %.0f%%\n",
                  run["prefix_caching"].get<bool>() ? "on" : "off", run["wall_s"].get<double>(),
                  run["output_tok_s"].get<double>(), run["ttft_first_turn_ms"]["mean"].get<double>(),
                  run["ttft_later_turns_ms"]["mean"].get<double>(), run["ttft_later_turns_ms"]["p50"].get<double>(),
                  run["ttft_later_turns_ms"]["p99"].get<double>(),
                  100.0 * run["prefix_hit_share_after_first_turn"].get<double>(), run["preemptions"].get<long long>(),
                  100.0 * run["cpu_share"].get<double>());
    }
    if (speedup > 0) std::printf("  TTFT after turn 1: %.1fx lower with the prefix cache\n", speedup);
  }
  return errors > 0 ? 1 : 0;
}

}  // namespace

int bench_engine_main(int argc, char** argv) {
  CLI::App app{"Benchmark the engine: prompt/generation speed vs the memory roofline, serving throughput, agent replay",
               "tern bench-engine"};
  EngineOptions opt;
  EngineFlags flags;
  Args a;
  add_engine_options(app, opt, flags);
  app.add_option("-p,--n-prompt", a.n_prompt, "kernel mode: prompt tokens per pp run (0: skip)")->capture_default_str();
  app.add_option("-n,--n-gen", a.n_gen, "kernel mode: decode steps per tg run (0: skip)")->capture_default_str();
  app.add_option("-r,--reps", a.reps, "kernel mode: measured repetitions (after one warm-up)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_flag("--no-bandwidth", a.no_bandwidth, "kernel mode: skip the memory-bandwidth measurement");
  app.add_option("--concurrency", a.concurrency, "serving mode: requests in flight (closed loop); replay: conversations")
      ->check(CLI::Range(0, 4096));
  app.add_option("--prompt-len", a.prompt_len, "serving: prompt tokens per request; replay: user tokens per turn")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--gen-len", a.gen_len, "tokens generated per request")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  app.add_option("--shared-prefix", a.shared_prefix, "serving: leading prompt tokens shared by all requests; replay: system prompt tokens")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  app.add_option("--requests", a.requests, "serving: requests in total (default: --concurrency)")->check(CLI::Range(0, 1 << 24));
  app.add_option("--replay-turns", a.replay_turns, "replay mode: turns per conversation")->check(CLI::Range(0, 10000));
  app.add_option("--seed", a.seed, "seed of the random prompts")->capture_default_str();
  app.add_flag("--json", a.json_out, "print one JSON object instead of a table");
  bool spec_bench = false;
  SpecBenchArgs sb;
  app.add_flag("--spec-bench", spec_bench,
               "speculative decoding: single-stream speedup per drafter (input-grounded and free prompts) and "
               "throughput with speculation on/off (uses --gen-len, --draft-model, --draft-max, --spec-fixed)");
  app.add_option("--spec-methods", sb.methods, "spec bench: drafters to compare with plain decoding")->capture_default_str();
  app.add_option("--spec-concurrency", sb.concurrency, "spec bench: throughput points")->delimiter(',');
  app.add_option("--spec-reps", sb.reps, "spec bench: measured single-stream requests per drafter")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--spec-json", sb.json_path, "spec bench: also write the results to this JSON file");
  app.add_option("--spec-passage", sb.passage_tokens, "spec bench: tokens of the input-grounded passage (at most)")
      ->check(CLI::Range(16, 100000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (std::string err = finish_engine_options(opt, flags); !err.empty()) {
    std::fprintf(stderr, "tern bench-engine: %s\n", err.c_str());
    return 2;
  }
  if (opt.threads == 0) opt.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (spec_bench) {
    sb.gen_len = a.gen_len;
    return run_spec_bench(opt, sb);
  }
  if (a.replay_turns > 0) return run_replay_bench(opt, a);
  if (a.concurrency > 0) return run_serving_bench(opt, a);
  return run_kernel_bench(opt, a);
}

}  // namespace tern::cli
