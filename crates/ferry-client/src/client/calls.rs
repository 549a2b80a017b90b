//! Call signaling on the long connection (docs/PROTOCOL.md §12): the steps a
//! device takes ([`Client::invite`], [`Client::accept`], …) and the pushes it
//! hears ([`CallEvent`], delivered as [`Event::Call`](super::Event::Call)).
//!
//! The SDK carries signaling only. SDP and ICE candidates are opaque
//! strings: the app hands them to whatever WebRTC stack it uses and passes
//! back what that produces. ICE servers come from
//! [`HttpApi::ice_servers`](crate::HttpApi::ice_servers).
//!
//! What a reconnect does to a call, and how reliable the events are: see
//! [`CallEvent`].

use ferry_core::call::{CallMedia, RejectReason, SdpKind};
use ferry_proto::{
    Body,
    v1::{self, call_event::Event as Pushed, call_request::Op},
};

use super::handle::Client;
use crate::{conn::unexpected, error::Result};

/// A push about one of your calls.
///
/// # Reconnects
///
/// A call survives a dropped connection for the server's grace period
/// (`calls.reconnect_grace_secs`, 20 s by default), and the client
/// reconnects by itself with the same token, so the same device. While it is
/// away, the other party hears [`CallSignal::PeerDisconnected`]; steps taken
/// meanwhile fail with [`ClientError::Transport`](crate::ClientError) like
/// every request. Back within the grace period, this device gets
/// [`CallSignal::Resumed`] (just before or just after
/// [`Event::Reconnected`](super::Event::Reconnected)) and the other party
/// [`CallSignal::PeerReconnected`]: restart ICE (an ICE-restart offer sent
/// with [`Client::renegotiate`]). Candidates and renegotiations relayed while
/// a party was away are lost with its connection. Past the grace period the
/// call ends (`connection_lost`) and the [`CallSignal::Ended`] of a device
/// that was away never reaches it; the call-log message does, by the
/// ordinary sync.
///
/// # Delivery
///
/// Call events are pushes like presence: in arrival order, and dropped if
/// the event channel overflows, so keep reading it. The call-log message
/// (content `call_log`) is the reliable record: it is a message with a seq,
/// delivered once by the sync, and a call whose log arrived is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    /// The call (32 hex digits). Ignore events for calls you do not hold.
    pub call_id: String,
    /// What happened.
    pub signal: CallSignal,
}

/// What happened in a call: the proto's `CallEvent.event`, with its empty
/// messages as plain variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallSignal {
    /// To each ringing device of the callee: a call is coming in. Show it,
    /// then say [`Client::ringing`].
    Incoming(v1::CallIncoming),
    /// To the caller: a device of the callee rings (once per call).
    Ringing,
    /// To the caller: the callee answered; apply the SDP answer.
    Accepted {
        /// The callee's SDP answer.
        sdp_answer: String,
    },
    /// To the callee's other devices: another device answered; stop ringing.
    AnsweredElsewhere,
    /// The other party's trickled ICE candidate.
    Ice {
        /// As the other party's WebRTC stack produced it.
        candidate: String,
    },
    /// The other party's renegotiation: an offer to answer, or the answer
    /// to your offer.
    Sdp(v1::CallSdp),
    /// The other party dropped; the server waits for it (grace period).
    PeerDisconnected,
    /// The other party is back: expect an ICE restart.
    PeerReconnected,
    /// This device is back in the call after a reconnect; restart ICE.
    Resumed {
        /// For the caller of an answered call, the callee's SDP answer
        /// (it may have been missed while away); empty otherwise.
        sdp_answer: String,
    },
    /// The call is over: `outcome` as in the call log, `reason` why.
    Ended(v1::CallEnded),
}

/// What placing a call did: [`Client::invite`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallPlaced {
    /// The callee's devices ring; the events of `call_id` follow.
    Ringing {
        /// The new call's id: keep it for the next steps.
        call_id: String,
    },
    /// The call ended at once: `busy` (the callee is in another call) or
    /// `missed`/`unavailable` (no device of the callee online). Its
    /// call-log message is written all the same.
    Ended {
        /// The call's id, as in its call-log message.
        call_id: String,
        /// Why it ended.
        ended: v1::CallEnded,
    },
}

impl CallPlaced {
    /// The call's id, whichever way it went.
    pub fn call_id(&self) -> &str {
        match self {
            Self::Ringing { call_id } | Self::Ended { call_id, .. } => call_id,
        }
    }
}

impl CallEvent {
    /// The typed event of a `call_event` push; `None` for an event this
    /// SDK does not know (a newer server), which is best ignored.
    pub fn from_proto(e: v1::CallEvent) -> Option<Self> {
        let signal = match e.event? {
            Pushed::Incoming(incoming) => CallSignal::Incoming(incoming),
            Pushed::Ringing(_) => CallSignal::Ringing,
            Pushed::Accepted(a) => CallSignal::Accepted { sdp_answer: a.sdp_answer },
            Pushed::AnsweredElsewhere(_) => CallSignal::AnsweredElsewhere,
            Pushed::Ice(ice) => CallSignal::Ice { candidate: ice.candidate },
            Pushed::Sdp(sdp) => CallSignal::Sdp(sdp),
            Pushed::PeerDisconnected(_) => CallSignal::PeerDisconnected,
            Pushed::PeerReconnected(_) => CallSignal::PeerReconnected,
            Pushed::Resumed(r) => CallSignal::Resumed { sdp_answer: r.sdp_answer },
            Pushed::Ended(ended) => CallSignal::Ended(ended),
        };
        Some(Self { call_id: e.call_id, signal })
    }
}

/// Steps of a call. Each is one request answered by `call_ack`, not
/// retried (a step that timed out may have been taken); refusals are
/// [`ClientError::Api`](crate::ClientError::Api) with the codes of
/// PROTOCOL.md §12.3 (`not_found`, `forbidden`, `conflict`,
/// `invalid_argument`, `blocked`, `not_friends`). The steps that end a
/// call return its [`v1::CallEnded`]: the connection that took the step
/// gets no [`CallSignal::Ended`] for it (other connections of the device
/// do).
impl Client {
    /// Places a call to `callee` with this device's SDP offer. Refused with
    /// `conflict` while you are in a call (ringing counts).
    pub async fn invite(&self, callee: ferry_core::UserId, media: CallMedia, sdp_offer: &str) -> Result<CallPlaced> {
        let invite = v1::CallInvite {
            callee_id: callee,
            media: media.as_str().to_owned(),
            sdp_offer: sdp_offer.to_owned(),
            ..Default::default()
        };
        let ack = self.call_step("", Op::Invite(invite)).await?;
        Ok(match ack.ended {
            Some(ended) => CallPlaced::Ended { call_id: ack.call_id, ended },
            None => CallPlaced::Ringing { call_id: ack.call_id },
        })
    }

    /// Tells the caller this device shows the incoming call.
    pub async fn ringing(&self, call_id: &str) -> Result<()> {
        self.call_step(call_id, Op::Ringing(v1::Empty {})).await.map(drop)
    }

    /// Answers a ringing call with this device's SDP answer. The first
    /// device to accept wins; a later one is refused with `conflict`.
    pub async fn accept(&self, call_id: &str, sdp_answer: &str) -> Result<()> {
        let accept = v1::CallAccept { sdp_answer: sdp_answer.to_owned() };
        self.call_step(call_id, Op::Accept(accept)).await.map(drop)
    }

    /// Refuses a ringing call (`declined`, or `busy` for a device busy
    /// otherwise).
    pub async fn reject(&self, call_id: &str, reason: RejectReason) -> Result<Option<v1::CallEnded>> {
        let reject = v1::CallReject { reason: reason.as_str().to_owned() };
        Ok(self.call_step(call_id, Op::Reject(reject)).await?.ended)
    }

    /// Gives up on a call you placed before it is answered (one that was
    /// answered meanwhile is hung up instead).
    pub async fn cancel(&self, call_id: &str) -> Result<Option<v1::CallEnded>> {
        Ok(self.call_step(call_id, Op::Cancel(v1::Empty {})).await?.ended)
    }

    /// Ends a call, either party, in any state (a ringing callee device
    /// declines it).
    pub async fn hangup(&self, call_id: &str) -> Result<Option<v1::CallEnded>> {
        Ok(self.call_step(call_id, Op::Hangup(v1::Empty {})).await?.ended)
    }

    /// Trickles one ICE candidate to the other party: the caller from the
    /// start, the callee once it accepted.
    pub async fn ice(&self, call_id: &str, candidate: &str) -> Result<()> {
        let ice = v1::CallIce { candidate: candidate.to_owned() };
        self.call_step(call_id, Op::Ice(ice)).await.map(drop)
    }

    /// Sends an SDP offer or answer to the other party of an answered call
    /// (ICE restart, audio → video, screen share).
    pub async fn renegotiate(&self, call_id: &str, kind: SdpKind, sdp: &str) -> Result<()> {
        let sdp = v1::CallSdp { kind: kind.as_str().to_owned(), sdp: sdp.to_owned() };
        self.call_step(call_id, Op::Renegotiate(sdp)).await.map(drop)
    }

    async fn call_step(&self, call_id: &str, op: Op) -> Result<v1::CallAck> {
        let request = v1::CallRequest { call_id: call_id.to_owned(), op: Some(op) };
        match self.request(Body::Call(request)).await? {
            Body::CallAck(ack) => Ok(ack),
            other => Err(unexpected("call_ack", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_become_typed_signals() {
        let push = |event| CallEvent::from_proto(v1::CallEvent { call_id: "c".into(), event: Some(event) });
        let ringing = push(Pushed::Ringing(v1::Empty {})).expect("known");
        assert_eq!(ringing, CallEvent { call_id: "c".into(), signal: CallSignal::Ringing });
        let accepted = push(Pushed::Accepted(v1::CallAccept { sdp_answer: "v=0".into() })).expect("known");
        assert_eq!(accepted.signal, CallSignal::Accepted { sdp_answer: "v=0".into() });
        let ended = v1::CallEnded { outcome: "busy".into(), reason: "busy".into(), duration_ms: 0 };
        assert_eq!(push(Pushed::Ended(ended.clone())).expect("known").signal, CallSignal::Ended(ended));
        assert_eq!(CallEvent::from_proto(v1::CallEvent { call_id: "c".into(), event: None }), None);
    }

    #[test]
    fn an_invite_names_its_call_either_way() {
        assert_eq!(CallPlaced::Ringing { call_id: "a".into() }.call_id(), "a");
        let ended = CallPlaced::Ended { call_id: "b".into(), ended: v1::CallEnded::default() };
        assert_eq!(ended.call_id(), "b");
    }
}
