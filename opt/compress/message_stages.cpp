#include "compress/message_stages.h"

#include "compress/compressor.h"

#include <algorithm>
#include <type_traits>
#include "toon/stage.h"

namespace tern::compress {

namespace {
bool is_instruction_role(const std::string& r) { return r == "system" || r == "developer"; }
}  // namespace

Status apply_message_stages(TokenScorer& scorer, const MessageStages& st, toon::Json& messages, StageReport* report,
                            const compact::Summarizer& summarize, compact::StateStore* states) {
  if (!messages.is_array()) return InvalidArgument("messages must be a JSON array");
  auto count = [&](std::string_view s) { return scorer.tokenize(s).size(); };
  auto content_tokens = [&](const toon::Json& ms) {
    int64_t n = 0;
    for (const auto& m : ms)
      if (m.is_object() && m.contains("content") && m["content"].is_string())
        n += static_cast<int64_t>(count(m["content"].get<std::string>()));
    return n;
  };
  StageReport rep;
  rep.tokens_before = content_tokens(messages);
  toon::Json out = messages;
  if (st.compact) {
    if (!summarize) return InvalidArgument("'tern.compact' needs a model to write summaries");
    compact::CompactOptions co;
    co.context_tokens = st.context_tokens > 0 ? st.context_tokens : scorer.max_tokens();
    co.trigger = st.trigger;
    co.target = st.target;
    co.keep_recent = st.keep_recent;
    co.tool_output_tokens = st.tool_output_tokens;
    compact::Compactor compactor(co, count, summarize);
    TERN_RETURN_IF_ERROR(compactor.validate());
    static_assert(std::is_same_v<compact::Json, toon::Json>);  // both ordered: no conversion
    compact::CompactionState state = states ? states->find(out) : compact::CompactionState{};
    TERN_ASSIGN_OR_RETURN(compact::CompactResult cr, compactor.compact(out, &state));
    if (states) states->put(std::move(state));
    if (cr.compacted || cr.reused) out = std::move(cr.messages);
    rep.compacted = cr.compacted;
    rep.summarized_messages = cr.summarized_messages;
    rep.shortened_tool_outputs = cr.shortened_tool_outputs;
  }
  toon::StageStats ts;
  if (st.toon) {
    TERN_RETURN_IF_ERROR(toon::rewrite_messages(out, count, {}, &ts));
    rep.toon_rewrites = ts.rewritten;
  }
  if (st.compress) {
    size_t last_user = out.size();
    for (size_t i = 0; i < out.size(); ++i)
      if (out[i].is_object() && out[i].value("role", "") == "user") last_user = i;
    std::vector<Segment> segs;
    std::vector<size_t> where;  // message index of each segment
    for (size_t i = 0; i < out.size(); ++i) {
      const auto& m = out[i];
      if (!m.is_object() || !m.contains("content") || !m["content"].is_string()) continue;
      Role r = Role::kContext;
      if (is_instruction_role(m.value("role", ""))) r = Role::kInstruction;
      if (i == last_user) r = Role::kQuestion;
      segs.push_back({m["content"].get<std::string>(), r});
      where.push_back(i);
    }
    CompressOptions o;
    o.ratio = st.ratio;
    o.target_tokens = st.target_tokens;
    o.protect.force = st.force;
    o.coarse = st.coarse;
    o.fine = st.fine;
    o.iterative = st.iterative;
    for (std::string& r : ts.replacements) o.protect.force.push_back(std::move(r));  // TOON blocks stay whole
    TERN_ASSIGN_OR_RETURN(CompressResult cr, Compressor(scorer).compress(segs, o));
    for (size_t k = 0; k < where.size(); ++k) out[where[k]]["content"] = cr.segments[k].text;
    rep.compress_ms = cr.ms;
  }
  rep.tokens_after = content_tokens(out);
  messages = std::move(out);
  if (report) *report = rep;
  return Status::Ok();
}

namespace {

// "compact": true | {context_tokens, trigger, target, keep_recent, tool_output_tokens}
std::string parse_compact(const nlohmann::json& c, MessageStages& st) {
  if (c.is_null()) return "";
  if (c.is_boolean()) {
    st.compact = c.get<bool>();
    return "";
  }
  if (!c.is_object()) return "'tern.compact' must be a boolean or an object";
  st.compact = true;
  for (auto it = c.begin(); it != c.end(); ++it) {
    const std::string& k = it.key();
    const auto& v = it.value();
    const std::string name = "'tern.compact." + k + "'";
    if (k == "context_tokens" || k == "tool_output_tokens" || k == "keep_recent") {
      if (!v.is_number_integer() || v.get<int64_t>() < (k == "keep_recent" ? 1 : 0) || v.get<int64_t>() > (int64_t{1} << 40))
        return name + (k == "keep_recent" ? " must be a positive integer" : " must be a non-negative integer");
      if (k == "context_tokens") st.context_tokens = v.get<int64_t>();
      else if (k == "tool_output_tokens") st.tool_output_tokens = v.get<int64_t>();
      else st.keep_recent = static_cast<int32_t>(std::min<int64_t>(v.get<int64_t>(), 1 << 20));
    } else if (k == "trigger" || k == "target") {
      if (!v.is_number() || !(v.get<double>() > 0 && v.get<double>() <= 1)) return name + " must be a number in (0, 1]";
      (k == "trigger" ? st.trigger : st.target) = v.get<double>();
    } else {
      return name + " is not a known field (context_tokens, trigger, target, keep_recent, tool_output_tokens)";
    }
  }
  if (!(st.target < st.trigger)) return "'tern.compact.target' must be below 'tern.compact.trigger'";
  return "";
}

}  // namespace

std::string parse_message_stages(const nlohmann::json& tern, MessageStages& st) {
  if (!tern.is_object()) return "'tern' must be an object";
  for (auto it = tern.begin(); it != tern.end(); ++it)
    if (it.key() != "toon" && it.key() != "compress" && it.key() != "compact")
      return "'tern." + it.key() + "' is not a known field (toon, compress, compact)";
  if (auto t = tern.find("toon"); t != tern.end()) {
    if (!t->is_boolean()) return "'tern.toon' must be a boolean";
    st.toon = t->get<bool>();
  }
  if (auto k = tern.find("compact"); k != tern.end())
    if (std::string err = parse_compact(*k, st); !err.empty()) return err;
  auto c = tern.find("compress");
  if (c == tern.end() || c->is_null()) return "";
  if (c->is_boolean()) {
    st.compress = c->get<bool>();
    return "";
  }
  if (!c->is_object()) return "'tern.compress' must be a boolean or an object";
  st.compress = true;
  for (auto it = c->begin(); it != c->end(); ++it) {
    const std::string& k = it.key();
    const auto& v = it.value();
    if (k == "ratio") {
      if (!v.is_number() || !(v.get<double>() >= 1 && v.get<double>() <= 1000))
        return "'tern.compress.ratio' must be between 1 and 1000";
      st.ratio = v.get<double>();
    } else if (k == "target_tokens") {
      if (!v.is_number_integer() || v.get<int64_t>() < 0) return "'tern.compress.target_tokens' must be a non-negative integer";
      st.target_tokens = v.get<int64_t>();
    } else if (k == "iterative") {
      if (!v.is_boolean()) return "'tern.compress.iterative' must be a boolean";
      st.iterative = v.get<bool>();
    } else if (k == "force_tokens") {
      if (!v.is_array()) return "'tern.compress.force_tokens' must be an array of strings";
      st.force.clear();
      for (const auto& s : v) {
        if (!s.is_string()) return "'tern.compress.force_tokens' must be an array of strings";
        st.force.push_back(s.get<std::string>());
      }
    } else {
      return "'tern.compress." + k + "' is not a known field (ratio, target_tokens, force_tokens, iterative)";
    }
  }
  return "";
}

}  // namespace tern::compress
