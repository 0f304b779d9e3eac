#include "engine/domain/commands.h"

#include <cstdio>
#include <cstring>
#include <type_traits>

namespace palaver::domain {
namespace {

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};
template <class T>
struct IsVariant : std::false_type {};
template <class... Ts>
struct IsVariant<std::variant<Ts...>> : std::true_type {};

// FNV-1a over a length-prefixed, type-tagged walk of the value, so that
// ("ab","c") and ("a","bc") differ.
class Hasher {
 public:
  void Bytes(const void* data, size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) {
      hash_ ^= p[i];
      hash_ *= 1099511628211ULL;
    }
  }
  void Int(int64_t v) { Bytes(&v, sizeof v); }

  template <class T>
  void Add(const T& v) {
    if constexpr (std::is_same_v<T, std::string>) {
      Int(static_cast<int64_t>(v.size()));
      Bytes(v.data(), v.size());
    } else if constexpr (std::is_enum_v<T> || std::is_integral_v<T>) {
      Int(static_cast<int64_t>(v));
    } else if constexpr (std::is_floating_point_v<T>) {
      double d = v;
      Bytes(&d, sizeof d);
    } else if constexpr (IsOptional<T>::value) {
      Int(v.has_value() ? 1 : 0);
      if (v) Add(*v);
    } else if constexpr (IsVector<T>::value) {
      Int(static_cast<int64_t>(v.size()));
      for (const auto& item : v) Add(item);
    } else if constexpr (IsVariant<T>::value) {
      Int(static_cast<int64_t>(v.index()));
      std::visit([&](const auto& alt) { Add(alt); }, v);
    } else {
      // A schema struct: Fields(self, visit(name, member)), plus its personal part.
      T::Fields(v, [&](std::string_view, const auto& member) { Add(member); });
      if constexpr (requires { v.personal; }) Add(v.personal);
    }
  }

  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 14695981039346656037ULL;
};

template <class T>
constexpr std::string_view NameOf() {
  if constexpr (std::is_same_v<T, StartWebChat>)
    return "start_web_chat";
  else if constexpr (std::is_same_v<T, PostShopperMessage>)
    return "post_shopper_message";
  else if constexpr (std::is_same_v<T, MarkRead>)
    return "mark_read";
  else if constexpr (std::is_same_v<T, EndChat>)
    return "end_chat";
  else if constexpr (std::is_same_v<T, TakeFaqAnswer>)
    return "take_faq_answer";
  else if constexpr (std::is_same_v<T, AskForHuman>)
    return "ask_for_human";
  else if constexpr (std::is_same_v<T, SubmitCsat>)
    return "submit_csat";
  else if constexpr (std::is_same_v<T, RequestTranscript>)
    return "request_transcript";
  else if constexpr (std::is_same_v<T, AgentReply>)
    return "agent_reply";
  else if constexpr (std::is_same_v<T, AddInternalNote>)
    return "add_internal_note";
  else if constexpr (std::is_same_v<T, EditInternalNote>)
    return "edit_internal_note";
  else if constexpr (std::is_same_v<T, DeleteInternalNote>)
    return "delete_internal_note";
  else if constexpr (std::is_same_v<T, MarkUnread>)
    return "mark_unread";
  else if constexpr (std::is_same_v<T, Assign>)
    return "assign";
  else if constexpr (std::is_same_v<T, Unassign>)
    return "unassign";
  else if constexpr (std::is_same_v<T, ChangeStatus>)
    return "change_status";
  else if constexpr (std::is_same_v<T, AddCustomerNote>)
    return "add_customer_note";
  else if constexpr (std::is_same_v<T, EditCustomerNote>)
    return "edit_customer_note";
  else if constexpr (std::is_same_v<T, DeleteCustomerNote>)
    return "delete_customer_note";
  else if constexpr (std::is_same_v<T, UpdateCart>)
    return "update_cart";
  else if constexpr (std::is_same_v<T, ChangePresence>)
    return "change_presence";
  else if constexpr (std::is_same_v<T, RecordOrderPlaced>)
    return "record_order_placed";
  else if constexpr (std::is_same_v<T, RecordOrderUpdated>)
    return "record_order_updated";
  else if constexpr (std::is_same_v<T, UpsertCustomerProfile>)
    return "upsert_customer_profile";
  else if constexpr (std::is_same_v<T, UpsertProduct>)
    return "upsert_product";
  else if constexpr (std::is_same_v<T, UpsertDiscount>)
    return "upsert_discount";
  else if constexpr (std::is_same_v<T, ReceiveInboundMessage>)
    return "receive_inbound_message";
  else if constexpr (std::is_same_v<T, UpdateSettings>)
    return "update_settings";
  else if constexpr (std::is_same_v<T, EraseCustomer>)
    return "erase_customer";
}

}  // namespace

const CommandMeta& MetaOf(const Command& command) {
  return std::visit([](const auto& c) -> const CommandMeta& { return c.meta; }, command);
}

std::string_view CommandName(const Command& command) {
  return std::visit([](const auto& c) { return NameOf<std::decay_t<decltype(c)>>(); }, command);
}

std::string Fingerprint(const Command& command) {
  Hasher h;
  h.Int(static_cast<int64_t>(command.index()));
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        T::Fields(c, [&](const auto& member) { h.Add(member); });
      },
      command);
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h.value()));
  return out;
}

}  // namespace palaver::domain
