#include "engine/domain/message_ids.h"

#include <algorithm>

namespace palaver::domain {

bool MessageIds::ParseCanonicalUuid(std::string_view text, Uuid& out) {
  // xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, lowercase hex digits.
  if (text.size() != 36) return false;
  size_t byte = 0;
  for (size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
      ++i;
      continue;
    }
    int pair = 0;
    for (int half = 0; half < 2; ++half, ++i) {
      const char c = text[i];
      int digit = 0;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else {
        return false;
      }
      pair = pair * 16 + digit;
    }
    out[byte++] = static_cast<uint8_t>(pair);
  }
  return true;
}

void MessageIds::Insert(std::string_view id) {
  Uuid uuid;
  if (!ParseCanonicalUuid(id, uuid)) {
    others_.emplace(id);
    return;
  }
  if (uuids_.empty() || uuids_.back() < uuid) {  // the usual case: a newer id
    uuids_.push_back(uuid);
    return;
  }
  const auto at = std::lower_bound(uuids_.begin(), uuids_.end(), uuid);
  if (*at != uuid) uuids_.insert(at, uuid);
}

bool MessageIds::Contains(std::string_view id) const {
  Uuid uuid;
  if (!ParseCanonicalUuid(id, uuid)) return others_.find(id) != others_.end();
  return std::binary_search(uuids_.begin(), uuids_.end(), uuid);
}

}  // namespace palaver::domain
