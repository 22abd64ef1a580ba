#include "bench/workload.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "bench/words.h"

namespace tern::bench {

using nlohmann::json;

int Dist::sample(std::mt19937_64& rng) const {
  double x = a;
  if (kind == kUniform) x = std::uniform_real_distribution<double>(a, b + 1)(rng);
  else if (kind == kNormal) x = std::normal_distribution<double>(a, b)(rng);
  return std::max(1, static_cast<int>(std::floor(x)));
}

std::string Dist::str() const {
  auto n = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return std::string(b);
  };
  if (kind == kUniform) return "uniform:" + n(a) + "," + n(b);
  if (kind == kNormal) return "normal:" + n(a) + "," + n(b);
  return n(a);
}

bool parse_dist(const std::string& text, Dist* out, std::string* error) {
  Dist d;
  std::string args = text;
  if (auto c = text.find(':'); c != std::string::npos) {
    std::string kind = text.substr(0, c);
    args = text.substr(c + 1);
    if (kind == "uniform") d.kind = Dist::kUniform;
    else if (kind == "normal") d.kind = Dist::kNormal;
    else if (kind == "fixed") d.kind = Dist::kFixed;
    else return *error = "unknown distribution '" + kind + "' (fixed, uniform, normal)", false;
  }
  char* end = nullptr;
  d.a = std::strtod(args.c_str(), &end);
  if (end == args.c_str() || d.a < 1) return *error = "bad length '" + text + "'", false;
  if (d.kind != Dist::kFixed) {
    if (*end != ',') return *error = "'" + text + "' needs two numbers: kind:a,b", false;
    const char* s = end + 1;
    d.b = std::strtod(s, &end);
    if (end == s || (d.kind == Dist::kUniform && d.b < d.a) || d.b < 0)
      return *error = "bad length '" + text + "'", false;
  }
  if (*end) return *error = "trailing characters in '" + text + "'", false;
  *out = d;
  return true;
}

std::string build_body(const BodyOptions& o, const Prompt& p, const json& tools) {
  json b = json::object();
  if (!o.model.empty()) b["model"] = o.model;
  if (o.chat) {
    b["messages"] = p.messages;
    if (tools.is_array() && !tools.empty()) b["tools"] = tools;
  } else {
    b["prompt"] = p.text;
  }
  b["max_tokens"] = p.max_tokens;
  if (o.ignore_eos) b["ignore_eos"] = true;
  if (o.has_temperature) b["temperature"] = o.temperature;
  if (o.stream) {
    b["stream"] = true;
    b["stream_options"] = {{"include_usage", true}};
  }
  for (const auto& [k, v] : o.extra.items()) b[k] = v;
  return b.dump(-1, ' ', false, json::error_handler_t::replace);
}

Workload Workload::synthetic(Dist input, Dist output, bool chat) {
  Workload w;
  w.kind_ = kSynthetic;
  w.input_ = input;
  w.output_ = output;
  w.chat_ = chat;
  w.source_ = "synthetic input " + input.str() + " words, output " + output.str() + " tokens";
  return w;
}

bool Workload::from_file(const std::string& path, Dist output, bool chat, Workload* out, std::string* error) {
  std::ifstream f(path);
  if (!f) return *error = "cannot open " + path, false;
  Workload w;
  w.kind_ = kFile;
  w.output_ = output;
  w.chat_ = chat;
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    Prompt p;
    int max = 0;
    if (line[0] == '{') {
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object())
        return *error = path + ":" + std::to_string(n) + ": invalid JSON", false;
      if (j.contains("messages") && j["messages"].is_array()) {
        if (!chat) return *error = path + ":" + std::to_string(n) + ": messages need --endpoint chat", false;
        p.messages = j["messages"];
      } else if (j.contains("prompt") && j["prompt"].is_string()) {
        p.text = j["prompt"];
      } else {
        return *error = path + ":" + std::to_string(n) + ": needs \"prompt\" or \"messages\"", false;
      }
      for (const char* k : {"max_tokens", "output_tokens"})
        if (j.contains(k) && j[k].is_number_integer()) max = j[k];
    } else {
      p.text = line;
    }
    if (chat && !p.messages.is_array()) p.messages = json::array({{{"role", "user"}, {"content", p.text}}});
    w.prompts_.push_back(std::move(p));
    w.fixed_max_.push_back(max);
  }
  if (w.prompts_.empty()) return *error = path + ": no prompts", false;
  w.source_ = "prompt file " + path + " (" + std::to_string(w.prompts_.size()) + " prompts)";
  *out = std::move(w);
  return true;
}

Workload Workload::trace(std::vector<Session> sessions) {
  Workload w;
  w.kind_ = kTrace;
  size_t turns = 0;
  for (const auto& s : sessions) turns += s.turns.size();
  w.source_ = "agent trace (" + std::to_string(sessions.size()) + " sessions, " + std::to_string(turns) + " turns)";
  w.sessions_ = std::move(sessions);
  return w;
}

Job Workload::next(std::mt19937_64& rng) {
  Job j;
  switch (kind_) {
    case kTrace:
      j.session = &sessions_[cursor_++ % sessions_.size()];
      break;
    case kFile: {
      size_t i = cursor_++ % prompts_.size();
      j.prompt = prompts_[i];
      j.prompt.max_tokens = fixed_max_[i] > 0 ? fixed_max_[i] : output_.sample(rng);
      break;
    }
    case kSynthetic: {
      // A serial number first keeps prompts distinct, so no request reuses
      // another's cached prefix by accident.
      std::string text = std::to_string(++serial_) + " " + random_words(rng, input_.sample(rng));
      j.prompt.max_tokens = output_.sample(rng);
      if (chat_) j.prompt.messages = json::array({{{"role", "user"}, {"content", text}}});
      else j.prompt.text = std::move(text);
      break;
    }
  }
  return j;
}

std::string Workload::describe() const { return source_; }

}  // namespace tern::bench
