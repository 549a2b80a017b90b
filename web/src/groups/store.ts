// Groups as the browser client knows them (docs/HTTP_API.md "Groups"):
// my group list, and the details (info, members, join requests) of the
// groups a screen watches, kept live by the `changed` pushes of
// docs/PROTOCOL.md §6.2 and refetched after every reconnect (§6.3).

import { effect, signal, type Signal } from "@preact/signals";

import { ApiError } from "../api/http";
import type { Frame } from "../proto";
import type { SyncEngine } from "../sync/engine";
import { engine, http, remember, session } from "../state/app";

export type JoinPolicy = "free" | "approval" | "invite_only";
export type Role = "owner" | "admin" | "member";

/** `Group` of docs/HTTP_API.md. */
export interface Group {
  id: number;
  conversation_id: string;
  name: string;
  avatar: string;
  notice: string;
  intro: string;
  owner_id: number;
  join_policy: JoinPolicy;
  invite_needs_approval: boolean;
  mute_all: boolean;
  dismissed: boolean;
  created_at: number;
  member_count: number;
  member_version: number;
}

export interface Member {
  user_id: number;
  role: Role;
  nickname: string;
  muted_until: number;
  joined_at: number;
  join_seq: number;
  version: number;
  left: boolean;
}

export interface JoinRequest {
  id: number;
  group_id: number;
  user_id: number;
  inviter_id: number | null;
  message: string;
  status: string;
  created_at: number;
  updated_at: number;
}

export interface Friend {
  user_id: number;
  remark: string;
  deleted?: boolean;
}

/** The group id of a group conversation (`g_<id>`), else "". */
export function groupIdOf(conversationId: string): string {
  return conversationId.startsWith("g_") ? conversationId.slice(2) : "";
}

const RANK: Record<Role, number> = { owner: 0, admin: 1, member: 2 };

export function isMuted(m: Member, now = Date.now()): boolean {
  return m.muted_until > now;
}

export function canManage(mine: Role | undefined, target: Member, me: string): boolean {
  if (!mine || String(target.user_id) === me) return false;
  if (mine === "owner") return true;
  return mine === "admin" && target.role === "member";
}

// --- my groups ---------------------------------------------------------------

/** My groups (dismissed ones included); null until first loaded. */
export const myGroups = signal<Group[] | null>(null);
export const groupsError = signal<unknown>(null);

let listLoading: Promise<void> | null = null;

export function loadGroups(): Promise<void> {
  if (listLoading) return listLoading;
  listLoading = http
    .get<{ groups: Group[] }>("/groups")
    .then(
      (a) => {
        myGroups.value = sortGroups(a.groups);
        groupsError.value = null;
      },
      (e: unknown) => {
        groupsError.value = e;
      },
    )
    .finally(() => {
      listLoading = null;
    });
  return listLoading;
}

function sortGroups(list: Group[]): Group[] {
  return [...list].sort((a, b) => Number(a.dismissed) - Number(b.dismissed) || a.name.localeCompare(b.name) || a.id - b.id);
}

/** Puts a fresh copy of a group into my list (adds it only when told: a
 * group shows its info to non-members too). */
function upsertGroup(g: Group, add = false): void {
  const list = myGroups.value;
  if (!list) return;
  const i = list.findIndex((x) => x.id === g.id);
  if (i < 0 && !add) return;
  myGroups.value = sortGroups(i < 0 ? [...list, g] : list.map((x) => (x.id === g.id ? g : x)));
}

function dropGroup(id: string): void {
  const list = myGroups.value;
  if (list) myGroups.value = list.filter((g) => String(g.id) !== id);
}

/** Creates a group and returns it (the list has it at once). */
export async function createGroup(name: string, members: string[]): Promise<Group> {
  const a = await http.post<{ group: Group }>("/groups", { name, members: members.map(Number) });
  upsertGroup(a.group, true);
  if (!myGroups.value) void loadGroups();
  return a.group;
}

/** A group as anyone may see it (for joining by id). */
export async function lookUpGroup(id: string): Promise<Group> {
  const a = await http.get<{ group: Group }>(`/groups/${id}`);
  return a.group;
}

/** Joins (free groups) or asks to join (approval): true when joined. */
export async function joinGroup(id: string, message: string): Promise<boolean> {
  const a = await http.post<{ joined: boolean }>(`/groups/${id}/join`, message ? { message } : {});
  if (a.joined) void loadGroups();
  return a.joined;
}

// --- friends (for pickers) ---------------------------------------------------

export async function loadFriends(): Promise<Friend[]> {
  const a = await http.get<{ friends: Friend[] }>("/friends");
  return a.friends.filter((f) => !f.deleted);
}

// --- the details of watched groups -----------------------------------------------

export class GroupDetail {
  readonly group = signal<Group | null>(null);
  /** user id → member (the pages loaded so far, kept current). */
  readonly members = signal<Map<string, Member>>(new Map());
  /** Where the next members page starts; null when all are loaded. */
  readonly nextAfter = signal<number | null>(null);
  readonly requests = signal<JoinRequest[]>([]);
  /** My own member row. */
  readonly me = signal<Member | null>(null);
  /** I am no longer a member (left, removed) or the group is gone. */
  readonly gone = signal(false);
  readonly loading = signal(true);
  readonly error: Signal<unknown> = signal(null);
  version = 0;
  watchers = 0;
  private running: Promise<void> | null = null;

  constructor(readonly id: string) {}

  role(): Role | undefined {
    if (this.gone.value) return undefined;
    const g = this.group.value;
    if (g && String(g.owner_id) === session.value?.userId) return "owner";
    return this.me.value?.role;
  }

  isAdmin(): boolean {
    const r = this.role();
    return r === "owner" || r === "admin";
  }

  /** Everything, from scratch. */
  load(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.doLoad().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async doLoad(): Promise<void> {
    try {
      const g = await this.fetchInfo();
      if (!g) return;
      this.version = g.member_version;
      const page = await http.get<{ members: Member[]; next_after: number | null }>(`/groups/${this.id}/members`, { after: 0, limit: 100 });
      const m = new Map<string, Member>();
      for (const x of page.members) m.set(String(x.user_id), x);
      this.members.value = m;
      this.nextAfter.value = page.next_after;
      await this.fetchMe();
      if (this.isAdmin()) await this.fetchRequests();
      this.error.value = null;
    } catch (e) {
      this.fail(e);
    } finally {
      this.loading.value = false;
    }
  }

  /** The group's info; null (and gone) when I may no longer see it. */
  async fetchInfo(): Promise<Group | null> {
    try {
      const a = await http.get<{ group: Group }>(`/groups/${this.id}`);
      this.group.value = a.group;
      upsertGroup(a.group);
      return a.group;
    } catch (e) {
      this.fail(e);
      return null;
    }
  }

  /** My member row: it may be on a page not loaded (members come by user id). */
  private async fetchMe(): Promise<void> {
    const me = session.value?.userId ?? "";
    const held = this.members.value.get(me);
    if (held) {
      this.me.value = held;
      return;
    }
    const a = await http.get<{ members: Member[] }>(`/groups/${this.id}/members`, { after: String(BigInt(me) - 1n), limit: 1 });
    const row = a.members.find((x) => String(x.user_id) === me);
    if (!row) {
      this.setGone();
      return;
    }
    this.me.value = row;
  }

  async loadMore(): Promise<void> {
    const after = this.nextAfter.value;
    if (after === null) return;
    try {
      const page = await http.get<{ members: Member[]; next_after: number | null }>(`/groups/${this.id}/members`, { after, limit: 100 });
      const m = new Map(this.members.value);
      for (const x of page.members) m.set(String(x.user_id), x);
      this.members.value = m;
      this.nextAfter.value = page.next_after;
    } catch (e) {
      this.fail(e);
    }
  }

  /** Applies member changes since the version held. */
  async fetchMemberChanges(version = 0): Promise<void> {
    if (version !== 0 && version <= this.version) return;
    try {
      const a = await http.get<{ version: number; members: Member[] }>(`/groups/${this.id}/members/changes`, { since: this.version });
      this.applyMembers(a.members);
      this.version = Math.max(this.version, a.version);
      const wasAdmin = this.isAdmin();
      await this.fetchInfo();
      if (this.isAdmin()) await this.fetchRequests();
      else if (wasAdmin) this.requests.value = [];
    } catch (e) {
      this.fail(e);
    }
  }

  applyMembers(rows: Member[]): void {
    const me = session.value?.userId ?? "";
    const m = new Map(this.members.value);
    for (const x of rows) {
      const id = String(x.user_id);
      if (x.left) m.delete(id);
      else m.set(id, x);
      if (id === me) {
        if (x.left) this.setGone();
        else this.me.value = x;
      }
    }
    this.members.value = m;
  }

  async fetchRequests(): Promise<void> {
    try {
      const a = await http.get<{ requests: JoinRequest[] }>(`/groups/${this.id}/requests`);
      this.requests.value = a.requests.filter((r) => r.status === "pending");
    } catch (e) {
      if (e instanceof ApiError && e.code === "forbidden") this.requests.value = [];
      else this.fail(e);
    }
  }

  /** The members sorted for display: owner, admins, then by name. */
  sorted(nameOf: (id: string) => string): Member[] {
    return [...this.members.value.values()].sort(
      (a, b) => RANK[a.role] - RANK[b.role] || nameOf(String(a.user_id)).localeCompare(nameOf(String(b.user_id))) || a.user_id - b.user_id,
    );
  }

  private fail(e: unknown): void {
    if (e instanceof ApiError && e.code === "not_found") {
      this.setGone();
      return;
    }
    this.error.value = e;
  }

  setGone(): void {
    if (this.gone.value) return;
    this.gone.value = true;
    this.me.value = null;
    this.requests.value = [];
    dropGroup(this.id);
    // The conversation list follows (the server no longer lists it).
    void engine.value?.refreshList().catch(() => undefined);
  }

  // --- actions (each answer is applied at once; the push confirms) --------------

  async update(patch: Partial<Pick<Group, "name" | "avatar" | "notice" | "intro" | "join_policy" | "invite_needs_approval" | "mute_all">>): Promise<void> {
    const a = await http.patch<{ group: Group }>(`/groups/${this.id}`, patch);
    this.group.value = a.group;
    upsertGroup(a.group);
    if (patch.name !== undefined || patch.avatar !== undefined) scheduleListRefresh();
  }

  async invite(userIds: string[]): Promise<{ added: number; pending: number }> {
    const a = await http.post<{ added: number[]; pending: JoinRequest[] }>(`/groups/${this.id}/members`, { user_ids: userIds.map(Number) });
    void this.fetchMemberChanges();
    return { added: a.added.length, pending: a.pending.length };
  }

  async kick(userId: string): Promise<void> {
    await http.delete(`/groups/${this.id}/members/${userId}`);
    const held = this.members.value.get(userId);
    if (held) this.applyMembers([{ ...held, left: true }]);
    void this.fetchMemberChanges();
  }

  async mute(userId: string, minutes: number): Promise<void> {
    const a = await http.put<{ member: Member }>(`/groups/${this.id}/members/${userId}/mute`, { minutes });
    this.applyMembers([a.member]);
  }

  async unmute(userId: string): Promise<void> {
    const a = await http.delete<{ member: Member }>(`/groups/${this.id}/members/${userId}/mute`);
    this.applyMembers([a.member]);
  }

  async setRole(userId: string, role: "admin" | "member"): Promise<void> {
    const a = await http.put<{ member: Member }>(`/groups/${this.id}/members/${userId}/role`, { role });
    this.applyMembers([a.member]);
  }

  async transfer(userId: string): Promise<void> {
    const a = await http.post<{ group: Group }>(`/groups/${this.id}/transfer`, { user_id: Number(userId) });
    this.group.value = a.group;
    upsertGroup(a.group);
    await this.fetchMemberChanges();
  }

  async approve(requestId: number): Promise<void> {
    await http.post(`/groups/requests/${requestId}/approve`);
    this.requests.value = this.requests.value.filter((r) => r.id !== requestId);
    void this.fetchMemberChanges();
  }

  async reject(requestId: number): Promise<void> {
    await http.post(`/groups/requests/${requestId}/reject`);
    this.requests.value = this.requests.value.filter((r) => r.id !== requestId);
  }

  async leave(): Promise<void> {
    await http.post(`/groups/${this.id}/leave`);
    this.setGone();
  }

  async dismiss(): Promise<void> {
    const a = await http.post<{ group: Group }>(`/groups/${this.id}/dismiss`);
    this.group.value = a.group;
    upsertGroup(a.group);
  }
}

const watched = new Map<string, GroupDetail>();

/** The details of a group, loaded and kept live while watched. */
export function watchGroup(id: string): GroupDetail {
  let d = watched.get(id);
  if (!d) {
    d = new GroupDetail(id);
    watched.set(id, d);
    void d.load();
  }
  d.watchers++;
  return d;
}

export function unwatchGroup(d: GroupDetail): void {
  d.watchers--;
  if (d.watchers <= 0) watched.delete(d.id);
}

// --- pushes ----------------------------------------------------------------------

let listTimer: ReturnType<typeof setTimeout> | null = null;

function scheduleListRefresh(): void {
  if (listTimer) return;
  listTimer = setTimeout(() => {
    listTimer = null;
    void engine.value?.refreshList().catch(() => undefined);
  }, 300);
}

let groupsTimer: ReturnType<typeof setTimeout> | null = null;

function scheduleGroupsRefresh(): void {
  if (groupsTimer || myGroups.value === null) return;
  groupsTimer = setTimeout(() => {
    groupsTimer = null;
    void loadGroups();
  }, 300);
}

/** A `changed` push of a group domain. */
export function onChanged(c: NonNullable<Frame["changed"]>): void {
  const domain = c.domain ?? "";
  if (!domain.startsWith("group_")) return;
  const id = String(c.groupId ?? "");
  if (!id) return;
  const version = Number(c.version ?? 0);
  const d = watched.get(id);
  const known = myGroups.value?.some((g) => String(g.id) === id);
  if (domain === "group_members") {
    if (d) void d.fetchMemberChanges(version);
    // Counts change; an unknown id is a group I am new in (§4.5); version 0 is "I left or was removed".
    if (!known || version === 0) scheduleGroupsRefresh();
    else if (!d) void refreshOne(id);
    if (!known) scheduleListRefresh();
  } else if (domain === "group_info") {
    if (d) void d.fetchInfo();
    else if (known) void refreshOne(id);
    else scheduleGroupsRefresh();
    scheduleListRefresh();
  } else if (domain === "group_requests") {
    if (d && d.isAdmin()) void d.fetchRequests();
  }
}

async function refreshOne(id: string): Promise<void> {
  try {
    const a = await http.get<{ group: Group }>(`/groups/${id}`);
    upsertGroup(a.group);
  } catch (e) {
    if (e instanceof ApiError && e.code === "not_found") dropGroup(id);
  }
}

/** After a reconnect: what pushes may have been missed (§6.3). */
function resync(): void {
  if (myGroups.value !== null) void loadGroups();
  for (const d of watched.values()) {
    if (d.gone.value || d.loading.value) continue;
    void d.fetchMemberChanges();
  }
}

const hooked = new WeakSet<SyncEngine>();

effect(() => {
  const e = engine.value;
  if (!e) {
    myGroups.value = null;
    watched.clear();
    return;
  }
  if (hooked.has(e)) return;
  hooked.add(e);
  const previous = e.onOther;
  e.onOther = (f) => {
    previous?.(f);
    if (f.changed) onChanged(f.changed);
  };
});

let wasOnline = false;
effect(() => {
  const online = engine.value?.status.value === "online";
  if (online && !wasOnline) resync();
  wasOnline = online;
});

/** Profiles of users a screen is about to show (cached once fetched). */
export async function prefetchUsers(ids: string[]): Promise<void> {
  const missing = ids.filter((id) => id && id !== "0");
  for (let i = 0; i < missing.length; i += 500) {
    try {
      const a = await http.users(missing.slice(i, i + 500));
      remember(a.users);
    } catch {
      // names fall back to user() one by one
    }
  }
}
