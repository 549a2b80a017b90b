// The HTTP JSON API (docs/HTTP_API.md): accounts, users, contacts, groups,
// files. Errors come back as `{"error": {"code", "message"}}` and are thrown
// as `ApiError`.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterMs = 0,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** A REST `User` (snake_case, numeric ids). */
export interface User {
  id: number;
  username: string;
  display_name: string;
  avatar: string;
  bio: string;
  created_at: number;
}

export interface LoginAnswer {
  token: string;
  device_id: string;
  platform: string;
  user: User;
}

type Query = Record<string, string | number | undefined>;

export class Http {
  /** Called when a request answers 401: the token is no longer valid. */
  onUnauthenticated: (() => void) | null = null;

  constructor(
    private base = "/api/v1",
    public token = "",
    private fetcher: typeof fetch = (...a) => fetch(...a),
  ) {}

  async request<T>(method: string, path: string, body?: unknown, query?: Query, signal?: AbortSignal): Promise<T> {
    let url = this.base + path;
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
      const s = q.toString();
      if (s) url += "?" + s;
    }
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let payload: BodyInit | undefined;
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await this.fetcher(url, { method, headers, body: payload, signal });
    } catch (e) {
      if ((e as Error).name === "AbortError") throw e;
      throw new ApiError(0, "network", "the server cannot be reached");
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let json: unknown = undefined;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string; retry_after_ms?: number } })?.error;
      if (res.status === 401 && this.token) this.onUnauthenticated?.();
      throw new ApiError(res.status, err?.code ?? "http_" + res.status, err?.message ?? res.statusText, err?.retry_after_ms ?? 0);
    }
    return json as T;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>("GET", path, undefined, query);
  }
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, body ?? {});
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PATCH", path, body);
  }
  put<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("PUT", path, body ?? {});
  }
  delete<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("DELETE", path, body);
  }

  register(username: string, password: string, displayName?: string): Promise<{ user: User }> {
    return this.post("/auth/register", { username, password, display_name: displayName || undefined });
  }

  login(username: string, password: string, deviceId?: string): Promise<LoginAnswer> {
    return this.post("/auth/login", { username, password, platform: "web", device_id: deviceId || undefined });
  }

  logout(): Promise<void> {
    return this.post("/auth/logout");
  }

  me(): Promise<{ user: User; device_id: string; platform: string }> {
    return this.get("/me");
  }

  updateMe(patch: { display_name?: string; avatar?: string; bio?: string }): Promise<{ user: User }> {
    return this.patch("/me", patch);
  }

  users(ids: (string | number)[]): Promise<{ users: User[] }> {
    return this.get("/users", { ids: ids.join(",") });
  }

  searchUsers(q: string): Promise<{ users: User[] }> {
    return this.get("/users/search", { q });
  }

  /** The STUN/TURN servers (with short-lived TURN credentials) peer connections use. */
  async iceServers(): Promise<RTCIceServer[]> {
    return (await this.get<{ ice_servers?: RTCIceServer[] }>("/calls/ice-servers")).ice_servers ?? [];
  }
}
