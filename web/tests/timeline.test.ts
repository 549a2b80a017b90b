import { describe, expect, it } from "vitest";

import { Timeline } from "../src/sync/timeline";
import { DM, ME, PEER, event, gapFree, quoting, range, seqs, text, withContent } from "./fixtures";

function fresh(): Timeline {
  return new Timeline(DM, ME);
}

/** A timeline holding `from..to` (pulled after from-1). */
function holding(from: number, to: number): Timeline {
  const t = fresh();
  t.pulled(from - 1, range(from, to), false);
  return t;
}

describe("Timeline.push", () => {
  it("delivers pushes in order from the first seq", () => {
    const t = fresh();
    expect(t.push(text(1))).toBe("delivered");
    expect(t.push(text(2))).toBe("delivered");
    expect(t.push(text(3, ME))).toBe("delivered");
    expect(t.held).toBe(3);
    expect(t.low).toBe(1);
    expect(seqs(t.items)).toEqual([1, 2, 3]);
    expect(t.get(2)?.content?.text?.text).toBe("m2");
  });

  it("drops a push at or below held as a duplicate and keeps what it holds", () => {
    const t = holding(1, 3);
    const before = t.items[1];
    expect(t.push(text(2, PEER, "other text"))).toBe("duplicate");
    expect(t.push(text(3))).toBe("duplicate");
    expect(t.push(text(1))).toBe("duplicate");
    expect(t.held).toBe(3);
    expect(seqs(t.items)).toEqual([1, 2, 3]);
    expect(t.items[1]).toBe(before);
    expect(t.get(2)?.content?.text?.text).toBe("m2");
  });

  it("reports a gap above held+1 and changes nothing", () => {
    const t = holding(1, 3);
    expect(t.push(text(5))).toBe("gap");
    expect(t.held).toBe(3);
    expect(seqs(t.items)).toEqual([1, 2, 3]);
    expect(t.get(5)).toBeUndefined();
    // Once the gap is pulled, the same push is delivered.
    t.pulled(3, [text(4)], false);
    expect(t.push(text(5))).toBe("delivered");
    expect(seqs(t.items)).toEqual([1, 2, 3, 4, 5]);
  });

  it("treats any push above 1 on an empty timeline as a gap (the newest page loads first)", () => {
    const t = fresh();
    expect(t.push(text(7))).toBe("gap");
    expect(t.held).toBe(0);
    expect(t.items).toHaveLength(0);
  });

  it("delivers held+1 after an empty pull set held", () => {
    const t = fresh();
    t.pulled(40, [], false);
    expect(t.held).toBe(40);
    expect(t.items).toHaveLength(0);
    expect(t.push(text(42))).toBe("gap");
    expect(t.push(text(41))).toBe("delivered");
    expect(t.low).toBe(41);
  });
});

describe("Timeline.pulled", () => {
  it("takes the newest page of a conversation without reaching its start", () => {
    const t = fresh();
    t.pulled(70, range(71, 120), false);
    expect(t.held).toBe(120);
    expect(t.low).toBe(71);
    expect(t.atStart).toBe(false);
    expect(gapFree(t.items)).toBe(true);
    expect(t.get(70)).toBeUndefined();
    expect(t.get(71)?.seq).toBe("71");
    expect(t.get(120)?.seq).toBe("120");
  });

  it("reaches the start when pulled from seq 0", () => {
    const t = fresh();
    t.pulled(0, range(1, 3), false);
    expect(t.atStart).toBe(true);
    expect(t.low).toBe(1);
  });

  it("accepts a page starting above afterSeq+1 (a group joiner) and marks the start", () => {
    const t = new Timeline("g_9", ME);
    const page = range(101, 104, "g_9");
    t.pulled(40, page, false);
    expect(seqs(t.items)).toEqual([101, 102, 103, 104]);
    expect(t.held).toBe(104);
    expect(t.low).toBe(101);
    expect(t.atStart).toBe(true);
    expect(t.get(101)?.seq).toBe("101");
    expect(t.push(text(105, PEER, "x", "g_9"))).toBe("delivered");
  });

  it("does not mark the start for a page that begins right after afterSeq", () => {
    const t = fresh();
    t.pulled(40, range(41, 45), false);
    expect(t.atStart).toBe(false);
  });

  it("skips pulled messages already held and appends the rest", () => {
    const t = holding(1, 5);
    const held3 = t.items[2];
    t.pulled(3, [text(4, PEER, "again"), text(5, PEER, "again"), text(6), text(7)], false);
    expect(seqs(t.items)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(t.items[2]).toBe(held3);
    expect(t.get(4)?.content?.text?.text).toBe("m4");
    expect(t.held).toBe(7);
  });

  it("keeps held at afterSeq for an empty page on an empty timeline", () => {
    const t = fresh();
    const edits = t.pulled(12, [], false);
    expect(edits).toEqual([]);
    expect(t.held).toBe(12);
    expect(t.atStart).toBe(false);
  });
});

describe("Timeline.older", () => {
  it("prepends older pages gap-free and reaches the start at afterSeq 0", () => {
    const t = fresh();
    t.pulled(70, range(71, 120), false);
    t.older(20, range(21, 70));
    expect(t.low).toBe(21);
    expect(t.atStart).toBe(false);
    expect(gapFree(t.items)).toBe(true);
    t.older(0, range(1, 20));
    expect(t.low).toBe(1);
    expect(t.atStart).toBe(true);
    expect(seqs(t.items)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(t.get(1)?.seq).toBe("1");
    expect(t.get(57)?.seq).toBe("57");
  });

  it("ignores messages of an older page at or above low", () => {
    const t = holding(71, 80);
    const at71 = t.items[0];
    t.older(60, [...range(61, 70), text(71, PEER, "dup"), text(72, PEER, "dup")]);
    expect(seqs(t.items)).toEqual(Array.from({ length: 20 }, (_, i) => i + 61));
    expect(t.get(71)).toBe(at71);
  });

  it("does not take a page that does not reach low-1", () => {
    const t = holding(71, 80);
    t.older(20, range(21, 60));
    expect(t.low).toBe(71);
    expect(seqs(t.items)).toEqual(Array.from({ length: 10 }, (_, i) => i + 71));
    expect(t.atStart).toBe(false);
  });

  it("does not claim the start when a page from seq 0 was not taken", () => {
    const t = holding(21, 30);
    t.older(0, range(1, 10)); // cut short: 11..20 are missing
    expect(t.low).toBe(21);
    expect(t.atStart).toBe(false);
  });

  it("marks the start for an older page beginning above afterSeq+1 (history from join)", () => {
    const t = holding(71, 80);
    t.older(20, range(41, 70));
    expect(t.low).toBe(41);
    expect(t.atStart).toBe(true);
    expect(gapFree(t.items)).toBe(true);
  });

  it("marks the start when nothing older is visible", () => {
    const t = holding(71, 80);
    t.older(20, []);
    expect(t.atStart).toBe(true);
    expect(t.low).toBe(71);
  });

  it("does not re-apply reactions of replayed events (pages show messages as they are now)", () => {
    const t = holding(71, 80);
    const target = { ...text(30), reactions: [{ emoji: "👍", count: "2" }] };
    const page = [...range(21, 29), target, ...range(31, 69), event(70, "reaction_added", 30, PEER, "👍")];
    t.older(20, page);
    expect(t.get(30)?.reactions).toEqual([{ emoji: "👍", count: "2" }]);
  });

  it("does not request edits for replayed edit events", () => {
    const t = holding(71, 80);
    t.older(20, [...range(21, 69), event(70, "edited", 30, PEER)]);
    expect(t.low).toBe(21);
    // older() returns nothing; replaying must not change the edited target either
    expect(t.get(30)?.content?.text?.text).toBe("m30");
  });

  it("lets a newer held unpin win over an older replayed pin", () => {
    const t = fresh();
    t.pulled(70, [...range(71, 79), event(80, "unpinned", 30, PEER)], false);
    expect(t.pinned.has(30)).toBe(false);
    t.older(20, [...range(21, 59), event(60, "pinned", 30, PEER), ...range(61, 70)]);
    expect(t.low).toBe(21);
    expect(t.pinned.has(30)).toBe(false);
  });

  it("applies an older replayed pin nothing newer contradicts", () => {
    const t = holding(71, 80);
    t.older(20, [...range(21, 59), event(60, "pinned", 30, PEER), ...range(61, 70)]);
    expect(t.pinned.has(30)).toBe(true);
  });
});

describe("Timeline events", () => {
  it("revoke replaces the content, drops reactions and the pin, and updates quotes", () => {
    const t = fresh();
    const target = { ...text(1, PEER, "secret"), reactions: [{ emoji: "👍", count: "1", me: true }] };
    const reply = quoting(2, { seq: "1", senderId: PEER, kind: "text", preview: "secret" }, ME);
    t.pulled(0, [target, reply], false);
    t.push(event(3, "pinned", 1, PEER));
    expect(t.pinned.has(1)).toBe(true);

    expect(t.push(event(4, "revoked", 1, PEER))).toBe("delivered");
    const revoked = t.get(1)!;
    expect(revoked.content?.text).toBeUndefined();
    expect(revoked.content?.revoked?.by).toBe(PEER);
    expect(revoked.content?.revoked?.at).toBe(event(4, "revoked", 1).serverTime);
    expect(revoked.reactions ?? []).toEqual([]);
    expect(revoked.serverMsgId).toBe(target.serverMsgId);
    expect(t.pinned.has(1)).toBe(false);

    const q = t.get(2)!.content!.quote!;
    expect(q.revoked).toBe(true);
    expect(q.preview).toBeUndefined();
    expect(q.seq).toBe("1");
    expect(t.get(2)!.content!.text?.text).toBe("reply 2");
    // the event itself is kept in the stream
    expect(seqs(t.items)).toEqual([1, 2, 3, 4]);
    expect(t.lastVisible()?.seq).toBe("2");
  });

  it("a revoked reply keeps its own quote", () => {
    const t = fresh();
    const reply = quoting(2, { seq: "1", senderId: PEER, kind: "text", preview: "m1" }, ME);
    t.pulled(0, [text(1), reply], false);
    t.push(event(3, "revoked", 2, ME));
    const m = t.get(2)!;
    expect(m.content?.revoked).toBeDefined();
    expect(m.content?.quote?.seq).toBe("1");
    expect(m.content?.quote?.preview).toBe("m1");
  });

  it("revoke updates quotes of a target the window does not hold", () => {
    const t = fresh();
    const reply = quoting(80, { seq: "10", senderId: PEER, kind: "text", preview: "old one" }, ME);
    t.pulled(70, [...range(71, 79), reply], false);
    t.push(event(81, "revoked", 10, PEER));
    const q = t.get(80)!.content!.quote!;
    expect(q.revoked).toBe(true);
    expect(q.preview).toBeUndefined();
  });

  it("a second revoke of the same message changes nothing", () => {
    const t = holding(1, 2);
    t.push(event(3, "revoked", 1, PEER));
    const once = t.get(1);
    t.push(event(4, "revoked", 1, ME));
    expect(t.get(1)).toBe(once);
    expect(t.get(1)?.content?.revoked?.by).toBe(PEER);
  });

  it("counts reactions up and down, with `me` for my own", () => {
    const t = holding(1, 1);
    t.push(event(2, "reaction_added", 1, PEER, "👍"));
    expect(t.get(1)?.reactions).toEqual([{ emoji: "👍", count: "1" }]);
    t.push(event(3, "reaction_added", 1, ME, "👍"));
    expect(t.get(1)?.reactions).toEqual([{ emoji: "👍", count: "2", me: true }]);
    t.push(event(4, "reaction_added", 1, PEER, "🎉"));
    expect(t.get(1)?.reactions).toEqual([
      { emoji: "👍", count: "2", me: true },
      { emoji: "🎉", count: "1" },
    ]);
    t.push(event(5, "reaction_removed", 1, ME, "👍"));
    expect(t.get(1)?.reactions).toEqual([
      { emoji: "👍", count: "1", me: false },
      { emoji: "🎉", count: "1" },
    ]);
    t.push(event(6, "reaction_removed", 1, PEER, "👍"));
    expect(t.get(1)?.reactions).toEqual([{ emoji: "🎉", count: "1" }]);
    // removing what is not there changes nothing
    t.push(event(7, "reaction_removed", 1, PEER, "😀"));
    expect(t.get(1)?.reactions).toEqual([{ emoji: "🎉", count: "1" }]);
  });

  it("does not mutate the reaction objects of the previous message version", () => {
    const t = holding(1, 1);
    t.push(event(2, "reaction_added", 1, PEER, "👍"));
    const v1 = t.get(1)!;
    const snapshot = JSON.stringify(v1.reactions);
    t.push(event(3, "reaction_added", 1, ME, "👍"));
    expect(t.get(1)).not.toBe(v1);
    expect(JSON.stringify(v1.reactions)).toBe(snapshot);
  });

  it("applies reaction events in a later page to a target held before", () => {
    const t = holding(1, 3);
    t.pulled(3, [text(4), event(5, "reaction_added", 2, PEER, "👍")], false);
    expect(t.get(2)?.reactions).toEqual([{ emoji: "👍", count: "1" }]);
  });

  it("does not count a reaction twice when the target and its event come in one page", () => {
    const t = fresh();
    const target = { ...text(2), reactions: [{ emoji: "👍", count: "1", me: true }] };
    t.pulled(0, [text(1), target, event(3, "reaction_added", 2, ME, "👍")], false);
    expect(t.get(2)?.reactions).toEqual([{ emoji: "👍", count: "1", me: true }]);
  });

  it("ignores reactions to a message it does not hold", () => {
    const t = holding(5, 6);
    expect(t.push(event(7, "reaction_added", 2, PEER, "👍"))).toBe("delivered");
    expect(t.items.every((m) => !m.reactions)).toBe(true);
  });

  it("tracks pins and unpins, held or not", () => {
    const t = holding(5, 6);
    t.push(event(7, "pinned", 5, PEER));
    t.push(event(8, "pinned", 2, ME));
    expect([...t.pinned].sort()).toEqual([2, 5]);
    t.push(event(9, "unpinned", 5, ME));
    expect([...t.pinned]).toEqual([2]);
  });

  it("edited returns an edit request for held targets only", () => {
    const t = holding(5, 6);
    expect(t.pulled(6, [event(7, "edited", 5, PEER)], false)).toEqual([{ seq: 5 }]);
    expect(t.pulled(7, [event(8, "edited", 3, PEER)], false)).toEqual([]);
    expect(t.pulled(8, [event(9, "edited", 99, PEER)], false)).toEqual([]);
    // the events are in the stream, the target unchanged until replaced
    expect(seqs(t.items)).toEqual([5, 6, 7, 8, 9]);
    expect(t.get(5)?.content?.text?.text).toBe("m5");
  });

  it("does not request an edit for a target pulled in the same page (it is current)", () => {
    const t = fresh();
    const edited = withContent(text(1), { text: { text: "new" }, editedAt: "123" });
    expect(t.pulled(0, [edited, event(2, "edited", 1, PEER)], false)).toEqual([]);
  });

  it("replace() swaps in the pulled version and refreshes quotes", () => {
    const t = fresh();
    t.pulled(0, [text(1, PEER, "before"), quoting(2, { seq: "1", senderId: PEER, kind: "text", preview: "before" }, ME)], false);
    const now = withContent(text(1, PEER), { text: { text: "after" }, editedAt: "99" });
    t.replace(now);
    expect(t.get(1)).toBe(now);
    expect(t.get(1)?.content?.editedAt).toBe("99");
    expect(t.get(2)?.content?.quote?.kind).toBe("text");
    expect(t.get(2)?.content?.quote?.revoked).toBeFalsy();

    // a pulled recall also shows in the quotes
    t.replace(withContent(text(1, PEER), { revoked: { by: PEER, at: "5" } }));
    expect(t.get(2)?.content?.quote?.revoked).toBe(true);
    expect(t.get(2)?.content?.quote?.preview).toBeUndefined();
  });

  it("replace() of a seq it does not hold changes nothing", () => {
    const t = holding(5, 6);
    t.replace(text(3, PEER, "x"));
    expect(seqs(t.items)).toEqual([5, 6]);
    t.replace(text(9, PEER, "x"));
    expect(seqs(t.items)).toEqual([5, 6]);
    expect(t.held).toBe(6);
  });

  it("lastVisible skips events and hidden envelopes", () => {
    const t = fresh();
    t.pulled(0, [text(1), { seq: "2", senderId: PEER, hidden: true }, event(3, "pinned", 1)], false);
    expect(t.lastVisible()?.seq).toBe("1");
    expect(fresh().lastVisible()).toBeUndefined();
  });
});
