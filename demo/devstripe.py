"""Development and test Stripe: localstripe bound to 127.0.0.1, its state kept where we say.

    python -m demo.devstripe PORT STATE_FILE     (tests; the demo uses `manage.py devstripe`)

Not used in production (localstripe and aiohttp are development requirements).

localstripe pickles its whole store to the fixed path /tmp/localstripe.pickle
on every write; here the Store's load/dump are pointed at STATE_FILE instead.

It also mounts the Connect stand-in (demo.stripe_connect) for the endpoints
localstripe lacks.
"""

from __future__ import annotations

import pickle
import sys

from aiohttp import web

from demo import stripe_connect


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
    stripe_connect.mount(app, server, state_file=state_file + ".connect.json")

    resources.store.try_load_from_disk()
    if webhook_url:
        from localstripe.webhooks import register_webhook

        register_webhook("marketplace", webhook_url, webhook_secret, None)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
