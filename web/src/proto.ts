// The proto3-JSON shapes of proto/ferry.proto that the browser client uses
// (docs/PROTOCOL.md §8). 64-bit integers are decimal strings; fields at
// their default value are absent, so every field is optional here and
// readers default them.

export type Int64 = string;

export interface FileRef {
  fileId?: string;
  size?: Int64;
  mime?: string;
  name?: string;
  sha256?: string;
}

export interface TextContent {
  text?: string;
  mentionUserIds?: Int64[];
  mentionAll?: boolean;
}

export interface SystemContent {
  event?: string;
  actorId?: Int64;
  targetIds?: Int64[];
  text?: string;
  until?: Int64;
  detail?: string;
}

export interface ImageContent {
  file?: FileRef;
  width?: number;
  height?: number;
  thumbnail?: FileRef;
}

export interface VoiceContent {
  file?: FileRef;
  durationMs?: number;
  waveform?: string;
}

export interface VideoContent {
  file?: FileRef;
  durationMs?: number;
  width?: number;
  height?: number;
  cover?: FileRef;
}

export interface LocationContent {
  latitude?: number;
  longitude?: number;
  title?: string;
  address?: string;
}

export interface LinkContent {
  url?: string;
  title?: string;
  description?: string;
  image?: FileRef;
}

export interface CustomContent {
  type?: string;
  payloadJson?: string;
  fallbackText?: string;
}

export interface CallLogContent {
  callId?: string;
  media?: string;
  outcome?: string;
  callerId?: Int64;
  durationMs?: number;
}

export interface MessageEvent {
  event?: string;
  targetSeq?: Int64;
  emoji?: string;
  content?: MessageContent;
}

export interface RecordItem {
  senderId?: Int64;
  senderName?: string;
  serverTime?: Int64;
  content?: MessageContent;
}

export interface Quote {
  seq?: Int64;
  senderId?: Int64;
  kind?: string;
  preview?: string;
  revoked?: boolean;
}

export interface MessageContent {
  text?: TextContent;
  system?: SystemContent;
  image?: ImageContent;
  file?: { file?: FileRef };
  voice?: VoiceContent;
  video?: VideoContent;
  location?: LocationContent;
  contactCard?: { userId?: Int64 };
  link?: LinkContent;
  custom?: CustomContent;
  callLog?: CallLogContent;
  revoked?: { by?: Int64; at?: Int64 };
  event?: MessageEvent;
  chatRecord?: { title?: string; items?: RecordItem[] };
  quote?: Quote;
  forwarded?: boolean;
  editedAt?: Int64;
}

export interface ReactionCount {
  emoji?: string;
  count?: Int64;
  me?: boolean;
}

export interface Message {
  conversationId?: string;
  seq?: Int64;
  serverMsgId?: Int64;
  senderId?: Int64;
  clientMsgId?: string;
  serverTime?: Int64;
  content?: MessageContent;
  reactions?: ReactionCount[];
  hidden?: boolean;
}

export interface Conversation {
  conversationId?: string;
  kind?: string;
  peerUserId?: Int64;
  maxSeq?: Int64;
  readSeq?: Int64;
  unread?: Int64;
  lastTime?: Int64;
  mentioned?: boolean;
  peerReadSeq?: Int64;
  pinned?: boolean;
  muted?: boolean;
  archived?: boolean;
  draft?: string;
  name?: string;
  avatar?: string;
  lastSeq?: Int64;
  lastSenderId?: Int64;
  lastKind?: string;
  preview?: string;
}

export interface ConversationList {
  conversations?: Conversation[];
  cursor?: string;
  incremental?: boolean;
  conversationIds?: string[];
}

export interface MessageBatch {
  conversationId?: string;
  messages?: Message[];
  hasMore?: boolean;
}

export interface SendAck {
  clientMsgId?: string;
  conversationId?: string;
  seq?: Int64;
  serverMsgId?: Int64;
  serverTime?: Int64;
  duplicate?: boolean;
}

export interface ErrorFrame {
  code?: string;
  message?: string;
  fatal?: boolean;
  retryAfterMs?: number;
}

export interface AuthOk {
  userId?: Int64;
  username?: string;
  deviceId?: string;
  platform?: string;
  serverTime?: Int64;
  heartbeatIntervalMs?: number;
  maxFrameBytes?: number;
  maxTextBytes?: number;
}

export interface SendMessage {
  clientMsgId: string;
  userId?: Int64;
  conversationId?: string;
  content: MessageContent;
}

export interface MessageOp {
  conversationId: string;
  seq: Int64;
  clientMsgId?: string;
  revoke?: Record<string, never>;
  edit?: { content: MessageContent };
  react?: { emoji: string; remove?: boolean };
  pin?: { unpin?: boolean };
}

export interface ForwardTarget {
  userId?: Int64;
  conversationId?: string;
}

export interface ForwardOutcome {
  conversationId?: string;
  acks?: SendAck[];
  error?: ErrorFrame;
}

export interface ReadReceipt {
  conversationId?: string;
  userId?: Int64;
  readSeq?: Int64;
}

export interface ReadStatus {
  conversationId?: string;
  seq?: Int64;
  readCount?: number;
  unreadCount?: number;
  readUserIds?: Int64[];
  unreadUserIds?: Int64[];
}

export interface TypingFrame {
  conversationId?: string;
  typing?: boolean;
  userId?: Int64;
}

export interface PresenceEvent {
  userId?: Int64;
  online?: boolean;
  devices?: number;
}

export interface Changed {
  domain?: string;
  groupId?: Int64;
  version?: Int64;
}

export interface ConversationSettings {
  conversationId?: string;
  pinned?: boolean;
  muted?: boolean;
  archived?: boolean;
  draft?: string;
  version?: Int64;
  pinnedAt?: Int64;
  archivedAt?: Int64;
}

export interface SnippetPart {
  text?: string;
  hit?: boolean;
}

export interface SearchResult {
  hits?: { message?: Message; snippet?: SnippetPart[] }[];
  nextCursor?: string;
  contacts?: {
    userId?: Int64;
    username?: string;
    displayName?: string;
    remark?: string;
    avatar?: string;
    conversationId?: string;
  }[];
  groups?: { groupId?: Int64; name?: string; avatar?: string; memberCount?: number; conversationId?: string }[];
}

/** One frame: `id` plus exactly one body key. */
export interface Frame {
  id?: Int64;
  auth?: { token: string; protocolVersion: number };
  authOk?: AuthOk;
  error?: ErrorFrame;
  ping?: { clientTime?: Int64 };
  pong?: { clientTime?: Int64; serverTime?: Int64 };
  kicked?: { reason?: string };
  send?: SendMessage;
  sendAck?: SendAck;
  message?: Message;
  op?: MessageOp;
  opAck?: { conversationId?: string; seq?: Int64; serverMsgId?: Int64; serverTime?: Int64 };
  forward?: {
    clientMsgId: string;
    conversationId: string;
    seqs: Int64[];
    targets: ForwardTarget[];
    merged?: boolean;
  };
  forwardResult?: { outcomes?: ForwardOutcome[] };
  hide?: { conversationId: string; seqs?: Int64[]; clear?: boolean; upToSeq?: Int64 };
  hideOk?: { version?: Int64 };
  listConversations?: { since?: string };
  conversations?: ConversationList;
  pull?: { conversationId: string; afterSeq: Int64; limit?: number };
  messages?: MessageBatch;
  markRead?: { conversationId: string; seq: Int64 };
  markReadOk?: { conversationId?: string; readSeq?: Int64 };
  getReactions?: { conversationId: string; seq: Int64; limit?: number };
  reactions?: { conversationId?: string; seq?: Int64; reactions?: { emoji?: string; userId?: Int64; time?: Int64 }[] };
  getPins?: { conversationId: string };
  pins?: { conversationId?: string; pins?: { message?: Message; pinnedBy?: Int64; pinnedAt?: Int64 }[] };
  getPresence?: { userIds?: Int64[] };
  presenceList?: { users?: PresenceEvent[] };
  presence?: PresenceEvent;
  changed?: Changed;
  readReceipt?: ReadReceipt;
  getReadStatus?: { conversationId: string; seq: Int64 };
  readStatus?: ReadStatus;
  typing?: TypingFrame;
  ack?: Record<string, never>;
  updateConversation?: ConversationSettings;
  conversationSettings?: ConversationSettings;
  search?: {
    query?: string;
    conversationId?: string;
    senderId?: Int64;
    kinds?: string[];
    since?: Int64;
    until?: Int64;
    cursor?: string;
    limit?: number;
  };
  searchResult?: SearchResult;
  call?: CallRequest;
  callAck?: CallAck;
  callEvent?: CallEvent;
}

// --- calls (PROTOCOL.md §12) ------------------------------------------------

/** "audio" or "video"; "file" is a peer-to-peer file session (§12.6), not a call. */
export type CallMediaKind = "audio" | "video" | "file";

/** One signaling request; exactly one op is set. `callId` empty for invite. */
export interface CallRequest {
  callId?: string;
  invite?: {
    calleeId: Int64;
    media: CallMediaKind;
    sdpOffer: string;
    roomKind?: string;
    participants?: Int64[];
  };
  ringing?: Record<string, never>;
  accept?: { sdpAnswer: string };
  reject?: { reason?: "declined" | "busy" | "" };
  cancel?: Record<string, never>;
  hangup?: Record<string, never>;
  ice?: { candidate: string };
  renegotiate?: CallSdp;
}

export interface CallSdp {
  kind?: "offer" | "answer";
  sdp?: string;
}

export interface CallEnded {
  /** "completed", "missed", "declined", "cancelled" or "busy". */
  outcome?: string;
  /** "hung_up", "cancelled", "declined", "busy", "no_answer", "unavailable", "connection_lost", "shutdown". */
  reason?: string;
  durationMs?: number;
}

export interface CallAck {
  callId?: string;
  ended?: CallEnded;
}

export interface CallEvent {
  callId?: string;
  incoming?: {
    callerId?: Int64;
    media?: CallMediaKind;
    sdpOffer?: string;
    roomKind?: string;
    participants?: Int64[];
  };
  ringing?: Record<string, never>;
  accepted?: { sdpAnswer?: string };
  answeredElsewhere?: Record<string, never>;
  ice?: { candidate?: string };
  sdp?: CallSdp;
  peerDisconnected?: Record<string, never>;
  peerReconnected?: Record<string, never>;
  resumed?: { sdpAnswer?: string };
  ended?: CallEnded;
}

/** The kind of a content: the name of its oneof field in snake_case. */
export function contentKind(c: MessageContent | undefined): string {
  if (!c) return "unknown";
  const kinds: [keyof MessageContent, string][] = [
    ["text", "text"],
    ["system", "system"],
    ["image", "image"],
    ["file", "file"],
    ["voice", "voice"],
    ["video", "video"],
    ["location", "location"],
    ["contactCard", "contact_card"],
    ["link", "link"],
    ["custom", "custom"],
    ["callLog", "call_log"],
    ["revoked", "revoked"],
    ["event", "event"],
    ["chatRecord", "chat_record"],
  ];
  for (const [key, name] of kinds) {
    if (c[key] !== undefined) return name;
  }
  return "unknown";
}

/** A seq or count as a number (seqs stay far below 2^53). */
export function num(v: Int64 | number | undefined): number {
  if (v === undefined) return 0;
  return typeof v === "number" ? v : Number(v);
}
