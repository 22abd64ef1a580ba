#include "route/router.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cctype>

namespace tern::opt {

using json = nlohmann::json;

Result<std::shared_ptr<const Pattern>> Pattern::compile(const std::string& pattern) {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF, &err,
                                   &off, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    return InvalidArgument("bad pattern '" + pattern + "' at offset " + std::to_string(off) + ": " +
                           reinterpret_cast<const char*>(buf));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is unavailable
  std::shared_ptr<Pattern> p(new Pattern());
  p->source_ = pattern;
  p->code_ = code;
  return std::shared_ptr<const Pattern>(std::move(p));
}

Pattern::~Pattern() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

bool Pattern::matches(const std::string& text) const {
  auto* code = static_cast<pcre2_code*>(code_);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  // Invalid UTF-8 in the subject is an error, not a match.
  int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, md, nullptr);
  pcre2_match_data_free(md);
  return rc >= 0;
}

namespace {

std::string content_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array())
    for (const auto& p : content)
      if (p.is_object() && p.contains("text") && p["text"].is_string()) out += p["text"].get<std::string>();
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

RequestFeatures request_features(const json& body, const std::vector<std::string>& header_tags) {
  RequestFeatures f;
  f.tags = header_tags;
  if (!body.is_object()) return f;
  if (auto m = body.find("metadata"); m != body.end() && m->is_object()) {
    if (auto t = m->find("tags"); t != m->end() && t->is_array())
      for (const auto& x : *t)
        if (x.is_string()) f.tags.push_back(x.get<std::string>());
  }
  if (auto t = body.find("tools"); t != body.end() && t->is_array() && !t->empty()) f.has_tools = true;
  if (auto t = body.find("functions"); t != body.end() && t->is_array() && !t->empty()) f.has_tools = true;
  if (auto m = body.find("messages"); m != body.end() && m->is_array()) {
    for (const auto& msg : *m) {
      if (!msg.is_object()) continue;
      std::string role = msg.value("role", "");
      std::string text = msg.contains("content") ? content_text(msg["content"]) : "";
      if (role == "tool" || role == "function" || msg.contains("tool_calls")) f.has_tools = true;
      if (role == "assistant") f.multi_turn = true;
      if (role == "user") {
        ++f.user_turns;
        f.last_user = text;
      }
      if (!f.text.empty()) f.text += '\n';
      f.text += text;
    }
    if (f.user_turns > 1) f.multi_turn = true;
  } else if (auto p = body.find("prompt"); p != body.end()) {
    f.text = p->is_string() ? p->get<std::string>() : content_text(*p);
    f.last_user = f.text;
    f.user_turns = 1;
  }
  f.prompt_chars = f.text.size();
  return f;
}

double Classifier::score(const std::string& text) const {
  std::string t = lower(text);
  double z = bias;
  for (const auto& [word, w] : weights) {
    if (word.empty()) continue;
    size_t n = 0;
    for (size_t pos = t.find(word); pos != std::string::npos; pos = t.find(word, pos + word.size())) ++n;
    z += w * static_cast<double>(n);
  }
  return 1.0 / (1.0 + std::exp(-z));
}

bool Rule::matches(const RequestFeatures& f, const Classifier& c) const {
  if (min_prompt_chars && f.prompt_chars < *min_prompt_chars) return false;
  if (max_prompt_chars && f.prompt_chars > *max_prompt_chars) return false;
  if (tools && f.has_tools != *tools) return false;
  if (!tags_any.empty()) {
    bool any = std::any_of(tags_any.begin(), tags_any.end(), [&](const std::string& t) {
      return std::find(f.tags.begin(), f.tags.end(), t) != f.tags.end();
    });
    if (!any) return false;
  }
  if (pattern && !pattern->matches(f.text)) return false;
  if (min_score && c.score(f.text) < *min_score) return false;
  return true;
}

Router::Router(std::vector<Rule> rules, std::vector<std::string> default_targets, Classifier classifier)
    : rules_(std::move(rules)), default_(std::move(default_targets)), classifier_(std::move(classifier)) {}

RoutePlan Router::plan(const RequestFeatures& f) const {
  for (size_t i = 0; i < rules_.size(); ++i)
    if (rules_[i].matches(f, classifier_)) return {rules_[i].targets, static_cast<int>(i)};
  return {default_, -1};
}

const char* escalation_reason_name(EscalationReason r) {
  switch (r) {
    case EscalationReason::kNone: return "none";
    case EscalationReason::kLowConfidence: return "low_confidence";
    case EscalationReason::kInvalidJson: return "invalid_json";
    case EscalationReason::kSchema: return "schema";
    case EscalationReason::kRefusal: return "refusal";
    case EscalationReason::kError: return "error";
  }
  return "none";
}

double mean_logprob(const std::vector<float>& lp) {
  if (lp.empty()) return 0;
  double s = 0;
  for (float x : lp) s += x;
  return s / static_cast<double>(lp.size());
}

namespace {

// The JSON inside an answer: the whole text, or a ```json fenced block.
std::string json_text_of(const std::string& text) {
  size_t fence = text.find("```");
  if (fence == std::string::npos) return text;
  size_t start = text.find('\n', fence);
  size_t end = start == std::string::npos ? std::string::npos : text.find("```", start);
  if (end == std::string::npos) return text;
  return text.substr(start + 1, end - start - 1);
}

bool type_matches(const std::string& t, const json& v) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  if (t == "number") return v.is_number();
  if (t == "integer") return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  return false;
}

std::string validate(const json& s, const json& v, const std::string& path) {
  if (s.is_boolean()) return s.get<bool>() ? "" : path + ": not allowed";
  if (!s.is_object()) return "";
  if (auto t = s.find("type"); t != s.end()) {
    bool ok = false;
    if (t->is_string()) ok = type_matches(t->get<std::string>(), v);
    else if (t->is_array())
      for (const auto& x : *t) ok = ok || (x.is_string() && type_matches(x.get<std::string>(), v));
    if (!ok) return path + ": expected type " + t->dump();
  }
  if (auto e = s.find("enum"); e != s.end() && e->is_array()) {
    if (std::find(e->begin(), e->end(), v) == e->end()) return path + ": not one of " + e->dump();
  }
  if (auto c = s.find("const"); c != s.end() && *c != v) return path + ": expected " + c->dump();
  if (v.is_number()) {
    double x = v.get<double>();
    if (auto m = s.find("minimum"); m != s.end() && m->is_number() && x < m->get<double>()) return path + ": below minimum";
    if (auto m = s.find("maximum"); m != s.end() && m->is_number() && x > m->get<double>()) return path + ": above maximum";
  }
  if (v.is_string()) {
    size_t n = v.get_ref<const std::string&>().size();
    if (auto m = s.find("minLength"); m != s.end() && m->is_number() && n < m->get<size_t>()) return path + ": too short";
    if (auto m = s.find("maxLength"); m != s.end() && m->is_number() && n > m->get<size_t>()) return path + ": too long";
  }
  if (v.is_object()) {
    if (auto r = s.find("required"); r != s.end() && r->is_array())
      for (const auto& k : *r)
        if (k.is_string() && !v.contains(k.get<std::string>())) return path + ": missing required '" + k.get<std::string>() + "'";
    const json* props = s.contains("properties") && s["properties"].is_object() ? &s["properties"] : nullptr;
    auto extra = s.find("additionalProperties");
    for (const auto& [k, x] : v.items()) {
      if (props && props->contains(k)) {
        std::string e = validate((*props)[k], x, path + "." + k);
        if (!e.empty()) return e;
      } else if (extra != s.end()) {
        std::string e = validate(*extra, x, path + "." + k);
        if (!e.empty()) return extra->is_boolean() ? path + ": unexpected property '" + k + "'" : e;
      }
    }
  }
  if (v.is_array()) {
    if (auto m = s.find("minItems"); m != s.end() && m->is_number() && v.size() < m->get<size_t>()) return path + ": too few items";
    if (auto m = s.find("maxItems"); m != s.end() && m->is_number() && v.size() > m->get<size_t>()) return path + ": too many items";
    if (auto it = s.find("items"); it != s.end() && it->is_object())
      for (size_t i = 0; i < v.size(); ++i) {
        std::string e = validate(*it, v[i], path + "[" + std::to_string(i) + "]");
        if (!e.empty()) return e;
      }
  }
  if (auto a = s.find("allOf"); a != s.end() && a->is_array())
    for (const auto& sub : *a) {
      std::string e = validate(sub, v, path);
      if (!e.empty()) return e;
    }
  if (auto a = s.find("anyOf"); a != s.end() && a->is_array()) {
    bool any = false;
    for (const auto& sub : *a) any = any || validate(sub, v, path).empty();
    if (!any) return path + ": matches none of anyOf";
  }
  if (auto a = s.find("oneOf"); a != s.end() && a->is_array()) {
    int n = 0;
    for (const auto& sub : *a) n += validate(sub, v, path).empty() ? 1 : 0;
    if (n != 1) return path + ": matches " + std::to_string(n) + " of oneOf";
  }
  return "";
}

}  // namespace

std::string validate_json_schema(const json& schema, const json& value) { return validate(schema, value, "$"); }

Verdict judge(const EscalationPolicy& p, const std::string& text, const std::vector<float>& logprobs) {
  for (const auto& r : p.refusals)
    if (r->matches(text)) return {EscalationReason::kRefusal, "matched refusal pattern '" + r->source() + "'"};
  if (p.require_json || !p.schema.is_null()) {
    json v = json::parse(json_text_of(text), nullptr, false);
    if (v.is_discarded()) return {EscalationReason::kInvalidJson, "answer is not valid JSON"};
    // `json: true` asks for structured output: a bare scalar ("Yes!", 42)
    // parses as JSON but is not what a caller that wants JSON can use.
    if (p.schema.is_null() && !v.is_object() && !v.is_array())
      return {EscalationReason::kInvalidJson, "answer is a JSON scalar, not an object or array"};
    if (!p.schema.is_null()) {
      std::string e = validate_json_schema(p.schema, v);
      if (!e.empty()) return {EscalationReason::kSchema, e};
    }
  }
  if (p.needs_logprobs() && !logprobs.empty()) {
    double m = mean_logprob(logprobs);
    if (m < p.min_mean_logprob)
      return {EscalationReason::kLowConfidence,
              "mean logprob " + std::to_string(m) + " < " + std::to_string(p.min_mean_logprob)};
  }
  return {};
}

}  // namespace tern::opt
