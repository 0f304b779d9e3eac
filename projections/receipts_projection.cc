// The read-receipts view. Keys (under "receipts/"):
//   conv\0<shop>\0<conversation>                  {"seq": messages so far, "customer_id"}
//   msg\0<shop>\0<conversation>\0<message>        {"seq", "actor_kind", "actor_id"}
//   read\0<shop>\0<conversation>\0<participant>   {"message_id", "seq", "at"}
// hand-packed (ReceiptsConvData, ReceiptsMsgData, ReceiptsReadData in
// view_codec.h), where participant is "shopper:<customer id>" or
// "agent:<agent id>". A read position only moves forward. The agent messages
// of a conversation are its msg entries of actor kind agent, and whether the
// shopper has seen one is derived at query time: its seq <= the shopper's
// read seq.
#include <algorithm>

#include "projections/view_codec.h"

namespace palaver::projections::internal {
namespace {

std::string Participant(const Envelope& env) {
  return std::string(ActorKindName(env.actor_kind)) + ":" + env.actor_id;
}

class ReceiptsProjection final : public Projection {
 public:
  std::string_view name() const override { return "receipts"; }

  Status Apply(const Event& event, const LogRecord&, ViewWriter& view) override {
    const Envelope& env = event.envelope;
    if (env.conversation_id.empty()) return Status::Ok();
    const std::string& shop = env.tenant;
    const std::string& conv = env.conversation_id;

    if (const auto* started = std::get_if<ConversationStarted>(&event.body)) {
      view.Put(Key({"conv", shop, conv}), EncodeReceiptsConv({0, started->customer_id}));
      return Status::Ok();
    }
    if (const auto* message = std::get_if<MessagePosted>(&event.body)) {
      const std::string conv_key = Key({"conv", shop, conv});
      auto bytes = view.Get(conv_key);
      if (!bytes.ok()) return bytes.status();
      ReceiptsConvData state;
      if (!bytes->has_value() || !DecodeReceiptsConv(**bytes, &state)) return Status::Ok();
      const int64_t seq = ++state.seq;
      view.Put(conv_key, EncodeReceiptsConv(state));
      view.Put(Key({"msg", shop, conv, message->message_id}),
               EncodeReceiptsMsg({seq, static_cast<uint8_t>(env.actor_kind), env.actor_id}));
      if (env.actor_kind == ActorKind::kAgent) {
        // Writing a reply means having read up to it. No read position can
        // be past the newest message, so this one moves forward without
        // reading the current one.
        view.Put(Key({"read", shop, conv, Participant(env)}),
                 EncodeReceiptsRead({message->message_id, seq, env.occurred_at_us}));
      }
      return Status::Ok();
    }
    if (const auto* read = std::get_if<MessagesRead>(&event.body)) {
      auto bytes = view.Get(Key({"msg", shop, conv, read->up_to_message_id}));
      if (!bytes.ok()) return bytes.status();
      ReceiptsMsgData msg;
      if (!bytes->has_value() || !DecodeReceiptsMsg(**bytes, &msg))
        return Status::Ok();  // an unknown message: nothing to record
      return Advance(view, Key({"read", shop, conv, Participant(env)}), read->up_to_message_id,
                     msg.seq, env.occurred_at_us);
    }
    return Status::Ok();
  }

 private:
  static Status Advance(ViewWriter& view, const std::string& key, const std::string& message_id,
                        int64_t seq, int64_t at) {
    auto bytes = view.Get(key);
    if (!bytes.ok()) return bytes.status();
    ReceiptsReadData current;
    if (bytes->has_value() && DecodeReceiptsRead(**bytes, &current) && current.seq >= seq)
      return Status::Ok();
    view.Put(key, EncodeReceiptsRead({message_id, seq, at}));
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Projection> NewReceiptsProjection() {
  return std::make_unique<ReceiptsProjection>();
}

}  // namespace palaver::projections::internal
