#include "compress/compressor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

namespace tern::compress {

const char* role_name(Role role) {
  switch (role) {
    case Role::kContext: return "context";
    case Role::kInstruction: return "instruction";
    case Role::kQuestion: return "question";
  }
  return "?";
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool is_blank_line(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) { return is_space(c); });
}

bool is_fence_line(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return line.substr(i, 3) == "```" || line.substr(i, 3) == "~~~";
}

// A word with its trailing whitespace; protected words (those touching a
// protected span, which may join several words) are kept verbatim.
struct Unit {
  size_t begin = 0, word_end = 0, end = 0;  // [begin, word_end) the word, [word_end, end) its trailing space
  bool is_protected = false;
  int32_t tok_begin = 0, tok_end = 0;       // its tokens in the segment's tokenization
  int64_t n_tokens() const { return tok_end - tok_begin; }
};

std::vector<Unit> make_units(std::string_view t, const std::vector<Span>& spans) {
  std::vector<Unit> units;
  size_t i = 0, s = 0;
  if (!t.empty() && is_space(t[0])) {  // leading whitespace: kept as is
    while (i < t.size() && is_space(t[i])) ++i;
    units.push_back({0, i, i, true});
  }
  while (i < t.size()) {
    const size_t b = i;
    size_t e = b;
    while (e < t.size() && !is_space(t[e])) ++e;
    bool prot = false;
    while (s < spans.size() && spans[s].begin < e) {
      if (spans[s].end > b) {
        prot = true;
        if (spans[s].end > e) {  // the span runs on: the unit takes every word it touches
          e = spans[s].end;
          while (e < t.size() && !is_space(t[e])) ++e;
        }
      }
      ++s;
    }
    size_t end = e;
    while (end < t.size() && is_space(t[end])) ++end;
    units.push_back({b, e, end, prot});
    i = end;
  }
  return units;
}

// Byte offset of each token's first non-space byte, by walking the tokens'
// pieces along the text: "▁quick" / "Ġquick" belongs to the word "quick",
// not to the word whose trailing space it starts on (a piece of spaces only
// stays with the word before). A piece may carry a leading space the text
// lacks (SentencePiece's dummy prefix); a piece that does not match
// (normalisation) advances by its length, which keeps the mapping monotone
// and close.
std::vector<size_t> align_tokens(std::string_view t, const std::vector<TokenId>& tokens, const TokenScorer& scorer) {
  std::vector<size_t> at(tokens.size());
  size_t cur = 0;
  for (size_t k = 0; k < tokens.size(); ++k) {
    std::string p = scorer.piece(tokens[k]);
    size_t lead = 0;
    while (lead < p.size() && is_space(p[lead])) ++lead;
    at[k] = cur;
    if (p.empty()) continue;
    if (lead < p.size()) {  // the first non-space byte, where the text has it
      size_t x = cur;
      while (x < t.size() && x < cur + lead && is_space(t[x])) ++x;
      at[k] = x;
    }
    if (t.substr(cur, p.size()) == p) {
      cur += p.size();
    } else if (p[0] == ' ' && t.substr(cur, p.size() - 1) == std::string_view(p).substr(1)) {
      cur += p.size() - 1;
    } else {
      cur = std::min(t.size(), cur + p.size());
    }
  }
  return at;
}

struct Prepared {
  const Segment* seg = nullptr;
  std::vector<TokenId> tokens;
  std::vector<Unit> units;
  std::vector<Span> spans;
  int64_t protected_tokens = 0, compressible_tokens = 0;
};

Prepared prepare(const Segment& seg, const TokenScorer& scorer, const SpanOptions& protect) {
  Prepared p;
  p.seg = &seg;
  p.tokens = scorer.tokenize(seg.text);
  if (seg.role != Role::kContext) {
    p.protected_tokens = static_cast<int64_t>(p.tokens.size());
    return p;
  }
  p.spans = find_protected_spans(seg.text, protect);
  p.units = make_units(seg.text, p.spans);
  const std::vector<size_t> at = align_tokens(seg.text, p.tokens, scorer);
  size_t k = 0;
  for (size_t u = 0; u < p.units.size(); ++u) {
    Unit& unit = p.units[u];
    unit.tok_begin = static_cast<int32_t>(k);
    const size_t limit = u + 1 < p.units.size() ? p.units[u + 1].begin : seg.text.size() + 1;
    while (k < at.size() && at[k] < limit) ++k;
    unit.tok_end = static_cast<int32_t>(k);
    (unit.is_protected ? p.protected_tokens : p.compressible_tokens) += unit.n_tokens();
  }
  return p;
}

// The kept words of a segment. A dropped word's line break survives (moved
// onto the previous kept word) so that lists and paragraphs keep their shape.
std::string render(const Prepared& p, const std::vector<bool>& keep) {
  const std::string& t = p.seg->text;
  std::string out;
  for (size_t u = 0; u < p.units.size(); ++u) {
    const Unit& unit = p.units[u];
    if (keep[u]) {
      out.append(t, unit.begin, unit.end - unit.begin);
      continue;
    }
    const std::string_view ws = std::string_view(t).substr(unit.word_end, unit.end - unit.word_end);
    if (ws.find('\n') == std::string_view::npos || out.empty()) continue;
    size_t trail = out.size();
    while (trail > 0 && is_space(out[trail - 1])) --trail;
    if (std::string_view(out).substr(trail).find('\n') != std::string_view::npos) continue;
    out.resize(trail);
    out.append(ws);
  }
  if (!t.empty() && !is_space(t.back()))
    while (!out.empty() && is_space(out.back())) out.pop_back();
  return out;
}

double elapsed_ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<Segment> split_segments(std::string_view text) {
  std::vector<Segment> out;
  std::string cur;
  bool in_fence = false;
  size_t i = 0;
  while (i <= text.size()) {
    size_t e = text.find('\n', i);
    if (e == std::string_view::npos) e = text.size();
    const std::string_view line = text.substr(i, e - i);
    if (!in_fence && is_blank_line(line)) {
      if (!cur.empty()) out.push_back({std::move(cur), Role::kContext});
      cur.clear();
    } else {
      if (is_fence_line(line)) in_fence = !in_fence;
      if (!cur.empty()) cur += '\n';
      cur.append(line);
    }
    if (e == text.size()) break;
    i = e + 1;
  }
  if (!cur.empty()) out.push_back({std::move(cur), Role::kContext});
  return out;
}

BudgetController::BudgetController(int64_t budget, int64_t compressible_tokens)
    : budget_(std::max<int64_t>(0, budget)), tokens_(std::max<int64_t>(0, compressible_tokens)) {}

int64_t BudgetController::allowance(int64_t window_tokens) const {
  if (window_tokens <= 0 || tokens_ <= 0 || budget_ <= 0) return 0;
  if (window_tokens >= tokens_) return std::min(budget_, window_tokens);
  const double share = static_cast<double>(budget_) * static_cast<double>(window_tokens) / static_cast<double>(tokens_);
  return std::clamp<int64_t>(std::llround(share), 0, std::min(window_tokens, budget_));
}

void BudgetController::spend(int64_t window_tokens, int64_t kept) {
  budget_ = std::max<int64_t>(0, budget_ - kept);
  tokens_ = std::max<int64_t>(0, tokens_ - window_tokens);
}

std::vector<bool> select_segments(const std::vector<double>& score, const std::vector<int64_t>& tokens, int64_t budget,
                                  bool may_exceed) {
  std::vector<size_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
  std::vector<bool> keep(score.size(), false);
  int64_t used = 0;
  for (size_t i : order) {
    if (used >= budget) break;
    if (used + tokens[i] <= budget || may_exceed) {
      keep[i] = true;
      used += tokens[i];
    }
  }
  return keep;
}

std::vector<bool> select_units(const std::vector<double>& score, const std::vector<int64_t>& tokens,
                               const std::vector<bool>& is_protected, int64_t allowance) {
  std::vector<bool> keep(score.size(), false);
  std::vector<size_t> order;
  for (size_t i = 0; i < score.size(); ++i) {
    if (is_protected[i]) keep[i] = true;
    else order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
  int64_t left = allowance;
  for (size_t i : order) {
    if (tokens[i] <= left) {
      keep[i] = true;
      left -= tokens[i];
    }
  }
  return keep;
}

Result<CompressResult> Compressor::compress(std::string_view text, const CompressOptions& options) const {
  return compress(split_segments(text), options);
}

Result<CompressResult> Compressor::compress(const std::vector<Segment>& segments, const CompressOptions& o) const {
  const auto t0 = std::chrono::steady_clock::now();
  if (!(o.ratio >= 1.0) || !std::isfinite(o.ratio)) return InvalidArgument("ratio must be a number >= 1");
  if (o.target_tokens < 0) return InvalidArgument("target_tokens must not be negative");
  if (!(o.coarse_slack >= 1.0)) return InvalidArgument("coarse_slack must be >= 1");
  if (o.condition_tokens < 0 || o.window_tokens < 0) return InvalidArgument("condition_tokens and window_tokens must not be negative");
  const int32_t bos_len = scorer_.bos() >= 0 ? 1 : 0;
  if (scorer_.max_tokens() - bos_len - o.condition_tokens < 8)
    return InvalidArgument("the scoring model's context (" + std::to_string(scorer_.max_tokens()) +
                           " tokens) is too small for condition_tokens " + std::to_string(o.condition_tokens));
  int32_t window = scorer_.max_tokens() - bos_len - (o.iterative ? o.condition_tokens : 0);
  if (o.window_tokens > 0) window = std::min(window, o.window_tokens);
  window = std::max(window, 8);

  CompressResult r;
  std::vector<Prepared> prep;
  prep.reserve(segments.size());
  int64_t fixed = 0;
  for (const Segment& s : segments) {
    prep.push_back(prepare(s, scorer_, o.protect));
    const Prepared& p = prep.back();
    r.tokens_before += static_cast<int64_t>(p.tokens.size());
    fixed += p.protected_tokens;
    for (const Span& sp : p.spans) r.protected_spans.push_back(s.text.substr(sp.begin, sp.end - sp.begin));
  }
  r.protected_tokens = fixed;
  r.budget = o.target_tokens > 0 ? o.target_tokens
                                  : static_cast<int64_t>(std::ceil(static_cast<double>(r.tokens_before) / o.ratio));
  const int64_t ctx_budget = std::max<int64_t>(0, r.budget - fixed);

  // The scoring pass: a token run is scored alone, in windows that each
  // start from BOS; all windows of all segments go to the model in one
  // batch. place() gathers one run's logprobs from its windows, NaN where a
  // token has no context (a window's first token when the model has no BOS).
  const size_t chunk = static_cast<size_t>(window);
  auto windows = [&](const std::vector<TokenId>& toks, std::vector<std::vector<TokenId>>& ins) {
    for (size_t start = 0; start < toks.size(); start += chunk) {
      std::vector<TokenId>& in = ins.emplace_back();
      if (bos_len) in.push_back(scorer_.bos());
      in.insert(in.end(), toks.begin() + static_cast<ptrdiff_t>(start),
                toks.begin() + static_cast<ptrdiff_t>(std::min(toks.size(), start + chunk)));
      ++r.model_calls;
      r.scored_tokens += static_cast<int64_t>(in.size());
    }
  };
  auto place = [&](size_t n, const std::vector<std::vector<float>>& lps, size_t& w) {
    std::vector<float> out(n, std::numeric_limits<float>::quiet_NaN());
    for (size_t start = 0; start < n; start += chunk, ++w)
      for (size_t k = 1; k < lps[w].size(); ++k) out[start + k - static_cast<size_t>(bos_len)] = lps[w][k];  // in[k] is toks[start + k - bos_len]
    return out;
  };
  auto mean_info = [](const float* lp, size_t n) {
    double sum = 0;
    int64_t cnt = 0;
    for (size_t k = 0; k < n; ++k)
      if (!std::isnan(lp[k])) {
        sum -= lp[k];
        ++cnt;
      }
    return cnt > 0 ? sum / static_cast<double>(cnt) : 0.0;
  };

  // Which context segments may lose words, and the coarse level: which keep their prose.
  std::vector<bool> keep_seg(prep.size(), true);
  std::vector<double> seg_info(prep.size(), 0.0);
  std::vector<std::vector<float>> seg_lp(prep.size());
  int64_t compressible = 0;
  std::vector<size_t> ctx;
  for (size_t i = 0; i < prep.size(); ++i)
    if (prep[i].seg->role == Role::kContext && prep[i].compressible_tokens > 0) {
      ctx.push_back(i);
      compressible += prep[i].compressible_tokens;
    }
  const bool coarse = o.coarse && ctx.size() >= 2 && compressible > ctx_budget;
  if (compressible > ctx_budget && (coarse || (o.fine && !o.iterative))) {
    std::vector<std::vector<TokenId>> ins;
    for (size_t i : ctx) windows(prep[i].tokens, ins);
    TERN_ASSIGN_OR_RETURN(std::vector<std::vector<float>> lps, scorer_.logprobs_many(ins));
    size_t w = 0;
    for (size_t i : ctx) {
      seg_lp[i] = place(prep[i].tokens.size(), lps, w);
      seg_info[i] = mean_info(seg_lp[i].data(), seg_lp[i].size());
    }
  }
  if (coarse) {
    std::vector<double> score;
    std::vector<int64_t> tokens;
    for (size_t i : ctx) {
      score.push_back(seg_info[i]);
      tokens.push_back(prep[i].compressible_tokens);
    }
    const int64_t coarse_budget = o.fine ? static_cast<int64_t>(std::llround(ctx_budget * o.coarse_slack)) : ctx_budget;
    const std::vector<bool> k = select_segments(score, tokens, coarse_budget, o.fine);
    for (size_t j = 0; j < ctx.size(); ++j) keep_seg[ctx[j]] = k[j];
  }
  int64_t fine_tokens = 0;
  for (size_t i : ctx)
    if (keep_seg[i]) fine_tokens += prep[i].compressible_tokens;
  BudgetController budget(ctx_budget, fine_tokens);

  // Fine level, segment by segment (iterative: conditioned on the compressed prefix).
  std::vector<TokenId> history;
  std::vector<std::string> kept_texts;
  for (size_t i = 0; i < prep.size(); ++i) {
    const Prepared& p = prep[i];
    SegmentResult sr;
    sr.role = p.seg->role;
    sr.tokens_before = static_cast<int64_t>(p.tokens.size());
    sr.self_information = seg_info[i];
    std::vector<bool> keep(p.units.size(), true);
    if (p.seg->role != Role::kContext) {
      history.insert(history.end(), p.tokens.begin(), p.tokens.end());
      sr.text = p.seg->text;
    } else {
      if (!keep_seg[i]) {
        sr.dropped = true;
        for (size_t u = 0; u < p.units.size(); ++u) keep[u] = p.units[u].is_protected;
      } else if (o.fine && p.compressible_tokens > 0) {
        size_t u0 = 0;
        while (u0 < p.units.size()) {
          // The window: whole units up to `window` tokens (a longer unit alone).
          size_t u1 = u0;
          int64_t n = 0, wc = 0;
          while (u1 < p.units.size() && (u1 == u0 || n + p.units[u1].n_tokens() <= window)) {
            n += p.units[u1].n_tokens();
            if (!p.units[u1].is_protected) wc += p.units[u1].n_tokens();
            ++u1;
          }
          const int64_t allow = budget.allowance(wc);
          if (wc > 0 && allow >= wc) {
            budget.spend(wc, wc);  // the allowance covers the window: nothing to score
          } else if (wc > 0 && n <= window) {
            // lp_of(k): logprob of the segment's token k (NaN: no context).
            const int32_t tb = p.units[u0].tok_begin;
            std::vector<float> lp;
            size_t off = 0;
            if (o.iterative) {
              std::vector<TokenId> in;
              if (bos_len) in.push_back(scorer_.bos());
              const size_t cond = std::min(history.size(), static_cast<size_t>(o.condition_tokens));
              in.insert(in.end(), history.end() - static_cast<ptrdiff_t>(cond), history.end());
              off = in.size();
              in.insert(in.end(), p.tokens.begin() + tb, p.tokens.begin() + p.units[u1 - 1].tok_end);
              TERN_ASSIGN_OR_RETURN(lp, scorer_.logprobs(in));
              ++r.model_calls;
              r.scored_tokens += static_cast<int64_t>(in.size());
              lp[0] = std::numeric_limits<float>::quiet_NaN();  // the very first token has no context
            }
            auto lp_of = [&](int32_t k) { return o.iterative ? lp[off + static_cast<size_t>(k - tb)] : seg_lp[i][static_cast<size_t>(k)]; };
            std::vector<double> score;
            std::vector<int64_t> cost;
            std::vector<bool> prot;
            for (size_t u = u0; u < u1; ++u) {
              const Unit& unit = p.units[u];
              double s = 0;
              int64_t cnt = 0;
              for (int32_t k = unit.tok_begin; k < unit.tok_end; ++k) {
                const float v = lp_of(k);
                if (std::isnan(v)) continue;
                s -= v;
                ++cnt;
              }
              score.push_back(cnt > 0 ? s / static_cast<double>(cnt) : 1e9);
              cost.push_back(unit.n_tokens());
              prot.push_back(unit.is_protected);
            }
            const std::vector<bool> k = select_units(score, cost, prot, allow);
            int64_t kept = 0;
            for (size_t u = u0; u < u1; ++u) {
              keep[u] = k[u - u0];
              if (keep[u] && !p.units[u].is_protected) kept += p.units[u].n_tokens();
            }
            budget.spend(wc, kept);
          } else if (wc > 0) {
            budget.spend(wc, wc);  // one unscorable giant word: kept
          }
          for (size_t u = u0; u < u1; ++u)
            if (keep[u])
              history.insert(history.end(), p.tokens.begin() + p.units[u].tok_begin, p.tokens.begin() + p.units[u].tok_end);
          u0 = u1;
        }
      } else {
        history.insert(history.end(), p.tokens.begin(), p.tokens.end());
      }
      sr.text = p.units.empty() ? std::string() : render(p, keep);
    }
    sr.tokens_after = static_cast<int64_t>(scorer_.tokenize(sr.text).size());
    if (!sr.text.empty()) kept_texts.push_back(sr.text);
    r.segments.push_back(std::move(sr));
  }
  for (size_t i = 0; i < kept_texts.size(); ++i) {
    if (i) r.text += o.separator;
    r.text += kept_texts[i];
  }
  r.tokens_after = static_cast<int64_t>(scorer_.tokenize(r.text).size());
  // What the caller would send uncompressed: the segments joined the same
  // way. When nothing could go (protected content only) the joined output
  // can tokenize longer than that; then the input is the answer.
  std::string original;
  for (const Segment& s : segments) {
    if (s.text.empty()) continue;
    if (!original.empty()) original += o.separator;
    original += s.text;
  }
  r.tokens_before = r.text == original ? r.tokens_after : static_cast<int64_t>(scorer_.tokenize(original).size());
  if (r.tokens_after >= r.tokens_before) {
    r.text = std::move(original);
    r.tokens_after = r.tokens_before;
    r.unchanged = true;
    for (size_t i = 0; i < r.segments.size(); ++i) {
      SegmentResult& sr = r.segments[i];
      sr.text = segments[i].text;
      sr.tokens_after = sr.tokens_before;
      sr.dropped = false;
    }
  }
  r.ms = elapsed_ms(t0);
  return r;
}

}  // namespace tern::compress
