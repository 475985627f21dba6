"""The Stripe Connect stand-in: a *contract stub* for the Connect endpoints localstripe lacks
(/v1/accounts, /v1/account_links, /v1/transfers), mounted on localstripe's app by demo.devstripe.

Those answers are shaped like Stripe's documented Account, AccountLink and Transfer objects
(recorded field by field from the API reference); they are ours, not localstripe's. Test hooks:
POST /_config/contract/accounts/{id}/enable, POST /_config/contract/fail_next_transfer,
DELETE /_config/contract/data.
"""

from __future__ import annotations

import random
import string
import time
from types import ModuleType

from aiohttp import web


def mount(app: web.Application, server: ModuleType) -> None:
    """Add the Connect routes to localstripe's ``app`` (``server`` is ``localstripe.server``)."""
    connect: dict[str, dict] = {"accounts": {}, "transfers": {}, "fail_next_transfer": {}}

    def rid(prefix: str) -> str:
        return prefix + "".join(random.choice(string.ascii_letters + string.digits) for _ in range(16))

    async def form(request: web.Request) -> dict:
        data = await server.get_post_data(request)
        return data or {}

    async def account_create(request: web.Request) -> web.Response:
        data = await form(request)
        acct = {
            "id": rid("acct_"),
            "object": "account",
            "type": data.get("type", "express"),
            "business_profile": {"mcc": None, "name": None, "url": None},
            "capabilities": {"transfers": "inactive"},
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "country": "US",
            "created": int(time.time()),
            "default_currency": "usd",
            "email": data.get("email"),
            "metadata": data.get("metadata") or {},
            "requirements": {
                "currently_due": ["external_account", "tos_acceptance.date"],
                "disabled_reason": "requirements.past_due",
            },
            "settings": {"payouts": {"schedule": {"interval": "manual"}}},
        }
        connect["accounts"][acct["id"]] = acct
        return server.json_response(acct)

    async def account_get(request: web.Request) -> web.Response:
        acct = connect["accounts"].get(request.match_info["id"])
        if acct is None:
            return server.json_response(
                {"error": {"type": "invalid_request_error", "message": "No such account"}}, status=404
            )
        return server.json_response(acct)

    async def account_enable(request: web.Request) -> web.Response:
        acct = connect["accounts"][request.match_info["id"]]
        acct.update(
            details_submitted=True,
            payouts_enabled=True,
            charges_enabled=True,
            capabilities={"transfers": "active"},
            requirements={"currently_due": [], "disabled_reason": None},
        )
        return server.json_response(acct)

    async def account_link(request: web.Request) -> web.Response:
        data = await form(request)
        if data.get("account") not in connect["accounts"]:
            return server.json_response(
                {"error": {"type": "invalid_request_error", "message": "No such account"}}, status=400
            )
        now = int(time.time())
        return server.json_response(
            {
                "object": "account_link",
                "created": now,
                "expires_at": now + 300,
                "url": f"https://connect.stripe.com/setup/e/{data['account']}/{rid('')}",
            }
        )

    async def transfer_create(request: web.Request) -> web.Response:
        data = await form(request)
        dest = data.get("destination")
        if dest not in connect["accounts"]:
            return server.json_response(
                {"error": {"type": "invalid_request_error", "message": "No such destination"}}, status=400
            )
        if connect["fail_next_transfer"].pop("on", None):
            return server.json_response(
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "balance_insufficient",
                        "message": "Insufficient funds in Stripe account.",
                    }
                },
                status=400,
            )
        tr = {
            "id": rid("tr_"),
            "object": "transfer",
            "amount": int(data["amount"]),
            "amount_reversed": 0,
            "balance_transaction": rid("txn_"),
            "created": int(time.time()),
            "currency": data["currency"],
            "description": None,
            "destination": dest,
            "destination_payment": rid("py_"),
            "livemode": False,
            "metadata": data.get("metadata") or {},
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": "/v1/transfers/x/reversals",
            },
            "reversed": False,
            "source_transaction": None,
            "source_type": "card",
            "transfer_group": data.get("transfer_group"),
        }
        connect["transfers"][tr["id"]] = tr
        return server.json_response(tr)

    async def transfer_list(request: web.Request) -> web.Response:
        group = request.query.get("transfer_group")
        items = [t for t in connect["transfers"].values() if group is None or t["transfer_group"] == group]
        return server.json_response({"object": "list", "data": items, "has_more": False, "url": "/v1/transfers"})

    async def transfer_get(request: web.Request) -> web.Response:
        return server.json_response(connect["transfers"][request.match_info["id"]])

    async def fail_next_transfer(request: web.Request) -> web.Response:
        connect["fail_next_transfer"]["on"] = True
        return web.Response()

    async def reset_connect(request: web.Request) -> web.Response:
        connect["accounts"].clear()
        connect["transfers"].clear()
        connect["fail_next_transfer"].clear()
        return web.Response()

    app.router.add_post("/v1/accounts", account_create)
    app.router.add_get("/v1/accounts/{id}", account_get)
    app.router.add_post("/v1/account_links", account_link)
    app.router.add_post("/v1/transfers", transfer_create)
    app.router.add_get("/v1/transfers", transfer_list)
    app.router.add_get("/v1/transfers/{id}", transfer_get)
    app.router.add_post("/_config/contract/accounts/{id}/enable", account_enable)
    app.router.add_post("/_config/contract/fail_next_transfer", fail_next_transfer)
    app.router.add_delete("/_config/contract/data", reset_connect)
