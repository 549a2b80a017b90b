// Calls between real browsers through the real server (signaling over the
// long connection, media peer to peer over loopback: the suite runs in a
// network namespace with only `lo`, scripts/netns.mjs). Chromium's fake
// camera and microphone send a test pattern and a tone; getStats on both
// sides must show inbound audio and video bytes growing.

import type { Browser, Page } from "@playwright/test";

import { Api, expect, PASSWORD, startServer, test, uniqueName } from "./fixtures";
import { directId, openChat, person, type Person } from "./ui";

/** Makes two people friends over the HTTP API (setup, not under test). */
async function befriend(api: Api, a: Person, b: Person): Promise<void> {
  const sent = await api.call<{ request: { id: number } }>("POST", "/friends/requests", { user_id: Number(b.id) }, a.login.token);
  await api.call("POST", `/friends/requests/${sent.request.id}/accept`, undefined, b.login.token);
}

/** Alice and Bob, friends, each with their direct chat open. */
async function friendsInChat(browser: Browser, api: Api, before?: (p: Person) => Promise<void>): Promise<{ alice: Person; bob: Person; chat: string }> {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  await befriend(api, alice, bob);
  for (const p of [alice, bob]) await before?.(p);
  const chat = directId(alice.id, bob.id);
  await openChat(alice.page, chat);
  await openChat(bob.page, chat);
  return { alice, bob, chat };
}

/** Another device of an existing user: a new context logged in through the form. */
async function device(browser: Browser, api: Api, of: Person): Promise<Person> {
  const context = await browser.newContext({ baseURL: api.baseUrl, locale: "en-US", viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  await page.goto("/");
  await page.fill("input[name=username]", of.login.user.username);
  await page.fill("input[name=password]", PASSWORD);
  await page.locator("form button[type=submit]").click();
  await expect(page.locator(".rail")).toBeVisible();
  return { ...of, context, page };
}

interface Inbound {
  audioBytesIn: number;
  videoBytesIn: number;
}

/** The app's test hook (src/calls/index.ts). */
type Hook = { __ferryCall?: { phase(): string; inbound(): Promise<Inbound | null> } };

async function inbound(page: Page): Promise<Inbound> {
  const s = await page.evaluate(() => (window as unknown as Hook).__ferryCall?.inbound() ?? null);
  return { audioBytesIn: s?.audioBytesIn ?? 0, videoBytesIn: s?.videoBytesIn ?? 0 };
}

/** Waits until this side receives audio and video, then until both counters grow again. */
async function expectMediaFlowing(page: Page): Promise<Inbound> {
  let first: Inbound = { audioBytesIn: 0, videoBytesIn: 0 };
  await expect
    .poll(async () => {
      first = await inbound(page);
      return first.audioBytesIn > 0 && first.videoBytesIn > 0;
    }, { timeout: 20_000 })
    .toBe(true);
  let later = first;
  await expect
    .poll(async () => {
      later = await inbound(page);
      return later.audioBytesIn > first.audioBytesIn && later.videoBytesIn > first.videoBytesIn;
    }, { timeout: 20_000 })
    .toBe(true);
  return later;
}

const incoming = (page: Page) => page.locator("[data-call=incoming]");
const ended = (page: Page) => page.locator("[data-call=ended]");
const callLog = (page: Page) => page.locator(".msg-row[data-seq] .body-call_log");

test("a video call: both sides receive audio and video, hang up, a call log on both sides", async ({ browser, api }) => {
  const { alice, bob } = await friendsInChat(browser, api);

  await alice.page.getByRole("button", { name: "Video call", exact: true }).click();
  const ring = incoming(bob.page);
  await expect(ring).toContainText(alice.name);
  await expect(ring).toContainText("Incoming video call");
  // Showing the call told the caller it rings.
  await expect(alice.page.locator(".call-view .call-status")).toHaveText("Ringing…");

  // Keyboard: the screen takes focus on the answer that matches the call.
  await expect(ring.getByRole("button", { name: "Accept with video" })).toBeFocused();
  await bob.page.keyboard.press("Enter");
  for (const p of [alice.page, bob.page]) {
    await expect(p.locator(".call-view[data-call=active]")).toBeVisible();
    await expect(p.locator(".call-view .remote-video")).toBeVisible();
    await expect(p.locator(".call-view .local-video")).toBeVisible();
  }
  await expectMediaFlowing(alice.page);
  await expectMediaFlowing(bob.page);
  await expect(alice.page.locator("[data-call-timer]")).toHaveText(/^0:0\d$/);
  await expect(alice.page.locator(".call-view [data-quality]")).toHaveAttribute("data-quality", /good|fair|poor/);

  // Minimised, the call goes on in a bar while the chat is usable.
  await alice.page.getByRole("button", { name: "Minimise call" }).click();
  await expect(alice.page.locator(".call-view")).toBeHidden();
  await expect(alice.page.locator("[data-call=bar]")).toContainText(`Call with ${bob.name}`);
  await expect(alice.page.locator("textarea[name=message]")).toBeVisible();
  await alice.page.getByRole("button", { name: "Back to call" }).click();
  await expect(alice.page.locator(".call-view")).toBeVisible();

  await alice.page.getByRole("button", { name: "Hang up" }).click();
  for (const p of [alice.page, bob.page]) {
    await expect(ended(p)).toContainText("Call ended");
    await expect(p.locator(".call-view")).toHaveCount(0);
    await expect(callLog(p)).toHaveText(/^Video call \d+:\d\d$/);
  }
  // The call is over on the server too: both may call again.
  await expect(alice.page.getByRole("button", { name: "Video call", exact: true })).toBeEnabled();
  expect(await alice.page.evaluate(() => (window as unknown as Hook).__ferryCall?.phase())).toMatch(/ended|idle/);
});

/**
 * Makes every RTCPeerConnection of the context's pages relay-only
 * (`iceTransportPolicy: "relay"`, as an app on a hostile network would set
 * it): no host candidate is gathered, so media can only go through TURN.
 * The app's own code is unchanged; the peers are kept for `relayPath`.
 */
async function forceRelay(p: Person): Promise<void> {
  await p.context.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    const peers: RTCPeerConnection[] = [];
    class RelayOnly extends Native {
      constructor(config?: RTCConfiguration) {
        super({ ...(config ?? {}), iceTransportPolicy: "relay" });
        peers.push(this);
      }
    }
    window.RTCPeerConnection = RelayOnly;
    (window as unknown as { __relayPeers: RTCPeerConnection[] }).__relayPeers = peers;
  });
}

/** The candidate types of the selected pair of the page's last peer connection, and of every local candidate. */
async function relayPath(page: Page): Promise<{ local: string; remote: string; gathered: string[]; turnUrls: string[] }> {
  return page.evaluate(async () => {
    const peers = (window as unknown as { __relayPeers: RTCPeerConnection[] }).__relayPeers;
    const pc = peers[peers.length - 1]!;
    const stats = [...(await pc.getStats()).values()] as Array<Record<string, unknown>>;
    const byId = new Map(stats.map((s) => [s.id as string, s]));
    const transport = stats.find((s) => s.type === "transport");
    const pair = byId.get(transport?.selectedCandidatePairId as string);
    const turnUrls = (pc.getConfiguration().iceServers ?? []).flatMap((s) => [s.urls].flat()).filter((u) => u.startsWith("turn:"));
    return {
      local: String(byId.get(pair?.localCandidateId as string)?.candidateType ?? "none"),
      remote: String(byId.get(pair?.remoteCandidateId as string)?.candidateType ?? "none"),
      gathered: stats.filter((s) => s.type === "local-candidate").map((s) => String(s.candidateType)),
      turnUrls,
    };
  });
}

/** `ferry_turn_relayed_bytes_total` of the server's /metrics. */
async function relayedBytes(api: Api): Promise<number> {
  const text = await (await fetch(`${api.baseUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("ferry_turn_relayed_bytes_total "));
  return Number(line?.split(" ")[1] ?? "NaN");
}

test("a video call forced through the embedded TURN relay: media flows, relayed both ways", async ({ browser, api }) => {
  const { alice, bob } = await friendsInChat(browser, api, forceRelay);
  const before = await relayedBytes(api);
  expect(before).toBeGreaterThanOrEqual(0);

  await alice.page.getByRole("button", { name: "Video call", exact: true }).click();
  await incoming(bob.page).getByRole("button", { name: "Accept with video" }).click();
  for (const p of [alice.page, bob.page]) await expect(p.locator(".call-view[data-call=active]")).toBeVisible();
  await expectMediaFlowing(alice.page);
  await expectMediaFlowing(bob.page);

  for (const p of [alice.page, bob.page]) {
    const path = await relayPath(p);
    // The ICE servers the app was handed name the embedded relay (its real port) ...
    expect(path.turnUrls.some((u) => /^turn:127\.0\.0\.1:[1-9]\d*\?transport=udp$/.test(u))).toBe(true);
    // ... and the only way the browser had was through it.
    expect(path.gathered.length).toBeGreaterThan(0);
    expect(new Set(path.gathered)).toEqual(new Set(["relay"]));
    expect(path).toMatchObject({ local: "relay", remote: "relay" });
  }
  // The server counted the media it carried: well over the signaling's size.
  await expect.poll(async () => (await relayedBytes(api)) - before, { timeout: 10_000 }).toBeGreaterThan(100_000);

  await alice.page.getByRole("button", { name: "Hang up" }).click();
  for (const p of [alice.page, bob.page]) await expect(callLog(p)).toHaveText(/^Video call \d+:\d\d$/);
});

test("declining: the caller is told, both logs read right", async ({ browser, api }) => {
  const { alice, bob } = await friendsInChat(browser, api);

  await alice.page.getByRole("button", { name: "Voice call", exact: true }).click();
  await expect(incoming(bob.page)).toContainText("Incoming voice call");
  await incoming(bob.page).getByRole("button", { name: "Decline" }).click();
  await expect(incoming(bob.page)).toHaveCount(0);
  await expect(ended(alice.page)).toContainText("Call declined");
  await expect(callLog(alice.page)).toHaveText("Voice call declined");
  await expect(callLog(bob.page)).toHaveText("Declined voice call");
});

test("busy: calling someone already in a call; cancel: the callee's ring stops", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  const carol = await person(browser, api, uniqueName("carol"));
  await befriend(api, alice, bob);
  await befriend(api, carol, bob);
  await openChat(alice.page, directId(alice.id, bob.id));
  await openChat(bob.page, directId(alice.id, bob.id));
  await openChat(carol.page, directId(carol.id, bob.id));

  await alice.page.getByRole("button", { name: "Voice call", exact: true }).click();
  await expect(incoming(bob.page)).toContainText(alice.name);

  await carol.page.getByRole("button", { name: "Video call", exact: true }).click();
  await expect(ended(carol.page)).toContainText(`${bob.name} is busy on another call`);
  // Bob was not disturbed: still only Alice's call on his screen.
  await expect(incoming(bob.page)).toContainText(alice.name);
  await expect(callLog(carol.page)).toHaveText("Video call · Busy");

  await alice.page.getByRole("button", { name: "Cancel" }).click();
  await expect(ended(alice.page)).toContainText("Call cancelled");
  await expect(incoming(bob.page)).toHaveCount(0);
  await expect(ended(bob.page)).toContainText("Call cancelled");
  await expect(callLog(alice.page)).toHaveText("Cancelled voice call");
  await expect(callLog(bob.page)).toHaveText("Missed voice call");
});

test("no answer: the server's ring timeout ends it, a missed call for the callee", async ({ browser }, testInfo) => {
  // A server of its own with a short ring timeout.
  const running = await startServer(testInfo.outputPath("ferry-server-ring.log"), { FERRY_CALLS__RING_TIMEOUT_SECS: "3" });
  try {
    const api = new Api(running.server.url);
    const alice = await person(browser, api, uniqueName("alice"));
    const bob = await person(browser, api, uniqueName("bob"));
    await befriend(api, alice, bob);
    const chat = directId(alice.id, bob.id);
    await openChat(alice.page, chat);
    await openChat(bob.page, chat);

    await alice.page.getByRole("button", { name: "Voice call", exact: true }).click();
    await expect(incoming(bob.page)).toBeVisible();
    await expect(ended(alice.page)).toContainText("No answer");
    await expect(ended(bob.page)).toContainText("Missed call");
    await expect(callLog(alice.page)).toHaveText("Voice call · No answer");
    await expect(callLog(bob.page)).toHaveText("Missed voice call");
    await alice.context.close();
    await bob.context.close();
  } finally {
    await running.stop();
  }
});

test("two devices ring; the first to accept wins, the other is told it was answered elsewhere", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  const bobLaptop = await device(browser, api, bob);
  await befriend(api, alice, bob);
  await openChat(alice.page, directId(alice.id, bob.id));

  await alice.page.getByRole("button", { name: "Video call", exact: true }).click();
  await expect(incoming(bob.page)).toBeVisible();
  await expect(incoming(bobLaptop.page)).toBeVisible();
  // A reload while ringing declines nothing: the laptop rings again, the phone goes on ringing.
  await bobLaptop.page.reload();
  await expect(incoming(bobLaptop.page)).toBeVisible();
  await expect(incoming(bob.page)).toBeVisible();
  await expect(alice.page.locator(".call-view .call-status")).toHaveText("Ringing…");
  await incoming(bobLaptop.page).getByRole("button", { name: "Accept with audio" }).click();
  await expect(ended(bob.page)).toContainText("Answered on another device");
  await expect(incoming(bob.page)).toHaveCount(0);

  for (const p of [alice.page, bobLaptop.page]) await expect(p.locator(".call-view[data-call=active]")).toBeVisible();
  // Bob answered without video: Alice hears him, Bob sees and hears her.
  await expectMediaFlowing(bobLaptop.page);
  await expect
    .poll(async () => (await inbound(alice.page)).audioBytesIn, { timeout: 20_000 })
    .toBeGreaterThan(0);

  await bobLaptop.page.getByRole("button", { name: "Hang up" }).click();
  await expect(ended(alice.page)).toContainText("Call ended");
});

test("a blocked camera or microphone: a clear message, and the call is refused cleanly", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  await befriend(api, alice, bob);
  const chat = directId(alice.id, bob.id);
  // What a browser does when the user (or a policy) blocked the devices.
  const block = () => {
    navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
  };
  await alice.context.addInitScript(block);
  await openChat(alice.page, chat);
  await openChat(bob.page, chat);

  // The caller: nothing is placed.
  await alice.page.getByRole("button", { name: "Video call", exact: true }).click();
  await expect(ended(alice.page)).toContainText("Camera or microphone blocked");
  await alice.page.getByRole("button", { name: "Close" }).click();
  await expect(ended(alice.page)).toHaveCount(0);

  // The callee: accepting without devices declines the call and says why.
  await bob.page.getByRole("button", { name: "Voice call", exact: true }).click();
  await expect(incoming(alice.page)).toBeVisible();
  await incoming(alice.page).getByRole("button", { name: "Accept with audio" }).click();
  await expect(ended(alice.page)).toContainText("Camera or microphone blocked");
  await expect(ended(bob.page)).toContainText("Call declined");
  await expect(callLog(bob.page)).toHaveText("Voice call declined");
});

test("a voice call gains video when the callee turns the camera on; a screen share takes its place", async ({ browser, api }) => {
  const { alice, bob } = await friendsInChat(browser, api);

  await alice.page.getByRole("button", { name: "Voice call", exact: true }).click();
  await incoming(bob.page).getByRole("button", { name: "Accept with audio" }).click();
  for (const p of [alice.page, bob.page]) await expect(p.locator(".call-view[data-call=active]")).toBeVisible();
  await expect.poll(async () => (await inbound(alice.page)).audioBytesIn, { timeout: 20_000 }).toBeGreaterThan(0);
  expect((await inbound(alice.page)).videoBytesIn).toBe(0);
  await expect(alice.page.locator(".call-view .remote-video")).toBeHidden();

  // Bob's camera: a new video track, negotiated over `renegotiate`.
  await bob.page.getByRole("button", { name: "Turn camera on" }).click();
  await expect(bob.page.getByRole("button", { name: "Turn camera off" })).toBeVisible();
  await expect(bob.page.locator(".call-view .local-video")).toBeVisible();
  await expectMediaFlowing(alice.page);
  await expect(alice.page.locator(".call-view .remote-video")).toBeVisible();

  // Mute: Bob's microphone track is disabled (the button says so).
  await bob.page.getByRole("button", { name: "Mute microphone" }).click();
  await expect(bob.page.getByRole("button", { name: "Unmute microphone" })).toBeVisible();

  // Screen share replaces the camera track on the same sender (no new m-line).
  await bob.page.getByRole("button", { name: "Share screen" }).click();
  await expect(bob.page.getByRole("button", { name: "Stop sharing" })).toBeVisible();
  await expect(bob.page.locator(".call-view .local-video.screen")).toBeVisible();
  // Alice now receives the screen: frames of the captured screen's size
  // (wider than the fake camera's 640x480 at most), then the camera again.
  const width = (p: Page, sel: string) => p.locator(sel).evaluate((v: HTMLVideoElement) => v.videoWidth);
  await expect.poll(() => width(bob.page, ".call-view .local-video.screen")).toBeGreaterThan(640);
  const screenWidth = await width(bob.page, ".call-view .local-video.screen");
  await expect.poll(() => width(alice.page, ".call-view .remote-video"), { timeout: 20_000 }).toBe(screenWidth);
  await bob.page.getByRole("button", { name: "Stop sharing" }).click();
  await expect(bob.page.locator(".call-view .local-video:not(.screen)")).toBeVisible();
  await expect.poll(() => width(alice.page, ".call-view .remote-video"), { timeout: 20_000 }).toBeLessThanOrEqual(640);

  await alice.page.getByRole("button", { name: "Hang up" }).click();
  await expect(ended(bob.page)).toContainText("Call ended");
  await expect(callLog(bob.page)).toHaveText(/^Voice call \d+:\d\d$/);
});

test("a dropped connection mid-call: the other side is told, the call resumes and restarts ICE", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  await befriend(api, alice, bob);
  // Bob's long connection runs through the test, which can cut it.
  let cut = async () => undefined as void;
  const offers: string[] = [];
  let answer = "";
  await bob.page.routeWebSocket("**/ws", (page) => {
    const server = page.connectToServer();
    page.onMessage((m) => {
      if (typeof m === "string" && m.includes('"renegotiate"') && m.includes('"offer"')) offers.push(m);
      if (typeof m === "string" && m.includes('"accept"')) answer = m;
      server.send(m);
    });
    cut = async () => {
      await server.close();
      await page.close();
    };
  });
  const chat = directId(alice.id, bob.id);
  await openChat(alice.page, chat);
  await openChat(bob.page, chat);

  await alice.page.getByRole("button", { name: "Video call", exact: true }).click();
  await incoming(bob.page).getByRole("button", { name: "Accept with video" }).click();
  await expectMediaFlowing(alice.page);
  expect(offers).toHaveLength(0);

  await cut();
  await expect(alice.page.locator(".call-view")).toContainText(`${bob.name} lost the connection`);
  // Bob's client reconnects by itself within the grace: the call goes on,
  // and Bob's side offers an ICE restart over `renegotiate`.
  await expect(alice.page.locator(".call-view")).not.toContainText("lost the connection", { timeout: 20_000 });
  await expect.poll(() => offers.length, { timeout: 20_000 }).toBeGreaterThan(0);
  // An ICE restart: new ICE credentials, unlike those of Bob's answer.
  const ufrag = (frame: string) => /a=ice-ufrag:([A-Za-z0-9+/]+)/.exec(frame)?.[1];
  expect(ufrag(answer)).toBeTruthy();
  expect(ufrag(offers[0]!)).toBeTruthy();
  expect(ufrag(offers[0]!)).not.toBe(ufrag(answer));
  await expect(alice.page.locator(".call-view[data-call=active]")).toBeVisible();
  await expect(bob.page.locator(".call-view[data-call=active]")).toBeVisible();
  await expectMediaFlowing(alice.page);
  await expectMediaFlowing(bob.page);

  await bob.page.getByRole("button", { name: "Hang up" }).click();
  await expect(ended(alice.page)).toContainText("Call ended");
});

test("a voice call accepted with video; the device picker switches the microphone", async ({ browser, api }) => {
  const { alice, bob } = await friendsInChat(browser, api);

  // The offer has no video: Bob's camera is negotiated after the answer (Bob offers).
  await alice.page.getByRole("button", { name: "Voice call", exact: true }).click();
  await incoming(bob.page).getByRole("button", { name: "Accept with video" }).click();
  await expectMediaFlowing(alice.page);
  await expect(alice.page.locator(".call-view .remote-video")).toBeVisible();

  // Bob picks another microphone (Chromium has several fake ones).
  await bob.page.getByRole("button", { name: "Devices" }).click();
  const pickers = bob.page.getByRole("group", { name: "Devices" });
  const mic = pickers.getByLabel("Microphone");
  const cam = pickers.getByLabel("Camera");
  const choose = async (select: typeof mic) => {
    const values = await select.locator("option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    const current = await select.inputValue();
    const other = values.find((v) => v !== current && v !== "default" && v !== "communications");
    return { current, other };
  };
  const m = await choose(mic);
  expect(m.other, "a second fake microphone").toBeTruthy();
  await mic.selectOption(m.other!);
  // The track sent now comes from that device (the local stream holds it).
  const deviceOf = (kind: "audio" | "video") =>
    bob.page.locator(".call-view .local-video").evaluate((v: HTMLVideoElement, k) => {
      const s = v.srcObject as MediaStream;
      return (k === "audio" ? s.getAudioTracks() : s.getVideoTracks())[0]?.getSettings().deviceId ?? "";
    }, kind);
  await expect.poll(() => deviceOf("audio")).toBe(m.other!);
  // Chromium has one fake camera: the picker lists the one in use.
  await expect(cam).toHaveValue(await deviceOf("video"));
  await expect(bob.page.locator(".call-view [role=alert]")).toHaveCount(0);
  await expectMediaFlowing(alice.page);

  await bob.page.getByRole("button", { name: "Close" }).click();
  await bob.page.getByRole("button", { name: "Hang up" }).click();
  await expect(ended(alice.page)).toContainText("Call ended");
});

test("a call to a hidden tab shows a browser notification, closed when the ringing stops; then the missed call", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  await befriend(api, alice, bob);
  // Bob's tab is in the background, notifications allowed; headless
  // Chromium shows none, so the page's Notification records them instead.
  await bob.context.addInitScript(() => {
    const shown: { title: string; body: string; closed: boolean }[] = [];
    (window as unknown as { __shown: typeof shown }).__shown = shown;
    class Recorded {
      static permission = "granted";
      static requestPermission = async () => "granted";
      onclick: (() => void) | null = null;
      private entry: { title: string; body: string; closed: boolean };
      constructor(title: string, o: { body?: string } = {}) {
        this.entry = { title, body: o.body ?? "", closed: false };
        shown.push(this.entry);
      }
      close() {
        this.entry.closed = true;
      }
    }
    Object.defineProperty(window, "Notification", { value: Recorded });
    Object.defineProperty(document, "visibilityState", { get: () => "hidden" });
    document.hasFocus = () => false;
  });
  await openChat(alice.page, directId(alice.id, bob.id));
  await bob.page.reload();
  await expect(bob.page.locator(".rail")).toBeVisible();

  const shown = () => bob.page.evaluate(() => (window as unknown as { __shown: unknown[] }).__shown);
  await alice.page.getByRole("button", { name: "Video call", exact: true }).click();
  await expect(incoming(bob.page)).toBeVisible();
  await expect.poll(shown).toEqual([{ title: `${alice.name} is calling`, body: "Incoming video call", closed: false }]);
  // Cancelled: the call's notification closes, and the call log arrives
  // as a message notification of its own.
  await alice.page.getByRole("button", { name: "Cancel" }).click();
  await expect.poll(shown).toEqual([
    { title: `${alice.name} is calling`, body: "Incoming video call", closed: true },
    { title: alice.name, body: "Missed video call", closed: false },
  ]);
});

test("reloading mid-call ends the call at once, not after the reconnect grace", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  await befriend(api, alice, bob);
  // Bob's connections run through the test, which loses the goodbye of
  // the page being reloaded: the reloaded page must end the call itself.
  let connections = 0;
  const hangups: number[] = [];
  await bob.page.routeWebSocket("**/ws", (page) => {
    const n = ++connections;
    const server = page.connectToServer();
    page.onMessage((m) => {
      if (typeof m === "string" && m.includes('"hangup"')) {
        hangups.push(n);
        if (n === 1) return;
      }
      server.send(m);
    });
  });
  const chat = directId(alice.id, bob.id);
  await openChat(alice.page, chat);
  await openChat(bob.page, chat);
  await alice.page.getByRole("button", { name: "Voice call", exact: true }).click();
  await incoming(bob.page).getByRole("button", { name: "Accept with audio" }).click();
  await expect(alice.page.locator(".call-view[data-call=active]")).toBeVisible();

  await bob.page.reload();
  // Well within the 20 s grace the server would otherwise wait.
  await expect(ended(alice.page)).toContainText("Call ended");
  // …by the reloaded page (the old page's goodbye, if it sent one, was dropped).
  expect(hangups).toContain(2);
  await expect(bob.page.locator(".call-view")).toHaveCount(0);
  await expect(callLog(alice.page)).toHaveText(/^Voice call \d+:\d\d$/);
});
