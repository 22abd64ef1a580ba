#include "tokenizer/vocab.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <initializer_list>

#include "tokenizer/utf8.h"

namespace tern {
namespace {

// GGUF token_type values (llama.cpp's LLAMA_TOKEN_TYPE_*).
uint32_t attr_from_type(int32_t type) {
  switch (type) {
    case 1: return kAttrNormal;
    case 2: return kAttrUnknown;
    case 3: return kAttrControl;
    case 4: return kAttrUserDefined;
    case 5: return kAttrUnused;
    case 6: return kAttrByte;
    default: return kAttrUndefined;
  }
}

bool one_of(std::string_view s, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

Status read_tokens(const GgufFile& f, Vocab& v) {
  const auto* tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (!tokens) {
    if (f.find("tokenizer.ggml.tokens")) {
      return InvalidArgument(f.name() + ": tokenizer.ggml.tokens is not an array of strings");
    }
    return NotFound(f.name() + ": no tokenizer vocabulary (tokenizer.ggml.tokens missing)");
  }
  const size_t n = tokens->size();
  if (n == 0) return InvalidArgument(f.name() + ": tokenizer.ggml.tokens is empty");
  if (n > static_cast<size_t>(INT32_MAX)) return InvalidArgument(f.name() + ": vocabulary too large");

  std::vector<float> scores;
  if (f.find("tokenizer.ggml.scores")) {
    auto s = f.get_f32_array("tokenizer.ggml.scores");
    if (!s) return InvalidArgument(f.name() + ": tokenizer.ggml.scores is not a numeric array");
    if (s->size() < n) return InvalidArgument(f.name() + ": tokenizer.ggml.scores shorter than the vocabulary");
    scores = std::move(*s);
  }
  std::vector<int32_t> types;
  if (f.find("tokenizer.ggml.token_type")) {
    auto t = f.get_i32_array("tokenizer.ggml.token_type");
    if (!t) return InvalidArgument(f.name() + ": tokenizer.ggml.token_type is not a numeric array");
    if (t->size() < n) return InvalidArgument(f.name() + ": tokenizer.ggml.token_type shorter than the vocabulary");
    types = std::move(*t);
  }

  v.text.resize(n);
  v.score.assign(n, 0.0f);
  v.attr.assign(n, kAttrNormal);
  for (size_t i = 0; i < n; ++i) {
    v.text[i] = std::string((*tokens)[i]);
    // An empty text could never be matched; llama.cpp names it so it stays unique.
    if (v.text[i].empty()) v.text[i] = "[EMPTY_" + std::to_string(i) + "]";
    if (!scores.empty()) v.score[i] = scores[i];
    if (!types.empty()) v.attr[i] = attr_from_type(types[i]);
    v.max_token_len = std::max(v.max_token_len, v.text[i].size());
  }
  v.to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto [it, inserted] = v.to_id.emplace(std::string_view(v.text[i]), static_cast<TokenId>(i));
    if (!inserted) {
      return InvalidArgument(f.name() + ": duplicate token '" + v.text[i] + "' (ids " +
                             std::to_string(it->second) + " and " + std::to_string(i) + ")");
    }
  }
  return Status::Ok();
}

Status read_merges(const GgufFile& f, Vocab& v) {
  const auto* merges = f.get_string_array("tokenizer.ggml.merges");
  if (!merges) {
    return InvalidArgument(f.name() + ": BPE tokenizer without tokenizer.ggml.merges (array of strings)");
  }
  v.merges.reserve(merges->size());
  std::string joined;
  for (size_t i = 0; i < merges->size(); ++i) {
    const std::string_view line = (*merges)[i];
    // The halves are separated by the first space after the first byte.
    const size_t pos = line.size() > 1 ? line.find(' ', 1) : std::string_view::npos;
    if (pos == std::string_view::npos) continue;
    const std::string_view left = line.substr(0, pos), right = line.substr(pos + 1);
    const TokenId l = v.find(left), r = v.find(right);
    const auto rank = static_cast<int32_t>(i);
    if (l >= 0 && r >= 0) {
      joined.assign(left).append(right);
      v.merges.try_emplace(Vocab::pair_key(l, r), Vocab::Merge{rank, v.find(joined)});
    } else {
      v.string_merges.try_emplace(std::string(line), rank);
    }
  }
  return Status::Ok();
}

// BPE defaults that depend on tokenizer.ggml.pre (llama.cpp's pre-type table).
void apply_pre_defaults(Vocab& v) {
  const std::string_view pre = v.pre;
  if (one_of(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
                   "lfm2", "tekken"})) {
    v.ignore_merges = true;
    v.add_bos = true;
  } else if (pre == "chameleon") {
    v.add_bos = true;
  } else if (one_of(pre, {"glm4", "chatglm-bpe"})) {
    v.bos = -1;
  }
}

// Special ids: per-model defaults, overridden by metadata when in range.
void read_special_ids(const GgufFile& f, Vocab& v) {
  struct Key {
    const char* key;
    TokenId* id;
  };
  const Key keys[] = {
      {"tokenizer.ggml.bos_token_id", &v.bos},         {"tokenizer.ggml.eos_token_id", &v.eos},
      {"tokenizer.ggml.eot_token_id", &v.eot},         {"tokenizer.ggml.eom_token_id", &v.eom},
      {"tokenizer.ggml.unknown_token_id", &v.unk},     {"tokenizer.ggml.seperator_token_id", &v.sep},
      {"tokenizer.ggml.padding_token_id", &v.pad},     {"tokenizer.ggml.mask_token_id", &v.mask},
      {"tokenizer.ggml.fim_pre_token_id", &v.fim_pre}, {"tokenizer.ggml.fim_suf_token_id", &v.fim_suf},
      {"tokenizer.ggml.fim_mid_token_id", &v.fim_mid}, {"tokenizer.ggml.fim_pad_token_id", &v.fim_pad},
      {"tokenizer.ggml.fim_rep_token_id", &v.fim_rep}, {"tokenizer.ggml.fim_sep_token_id", &v.fim_sep},
      {"tokenizer.ggml.prefix_token_id", &v.fim_pre},  {"tokenizer.ggml.suffix_token_id", &v.fim_suf},
      {"tokenizer.ggml.middle_token_id", &v.fim_mid},
  };
  for (const Key& k : keys) {
    if (!v.valid(*k.id)) *k.id = -1;  // a default outside this vocabulary means none
    // Out-of-range values (such as 0xFFFFFFFF for "none") keep the default.
    if (auto x = f.get_int(k.key); x && *x >= 0 && *x < v.n_tokens()) *k.id = static_cast<TokenId>(*x);
  }
  if (v.kind == VocabKind::kWpm && !f.find("tokenizer.ggml.bos_token_id")) {
    if (auto x = f.get_int("tokenizer.ggml.cls_token_id"); x && *x >= 0 && *x < v.n_tokens()) {
      v.bos = static_cast<TokenId>(*x);
    }
  }
}

// Tokens recognised by their text, as llama.cpp does while converters do not
// record them in metadata. Each found token is also forced to be a control token.
void detect_special_texts(Vocab& v) {
  auto detect = [&](TokenId& id, std::initializer_list<std::string_view> texts) {
    if (id >= 0) return;
    for (std::string_view t : texts) {
      if (TokenId found = v.find(t); found >= 0) {
        id = found;
        v.attr[found] |= kAttrControl;
        return;
      }
    }
  };
  detect(v.eot, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                 "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>",
                 "<end_of_utterance>"});
  detect(v.eom, {"<|eom_id|>"});
  detect(v.fim_pre, {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>",
                     "▁<PRE>", "<|code_prefix|>", "<|prefix|>"});
  detect(v.fim_suf, {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>",
                     "▁<SUF>", "<|code_suffix|>", "<|suffix|>"});
  detect(v.fim_mid, {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>",
                     "▁<MID>", "<|code_middle|>", "<|middle|>"});
  detect(v.fim_pad, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"});
  detect(v.fim_rep, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"});
  detect(v.fim_sep, {"<|file_sep|>"});

  for (TokenId id = 0; id < v.n_tokens(); ++id) {
    if ((v.attr[id] & kAttrControl) && v.text[id].find("unused") != std::string::npos) {
      v.attr[id] |= kAttrUnused;
    }
  }
}

// End-of-generation set: the texts llama.cpp treats as EOG, FIM pad/repo/sep,
// and eos/eot/eom.
void derive_eog(Vocab& v) {
  for (TokenId id : {v.fim_pad, v.fim_rep, v.fim_sep}) {
    if (id >= 0) v.eog.insert(id);
  }
  static constexpr std::string_view kEogTexts[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
      "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
      "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
      "<｜end▁of▁sentence｜>", "[e~[",
  };
  for (std::string_view t : kEogTexts) {
    if (TokenId id = v.find(t); id >= 0) {
      v.eog.insert(id);
      v.attr[id] |= kAttrControl;
    }
  }
  // gpt-oss style chat formats: <|end|> ends a message, not the generation.
  for (std::string_view t : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
    if (TokenId id = v.find(t); id >= 0) v.attr[id] = kAttrUserDefined;
  }
  for (TokenId id : {v.eos, v.eot, v.eom}) {
    if (id >= 0) v.eog.insert(id);
  }
  auto in_eog = [&](std::string_view t) {
    TokenId id = v.find(t);
    return id >= 0 && v.eog.count(id) ? id : -1;
  };
  const TokenId end = in_eog("<|end|>");
  if (end >= 0 && ((in_eog("<|return|>") >= 0 && in_eog("<|call|>") >= 0) ||
                   ((in_eog("<|call|>") >= 0 || in_eog("<|calls|>") >= 0) && in_eog("<|flush|>") >= 0))) {
    v.eog.erase(end);
    v.attr[end] = kAttrUserDefined;
  }
  const TokenId s = in_eog("</s>");
  if (s >= 0 && in_eog("<|tool_response>") >= 0) {
    v.eog.erase(s);
    v.attr[s] = kAttrNormal;
  }
}

void build_tables(const GgufFile& f, Vocab& v) {
  for (TokenId id = 0; id < v.n_tokens(); ++id) {
    if (v.attr[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) v.specials.push_back(id);
  }
  std::stable_sort(v.specials.begin(), v.specials.end(), [&](TokenId a, TokenId b) {
    return v.text[a].size() > v.text[b].size();
  });

  // Phi-3 GGUFs lack per-token strip flags; llama.cpp sets them by model name.
  std::string name(f.get_string("general.name").value_or(""));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (TokenId id : v.specials) v.attr[id] |= kAttrRstrip;
    if (TokenId id = v.find("</s>"); id >= 0) v.attr[id] |= kAttrRstrip;
    for (std::string_view t : {"<unk>", "<s>", "<|endoftext|>"}) {
      if (TokenId id = v.find(t); id >= 0) v.attr[id] &= ~kAttrRstrip;
    }
  }

  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    TokenId id = v.find(hex);
    if (id < 0) id = v.find(std::string(1, static_cast<char>(b)));
    v.byte_token[b] = id;
    v.bpe_byte_token[b] = v.find(utf8::byte_to_unicode(static_cast<uint8_t>(b)));
  }
}

}  // namespace

Result<std::unique_ptr<Vocab>> load_vocab(const GgufFile& f) {
  auto v = std::make_unique<Vocab>();
  const auto model = f.get_string("tokenizer.ggml.model");
  if (!model) return NotFound(f.name() + ": no tokenizer.ggml.model");
  v->model = std::string(*model);
  v->pre = std::string(f.get_string("tokenizer.ggml.pre").value_or(""));

  if (v->model == "llama") {
    v->kind = VocabKind::kSpm;
    v->bos = 1, v->eos = 2, v->unk = 0;
    v->add_space_prefix = true;
    v->add_bos = true;
  } else if (v->model == "gpt2") {
    v->kind = VocabKind::kBpe;
    v->bos = 11, v->eos = 11;
  } else if (v->model == "bert") {
    v->kind = VocabKind::kWpm;
    v->bos = 101, v->unk = 100, v->sep = 102, v->pad = 0, v->mask = 103;
    v->add_bos = true;
    v->add_sep = true;
  } else {
    return Unimplemented(f.name() + ": tokenizer model '" + v->model +
                         "' is not supported (supported: llama, gpt2, bert)");
  }

  TERN_RETURN_IF_ERROR(read_tokens(f, *v));
  if (v->kind == VocabKind::kBpe) {
    TERN_RETURN_IF_ERROR(read_merges(f, *v));
    apply_pre_defaults(*v);
  }
  if (auto x = f.get_bool("tokenizer.ggml.add_space_prefix")) v->add_space_prefix = *x;
  read_special_ids(f, *v);
  if (auto x = f.get_bool("tokenizer.ggml.add_bos_token")) v->add_bos = *x;
  if (auto x = f.get_bool("tokenizer.ggml.add_eos_token")) v->add_eos = *x;
  if (auto x = f.get_bool("tokenizer.ggml.add_sep_token")) v->add_sep = *x;
  if (auto x = f.get_bool("tokenizer.ggml.normalizer.lowercase")) v->wpm_lowercase = *x;
  v->wpm_strip_accents = v->wpm_lowercase;
  if (auto x = f.get_bool("tokenizer.ggml.normalizer.strip_accents")) v->wpm_strip_accents = *x;
  if (v->add_bos && v->bos < 0) return InvalidArgument(f.name() + ": add_bos_token is set but there is no BOS token");
  if (v->add_eos && v->eos < 0) return InvalidArgument(f.name() + ": add_eos_token is set but there is no EOS token");
  if (v->add_sep && v->sep < 0) return InvalidArgument(f.name() + ": add_sep_token is set but there is no SEP token");

  detect_special_texts(*v);
  derive_eog(*v);
  build_tables(f, *v);
  return v;
}

}  // namespace tern
