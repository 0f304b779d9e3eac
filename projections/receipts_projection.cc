// The read-receipts view. Keys (under "receipts/"):
//   conv\0<shop>\0<conversation>                  {"seq": messages so far, "customer_id"}
//   msg\0<shop>\0<conversation>\0<message>        {"seq", "actor_kind", "actor_id"}
//   agentmsg\0<shop>\0<conversation>\0<seq be64>  {"message_id", "agent_id", "at"}
//   read\0<shop>\0<conversation>\0<participant>   {"message_id", "seq", "at"}
// where participant is "shopper:<customer id>" or "agent:<agent id>". A read
// position only moves forward. Whether the shopper has seen an agent message
// is derived at query time: its seq <= the shopper's read seq.
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
    const std::string conv_key = Key({"conv", shop, conv});

    if (const auto* started = std::get_if<ConversationStarted>(&event.body)) {
      PutJson(view, conv_key, Json{{"seq", 0}, {"customer_id", started->customer_id}});
      return Status::Ok();
    }
    if (const auto* message = std::get_if<MessagePosted>(&event.body)) {
      auto state = GetJson(view, conv_key);
      if (!state.ok()) return state.status();
      if (state->is_null()) return Status::Ok();
      const int64_t seq = state->value("seq", int64_t{0}) + 1;
      (*state)["seq"] = seq;
      PutJson(view, conv_key, *state);
      PutJson(view, Key({"msg", shop, conv, message->message_id}),
              Json{{"seq", seq},
                   {"actor_kind", std::string(ActorKindName(env.actor_kind))},
                   {"actor_id", env.actor_id}});
      if (env.actor_kind == ActorKind::kAgent) {
        PutJson(view, Key({"agentmsg", shop, conv, BigEndian64(static_cast<uint64_t>(seq))}),
                Json{{"message_id", message->message_id},
                     {"agent_id", env.actor_id},
                     {"at", env.occurred_at_us}});
        // Writing a reply means having read up to it.
        Advance(view, Key({"read", shop, conv, Participant(env)}), message->message_id, seq,
                env.occurred_at_us);
      }
      return Status::Ok();
    }
    if (const auto* read = std::get_if<MessagesRead>(&event.body)) {
      auto msg = GetJson(view, Key({"msg", shop, conv, read->up_to_message_id}));
      if (!msg.ok()) return msg.status();
      if (msg->is_null()) return Status::Ok();  // an unknown message: nothing to record
      return Advance(view, Key({"read", shop, conv, Participant(env)}), read->up_to_message_id,
                     msg->value("seq", int64_t{0}), env.occurred_at_us);
    }
    return Status::Ok();
  }

 private:
  static Status Advance(ViewWriter& view, const std::string& key, const std::string& message_id,
                        int64_t seq, int64_t at) {
    auto current = GetJson(view, key);
    if (!current.ok()) return current.status();
    if (!current->is_null() && current->value("seq", int64_t{0}) >= seq) return Status::Ok();
    PutJson(view, key, Json{{"message_id", message_id}, {"seq", seq}, {"at", at}});
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Projection> NewReceiptsProjection() {
  return std::make_unique<ReceiptsProjection>();
}

}  // namespace palaver::projections::internal
