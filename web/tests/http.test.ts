import { describe, expect, it } from "vitest";

import { ApiError, Http } from "../src/api/http";

/** An Http whose fetch answers `body` with `status`, recording the requests. */
function answering(status: number, body: unknown) {
  const seen: { url: string; auth: string | null }[] = [];
  const http = new Http("/api/v1", "tok", async (input, init) => {
    seen.push({ url: String(input), auth: new Headers(init?.headers).get("authorization") });
    return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  });
  return { http, seen };
}

describe("Http.iceServers", () => {
  it("reads the server's snake_case answer (docs/HTTP_API.md, Calls)", async () => {
    const servers = [
      { urls: ["stun:turn.example:3478"] },
      { urls: ["turn:turn.example:3478?transport=udp"], username: "1796457430:1", credential: "t/uGJjPbMZPd0aIU8leq/psO5M4=" },
    ];
    const { http, seen } = answering(200, { ice_servers: servers, ttl: 86400 });
    expect(await http.iceServers()).toEqual(servers);
    expect(seen).toEqual([{ url: "/api/v1/calls/ice-servers", auth: "Bearer tok" }]);
  });

  it("an answer without servers is none; an error is thrown, not swallowed", async () => {
    expect(await answering(200, { ttl: 1 }).http.iceServers()).toEqual([]);
    await expect(answering(401, { error: { code: "unauthenticated", message: "no" } }).http.iceServers()).rejects.toBeInstanceOf(ApiError);
  });
});
