-- Approve-and-send exactly once (issue 17, item 6). The send spans two round trips with the
-- PDF put and the pharmacy call between them, so no transaction can keep a second approval
-- out. Instead api.order_to_send claims the order: a random token and a lease, set by one
-- conditional update. Only the holder renders, stores and sends; a concurrent approval finds
-- the claim and gets a 409. api.settle_order clears it. A sender that crashed leaves its
-- claim behind, and the lease lets a later approval take over.
alter table app.orders
  add column sending_claim uuid,
  add column sending_until timestamptz,
  add constraint orders_sending_claim_check
    check ((sending_claim is null) = (sending_until is null)
           and (sending_claim is null or status = 'queued_for_provider'));

grant update (sending_claim, sending_until) on app.orders to app_user;
