#include "bench/trace.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>

#include "bench/words.h"

namespace tern::bench {

using nlohmann::json;

bool parse_session(const std::string& line, Session* out, std::string* error) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "not a JSON object";
    return false;
  }
  Session s;
  if (auto it = j.find("session_id"); it != j.end() && it->is_string()) s.id = *it;
  if (auto it = j.find("system"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return *error = "'system' must be a string", false;
    s.system = *it;
  }
  if (auto it = j.find("tools"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return *error = "'tools' must be an array", false;
    s.tools = *it;
  }
  auto turns = j.find("turns");
  if (turns == j.end() || !turns->is_array() || turns->empty())
    return *error = "'turns' must be a non-empty array", false;
  for (size_t i = 0; i < turns->size(); ++i) {
    const json& tj = (*turns)[i];
    std::string where = "turns[" + std::to_string(i) + "]";
    if (!tj.is_object()) return *error = where + " must be an object", false;
    Turn t;
    if (auto it = tj.find("user"); it != tj.end() && !it->is_null()) {
      if (!it->is_string()) return *error = where + ".user must be a string", false;
      t.user = it->get<std::string>();
    }
    if (auto it = tj.find("tool_results"); it != tj.end() && !it->is_null()) {
      if (!it->is_array()) return *error = where + ".tool_results must be an array", false;
      for (const json& r : *it) {
        if (!r.is_object() || !r.contains("tool_call_id") || !r["tool_call_id"].is_string())
          return *error = where + ".tool_results[] needs a string tool_call_id", false;
        ToolResult tr;
        tr.tool_call_id = r["tool_call_id"];
        if (r.contains("name") && r["name"].is_string()) tr.name = r["name"];
        tr.content = r.value("content", json(""));
        t.tool_results.push_back(std::move(tr));
      }
    }
    if (!t.user && t.tool_results.empty())
      return *error = where + " needs 'user' or 'tool_results'", false;
    auto ot = tj.find("output_tokens");
    if (ot == tj.end() || !ot->is_number_integer() || *ot < 1)
      return *error = where + ".output_tokens must be a positive integer", false;
    t.output_tokens = *ot;
    if (auto it = tj.find("assistant"); it != tj.end() && !it->is_null()) {
      if (!it->is_object()) return *error = where + ".assistant must be an object", false;
      t.assistant = *it;
    }
    if (auto it = tj.find("delay_ms"); it != tj.end() && it->is_number()) t.delay_ms = *it;
    s.turns.push_back(std::move(t));
  }
  *out = std::move(s);
  return true;
}

json session_to_json(const Session& s) {
  json j = {{"session_id", s.id}};
  if (!s.system.empty()) j["system"] = s.system;
  if (s.tools.is_array()) j["tools"] = s.tools;
  json turns = json::array();
  for (const Turn& t : s.turns) {
    json tj = json::object();
    if (t.user) tj["user"] = *t.user;
    if (!t.tool_results.empty()) {
      json rs = json::array();
      for (const auto& r : t.tool_results) {
        json rj = {{"tool_call_id", r.tool_call_id}, {"content", r.content}};
        if (!r.name.empty()) rj["name"] = r.name;
        rs.push_back(rj);
      }
      tj["tool_results"] = rs;
    }
    tj["output_tokens"] = t.output_tokens;
    if (t.assistant) tj["assistant"] = *t.assistant;
    if (t.delay_ms > 0) tj["delay_ms"] = t.delay_ms;
    turns.push_back(tj);
  }
  j["turns"] = turns;
  return j;
}

bool load_trace(const std::string& path, std::vector<Session>* out, std::string* error) {
  std::ifstream f(path);
  if (!f) return *error = "cannot open " + path, false;
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (line.empty() || line[0] == '#' || line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Session s;
    std::string e;
    if (!parse_session(line, &s, &e)) return *error = path + ":" + std::to_string(n) + ": " + e, false;
    if (s.id.empty()) s.id = "line" + std::to_string(n);
    out->push_back(std::move(s));
  }
  if (out->empty()) return *error = path + ": no sessions", false;
  return true;
}

void append_turn_input(const Turn& t, json* messages) {
  for (const auto& r : t.tool_results) {
    json m = {{"role", "tool"}, {"tool_call_id", r.tool_call_id},
              {"content", r.content.is_string() ? r.content.get<std::string>() : r.content.dump()}};
    if (!r.name.empty()) m["name"] = r.name;
    messages->push_back(std::move(m));
  }
  if (t.user) messages->push_back({{"role", "user"}, {"content", *t.user}});
}

json assistant_message(const Turn& t, const std::string& generated) {
  if (t.assistant) {
    json m = *t.assistant;
    m["role"] = "assistant";
    if (!m.contains("content")) m["content"] = nullptr;
    return m;
  }
  return {{"role", "assistant"}, {"content", generated}};
}

// ---- synthetic traces ------------------------------------------------------

namespace {

struct ToolSpec {
  const char* name;
  const char* description;
  const char* arg;  // one string argument
};
constexpr ToolSpec kTools[] = {
    {"search_code", "Search the repository for a regular expression and return matching lines.", "pattern"},
    {"read_file", "Read a file of the repository and return its lines.", "path"},
    {"run_tests", "Run the test suite, or one test, and return failures.", "filter"},
    {"web_search", "Search the web and return the top results with snippets.", "query"},
    {"list_dir", "List the entries of a directory.", "path"},
    {"edit_file", "Replace a range of lines of a file.", "path"},
    {"get_weather", "Current weather for a city.", "city"},
    {"sql_query", "Run a read-only SQL query and return rows.", "query"},
};

json tool_definition(const ToolSpec& t) {
  json props = json::object();
  props[t.arg] = {{"type", "string"}, {"description", std::string("the ") + t.arg}};
  json params = {{"type", "object"}, {"properties", props}, {"required", json::array({t.arg})}};
  json fn = {{"name", t.name}, {"description", t.description}, {"parameters", params}};
  return {{"type", "function"}, {"function", fn}};
}

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  int around(int n) {  // n +- 50%, at least 1
    if (n <= 1) return 1;
    std::uniform_int_distribution<int> d(n - n / 2, n + n / 2);
    return std::max(1, d(rng_));
  }
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::string words(int n) { return random_words(rng_, n); }
  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
};

json tool_output(Gen& g, const ToolSpec& t, int items) {
  json rows = json::array();
  for (int i = 0; i < items; ++i)
    rows.push_back({{"id", i}, {"path", "src/" + g.words(1) + "/" + g.words(1) + ".cpp"},
                    {"line", g.uniform(1, 2000)}, {"text", g.words(g.uniform(6, 16))}});
  return {{"tool", t.name}, {"ok", true}, {"results", rows}, {"elapsed_ms", g.uniform(5, 900)}};
}

}  // namespace

std::vector<Session> generate_trace(const GenTraceOptions& o) {
  Gen g(o.seed);
  int ntools = std::clamp(o.tools, 0, static_cast<int>(std::size(kTools)));
  json tools = json::array();
  for (int i = 0; i < ntools; ++i) tools.push_back(tool_definition(kTools[i]));
  std::string system = "You are an autonomous software agent. Use the tools to complete the task, then answer. " +
                       g.words(std::max(0, o.system_words - 16));
  std::vector<Session> out;
  for (int s = 0; s < o.sessions; ++s) {
    Session ss;
    char id[32];
    std::snprintf(id, sizeof id, "s%04d", s);
    ss.id = id;
    ss.system = system;
    if (ntools > 0) ss.tools = tools;
    int nturns = g.uniform(std::max(1, o.min_turns), std::max(o.min_turns, o.max_turns));
    std::string prev_call;
    const ToolSpec* prev_tool = nullptr;
    for (int t = 0; t < nturns; ++t) {
      Turn turn;
      if (t == 0) {
        turn.user = "Task: " + g.words(g.around(o.user_words));
      } else if (prev_tool) {
        turn.tool_results.push_back({prev_call, prev_tool->name, tool_output(g, *prev_tool, g.around(o.tool_result_items))});
        turn.delay_ms = o.delay_ms;
      } else {
        turn.user = "Continue: " + g.words(g.around(o.user_words / 2));
      }
      bool last = t == nturns - 1;
      if (!last && ntools > 0) {
        prev_tool = &kTools[g.uniform(0, ntools - 1)];
        prev_call = "call_" + std::to_string(s) + "_" + std::to_string(t);
        json args = {{prev_tool->arg, g.words(g.uniform(1, 4))}};
        turn.assistant = json{{"content", nullptr},
                              {"tool_calls", {{{"id", prev_call}, {"type", "function"},
                                               {"function", {{"name", prev_tool->name}, {"arguments", args.dump()}}}}}}};
        turn.output_tokens = g.around(o.tool_call_tokens);
      } else {
        turn.output_tokens = g.around(o.answer_tokens);
        prev_tool = nullptr;
      }
      ss.turns.push_back(std::move(turn));
    }
    out.push_back(std::move(ss));
  }
  return out;
}

}  // namespace tern::bench
