// PageCache: rendered query answers kept for clients that ask the same
// question again while nothing it read has changed (an agent's inbox polled
// by every open tab).
//
// An entry is served only while both hold:
//  - the generation passed in is the one it was stored with (the caller
//    reads Projector::ShopGeneration BEFORE reading the views it renders, so
//    a change committed meanwhile makes the entry stale, never wrong);
//  - the clock has not passed the entry's same_until_us (answers that depend
//    on the time, e.g. overdue flags, say until when they hold).
// Memory is bounded by the capacity given: least recently used entries are
// dropped first; an answer larger than a quarter of the capacity is not
// kept. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace palaver::api {

class PageCache {
 public:
  // 0 = keeps nothing.
  explicit PageCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}
  PageCache(const PageCache&) = delete;
  PageCache& operator=(const PageCache&) = delete;

  // The answer stored under `key`, when it is still valid for `generation`
  // at `now_us`; a stale entry is dropped.
  std::optional<std::string> Find(const std::string& key, uint64_t generation, int64_t now_us);

  // Stores (or replaces) the answer under `key`.
  void Insert(const std::string& key, uint64_t generation, int64_t same_until_us,
              std::string answer);

  struct Stats {
    uint64_t hits = 0;    // Find calls that returned an answer
    uint64_t misses = 0;  // the others
    size_t bytes = 0;     // keys and answers held now, at most the capacity
  };
  Stats stats() const;

 private:
  struct Entry {
    std::string key;
    uint64_t generation = 0;
    int64_t same_until_us = 0;
    std::string answer;
    size_t Bytes() const { return key.size() + answer.size(); }
  };
  using List = std::list<Entry>;  // most recently used first

  void EraseLocked(List::iterator it);

  const size_t capacity_;
  mutable std::mutex mu_;
  // Guarded by mu_:
  List lru_;
  std::unordered_map<std::string_view, List::iterator> index_;  // views of Entry::key
  size_t bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace palaver::api
