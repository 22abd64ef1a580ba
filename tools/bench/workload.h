// What the load generator sends: request sources (synthetic token-length
// distributions, a prompt file, agent-trace sessions) and the JSON bodies
// built from them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "bench/trace.h"

namespace tern::bench {

// "128" (fixed), "uniform:64,256", "normal:128,32" (clamped to >= 1).
struct Dist {
  enum Kind { kFixed, kUniform, kNormal } kind = kFixed;
  double a = 128, b = 0;
  int sample(std::mt19937_64& rng) const;
  std::string str() const;
};
bool parse_dist(const std::string& text, Dist* out, std::string* error);

struct BodyOptions {
  bool chat = true;  // /v1/chat/completions, else /v1/completions
  std::string model;
  bool stream = true;
  bool ignore_eos = true;
  bool has_temperature = false;
  double temperature = 0;
  nlohmann::json extra = nlohmann::json::object();  // merged last (vendor knobs)
};

// A single request's input: chat messages, or a completions prompt.
struct Prompt {
  nlohmann::json messages;  // array for chat
  std::string text;         // for completions
  int max_tokens = 128;
};

std::string build_body(const BodyOptions& o, const Prompt& p, const nlohmann::json& tools);

// A unit of work for a worker: one request, or a whole session of turns.
struct Job {
  Prompt prompt;
  const Session* session = nullptr;
};

class Workload {
 public:
  // Synthetic: `input` words of filler per prompt (unique prefix per request),
  // `output` tokens per request.
  static Workload synthetic(Dist input, Dist output, bool chat);
  // One prompt per line: raw text, or JSON {"prompt"|"messages", "max_tokens"}.
  static bool from_file(const std::string& path, Dist output, bool chat, Workload* out, std::string* error);
  static Workload trace(std::vector<Session> sessions);

  Job next(std::mt19937_64& rng);
  bool is_trace() const { return !sessions_.empty(); }
  std::string describe() const;

 private:
  enum { kSynthetic, kFile, kTrace } kind_ = kSynthetic;
  Dist input_, output_;
  bool chat_ = true;
  std::vector<Prompt> prompts_;
  std::vector<int> fixed_max_;  // per prompt from the file, 0: draw from output_
  std::vector<Session> sessions_;
  size_t cursor_ = 0;
  uint64_t serial_ = 0;
  std::string source_;
};

}  // namespace tern::bench
