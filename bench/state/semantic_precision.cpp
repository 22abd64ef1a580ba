// semantic_precision — how often the semantic cache serves a RIGHT answer.
//
//   semantic_precision [--pairs bench/data/semantic_pairs.jsonl]
//                      [--embedder lexical|engine] [--model FILE.gguf]
//                      [--thresholds 0.6,0.7,...]
//
// Each line of the pairs file is {"a": query, "b": query, "label": 1|0}:
// label 1 when b asks the same thing as a (a paraphrase), 0 when it does not
// (a near miss: same words, other meaning). For each threshold a fresh
// SemanticCache is filled with every distinct "a" (each with its own answer),
// then every "b" is looked up, as a client would:
//   label 1, hit on its own a       -> correct hit (TP)
//   label 1 or 0, hit on another a  -> wrong answer served (FP)
//   label 1, miss                   -> missed saving (FN)
//   label 0, miss                   -> correct miss (TN)
// precision = TP / (TP + FP): the share of served hits that were right;
// recall = TP / #label-1. Prints a Markdown table.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "cache/engine_embedder.h"
#include "cache/semantic_cache.h"

using namespace tern;
using namespace tern::cache;

namespace {

struct Pair {
  std::string a, b;
  bool same;
};

Json chat(const std::string& text) {
  return {{"model", "m"}, {"messages", Json::array({{{"role", "user"}, {"content", text}}})}};
}

int usage() {
  std::fprintf(stderr,
               "usage: semantic_precision [--pairs FILE] [--embedder lexical|engine] [--model FILE.gguf] "
               "[--thresholds 0.6,0.7,...]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string pairs_path = "bench/data/semantic_pairs.jsonl", kind = "lexical", model;
  LexicalOptions lex;
  std::vector<float> thresholds = {0.5f, 0.6f, 0.7f, 0.75f, 0.8f, 0.85f, 0.9f, 0.95f};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return usage();
    const std::string v = argv[++i];
    if (arg == "--pairs") pairs_path = v;
    else if (arg == "--embedder") kind = v;
    else if (arg == "--model") model = v;
    else if (arg == "--lexical") {  // dim,word,bigram,char,stop (tuning)
      std::stringstream ss(v);
      char c;
      ss >> lex.dim >> c >> lex.word_weight >> c >> lex.bigram_weight >> c >> lex.char_weight >> c >> lex.stop_weight;
    }
    else if (arg == "--thresholds") {
      thresholds.clear();
      std::stringstream ss(v);
      std::string t;
      while (std::getline(ss, t, ',')) thresholds.push_back(std::stof(t));
    } else {
      return usage();
    }
  }
  std::ifstream in(pairs_path);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", pairs_path.c_str());
    return 1;
  }
  std::vector<Pair> pairs;
  std::string line;
  while (std::getline(in, line)) {
    Json j = Json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    pairs.push_back({j.value("a", ""), j.value("b", ""), j.value("label", 0) == 1});
  }

  std::unique_ptr<Engine> engine;
  std::shared_ptr<Embedder> emb;
  if (kind == "lexical") {
    emb = std::make_shared<LexicalEmbedder>(lex);
  } else if (kind == "engine") {
    EngineOptions o;
    o.model_path = model;
    auto e = Engine::create(o);
    if (!e.ok()) {
      std::fprintf(stderr, "%s\n", e.status().message().c_str());
      return 1;
    }
    engine = std::move(e).value();
    emb = std::make_shared<EngineEmbedder>(*engine);
  } else {
    return usage();
  }

  int positives = 0;
  for (const Pair& p : pairs) positives += p.same;
  std::printf("embedder: %s; pairs: %zu (%d paraphrases, %zu near misses)\n\n", emb->name().c_str(), pairs.size(),
              positives, pairs.size() - static_cast<size_t>(positives));
  std::printf("| threshold | correct hits (TP) | wrong answers (FP) | missed (FN) | correct misses (TN) | precision | recall |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|\n");
  double embed_ms = 0;
  int embeds = 0;
  for (float t : thresholds) {
    store::StoreConfig sc;
    sc.kind = store::StoreKind::kMemory;
    auto store = store::open_store(sc);
    SemanticCache cache(**store, emb, {});
    std::map<std::string, int> answer_of;
    for (const Pair& p : pairs) {
      if (answer_of.count(p.a)) continue;
      const int id = static_cast<int>(answer_of.size());
      answer_of[p.a] = id;
      auto q = cache.prepare("bench", chat(p.a));
      CachedResponse r;
      r.body = std::to_string(id);
      if (!q.ok() || !cache.insert(*q, r).ok()) {
        std::fprintf(stderr, "insert failed for '%s'\n", p.a.c_str());
        return 1;
      }
    }
    int tp = 0, fp = 0, fn = 0, tn = 0;
    for (const Pair& p : pairs) {
      auto q = cache.prepare("bench", chat(p.b));
      const auto t0 = std::chrono::steady_clock::now();
      auto hit = q.ok() ? cache.lookup(*q, t) : Result<std::optional<SemanticHit>>(q.status());
      embed_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      ++embeds;
      if (!hit.ok()) {
        std::fprintf(stderr, "lookup failed: %s\n", hit.status().message().c_str());
        return 1;
      }
      if (!hit->has_value()) {
        (p.same ? fn : tn) += 1;
      } else if (p.same && (*hit)->response.body == std::to_string(answer_of[p.a])) {
        ++tp;
      } else {
        ++fp;
      }
    }
    std::printf("| %.2f | %d | %d | %d | %d | %.3f | %.3f |\n", t, tp, fp, fn, tn,
                tp + fp ? static_cast<double>(tp) / (tp + fp) : 1.0,
                positives ? static_cast<double>(tp) / positives : 0.0);
  }
  std::printf("\nmean lookup (embed + search + fetch): %.3f ms\n", embed_ms / std::max(embeds, 1));
  return 0;
}
