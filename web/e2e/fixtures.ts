// Fixtures of the e2e suite: each worker starts a real ferry-server binary
// (FERRY_SERVER_BIN, else target/debug/ferry-server of cargo's target directory)
// on 127.0.0.1 (ports picked by the server, read from its log) with a fresh
// data directory, and tests get its URL as `baseURL` (so `page.goto("/")`)
// plus `api`, a small HTTP API client for fast setup.
//
//   import { test, expect } from "./fixtures";
//   test("…", async ({ page, api }) => { await api.register("alice", PASSWORD); … });

import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve as resolvePath } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { test as base, expect } from "@playwright/test";

export { expect };

/** The password test users get unless a test picks another. */
export const PASSWORD = "correct horse battery";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Longest wait for the server to log its address and answer /healthz. */
const START_TIMEOUT_MS = 30_000;

/** A running server. */
export interface Server {
  /** `http://127.0.0.1:<port>`: the app, the API, and `/ws`. */
  url: string;
  /** `ws://127.0.0.1:<port>/ws`. */
  wsUrl: string;
  /** `tcp://127.0.0.1:<port>`: the TCP gateway. */
  tcpUrl: string;
}

/** `User` of docs/HTTP_API.md. */
export interface User {
  id: number;
  username: string;
  display_name: string;
  avatar: string;
  bio: string;
  created_at: number;
}

/** What `POST /api/v1/auth/login` answers. */
export interface Login {
  token: string;
  device_id: string;
  platform: string;
  user: User;
}

/** An HTTP API error (docs/HTTP_API.md: `{"error": {"code", "message"}}`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
  }
}

/** The few HTTP API calls tests set up with. */
export class Api {
  constructor(readonly baseUrl: string) {}

  /** Creates an account (does not log in). */
  async register(username: string, password = PASSWORD, displayName?: string): Promise<User> {
    const body = { username, password, ...(displayName === undefined ? {} : { display_name: displayName }) };
    const answer = await this.call<{ user: User }>("POST", "/auth/register", body);
    return answer.user;
  }

  /** Logs in as a new device (platform `web` unless given). */
  async login(username: string, password = PASSWORD, platform = "web"): Promise<Login> {
    return this.call<Login>("POST", "/auth/login", { username, password, platform });
  }

  /** Registers `username` and logs in. */
  async user(username: string, password = PASSWORD, displayName?: string): Promise<Login> {
    await this.register(username, password, displayName);
    return this.login(username, password);
  }

  /** `method /api/v1{path}` with a JSON body and an optional bearer token. */
  async call<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${this.baseUrl}/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const json = text ? JSON.parse(text) : null;
    if (!response.ok) {
      throw new ApiError(response.status, json?.error?.code ?? "?", json?.error?.message ?? text);
    }
    return json as T;
  }
}

/** A username no other test on the same server has taken. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`.slice(0, 32);
}

/** Settings for tests: cheap password hashes and rate limits tests never reach. */
const TEST_ENV: Record<string, string> = {
  FERRY_LOG: "info",
  FERRY_AUTH__ARGON2_MEMORY_KIB: "1024",
  FERRY_AUTH__ARGON2_ITERATIONS: "1",
  FERRY_AUTH__REGISTER_PER_IP_PER_MINUTE: "100000",
  FERRY_AUTH__LOGIN_PER_IP_PER_MINUTE: "100000",
  FERRY_AUTH__LOGIN_PER_USERNAME_PER_MINUTE: "1000",
  FERRY_STORAGE__SYNCHRONOUS: "normal",
  // The embedded TURN relay on a free loopback port (its default, 3478 on
  // every address, would clash between servers started side by side).
  FERRY_CALLS__TURN__LISTEN: "127.0.0.1:0",
};

/** FERRY_SERVER_BIN, else the debug build in cargo's target directory. */
function serverBinary(): string {
  const target = resolvePath(REPO_ROOT, process.env.CARGO_TARGET_DIR ?? "target");
  const bin = process.env.FERRY_SERVER_BIN ?? join(target, "debug", "ferry-server");
  if (!existsSync(bin)) {
    throw new Error(
      `no ferry-server binary at ${bin}: run \`cargo build -p ferry-server\` in the repository first ` +
        "(or point FERRY_SERVER_BIN at one)",
    );
  }
  return bin;
}

/** A started server and how to stop it (and remove its data). */
export interface Running {
  server: Server;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts the server, its output going to `logPath`; resolves once it has
 * said where it listens and /healthz answers. `extraEnv` adds settings
 * (`FERRY_CALLS__RING_TIMEOUT_SECS`, …) for a test that starts its own.
 */
export async function startServer(logPath: string, extraEnv: Record<string, string> = {}): Promise<Running> {
  const bin = serverBinary();
  const dataDir = mkdtempSync(join(tmpdir(), "ferry-e2e-"));
  const env: NodeJS.ProcessEnv = { ...process.env, ...TEST_ENV, ...extraEnv };
  delete env.FERRY_CONFIG;
  const child = spawn(bin, ["--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--data-dir", dataDir], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = createWriteStream(logPath);
  child.stderr?.pipe(log, { end: false });
  const lines = createInterface({ input: child.stdout! });
  const stop = async () => {
    await stopServer(child);
    log.end();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const addresses = await new Promise<{ http: string; tcp: string }>((resolve, reject) => {
      const late = `ferry-server did not log "ferry listening" within ${START_TIMEOUT_MS} ms; its log: ${logPath}`;
      const timer = setTimeout(() => reject(new Error(late)), START_TIMEOUT_MS);
      child.once("error", (e) => reject(new Error(`could not start ${bin}: ${e.message}`)));
      child.once("exit", (code, signal) =>
        reject(new Error(`ferry-server exited (${code ?? signal}) before listening; its log: ${logPath}`)),
      );
      lines.on("line", (line) => {
        log.write(`${line}\n`);
        const http = /\bferry listening\b.*\bhttp=(\S+)/.exec(line)?.[1];
        const tcp = /\btcp=(\S+)/.exec(line)?.[1];
        if (http && tcp) {
          clearTimeout(timer);
          resolve({ http, tcp });
        }
      });
    });
    const server = {
      url: `http://${addresses.http}`,
      wsUrl: `ws://${addresses.http}/ws`,
      tcpUrl: `tcp://${addresses.tcp}`,
    };
    await waitHealthy(server.url);
    return { server, child, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function waitHealthy(url: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // Not accepting yet.
    }
    if (Date.now() > deadline) throw new Error(`${url}/healthz never answered`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM (a graceful shutdown), SIGKILL if that takes over 10 s. */
async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

export const test = base.extend<{ api: Api }, { server: Server }>({
  server: [
    async ({}, use, workerInfo) => {
      mkdirSync(workerInfo.project.outputDir, { recursive: true });
      const logPath = join(workerInfo.project.outputDir, `ferry-server-${workerInfo.workerIndex}.log`);
      const running = await startServer(logPath);
      // Should the worker die without tearing down, do not leave the server behind.
      const orphan = () => running.child.kill("SIGKILL");
      process.once("exit", orphan);
      try {
        await use(running.server);
      } finally {
        process.off("exit", orphan);
        await running.stop();
      }
    },
    { scope: "worker", timeout: START_TIMEOUT_MS + 15_000 },
  ],
  baseURL: async ({ server }, use) => use(server.url),
  api: async ({ server }, use) => use(new Api(server.url)),
});
