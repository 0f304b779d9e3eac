#include "connectors/api/page_cache.h"

namespace palaver::api {

std::optional<std::string> PageCache::Find(const std::string& key, uint64_t generation,
                                           int64_t now_us) {
  std::lock_guard lock(mu_);
  auto found = index_.find(key);
  if (found == index_.end()) {
    ++misses_;
    return std::nullopt;
  }
  List::iterator it = found->second;
  if (it->generation != generation || now_us > it->same_until_us) {
    EraseLocked(it);
    ++misses_;
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it);
  ++hits_;
  return it->answer;
}

void PageCache::Insert(const std::string& key, uint64_t generation, int64_t same_until_us,
                       std::string answer) {
  const size_t size = key.size() + answer.size();
  if (capacity_ == 0 || size > capacity_ / 4) return;
  std::lock_guard lock(mu_);
  if (auto found = index_.find(key); found != index_.end()) EraseLocked(found->second);
  while (bytes_ + size > capacity_) EraseLocked(std::prev(lru_.end()));
  lru_.push_front(Entry{key, generation, same_until_us, std::move(answer)});
  index_.emplace(lru_.front().key, lru_.begin());
  bytes_ += size;
}

PageCache::Stats PageCache::stats() const {
  std::lock_guard lock(mu_);
  return Stats{hits_, misses_, bytes_};
}

void PageCache::EraseLocked(List::iterator it) {
  bytes_ -= it->Bytes();
  index_.erase(it->key);
  lru_.erase(it);
}

}  // namespace palaver::api
