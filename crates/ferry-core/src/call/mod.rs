//! Voice and video calls, and peer-to-peer file sessions: the call state
//! machine and the registry that keeps a user in at most one call, pure and
//! unit-tested like the group rules.
//!
//! Nothing here does I/O, reads a clock or awaits. The server's driver owns a
//! [`CallRegistry`] (or single [`Call`]s), feeds it what happened — a frame
//! from a device, a connection that dropped or came back, the time — with the
//! current Unix time in milliseconds, and performs the [`Effect`]s it appends
//! to `out`: frames to devices, and one [`Finished`] per call, from which it
//! writes the call-log message. When the next deadline is due, the driver
//! calls [`CallRegistry::tick`]: one timer for every call
//! ([`CallRegistry::next_deadline`]).
//!
//! # States
//!
//! ```text
//!   place (Invite) ── callee in another call ──────────────────────────► Ended busy
//!        │       └─── no device of the callee online ──────────────────► Ended missed (unavailable)
//!        ▼
//!   ┌────────────────────────────────┐
//!   │ Ringing                        │── Cancel / Hangup by the caller ─► Ended cancelled
//!   │  every online device of the    │── caller away past the grace ────► Ended cancelled (connection_lost)
//!   │  callee rings; a device coming │── Reject declined / Hangup by a
//!   │  online meanwhile rings too    │   ringing device ────────────────► Ended declined
//!   │                                │── Reject busy ───────────────────► Ended busy
//!   │                                │── ring timeout (45 s) ───────────► Ended missed (no_answer)
//!   │                                │── Shutdown ──────────────────────► Ended missed (shutdown)
//!   └───────────────┬────────────────┘
//!                   │ Accept by a ringing device
//!                   │ (the caller gets the answer, the other devices "answered elsewhere")
//!                   ▼
//!   ┌────────────────────────────────┐
//!   │ Active                         │── Hangup / Cancel by a party ────► Ended completed (hung_up)
//!   │  caller device ⇄ the device    │── a party away past the grace ───► Ended completed (connection_lost)
//!   │  that accepted: Ice and        │── Shutdown ──────────────────────► Ended completed (shutdown)
//!   │  Renegotiate relayed           │
//!   └────────────────────────────────┘
//! ```
//!
//! `Ended` is terminal: the transition into it is the only place that emits
//! [`Effect::Finished`], and every event on an ended call is refused
//! ([`CallError::Ended`]) or ignored, so a call finishes exactly once. A
//! [`Call`] is not `Clone` for the same reason.
//!
//! # Decisions
//!
//! - **Outcomes are the call log's.** [`CallOutcome`] has exactly the five
//!   outcomes `CallLog.outcome` already knows (`completed`, `missed`,
//!   `declined`, `cancelled`, `busy`); why the call ended is a separate
//!   [`EndReason`] carried by [`Signal::Ended`] and [`Finished`], for the
//!   frames and the server log. [`EndReason::outcome`] is the one mapping.
//! - **No online device** is not a failure of its own: the call ends at once
//!   as `missed` (reason `unavailable`). The log message is the same for both
//!   users; clients render it per viewer — "Missed call" for the callee,
//!   "No answer" for the caller (`CallLog.caller_id` tells them apart) — and
//!   the caller's `Ended` frame says `unavailable`, as WeChat does. (Once
//!   there are push notifications, this becomes "ring while push wakes a
//!   device".)
//! - **Busy** is answered for the callee, without ringing any of their
//!   devices, when they are in another call (ringing counts, on either side).
//!   A device may also answer busy itself ([`RejectReason::Busy`]).
//! - **A dropped connection** of a party — the caller's device, or while
//!   active the device that accepted — starts a grace period (default 20 s).
//!   Coming back on the same device within it keeps the call
//!   ([`Signal::Resumed`]); otherwise the call ends. An active call that ends
//!   so is still `completed`, its duration counted up to the moment the
//!   connection dropped (the last time the server knew the party was there);
//!   a ringing call whose caller is lost is `cancelled`. (A call answered
//!   while its caller was away, who then never came back, is `completed`
//!   with a duration of 0.) A *ringing* device
//!   of the callee that drops simply stops ringing, and rings again if it
//!   comes back before the call ends; if none is left the call rings on
//!   until the timeout.
//! - **Shutdown** ends every call: an active one is `completed` with the
//!   duration so far, a ringing one `missed` (from the callee's side they
//!   missed a call; the caller's frame says `shutdown`). After a crash there
//!   is nothing to end: calls live in memory only, so no user is ever stuck
//!   "in a call" after a restart, but no call-log message is written either.
//! - **Time is an input.** Every entry point first applies the deadlines due
//!   at `now` (ring timeout, grace expiry), so a late timer or an event that
//!   races one gives the same result; a deadline is reached at its instant
//!   (a call rings for exactly `ring_timeout_ms`). Timer-driven ends are
//!   stamped with the deadline, not with when the timer fired. A clock that
//!   goes backwards yields zero durations, never negative ones.
//! - **Races resolve in favour of what already happened.** A `Cancel` that
//!   crosses the callee's accept on the wire hangs up the (now active) call;
//!   a second accept, from any device, is refused.
//!
//! # Who may signal to whom
//!
//! Clients never name the recipient of a signal: the machine derives it.
//! While ringing, only the caller's device signals (`Ice`, trickled to every
//! ringing device; the candidates are kept, at most
//! [`MAX_BUFFERED_CANDIDATES`], and replayed to a device that starts ringing
//! later); a callee device creates its answer when it accepts, so it has
//! nothing to send before (`NotAnswered`). Once active, `Ice` and
//! `Renegotiate` (an SDP offer or answer: audio → video, screen share, ICE
//! restart) flow between the caller's device and the device that accepted,
//! and nowhere else. Signals sent while the peer is away are relayed anyway
//! and lost with its connection; a client that resumes restarts ICE.
//!
//! # Refusals
//!
//! [`CallError`], mapped to the shared [`ErrorCode`]s: a call you are not in
//! is `not_found`, like an unknown id (existence is not revealed); your own
//! call on another of your devices, or an action for the other side
//! (the caller accepting), is `forbidden`; anything the call's state rules
//! out (a second accept, accepting a cancelled call, renegotiating before
//! the answer) is `conflict`; calling yourself is `invalid_argument`.
//!
//! # What the driver does
//!
//! - **Before placing a call** it checks what needs I/O: the callee exists,
//!   has not blocked the caller (`blocked`), and the DM policy allows the two
//!   to talk (`not_friends`); and it lists the callee's online devices.
//!   Endpoints come from the authenticated session, never from a frame.
//! - **Devices, not connections**: a [`DeviceId`] is a login, which several
//!   connections may share (browser tabs). The driver reports a device
//!   disconnected when its last connection closes and reconnected when one
//!   authenticates again, and delivers a [`Effect::Send`] to every connection
//!   of each listed device — except the connection whose request produced
//!   it, which has its answer already. That is why `Ended` and
//!   `AnsweredElsewhere` list the acting device too: its other tabs must stop
//!   ringing. Clients ignore signals for calls they do not hold.
//! - **Finished** → one `CallLog` message in the direct conversation
//!   ([`Finished::conversation`]), for a call; nothing for a file session.
//!
//! # File sessions
//!
//! A "call" with [`CallMedia::File`] is a data-only session between two
//! users (a file sent over a WebRTC data channel). It is signaled exactly
//! like a call — ringing on every device of the callee, the first accept
//! winning, the ring timeout, cancel and hangup, ICE and SDP relayed, the
//! reconnect grace — with three differences, all in the registry and the
//! driver: it does not make either user busy (a file can be sent during a
//! call, and to someone in one), a user is in at most
//! [`MAX_FILE_SESSIONS_PER_USER`] live file sessions at a time, on either
//! side ([`CallError::TooManyFileSessions`]), and its [`Finished`] writes no
//! call-log message ([`CallMedia::is_call`]).
//!
//! # Group calls
//!
//! Not implemented. The types leave room: [`RoomKind`] (only `Direct`
//! today) and a participants list on [`Call`]. Group calls will go through a
//! media server and get a machine of their own; nothing here handles more
//! than two users.

mod machine;
mod registry;

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

pub use machine::{Call, CallEvent, CallState, Invite};
pub use registry::CallRegistry;

use crate::{
    ConversationId, DeviceId, UserId,
    error::{ApiError, ErrorCode},
};

/// At most this many ICE candidates of the caller are kept while a call
/// rings, to replay to a device that starts ringing late; later ones are
/// still relayed to the devices ringing then.
pub const MAX_BUFFERED_CANDIDATES: usize = 64;

/// A user is a party of at most this many live file sessions at once (as
/// sender or receiver): enough for a few files sent side by side, few
/// enough that nobody can make another user's devices hold many peer
/// connections.
pub const MAX_FILE_SESSIONS_PER_USER: usize = 4;

/// A call's id: 128 bits the driver draws at random, written as 32 lowercase
/// hex digits. Unguessable, though nothing relies on that: every event is
/// checked against the call's parties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(u128);

impl CallId {
    pub const fn new(raw: u128) -> Self {
        Self(raw)
    }

    /// A fresh id for a call placed on node `owner` (the top-level
    /// `node_id`): the node is the id's top 16 bits, the rest is `random`.
    /// In a cluster any node can tell from the id alone which node holds
    /// the call and forward its requests there.
    pub const fn minted(owner: u16, random: u128) -> Self {
        Self(((owner as u128) << 112) | (random & ((1 << 112) - 1)))
    }

    /// The node that placed the call (see [`minted`](Self::minted)).
    pub const fn owner(self) -> u16 {
        (self.0 >> 112) as u16
    }

    pub const fn get(self) -> u128 {
        self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl FromStr for CallId {
    type Err = ApiError;

    /// Exactly 32 lowercase hex digits: one id, one spelling.
    fn from_str(s: &str) -> Result<Self, ApiError> {
        let ok = s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let raw = ok.then(|| u128::from_str_radix(s, 16).ok()).flatten();
        raw.map(Self).ok_or_else(|| ApiError::invalid("call_id must be 32 lowercase hex digits"))
    }
}

/// What a call carries, as placed. A renegotiation (say, audio → video)
/// does not change it: the call log shows how the call started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallMedia {
    Audio,
    Video,
    /// Not a call: a data-only session for a peer-to-peer file transfer.
    File,
}

impl CallMedia {
    /// A voice or video call: it makes its users busy and leaves a call
    /// log. A file session does neither.
    pub fn is_call(self) -> bool {
        matches!(self, Self::Audio | Self::Video)
    }
}

/// Who a call is between. Only direct calls exist; group calls (a room
/// through a media server) will be another kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    Direct,
}

/// How a call ended, as the call-log message records it (`CallLog.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// It was answered; the log carries its duration.
    Completed,
    /// Nobody answered: ring timeout, no device online, or a shutdown.
    Missed,
    /// The callee declined.
    Declined,
    /// The caller gave up (or lost their connection) before an answer.
    Cancelled,
    /// The callee was in another call, or a device answered busy.
    Busy,
}

string_enum!(CallMedia { Audio => "audio", Video => "video", File => "file" });
string_enum!(RoomKind { Direct => "direct" });
string_enum!(CallOutcome {
    Completed => "completed",
    Missed => "missed",
    Declined => "declined",
    Cancelled => "cancelled",
    Busy => "busy",
});

/// Why a callee device refuses a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The user declined.
    Declined,
    /// The device is busy (say, a phone call of the platform).
    Busy,
}

string_enum!(RejectReason { Declined => "declined", Busy => "busy" });

/// Why a call ended: finer than its [`CallOutcome`], for the `Ended` frame and
/// the server log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// A party hung up an active call.
    HungUp { by: UserId },
    /// The caller hung up while it rang.
    Cancelled,
    /// A device of the callee declined.
    Declined,
    /// The callee was in another call, or a device answered busy.
    Busy,
    /// The ring timeout passed.
    NoAnswer,
    /// No device of the callee was online.
    Unavailable,
    /// A party's connection dropped and did not come back within the grace
    /// period.
    ConnectionLost { user: UserId },
    /// The server shut down.
    Shutdown,
}

impl EndReason {
    /// The stable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HungUp { .. } => "hung_up",
            Self::Cancelled => "cancelled",
            Self::Declined => "declined",
            Self::Busy => "busy",
            Self::NoAnswer => "no_answer",
            Self::Unavailable => "unavailable",
            Self::ConnectionLost { .. } => "connection_lost",
            Self::Shutdown => "shutdown",
        }
    }

    /// The outcome of a call that ended for this reason, `answered` or not:
    /// an answered call is always `completed`, whatever ended it.
    pub fn outcome(self, answered: bool) -> CallOutcome {
        if answered {
            return CallOutcome::Completed;
        }
        match self {
            // Before an answer only the caller can hang up or be lost.
            Self::Cancelled | Self::HungUp { .. } | Self::ConnectionLost { .. } => CallOutcome::Cancelled,
            Self::Declined => CallOutcome::Declined,
            Self::Busy => CallOutcome::Busy,
            Self::NoAnswer | Self::Unavailable | Self::Shutdown => CallOutcome::Missed,
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which half of an SDP exchange a renegotiation carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SdpKind {
    Offer,
    Answer,
}

string_enum!(SdpKind { Offer => "offer", Answer => "answer" });

/// One device of one user: who sent an event (from the authenticated
/// session), or where a party of a call is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub user: UserId,
    pub device: DeviceId,
}

impl Endpoint {
    pub fn new(user: UserId, device: impl Into<DeviceId>) -> Self {
        Self { user, device: device.into() }
    }
}

/// A frame for the devices of a call. SDP and ICE payloads are opaque here;
/// the driver bounds their size (the frame limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// To each ringing device of the callee: a call is coming in.
    Incoming { caller: UserId, media: CallMedia, room: RoomKind, offer: String },
    /// To the caller, once: a device of the callee rings.
    Ringing,
    /// To the caller: a device of the callee accepted; its SDP answer.
    Accepted { answer: String },
    /// To every device that was ringing: answered on another device (or
    /// another connection of this one). Stop ringing.
    AnsweredElsewhere,
    /// An ICE candidate of the other party.
    Ice { candidate: String },
    /// An SDP offer or answer of the other party (renegotiation).
    Sdp { kind: SdpKind, sdp: String },
    /// The other party's connection dropped; the call waits for it up to
    /// the grace period.
    PeerDisconnected,
    /// The other party is back.
    PeerReconnected,
    /// To a party's device that came back within the grace period: the call
    /// goes on. For the caller of an answered call, `answer` is the callee's
    /// SDP answer, which it may have missed while away.
    Resumed { answer: Option<String> },
    /// The call is over.
    Ended { outcome: CallOutcome, reason: EndReason, duration_ms: u32 },
}

/// What the driver does after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Deliver `signal` to these devices of user `to` (never empty).
    Send { call: CallId, to: UserId, devices: Vec<DeviceId>, signal: Signal },
    /// The call is over: write its call-log message (unless it was a file
    /// session, [`CallMedia::is_call`]). Exactly one per call.
    Finished(Finished),
}

/// A finished call, for its call-log message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub call: CallId,
    pub room: RoomKind,
    pub media: CallMedia,
    pub caller: UserId,
    pub callee: UserId,
    pub outcome: CallOutcome,
    pub reason: EndReason,
    /// How long the call was connected; 0 unless `completed`.
    pub duration_ms: u32,
    /// Unix ms, like the two below.
    pub created_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: i64,
}

impl Finished {
    /// Where the call-log message goes.
    pub fn conversation(&self) -> ConversationId {
        ConversationId::direct(self.caller, self.callee)
    }
}

/// The timings of calls (server configuration `calls.*`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct CallConfig {
    /// How long a call rings before it is missed, in ms.
    pub ring_timeout_ms: u32,
    /// How long a party's dropped connection may stay away before the call
    /// ends, in ms.
    pub reconnect_grace_ms: u32,
    /// How long the registry remembers an ended call, so that late frames
    /// for it are told it ended (`conflict`) rather than `not_found`, in ms.
    pub ended_retention_ms: u32,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self { ring_timeout_ms: 45_000, reconnect_grace_ms: 20_000, ended_retention_ms: 60_000 }
    }
}

/// A refused event or call. Refusals change nothing (though deadlines due
/// at `now` are still applied first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("you cannot call yourself")]
    SelfCall,
    #[error("you are already in a call")]
    AlreadyInCall,
    /// The caller or the callee is already a party of
    /// [`MAX_FILE_SESSIONS_PER_USER`] live file sessions.
    #[error("too many file transfers at once (at most {MAX_FILE_SESSIONS_PER_USER} per user)")]
    TooManyFileSessions,
    /// The driver reused an id: a bug, never the client's doing.
    #[error("call id {0} is already in use")]
    DuplicateId(CallId),
    /// No such call, or one the sender is not a party of.
    #[error("no such call")]
    NotFound,
    /// A party's own call, on another of their devices (or, while it rings,
    /// on a device of the callee that is not ringing).
    #[error("this call is not on this device")]
    NotOnThisDevice,
    #[error("only the callee may {0}")]
    CalleeOnly(&'static str),
    #[error("only the caller may {0}")]
    CallerOnly(&'static str),
    #[error("the call was answered on another device")]
    AnsweredElsewhere,
    #[error("the call is already answered")]
    AlreadyAnswered,
    #[error("the call is not answered yet")]
    NotAnswered,
    #[error("the call has ended ({0})")]
    Ended(CallOutcome),
}

impl CallError {
    /// The code clients see.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::SelfCall => ErrorCode::InvalidArgument,
            Self::NotFound => ErrorCode::NotFound,
            Self::NotOnThisDevice | Self::CalleeOnly(_) | Self::CallerOnly(_) => ErrorCode::Forbidden,
            Self::TooManyFileSessions => ErrorCode::LimitExceeded,
            Self::AlreadyInCall
            | Self::AnsweredElsewhere
            | Self::AlreadyAnswered
            | Self::NotAnswered
            | Self::Ended(_) => ErrorCode::Conflict,
            Self::DuplicateId(_) => ErrorCode::Internal,
        }
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        match e {
            // Details of a bug stay in the server log (the driver logs it).
            CallError::DuplicateId(_) => ApiError::internal(),
            e => ApiError::new(e.code(), e.to_string()),
        }
    }
}

/// Milliseconds from `from` to `until`, never negative, saturating at the
/// wire's `u32`.
fn span_ms(from: i64, until: i64) -> u32 {
    u32::try_from(until.saturating_sub(from).max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_have_one_spelling() {
        let id = CallId::new(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        assert_eq!(id.to_string(), "0123456789abcdef0011223344556677");
        assert_eq!(id.to_string().parse::<CallId>().unwrap(), id);
        assert_eq!(CallId::new(1).to_string(), format!("{:0>32}", "1"));
        for bad in ["", "0123", "0123456789ABCDEF0011223344556677", "+123456789abcdef0011223344556677", &"0".repeat(33)]
        {
            assert_eq!(bad.parse::<CallId>().unwrap_err().code, ErrorCode::InvalidArgument, "{bad:?}");
        }
    }

    #[test]
    fn wire_names_round_trip() {
        for m in [CallMedia::Audio, CallMedia::Video, CallMedia::File] {
            assert_eq!(m.as_str().parse::<CallMedia>().unwrap(), m);
        }
        assert_eq!(CallMedia::File.as_str(), "file");
        assert!(CallMedia::Audio.is_call() && CallMedia::Video.is_call() && !CallMedia::File.is_call());
        assert!("screen".parse::<CallMedia>().is_err());
        // The call log already knows these five (ferry.proto `CallLog.outcome`).
        let outcomes = [
            CallOutcome::Completed,
            CallOutcome::Missed,
            CallOutcome::Declined,
            CallOutcome::Cancelled,
            CallOutcome::Busy,
        ];
        let names: Vec<_> = outcomes.iter().map(|o| o.as_str()).collect();
        assert_eq!(names, ["completed", "missed", "declined", "cancelled", "busy"]);
        for o in outcomes {
            assert_eq!(o.as_str().parse::<CallOutcome>().unwrap(), o);
        }
        assert_eq!("busy".parse::<RejectReason>().unwrap(), RejectReason::Busy);
        assert_eq!("answer".parse::<SdpKind>().unwrap(), SdpKind::Answer);
        assert_eq!(RoomKind::Direct.to_string(), "direct");
    }

    #[test]
    fn reasons_map_to_outcomes() {
        use CallOutcome as O;
        use EndReason as R;
        let unanswered = [
            (R::Cancelled, O::Cancelled),
            (R::ConnectionLost { user: 1 }, O::Cancelled),
            (R::Declined, O::Declined),
            (R::Busy, O::Busy),
            (R::NoAnswer, O::Missed),
            (R::Unavailable, O::Missed),
            (R::Shutdown, O::Missed),
        ];
        for (reason, outcome) in unanswered {
            assert_eq!(reason.outcome(false), outcome, "{reason}");
            assert_eq!(reason.outcome(true), O::Completed, "{reason}");
        }
        assert_eq!(R::HungUp { by: 1 }.outcome(true), O::Completed);
    }

    #[test]
    fn errors_map_to_shared_codes() {
        use CallError as E;
        let cases = [
            (E::SelfCall, ErrorCode::InvalidArgument),
            (E::AlreadyInCall, ErrorCode::Conflict),
            (E::TooManyFileSessions, ErrorCode::LimitExceeded),
            (E::NotFound, ErrorCode::NotFound),
            (E::NotOnThisDevice, ErrorCode::Forbidden),
            (E::CalleeOnly("accept"), ErrorCode::Forbidden),
            (E::CallerOnly("cancel"), ErrorCode::Forbidden),
            (E::AnsweredElsewhere, ErrorCode::Conflict),
            (E::AlreadyAnswered, ErrorCode::Conflict),
            (E::NotAnswered, ErrorCode::Conflict),
            (E::Ended(CallOutcome::Cancelled), ErrorCode::Conflict),
            (E::DuplicateId(CallId::new(7)), ErrorCode::Internal),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code, "{e}");
            let api = ApiError::from(e.clone());
            assert_eq!(api.code, code);
            if code != ErrorCode::Internal {
                assert_eq!(api.message, e.to_string());
            }
        }
        assert_eq!(E::Ended(CallOutcome::Cancelled).to_string(), "the call has ended (cancelled)");
        assert_eq!(E::CalleeOnly("accept").to_string(), "only the callee may accept");
        assert_eq!(ApiError::from(E::DuplicateId(CallId::new(7))).message, "internal error");
    }

    #[test]
    fn spans_are_never_negative_and_saturate() {
        assert_eq!(span_ms(1_000, 66_000), 65_000);
        assert_eq!(span_ms(5_000, 4_000), 0, "a clock that went backwards");
        assert_eq!(span_ms(0, i64::MAX), u32::MAX);
        assert_eq!(span_ms(i64::MIN, i64::MAX), u32::MAX);
    }

    #[test]
    fn config_defaults_and_partial_toml_shape() {
        let c = CallConfig::default();
        assert_eq!((c.ring_timeout_ms, c.reconnect_grace_ms), (45_000, 20_000));
        let c: CallConfig = serde_json::from_str(r#"{"ring_timeout_ms": 5000}"#).unwrap();
        assert_eq!(c, CallConfig { ring_timeout_ms: 5000, ..CallConfig::default() });
        assert!(serde_json::from_str::<CallConfig>(r#"{"ring_timeout": 5000}"#).is_err());
    }
}
