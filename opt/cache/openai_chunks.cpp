// cache/openai_chunks.cpp — converts an OpenAI response to its streamed
// chunks and back, so a cache entry can answer both streamed and
// non-streamed requests whichever form the upstream produced.
//
// chunks_from_response() emits, per choice, one chunk with the whole message
// (role, content, tool_calls, logprobs), then one chunk with its
// finish_reason, then — when the response has usage — a final chunk with
// "choices": [] and the usage (OpenAI's include_usage form; replay drops it
// unless the client asked for stream_options.include_usage).
#include <map>

#include "cache/exact_cache.h"

namespace tern::cache {
namespace {

Json chunk_header(const Json& response, const char* object) {
  Json c = Json::object();
  c["id"] = response.value("id", "");
  c["object"] = object;
  c["created"] = response.value("created", 0);
  c["model"] = response.value("model", "");
  if (response.contains("system_fingerprint")) c["system_fingerprint"] = response["system_fingerprint"];
  return c;
}

// The concatenation of two logprobs objects ({"content": [...]}, or the
// completions form {"tokens": [...], "token_logprobs": [...], ...}).
void append_logprobs(Json& into, const Json& more) {
  if (more.is_null()) return;
  if (into.is_null()) {
    into = more;
    return;
  }
  for (auto it = more.begin(); it != more.end(); ++it) {
    if (it->is_array() && into.contains(it.key()) && into[it.key()].is_array()) {
      for (const Json& e : *it) into[it.key()].push_back(e);
    } else if (!into.contains(it.key())) {
      into[it.key()] = *it;
    }
  }
}

Result<std::vector<std::string>> chunks_from_response_impl(const Json& response) {
  if (!response.is_object() || !response.contains("choices") || !response["choices"].is_array())
    return InvalidArgument("response has no choices array");
  const std::string object = response.value("object", "");
  const bool chat = object == "chat.completion";
  if (!chat && object != "text_completion")
    return InvalidArgument("response object '" + object + "' is neither chat.completion nor text_completion");
  const char* chunk_object = chat ? "chat.completion.chunk" : "text_completion";
  std::vector<std::string> out;
  for (const Json& choice : response["choices"]) {
    if (!choice.is_object()) return InvalidArgument("a choice is not an object");
    const Json index = choice.value("index", 0);
    Json c = chunk_header(response, chunk_object);
    Json ch = Json::object();
    ch["index"] = index;
    if (chat) {
      Json delta = Json::object();
      const Json msg = choice.value("message", Json::object());
      delta["role"] = msg.value("role", "assistant");
      if (msg.contains("content") && !msg["content"].is_null()) delta["content"] = msg["content"];
      if (msg.contains("refusal") && !msg["refusal"].is_null()) delta["refusal"] = msg["refusal"];
      if (msg.contains("tool_calls") && msg["tool_calls"].is_array()) {
        Json calls = Json::array();
        int k = 0;
        for (Json call : msg["tool_calls"]) {
          call["index"] = k++;
          calls.push_back(std::move(call));
        }
        delta["tool_calls"] = std::move(calls);
      }
      ch["delta"] = std::move(delta);
    } else {
      ch["text"] = choice.value("text", "");
    }
    ch["logprobs"] = choice.contains("logprobs") ? choice["logprobs"] : Json(nullptr);
    ch["finish_reason"] = nullptr;
    c["choices"] = Json::array({ch});
    out.push_back(c.dump());

    Json end = chunk_header(response, chunk_object);
    Json ech = Json::object();
    ech["index"] = index;
    if (chat) ech["delta"] = Json::object();
    else ech["text"] = "";
    ech["logprobs"] = nullptr;
    ech["finish_reason"] = choice.contains("finish_reason") ? choice["finish_reason"] : Json("stop");
    end["choices"] = Json::array({ech});
    out.push_back(end.dump());
  }
  if (response.contains("usage") && response["usage"].is_object()) {
    Json u = chunk_header(response, chunk_object);
    u["choices"] = Json::array();
    u["usage"] = response["usage"];
    out.push_back(u.dump());
  }
  return out;
}

Result<Json> response_from_chunks_impl(const std::vector<std::string>& chunks) {
  if (chunks.empty()) return InvalidArgument("no chunks");
  Json first;
  bool chat = false;
  struct Call {
    Json id, type;
    std::string name, arguments;
    bool has_name = false;
  };
  struct Choice {
    std::string role = "assistant", content, refusal;
    bool has_content = false, has_refusal = false;
    std::map<int, Call> calls;
    Json logprobs;
    Json finish_reason;
  };
  std::map<int, Choice> choices;
  Json usage;
  for (const std::string& text : chunks) {
    Json c = Json::parse(text, nullptr, false);
    if (!c.is_object()) return InvalidArgument("a chunk is not a JSON object");
    if (first.is_null()) {
      first = c;
      const std::string object = c.value("object", "");
      chat = object == "chat.completion.chunk";
      if (!chat && object != "text_completion")
        return InvalidArgument("chunk object '" + object + "' is neither chat.completion.chunk nor text_completion");
    }
    if (c.contains("usage") && c["usage"].is_object()) usage = c["usage"];
    if (!c.contains("choices") || !c["choices"].is_array()) continue;
    for (const Json& ch : c["choices"]) {
      if (!ch.is_object()) return InvalidArgument("a chunk choice is not an object");
      Choice& out = choices[ch.value("index", 0)];
      if (chat && ch.contains("delta") && ch["delta"].is_object()) {
        const Json& d = ch["delta"];
        if (d.contains("role") && d["role"].is_string()) out.role = d["role"];
        if (d.contains("content") && d["content"].is_string()) {
          out.content += d["content"].get<std::string>();
          out.has_content = true;
        }
        if (d.contains("refusal") && d["refusal"].is_string()) {
          out.refusal += d["refusal"].get<std::string>();
          out.has_refusal = true;
        }
        if (d.contains("tool_calls") && d["tool_calls"].is_array()) {
          for (const Json& tc : d["tool_calls"]) {
            Call& call = out.calls[tc.value("index", 0)];
            if (tc.contains("id")) call.id = tc["id"];
            if (tc.contains("type")) call.type = tc["type"];
            if (tc.contains("function") && tc["function"].is_object()) {
              const Json& f = tc["function"];
              if (f.contains("name") && f["name"].is_string()) {
                call.name += f["name"].get<std::string>();
                call.has_name = true;
              }
              if (f.contains("arguments") && f["arguments"].is_string()) call.arguments += f["arguments"].get<std::string>();
            }
          }
        }
      } else if (!chat && ch.contains("text") && ch["text"].is_string()) {
        out.content += ch["text"].get<std::string>();
        out.has_content = true;
      }
      if (ch.contains("logprobs")) append_logprobs(out.logprobs, ch["logprobs"]);
      if (ch.contains("finish_reason") && !ch["finish_reason"].is_null()) out.finish_reason = ch["finish_reason"];
    }
  }
  Json r = Json::object();
  r["id"] = first.value("id", "");
  r["object"] = chat ? "chat.completion" : "text_completion";
  r["created"] = first.value("created", 0);
  r["model"] = first.value("model", "");
  if (first.contains("system_fingerprint")) r["system_fingerprint"] = first["system_fingerprint"];
  r["choices"] = Json::array();
  for (auto& [index, ch] : choices) {
    Json o = Json::object();
    o["index"] = index;
    if (chat) {
      Json msg = Json::object();
      msg["role"] = ch.role;
      msg["content"] = ch.has_content ? Json(ch.content) : Json(nullptr);
      if (ch.has_refusal) msg["refusal"] = ch.refusal;
      if (!ch.calls.empty()) {
        Json calls = Json::array();
        for (auto& [k, call] : ch.calls) {
          Json cj = Json::object();
          cj["id"] = call.id.is_null() ? Json("") : call.id;
          cj["type"] = call.type.is_null() ? Json("function") : call.type;
          cj["function"] = {{"name", call.name}, {"arguments", call.arguments}};
          calls.push_back(std::move(cj));
        }
        msg["tool_calls"] = std::move(calls);
      }
      o["message"] = std::move(msg);
    } else {
      o["text"] = ch.content;
    }
    o["logprobs"] = ch.logprobs;
    o["finish_reason"] = ch.finish_reason.is_null() ? Json("stop") : ch.finish_reason;
    r["choices"].push_back(std::move(o));
  }
  if (!usage.is_null()) r["usage"] = usage;
  return r;
}

}  // namespace

// nlohmann throws on type mismatches deep inside malformed input; those
// become InvalidArgument here.
Result<std::vector<std::string>> chunks_from_response(const Json& response) {
  try {
    return chunks_from_response_impl(response);
  } catch (const Json::exception& e) {
    return InvalidArgument(std::string("malformed response: ") + e.what());
  }
}

Result<Json> response_from_chunks(const std::vector<std::string>& chunks) {
  try {
    return response_from_chunks_impl(chunks);
  } catch (const Json::exception& e) {
    return InvalidArgument(std::string("malformed chunk: ") + e.what());
  }
}

}  // namespace tern::cache
