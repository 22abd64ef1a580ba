// Agent traces: multi-turn sessions replayed against a chat endpoint with the
// conversation growing turn by turn (docs/benchmarks.md, "Trace format").
//
// One session per JSONL line:
//   {"session_id": "s0",
//    "system": "You are a coding agent ...",            // optional
//    "tools": [{"type": "function", "function": {...}}], // optional, sent with every turn
//    "turns": [
//      {"user": "Fix the failing test", "output_tokens": 48,
//       "assistant": {"content": null, "tool_calls": [{"id": "call_0", "type": "function",
//                     "function": {"name": "run_tests", "arguments": "{}"}}]}},
//      {"tool_results": [{"tool_call_id": "call_0", "content": {"failed": 1}}],
//       "output_tokens": 200, "delay_ms": 350}]}
//
// A turn appends its user message and/or tool results (JSON content is sent
// serialised), asks for exactly `output_tokens` tokens (max_tokens +
// ignore_eos), then appends `assistant` when recorded — so tool-call ids stay
// consistent and the prompt is the same on every server — or else the text
// the server generated. `delay_ms` is waited before the turn (tool or user
// think time).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tern::bench {

struct ToolResult {
  std::string tool_call_id;
  std::string name;         // optional
  nlohmann::json content;   // string or any JSON value
};

struct Turn {
  std::optional<std::string> user;
  std::vector<ToolResult> tool_results;
  int output_tokens = 0;
  std::optional<nlohmann::json> assistant;  // recorded assistant message (content / tool_calls)
  double delay_ms = 0;
};

struct Session {
  std::string id;
  std::string system;
  nlohmann::json tools;  // array, or null for none
  std::vector<Turn> turns;
};

// One line -> session; false and `error` set on a malformed line.
bool parse_session(const std::string& line, Session* out, std::string* error);
nlohmann::json session_to_json(const Session& s);
// Reads a JSONL file (blank lines and lines starting with '#' skipped).
bool load_trace(const std::string& path, std::vector<Session>* out, std::string* error);

// The messages a turn appends before its request, in OpenAI chat form.
void append_turn_input(const Turn& t, nlohmann::json* messages);
// The assistant message appended after a turn: the recorded one, else `generated`.
nlohmann::json assistant_message(const Turn& t, const std::string& generated);

struct GenTraceOptions {
  int sessions = 16;
  int min_turns = 2, max_turns = 6;
  int system_words = 300;     // shared by every session (a cacheable prefix)
  int tools = 4;              // tool definitions, shared
  int user_words = 40;        // first user message, +-50%
  int tool_result_items = 6;  // entries per tool result, +-50%
  int tool_call_tokens = 32;  // output of tool-calling turns
  int answer_tokens = 128;    // output of the final turn
  double delay_ms = 0;        // before tool-result turns
  uint64_t seed = 1;
};
std::vector<Session> generate_trace(const GenTraceOptions& o);

}  // namespace tern::bench
