// tern logits -m MODEL -p PROMPT [--top K] [-n N] — the model's raw numbers,
// for checking tern against another engine: the prompt's token ids, the top-K
// logits at every prompt position, and the greedy continuation, as one JSON
// object per prompt (the format of the golden files in docs/ARCHITECTURE.md,
// "Numerics"). Runs the model directly, one sequence, no sampling.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>
#include <thread>

#include "commands.h"
#include "core/thread_pool.h"
#include "model/model.h"
#include "model/model_runner.h"

namespace tern::cli {
namespace {

// Logits of tokens at positions start.. (all rows when all_rows, else the last).
Status forward(ModelRunner& runner, const std::vector<int32_t>& table, const std::vector<TokenId>& tokens,
               int32_t start, bool all_rows, std::vector<float>& logits) {
  std::vector<int32_t> pos(tokens.size()), seq(tokens.size(), 0), rows;
  std::iota(pos.begin(), pos.end(), start);
  if (all_rows) {
    rows.resize(tokens.size());
    std::iota(rows.begin(), rows.end(), 0);
  } else {
    rows.push_back(static_cast<int32_t>(tokens.size()) - 1);
  }
  logits.resize(rows.size() * static_cast<size_t>(runner.model().config().n_vocab));
  return runner.forward({tokens, pos, seq, {table}, rows}, logits.data());
}

}  // namespace

int logits_main(int argc, char** argv) {
  CLI::App app{"Print prompt token ids, top-K logits at every prompt position and the greedy continuation as JSON",
               "tern logits"};
  std::string path, kv_type = "f16";
  std::vector<std::string> prompts;
  int top = 5, n_predict = 64, threads = 0;
  bool no_bos = false;
  app.add_option("-m,--model", path, "GGUF model")->required();
  app.add_option("-p,--prompt", prompts, "prompt (repeat for several; one JSON object per line each)")->required();
  app.add_option("--top", top, "logits per position, highest first")->check(CLI::Range(1, 1000));
  app.add_option("-n,--n-predict", n_predict, "greedy tokens to generate")->check(CLI::Range(0, 100000));
  app.add_option("--kv-type", kv_type, "KV cache element type: f16 (as llama.cpp's default) or f32")
      ->check(CLI::IsMember({"f16", "f32"}));
  app.add_option("-t,--threads", threads, "compute threads (0: all)");
  app.add_flag("--no-bos", no_bos, "do not add BOS even if the model's metadata asks for it");
  CLI11_PARSE(app, argc, argv);

  auto model = Model::load(path);
  if (!model.ok()) {
    std::fprintf(stderr, "tern: %s\n", model.status().message().c_str());
    return 1;
  }
  const Model& m = **model;
  const int vocab = m.config().n_vocab;
  ThreadPool pool(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  for (const std::string& prompt : prompts) {
    const std::vector<TokenId> tokens = m.tokenizer().encode(prompt, !no_bos, false);
    const int64_t need = static_cast<int64_t>(tokens.size()) + n_predict;
    if (tokens.empty() || (m.config().n_ctx_train > 0 && need > m.config().n_ctx_train)) {
      std::fprintf(stderr, "tern: prompt of %zu tokens + %d generated does not fit the context (%d)\n", tokens.size(),
                   n_predict, m.config().n_ctx_train);
      return 1;
    }
    const int block = 16;
    KvPool kv(m.config().n_layers, m.config().kv_dim(), block, static_cast<int>((need + block - 1) / block),
              kv_type == "f32" ? KvType::kF32 : KvType::kF16);
    ModelRunner runner(m, kv, pool);
    std::vector<int32_t> table(static_cast<size_t>(kv.n_blocks()));
    std::iota(table.begin(), table.end(), 0);
    std::vector<float> logits;
    if (Status st = forward(runner, table, tokens, 0, true, logits); !st.ok()) {
      std::fprintf(stderr, "tern: %s\n", st.message().c_str());
      return 1;
    }
    nlohmann::json out;
    out["prompt"] = prompt;
    out["tokens"] = tokens;
    nlohmann::json tops = nlohmann::json::array();
    std::vector<int> order(static_cast<size_t>(vocab));
    auto top_of = [&](const float* row) {
      std::iota(order.begin(), order.end(), 0);
      const int k = std::min(top, vocab);
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [&](int a, int b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
      nlohmann::json r = nlohmann::json::array();
      for (int i = 0; i < k; ++i) r.push_back({order[static_cast<size_t>(i)], row[order[static_cast<size_t>(i)]]});
      return r;
    };
    for (size_t t = 0; t < tokens.size(); ++t) tops.push_back(top_of(&logits[t * static_cast<size_t>(vocab)]));
    out["top_logits"] = tops;
    std::vector<TokenId> greedy;
    std::string text;
    const float* last = &logits[(tokens.size() - 1) * static_cast<size_t>(vocab)];
    TokenId next = static_cast<TokenId>(std::max_element(last, last + vocab) - last);
    for (int i = 0; i < n_predict; ++i) {
      greedy.push_back(next);
      text += m.tokenizer().token_to_piece(next);
      if (i + 1 == n_predict) break;
      if (Status st = forward(runner, table, {next}, static_cast<int32_t>(tokens.size()) + i, false, logits); !st.ok()) {
        std::fprintf(stderr, "tern: %s\n", st.message().c_str());
        return 1;
      }
      next = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    out["greedy"] = greedy;
    out["greedy_text"] = text;
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
  return 0;
}

}  // namespace tern::cli
