// JSON request bodies of the HTTP API -> engine commands.
//
// These are the decoders ApiService uses for every command route; they are
// public so fuzz targets and other front ends can drive them directly. Both
// functions are pure, thread-safe and never throw: any input, however
// malformed, gives either a value or a Status.
//
// Errors carry code kInvalidArgument (kTooLarge for an over-long body), a
// stable reason (below), a sentence, and in field() the JSON pointer of the
// value at fault ("/line_items/0/quantity"; "" for the whole body):
//   malformed_json  the body is not JSON (the message gives the byte offset);
//   invalid_utf8    a string is not valid UTF-8;
//   too_deep        nesting deeper than kMaxJsonDepth;
//   not_an_object   the body is not a JSON object;
//   unknown_field   a member the command does not have (refused, never ignored);
//   missing_field   a required member is absent;
//   wrong_type      a member has the wrong JSON type, or an integer is out of
//                   range (huge numbers never wrap);
//   invalid_value   an enum name this build does not know;
//   too_large       the body is over kMaxJsonBodyBytes.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/domain/commands.h"
#include "schemas/status.h"

namespace palaver::api {

inline constexpr size_t kMaxJsonDepth = 32;
inline constexpr size_t kMaxJsonBodyBytes = 1024 * 1024;

// Parses a request body. An empty (or all-whitespace) body is the empty
// object, so commands without fields need no body.
Result<nlohmann::json> ParseJsonBody(std::string_view body);

// Decodes the payload of the command named `command_name` (its
// domain::CommandName, e.g. "agent_reply") from `body`. The result's
// CommandMeta is empty, and so are the fields an HTTP route takes from its
// path (conversation_id; note_id of edit/delete notes; customer_id of
// add_customer_note and erase_customer): the caller fills them in. The bodies:
//   start_web_chat          {platform?, email?}
//   post_shopper_message    {text, kind?="text"}
//   mark_read               {up_to_message_id}
//   end_chat, ask_for_human, unassign, delete_internal_note,
//   delete_customer_note    {}
//   take_faq_answer         {faq_id}
//   submit_csat             {rating, comment?}
//   request_transcript      {email?}
//   agent_reply             {kind?="text", text?, image?{url, content_type?, width?, height?},
//                            macro_id?, product_ids?[], discount_code?}
//   add/edit_internal_note, add/edit_customer_note  {text}
//   mark_unread             {from_message_id?}
//   assign                  {agent_id}
//   change_status           {status, snoozed_until_us?, reason?="agent_action"}
//   update_cart             {customer_id, cart_id, change, changed_product_id?, line_items[],
//                            currency}
//   change_presence         {customer_id, presence, session_id?}
//   record_order_placed, record_order_updated, upsert_customer_profile,
//   upsert_product, upsert_discount
//                           the event body of order.placed, order.updated,
//                           customer_profile.upserted, product.upserted,
//                           discount.upserted (schemas/json_codec.h; "personal" nested)
//   receive_inbound_message {channel, customer_id, from_address, name?, text}
//   update_settings         a settings aspect {"kind": "<aspect>", ...} (schemas/json_codec.h)
//   erase_customer          {request_id, regulation?="gdpr"}
// Errors: as above; kNotFound (reason "unknown_command") for a name that is
// not a command.
Result<domain::Command> DecodeCommandBody(std::string_view command_name,
                                          const nlohmann::json& body);

}  // namespace palaver::api
