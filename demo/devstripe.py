"""Development and test Stripe: localstripe bound to 127.0.0.1, its state kept where we say.

    python -m billing.devstripe PORT STATE_FILE     (tests; the demo uses `manage.py devstripe`)

Not used in production (localstripe and aiohttp are development requirements).

localstripe pickles its whole store to the fixed path /tmp/localstripe.pickle
on every write; here the Store's load/dump are pointed at STATE_FILE instead.

It also mounts a *contract stub* for the Connect endpoints localstripe lacks
(/v1/accounts, /v1/account_links, /v1/transfers). Those answers are shaped
like Stripe's documented Account, AccountLink and Transfer objects (recorded
field by field from the API reference); they are ours, not localstripe's.
"""

from __future__ import annotations

import pickle
import random
import string
import sys
import time

from aiohttp import web


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    port, state_file = int(args[0]), args[1]
    webhook_url = args[2] if len(args) > 2 else ""
    webhook_secret = args[3] if len(args) > 3 else ""
    serve(port=port, state_file=state_file, webhook_url=webhook_url, webhook_secret=webhook_secret)


def serve(*, port: int, state_file: str, webhook_url: str = "", webhook_secret: str = "") -> None:
    import localstripe.resources as resources
    import localstripe.server as server

    def load(self):  # type: ignore[no-untyped-def]
        try:
            with open(state_file, "rb") as f:
                old = pickle.load(f)  # noqa: S301 - our own state file, as localstripe itself does
        except FileNotFoundError:
            return
        self.clear()
        self.update(old)

    def dump(self):  # type: ignore[no-untyped-def]
        with open(state_file, "wb") as f:
            pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump

    app = server.app
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

    resources.store.try_load_from_disk()
    if webhook_url:
        from localstripe.webhooks import register_webhook

        register_webhook("marketplace", webhook_url, webhook_secret, None)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
