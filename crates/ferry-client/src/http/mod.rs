//! The HTTP API (`/api/v1`, JSON), as documented in `docs/HTTP_API.md`.
//!
//! [`HttpApi`] is a thin typed wrapper over reqwest: one method per endpoint,
//! serde types mirroring the documented bodies, and every non-2xx answer
//! turned into [`ClientError::Api`] with the server's stable error code.
//! Accounts, users, conversations, messages and presence are here; contacts
//! and groups have their own modules.

pub mod contacts;
pub mod groups;

use std::time::Duration;

use ferry_core::{ApiError, ErrorCode, UserId};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    Target,
    content::Mentions,
    error::{ClientError, Result, api_error},
};

/// The most ids `GET /users?ids=` accepts in one call; [`HttpApi::users`]
/// splits longer lists.
const MAX_IDS_PER_CALL: usize = 500;

/// Timeout of a whole HTTP request, connection included.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A registered user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Numeric id.
    pub id: UserId,
    /// Unique login name (lower case).
    pub username: String,
    /// Free-form display name, if the user set one.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Avatar reference, if the user set one.
    #[serde(default)]
    pub avatar: Option<String>,
    /// Self-description, if the user wrote one.
    #[serde(default)]
    pub bio: Option<String>,
    /// Registration time, Unix milliseconds.
    #[serde(default)]
    pub created_at: i64,
}

/// Answer to `POST /auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    /// Bearer token for HTTP and the long connection's `auth` frame.
    pub token: String,
    /// The device this session belongs to (pass it again to re-login on it).
    pub device_id: String,
    /// Platform the session was opened as (`cli`, `web`...).
    pub platform: String,
    /// The logged-in user.
    pub user: User,
}

/// Answer to `GET /me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// The token's user.
    pub user: User,
    /// The token's device.
    pub device_id: String,
    /// The token's platform.
    pub platform: String,
}

/// One of the caller's conversations (`GET /conversations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Wire id, e.g. `d_1_2`.
    pub conversation_id: String,
    /// `direct` or `group`.
    pub kind: String,
    /// For direct conversations, the other participant.
    #[serde(default)]
    pub peer_user_id: UserId,
    /// Highest seq in the conversation.
    pub max_seq: u64,
    /// Highest seq the caller marked read.
    #[serde(default)]
    pub read_seq: u64,
    /// Messages after `read_seq` not sent by the caller.
    #[serde(default)]
    pub unread: u64,
    /// `server_time` of the last message, Unix milliseconds.
    #[serde(default)]
    pub last_time: i64,
    /// An unread message (after `read_seq`) mentions the caller.
    #[serde(default)]
    pub mentioned: bool,
}

/// What a message is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Written by a user (servers before groups send no kind: text).
    #[default]
    Text,
    /// A group event written by the server; see [`Message::system`].
    System,
    /// A kind this client does not know (from a newer server).
    #[serde(other)]
    Unknown,
}

/// The event behind a system message (`Message::system`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemEvent {
    /// `group_created`, `members_added`, `member_muted`... (see the proto).
    pub event: String,
    /// Who did it.
    #[serde(default)]
    pub actor_id: UserId,
    /// Whom it concerns.
    #[serde(default)]
    pub target_ids: Vec<UserId>,
    /// For `member_muted`: muted until (Unix ms).
    #[serde(default)]
    pub until: i64,
    /// Event-specific detail: the new role, the changed fields, the notice.
    #[serde(default)]
    pub detail: String,
}

/// A stored message as the HTTP API renders it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Conversation it belongs to.
    pub conversation_id: String,
    /// Position in the conversation (dense, from 1).
    pub seq: u64,
    /// Server-wide unique id.
    #[serde(with = "u64_string")]
    pub server_msg_id: u64,
    /// Author.
    pub sender_id: UserId,
    /// The sender's idempotency key.
    pub client_msg_id: String,
    /// When the server stored it, Unix milliseconds.
    pub server_time: i64,
    /// Text or system message.
    #[serde(default)]
    pub kind: MessageKind,
    /// Text body; for system messages their human-readable line.
    #[serde(default)]
    pub text: String,
    /// Group members the text mentions.
    #[serde(default)]
    pub mention_user_ids: Vec<UserId>,
    /// The text mentions everyone (`@all`).
    #[serde(default)]
    pub mention_all: bool,
    /// For system messages, the event.
    #[serde(default)]
    pub system: Option<SystemEvent>,
}

/// A page of `GET /conversations/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePage {
    /// The conversation asked for.
    pub conversation_id: String,
    /// Messages in ascending seq order.
    pub messages: Vec<Message>,
    /// Whether more messages follow the last one.
    pub has_more: bool,
}

/// Acknowledgement of a stored message (`POST /messages`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The id the client sent.
    pub client_msg_id: String,
    /// Conversation the message went to.
    pub conversation_id: String,
    /// Its seq there.
    pub seq: u64,
    /// Server-wide unique id.
    #[serde(with = "u64_string")]
    pub server_msg_id: u64,
    /// When it was stored, Unix milliseconds.
    pub server_time: i64,
    /// True when this answers a retry of an already stored message.
    #[serde(default)]
    pub duplicate: bool,
}

/// Answer to `POST /conversations/{id}/read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadPosition {
    /// The conversation.
    pub conversation_id: String,
    /// The caller's read position after the call.
    pub read_seq: u64,
}

/// One user's presence (`GET /presence`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The user.
    pub user_id: UserId,
    /// Whether at least one device is connected.
    pub online: bool,
    /// Number of connected devices.
    #[serde(default)]
    pub devices: u32,
}

#[derive(Deserialize)]
pub(crate) struct UserEnvelope {
    user: User,
}

#[derive(Deserialize)]
pub(crate) struct UsersEnvelope {
    users: Vec<User>,
}

#[derive(Deserialize)]
struct ConversationsEnvelope {
    conversations: Vec<Conversation>,
}

#[derive(Deserialize)]
struct PresenceEnvelope {
    users: Vec<Presence>,
}

/// The documented error body: `{"error":{"code","message"}}`, with
/// `retry_after_ms` for rate limits (accepted inside or beside `error`).
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

/// Typed client for the HTTP API, optionally carrying a bearer token.
///
/// Cheap to clone (reqwest shares its connection pool).
#[derive(Debug, Clone)]
pub struct HttpApi {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl HttpApi {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8080`),
    /// without a token.
    pub fn new(base_url: impl Into<String>) -> Result<Self> {
        let http = reqwest::Client::builder().timeout(HTTP_TIMEOUT).build().map_err(ClientError::transport)?;
        let base = base_url.into().trim_end_matches('/').to_owned();
        Ok(Self { http, base, token: None })
    }

    /// The same client, authenticating with `token`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Replaces (or removes) the bearer token.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    /// The current bearer token.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET /healthz`: succeeds when the node is ready.
    pub async fn healthz(&self) -> Result<()> {
        let resp = self.http.get(format!("{}/healthz", self.base)).send().await;
        check(resp.map_err(ClientError::transport)?).await.map(drop)
    }

    /// Creates an account. Does not log in.
    pub async fn register(&self, username: &str, password: &str, display_name: Option<&str>) -> Result<User> {
        #[derive(Serialize)]
        struct Body<'a> {
            username: &'a str,
            password: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            display_name: Option<&'a str>,
        }
        let body = Body { username, password, display_name };
        let env: UserEnvelope = self.call(self.req(Method::POST, "/auth/register").json(&body)).await?;
        Ok(env.user)
    }

    /// Logs in as `platform` (e.g. `cli`), on `device_id` if given (a re-login
    /// on a known device replaces its old token) or on a new device.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        platform: &str,
        device_id: Option<&str>,
    ) -> Result<LoginResponse> {
        #[derive(Serialize)]
        struct Body<'a> {
            username: &'a str,
            password: &'a str,
            platform: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            device_id: Option<&'a str>,
        }
        let body = Body { username, password, platform, device_id };
        self.call(self.req(Method::POST, "/auth/login").json(&body)).await
    }

    /// Revokes the current token (its live connections are kicked).
    pub async fn logout(&self) -> Result<()> {
        self.call_empty(self.req(Method::POST, "/auth/logout")).await
    }

    /// Who the token belongs to.
    pub async fn me(&self) -> Result<Me> {
        self.call(self.req(Method::GET, "/me")).await
    }

    /// A user by id.
    pub async fn user(&self, id: UserId) -> Result<User> {
        self.call(self.req(Method::GET, &format!("/users/{id}"))).await
    }

    /// A user by username.
    pub async fn user_by_name(&self, username: &str) -> Result<User> {
        let path = format!("/users/by-name/{}", encode_path_segment(username));
        self.call(self.req(Method::GET, &path)).await
    }

    /// The users among `ids` that exist (any number of ids; unknown ones are
    /// left out).
    pub async fn users(&self, ids: &[UserId]) -> Result<Vec<User>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_IDS_PER_CALL) {
            let path = format!("/users?ids={}", join_ids(chunk));
            let env: UsersEnvelope = self.call(self.req(Method::GET, &path)).await?;
            out.extend(env.users);
        }
        Ok(out)
    }

    /// The caller's conversations.
    pub async fn conversations(&self) -> Result<Vec<Conversation>> {
        let env: ConversationsEnvelope = self.call(self.req(Method::GET, "/conversations")).await?;
        Ok(env.conversations)
    }

    /// Messages of `conversation_id` with seq > `after_seq`, at most `limit`
    /// (the server caps it).
    pub async fn messages(&self, conversation_id: &str, after_seq: u64, limit: u32) -> Result<MessagePage> {
        let path = format!(
            "/conversations/{}/messages?after_seq={after_seq}&limit={limit}",
            encode_path_segment(conversation_id)
        );
        self.call(self.req(Method::GET, &path)).await
    }

    /// Sends a text message. Retrying with the same `client_msg_id` returns
    /// the original ack.
    pub async fn send_text(&self, client_msg_id: &str, target: &Target, text: &str) -> Result<Ack> {
        self.send_text_with_mentions(client_msg_id, target, text, &Mentions::none()).await
    }

    /// Sends a text that mentions group members (`target` is a group's
    /// conversation, `g_<id>`). Retrying with the same `client_msg_id`
    /// returns the original ack.
    pub async fn send_text_with_mentions(
        &self,
        client_msg_id: &str,
        target: &Target,
        text: &str,
        mentions: &Mentions,
    ) -> Result<Ack> {
        #[derive(Serialize)]
        struct Body<'a> {
            client_msg_id: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            to_user_id: Option<UserId>,
            #[serde(skip_serializing_if = "Option::is_none")]
            conversation_id: Option<&'a str>,
            text: &'a str,
            #[serde(skip_serializing_if = "<[UserId]>::is_empty")]
            mention_user_ids: &'a [UserId],
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            mention_all: bool,
        }
        let (to_user_id, conversation_id) = match target {
            Target::User(id) => (Some(*id), None),
            Target::Conversation(c) => (None, Some(c.as_str())),
        };
        let body = Body {
            client_msg_id,
            to_user_id,
            conversation_id,
            text,
            mention_user_ids: &mentions.user_ids,
            mention_all: mentions.all,
        };
        self.call(self.req(Method::POST, "/messages").json(&body)).await
    }

    /// Moves the caller's read position in `conversation_id` to `seq`.
    pub async fn mark_read(&self, conversation_id: &str, seq: u64) -> Result<ReadPosition> {
        #[derive(Serialize)]
        struct Body {
            seq: u64,
        }
        let path = format!("/conversations/{}/read", encode_path_segment(conversation_id));
        self.call(self.req(Method::POST, &path).json(&Body { seq })).await
    }

    /// Presence of `ids`; an empty slice means everyone the caller shares a
    /// conversation with.
    pub async fn presence(&self, ids: &[UserId]) -> Result<Vec<Presence>> {
        let path = if ids.is_empty() { "/presence".to_owned() } else { format!("/presence?ids={}", join_ids(ids)) };
        let env: PresenceEnvelope = self.call(self.req(Method::GET, &path)).await?;
        Ok(env.users)
    }

    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.http.request(method, format!("{}/api/v1{path}", self.base));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    async fn call<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T> {
        let resp = check(req.send().await.map_err(ClientError::transport)?).await?;
        let bytes = resp.bytes().await.map_err(ClientError::transport)?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(format!("unexpected response body: {e}")))
    }

    async fn call_empty(&self, req: RequestBuilder) -> Result<()> {
        check(req.send().await.map_err(ClientError::transport)?).await.map(drop)
    }
}

/// Passes 2xx responses through and turns the rest into [`ClientError::Api`].
async fn check(resp: Response) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_header = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|secs| secs.saturating_mul(1000));
    let body = resp.bytes().await.unwrap_or_default();
    Err(ClientError::Api(parse_error_body(status, &body, retry_header)))
}

/// Parses the documented error body; a body that is not one (a proxy's HTML
/// page, say) becomes a code derived from the status.
fn parse_error_body(status: StatusCode, body: &[u8], retry_header: Option<u64>) -> ApiError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => {
            let retry = b.error.retry_after_ms.or(b.retry_after_ms).or(retry_header);
            api_error(&b.error.code, &b.error.message, retry)
        }
        Err(_) => {
            let code = match status.as_u16() {
                400 => ErrorCode::BadRequest,
                401 => ErrorCode::Unauthenticated,
                403 => ErrorCode::Forbidden,
                404 => ErrorCode::NotFound,
                413 => ErrorCode::PayloadTooLarge,
                429 => ErrorCode::RateLimited,
                503 => ErrorCode::Unavailable,
                _ => ErrorCode::Internal,
            };
            let text = String::from_utf8_lossy(body);
            let message = format!("HTTP {status}: {}", text.chars().take(200).collect::<String>());
            ApiError { code, message, retry_after_ms: retry_header }
        }
    }
}

fn join_ids(ids: &[UserId]) -> String {
    ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_parsed() {
        let body = br#"{"error":{"code":"username_taken","message":"username alice is taken"}}"#;
        let e = parse_error_body(StatusCode::CONFLICT, body, None);
        assert_eq!(e.code, ErrorCode::UsernameTaken);
        assert_eq!(e.message, "username alice is taken");
        assert_eq!(e.retry_after_ms, None);

        let body = br#"{"error":{"code":"rate_limited","message":"slow"},"retry_after_ms":1500}"#;
        let e = parse_error_body(StatusCode::TOO_MANY_REQUESTS, body, Some(2000));
        assert_eq!((e.code, e.retry_after_ms), (ErrorCode::RateLimited, Some(1500)));

        let body = br#"{"error":{"code":"rate_limited","message":"slow","retry_after_ms":700}}"#;
        let e = parse_error_body(StatusCode::TOO_MANY_REQUESTS, body, None);
        assert_eq!(e.retry_after_ms, Some(700));
    }

    #[test]
    fn non_json_errors_fall_back_to_the_status() {
        let e = parse_error_body(StatusCode::NOT_FOUND, b"<html>nope</html>", None);
        assert_eq!(e.code, ErrorCode::NotFound);
        let e = parse_error_body(StatusCode::BAD_GATEWAY, b"", Some(3000));
        assert_eq!((e.code, e.retry_after_ms), (ErrorCode::Internal, Some(3000)));
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(encode_path_segment("alice.b-c_d"), "alice.b-c_d");
        assert_eq!(encode_path_segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(join_ids(&[1, 22, 3]), "1,22,3");
    }

    #[test]
    fn documented_bodies_deserialize() {
        let user: User = serde_json::from_str(
            r#"{"id": 1, "username": "alice", "display_name": "Alice", "created_at": 1700000000000}"#,
        )
        .unwrap();
        assert_eq!(user.display_name.as_deref(), Some("Alice"));
        let conv: Conversation = serde_json::from_str(
            r#"{"conversation_id":"d_1_2","kind":"direct","peer_user_id":2,"max_seq":5,"read_seq":3,"unread":2,"last_time":7}"#,
        )
        .unwrap();
        assert_eq!(conv.max_seq, 5);
        let ack: Ack = serde_json::from_str(
            r#"{"client_msg_id":"c","conversation_id":"d_1_2","seq":3,"server_msg_id":"9","server_time":1,"duplicate":true}"#,
        )
        .unwrap();
        assert!(ack.duplicate);
    }

    #[test]
    fn messages_and_conversations_carry_the_group_fields() {
        // A pre-groups body still parses, as a text.
        let old: Message = serde_json::from_str(
            r#"{"conversation_id":"d_1_2","seq":1,"server_msg_id":"5","sender_id":1,"client_msg_id":"c","server_time":1,"text":"hi"}"#,
        )
        .unwrap();
        assert_eq!((old.kind, old.system.as_ref()), (MessageKind::Text, None));
        let sys: Message = serde_json::from_str(
            r#"{"conversation_id":"g_5","seq":2,"server_msg_id":"6","sender_id":1,"client_msg_id":"s","server_time":1,
                "kind":"system","text":"alice muted carol","system":{"event":"member_muted","actor_id":1,"target_ids":[3],"until":99,"detail":""}}"#,
        )
        .unwrap();
        assert_eq!(sys.kind, MessageKind::System);
        assert_eq!(sys.system.as_ref().map(|s| (s.event.as_str(), s.until)), Some(("member_muted", 99)));
        let text: Message = serde_json::from_str(
            r#"{"conversation_id":"g_5","seq":3,"server_msg_id":"7","sender_id":1,"client_msg_id":"t","server_time":1,
                "kind":"text","text":"@bob","mention_user_ids":[2],"mention_all":true}"#,
        )
        .unwrap();
        assert_eq!((text.mention_user_ids.as_slice(), text.mention_all), (&[2][..], true));
        let odd: Message = serde_json::from_str(
            r#"{"conversation_id":"g_5","seq":4,"server_msg_id":"8","sender_id":1,"client_msg_id":"u","server_time":1,"kind":"poll"}"#,
        )
        .unwrap();
        assert_eq!(odd.kind, MessageKind::Unknown);
        let conv: Conversation = serde_json::from_str(
            r#"{"conversation_id":"g_5","kind":"group","max_seq":5,"read_seq":3,"unread":2,"last_time":7,"mentioned":true}"#,
        )
        .unwrap();
        assert!(conv.mentioned);
        let user: User = serde_json::from_str(r#"{"id":1,"username":"a","avatar":"x","bio":"y"}"#).unwrap();
        assert_eq!((user.avatar.as_deref(), user.bio.as_deref()), (Some("x"), Some("y")));
    }
}

/// 64-bit ids travel as decimal strings in JSON (they do not fit a
/// JavaScript number); numbers are accepted too.
mod u64_string {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Str(String),
            Num(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Str(s) => s.parse().map_err(D::Error::custom),
            Raw::Num(n) => Ok(n),
        }
    }
}
