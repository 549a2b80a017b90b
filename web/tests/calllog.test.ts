// How a call-log message reads, per reader and language.

import { afterEach, describe, expect, it } from "vitest";

import { locale } from "../src/i18n";
import { session } from "../src/state/app";
import { callLogText } from "../src/ui/preview";

function as(userId: string) {
  session.value = { token: "t", userId, username: "u", deviceId: "d" };
}

describe("call-log text", () => {
  afterEach(() => {
    session.value = null;
    locale.value = "en";
  });

  it("reads per viewer: the caller's no answer is the callee's missed call", () => {
    locale.value = "en";
    const log = { callId: "c", media: "video", outcome: "missed", callerId: "1", durationMs: 0 };
    as("1");
    expect(callLogText(log)).toBe("Video call · No answer");
    as("2");
    expect(callLogText(log)).toBe("Missed video call");
    expect(callLogText({ ...log, outcome: "cancelled" })).toBe("Missed video call");
    expect(callLogText({ ...log, outcome: "declined", media: "audio" })).toBe("Declined voice call");
    as("1");
    expect(callLogText({ ...log, outcome: "declined", media: "audio" })).toBe("Voice call declined");
    expect(callLogText({ ...log, outcome: "busy" })).toBe("Video call · Busy");
    expect(callLogText({ ...log, outcome: "completed", media: "audio", durationMs: 83_000 })).toBe("Voice call 1:23");
  });

  it("speaks Simplified Chinese", () => {
    locale.value = "zh-CN";
    as("2");
    expect(callLogText({ media: "video", outcome: "missed", callerId: "1" })).toBe("未接视频通话");
    expect(callLogText({ media: "audio", outcome: "completed", callerId: "1", durationMs: 5_000 })).toBe("语音通话 0:05");
  });
});
