#include "schemas/event_versions.h"

#include <utility>

namespace palaver {

MessagePosted Upcast(MessagePostedV1 v1) {
  MessagePosted v2;
  v2.message_id = std::move(v1.message_id);
  v2.customer_id = std::move(v1.customer_id);
  v2.channel = v1.channel;
  v2.kind = v1.kind;
  v2.image = std::move(v1.image);
  v2.product_ids = std::move(v1.product_ids);
  v2.discount_code = std::move(v1.discount_code);
  v2.macro_id = std::move(v1.macro_id);
  v2.faq_id = std::move(v1.faq_id);
  v2.auto_reply = v1.auto_reply;
  v2.personal.text = std::move(v1.personal.text);
  if (v1.kind == MessageKind::kSystem) {
    v2.delivery_route = DeliveryRoute::kInboxOnly;
  } else {
    switch (v1.channel) {
      case Channel::kWebChat:
        v2.delivery_route = DeliveryRoute::kLiveChat;
        break;
      case Channel::kSms:
        v2.delivery_route = DeliveryRoute::kSms;
        break;
      case Channel::kEmail:
        v2.delivery_route = DeliveryRoute::kEmail;
        break;
      case Channel::kShopApp:
        v2.delivery_route = DeliveryRoute::kShopApp;
        break;
    }
  }
  return v2;
}

}  // namespace palaver
