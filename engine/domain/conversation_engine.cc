#include "engine/domain/conversation_engine.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

#include <spdlog/spdlog.h>

#include "engine/rules/office_hours.h"
#include "engine/rules/shopper_identity.h"
#include "engine/rules/text.h"
#include "schemas/codec.h"

namespace palaver::domain {
namespace {

constexpr std::string_view kFaqBotId = "faq-bot";
constexpr size_t kMaxProductsPerShare = 3;
constexpr int32_t kMaxOverdueTargetSeconds = 7 * 24 * 3600;

Status Refuse(ErrorCode code, std::string reason, std::string message, std::string field = {}) {
  return Status::Error(code, std::move(message), std::move(field)).WithReason(std::move(reason));
}

// Text of a message or note: each failure has its own reason.
Status CheckText(std::string_view text, std::string field = "text") {
  if (text.empty()) {
    return Refuse(ErrorCode::kInvalidArgument, "text_empty",
                  "the message is empty; write something", field);
  }
  Status s = rules::ValidateMessageText(text);
  if (s.ok()) return s;
  if (s.code() == ErrorCode::kTooLarge) {
    return Refuse(ErrorCode::kTooLarge, "text_too_large", s.message(), field);
  }
  if (rules::Preview(text, text.size()) != text) {
    return Refuse(ErrorCode::kInvalidArgument, "text_invalid_utf8", s.message(), field);
  }
  return Refuse(ErrorCode::kInvalidArgument, "text_blank", s.message(), field);
}

DeliveryRoute RouteFor(const ShopState& shop, const ConversationState& conv) {
  switch (conv.channel) {
    case Channel::kWebChat: {
      auto it = shop.customers.find(conv.customer_id);
      const bool offline = it != shop.customers.end() && it->second.presence == Presence::kOffline;
      return offline && !conv.email.empty() ? DeliveryRoute::kEmail : DeliveryRoute::kLiveChat;
    }
    case Channel::kSms:
      return DeliveryRoute::kSms;
    case Channel::kEmail:
      return DeliveryRoute::kEmail;
    case Channel::kShopApp:
      return DeliveryRoute::kShopApp;
  }
  return DeliveryRoute::kLiveChat;
}

std::optional<rules::OfficeHours> OfficeHoursOf(const OfficeHoursSetting& setting, Status* error) {
  rules::OfficeHoursSpec spec;
  spec.time_zone = setting.time_zone;
  spec.during_hours_message = setting.during_hours_reply;
  spec.outside_hours_message = setting.outside_hours_reply;
  for (const OfficeHoursRange& r : setting.ranges) {
    const int day = static_cast<int>(r.weekday) - 1;
    if (day < 0 || day >= rules::kDaysPerWeek) {
      if (error) *error = Status::Error(ErrorCode::kInvalidArgument, "unknown weekday", "ranges");
      return std::nullopt;
    }
    spec.weekly[static_cast<size_t>(day)].push_back({r.start_minute, r.end_minute});
  }
  Result<rules::OfficeHours> hours = rules::OfficeHours::Create(std::move(spec));
  if (!hours.ok()) {
    if (error) *error = hours.status();
    return std::nullopt;
  }
  return std::move(hours).value();
}

// The events one command decides, before they are appended.
struct Decision {
  ShopState& shop;
  const CommandMeta& meta;
  int64_t now = 0;
  std::string correlation_id;
  std::vector<Event> events;
  std::string conversation_id;
  std::string created_id;

  Event& Emit(std::string conv_id, ActorKind kind, std::string actor_id, EventBody body) {
    Event e;
    e.envelope.event_id = NewEventId();
    e.envelope.type = TypeOf(body);
    e.envelope.schema_version = CurrentVersion(e.envelope.type);
    e.envelope.tenant = meta.tenant;
    e.envelope.conversation_id = std::move(conv_id);
    e.envelope.actor_kind = kind;
    e.envelope.actor_id = std::move(actor_id);
    e.envelope.occurred_at_us = now;
    e.envelope.recorded_at_us = now;
    e.envelope.correlation_id = correlation_id;
    e.envelope.idempotency_key = meta.idempotency_key;
    e.body = std::move(body);
    events.push_back(std::move(e));
    return events.back();
  }
  Event& EmitAsActor(std::string conv_id, EventBody body) {
    return Emit(std::move(conv_id), meta.actor.kind, meta.actor.id, std::move(body));
  }

  // The conversation named by `id`, or not_found.conversation.
  Result<const ConversationState*> Conversation(std::string_view id) const {
    const ConversationState* c = id.empty() ? nullptr : shop.FindConversation(id);
    if (c == nullptr) {
      return Refuse(
          ErrorCode::kNotFound, "not_found.conversation",
          "conversation '" + std::string(id) + "' does not exist in shop '" + meta.tenant + "'",
          "conversation_id");
    }
    return c;
  }

  // The conversation's status after expiring its snooze when due (emitting
  // the status change).
  ConversationStatus ExpireSnoozeIfDue(const ConversationState& c) {
    if (c.status == ConversationStatus::kSnoozed && c.snoozed_until_us &&
        *c.snoozed_until_us <= now) {
      ConversationStatusChanged b;
      b.from = ConversationStatus::kSnoozed;
      b.to = ConversationStatus::kOpen;
      b.reason = StatusChangeReason::kSnoozeExpired;
      Emit(c.conversation_id, ActorKind::kSystem, "palaver", b);
      return ConversationStatus::kOpen;
    }
    return c.status;
  }

  Status RequireActorKind(ActorKind kind, std::string_view command) const {
    if (meta.actor.kind != kind) {
      return Refuse(ErrorCode::kPermissionDenied, "wrong_actor",
                    std::string(command) + " is a " + std::string(ActorKindName(kind)) +
                        " command; it was sent by a " + std::string(ActorKindName(meta.actor.kind)),
                    "actor");
    }
    return Status::Ok();
  }

  Status RequireStorefront(std::string_view command) const {
    if (meta.actor.kind != ActorKind::kStorefront && meta.actor.kind != ActorKind::kSystem) {
      return Refuse(ErrorCode::kPermissionDenied, "wrong_actor",
                    std::string(command) + " is sent by the storefront, not by a " +
                        std::string(ActorKindName(meta.actor.kind)),
                    "actor");
    }
    return Status::Ok();
  }

  // The shopper who owns `c`.
  Status RequireOwner(const ConversationState& c, std::string_view command) const {
    PALAVER_RETURN_IF_ERROR(RequireActorKind(ActorKind::kShopper, command));
    if (meta.actor.id != c.customer_id) {
      return Refuse(ErrorCode::kPermissionDenied, "not_your_conversation",
                    "conversation '" + c.conversation_id + "' belongs to another customer",
                    "conversation_id");
    }
    return Status::Ok();
  }

  // The acting agent; with `chat`, they must hold the chat permission.
  Result<const Agent*> RequireAgent(std::string_view command, bool chat) const {
    PALAVER_RETURN_IF_ERROR(RequireActorKind(ActorKind::kAgent, command));
    const Agent* agent = shop.FindAgent(meta.actor.id);
    if (agent == nullptr) {
      return Refuse(ErrorCode::kPermissionDenied, "unknown_agent",
                    "'" + meta.actor.id + "' is not a member of staff of shop '" + meta.tenant +
                        "'; add them in the agents settings",
                    "actor.id");
    }
    if (chat && !HasPermission(*agent, Permission::kChat)) {
      return Refuse(ErrorCode::kPermissionDenied, "agent_lacks_chat_permission",
                    "agent '" + agent->agent_id +
                        "' does not have the chat permission; grant it in the agents settings",
                    "actor.id");
    }
    return agent;
  }

  // A message posted into `c` as `kind`/`actor_id`, delivered on the channel's route.
  MessagePosted& PostMessage(const ConversationState& c, ActorKind kind, std::string actor_id,
                             MessageKind message_kind, std::string text,
                             std::optional<DeliveryRoute> route = std::nullopt) {
    MessagePosted m;
    m.message_id = NewEventId();
    m.customer_id = c.customer_id;
    m.channel = c.channel;
    m.kind = message_kind;
    m.delivery_route = route ? *route : RouteFor(shop, c);
    m.personal.text = std::move(text);
    Event& e = Emit(c.conversation_id, kind, std::move(actor_id), std::move(m));
    return std::get<MessagePosted>(e.body);
  }

  // The office-hours reply to a new inquiry in `c`, when hours are set.
  void OfficeHoursReply(const ConversationState& c) {
    if (shop.office_hours.ranges.empty()) return;
    std::optional<rules::OfficeHours> hours = OfficeHoursOf(shop.office_hours, nullptr);
    if (!hours) return;
    std::optional<std::string> text = hours->AutoReplyFor(now);
    if (!text) return;
    MessagePosted& m = PostMessage(c, ActorKind::kSystem, "palaver", MessageKind::kAutomaticReply,
                                   std::move(*text));
    m.auto_reply = hours->IsOpenAt(now) ? AutoReplyKind::kDuringOfficeHours
                                        : AutoReplyKind::kOutsideOfficeHours;
  }

  // Starts a conversation; returns its state as far as later decisions of
  // this command need it.
  ConversationState StartConversation(const std::string& customer_id, Channel channel,
                                      ConversationStarted started) {
    ConversationState c;
    c.conversation_id = NewEventId();
    c.customer_id = customer_id;
    c.channel = channel;
    c.email = started.personal.email;
    c.phone = started.personal.phone;
    c.started_at_us = now;
    started.customer_id = customer_id;
    started.channel = channel;
    auto prev = shop.latest_conversation.find({customer_id, channel});
    if (prev != shop.latest_conversation.end() && channel == Channel::kWebChat) {
      started.previous_conversation_id = prev->second;
    }
    Emit(c.conversation_id,
         meta.actor.kind == ActorKind::kStorefront ? ActorKind::kShopper : meta.actor.kind,
         customer_id, std::move(started));
    conversation_id = c.conversation_id;
    return c;
  }
};

// ------------------------------------------------------------ per command

Status Decide(const StartWebChat& cmd, Decision& d, const std::string& secret) {
  PALAVER_RETURN_IF_ERROR(d.RequireActorKind(ActorKind::kShopper, "start_web_chat"));
  if (cmd.identity_token.empty()) {
    if (d.shop.visibility == ChatVisibility::kLoggedInUsers) {
      return Refuse(ErrorCode::kPermissionDenied, "chat_hidden",
                    "this shop shows chat to logged-in shoppers only; log in to chat",
                    "identity_token");
    }
    return Refuse(ErrorCode::kPermissionDenied, "identity_required",
                  "only logged-in shoppers can start a chat; log in first", "identity_token");
  }
  Result<rules::ShopperIdentity> id =
      rules::VerifyShopperIdentity(cmd.identity_token, d.meta.tenant, secret, d.now);
  if (!id.ok()) {
    const Status& s = id.status();
    std::string reason = "identity_malformed";
    if (s.code() == ErrorCode::kPermissionDenied) {
      reason = s.field() == "exp"    ? "identity_expired"
               : s.field() == "shop" ? "identity_wrong_shop"
                                     : "identity_forged";
    } else if (s.code() == ErrorCode::kFailedPrecondition) {
      reason = "identity_secret_missing";
    }
    return s.WithReason(reason);
  }
  const std::string& customer = id->customer_id;
  if (!d.meta.actor.id.empty() && d.meta.actor.id != customer) {
    return Refuse(ErrorCode::kPermissionDenied, "identity_mismatch",
                  "the identity token is for another customer than the caller", "identity_token");
  }
  // Idempotent per shopper and channel: an unclosed web chat is returned as is.
  auto latest = d.shop.latest_conversation.find({customer, Channel::kWebChat});
  if (latest != d.shop.latest_conversation.end()) {
    const ConversationState* c = d.shop.FindConversation(latest->second);
    if (c != nullptr && c->status != ConversationStatus::kClosed) {
      d.conversation_id = c->conversation_id;
      d.ExpireSnoozeIfDue(*c);
      return Status::Ok();
    }
  }
  ConversationStarted started;
  started.platform = cmd.platform;
  started.shopper_authenticated = true;
  started.personal.name = id->name;
  started.personal.email = cmd.email.empty() ? id->email : cmd.email;
  ConversationState c = d.StartConversation(customer, Channel::kWebChat, std::move(started));
  // The chat's opening: the welcome message, then the terms and privacy links.
  if (!d.shop.welcome_message.empty()) {
    MessagePosted& m = d.PostMessage(c, ActorKind::kSystem, "palaver", MessageKind::kAutomaticReply,
                                     d.shop.welcome_message, DeliveryRoute::kLiveChat);
    m.auto_reply = AutoReplyKind::kWelcome;
  }
  if (!d.shop.terms_url.empty() || !d.shop.privacy_url.empty()) {
    std::string links;
    if (!d.shop.terms_url.empty()) links += "Terms of service: " + d.shop.terms_url;
    if (!d.shop.privacy_url.empty()) {
      if (!links.empty()) links += "\n";
      links += "Privacy policy: " + d.shop.privacy_url;
    }
    d.PostMessage(c, ActorKind::kSystem, "palaver", MessageKind::kSystem, std::move(links),
                  DeliveryRoute::kLiveChat);
  }
  return Status::Ok();
}

Status Decide(const PostShopperMessage& cmd, Decision& d) {
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  const ConversationState& c = **found;
  PALAVER_RETURN_IF_ERROR(d.RequireOwner(c, "post_shopper_message"));
  if (cmd.kind == MessageKind::kImage) {
    return Refuse(ErrorCode::kPermissionDenied, "shopper_cannot_send_images",
                  "shoppers cannot send images; describe it in text", "kind");
  }
  if (cmd.kind != MessageKind::kText) {
    return Refuse(ErrorCode::kInvalidArgument, "unsupported_message_kind",
                  "shoppers send text messages only", "kind");
  }
  PALAVER_RETURN_IF_ERROR(CheckText(cmd.text));
  d.conversation_id = c.conversation_id;
  ConversationStatus status = d.ExpireSnoozeIfDue(c);
  // The conversation the message goes to: this one, or a new ticket. Not a
  // copy of this one (its message ids would be copied on every message).
  const ConversationState* target = &c;
  ConversationState new_ticket;
  bool new_inquiry = c.shopper_messages == 0;
  if (status == ConversationStatus::kClosed && c.channel == Channel::kWebChat) {
    // A closed web chat never reopens: the message starts a new ticket.
    ConversationStarted started;
    started.shopper_authenticated = true;
    started.personal.email = c.email;
    new_ticket = d.StartConversation(c.customer_id, Channel::kWebChat, std::move(started));
    target = &new_ticket;
    new_inquiry = true;
  } else if (status != ConversationStatus::kOpen) {
    ConversationStatusChanged b;
    b.from = status;
    b.to = ConversationStatus::kOpen;
    b.reason = StatusChangeReason::kShopperWrote;
    d.Emit(c.conversation_id, d.meta.actor.kind, d.meta.actor.id, b);
  }
  MessagePosted& m =
      d.PostMessage(*target, ActorKind::kShopper, target->customer_id, MessageKind::kText, cmd.text,
                    target->channel == Channel::kWebChat ? std::optional(DeliveryRoute::kLiveChat)
                                                         : std::nullopt);
  d.created_id = m.message_id;
  if (new_inquiry) d.OfficeHoursReply(*target);
  return Status::Ok();
}

Status Decide(const MarkRead& cmd, Decision& d) {
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  const ConversationState& c = **found;
  if (d.meta.actor.kind == ActorKind::kShopper) {
    PALAVER_RETURN_IF_ERROR(d.RequireOwner(c, "mark_read"));
  } else {
    Result<const Agent*> agent = d.RequireAgent("mark_read", false);
    if (!agent.ok()) return agent.status();
  }
  if (!c.message_ids.Contains(cmd.up_to_message_id)) {
    return Refuse(ErrorCode::kNotFound, "not_found.message",
                  "message '" + cmd.up_to_message_id + "' is not in this conversation",
                  "up_to_message_id");
  }
  d.conversation_id = c.conversation_id;
  d.ExpireSnoozeIfDue(c);
  d.EmitAsActor(c.conversation_id, MessagesRead{cmd.up_to_message_id});
  return Status::Ok();
}

Status RefuseClosed(const ConversationState& c) {
  return Refuse(ErrorCode::kFailedPrecondition, "conversation_closed",
                c.channel == Channel::kWebChat
                    ? "this web chat is closed and cannot be reopened; the shopper's next "
                      "message starts a new conversation"
                    : "this conversation is closed; reopen it first",
                "conversation_id");
}

Status Decide(const EndChat& cmd, Decision& d) {
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  const ConversationState& c = **found;
  PALAVER_RETURN_IF_ERROR(d.RequireOwner(c, "end_chat"));
  if (c.channel != Channel::kWebChat) {
    return Refuse(ErrorCode::kFailedPrecondition, "not_web_chat",
                  "only a web chat can be ended by the shopper", "conversation_id");
  }
  ConversationStatus status = d.ExpireSnoozeIfDue(c);
  if (status == ConversationStatus::kClosed) return RefuseClosed(c);
  d.conversation_id = c.conversation_id;
  ConversationStatusChanged b;
  b.from = status;
  b.to = ConversationStatus::kClosed;
  b.reason = StatusChangeReason::kShopperEndedChat;
  d.EmitAsActor(c.conversation_id, b);
  return Status::Ok();
}

Status Decide(const TakeFaqAnswer& cmd, Decision& d) {
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  const ConversationState& c = **found;
  PALAVER_RETURN_IF_ERROR(d.RequireOwner(c, "take_faq_answer"));
  if (d.ExpireSnoozeIfDue(c) == ConversationStatus::kClosed) return RefuseClosed(c);
  const Faq* faq = d.shop.FindPublishedFaq(cmd.faq_id);
  if (faq == nullptr) {
    return Refuse(ErrorCode::kNotFound, "not_found.faq",
                  "FAQ '" + cmd.faq_id + "' does not exist or is not published", "faq_id");
  }
  d.conversation_id = c.conversation_id;
  MessagePosted& m = d.PostMessage(c, ActorKind::kBot, std::string(kFaqBotId),
                                   MessageKind::kFaqAnswer, faq->answer);
  m.faq_id = faq->faq_id;
  d.created_id = m.message_id;
  return Status::Ok();
}

Status Decide(const AskForHuman& cmd, Decision& d) {
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  const ConversationState& c = **found;
  PALAVER_RETURN_IF_ERROR(d.RequireOwner(c, "ask_for_human"));
  if (d.ExpireSnoozeIfDue(c) == ConversationStatus::kClosed) return RefuseClosed(c);
  d.conversation_id = c.conversation_id;
  HandoffRequested h;
  h.reason = HandoffReason::kShopperAsked;
  h.target = HandoffTarget::kInbox;
  d.EmitAsActor(c.conversation_id, h);
  return Status::Ok();
}

Status Decide(const SubmitCsat& cmd, Decision& d) {
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  const ConversationState& c = **found;
  PALAVER_RETURN_IF_ERROR(d.RequireOwner(c, "submit_csat"));
  if (c.status != ConversationStatus::kClosed) {
    return Refuse(ErrorCode::kFailedPrecondition, "conversation_not_closed",
                  "a satisfaction rating can be given once the conversation is closed",
                  "conversation_id");
  }
  if (c.csat_submitted) {
    return Refuse(ErrorCode::kFailedPrecondition, "csat_already_submitted",
                  "this conversation has already been rated", "conversation_id");
  }
  if (cmd.rating < 1 || cmd.rating > 5) {
    return Refuse(ErrorCode::kInvalidArgument, "rating_out_of_range",
                  "the rating is " + std::to_string(cmd.rating) + "; give 1 to 5", "rating");
  }
  if (!cmd.comment.empty()) PALAVER_RETURN_IF_ERROR(CheckText(cmd.comment, "comment"));
  d.conversation_id = c.conversation_id;
  CsatSubmitted b;
  b.customer_id = c.customer_id;
  b.rating = cmd.rating;
  b.personal.comment = cmd.comment;
  d.EmitAsActor(c.conversation_id, b);
  return Status::Ok();
}

Status Decide(const RequestTranscript& cmd, Decision& d) {
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  const ConversationState& c = **found;
  PALAVER_RETURN_IF_ERROR(d.RequireOwner(c, "request_transcript"));
  const std::string email = cmd.email.empty() ? c.email : cmd.email;
  if (email.empty()) {
    return Refuse(ErrorCode::kInvalidArgument, "email_required",
                  "give the email address the transcript should go to", "email");
  }
  if (email.find('@') == std::string::npos || email.size() > 254) {
    return Refuse(ErrorCode::kInvalidArgument, "email_invalid",
                  "'" + rules::Preview(email, 80) + "' is not an email address", "email");
  }
  d.conversation_id = c.conversation_id;
  TranscriptRequested b;
  b.customer_id = c.customer_id;
  b.personal.email = email;
  d.EmitAsActor(c.conversation_id, b);
  return Status::Ok();
}

bool DiscountIsActive(const DiscountUpserted& dsc, int64_t now) {
  return dsc.status == DiscountStatus::kActive && dsc.starts_at_us <= now &&
         (!dsc.ends_at_us || now < *dsc.ends_at_us);
}

Status Decide(const AgentReply& cmd, Decision& d) {
  Result<const Agent*> agent = d.RequireAgent("agent_reply", true);
  if (!agent.ok()) return agent.status();
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  const ConversationState& c = **found;

  std::string text = cmd.text;
  switch (cmd.kind) {
    case MessageKind::kText:
      PALAVER_RETURN_IF_ERROR(CheckText(text));
      break;
    case MessageKind::kImage:
      if (!cmd.image) {
        return Refuse(ErrorCode::kInvalidArgument, "image_required",
                      "an image message needs the image", "image");
      }
      if (cmd.image->url.empty() || !cmd.image->content_type.starts_with("image/")) {
        return Refuse(ErrorCode::kInvalidArgument, "image_invalid",
                      "the image needs a URL and an image/* content type", "image");
      }
      if (!text.empty()) PALAVER_RETURN_IF_ERROR(CheckText(text));
      break;
    case MessageKind::kMacro: {
      const Macro* macro = d.shop.FindMacro(cmd.macro_id);
      if (macro == nullptr) {
        return Refuse(ErrorCode::kNotFound, "not_found.macro",
                      "macro '" + cmd.macro_id + "' does not exist; see the macros settings",
                      "macro_id");
      }
      text = macro->text;
      break;
    }
    case MessageKind::kProductShare: {
      if (cmd.product_ids.empty()) {
        return Refuse(ErrorCode::kInvalidArgument, "products_required",
                      "choose at least one product to share", "product_ids");
      }
      if (cmd.product_ids.size() > kMaxProductsPerShare) {
        return Refuse(ErrorCode::kInvalidArgument, "too_many_products",
                      std::to_string(cmd.product_ids.size()) +
                          " products were chosen; share at most 3 at once",
                      "product_ids");
      }
      std::set<std::string> seen;
      std::string titles;
      for (const std::string& id : cmd.product_ids) {
        if (!seen.insert(id).second) {
          return Refuse(ErrorCode::kInvalidArgument, "duplicate_product",
                        "product '" + id + "' is listed twice", "product_ids");
        }
        auto p = d.shop.products.find(id);
        if (p == d.shop.products.end()) {
          return Refuse(ErrorCode::kNotFound, "not_found.product",
                        "product '" + id + "' is not in the shop's catalogue", "product_ids");
        }
        if (p->second.status != ProductStatus::kActive) {
          return Refuse(ErrorCode::kFailedPrecondition, "product_not_active",
                        "product '" + id + "' is not active in the catalogue", "product_ids");
        }
        if (!titles.empty()) titles += ", ";
        titles += p->second.title;
      }
      if (text.empty())
        text = titles;
      else
        PALAVER_RETURN_IF_ERROR(CheckText(text));
      break;
    }
    case MessageKind::kDiscountShare: {
      auto it = d.shop.discounts_by_code.find(cmd.discount_code);
      if (it == d.shop.discounts_by_code.end()) {
        return Refuse(ErrorCode::kNotFound, "not_found.discount",
                      "discount code '" + cmd.discount_code + "' does not exist in this shop",
                      "discount_code");
      }
      if (!DiscountIsActive(it->second, d.now)) {
        return Refuse(ErrorCode::kFailedPrecondition, "discount_inactive",
                      "discount code '" + cmd.discount_code +
                          "' is not active now; only active codes can be shared",
                      "discount_code");
      }
      if (text.empty())
        text = "Use the code " + cmd.discount_code + " at checkout.";
      else
        PALAVER_RETURN_IF_ERROR(CheckText(text));
      break;
    }
    default:
      return Refuse(ErrorCode::kInvalidArgument, "unsupported_message_kind",
                    "agents send text, image, macro, product or discount messages", "kind");
  }
  if (d.ExpireSnoozeIfDue(c) == ConversationStatus::kClosed) return RefuseClosed(c);
  d.conversation_id = c.conversation_id;
  if (c.assignee.empty()) {
    ConversationAssigned a;
    a.agent_id = (*agent)->agent_id;
    a.reason = AssignmentReason::kFirstReply;
    d.EmitAsActor(c.conversation_id, a);
  }
  MessagePosted& m =
      d.PostMessage(c, ActorKind::kAgent, d.meta.actor.id, cmd.kind, std::move(text));
  if (cmd.kind == MessageKind::kImage) m.image = cmd.image;
  if (cmd.kind == MessageKind::kMacro) m.macro_id = cmd.macro_id;
  if (cmd.kind == MessageKind::kProductShare) m.product_ids = cmd.product_ids;
  if (cmd.kind == MessageKind::kDiscountShare) m.discount_code = cmd.discount_code;
  d.created_id = m.message_id;
  return Status::Ok();
}

Status Decide(const AddInternalNote& cmd, Decision& d) {
  Result<const Agent*> agent = d.RequireAgent("add_internal_note", false);
  if (!agent.ok()) return agent.status();
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  PALAVER_RETURN_IF_ERROR(CheckText(cmd.text));
  d.conversation_id = (*found)->conversation_id;
  d.ExpireSnoozeIfDue(**found);
  InternalNoteAdded b;
  b.note_id = NewEventId();
  b.customer_id = (*found)->customer_id;
  b.personal.text = cmd.text;
  d.created_id = b.note_id;
  d.EmitAsActor(d.conversation_id, b);
  return Status::Ok();
}

Status RefuseNote(const std::string& id) {
  return Refuse(ErrorCode::kNotFound, "not_found.note", "note '" + id + "' does not exist",
                "note_id");
}

Status Decide(const EditInternalNote& cmd, Decision& d) {
  Result<const Agent*> agent = d.RequireAgent("edit_internal_note", false);
  if (!agent.ok()) return agent.status();
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  if (!(*found)->internal_note_ids.contains(cmd.note_id)) return RefuseNote(cmd.note_id);
  PALAVER_RETURN_IF_ERROR(CheckText(cmd.text));
  d.conversation_id = (*found)->conversation_id;
  d.ExpireSnoozeIfDue(**found);
  InternalNoteEdited b;
  b.note_id = cmd.note_id;
  b.customer_id = (*found)->customer_id;
  b.personal.text = cmd.text;
  d.EmitAsActor(d.conversation_id, b);
  return Status::Ok();
}

Status Decide(const DeleteInternalNote& cmd, Decision& d) {
  Result<const Agent*> agent = d.RequireAgent("delete_internal_note", false);
  if (!agent.ok()) return agent.status();
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  if (!(*found)->internal_note_ids.contains(cmd.note_id)) return RefuseNote(cmd.note_id);
  d.conversation_id = (*found)->conversation_id;
  d.ExpireSnoozeIfDue(**found);
  d.EmitAsActor(d.conversation_id, InternalNoteDeleted{cmd.note_id});
  return Status::Ok();
}

Status Decide(const MarkUnread& cmd, Decision& d) {
  Result<const Agent*> agent = d.RequireAgent("mark_unread", false);
  if (!agent.ok()) return agent.status();
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  if (!cmd.from_message_id.empty() && !(*found)->message_ids.Contains(cmd.from_message_id)) {
    return Refuse(ErrorCode::kNotFound, "not_found.message",
                  "message '" + cmd.from_message_id + "' is not in this conversation",
                  "from_message_id");
  }
  d.conversation_id = (*found)->conversation_id;
  d.ExpireSnoozeIfDue(**found);
  d.EmitAsActor(d.conversation_id, ConversationMarkedUnread{cmd.from_message_id});
  return Status::Ok();
}

Status Decide(const Assign& cmd, Decision& d) {
  Result<const Agent*> actor = d.RequireAgent("assign", false);
  if (!actor.ok()) return actor.status();
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  const Agent* target = d.shop.FindAgent(cmd.agent_id);
  if (target == nullptr) {
    return Refuse(ErrorCode::kNotFound, "not_found.agent",
                  "'" + cmd.agent_id + "' is not a member of staff of this shop", "agent_id");
  }
  if (!HasPermission(*target, Permission::kChat)) {
    return Refuse(ErrorCode::kFailedPrecondition, "agent_lacks_chat_permission",
                  "agent '" + cmd.agent_id +
                      "' does not have the chat permission and cannot be assigned conversations",
                  "agent_id");
  }
  if ((*found)->assignee == cmd.agent_id) {
    return Refuse(ErrorCode::kFailedPrecondition, "already_assigned",
                  "the conversation is already assigned to '" + cmd.agent_id + "'", "agent_id");
  }
  d.conversation_id = (*found)->conversation_id;
  d.ExpireSnoozeIfDue(**found);
  ConversationAssigned a;
  a.agent_id = cmd.agent_id;
  a.previous_agent_id = (*found)->assignee;
  a.reason = AssignmentReason::kManual;
  d.EmitAsActor(d.conversation_id, a);
  return Status::Ok();
}

Status Decide(const Unassign& cmd, Decision& d) {
  Result<const Agent*> actor = d.RequireAgent("unassign", false);
  if (!actor.ok()) return actor.status();
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  if ((*found)->assignee.empty()) {
    return Refuse(ErrorCode::kFailedPrecondition, "not_assigned",
                  "the conversation is not assigned to anyone", "conversation_id");
  }
  d.conversation_id = (*found)->conversation_id;
  d.ExpireSnoozeIfDue(**found);
  d.EmitAsActor(d.conversation_id, ConversationUnassigned{(*found)->assignee});
  return Status::Ok();
}

Status Decide(const ChangeStatus& cmd, Decision& d) {
  Result<const Agent*> actor = d.RequireAgent("change_status", false);
  if (!actor.ok()) return actor.status();
  Result<const ConversationState*> found = d.Conversation(cmd.conversation_id);
  if (!found.ok()) return found.status();
  const ConversationState& c = **found;
  const ConversationStatus from = d.ExpireSnoozeIfDue(c);
  if (from == ConversationStatus::kClosed && c.channel == Channel::kWebChat &&
      cmd.to != ConversationStatus::kClosed) {
    return Refuse(ErrorCode::kFailedPrecondition, "web_chat_cannot_reopen",
                  "a closed web chat can never be reopened; the shopper's next message starts a "
                  "new conversation",
                  "to");
  }
  ConversationStatusChanged b;
  b.from = from;
  b.to = cmd.to;
  b.reason = cmd.reason;
  switch (cmd.to) {
    case ConversationStatus::kSnoozed:
      if (!cmd.snoozed_until_us) {
        return Refuse(ErrorCode::kInvalidArgument, "snooze_time_required",
                      "say until when the conversation is snoozed", "snoozed_until_us");
      }
      if (*cmd.snoozed_until_us <= d.now) {
        return Refuse(ErrorCode::kInvalidArgument, "snooze_in_past",
                      "the snooze must end in the future", "snoozed_until_us");
      }
      b.snoozed_until_us = cmd.snoozed_until_us;
      break;
    case ConversationStatus::kOpen:
    case ConversationStatus::kClosed:
      if (cmd.snoozed_until_us) {
        return Refuse(ErrorCode::kInvalidArgument, "snooze_time_unexpected",
                      "only a snooze takes an end time", "snoozed_until_us");
      }
      break;
    default:
      return Refuse(ErrorCode::kInvalidArgument, "invalid_status", "unknown status", "to");
  }
  const bool closing_reason =
      cmd.reason == StatusChangeReason::kResolved || cmd.reason == StatusChangeReason::kSpam ||
      cmd.reason == StatusChangeReason::kHandedOff || cmd.reason == StatusChangeReason::kInactivity;
  if (cmd.reason != StatusChangeReason::kAgentAction &&
      !(closing_reason && cmd.to == ConversationStatus::kClosed)) {
    return Refuse(ErrorCode::kInvalidArgument, "invalid_reason",
                  "an agent changes status with reason agent_action (or, when closing, "
                  "resolved, spam, handed_off or inactivity)",
                  "reason");
  }
  if (from == cmd.to && (cmd.to != ConversationStatus::kSnoozed ||
                         (from == c.status && c.snoozed_until_us == cmd.snoozed_until_us))) {
    return Refuse(ErrorCode::kFailedPrecondition, "status_unchanged",
                  "the conversation is already " + std::string(EnumName(cmd.to)), "to");
  }
  d.conversation_id = c.conversation_id;
  d.EmitAsActor(c.conversation_id, b);
  return Status::Ok();
}

Status Decide(const AddCustomerNote& cmd, Decision& d) {
  Result<const Agent*> actor = d.RequireAgent("add_customer_note", false);
  if (!actor.ok()) return actor.status();
  if (cmd.customer_id.empty() || !d.shop.customers.contains(cmd.customer_id)) {
    return Refuse(ErrorCode::kNotFound, "not_found.customer",
                  "customer '" + cmd.customer_id + "' is not known to this shop", "customer_id");
  }
  PALAVER_RETURN_IF_ERROR(CheckText(cmd.text));
  CustomerNoteAdded b;
  b.note_id = NewEventId();
  b.customer_id = cmd.customer_id;
  b.personal.text = cmd.text;
  d.created_id = b.note_id;
  d.EmitAsActor("", b);
  return Status::Ok();
}

Status Decide(const EditCustomerNote& cmd, Decision& d) {
  Result<const Agent*> actor = d.RequireAgent("edit_customer_note", false);
  if (!actor.ok()) return actor.status();
  auto owner = d.shop.customer_note_owner.find(cmd.note_id);
  if (owner == d.shop.customer_note_owner.end()) return RefuseNote(cmd.note_id);
  PALAVER_RETURN_IF_ERROR(CheckText(cmd.text));
  CustomerNoteEdited b;
  b.note_id = cmd.note_id;
  b.customer_id = owner->second;
  b.personal.text = cmd.text;
  d.EmitAsActor("", b);
  return Status::Ok();
}

Status Decide(const DeleteCustomerNote& cmd, Decision& d) {
  Result<const Agent*> actor = d.RequireAgent("delete_customer_note", false);
  if (!actor.ok()) return actor.status();
  auto owner = d.shop.customer_note_owner.find(cmd.note_id);
  if (owner == d.shop.customer_note_owner.end()) return RefuseNote(cmd.note_id);
  d.EmitAsActor("", CustomerNoteDeleted{cmd.note_id, owner->second});
  return Status::Ok();
}

Status RequireId(const std::string& value, std::string field) {
  if (value.empty()) {
    return Refuse(ErrorCode::kInvalidArgument, field + "_required", field + " is required", field);
  }
  return Status::Ok();
}

Status CheckCurrency(const std::string& currency, std::string field = "currency") {
  const bool ok =
      currency.size() == 3 &&
      std::all_of(currency.begin(), currency.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; });
  if (!ok) {
    return Refuse(ErrorCode::kInvalidArgument, "invalid_currency",
                  "'" + rules::Preview(currency, 16) + "' is not an ISO 4217 code such as EUR",
                  field);
  }
  return Status::Ok();
}

// The customer's web chat that is not closed, if any.
const ConversationState* OpenWebChat(const ShopState& shop, const std::string& customer) {
  auto it = shop.latest_conversation.find({customer, Channel::kWebChat});
  if (it == shop.latest_conversation.end()) return nullptr;
  const ConversationState* c = shop.FindConversation(it->second);
  return c != nullptr && c->status != ConversationStatus::kClosed ? c : nullptr;
}

Status Decide(const UpdateCart& cmd, Decision& d) {
  PALAVER_RETURN_IF_ERROR(d.RequireStorefront("update_cart"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.customer_id, "customer_id"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.cart_id, "cart_id"));
  if (cmd.change != CartChange::kCleared) {
    PALAVER_RETURN_IF_ERROR(RequireId(cmd.changed_product_id, "changed_product_id"));
  }
  PALAVER_RETURN_IF_ERROR(CheckCurrency(cmd.currency));
  CartUpdated b;
  b.customer_id = cmd.customer_id;
  b.cart_id = cmd.cart_id;
  b.change = cmd.change;
  b.changed_product_id = cmd.changed_product_id;
  b.currency = cmd.currency;
  for (size_t i = 0; i < cmd.line_items.size(); ++i) {
    const LineItem& item = cmd.line_items[i];
    const std::string field = "line_items[" + std::to_string(i) + "]";
    PALAVER_RETURN_IF_ERROR(RequireId(item.product_id, field + ".product_id"));
    if (item.quantity <= 0) {
      return Refuse(ErrorCode::kInvalidArgument, "invalid_quantity",
                    "a line item's quantity must be at least 1", field + ".quantity");
    }
    if (item.unit_price_minor < 0) {
      return Refuse(ErrorCode::kInvalidArgument, "invalid_price",
                    "a line item's price cannot be negative", field + ".unit_price_minor");
    }
    b.subtotal_minor += int64_t{item.quantity} * item.unit_price_minor;
  }
  b.line_items = cmd.line_items;
  const ConversationState* chat = OpenWebChat(d.shop, cmd.customer_id);
  d.conversation_id = chat ? chat->conversation_id : "";
  d.EmitAsActor(d.conversation_id, std::move(b));
  return Status::Ok();
}

Status Decide(const ChangePresence& cmd, Decision& d) {
  PALAVER_RETURN_IF_ERROR(d.RequireStorefront("change_presence"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.customer_id, "customer_id"));
  const ConversationState* chat = OpenWebChat(d.shop, cmd.customer_id);
  d.conversation_id = chat ? chat->conversation_id : "";
  d.EmitAsActor(d.conversation_id, PresenceChanged{cmd.customer_id, cmd.presence, cmd.session_id});
  auto customer = d.shop.customers.find(cmd.customer_id);
  const bool was_online =
      customer == d.shop.customers.end() || customer->second.presence == Presence::kOnline;
  if (chat != nullptr && was_online && cmd.presence == Presence::kOffline) {
    // Agents see where their replies go from now on.
    const std::string text =
        chat->email.empty()
            ? "The shopper left the store and gave no email; replies wait in the chat."
            : "The shopper left the store; replies go by email to " + chat->email + ".";
    d.PostMessage(*chat, ActorKind::kSystem, "palaver", MessageKind::kSystem, text,
                  DeliveryRoute::kInboxOnly);
  }
  return Status::Ok();
}

Status Decide(const RecordOrderPlaced& cmd, Decision& d) {
  PALAVER_RETURN_IF_ERROR(d.RequireStorefront("record_order_placed"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.order.order_id, "order_id"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.order.customer_id, "customer_id"));
  PALAVER_RETURN_IF_ERROR(CheckCurrency(cmd.order.currency));
  OrderPlaced b = cmd.order;
  if (b.placed_at_us == 0) b.placed_at_us = d.now;
  d.EmitAsActor("", std::move(b));
  return Status::Ok();
}

Status Decide(const RecordOrderUpdated& cmd, Decision& d) {
  PALAVER_RETURN_IF_ERROR(d.RequireStorefront("record_order_updated"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.order.order_id, "order_id"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.order.customer_id, "customer_id"));
  PALAVER_RETURN_IF_ERROR(CheckCurrency(cmd.order.currency));
  d.EmitAsActor("", cmd.order);
  return Status::Ok();
}

Status Decide(const UpsertCustomerProfile& cmd, Decision& d) {
  PALAVER_RETURN_IF_ERROR(d.RequireStorefront("upsert_customer_profile"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.profile.customer_id, "customer_id"));
  d.EmitAsActor("", cmd.profile);
  return Status::Ok();
}

Status Decide(const UpsertProduct& cmd, Decision& d) {
  PALAVER_RETURN_IF_ERROR(d.RequireStorefront("upsert_product"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.product.product_id, "product_id"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.product.title, "title"));
  PALAVER_RETURN_IF_ERROR(CheckCurrency(cmd.product.currency));
  d.EmitAsActor("", cmd.product);
  return Status::Ok();
}

Status Decide(const UpsertDiscount& cmd, Decision& d) {
  PALAVER_RETURN_IF_ERROR(d.RequireStorefront("upsert_discount"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.discount.discount_id, "discount_id"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.discount.code, "code"));
  auto other = d.shop.discounts_by_code.find(cmd.discount.code);
  if (other != d.shop.discounts_by_code.end() &&
      other->second.discount_id != cmd.discount.discount_id) {
    return Refuse(
        ErrorCode::kAlreadyExists, "discount_code_taken",
        "code '" + cmd.discount.code + "' belongs to discount '" + other->second.discount_id + "'",
        "code");
  }
  d.EmitAsActor("", cmd.discount);
  return Status::Ok();
}

Status Decide(const ReceiveInboundMessage& cmd, Decision& d) {
  PALAVER_RETURN_IF_ERROR(d.RequireStorefront("receive_inbound_message"));
  if (cmd.channel != Channel::kSms && cmd.channel != Channel::kEmail) {
    return Refuse(ErrorCode::kInvalidArgument, "unsupported_channel",
                  "inbound messages arrive by SMS or email; web chat uses post_shopper_message",
                  "channel");
  }
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.customer_id, "customer_id"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.from_address, "from_address"));
  PALAVER_RETURN_IF_ERROR(CheckText(cmd.text));
  ConversationState target;
  bool new_inquiry = false;
  auto latest = d.shop.latest_conversation.find({cmd.customer_id, cmd.channel});
  const ConversationState* existing = latest == d.shop.latest_conversation.end()
                                          ? nullptr
                                          : d.shop.FindConversation(latest->second);
  if (existing == nullptr) {
    ConversationStarted started;
    started.personal.name = cmd.name;
    (cmd.channel == Channel::kSms ? started.personal.phone : started.personal.email) =
        cmd.from_address;
    target = d.StartConversation(cmd.customer_id, cmd.channel, std::move(started));
    new_inquiry = true;
  } else {
    target = *existing;
    d.conversation_id = existing->conversation_id;
    const ConversationStatus status = d.ExpireSnoozeIfDue(*existing);
    if (status != ConversationStatus::kOpen) {
      ConversationStatusChanged b;
      b.from = status;
      b.to = ConversationStatus::kOpen;
      b.reason = StatusChangeReason::kShopperWrote;
      d.Emit(existing->conversation_id, ActorKind::kShopper, cmd.customer_id, b);
    }
    new_inquiry = existing->shopper_messages == 0;
  }
  MessagePosted& m =
      d.PostMessage(target, ActorKind::kShopper, cmd.customer_id, MessageKind::kText, cmd.text);
  d.created_id = m.message_id;
  if (new_inquiry) d.OfficeHoursReply(target);
  return Status::Ok();
}

Status CheckSetting(const VisibilitySetting& a, const ShopState&) {
  if (EnumName(a.visibility).empty()) {
    return Refuse(ErrorCode::kInvalidArgument, "invalid_setting", "unknown visibility",
                  "visibility");
  }
  return Status::Ok();
}
Status CheckSetting(const WelcomeMessageSetting& a, const ShopState&) {
  return a.text.empty() ? Status::Ok() : CheckText(a.text);
}
Status CheckUrl(const std::string& url, std::string field) {
  if (!url.empty() && !url.starts_with("https://") && !url.starts_with("http://")) {
    return Refuse(ErrorCode::kInvalidArgument, "invalid_url",
                  "'" + rules::Preview(url, 80) + "' is not an http(s) URL", field);
  }
  return Status::Ok();
}
Status CheckSetting(const LegalLinksSetting& a, const ShopState&) {
  PALAVER_RETURN_IF_ERROR(CheckUrl(a.terms_url, "terms_url"));
  return CheckUrl(a.privacy_url, "privacy_url");
}
Status DuplicateOrEmpty(std::set<std::string>& seen, const std::string& id, std::string what,
                        std::string field) {
  if (id.empty() || !seen.insert(id).second) {
    return Refuse(ErrorCode::kInvalidArgument, "invalid_setting",
                  id.empty() ? what + " without an id" : what + " id '" + id + "' is used twice",
                  field);
  }
  return Status::Ok();
}
Status CheckSetting(const FaqsSetting& a, const ShopState&) {
  std::set<std::string> seen;
  for (size_t i = 0; i < a.faqs.size(); ++i) {
    const std::string field = "faqs[" + std::to_string(i) + "]";
    PALAVER_RETURN_IF_ERROR(DuplicateOrEmpty(seen, a.faqs[i].faq_id, "an FAQ", field));
    PALAVER_RETURN_IF_ERROR(CheckText(a.faqs[i].question, field + ".question"));
    PALAVER_RETURN_IF_ERROR(CheckText(a.faqs[i].answer, field + ".answer"));
  }
  return Status::Ok();
}
Status CheckSetting(const OfficeHoursSetting& a, const ShopState&) {
  Status error;
  if (!OfficeHoursOf(a, &error)) {
    return Refuse(ErrorCode::kInvalidArgument, "invalid_office_hours", error.message(),
                  error.field());
  }
  if (!a.during_hours_reply.empty()) {
    PALAVER_RETURN_IF_ERROR(CheckText(a.during_hours_reply, "during_hours_reply"));
  }
  if (!a.outside_hours_reply.empty()) {
    PALAVER_RETURN_IF_ERROR(CheckText(a.outside_hours_reply, "outside_hours_reply"));
  }
  return Status::Ok();
}
Status CheckSetting(const MacrosSetting& a, const ShopState&) {
  std::set<std::string> seen;
  for (size_t i = 0; i < a.macros.size(); ++i) {
    const std::string field = "macros[" + std::to_string(i) + "]";
    PALAVER_RETURN_IF_ERROR(DuplicateOrEmpty(seen, a.macros[i].macro_id, "a macro", field));
    PALAVER_RETURN_IF_ERROR(CheckText(a.macros[i].text, field + ".text"));
  }
  return Status::Ok();
}
Status CheckSetting(const AgentsSetting& a, const ShopState&) {
  std::set<std::string> seen;
  for (size_t i = 0; i < a.agents.size(); ++i) {
    PALAVER_RETURN_IF_ERROR(DuplicateOrEmpty(seen, a.agents[i].agent_id, "an agent",
                                             "agents[" + std::to_string(i) + "]"));
  }
  return Status::Ok();
}
Status CheckSetting(const OverdueTargetSetting& a, const ShopState&) {
  if (a.seconds <= 0 || a.seconds > kMaxOverdueTargetSeconds) {
    return Refuse(ErrorCode::kInvalidArgument, "invalid_overdue_target",
                  "the overdue target must be between 1 second and 7 days", "seconds");
  }
  return Status::Ok();
}

Status Decide(const UpdateSettings& cmd, Decision& d) {
  if (d.meta.actor.kind != ActorKind::kSystem) {
    const Permission needed = std::holds_alternative<AgentsSetting>(cmd.aspect)
                                  ? Permission::kManageAgents
                                  : Permission::kManageSettings;
    Result<const Agent*> agent = d.RequireAgent("update_settings", false);
    if (!agent.ok()) return agent.status();
    if (!HasPermission(**agent, needed)) {
      return Refuse(ErrorCode::kPermissionDenied, "lacks_permission",
                    "agent '" + (*agent)->agent_id + "' needs the " +
                        std::string(EnumName(needed)) + " permission to change this setting",
                    "actor.id");
    }
  }
  PALAVER_RETURN_IF_ERROR(
      std::visit([&](const auto& a) { return CheckSetting(a, d.shop); }, cmd.aspect));
  d.EmitAsActor("", SettingsChanged{cmd.aspect});
  return Status::Ok();
}

Status Decide(const EraseCustomer& cmd, Decision& d) {
  PALAVER_RETURN_IF_ERROR(d.RequireStorefront("erase_customer"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.customer_id, "customer_id"));
  PALAVER_RETURN_IF_ERROR(RequireId(cmd.request_id, "request_id"));
  d.EmitAsActor("", CustomerErased{cmd.customer_id, cmd.request_id, cmd.regulation});
  return Status::Ok();
}

}  // namespace

// ------------------------------------------------------------ partition writer

// One command waiting in a group: its secret was resolved before queueing.
struct ConversationEngine::Pending {
  const Command* command = nullptr;
  std::string secret;
  Result<CommandResult>* result = nullptr;
};

class ConversationEngine::PartitionWriter {
 public:
  PartitionWriter(EventLog& log, int32_t partition, bool sole_writer)
      : log_(log), partition_(partition), sole_writer_(sole_writer) {}

  // A caller's commands queued for a group commit.
  struct Waiter {
    std::vector<Pending> commands;
    bool done = false;  // guarded by queue_mu_
    std::condition_variable cv;
  };

  // Queues `waiter` and returns once its commands have results. The caller
  // at the front of the queue becomes the leader: it takes the queued waiters
  // (up to `max_commands` commands, at least its own), runs `commit` on them
  // under the state lock, then wakes them and the next leader.
  void Run(Waiter& waiter, size_t max_commands,
           const std::function<void(std::vector<Pending*>&)>& commit) {
    std::unique_lock<std::mutex> lock(queue_mu_);
    queue_.push_back(&waiter);
    while (!waiter.done && queue_.front() != &waiter) waiter.cv.wait(lock);
    if (waiter.done) return;  // a leader committed our commands
    std::vector<Waiter*> group;
    std::vector<Pending*> commands;
    for (Waiter* w : queue_) {
      if (!group.empty() && commands.size() + w->commands.size() > max_commands) break;
      group.push_back(w);
      for (Pending& p : w->commands) commands.push_back(&p);
    }
    lock.unlock();
    {
      std::lock_guard<std::mutex> state(mu);
      commit(commands);
    }
    lock.lock();
    for (Waiter* w : group) {
      queue_.pop_front();  // the group is the queue's front, in order
      if (w != &waiter) {
        w->done = true;
        w->cv.notify_one();
      }
    }
    if (!queue_.empty()) queue_.front()->cv.notify_one();
  }

  // Guards the state below (cursor, reader, shops).
  std::mutex mu;

  // Brings the shops' states up to the partition's end. With sole_writer the
  // end is asked of the log only until a catch-up succeeded (and again after
  // Reset()); then the cursor is trusted. Requires mu.
  Status CatchUp(std::chrono::milliseconds timeout) {
    if (sole_writer_ && caught_up_) return Status::Ok();
    return CatchUpFromLog(timeout);
  }

  // Reads every record between the cursor and the partition's end offset
  // into the shops' states. Requires mu.
  Status CatchUpFromLog(std::chrono::milliseconds timeout) {
    Result<int64_t> end = log_.EndOffset(partition_);
    if (!end.ok()) return end.status().WithContext("catching up with the log");
    if (cursor_ >= *end) {
      caught_up_ = true;
      return Status::Ok();
    }
    if (reader_ == nullptr) {
      Result<std::unique_ptr<LogReader>> reader = log_.OpenReader(partition_, cursor_);
      if (!reader.ok()) return reader.status().WithContext("catching up with the log");
      reader_ = std::move(reader).value();
    } else if (reader_->Position() != cursor_) {
      reader_->Seek(cursor_);
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (cursor_ < *end) {
      Result<std::vector<LogRecord>> records = reader_->Next(1024, std::chrono::milliseconds(100));
      if (!records.ok()) return records.status().WithContext("catching up with the log");
      for (const LogRecord& record : *records) {
        Result<Event> event = DecodeEvent(record.value);
        if (!event.ok()) {
          // The log is the truth; a record this build cannot read is skipped
          // loudly rather than blocking the shop forever.
          spdlog::error("domain.catch_up.skip partition={} offset={} error=\"{}\"", partition_,
                        record.offset, event.status().ToString());
        } else {
          Shop(event->envelope.tenant)
              .Apply(*event, {record.partition, record.offset}, record.value);
        }
        cursor_ = record.offset + 1;
      }
      if (records->empty() && std::chrono::steady_clock::now() > deadline) {
        return Refuse(ErrorCode::kUnavailable, "catch_up_timeout",
                      "the log did not deliver offsets " + std::to_string(cursor_) + ".." +
                          std::to_string(*end) + " of partition " + std::to_string(partition_) +
                          " in time; retry");
      }
    }
    caught_up_ = true;
    return Status::Ok();
  }

  // Forgets every shop and the cursor: the next CatchUp rebuilds the state
  // from offset 0. Used when the in-memory state may hold events that are
  // not in the log, or that are there at other offsets (a failed or foreign
  // append); both are rare, so a full replay is the simple correct answer.
  // Requires mu.
  void Reset() {
    shops_.clear();
    cursor_ = 0;
    caught_up_ = false;
  }

  // Requires mu.
  ShopState& Shop(const std::string& tenant) {
    auto [it, inserted] = shops_.try_emplace(tenant);
    if (inserted) it->second.tenant = tenant;
    return it->second;
  }

  // Applies an event decided for the next append at `offset`, as `frame`
  // (its EncodeEvent), before the append (the group's later commands decide
  // on it). Requires mu.
  void ApplyAt(const Event& event, std::string_view frame, int64_t offset) {
    Shop(event.envelope.tenant).Apply(event, {partition_, offset}, frame);
  }

  // True when `positions` are the `count` offsets right after the cursor in
  // this partition: no other writer appended in between.
  bool FollowsCursor(const std::vector<LogPosition>& positions, size_t count) const {
    if (positions.size() != count) return false;
    for (size_t i = 0; i < positions.size(); ++i) {
      if (positions[i].partition != partition_ ||
          positions[i].offset != cursor_ + static_cast<int64_t>(i)) {
        return false;
      }
    }
    return true;
  }

  // Another writer appended between the cursor and our records (a stale
  // owner): logged loudly; the state is rebuilt from the log. Requires mu.
  Status ForeignAppend(const std::vector<LogPosition>& positions,
                       std::chrono::milliseconds timeout) {
    spdlog::error(
        "domain.foreign_append partition={} expected_offset={} got_offset={} records={}: another "
        "writer appended to this partition; rebuilding its state from the log",
        partition_, cursor_, positions.empty() ? int64_t{-1} : positions.front().offset,
        positions.size());
    Reset();
    return CatchUpFromLog(timeout);
  }

  // Appends `frames`, whose events were already applied (ApplyAt) at the
  // offsets cursor, cursor + 1, ... If the append fails the state holds
  // events that may or may not have landed: it is dropped (Reset) so the next
  // command rebuilds it from the log. If another writer appended in between,
  // the events were applied at the wrong offsets: the state is rebuilt from
  // the log, and the append itself stands. Requires mu.
  Result<std::vector<LogPosition>> AppendApplied(std::vector<std::string> frames,
                                                 std::chrono::milliseconds timeout) {
    const size_t count = frames.size();
    Result<std::vector<LogPosition>> appended = log_.AppendBatch(std::move(frames));
    if (!appended.ok()) {
      spdlog::warn("domain.append_failed partition={} records={} error=\"{}\"", partition_, count,
                   appended.status().ToString());
      Reset();
      return appended.status();
    }
    if (FollowsCursor(*appended, count)) {
      cursor_ += static_cast<int64_t>(count);
    } else if (Status rebuilt = ForeignAppend(*appended, timeout); !rebuilt.ok()) {
      Reset();
      spdlog::warn("domain.rebuild_failed partition={} error=\"{}\"", partition_,
                   rebuilt.ToString());
    }
    return appended;
  }

  EventLog& log() { return log_; }
  int32_t partition() const { return partition_; }
  int64_t cursor() const { return cursor_; }                    // requires mu
  std::map<std::string, ShopState>& shops() { return shops_; }  // requires mu

 private:
  EventLog& log_;
  const int32_t partition_;
  const bool sole_writer_;
  int64_t cursor_ = 0;                      // guarded by mu: next offset to apply
  bool caught_up_ = false;                  // guarded by mu: a catch-up reached the end
  std::unique_ptr<LogReader> reader_;       // guarded by mu
  std::map<std::string, ShopState> shops_;  // guarded by mu

  std::mutex queue_mu_;
  std::deque<Waiter*> queue_;  // guarded by queue_mu_; the front one leads
};

ConversationEngine::ConversationEngine(EventLog& log, const rules::Clock& clock,
                                       ConversationEngineOptions options)
    : log_(log), clock_(clock), options_(std::move(options)) {
  for (int32_t p = 0; p < log_.PartitionCount(); ++p) {
    writers_.push_back(std::make_unique<PartitionWriter>(log_, p, options_.sole_writer));
  }
}

ConversationEngine::~ConversationEngine() = default;

ConversationEngine::PartitionWriter& ConversationEngine::WriterFor(std::string_view tenant) {
  return *writers_[static_cast<size_t>(log_.PartitionFor(tenant))];
}

namespace {

Status UnknownShop(std::string_view tenant) {
  return Refuse(ErrorCode::kNotFound, "not_found.shop",
                "shop '" + std::string(tenant) + "' is not served by this palaver", "tenant");
}

Status KeyReused(const std::string& key) {
  return Refuse(
      ErrorCode::kConflict, "idempotency_key_reused",
      "idempotency key '" + key + "' was already used for a different request; use a new key",
      "idempotency_key");
}

Result<CommandResult> ResultFrom(const IdempotentOutcome& outcome) {
  Result<std::vector<std::pair<Event, LogPosition>>> events = outcome.Events();
  if (!events.ok()) return events.status();
  CommandResult r;
  r.conversation_id = outcome.conversation_id;
  r.replayed = true;
  for (auto& [event, position] : *events) r.events.push_back({std::move(event), position});
  // The id the command created, as Decide reported it the first time.
  for (const AppendedEvent& e : r.events) {
    if (!r.created_id.empty()) break;
    if (const auto* m = std::get_if<MessagePosted>(&e.event.body);
        m != nullptr && e.event.envelope.actor_kind != ActorKind::kSystem) {
      r.created_id = m->message_id;
    } else if (const auto* n = std::get_if<InternalNoteAdded>(&e.event.body)) {
      r.created_id = n->note_id;
    } else if (const auto* cn = std::get_if<CustomerNoteAdded>(&e.event.body)) {
      r.created_id = cn->note_id;
    }
  }
  return r;
}

// The frames of `events`, or the first refusal of the codec (reasons
// "too_large", "invalid_utf8").
Result<std::vector<std::string>> EncodeFrames(const std::vector<Event>& events) {
  std::vector<std::string> frames;
  frames.reserve(events.size());
  for (const Event& e : events) {
    Result<std::string> frame = EncodeEvent(e);
    if (!frame.ok()) {
      const Status& s = frame.status();
      return s.WithReason(s.code() == ErrorCode::kTooLarge ? "too_large" : "invalid_utf8");
    }
    frames.push_back(std::move(frame).value());
  }
  return frames;
}

// A command of a group after its decision.
struct Decided {
  Status status;         // a refusal, or OK
  CommandResult result;  // when OK: ids; events are filled after the append
  std::vector<Event> events;
  size_t first_frame = 0;  // index of its first event in the group's AppendBatch
  // When >= 0: the same idempotency key and body as that earlier command of
  // the group; this one returns its result, replayed.
  ptrdiff_t replay_of = -1;
};

}  // namespace

void ConversationEngine::CommitGroup(PartitionWriter& writer, std::vector<Pending*>& group) {
  const auto fail_all = [&](const Status& status) {
    for (Pending* p : group) *p->result = status;
  };
  Status caught = writer.CatchUp(options_.catch_up_timeout);
  if (!caught.ok()) return fail_all(caught);

  // Decide each command in order, applying its events at the offsets they
  // will get (cursor, cursor + 1, ...) so the next command decides on them.
  std::vector<Decided> decided(group.size());
  std::vector<std::string> frames;
  std::map<std::pair<std::string, std::string>, size_t> keys;  // (tenant, key) -> group index
  const int64_t base = writer.cursor();
  for (size_t i = 0; i < group.size(); ++i) {
    const Command& command = *group[i]->command;
    const CommandMeta& meta = MetaOf(command);
    Decided& out = decided[i];
    ShopState& shop = writer.Shop(meta.tenant);

    std::string fingerprint;
    if (!meta.idempotency_key.empty()) {
      fingerprint = Fingerprint(command);
      // An earlier command of this group first: its result is not durable yet.
      auto in_group = keys.find({meta.tenant, meta.idempotency_key});
      if (in_group != keys.end()) {
        if (Fingerprint(*group[in_group->second]->command) != fingerprint) {
          out.status = KeyReused(meta.idempotency_key);
        } else {
          out.replay_of = static_cast<ptrdiff_t>(in_group->second);
        }
        continue;
      }
      auto it = shop.idempotency.find(meta.idempotency_key);
      if (it != shop.idempotency.end()) {
        if (it->second.fingerprint != fingerprint) {
          out.status = KeyReused(meta.idempotency_key);
        } else if (Result<CommandResult> original = ResultFrom(it->second); original.ok()) {
          out.result = std::move(*original);
        } else {
          out.status = original.status();
        }
        continue;
      }
    }

    Decision d{shop, meta, clock_.NowMicros(), {}, {}, {}, {}};
    d.correlation_id =
        meta.idempotency_key.empty()
            ? (meta.correlation_id.empty() ? NewEventId() : meta.correlation_id)
            : fingerprint + (meta.correlation_id.empty() ? "" : ":" + meta.correlation_id);
    out.status = std::visit(
        [&](const auto& c) -> Status {
          using T = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<T, StartWebChat>) {
            return Decide(c, d, group[i]->secret);
          } else {
            return Decide(c, d);
          }
        },
        command);
    if (!out.status.ok()) continue;
    out.result.conversation_id = d.conversation_id;
    out.result.created_id = d.created_id;
    if (d.events.empty()) continue;

    // Encode before applying anything: a frame the codec refuses refuses
    // this command only.
    Result<std::vector<std::string>> encoded = EncodeFrames(d.events);
    if (!encoded.ok()) {
      out.status = encoded.status();
      continue;
    }
    out.first_frame = frames.size();
    for (size_t k = 0; k < d.events.size(); ++k) {
      writer.ApplyAt(d.events[k], (*encoded)[k], base + static_cast<int64_t>(frames.size()));
      frames.push_back(std::move((*encoded)[k]));
    }
    out.events = std::move(d.events);
    if (!meta.idempotency_key.empty())
      keys.emplace(std::make_pair(meta.tenant, meta.idempotency_key), i);
  }

  std::vector<LogPosition> positions;
  if (!frames.empty()) {
    // No command of a failed group reports success, nor a refusal that may
    // rest on an event that did not land.
    Result<std::vector<LogPosition>> appended =
        writer.AppendApplied(std::move(frames), options_.catch_up_timeout);
    if (!appended.ok()) return fail_all(appended.status());
    positions = std::move(appended).value();
  }

  for (size_t i = 0; i < group.size(); ++i) {
    Decided& out = decided[i];
    if (out.replay_of >= 0) continue;
    if (!out.status.ok()) {
      *group[i]->result = out.status;
      continue;
    }
    for (size_t k = 0; k < out.events.size(); ++k) {
      out.result.events.push_back({std::move(out.events[k]), positions[out.first_frame + k]});
    }
    *group[i]->result = out.result;
  }
  for (size_t i = 0; i < group.size(); ++i) {
    if (decided[i].replay_of < 0) continue;
    CommandResult replay = decided[static_cast<size_t>(decided[i].replay_of)].result;
    replay.replayed = true;
    *group[i]->result = std::move(replay);
  }
}

Result<CommandResult> ConversationEngine::Execute(const Command& command) {
  std::vector<Result<CommandResult>> results = ExecuteBatch(std::span<const Command>(&command, 1));
  return std::move(results.front());
}

std::vector<Result<CommandResult>> ConversationEngine::ExecuteBatch(
    std::span<const Command> commands) {
  std::vector<Result<CommandResult>> results(
      commands.size(), Result<CommandResult>(Status::Error(ErrorCode::kInternal, "not executed")));
  std::map<int32_t, PartitionWriter::Waiter> waiters;  // by partition, in input order
  for (size_t i = 0; i < commands.size(); ++i) {
    const CommandMeta& meta = MetaOf(commands[i]);
    std::optional<std::string> secret;
    if (!meta.tenant.empty() && options_.shop_secret) secret = options_.shop_secret(meta.tenant);
    if (!secret) {
      results[i] = UnknownShop(meta.tenant);
      continue;
    }
    waiters[log_.PartitionFor(meta.tenant)].commands.push_back(
        Pending{&commands[i], std::move(*secret), &results[i]});
  }
  // Each partition's group on its own thread (the last one on this thread,
  // and any when no thread can be had): their decisions share the cores and
  // their appends wait for the log at the same time, instead of one round
  // trip after another.
  {
    std::vector<std::jthread> others;
    for (auto it = waiters.begin(); it != waiters.end(); ++it) {
      PartitionWriter& writer = *writers_[static_cast<size_t>(it->first)];
      PartitionWriter::Waiter& waiter = it->second;
      auto run = [this, &writer, &waiter] {
        writer.Run(waiter, options_.max_group_commands,
                   [&](std::vector<Pending*>& group) { CommitGroup(writer, group); });
      };
      const bool last = std::next(it) == waiters.end();
      if (!last) {
        try {
          others.emplace_back(run);
          continue;
        } catch (const std::system_error&) {  // no thread to be had: run it here
        }
      }
      run();
    }
  }  // joined here
  return results;
}

Result<int> ConversationEngine::ExpireSnoozes() {
  int reopened = 0;
  for (const auto& writer : writers_) {
    std::lock_guard<std::mutex> lock(writer->mu);
    PALAVER_RETURN_IF_ERROR(writer->CatchUp(options_.catch_up_timeout));
    const int64_t now = clock_.NowMicros();
    std::vector<Event> events;
    for (auto& [tenant, shop] : writer->shops()) {
      CommandMeta meta;
      meta.tenant = tenant;
      meta.actor = {ActorKind::kSystem, "palaver"};
      Decision d{shop, meta, now, NewEventId(), {}, {}, {}};
      for (const auto& [id, conv] : shop.conversations) d.ExpireSnoozeIfDue(conv);
      for (Event& e : d.events) events.push_back(std::move(e));
    }
    if (events.empty()) continue;
    Result<std::vector<std::string>> frames = EncodeFrames(events);
    if (!frames.ok()) return frames.status();
    // Applied first, appended after, as a group of commands is.
    for (size_t i = 0; i < events.size(); ++i) {
      writer->ApplyAt(events[i], (*frames)[i], writer->cursor() + static_cast<int64_t>(i));
    }
    Result<std::vector<LogPosition>> appended =
        writer->AppendApplied(std::move(*frames), options_.catch_up_timeout);
    if (!appended.ok()) return appended.status();
    reopened += static_cast<int>(events.size());
  }
  return reopened;
}

Result<std::vector<Faq>> ConversationEngine::SearchFaqs(std::string_view tenant,
                                                        std::string_view query) {
  std::vector<Faq> found;
  PALAVER_RETURN_IF_ERROR(
      Read(tenant, [&](const ShopState& shop) { found = domain::SearchFaqs(shop.faqs, query); }));
  return found;
}

Status ConversationEngine::Read(std::string_view tenant,
                                const std::function<void(const ShopState&)>& read) {
  if (tenant.empty() || !options_.shop_secret || !options_.shop_secret(tenant)) {
    return UnknownShop(tenant);
  }
  PartitionWriter& writer = WriterFor(tenant);
  std::lock_guard<std::mutex> lock(writer.mu);
  PALAVER_RETURN_IF_ERROR(writer.CatchUp(options_.catch_up_timeout));
  read(writer.Shop(std::string(tenant)));
  return Status::Ok();
}

Result<ShopState> ConversationEngine::Snapshot(std::string_view tenant) {
  ShopState copy;
  PALAVER_RETURN_IF_ERROR(Read(tenant, [&](const ShopState& shop) { copy = shop; }));
  return copy;
}

}  // namespace palaver::domain
