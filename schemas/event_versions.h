// Older layouts of event bodies, and the upcasters that lift them to the next
// version. The log keeps every version forever; DecodeEvent and EventFromJson
// read any of them and return the current version.
//
// To change a body's layout (add, remove, reorder or retype a field):
//   1. copy the current struct here as `<Name>V<n>` (with its Personal part and
//      Fields, unchanged, `kVersion = n`, and `using Next = <the next layout>`);
//   2. edit the struct in events.h and bump its kVersion to n+1;
//   3. write `<Next> Upcast(<Name>V<n>)` below, and append `<Name>V<n>` to
//      OlderVersions<Name>::Layouts;
//   4. commit a golden sample of version n+1 (tests/golden, see tests/schemas)
//      next to the old ones; never regenerate or edit the old ones.
// Upcasters are pure functions: no clock, no randomness, no lookups.
#pragma once

#include <string>
#include <tuple>

#include "schemas/events.h"

namespace palaver {

// OlderVersions<T>::Layouts lists the older layouts of body T, oldest first.
template <class T>
struct OlderVersions {
  using Layouts = std::tuple<>;
};

// ---------------------------------------------------------------- message.posted v1

// message.posted v1: no delivery route; every message went through its channel.
struct MessagePostedV1 {
  static constexpr EventType kType = EventType::kMessagePosted;
  static constexpr uint16_t kVersion = 1;
  using Next = MessagePosted;

  std::string message_id;
  std::string customer_id;
  Channel channel = Channel::kWebChat;
  MessageKind kind = MessageKind::kText;
  std::optional<ImageRef> image;
  std::vector<std::string> product_ids;
  std::string discount_code;
  std::string macro_id;
  std::string faq_id;
  std::optional<AutoReplyKind> auto_reply;
  struct Personal {
    std::string text;
    bool operator==(const Personal&) const = default;
    static void Fields(auto& s, auto&& f) { f("text", s.text); }
  } personal;

  bool operator==(const MessagePostedV1&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("message_id", s.message_id);
    f("customer_id", s.customer_id);
    f("channel", s.channel);
    f("kind", s.kind);
    f("image", s.image);
    f("product_ids", s.product_ids);
    f("discount_code", s.discount_code);
    f("macro_id", s.macro_id);
    f("faq_id", s.faq_id);
    f("auto_reply", s.auto_reply);
  }
};

// v1 → v2: the route is the channel's own (web chat → live chat), and system
// messages were only ever shown in the inbox.
MessagePosted Upcast(MessagePostedV1 v1);

template <>
struct OlderVersions<MessagePosted> {
  using Layouts = std::tuple<MessagePostedV1>;
};

}  // namespace palaver
