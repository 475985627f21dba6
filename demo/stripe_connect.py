"""The Stripe Connect stand-in: a *contract stub* for the Connect endpoints localstripe lacks
(/v1/accounts, /v1/account_links, /v1/transfers), mounted on localstripe's app by demo.devstripe.

Those answers are shaped like Stripe's documented Account, AccountLink and Transfer objects
(recorded field by field from the API reference); they are ours, not localstripe's. An account
link's ``url`` is the stand-in's own onboarding page, GET /_config/connect/onboarding/{account}/{token}
(under /_config/, which localstripe serves without an API key, as Stripe serves its hosted page: the
token is the credential). Its one button enables the account's payouts and sends the browser to the
link's ``return_url``, as Stripe's hosted onboarding does once the owner has filled it in. Test hooks:
POST /_config/contract/accounts/{id}/enable, POST /_config/contract/fail_next_transfer,
DELETE /_config/contract/data.
"""

from __future__ import annotations

import html
import json
import os
import random
import string
import time
from types import ModuleType

from aiohttp import web


def mount(app: web.Application, server: ModuleType, state_file: str | None = None) -> None:
    """Add the Connect routes to localstripe's ``app`` (``server`` is ``localstripe.server``).

    ``state_file``: where accounts, transfers and open onboarding links are kept (JSON), so the demo's
    connected accounts outlive a restart as localstripe's own objects do.
    """
    connect: dict[str, dict] = {"accounts": {}, "transfers": {}, "fail_next_transfer": {}, "links": {}}
    if state_file and os.path.exists(state_file):
        with open(state_file) as f:
            connect.update({k: v for k, v in json.load(f).items() if k in connect})

    def save() -> None:
        if state_file:
            with open(state_file, "w") as f:
                json.dump(connect, f)

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
        save()
        return server.json_response(acct)

    async def account_get(request: web.Request) -> web.Response:
        acct = connect["accounts"].get(request.match_info["id"])
        if acct is None:
            return server.json_response(
                {"error": {"type": "invalid_request_error", "message": "No such account"}}, status=404
            )
        return server.json_response(acct)

    def enable(acct: dict) -> None:
        acct.update(
            details_submitted=True,
            payouts_enabled=True,
            charges_enabled=True,
            capabilities={"transfers": "active"},
            requirements={"currently_due": [], "disabled_reason": None},
        )

    async def account_enable(request: web.Request) -> web.Response:
        acct = connect["accounts"][request.match_info["id"]]
        enable(acct)
        save()
        return server.json_response(acct)

    async def account_link(request: web.Request) -> web.Response:
        data = await form(request)
        if data.get("account") not in connect["accounts"]:
            return server.json_response(
                {"error": {"type": "invalid_request_error", "message": "No such account"}}, status=400
            )
        now = int(time.time())
        token = rid("")
        connect["links"][token] = {
            "account": data["account"],
            "return_url": data.get("return_url") or "",
            "refresh_url": data.get("refresh_url") or "",
            "expires_at": now + 300,
        }
        save()
        # Stripe answers with its hosted onboarding (connect.stripe.com); the stand-in with its own page,
        # on the address the gateway reached it at, so the demo's browser comes back without the internet.
        return server.json_response(
            {
                "object": "account_link",
                "created": now,
                "expires_at": now + 300,
                "url": f"{request.scheme}://{request.host}/_config/connect/onboarding/{data['account']}/{token}",
            }
        )

    def _link(request: web.Request) -> dict | None:
        link = connect["links"].get(request.match_info["token"])
        if link is None or link["account"] != request.match_info["id"] or link["expires_at"] < time.time():
            return None
        return link

    async def onboarding_page(request: web.Request) -> web.Response:
        """The hosted onboarding, stood in: one button that fills in the account and goes back."""
        link = _link(request)
        if link is None:
            return web.Response(status=404, text="This onboarding link has expired; start again from the marketplace.")
        acct = connect["accounts"][link["account"]]
        body = ONBOARDING_PAGE.format(
            account=html.escape(acct["id"]),
            email=html.escape(acct.get("email") or ""),
            action=html.escape(request.path),
            refresh=html.escape(link["refresh_url"]),
        )
        return web.Response(text=body, content_type="text/html")

    async def onboarding_submit(request: web.Request) -> web.Response:
        link = _link(request)
        if link is None:
            return web.Response(status=404, text="This onboarding link has expired; start again from the marketplace.")
        enable(connect["accounts"][link["account"]])
        connect["links"].pop(request.match_info["token"], None)
        save()
        raise web.HTTPSeeOther(link["return_url"])

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
        save()
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
        connect["links"].clear()
        save()
        return web.Response()

    app.router.add_post("/v1/accounts", account_create)
    app.router.add_get("/v1/accounts/{id}", account_get)
    app.router.add_post("/v1/account_links", account_link)
    app.router.add_post("/v1/transfers", transfer_create)
    app.router.add_get("/v1/transfers", transfer_list)
    app.router.add_get("/v1/transfers/{id}", transfer_get)
    app.router.add_get("/_config/connect/onboarding/{id}/{token}", onboarding_page)
    app.router.add_post("/_config/connect/onboarding/{id}/{token}", onboarding_submit)
    app.router.add_post("/_config/contract/accounts/{id}/enable", account_enable)
    app.router.add_post("/_config/contract/fail_next_transfer", fail_next_transfer)
    app.router.add_delete("/_config/contract/data", reset_connect)


ONBOARDING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Payouts onboarding (development stand-in)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;line-height:1.5}}
button{{font-size:1rem;padding:.5rem 1.2rem}}</style></head>
<body>
<h1>Set up payouts</h1>
<p><strong>Development stand-in for Stripe Connect.</strong> Real Stripe would ask here for the owner's
identity and bank account. Nothing leaves this machine: continuing marks the connected account
<code>{account}</code> ({email}) as verified with payouts enabled, and takes you back to the marketplace.</p>
<form method="post" action="{action}"><button type="submit">Agree and continue</button></form>
<p><a href="{refresh}">Back to the marketplace without finishing</a></p>
</body></html>
"""
