"""The permission matrix (issue 14, item 10): every URL of the portals and the API (webhooks and
statements included; the admin in test_admin_matrix) × every role, each cell a real request whose
status is asserted and which, when refused, changed nothing.

Roles (tests/matrix/world.py): anonymous; the renter who holds the booking, key, card, token and
webhook endpoint asked about; another renter; the owner of the cloud, offering, profile, price and
window asked about; another owner; a staff member without permissions; a superuser. The portal is
asked with a signed-in session, the API with a bearer token holding every scope the user may hold.

A cell is the status, or "L" where a portal page sends the caller to sign in, with "*" when that
caller may change something (the renter releasing their booking, the owner pausing their offering).
Every request is watched for writes (PostgreSQL's per-transaction row counters, every table the
market keeps): a cell without "*" that wrote anything fails, whatever its status, so another user's
302 or 200 is proven to have changed nothing. Each request runs inside a savepoint that is rolled
back, so no cell sees another's change.

A route added to the URL configuration fails ``test_every_route_is_in_the_matrix`` until its row
is written here: the matrix cannot fall behind the code.
"""

from __future__ import annotations

import pytest

from tests.market_fixtures import _frozen_calendar
from tests.matrix import cells, world

__all__ = ["_frozen_calendar"]

pytestmark = pytest.mark.django_db

ROLES = world.ROLES
# GETs that may write while answering, and what: a search records the prices it quoted (issue 15
# bounds this table).
# Searches record a price only when it changed since the series' latest point, so a search writes
# only the first time it sees a new price (in this matrix: the first role's search).
GET_WRITES = {
    "market/slices/": {"scheduling_pricehistory"},
    "api/v1/timeslots": {"scheduling_pricehistory"},
    # The card page makes the renter's Stripe customer (row first, then Stripe's id) before Stripe.js.
    "billing/cards/add": {"billing_stripecustomer", "auditlog_logentry"},
}

# Columns: anonymous, renter, other renter, owner, other owner, staff without permission, staff.
# Reading notes: another user's object is a 404 (nobody learns it exists), a page for another kind
# of user a 403; POST-only actions answer a GET with 405; "302" without "*" is a refusal that sends
# the caller back with a message and (asserted) changes nothing. 402* is a booking refused for funds:
# the rejected booking is kept, with its reason, for the renter to see. 502 is Stripe not answering
# (STRIPE_API_BASE points nowhere here): a JSON error, never a 500.
MATRIX: dict[str, str] = {
    "GET ": "200 200 200 200 200 200 200",
    "POST ": "200 200 200 200 200 200 200",
    "GET healthz": "200 200 200 200 200 200 200",
    "POST healthz": "405 405 405 405 405 405 405",
    "GET accounts/login/": "200 302 302 302 302 302 302",
    "POST accounts/login/": "200 302 302 302 302 302 302",
    "GET accounts/logout/": "302 200 200 200 200 200 200",
    "POST accounts/logout/": "302 302* 302* 302* 302* 302* 302*",
    "GET accounts/inactive/": "200 200 200 200 200 200 200",
    "POST accounts/inactive/": "405 405 405 405 405 405 405",
    "GET accounts/signup/": "200 302 302 302 302 302 302",
    "POST accounts/signup/": "200 302 302 302 302 302 302",
    "GET accounts/reauthenticate/": "L 200 200 200 200 200 200",
    "POST accounts/reauthenticate/": "L 200 200 200 200 200 200",
    "GET accounts/email/": "L 200 200 200 200 200 200",
    "POST accounts/email/": "L 302 302 302 302 302 302",
    "GET accounts/confirm-email/": "200 200 200 200 200 200 200",
    "POST accounts/confirm-email/": "405 405 405 405 405 405 405",
    "GET accounts/password/change/": "L 200 200 200 200 200 200",
    "POST accounts/password/change/": "L 200 200 200 200 200 200",
    "GET accounts/password/set/": "L 302 302 302 302 302 302",
    "POST accounts/password/set/": "L 302 302 302 302 302 302",
    "GET accounts/password/reset/": "200 200 200 200 200 200 200",
    "POST accounts/password/reset/": "200 200 200 200 200 200 200",
    "GET accounts/login/code/confirm/": "L 302 302 302 302 302 302",
    "POST accounts/login/code/confirm/": "L 302 302 302 302 302 302",
    r"GET accounts/^confirm-email/(?P<key>[-:\w]+)/$": "200 200 200 200 200 200 200",
    r"POST accounts/^confirm-email/(?P<key>[-:\w]+)/$": "404 404 404 404 404 404 404",
    "GET accounts/password/reset/key/done/": "200 200 200 200 200 200 200",
    "POST accounts/password/reset/key/done/": "405 405 405 405 405 405 405",
    "GET accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": "200 200 200 200 200 200 200",
    "POST accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": "200 200 200 200 200 200 200",
    "GET accounts/password/reset/done/": "200 200 200 200 200 200 200",
    "POST accounts/password/reset/done/": "405 405 405 405 405 405 405",
    "GET accounts/2fa/": "L 200 200 200 200 200 200",
    "POST accounts/2fa/": "L 405 405 405 405 405 405",
    "GET accounts/2fa/authenticate/": "L 302 302 302 302 302 302",
    "POST accounts/2fa/authenticate/": "L 302 302 302 302 302 302",
    "GET accounts/2fa/reauthenticate/": "L 302 302 302 302 200 200",
    "POST accounts/2fa/reauthenticate/": "L 302 302 302 302 200 200",
    "GET accounts/2fa/totp/activate/": "L 302 302 302 302 302 302",
    "POST accounts/2fa/totp/activate/": "L 302 302 302 302 302 302",
    "GET accounts/2fa/totp/deactivate/": "L 404 404 404 404 302 302",
    "POST accounts/2fa/totp/deactivate/": "L 404 404 404 404 302 302",
    "GET accounts/2fa/recovery-codes/": "L 404 404 404 404 404 404",
    "POST accounts/2fa/recovery-codes/": "L 405 405 405 405 405 405",
    "GET accounts/2fa/recovery-codes/generate/": "L 302 302 302 302 302 302",
    "POST accounts/2fa/recovery-codes/generate/": "L 302 302 302 302 302 302",
    "GET accounts/2fa/recovery-codes/download/": "L 404 404 404 404 404 404",
    "POST accounts/2fa/recovery-codes/download/": "L 404 404 404 404 404 404",
    "GET account/webhooks/": "L 200 200 200 200 200 200",
    "POST account/webhooks/": "L 200 200 200 200 200 200",
    "GET account/webhooks/<int:endpoint_id>/": "L 200 404 404 404 404 404",
    "POST account/webhooks/<int:endpoint_id>/": "L 200 404 404 404 404 404",
    "GET account/webhooks/<int:endpoint_id>/rotate": "L 405 405 405 405 405 405",
    "POST account/webhooks/<int:endpoint_id>/rotate": "L 200* 404 404 404 404 404",
    "GET account/webhooks/<int:endpoint_id>/toggle": "L 405 405 405 405 405 405",
    "POST account/webhooks/<int:endpoint_id>/toggle": "L 302* 404 404 404 404 404",
    "GET account/webhooks/<int:endpoint_id>/delete": "L 405 405 405 405 405 405",
    "POST account/webhooks/<int:endpoint_id>/delete": "L 302* 404 404 404 404 404",
    "GET account/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver": "L 405 405 405 405 405 405",
    "POST account/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver": "L 302* 404 404 404 404 404",
    "GET account/handle/": "L 200 200 200 200 200 200",
    "POST account/handle/": "L 200 200 200 200 200 200",
    "GET account/tokens/": "L 200 200 200 200 200 200",
    "POST account/tokens/": "L 302 302 302 302 302 302",
    "GET account/become-owner/": "L 200 200 200 200 200 200",
    "POST account/become-owner/": "L 302* 302* 302 302 302* 302*",
    "GET account/tokens/<int:pk>/revoke": "L 405 405 405 405 405 405",
    "POST account/tokens/<int:pk>/revoke": "L 302* 302 302 302 302 302",
    "GET account/activity/": "L 200 200 200 200 200 200",
    "POST account/activity/": "L 200 200 200 200 200 200",
    "GET owner/": "L 403 403 200 200 403 200",
    "POST owner/": "L 403 403 200 200 403 200",
    "GET owner/clouds/new": "L 403 403 200 200 403 200",
    "POST owner/clouds/new": "L 403 403 200 200 403 200",
    "GET owner/clouds/<int:pk>/": "L 403 403 200 404 403 200",
    "POST owner/clouds/<int:pk>/": "L 403 403 200 404 403 200",
    "GET owner/clouds/<int:pk>/edit": "L 403 403 200 404 403 200",
    "POST owner/clouds/<int:pk>/edit": "L 403 403 200 404 403 200",
    "GET owner/clouds/<int:pk>/test": "L 403 403 405 405 403 405",
    "POST owner/clouds/<int:pk>/test": "L 403 403 302* 404 403 302*",
    "GET owner/clouds/<int:pk>/delete": "L 403 403 200 404 403 200",
    "POST owner/clouds/<int:pk>/delete": "L 403 403 200 404 403 200",
    "GET owner/offerings/new": "L 403 403 200 200 403 200",
    "POST owner/offerings/new": "L 403 403 200 200 403 200",
    "GET owner/offerings/<int:pk>/": "L 403 403 200 404 403 200",
    "POST owner/offerings/<int:pk>/": "L 403 403 200 404 403 200",
    "GET owner/offerings/<int:pk>/edit": "L 403 403 200 404 403 200",
    "POST owner/offerings/<int:pk>/edit": "L 403 403 200 404 403 200",
    "GET owner/offerings/<int:pk>/status": "L 403 403 405 405 403 405",
    "POST owner/offerings/<int:pk>/status": "L 403 403 302 404 403 302",
    "GET owner/offerings/<int:pk>/windows": "L 403 403 405 405 403 405",
    "POST owner/offerings/<int:pk>/windows": "L 403 403 302 404 403 302",
    "GET owner/offerings/<int:pk>/windows/<int:window_id>/delete": "L 403 403 200 404 403 200",
    "POST owner/offerings/<int:pk>/windows/<int:window_id>/delete": "L 403 403 200 404 403 200",
    "GET owner/offerings/<int:pk>/pricing/new": "L 403 403 200 404 403 200",
    "POST owner/offerings/<int:pk>/pricing/new": "L 403 403 200 404 403 200",
    "GET owner/offerings/<int:pk>/pricing/<int:policy_id>/": "L 403 403 200 404 403 200",
    "POST owner/offerings/<int:pk>/pricing/<int:policy_id>/": "L 403 403 200 404 403 200",
    "GET owner/offerings/<int:pk>/pricing/<int:policy_id>/delete": "L 403 403 200 404 403 200",
    "POST owner/offerings/<int:pk>/pricing/<int:policy_id>/delete": "L 403 403 200 404 403 200",
    "GET owner/profiles/": "L 403 403 200 200 403 200",
    "POST owner/profiles/": "L 403 403 200 200 403 200",
    "GET owner/profiles/new": "L 403 403 200 200 403 200",
    "POST owner/profiles/new": "L 403 403 200 200 403 200",
    "GET owner/profiles/<int:pk>/edit": "L 403 403 200 404 403 404",
    "POST owner/profiles/<int:pk>/edit": "L 403 403 200 404 403 404",
    "GET offerings/": "200 200 200 200 200 200 200",
    "POST offerings/": "200 200 200 200 200 200 200",
    "GET offerings/<int:pk>/": "200 200 200 200 200 200 200",
    "POST offerings/<int:pk>/": "200 200 200 200 200 200 200",
    # One profile's price history, the fragment the slice search opens inline: public, as the page is.
    "GET offerings/<int:pk>/prices/<int:profile_id>": "200 200 200 200 200 200 200",
    "POST offerings/<int:pk>/prices/<int:profile_id>": "405 405 405 405 405 405 405",
    "GET account/settings/": "L 200 200 200 200 200 200",
    "POST account/settings/": "L 200 200 200 200 200 200",
    "GET account/keys/": "L 200 200 200 200 200 200",
    "POST account/keys/": "L 200 200 200 200 200 200",
    "GET account/keys/<int:pk>/delete": "L 405 405 405 405 405 405",
    "POST account/keys/<int:pk>/delete": "L 302* 302 302 302 302 302",
    "GET api/v1/schema": "401 200 200 200 200 200 200",
    "POST api/v1/schema": "401 403 403 405 405 403 405",
    "GET billing/": "L 200 200 200 200 200 200",
    "POST billing/": "L 200 200 200 200 200 200",
    "GET billing/costs": "L 200 200 200 200 200 200",
    "POST billing/costs": "L 200 200 200 200 200 200",
    "GET billing/cards/add": "L 302 302 302 302 302 302",
    "POST billing/cards/add": "L 302* 302* 302 302 302* 302*",
    "GET billing/cards/added": "L 405 405 405 405 405 405",
    "POST billing/cards/added": "L 302 302 302 302 302 302",
    "GET billing/cards/<int:pk>/default": "L 405 405 405 405 405 405",
    "POST billing/cards/<int:pk>/default": "L 302* 302 302 302 302 302",
    "GET billing/cards/<int:pk>/remove": "L 405 405 405 405 405 405",
    "POST billing/cards/<int:pk>/remove": "L 302 302 302 302 302 302",
    "GET billing/topup": "L 405 405 405 405 405 405",
    "POST billing/topup": "L 200 200 200 200 200 200",
    "GET billing/statement": "L 200 200 200 200 200 200",
    "POST billing/statement": "L 200 200 200 200 200 200",
    "GET billing/terms/<int:offering_id>": "200 200 200 200 200 200 200",
    "POST billing/terms/<int:offering_id>": "200 200 200 200 200 200 200",
    "GET billing/owner/": "L 404 404 200 200 404 200",
    "POST billing/owner/": "L 404 404 200 200 404 200",
    "GET billing/owner/connect": "L 405 405 405 405 405 405",
    "POST billing/owner/connect": "L 404 404 302* 302* 404 302",
    "GET billing/owner/connect/return": "L 404 404 302 302 404 302",
    "POST billing/owner/connect/return": "L 404 404 302 302 404 302",
    "GET billing/owner/payouts": "L 405 405 405 405 405 405",
    "POST billing/owner/payouts": "L 404 404 302 302 404 302",
    "GET billing/owner/offerings/<int:offering_id>/policy": "L 405 405 405 405 405 405",
    "POST billing/owner/offerings/<int:offering_id>/policy": "L 404 404 302 302 404 302",
    "GET billing/webhooks/stripe": "405 405 405 405 405 405 405",
    "POST billing/webhooks/stripe": "400 400 400 400 400 400 400",
    "GET api/v1/billing/balance": "401 200 200 200 200 200 200",
    "POST api/v1/billing/balance": "401 405 405 405 405 405 405",
    "GET api/v1/billing/payments": "401 200 200 200 200 200 200",
    "POST api/v1/billing/payments": "401 405 405 405 405 405 405",
    "GET api/v1/billing/cards": "401 200 200 200 200 200 200",
    "POST api/v1/billing/cards": "401 400 400 400 400 400 400",
    "GET api/v1/billing/cards/setup": "401 405 405 405 405 405 405",
    "POST api/v1/billing/cards/setup": "401 502* 502* 403 403 502* 502*",
    "GET api/v1/billing/topups": "401 405 405 405 405 405 405",
    "POST api/v1/billing/topups": "401 400 400 400 400 400 400",
    "GET api/v1/billing/bookings": "401 200 200 200 200 200 200",
    "POST api/v1/billing/bookings": "401 405 405 405 405 405 405",
    "GET api/v1/billing/statements/<int:year>/<int:month>": "401 200 200 200 200 200 200",
    "POST api/v1/billing/statements/<int:year>/<int:month>": "401 405 405 405 405 405 405",
    "GET api/v1/billing/payouts": "401 403 403 200 200 403 403",
    "POST api/v1/billing/payouts": "401 403 403 400 400 403 403",
    "GET api/v1/webhooks/endpoints": "401 200 200 200 200 200 200",
    "POST api/v1/webhooks/endpoints": "401 400 400 400 400 400 400",
    "GET api/v1/webhooks/endpoints/<int:endpoint_id>": "401 200 404 404 404 404 404",
    "POST api/v1/webhooks/endpoints/<int:endpoint_id>": "401 405 405 405 405 405 405",
    "PATCH api/v1/webhooks/endpoints/<int:endpoint_id>": "401 200* 404 404 404 404 404",
    "DELETE api/v1/webhooks/endpoints/<int:endpoint_id>": "401 204* 404 404 404 404 404",
    "GET api/v1/webhooks/endpoints/<int:endpoint_id>/rotate-secret": "401 405 405 405 405 405 405",
    "POST api/v1/webhooks/endpoints/<int:endpoint_id>/rotate-secret": "401 200* 404 404 404 404 404",
    "GET api/v1/webhooks/endpoints/<int:endpoint_id>/deliveries": "401 200 404 404 404 404 404",
    "POST api/v1/webhooks/endpoints/<int:endpoint_id>/deliveries": "401 405 405 405 405 405 405",
    "GET api/v1/webhooks/endpoints/<int:endpoint_id>/deliveries/<int:delivery_id>": "401 200 404 404 404 404 404",
    "POST api/v1/webhooks/endpoints/<int:endpoint_id>/deliveries/<int:delivery_id>": "401 405 405 405 405 405 405",
    "GET api/v1/webhooks/endpoints/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver": "401 405 405 405 405 405 405",
    "POST api/v1/webhooks/endpoints/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver": "401 202* 404 404 404 404 404",
    "GET api/v1/timeslots": "401 200 200 200 200 200 200",
    "POST api/v1/timeslots": "401 405 405 405 405 405 405",
    "GET api/v1/timeslots/<int:booking_id>/usage": "401 200 404 404 404 404 404",
    "POST api/v1/timeslots/<int:booking_id>/usage": "401 405 405 405 405 405 405",
    "GET api/v1/timeslots/<int:booking_id>/release": "401 405 405 405 405 405 405",
    "POST api/v1/timeslots/<int:booking_id>/release": "401 200* 404 403 404 404 403",
    "GET api/v1/timeslots/<int:booking_id>/extend": "401 405 405 405 405 405 405",
    "POST api/v1/timeslots/<int:booking_id>/extend": "401 400 400 400 400 400 400",
    "GET api/v1/timeslots/<str:slice_id>/request": "401 405 405 405 405 405 405",
    "POST api/v1/timeslots/<str:slice_id>/request": "401 201* 201* 403 403 402* 402*",
    "GET api/v1/timeslots/<str:slice_id>/quote": "401 405 405 405 405 405 405",
    "POST api/v1/timeslots/<str:slice_id>/quote": "401 400 400 403 403 400 400",
    "GET api/v1/bookings": "401 200 200 200 200 200 200",
    "POST api/v1/bookings": "401 405 405 405 405 405 405",
    "GET api/v1/bookings/<int:booking_id>": "401 200 404 404 404 404 404",
    "POST api/v1/bookings/<int:booking_id>": "401 405 405 405 405 405 405",
    # A published offering: anyone signed in reads its price history (an unpublished one: its owner only,
    # tests/scheduling/test_price_history.py).
    "GET api/v1/offerings/<int:offering_id>/price-history": "401 200 200 200 200 200 200",
    "POST api/v1/offerings/<int:offering_id>/price-history": "401 405 405 405 405 405 405",
    "GET market/slices/": "L 200 200 200 200 200 200",
    "POST market/slices/": "L 200 200 200 200 200 200",
    "GET market/slices/<str:slice_id>/request": "L 200 200 302 302 200 200",
    "POST market/slices/<str:slice_id>/request": "L 302* 302* 302 302 302* 302*",
    "GET market/slices/<str:slice_id>/quote": "L 405 405 405 405 405 405",
    "POST market/slices/<str:slice_id>/quote": "L 302 302 302 302 302 302",
    "GET market/bookings/": "L 200 200 200 200 200 200",
    "POST market/bookings/": "L 200 200 200 200 200 200",
    "GET market/bookings/<int:pk>/release": "L 200 302 302 302 302 302",
    "POST market/bookings/<int:pk>/release": "L 302* 302 302 302 302 302",
    "GET market/bookings/<int:pk>/extend": "L 200 404 404 404 404 404",
    "POST market/bookings/<int:pk>/extend": "L 200 404 404 404 404 404",
    "GET market/bookings/<int:pk>/profile": "L 302 302 302 302 302 302",
    "POST market/bookings/<int:pk>/profile": "L 302 302 302 302 302 302",
    "GET market/bookings/<int:pk>/status": "L 200 404 404 404 404 404",
    "POST market/bookings/<int:pk>/status": "L 405 405 405 405 405 405",
    "GET market/bookings/<int:pk>/next": "L 302 404 404 404 404 404",
    "POST market/bookings/<int:pk>/next": "L 405 405 405 405 405 405",
    "GET market/slices/<str:slice_id>/bid-preview": "L 200 200 200 200 200 200",
    "POST market/slices/<str:slice_id>/bid-preview": "L 405 405 405 405 405 405",
    "GET owner/market/": "L 403 403 200 200 403 200",
    "POST owner/market/": "L 403 403 200 200 403 200",
    "GET owner/market/bookings/<int:pk>/preempt": "L 405 405 405 405 405 405",
    "POST owner/market/bookings/<int:pk>/preempt": "L 403 403 200 404 403 200",
    "GET owner/market/offerings/<int:pk>/preempt": "L 405 405 405 405 405 405",
    "POST owner/market/offerings/<int:pk>/preempt": "L 403 403 200 404 403 200",
    "GET api/v1/me": "401 200 200 200 200 200 200",
    "POST api/v1/me": "401 403 403 405 405 403 405",
    "GET bookings/<int:booking_id>/server/": "L 200 404 404 404 404 404",
    "POST bookings/<int:booking_id>/server/": "L 200 404 404 404 404 404",
    "GET bookings/<int:booking_id>/server/resize": "L 405 405 405 405 405 405",
    "POST bookings/<int:booking_id>/server/resize": "L 302 404 404 404 404 404",
    "GET bookings/<int:booking_id>/server/console": "L 200 404 404 404 404 200",
    "POST bookings/<int:booking_id>/server/console": "L 200 404 404 404 404 200",
    "GET bookings/<int:booking_id>/server/usage.json": "L 200 404 404 404 404 200",
    "POST bookings/<int:booking_id>/server/usage.json": "L 405 405 405 405 405 405",
    "GET owner/offerings/<int:pk>/standby": "L 403 403 200 404 403 200",
    "POST owner/offerings/<int:pk>/standby": "L 403 403 200 404 403 200",
    "GET owner/offerings/<int:pk>/standby/adopt": "L 403 403 200 404 403 200",
    "POST owner/offerings/<int:pk>/standby/adopt": "L 403 403 400 404 403 400",
    "GET owner/offerings/<int:pk>/utilisation": "L 403 403 200 404 403 200",
    "POST owner/offerings/<int:pk>/utilisation": "L 403 403 405 405 403 405",
    "GET api/v1/bookings/<int:booking_id>/server": "401 200 404 200 404 404 200",
    "POST api/v1/bookings/<int:booking_id>/server": "401 405 405 405 405 405 405",
    "GET api/v1/bookings/<int:booking_id>/server/usage": "401 200 404 200 404 404 200",
    "POST api/v1/bookings/<int:booking_id>/server/usage": "401 405 405 405 405 405 405",
    "GET api/v1/bookings/<int:booking_id>/server/console": "401 200 404 403 404 404 200",
    "POST api/v1/bookings/<int:booking_id>/server/console": "401 405 405 405 405 405 405",
    "GET api/v1/owner/offerings/<int:offering_id>/standby": "401 403 403 200 404 403 200",
    "POST api/v1/owner/offerings/<int:offering_id>/standby": "401 403 403 405 405 403 405",
    "PUT api/v1/owner/offerings/<int:offering_id>/standby": "401 403 403 400 404 403 400",
    "GET ^api/": "404 404 404 404 404 404 404",
    "POST ^api/": "404 404 404 404 404 404 404",
    "GET api/v1/owner/clouds": "401 403 403 200 200 403 200",
    "POST api/v1/owner/clouds": "401 403 403 405 405 403 405",
    "GET api/v1/owner/offerings": "401 403 403 200 200 403 200",
    "POST api/v1/owner/offerings": "401 403 403 400 400 403 400",
    "GET api/v1/owner/offerings/<int:offering_id>": "401 403 403 200 404 403 200",
    "POST api/v1/owner/offerings/<int:offering_id>": "401 403 403 405 405 403 405",
    "PATCH api/v1/owner/offerings/<int:offering_id>": "401 403 403 200* 404 403 200*",
    "GET api/v1/owner/offerings/<int:offering_id>/status": "401 403 403 405 405 403 405",
    "POST api/v1/owner/offerings/<int:offering_id>/status": "401 403 403 400 404 403 400",
    "GET api/v1/owner/offerings/<int:offering_id>/windows": "401 403 403 200 404 403 200",
    "POST api/v1/owner/offerings/<int:offering_id>/windows": "401 403 403 400 404 403 400",
    "GET api/v1/owner/offerings/<int:offering_id>/windows/<int:window_id>": "401 403 403 405 405 403 405",
    "POST api/v1/owner/offerings/<int:offering_id>/windows/<int:window_id>": "401 403 403 405 405 403 405",
    "DELETE api/v1/owner/offerings/<int:offering_id>/windows/<int:window_id>": "401 403 403 204* 404 403 204*",
    "GET api/v1/owner/offerings/<int:offering_id>/pricing": "401 403 403 200 404 403 200",
    "POST api/v1/owner/offerings/<int:offering_id>/pricing": "401 403 403 405 405 403 405",
    "GET api/v1/owner/offerings/<int:offering_id>/pricing/<int:profile_id>": "401 403 403 200 404 403 200",
    "POST api/v1/owner/offerings/<int:offering_id>/pricing/<int:profile_id>": "401 403 403 405 405 403 405",
    "PUT api/v1/owner/offerings/<int:offering_id>/pricing/<int:profile_id>": "401 403 403 400 404 403 400",
    "DELETE api/v1/owner/offerings/<int:offering_id>/pricing/<int:profile_id>": "401 403 403 204* 404 403 204*",
    "GET api/v1/owner/profiles": "401 403 403 200 200 403 200",
    "POST api/v1/owner/profiles": "401 403 403 400 400 403 400",
    "GET api/v1/owner/profiles/<int:profile_id>": "401 403 403 200 404 403 404",
    "POST api/v1/owner/profiles/<int:profile_id>": "401 403 403 405 405 403 405",
    "PATCH api/v1/owner/profiles/<int:profile_id>": "401 403 403 200* 404 403 404",
    "GET api/v1/owner/bookings": "401 403 403 200 200 403 200",
    "POST api/v1/owner/bookings": "401 403 403 405 405 403 405",
    "GET api/v1/owner/bookings/<int:booking_id>": "401 403 403 200 404 403 200",
    "POST api/v1/owner/bookings/<int:booking_id>": "401 403 403 405 405 403 405",
    "GET api/v1/owner/bookings/<int:booking_id>/preempt": "401 403 403 405 405 403 405",
    "POST api/v1/owner/bookings/<int:booking_id>/preempt": "401 403 403 200* 404 403 200*",
    "GET api/v1/owner/offerings/<int:offering_id>/preempt": "401 403 403 405 405 403 405",
    "POST api/v1/owner/offerings/<int:offering_id>/preempt": "401 403 403 200* 404 403 200*",
    "GET api/v1/owner/revenue": "401 403 403 200 200 403 200",
    "POST api/v1/owner/revenue": "401 403 403 405 405 403 405",
    "GET account/notifications/": "L 200 200 200 200 200 200",
    "POST account/notifications/": "L 200 200 200 200 200 200",
    "GET account/notifications/<int:pk>/read": "L 405 405 405 405 405 405",
    "POST account/notifications/<int:pk>/read": "L 302* 404 404 404 404 404",
    "GET account/notifications/read-all": "L 405 405 405 405 405 405",
    "POST account/notifications/read-all": "L 302* 302 302* 302 302 302",
    "GET account/notifications/preferences/": "L 200 200 200 200 200 200",
    "POST account/notifications/preferences/": "L 200 200 200 200 200 200",
    "GET account/time-zone/": "L 200 200 200 200 200 200",
    "POST account/time-zone/": "L 200 200 200 200 200 200",
    "GET account/time-zone/detected": "L 405 405 405 405 405 405",
    "POST account/time-zone/detected": "L 400 400 400 400 400 400",
    "GET api/v1/docs": "L 200 200 200 200 200 200",
    "POST api/v1/docs": "405 405 405 405 405 405 405",
    # The capacity calendar (issue 15 item 3): a published offering's for anyone who may browse it, an
    # owner's for its owner; the feed page makes or rotates the secret address; the feeds answer to
    # the token alone (calendar apps cannot sign in): the renter's token here, which opens no owner feed.
    "GET offerings/<int:pk>/calendar": "200 200 200 200 200 200 200",
    "POST offerings/<int:pk>/calendar": "405 405 405 405 405 405 405",
    "GET owner/offerings/<int:pk>/calendar": "L 403 403 200 404 403 200",
    "POST owner/offerings/<int:pk>/calendar": "L 405 405 405 405 405 405",
    "GET account/calendar-feed/": "L 200 200 200 200 200 200",
    "POST account/calendar-feed/": "L 200* 200* 200* 200* 200* 200*",
    "GET feeds/<str:feed_token>/bookings.ics": "200 200 200 200 200 200 200",
    "POST feeds/<str:feed_token>/bookings.ics": "405 405 405 405 405 405 405",
    "GET feeds/<str:feed_token>/offerings.ics": "404 404 404 404 404 404 404",
    "POST feeds/<str:feed_token>/offerings.ics": "405 405 405 405 405 405 405",
}


def _rows() -> list[tuple[cells.Route, str]]:
    return [(route, method) for route in cells.routes() for method in route.methods()]


def test_every_route_is_in_the_matrix() -> None:
    missing = [f"{m.upper()} {r.pattern}" for r, m in _rows() if f"{m.upper()} {r.pattern}" not in MATRIX]
    stale = sorted(set(MATRIX) - {f"{m.upper()} {r.pattern}" for r, m in _rows()})
    assert not missing, "routes with no row in the matrix:\n" + "\n".join(missing)
    assert not stale, "rows for routes that no longer exist:\n" + "\n".join(stale)


def test_every_cell(settings, _frozen_calendar) -> None:  # type: ignore[no-untyped-def]
    settings.MARKETPLACE_ANON_RATE_REQUESTS = 0  # the anonymous limit would answer 429 and hide the cell
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens: a cell that calls Stripe gets its error
    w = world.build()
    clients = cells.clients(w)
    wrong, observed, asked = [], [], 0
    for route, method in _rows():
        key = f"{method.upper()} {route.pattern}"
        path = cells.fill(route, w)
        expected = MATRIX.get(key, "").split()
        got = []
        for i, role in enumerate(ROLES):
            response, before, after = cells.ask(clients[role, route.is_api](), method, path)
            asked += 1
            may_write = GET_WRITES.get(route.pattern, set()) if method == "get" else set()
            wrote = sorted(t for t in before if before[t] != after[t] and t not in may_write)
            outcome = cells.code(response, api=route.is_api) + ("*" if wrote else "")
            got.append(outcome)
            want = expected[i] if expected else None
            if want is not None and outcome.rstrip("*") != want.rstrip("*"):
                wrong.append(f"{key} as {role}: {outcome.rstrip('*')}, expected {want.rstrip('*')}")
            elif wrote and not (want or "").endswith("*"):
                wrong.append(f"{key} as {role} ({outcome}) changed {wrote}, and this cell may change nothing")
            if response.status_code >= 500 and (want or "").rstrip("*") not in ("502", "503"):
                wrong.append(f"{key} as {role}: {response.status_code}")  # 502/503 only where a row expects it
        if key not in MATRIX:
            observed.append(f'    "{key}": "{" ".join(got)}",')
    print(f"\npermission matrix: {asked} cells over {len(_rows())} method x route rows and {len(ROLES)} roles")
    if observed:
        print("rows not in the matrix, as observed (review before adding):\n" + "\n".join(observed))
    assert MATRIX, "the matrix is empty"
    assert not wrong, "\n".join(wrong)
    # The detector sees writes: cells marked * did write (so a refusal that wrote would show too).
    written = {key for key, row in MATRIX.items() if "*" in row}
    assert {
        "POST account/webhooks/<int:endpoint_id>/toggle",
        "POST api/v1/timeslots/<int:booking_id>/release",
    } <= written
