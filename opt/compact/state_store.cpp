#include "compact/state_store.h"

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

namespace tern::compact {

uint64_t StateStore::combine(uint64_t h, const Json& message) {
  const uint64_t m = std::hash<std::string>{}(message.dump());
  return (h ^ m) * 1099511628211ull + 0x9e3779b97f4a7c15ull;
}

CompactionState StateStore::find(const Json& messages) const {
  if (!messages.is_array()) return {};
  std::vector<uint64_t> prefix(messages.size() + 1, 14695981039346656037ull);  // prefix[k]: hash of the first k
  for (size_t k = 0; k < messages.size(); ++k) prefix[k + 1] = combine(prefix[k], messages[k]);
  std::lock_guard lock(mu_);
  for (auto it = lengths_.rbegin(); it != lengths_.rend(); ++it) {  // longest prefix first
    const size_t k = it->first;
    if (k > messages.size()) continue;
    auto e = index_.find({k, prefix[k]});
    if (e == index_.end()) continue;
    const Json& in = e->second->state.messages_in;
    if (!std::equal(in.begin(), in.end(), messages.begin())) continue;  // a hash collision
    lru_.splice(lru_.begin(), lru_, e->second);
    return e->second->state;
  }
  return {};
}

void StateStore::put(CompactionState state) {
  if (!state.messages_in.is_array() || state.messages_in.empty()) return;
  uint64_t h = 14695981039346656037ull;
  for (const Json& m : state.messages_in) h = combine(h, m);
  const Key key{state.messages_in.size(), h};
  std::lock_guard lock(mu_);
  if (auto e = index_.find(key); e != index_.end()) {
    e->second->state = std::move(state);
    lru_.splice(lru_.begin(), lru_, e->second);
    return;
  }
  lru_.push_front({key, std::move(state)});
  index_[key] = lru_.begin();
  ++lengths_[key.first];
  while (lru_.size() > capacity_) {
    const Key old = lru_.back().key;
    index_.erase(old);
    if (--lengths_[old.first] == 0) lengths_.erase(old.first);
    lru_.pop_back();
  }
}

size_t StateStore::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace tern::compact
