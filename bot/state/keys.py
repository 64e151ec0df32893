"""The Redis key layout. Every key starts with the configured prefix; ``{sym}`` is the symbol,
written with its braces (a Redis Cluster hash tag).

==============================  =========  ======================================================
key                             type       holds
==============================  =========  ======================================================
``P:instruments``               set        symbols this prefix has traded
``P:i:{sym}:target``            hash       target (contracts), unit, policy, rationale, ts
``P:i:{sym}:position``          hash       size (contracts), last_fill_ts, fees (settle ccy)
``P:i:{sym}:orders``            hash       client order id -> working order (JSON), intent first
``P:i:{sym}:journal``           stream     every order state change (JSON), intent first
``P:i:{sym}:fills``             stream     every fill applied (JSON)
``P:i:{sym}:fill_ids``          set        trade ids already applied (dedup)
``P:i:{sym}:seq``               counter    client order id sequence
``P:i:{sym}:heartbeat``         string     time (s) of the instrument's last heartbeat
``P:i:{sym}:lease``             string     ``owner|token`` of the instance working it (PX expiry)
``P:i:{sym}:lease_seq``         counter    fencing token sequence
``P:i:{sym}:fence``             string     the current fencing token; writes with another fail
``P:heartbeat``                 hash       daemon heartbeat: ts, pid, mode
``P:kill:SCOPE``                hash       engaged kill switch: reason, by, ts, action (absent =
                                           lifted); SCOPE is ``global``, ``account:NAME`` or
                                           the symbol (no braces)
``P:kill:events``               channel    pub/sub notice of every kill switch change
``P:audit``                     stream     every kill switch engagement and lift
``P:i:{sym}:sim_state``         string     the simulated venue's account for the instrument (JSON)
``P:sim:state``                 string     the ccxt paper account on live data (JSON)
==============================  =========  ======================================================

A new order's intent is journalled by one script that also reads the kill switches
(``P:kill:*``) and allocates the client order id, so that check and intent are one round trip
and atomic; the kill-switch keys are outside the instrument's hash tag, so on a Redis Cluster
that script would need them in the instrument's slot (today's client is a single-node one).
"""

from __future__ import annotations

import hashlib
import re


class Keys:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.instruments = f"{prefix}:instruments"
        self.heartbeat = f"{prefix}:heartbeat"
        self.kill_channel = f"{prefix}:kill:events"
        self.audit = f"{prefix}:audit"
        self.paper_account = f"{prefix}:sim:state"
        self._tags: dict[str, str] = {}

    def _i(self, symbol: str, name: str) -> str:
        """``{symbol}`` is a Redis Cluster hash tag: an instrument's keys share one slot, so the
        fenced writes that touch several of them stay atomic on a cluster too."""
        return f"{self.prefix}:i:{{{symbol}}}:{name}"

    def lease(self, symbol: str) -> str:
        return self._i(symbol, "lease")

    def lease_seq(self, symbol: str) -> str:
        return self._i(symbol, "lease_seq")

    def fence(self, symbol: str) -> str:
        return self._i(symbol, "fence")

    def target(self, symbol: str) -> str:
        return self._i(symbol, "target")

    def position(self, symbol: str) -> str:
        return self._i(symbol, "position")

    def orders(self, symbol: str) -> str:
        return self._i(symbol, "orders")

    def journal(self, symbol: str) -> str:
        return self._i(symbol, "journal")

    def fills(self, symbol: str) -> str:
        return self._i(symbol, "fills")

    def fill_ids(self, symbol: str) -> str:
        return self._i(symbol, "fill_ids")

    def order_seq(self, symbol: str) -> str:
        return self._i(symbol, "seq")

    def instrument_heartbeat(self, symbol: str) -> str:
        return self._i(symbol, "heartbeat")

    def sim_state(self, symbol: str) -> str:
        return self._i(symbol, "sim_state")

    def kill(self, scope: str) -> str:
        return f"{self.prefix}:kill:{scope}"

    def instrument_tag(self, symbol: str) -> str:
        """A short, venue-safe tag for client order ids: ``sb`` + 8 hex of prefix and symbol.

        Client order ids are ``{tag}-{run}-{seq}``: at most 36 characters of ``[a-z0-9-]``, which
        every venue accepts (Binance allows 36, Deribit labels 64).
        """
        tag = self._tags.get(symbol)
        if tag is None:
            tag = self._tags[symbol] = "sb" + hashlib.sha1(f"{self.prefix}|{symbol}".encode()).hexdigest()[:8]
        return tag


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe for logs and errors): the one in the
    user info (``user:***@``) and a ``password`` or ``sentinel_password`` option. Read from the
    raw text (a password with an unencoded ``/ ? # @`` is still hidden: all of the user info up to
    the last ``@`` goes); the hosts are kept as written (``h1:26379,h2:26379``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    userinfo, at, after = rest.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        if colon and not any(c in user for c in "/?#"):
            rest = f"{user}:***@{after}"
        elif colon or any(c in userinfo for c in "/?#"):
            rest = f"***@{after}"
    return f"{scheme}://{_QUERY_PASSWORD.sub(lambda m: m.group(1) + '***', rest)}"


_QUERY_PASSWORD = re.compile(r"([?&](?:sentinel_)?password=)[^&]*")
