// compact/state_store.h — the compaction states of many conversations, for
// servers whose clients resend the whole history every turn (the OpenAI
// way). A request's messages find the state of the same conversation by
// prefix: the stored state whose messages_in is the longest prefix of them.
// Then the stored compaction is reapplied (no summariser call) and the
// compacted prefix stays byte-identical between steps, so prefix caches hit.
//
//   tern::compact::StateStore store(1024);
//   CompactionState s = store.find(messages);   // empty when none matches
//   auto r = compactor.compact(messages, &s);
//   store.put(std::move(s));
//
// Bounded: the least recently used conversations go first.
// Thread safety: all members may be called concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <utility>

#include "compact/compactor.h"

namespace tern::compact {

class StateStore {
 public:
  explicit StateStore(size_t capacity = 1024) : capacity_(capacity == 0 ? 1 : capacity) {}
  CompactionState find(const Json& messages) const;
  void put(CompactionState state);
  size_t size() const;

 private:
  using Key = std::pair<size_t, uint64_t>;  // messages_in: length, hash
  struct Entry {
    Key key;
    CompactionState state;
  };
  static uint64_t combine(uint64_t h, const Json& message);

  mutable std::mutex mu_;
  size_t capacity_;
  mutable std::list<Entry> lru_;  // front: most recently used
  std::map<Key, std::list<Entry>::iterator> index_;
  std::map<size_t, size_t> lengths_;  // messages_in length -> entries of that length
};

}  // namespace tern::compact
