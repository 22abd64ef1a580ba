#include "compress/message_stages.h"

#include "compress/compressor.h"
#include "toon/stage.h"

namespace tern::compress {

namespace {
bool is_instruction_role(const std::string& r) { return r == "system" || r == "developer"; }
}  // namespace

Status apply_message_stages(TokenScorer& scorer, const MessageStages& st, toon::Json& messages, StageReport* report) {
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

std::string parse_message_stages(const nlohmann::json& tern, MessageStages& st) {
  if (!tern.is_object()) return "'tern' must be an object";
  for (auto it = tern.begin(); it != tern.end(); ++it)
    if (it.key() != "toon" && it.key() != "compress") return "'tern." + it.key() + "' is not a known field (toon, compress)";
  if (auto t = tern.find("toon"); t != tern.end()) {
    if (!t->is_boolean()) return "'tern.toon' must be a boolean";
    st.toon = t->get<bool>();
  }
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
    } else if (k == "force_tokens") {
      if (!v.is_array()) return "'tern.compress.force_tokens' must be an array of strings";
      st.force.clear();
      for (const auto& s : v) {
        if (!s.is_string()) return "'tern.compress.force_tokens' must be an array of strings";
        st.force.push_back(s.get<std::string>());
      }
    } else {
      return "'tern.compress." + k + "' is not a known field (ratio, target_tokens, force_tokens)";
    }
  }
  return "";
}

}  // namespace tern::compress
