// MessageIds: the set of a conversation's message ids that the command side
// keeps, so that a read receipt or a "mark unread" can name any message of
// the conversation. It holds every id ever posted to the conversation, so
// its size per id is what a long-running engine pays per message.
//
// palaver's own ids (NewEventId: a UUID in canonical lowercase form, 36
// characters) are kept as their 16 bytes in a sorted vector; any other id
// (a producer's own) as a string. An id is found exactly as it was inserted:
// "ABC..." and "abc..." are different ids, as strings are. About 16-32
// bytes per id (the vector's spare capacity included) against about 110 for
// a std::set<std::string> node holding a heap-allocated 36-character string.
//
// Plain value: not thread-safe, like the ShopState that holds it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace palaver::domain {

class MessageIds {
 public:
  // Adds `id`; adding an id already held changes nothing.
  void Insert(std::string_view id);
  // True when `id` was inserted.
  bool Contains(std::string_view id) const;
  // Ids held.
  size_t size() const { return uuids_.size() + others_.size(); }

 private:
  using Uuid = std::array<uint8_t, 16>;
  // The 16 bytes of a canonical lowercase UUID; false for any other text.
  static bool ParseCanonicalUuid(std::string_view text, Uuid& out);

  std::vector<Uuid> uuids_;  // sorted; version 7 ids arrive nearly in order
  std::set<std::string, std::less<>> others_;
};

}  // namespace palaver::domain
