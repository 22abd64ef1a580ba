// tern bench-engine --spec-bench — speculative decoding through the Engine
// API (docs/speculative.md):
//   1. single stream: for each drafter (and plain decoding first), --spec-reps
//      greedy requests of --gen-len tokens on an input-grounded prompt (a
//      passage, then its opening again: continuing it copies the passage) and
//      on a free-generation prompt; generation tok/s (after the first token),
//      acceptance and speedup over plain decoding;
//   2. throughput: closed loop at each --spec-concurrency with speculation
//      off and on (adaptive, the first drafter), 2 x C requests on the
//      input-grounded prompt, output tok/s; --spec-reps pairs, median ratio.
// Each configuration gets a fresh engine.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "bench_spec.h"

namespace tern::cli {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

// A passage for trained models; synthetic ones tokenize it too.
constexpr const char* kPassage =
    "Once upon a time, there was a little girl named Lily. She loved to play in the park with her red ball. "
    "One day, she saw a big dog near the swings. The dog was sad because it had lost its way home. Lily said, "
    "\"Do not be sad, little dog. I will help you find your home.\" They walked together past the pond and the "
    "tall trees until they saw a small blue house. A kind old man came out and hugged the dog. He said, "
    "\"Thank you, Lily! You are a good friend.\" Lily smiled and went back to the park to play with her red ball.";

struct Done {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<GenerationEvent> events;
  EventCallback cb() {
    return [this](const GenerationEvent& ev) {
      if (!ev.finished) return;
      std::lock_guard<std::mutex> lock(mu);
      events.push_back(ev);
      cv.notify_one();
    };
  }
  GenerationEvent wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !events.empty(); });
    GenerationEvent ev = events.front();
    events.pop_front();
    return ev;
  }
};

GenerationRequest request(const std::vector<TokenId>& prompt, int gen_len, SpecMethod m) {
  GenerationRequest r;
  r.prompt_tokens = prompt;
  r.sampling = SamplingParams::greedy();
  r.stop.max_tokens = gen_len;
  r.stop.ignore_eos = true;
  r.speculative.method = m;
  return r;
}

struct Single {
  double gen_tok_s = 0, e2e_s = 0;
  int64_t draft = 0, accepted = 0, tokens = 0;
  std::vector<TokenId> output;  // of the last rep (greedy: the same every rep)
};

Result<Single> single_stream(Engine& e, const std::vector<TokenId>& prompt, int gen_len, int reps, SpecMethod m,
                             bool warmup) {
  Single s;
  double gen_time = 0;
  int64_t gen_tokens = 0;
  for (int rep = warmup ? -1 : 0; rep < reps; ++rep) {  // rep -1: warm-up (calibration, caches)
    Done done;
    std::vector<TokenId> out;
    std::mutex mu;
    auto cb = done.cb();
    const auto t0 = Clock::now();
    TERN_ASSIGN_OR_RETURN(RequestId id, e.submit(request(prompt, gen_len, m), [&, cb](const GenerationEvent& ev) {
      {
        std::lock_guard<std::mutex> lock(mu);
        out.insert(out.end(), ev.tokens.begin(), ev.tokens.end());
      }
      cb(ev);
    }));
    (void)id;
    const GenerationEvent ev = done.wait();
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    if (ev.finish_reason == FinishReason::kError) return ev.error;
    if (rep < 0) continue;
    gen_time += wall - ev.ttft_ms / 1000.0;
    gen_tokens += ev.usage.completion_tokens - 1;
    s.e2e_s += wall / reps;
    s.draft += ev.usage.draft_tokens;
    s.accepted += ev.usage.accepted_tokens;
    s.tokens += ev.usage.completion_tokens;
    std::lock_guard<std::mutex> lock(mu);
    s.output = out;
  }
  s.gen_tok_s = gen_time > 0 ? gen_tokens / gen_time : 0;
  return s;
}

Result<double> throughput(Engine& e, const std::vector<TokenId>& prompt, int gen_len, int c, SpecMethod m,
                          int64_t* draft, int64_t* accepted) {
  Done done;
  const int total = std::max(2 * c, 4);
  int submitted = 0, finished = 0;
  int64_t tokens = 0;
  // Distinct prompts (two different opening tokens each, never repeated in
  // the process) so the prefix cache does not turn the comparison into a
  // cache benchmark: a later run must not reuse an earlier run's prompts.
  static int serial = 0;
  auto next = [&] {
    std::vector<TokenId> p = prompt;
    const int id = serial++;
    p.insert(p.begin() + 1, {static_cast<TokenId>(3 + id % 200), static_cast<TokenId>(3 + id / 200 % 200)});
    return p;
  };
  const auto t0 = Clock::now();
  for (; submitted < std::min(c, total); ++submitted) TERN_RETURN_IF_ERROR(e.submit(request(next(), gen_len, m), done.cb()).status());
  while (finished < submitted) {
    const GenerationEvent ev = done.wait();
    ++finished;
    if (ev.finish_reason == FinishReason::kError) return ev.error;
    tokens += ev.usage.completion_tokens;
    *draft += ev.usage.draft_tokens;
    *accepted += ev.usage.accepted_tokens;
    if (submitted < total) {
      TERN_RETURN_IF_ERROR(e.submit(request(next(), gen_len, m), done.cb()).status());
      ++submitted;
    }
  }
  return tokens / std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int run_spec_bench(EngineOptions opt, const SpecBenchArgs& a) {
  std::vector<SpecMethod> methods;
  {
    std::stringstream ss(a.methods);
    std::string item;
    while (std::getline(ss, item, ',')) {
      SpecMethod m;
      if (!parse_spec_method(item, &m) || m == SpecMethod::kOff || m == SpecMethod::kDefault) {
        std::fprintf(stderr, "tern bench-engine: unknown drafter '%s' in --spec-methods\n", item.c_str());
        return 2;
      }
      if (m == SpecMethod::kDraftModel && opt.speculative.draft_model_path.empty()) continue;  // no draft model given
      methods.push_back(m);
    }
  }
  opt.max_num_seqs = std::max(opt.max_num_seqs, 64);
  opt.speculative.method = SpecMethod::kOff;  // each request chooses
  auto created = Engine::create(opt);
  if (!created.ok()) {
    std::fprintf(stderr, "tern bench-engine: %s\n", created.status().message().c_str());
    return 1;
  }
  std::unique_ptr<Engine> engine = std::move(*created);
  std::vector<TokenId> passage = engine->tokenize(kPassage, true, false);
  if (static_cast<int>(passage.size()) > a.passage_tokens) passage.resize(static_cast<size_t>(a.passage_tokens));
  std::vector<TokenId> grounded = passage;
  grounded.insert(grounded.end(), passage.begin(), passage.begin() + std::min<size_t>(passage.size(), 12));
  const std::vector<TokenId> free_prompt(passage.begin(), passage.begin() + std::min<size_t>(passage.size(), 8));
  const int n_ctx = engine->model_info().n_ctx;
  if (static_cast<int>(grounded.size()) + a.gen_len + 1 > n_ctx) {
    std::fprintf(stderr, "tern bench-engine: prompt + --gen-len exceed the context (%d)\n", n_ctx);
    return 1;
  }

  json out = {{"mode", "spec"}, {"model", opt.model_path}, {"draft_model", opt.speculative.draft_model_path},
              {"threads", opt.threads}, {"gen_len", a.gen_len}, {"reps", a.reps},
              {"max_draft_tokens", opt.speculative.max_draft_tokens}, {"adaptive", opt.speculative.adaptive},
              {"grounded_prompt_tokens", grounded.size()}, {"free_prompt_tokens", free_prompt.size()}};
  std::printf("speculative decoding: %s, %d threads, gen %d tokens, k <= %d, %s\n", opt.model_path.c_str(), opt.threads,
              a.gen_len, opt.speculative.max_draft_tokens, opt.speculative.adaptive ? "adaptive" : "fixed k");
  std::printf("| prompt | drafter | gen tok/s (median) | speedup (median of paired reps) | accepted/drafted | lossless |\n"
              "|---|---|---|---|---|---|\n");
  json singles = json::array();
  std::vector<SpecMethod> all = {SpecMethod::kOff};
  all.insert(all.end(), methods.begin(), methods.end());
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  };
  for (const auto& [kind, prompt] : {std::pair{"input-grounded", grounded}, std::pair{"free", free_prompt}}) {
    // Reps interleave the drafters (off, a, b, ..., off, a, b, ...) and each
    // speedup is the median of per-rep ratios to the same rep's plain run,
    // so that load changes on a shared machine hit both sides alike.
    std::vector<std::vector<double>> rate(all.size()), ratio(all.size());
    std::vector<Single> last(all.size());
    std::vector<int64_t> drafted(all.size(), 0), kept(all.size(), 0);
    for (int rep = 0; rep < a.reps; ++rep) {
      for (size_t i = 0; i < all.size(); ++i) {
        auto r = single_stream(*engine, prompt, a.gen_len, 1, all[i], rep == 0);
        if (!r.ok()) {
          std::fprintf(stderr, "tern bench-engine: %s\n", r.status().message().c_str());
          return 1;
        }
        rate[i].push_back(r->gen_tok_s);
        ratio[i].push_back(r->gen_tok_s / rate[0].back());
        drafted[i] += r->draft;
        kept[i] += r->accepted;
        last[i] = std::move(*r);
      }
    }
    for (size_t i = 0; i < all.size(); ++i) {
      const bool same = last[i].output == last[0].output;
      const double speedup = median(ratio[i]);
      std::printf("| %s | %s | %.1f | %.2fx | %lld/%lld (%.0f%%) | %s |\n", kind, spec_method_name(all[i]),
                  median(rate[i]), speedup, static_cast<long long>(kept[i]), static_cast<long long>(drafted[i]),
                  drafted[i] > 0 ? 100.0 * kept[i] / drafted[i] : 0.0, same ? "yes" : "NO");
      singles.push_back({{"prompt", kind},          {"drafter", spec_method_name(all[i])},
                         {"gen_tok_s", rate[i]},    {"speedup_median", speedup},
                         {"ratios", ratio[i]},      {"draft_tokens", drafted[i]},
                         {"accepted_tokens", kept[i]}, {"identical_output", same}});
    }
  }
  out["single_stream"] = singles;

  json tp = json::array();
  if (!methods.empty() && !a.concurrency.empty()) {
    const SpecMethod m = methods.front();
    std::printf("\nthroughput, input-grounded prompts, 2 x C requests (min 4), %s adaptive vs off, %d paired reps:\n",
                spec_method_name(m), a.reps);
    std::printf("| concurrency | off tok/s (median) | %s tok/s (median) | ratio (median of pairs) | accepted/drafted |\n|---|---|---|---|---|\n", spec_method_name(m));
    // A warm-up run first (page faults, calibration); then --spec-reps
    // pairs, alternating which side goes first, and the median of per-pair
    // ratios (load drifts hit both sides of a pair alike).
    int64_t dw = 0, aw = 0;
    if (auto w = throughput(*engine, grounded, a.gen_len, 2, m, &dw, &aw); !w.ok()) {
      std::fprintf(stderr, "tern bench-engine: %s\n", w.status().message().c_str());
      return 1;
    }
    for (int c : a.concurrency) {
      int64_t d0 = 0, a0 = 0, d1 = 0, a1 = 0;
      std::vector<double> offs, ons, ratios;
      for (int rep = 0; rep < a.reps; ++rep) {
        Result<double> off = 0.0, on = 0.0;
        if (rep % 2 == 0) {
          off = throughput(*engine, grounded, a.gen_len, c, SpecMethod::kOff, &d0, &a0);
          on = throughput(*engine, grounded, a.gen_len, c, m, &d1, &a1);
        } else {
          on = throughput(*engine, grounded, a.gen_len, c, m, &d1, &a1);
          off = throughput(*engine, grounded, a.gen_len, c, SpecMethod::kOff, &d0, &a0);
        }
        if (!off.ok() || !on.ok()) {
          std::fprintf(stderr, "tern bench-engine: %s\n", (!off.ok() ? off.status() : on.status()).message().c_str());
          return 1;
        }
        offs.push_back(*off);
        ons.push_back(*on);
        ratios.push_back(*on / *off);
      }
      const double ratio = median(ratios);
      std::printf("| %d | %.1f | %.1f | %.2fx | %lld/%lld |\n", c, median(offs), median(ons), ratio,
                  static_cast<long long>(a1), static_cast<long long>(d1));
      tp.push_back({{"concurrency", c}, {"drafter", spec_method_name(m)}, {"off_tok_s", offs}, {"on_tok_s", ons},
                    {"ratios", ratios}, {"ratio_median", ratio}, {"draft_tokens", d1}, {"accepted_tokens", a1}});
    }
  }
  out["throughput"] = tp;
  if (!a.json_path.empty()) {
    FILE* f = std::fopen(a.json_path.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "tern bench-engine: cannot write %s\n", a.json_path.c_str());
      return 1;
    }
    std::fputs(out.dump(2).c_str(), f);
    std::fclose(f);
  }
  return 0;
}

}  // namespace tern::cli
