// tern run -m MODEL -p PROMPT — generate a continuation. Only generated text
// goes to stdout; diagnostics and timings go to stderr.
#include <CLI/CLI.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "engine_options.h"
#include "sampling_options.h"
#include "tern/engine.h"

namespace tern::cli {

int run_main(int argc, char** argv) {
  CLI::App app{"Generate a continuation of a prompt", "tern run"};
  EngineOptions opt;
  EngineFlags flags;
  GenerationRequest req;
  req.stop.max_tokens = 128;
  std::string prompt;
  bool chat = false, verbose = false;
  add_engine_options(app, opt, flags);
  app.add_option("-p,--prompt", prompt, "prompt text")->required();
  app.add_flag("--chat", chat, "treat the prompt as a user message and apply the model's chat template");
  app.add_flag("-v,--verbose", verbose, "print tokens/s and cache statistics to stderr");
  add_sampling_options(app, req.sampling, req.stop);
  CLI11_PARSE(app, argc, argv);
  if (std::string err = finish_engine_options(opt, flags); !err.empty()) {
    std::fprintf(stderr, "tern: %s\n", err.c_str());
    return 2;
  }
  if (opt.max_num_seqs > 1) opt.max_num_seqs = 1;

  auto t_load = std::chrono::steady_clock::now();
  auto engine = Engine::create(opt);
  if (!engine.ok()) {
    std::fprintf(stderr, "tern: %s\n", engine.status().message().c_str());
    return 1;
  }
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();
  if (chat) {
    const std::string messages = nlohmann::json::array({{{"role", "user"}, {"content", prompt}}}).dump();
    auto rendered = (*engine)->apply_chat_template(messages, "", true);
    if (!rendered.ok()) {
      std::fprintf(stderr, "tern: %s\n", rendered.status().message().c_str());
      return 1;
    }
    req.prompt = rendered.value();
    req.parse_special = true;
    req.add_special = false;
  } else {
    req.prompt = prompt;
  }

  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  GenerationEvent last;
  auto t0 = std::chrono::steady_clock::now();
  auto id = (*engine)->submit(std::move(req), [&](const GenerationEvent& ev) {
    std::fwrite(ev.text.data(), 1, ev.text.size(), stdout);
    std::fflush(stdout);
    if (ev.finished) {
      std::lock_guard<std::mutex> lock(mu);
      last = ev;
      done = true;
      cv.notify_one();
    }
  });
  if (!id.ok()) {
    std::fprintf(stderr, "tern: %s\n", id.status().message().c_str());
    return 1;
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  const double total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::fputc('\n', stdout);
  if (last.finish_reason == FinishReason::kError) {
    std::fprintf(stderr, "tern: %s\n", last.error.message().c_str());
    return 1;
  }
  const Usage& u = last.usage;
  const double gen_ms = total_ms - last.ttft_ms;
  std::fprintf(stderr, "[load %.0f ms | prompt %d tokens (%d cached), first token %.1f ms | %d tokens in %.1f ms, %.1f tok/s | %s]\n",
               load_ms, u.prompt_tokens, u.cached_tokens, last.ttft_ms, u.completion_tokens, gen_ms,
               u.completion_tokens > 1 ? (u.completion_tokens - 1) * 1000.0 / gen_ms : 0.0,
               finish_reason_name(last.finish_reason));
  if (u.draft_tokens > 0)
    std::fprintf(stderr, "[speculative (%s): %d of %d draft tokens accepted (%.0f%%)]\n",
                 spec_method_name(opt.speculative.method), u.accepted_tokens, u.draft_tokens,
                 100.0 * u.accepted_tokens / u.draft_tokens);
  if (verbose) {
    EngineStats st = (*engine)->stats();
    std::fprintf(stderr, "[steps %lld, kv blocks %lld/%lld]\n", static_cast<long long>(st.steps),
                 static_cast<long long>(st.kv_blocks_used), static_cast<long long>(st.kv_blocks_total));
  }
  return 0;
}

}  // namespace tern::cli
