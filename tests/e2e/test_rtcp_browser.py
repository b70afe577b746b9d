"""Chromium publishing into an SFU room learns its uplink from our receiver reports.

The page's peer connections are read through a wrapper of the `RTCPeerConnection`
constructor installed before the app loads (the app keeps its own private).

Loss on Chromium's uplink is injected where the server receives it: this kernel has no netem
qdisc, the machine no iptables/nft binary, and DevTools' `Network.emulateNetworkConditions
{packetLoss}` did not drop Chromium 156's WebRTC packets in headless mode. The server runs in
this process and Chromium in its own, so dropping every 10th RTP packet after SRTP in every
aiortc DTLS transport here (`tests.rtc_probes.drop_received_rtp`) loses packets of the
browser's uplink only, before any server code sees them, as a lossy network would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import BrowserContext, Page

from tests.e2e.conftest import Site
from tests.e2e.test_browser_calls import create_room, sign_up_and_in
from tests.mailbox import Mailbox
from tests.rtc_probes import drop_received_rtp

NewContext = Callable[[], Awaitable[BrowserContext]]

KEEP_PEER_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__peerConnections = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    window.__peerConnections.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Native);
})();
"""

REMOTE_INBOUND = """
async () => {
  const found = [];
  for (const pc of window.__peerConnections || []) {
    if (pc.connectionState !== "connected") continue;
    (await pc.getStats()).forEach((s) => {
      const wanted = s.type === "remote-inbound-rtp" || s.type === "outbound-rtp";
      if (wanted && s.kind === "audio") found.push(s);
    });
  }
  return found;
}
"""


async def remote_inbound(page: Page, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first remote-inbound-rtp (our receiver reports, as Chromium reads them) that
    satisfies `wanted`, with the outbound-rtp beside it; getStats offers no event."""
    async with asyncio.timeout(20):
        while True:
            stats: list[dict[str, Any]] = await page.evaluate(REMOTE_INBOUND)
            outbound = [s for s in stats if s["type"] == "outbound-rtp"]
            for s in stats:
                if s["type"] == "remote-inbound-rtp" and wanted(s):
                    return {**s, "outbound": outbound}
            await asyncio.sleep(0.25)


async def test_a_browser_publisher_gets_receiver_reports_with_round_trip_time_and_loss(
    new_context: NewContext, site: Site, mailbox: Mailbox
) -> None:
    context = await new_context()
    await context.add_init_script(KEEP_PEER_CONNECTIONS)
    ann = await context.new_page()
    await sign_up_and_in(ann, site, mailbox, "Ann")

    await create_room(ann, "Reports", private=False, sfu=True)
    clean = await remote_inbound(ann, lambda s: s.get("roundTripTime") is not None)
    assert 0 < clean["roundTripTime"] < 0.5, clean
    assert clean["packetsLost"] == 0, clean
    assert clean["fractionLost"] == 0, clean
    sent = sum(int(s["packetsSent"]) for s in clean["outbound"])
    assert sent > 0, clean

    with drop_received_rtp(10) as dropped:
        lossy = await remote_inbound(ann, lambda s: s.get("packetsLost", 0) > 0)
    # Chromium reads the cumulative loss of our latest report; some drops may postdate it.
    assert 0 < lossy["packetsLost"] <= dropped(), (lossy, dropped())
    assert lossy["roundTripTime"] < 0.5, lossy
