//! One call's state machine (see the parent module for the diagram and the
//! rules).

use std::mem;

use super::{
    CallConfig, CallError, CallId, CallMedia, CallOutcome, Effect, EndReason, Endpoint, Finished,
    MAX_BUFFERED_CANDIDATES, RejectReason, RoomKind, SdpKind, Signal, span_ms,
};
use crate::{DeviceId, UserId};

/// A request to place a call, checked by the driver first (the callee exists,
/// no block, the DM policy allows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub id: CallId,
    /// The placing user and device, from the authenticated session.
    pub caller: Endpoint,
    pub callee: UserId,
    pub media: CallMedia,
    /// The caller's SDP offer.
    pub offer: String,
    /// The callee's devices online now; every one rings.
    pub callee_devices: Vec<DeviceId>,
}

/// What happened to a call. Client events carry the sending endpoint, taken
/// from the authenticated session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// A callee device reports that it rings.
    Ringing { by: Endpoint },
    /// A ringing callee device accepts, with its SDP answer.
    Accept { by: Endpoint, answer: String },
    /// A ringing callee device refuses.
    Reject { by: Endpoint, reason: RejectReason },
    /// The caller gives up before an answer (after one, it hangs up).
    Cancel { by: Endpoint },
    /// A party ends the call: the caller cancels or hangs up, a ringing
    /// callee device declines, the answering device hangs up.
    Hangup { by: Endpoint },
    /// A trickled ICE candidate for the other party.
    Ice { from: Endpoint, candidate: String },
    /// An SDP offer or answer for the other party, once active.
    Renegotiate { from: Endpoint, kind: SdpKind, sdp: String },
    /// The last connection of a device closed.
    Disconnected(Endpoint),
    /// A device authenticated again (or came online for the first time).
    Reconnected(Endpoint),
    /// Time passed; deadlines due now apply.
    Tick,
    /// The server is stopping: the call ends now.
    Shutdown,
}

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallState {
    Ringing,
    Active,
    Ended(CallOutcome),
}

/// A call between two users: its parties, its state and its deadlines. Not
/// `Clone`: a copy driven separately could finish the same call twice.
#[derive(Debug)]
pub struct Call {
    id: CallId,
    room: RoomKind,
    media: CallMedia,
    caller: Endpoint,
    callee: UserId,
    participants: Vec<UserId>,
    created_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    accepted_by: Option<DeviceId>,
    phase: Phase,
    /// Parties whose connection dropped, and since when.
    away: Vec<Away>,
    ring_timeout_ms: i64,
    grace_ms: i64,
}

/// The state with the data only it needs.
#[derive(Debug)]
enum Phase {
    Ringing {
        offer: String,
        /// The callee's devices ringing now.
        devices: Vec<DeviceId>,
        /// The caller's candidates so far, for devices that ring later.
        candidates: Vec<String>,
        /// The caller has been told that a device rings.
        told_ringing: bool,
    },
    Active {
        answer: String,
    },
    Ended {
        outcome: CallOutcome,
        reason: EndReason,
        duration_ms: u32,
    },
}

#[derive(Debug)]
struct Away {
    party: Endpoint,
    since: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Caller,
    Callee,
}

/// A deadline and what reaching it means.
#[derive(Debug, Clone, Copy)]
enum Due {
    RingTimeout,
    /// A party away since `since` did not come back.
    Lost {
        user: UserId,
        since: i64,
    },
}

impl Call {
    /// Places a call: every device in `invite.callee_devices` rings. With
    /// none, the call ends at once as missed (reason `unavailable`).
    pub fn invite(invite: Invite, config: &CallConfig, now: i64, out: &mut Vec<Effect>) -> Result<Self, CallError> {
        let mut call = Self::new(invite, config, now)?;
        let devices = call.ringing_devices().to_vec();
        if devices.is_empty() {
            call.end(EndReason::Unavailable, now, now, out);
        } else {
            let incoming = call.incoming();
            call.send(out, call.callee, devices, incoming);
        }
        Ok(call)
    }

    /// Places a call to a user who is in another call: it ends at once as
    /// busy, and none of the callee's devices is disturbed.
    pub fn busy(invite: Invite, config: &CallConfig, now: i64, out: &mut Vec<Effect>) -> Result<Self, CallError> {
        let mut call = Self::new(invite, config, now)?;
        if let Phase::Ringing { devices, .. } = &mut call.phase {
            devices.clear();
        }
        call.end(EndReason::Busy, now, now, out);
        Ok(call)
    }

    fn new(invite: Invite, config: &CallConfig, now: i64) -> Result<Self, CallError> {
        let Invite { id, caller, callee, media, offer, callee_devices } = invite;
        if caller.user == callee {
            return Err(CallError::SelfCall);
        }
        let mut devices: Vec<DeviceId> = Vec::with_capacity(callee_devices.len());
        for d in callee_devices {
            if !devices.contains(&d) {
                devices.push(d);
            }
        }
        Ok(Self {
            id,
            room: RoomKind::Direct,
            media,
            participants: vec![caller.user, callee],
            caller,
            callee,
            created_at: now,
            answered_at: None,
            ended_at: None,
            accepted_by: None,
            phase: Phase::Ringing { offer, devices, candidates: Vec::new(), told_ringing: false },
            away: Vec::new(),
            ring_timeout_ms: i64::from(config.ring_timeout_ms),
            grace_ms: i64::from(config.reconnect_grace_ms),
        })
    }

    pub fn id(&self) -> CallId {
        self.id
    }

    pub fn room(&self) -> RoomKind {
        self.room
    }

    pub fn media(&self) -> CallMedia {
        self.media
    }

    /// The placing user and device.
    pub fn caller(&self) -> &Endpoint {
        &self.caller
    }

    pub fn callee(&self) -> UserId {
        self.callee
    }

    /// Everyone in the call, caller first: two users in a direct call.
    pub fn participants(&self) -> &[UserId] {
        &self.participants
    }

    pub fn state(&self) -> CallState {
        match self.phase {
            Phase::Ringing { .. } => CallState::Ringing,
            Phase::Active { .. } => CallState::Active,
            Phase::Ended { outcome, .. } => CallState::Ended(outcome),
        }
    }

    /// Ringing or active.
    pub fn is_live(&self) -> bool {
        !matches!(self.phase, Phase::Ended { .. })
    }

    /// Unix ms, like the other times.
    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    pub fn answered_at(&self) -> Option<i64> {
        self.answered_at
    }

    pub fn ended_at(&self) -> Option<i64> {
        self.ended_at
    }

    /// Why the call ended, once it has.
    pub fn end_reason(&self) -> Option<EndReason> {
        match self.phase {
            Phase::Ended { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// How long the call was connected, once it has ended (0 unless it was
    /// answered).
    pub fn duration_ms(&self) -> Option<u32> {
        match self.phase {
            Phase::Ended { duration_ms, .. } => Some(duration_ms),
            _ => None,
        }
    }

    /// The callee's devices ringing now (none unless ringing).
    pub fn ringing_devices(&self) -> &[DeviceId] {
        match &self.phase {
            Phase::Ringing { devices, .. } => devices,
            _ => &[],
        }
    }

    /// The callee's device that answered.
    pub fn accepted_by(&self) -> Option<&DeviceId> {
        self.accepted_by.as_ref()
    }

    /// Whether this party's connection is down and the call waits for it.
    pub fn is_away(&self, party: &Endpoint) -> bool {
        self.away.iter().any(|a| a.party == *party)
    }

    /// When the call next needs a [`CallEvent::Tick`]: the ring timeout or a
    /// grace period's end. `None` once ended.
    pub fn next_deadline(&self) -> Option<i64> {
        self.due().map(|(at, _)| at)
    }

    /// Applies `event` at Unix time `now` (after the deadlines due by then),
    /// appending what the driver must do to `out` — also when the event is
    /// refused, since a deadline may have ended the call first.
    pub fn handle(&mut self, event: CallEvent, now: i64, out: &mut Vec<Effect>) -> Result<(), CallError> {
        self.expire(now, out);
        match event {
            CallEvent::Tick => Ok(()),
            CallEvent::Shutdown => {
                self.end(EndReason::Shutdown, now, now, out);
                Ok(())
            }
            CallEvent::Disconnected(party) => {
                self.disconnected(party, now, out);
                Ok(())
            }
            CallEvent::Reconnected(party) => {
                self.reconnected(party, out);
                Ok(())
            }
            CallEvent::Ringing { by } => self.ringing(&by, out),
            CallEvent::Accept { by, answer } => self.accept(&by, answer, now, out),
            CallEvent::Reject { by, reason } => self.reject(&by, reason, now, out),
            CallEvent::Cancel { by } => self.cancel(&by, now, out),
            CallEvent::Hangup { by } => self.hangup(&by, now, out),
            CallEvent::Ice { from, candidate } => self.ice(&from, candidate, out),
            CallEvent::Renegotiate { from, kind, sdp } => self.renegotiate(&from, kind, sdp, out),
        }
    }

    // --- client events ---------------------------------------------------

    fn ringing(&mut self, by: &Endpoint, out: &mut Vec<Effect>) -> Result<(), CallError> {
        if self.side(by)? == Side::Caller {
            return Err(CallError::CalleeOnly("report ringing"));
        }
        match &mut self.phase {
            Phase::Ringing { told_ringing, .. } => {
                if !mem::replace(told_ringing, true) {
                    self.to_caller(out, Signal::Ringing);
                }
                Ok(())
            }
            _ => Err(CallError::AlreadyAnswered),
        }
    }

    fn accept(&mut self, by: &Endpoint, answer: String, now: i64, out: &mut Vec<Effect>) -> Result<(), CallError> {
        if self.side(by)? == Side::Caller {
            return Err(CallError::CalleeOnly("accept"));
        }
        let Phase::Ringing { devices, .. } = &mut self.phase else {
            return Err(CallError::AlreadyAnswered);
        };
        // Every device that rang stops, the accepting one included: the
        // driver skips the connection that accepted, not its sibling tabs.
        let rang = mem::take(devices);
        self.phase = Phase::Active { answer: answer.clone() };
        self.accepted_by = Some(by.device.clone());
        self.answered_at = Some(now);
        self.to_caller(out, Signal::Accepted { answer });
        self.send(out, self.callee, rang, Signal::AnsweredElsewhere);
        Ok(())
    }

    fn reject(
        &mut self,
        by: &Endpoint,
        reason: RejectReason,
        now: i64,
        out: &mut Vec<Effect>,
    ) -> Result<(), CallError> {
        if self.side(by)? == Side::Caller {
            return Err(CallError::CalleeOnly("decline"));
        }
        if !matches!(self.phase, Phase::Ringing { .. }) {
            return Err(CallError::AlreadyAnswered);
        }
        let reason = match reason {
            RejectReason::Declined => EndReason::Declined,
            RejectReason::Busy => EndReason::Busy,
        };
        self.end(reason, now, now, out);
        Ok(())
    }

    fn cancel(&mut self, by: &Endpoint, now: i64, out: &mut Vec<Effect>) -> Result<(), CallError> {
        if self.side(by)? == Side::Callee {
            return Err(CallError::CallerOnly("cancel"));
        }
        // Active already: the accept crossed the cancel on the wire; the
        // caller wanted out, so it is a hang-up.
        self.hangup(by, now, out)
    }

    fn hangup(&mut self, by: &Endpoint, now: i64, out: &mut Vec<Effect>) -> Result<(), CallError> {
        let side = self.side(by)?;
        let reason = match (&self.phase, side) {
            (Phase::Ringing { .. }, Side::Caller) => EndReason::Cancelled,
            (Phase::Ringing { .. }, Side::Callee) => EndReason::Declined,
            _ => EndReason::HungUp { by: by.user },
        };
        self.end(reason, now, now, out);
        Ok(())
    }

    fn ice(&mut self, from: &Endpoint, candidate: String, out: &mut Vec<Effect>) -> Result<(), CallError> {
        let side = self.side(from)?;
        match &mut self.phase {
            Phase::Ringing { .. } if side == Side::Callee => Err(CallError::NotAnswered),
            Phase::Ringing { devices, candidates, .. } => {
                if candidates.len() < MAX_BUFFERED_CANDIDATES {
                    candidates.push(candidate.clone());
                }
                let devices = devices.clone();
                self.send(out, self.callee, devices, Signal::Ice { candidate });
                Ok(())
            }
            _ => {
                self.to_peer_of(side, out, Signal::Ice { candidate });
                Ok(())
            }
        }
    }

    fn renegotiate(
        &mut self,
        from: &Endpoint,
        kind: SdpKind,
        sdp: String,
        out: &mut Vec<Effect>,
    ) -> Result<(), CallError> {
        let side = self.side(from)?;
        if !matches!(self.phase, Phase::Active { .. }) {
            return Err(CallError::NotAnswered);
        }
        self.to_peer_of(side, out, Signal::Sdp { kind, sdp });
        Ok(())
    }

    /// Which side `who` is on, if this call is on the device it sent from.
    /// Strangers get `NotFound` even for an ended call.
    fn side(&self, who: &Endpoint) -> Result<Side, CallError> {
        let side = if who.user == self.caller.user {
            Side::Caller
        } else if who.user == self.callee {
            Side::Callee
        } else {
            return Err(CallError::NotFound);
        };
        let on_this_device = match (&self.phase, side) {
            (Phase::Ended { outcome, .. }, _) => return Err(CallError::Ended(*outcome)),
            (_, Side::Caller) => who.device == self.caller.device,
            (Phase::Ringing { devices, .. }, Side::Callee) => devices.contains(&who.device),
            (Phase::Active { .. }, Side::Callee) => {
                if self.accepted_by.as_ref() != Some(&who.device) {
                    return Err(CallError::AnsweredElsewhere);
                }
                true
            }
        };
        if on_this_device { Ok(side) } else { Err(CallError::NotOnThisDevice) }
    }

    // --- connections -----------------------------------------------------

    /// The endpoint through which `side` takes part now, if any.
    fn party(&self, side: Side) -> Option<Endpoint> {
        match side {
            Side::Caller => Some(self.caller.clone()),
            Side::Callee => self.accepted_by.clone().map(|device| Endpoint { user: self.callee, device }),
        }
    }

    fn disconnected(&mut self, who: Endpoint, now: i64, out: &mut Vec<Effect>) {
        match &mut self.phase {
            Phase::Ended { .. } => {}
            // A ringing device that drops stops ringing; it rings again if it
            // comes back in time.
            Phase::Ringing { devices, .. } if who.user == self.callee => devices.retain(|d| *d != who.device),
            _ => {
                let Some(side) = self.party_side(&who) else { return };
                if self.is_away(&who) {
                    return;
                }
                self.away.push(Away { party: who, since: now });
                if matches!(self.phase, Phase::Active { .. }) {
                    self.to_peer_of(side, out, Signal::PeerDisconnected);
                }
            }
        }
    }

    fn reconnected(&mut self, who: Endpoint, out: &mut Vec<Effect>) {
        match &mut self.phase {
            Phase::Ended { .. } => {}
            Phase::Ringing { devices, candidates, .. } if who.user == self.callee => {
                if devices.contains(&who.device) {
                    return;
                }
                devices.push(who.device.clone());
                let replay = candidates.clone();
                let incoming = self.incoming();
                self.send(out, self.callee, vec![who.device.clone()], incoming);
                for candidate in replay {
                    self.send(out, self.callee, vec![who.device.clone()], Signal::Ice { candidate });
                }
            }
            _ => {
                let Some(side) = self.party_side(&who) else { return };
                let before = self.away.len();
                self.away.retain(|a| a.party != who);
                if self.away.len() == before {
                    return;
                }
                let active = matches!(self.phase, Phase::Active { .. });
                let answer = match (&self.phase, side) {
                    (Phase::Active { answer }, Side::Caller) => Some(answer.clone()),
                    _ => None,
                };
                self.send(out, who.user, vec![who.device], Signal::Resumed { answer });
                if active {
                    self.to_peer_of(side, out, Signal::PeerReconnected);
                }
            }
        }
    }

    /// The side `who` is exactly the endpoint of (caller device, or the
    /// device that accepted).
    fn party_side(&self, who: &Endpoint) -> Option<Side> {
        [Side::Caller, Side::Callee].into_iter().find(|&s| self.party(s).as_ref() == Some(who))
    }

    // --- time and the end ------------------------------------------------

    /// The earliest deadline and what it means. On a tie the ring timeout
    /// wins: "missed" tells the callee more than "cancelled".
    fn due(&self) -> Option<(i64, Due)> {
        let ring = match self.phase {
            Phase::Ended { .. } => return None,
            Phase::Ringing { .. } => Some((self.created_at.saturating_add(self.ring_timeout_ms), Due::RingTimeout)),
            Phase::Active { .. } => None,
        };
        let lost = self
            .away
            .iter()
            .map(|a| (a.since.saturating_add(self.grace_ms), Due::Lost { user: a.party.user, since: a.since }));
        ring.into_iter().chain(lost).min_by_key(|(at, due)| (*at, matches!(due, Due::Lost { .. })))
    }

    /// Applies the deadline due at `now`, if any. Every deadline ends the
    /// call, so there is at most one to apply.
    fn expire(&mut self, now: i64, out: &mut Vec<Effect>) {
        match self.due() {
            Some((at, Due::RingTimeout)) if at <= now => self.end(EndReason::NoAnswer, at, at, out),
            Some((at, Due::Lost { user, since })) if at <= now => {
                self.end(EndReason::ConnectionLost { user }, at, since, out)
            }
            _ => {}
        }
    }

    /// The one way into `Ended`: tells every device still in the call and
    /// emits the call's only `Finished`. `connected_until` bounds the
    /// duration (the end, or when a lost party dropped).
    fn end(&mut self, reason: EndReason, at: i64, connected_until: i64, out: &mut Vec<Effect>) {
        let callee_devices = match &mut self.phase {
            Phase::Ended { .. } => return,
            Phase::Ringing { devices, .. } => mem::take(devices),
            Phase::Active { .. } => self.accepted_by.clone().into_iter().collect(),
        };
        let outcome = reason.outcome(self.answered_at.is_some());
        let duration_ms = self.answered_at.map_or(0, |answered| span_ms(answered, connected_until.min(at)));
        self.phase = Phase::Ended { outcome, reason, duration_ms };
        self.ended_at = Some(at);
        self.away.clear();
        let ended = Signal::Ended { outcome, reason, duration_ms };
        self.to_caller(out, ended.clone());
        self.send(out, self.callee, callee_devices, ended);
        out.push(Effect::Finished(Finished {
            call: self.id,
            room: self.room,
            media: self.media,
            caller: self.caller.user,
            callee: self.callee,
            outcome,
            reason,
            duration_ms,
            created_at: self.created_at,
            answered_at: self.answered_at,
            ended_at: at,
        }));
    }

    // --- frames ----------------------------------------------------------

    fn incoming(&self) -> Signal {
        let offer = match &self.phase {
            Phase::Ringing { offer, .. } => offer.clone(),
            _ => String::new(),
        };
        Signal::Incoming { caller: self.caller.user, media: self.media, room: self.room, offer }
    }

    fn send(&self, out: &mut Vec<Effect>, to: UserId, devices: Vec<DeviceId>, signal: Signal) {
        if !devices.is_empty() {
            out.push(Effect::Send { call: self.id, to, devices, signal });
        }
    }

    fn to_caller(&self, out: &mut Vec<Effect>, signal: Signal) {
        self.send(out, self.caller.user, vec![self.caller.device.clone()], signal);
    }

    /// To the other party's device, once the call is active.
    fn to_peer_of(&self, side: Side, out: &mut Vec<Effect>, signal: Signal) {
        let peer = match side {
            Side::Caller => Side::Callee,
            Side::Callee => Side::Caller,
        };
        if let Some(p) = self.party(peer) {
            self.send(out, p.user, vec![p.device], signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;
    const CALLER: UserId = 1;
    const CALLEE: UserId = 2;
    const STRANGER: UserId = 3;
    const RING: i64 = 45_000;
    const GRACE: i64 = 20_000;
    const ID: CallId = CallId::new(42);

    fn ep(user: UserId, device: &str) -> Endpoint {
        Endpoint::new(user, device)
    }
    fn caller() -> Endpoint {
        ep(CALLER, "c-phone")
    }
    fn callee(device: &str) -> Endpoint {
        ep(CALLEE, device)
    }
    fn devices(names: &[&str]) -> Vec<DeviceId> {
        names.iter().map(|&d| DeviceId::from(d)).collect()
    }

    fn invite(callee_devices: &[&str]) -> Invite {
        Invite {
            id: ID,
            caller: caller(),
            callee: CALLEE,
            media: CallMedia::Video,
            offer: "offer-sdp".into(),
            callee_devices: devices(callee_devices),
        }
    }

    /// A call placed at T0 to these devices of the callee, and what placing it did.
    fn ring(callee_devices: &[&str]) -> (Call, Vec<Effect>) {
        let mut out = Vec::new();
        let call = Call::invite(invite(callee_devices), &CallConfig::default(), T0, &mut out).unwrap();
        (call, out)
    }

    /// A call to phone and laptop, accepted by the phone at T0 + 5 s.
    fn active() -> Call {
        let (mut call, _) = ring(&["phone", "laptop"]);
        call.handle(accept("phone"), T0 + 5_000, &mut Vec::new()).unwrap();
        call
    }

    fn accept(device: &str) -> CallEvent {
        CallEvent::Accept { by: callee(device), answer: "answer-sdp".into() }
    }

    /// Applies `event` at `now`; the effects, or the refusal (whose effects must be none).
    fn step(call: &mut Call, event: CallEvent, now: i64) -> Result<Vec<Effect>, CallError> {
        let mut out = Vec::new();
        let r = call.handle(event, now, &mut out);
        match r {
            Ok(()) => Ok(out),
            Err(e) => {
                assert!(out.is_empty(), "a refusal did something: {out:?}");
                Err(e)
            }
        }
    }

    fn send(to: UserId, devices_: &[&str], signal: Signal) -> Effect {
        Effect::Send { call: ID, to, devices: devices(devices_), signal }
    }

    fn ended(outcome: CallOutcome, reason: EndReason, duration_ms: u32) -> Signal {
        Signal::Ended { outcome, reason, duration_ms }
    }

    fn finished_in(out: &[Effect]) -> Vec<&Finished> {
        out.iter()
            .filter_map(|e| match e {
                Effect::Finished(f) => Some(f),
                Effect::Send { .. } => None,
            })
            .collect()
    }

    /// The one `Finished` in `out`.
    fn finished(out: &[Effect]) -> &Finished {
        let f = finished_in(out);
        assert_eq!(f.len(), 1, "{out:?}");
        f[0]
    }

    fn incoming() -> Signal {
        Signal::Incoming { caller: CALLER, media: CallMedia::Video, room: RoomKind::Direct, offer: "offer-sdp".into() }
    }

    // --- placing ---------------------------------------------------------

    #[test]
    fn an_invite_rings_every_online_device_of_the_callee_once() {
        let (call, out) = ring(&["phone", "laptop", "phone"]);
        assert_eq!(out, [send(CALLEE, &["phone", "laptop"], incoming())]);
        assert_eq!(call.state(), CallState::Ringing);
        assert_eq!(call.ringing_devices(), devices(&["phone", "laptop"]));
        assert_eq!(call.next_deadline(), Some(T0 + RING));
        assert_eq!((call.id(), call.room(), call.media()), (ID, RoomKind::Direct, CallMedia::Video));
        assert_eq!((call.caller(), call.callee()), (&caller(), CALLEE));
        assert_eq!(call.participants(), [CALLER, CALLEE]);
        assert_eq!((call.created_at(), call.answered_at(), call.ended_at()), (T0, None, None));
        assert!(call.is_live() && call.accepted_by().is_none() && call.end_reason().is_none());
    }

    #[test]
    fn with_no_device_online_the_call_is_missed_at_once() {
        let (call, out) = ring(&[]);
        let signal = ended(CallOutcome::Missed, EndReason::Unavailable, 0);
        assert_eq!(out[0], send(CALLER, &["c-phone"], signal));
        assert_eq!(out.len(), 2);
        let f = finished(&out);
        assert_eq!((f.outcome, f.reason, f.duration_ms), (CallOutcome::Missed, EndReason::Unavailable, 0));
        assert_eq!((f.caller, f.callee, f.media, f.created_at, f.ended_at), (CALLER, CALLEE, CallMedia::Video, T0, T0));
        assert_eq!(f.conversation().to_string(), "d_1_2");
        assert_eq!(call.state(), CallState::Ended(CallOutcome::Missed));
        assert_eq!(call.next_deadline(), None);
    }

    #[test]
    fn a_callee_in_another_call_is_busy_and_not_disturbed() {
        let mut out = Vec::new();
        let call = Call::busy(invite(&["phone"]), &CallConfig::default(), T0, &mut out).unwrap();
        assert_eq!(out[0], send(CALLER, &["c-phone"], ended(CallOutcome::Busy, EndReason::Busy, 0)));
        assert_eq!(finished(&out).outcome, CallOutcome::Busy);
        assert_eq!(out.len(), 2, "no device of the callee hears of it");
        assert_eq!(call.state(), CallState::Ended(CallOutcome::Busy));
    }

    #[test]
    fn calling_yourself_is_refused() {
        let mut me = invite(&["phone"]);
        me.callee = CALLER;
        let mut out = Vec::new();
        assert_eq!(Call::invite(me.clone(), &CallConfig::default(), T0, &mut out).unwrap_err(), CallError::SelfCall);
        assert_eq!(Call::busy(me, &CallConfig::default(), T0, &mut out).unwrap_err(), CallError::SelfCall);
        assert!(out.is_empty());
    }

    // --- ringing ---------------------------------------------------------

    #[test]
    fn the_caller_hears_ringing_once() {
        let (mut call, _) = ring(&["phone", "laptop"]);
        let out = step(&mut call, CallEvent::Ringing { by: callee("phone") }, T0 + 100).unwrap();
        assert_eq!(out, [send(CALLER, &["c-phone"], Signal::Ringing)]);
        assert_eq!(step(&mut call, CallEvent::Ringing { by: callee("laptop") }, T0 + 200).unwrap(), []);
        assert_eq!(
            step(&mut call, CallEvent::Ringing { by: caller() }, T0).unwrap_err(),
            CallError::CalleeOnly("report ringing")
        );
        assert_eq!(
            step(&mut call, CallEvent::Ringing { by: callee("tablet") }, T0).unwrap_err(),
            CallError::NotOnThisDevice
        );
        step(&mut call, accept("phone"), T0 + 300).unwrap();
        assert_eq!(
            step(&mut call, CallEvent::Ringing { by: callee("phone") }, T0).unwrap_err(),
            CallError::AlreadyAnswered
        );
        assert_eq!(
            step(&mut call, CallEvent::Ringing { by: callee("laptop") }, T0).unwrap_err(),
            CallError::AnsweredElsewhere
        );
    }

    #[test]
    fn the_first_of_three_devices_to_accept_wins_and_the_others_hear_answered_elsewhere() {
        let (mut call, _) = ring(&["phone", "laptop", "tablet"]);
        let out = step(&mut call, accept("laptop"), T0 + 3_000).unwrap();
        assert_eq!(
            out,
            [
                send(CALLER, &["c-phone"], Signal::Accepted { answer: "answer-sdp".into() }),
                // The laptop too: its other connections (tabs) must stop ringing.
                send(CALLEE, &["phone", "laptop", "tablet"], Signal::AnsweredElsewhere),
            ]
        );
        assert_eq!(call.state(), CallState::Active);
        assert_eq!(call.accepted_by(), Some(&DeviceId::from("laptop")));
        assert_eq!(call.answered_at(), Some(T0 + 3_000));
        assert_eq!(call.ringing_devices(), [] as [DeviceId; 0]);
        assert_eq!(call.next_deadline(), None, "no ring timeout once answered");
        for late in ["phone", "tablet"] {
            assert_eq!(step(&mut call, accept(late), T0 + 3_001).unwrap_err(), CallError::AnsweredElsewhere);
            let reject = CallEvent::Reject { by: callee(late), reason: RejectReason::Declined };
            assert_eq!(step(&mut call, reject, T0 + 3_001).unwrap_err(), CallError::AnsweredElsewhere);
            assert_eq!(
                step(&mut call, CallEvent::Hangup { by: callee(late) }, T0 + 3_001).unwrap_err(),
                CallError::AnsweredElsewhere
            );
        }
        assert_eq!(step(&mut call, accept("laptop"), T0 + 3_002).unwrap_err(), CallError::AlreadyAnswered);
    }

    #[test]
    fn who_may_accept() {
        let (mut call, _) = ring(&["phone"]);
        let by_caller = CallEvent::Accept { by: caller(), answer: "x".into() };
        assert_eq!(step(&mut call, by_caller, T0).unwrap_err(), CallError::CalleeOnly("accept"));
        let other_caller_device = CallEvent::Accept { by: ep(CALLER, "c-laptop"), answer: "x".into() };
        assert_eq!(step(&mut call, other_caller_device, T0).unwrap_err(), CallError::NotOnThisDevice);
        assert_eq!(step(&mut call, accept("tablet"), T0).unwrap_err(), CallError::NotOnThisDevice, "not ringing");
        let stranger = CallEvent::Accept { by: ep(STRANGER, "phone"), answer: "x".into() };
        assert_eq!(step(&mut call, stranger, T0).unwrap_err(), CallError::NotFound);
        assert_eq!(call.state(), CallState::Ringing);
    }

    #[test]
    fn a_decline_ends_the_call_for_every_device() {
        let (mut call, _) = ring(&["phone", "laptop"]);
        let reject = CallEvent::Reject { by: callee("laptop"), reason: RejectReason::Declined };
        let out = step(&mut call, reject, T0 + 2_000).unwrap();
        let signal = ended(CallOutcome::Declined, EndReason::Declined, 0);
        assert_eq!(out[..2], [send(CALLER, &["c-phone"], signal.clone()), send(CALLEE, &["phone", "laptop"], signal)]);
        let f = finished(&out);
        assert_eq!((f.outcome, f.duration_ms, f.answered_at, f.ended_at), (CallOutcome::Declined, 0, None, T0 + 2_000));
        assert_eq!(call.state(), CallState::Ended(CallOutcome::Declined));
    }

    #[test]
    fn a_device_may_answer_busy() {
        let (mut call, _) = ring(&["phone"]);
        let reject = CallEvent::Reject { by: callee("phone"), reason: RejectReason::Busy };
        let out = step(&mut call, reject, T0 + 1).unwrap();
        assert_eq!(out[0], send(CALLER, &["c-phone"], ended(CallOutcome::Busy, EndReason::Busy, 0)));
        assert_eq!(finished(&out).outcome, CallOutcome::Busy);
    }

    #[test]
    fn who_may_reject() {
        let (mut call, _) = ring(&["phone"]);
        let by_caller = CallEvent::Reject { by: caller(), reason: RejectReason::Declined };
        assert_eq!(step(&mut call, by_caller, T0).unwrap_err(), CallError::CalleeOnly("decline"));
        let stranger = CallEvent::Reject { by: ep(STRANGER, "x"), reason: RejectReason::Busy };
        assert_eq!(step(&mut call, stranger, T0).unwrap_err(), CallError::NotFound);
        step(&mut call, accept("phone"), T0).unwrap();
        let too_late = CallEvent::Reject { by: callee("phone"), reason: RejectReason::Declined };
        assert_eq!(step(&mut call, too_late, T0).unwrap_err(), CallError::AlreadyAnswered, "hang up instead");
    }

    #[test]
    fn the_caller_cancels_or_hangs_up_while_it_rings() {
        for event in [CallEvent::Cancel { by: caller() }, CallEvent::Hangup { by: caller() }] {
            let (mut call, _) = ring(&["phone", "laptop"]);
            let out = step(&mut call, event, T0 + 4_000).unwrap();
            let signal = ended(CallOutcome::Cancelled, EndReason::Cancelled, 0);
            assert_eq!(out[1], send(CALLEE, &["phone", "laptop"], signal));
            assert_eq!(finished(&out).outcome, CallOutcome::Cancelled);
        }
    }

    #[test]
    fn who_may_cancel() {
        let (mut call, _) = ring(&["phone"]);
        assert_eq!(
            step(&mut call, CallEvent::Cancel { by: callee("phone") }, T0).unwrap_err(),
            CallError::CallerOnly("cancel")
        );
        assert_eq!(
            step(&mut call, CallEvent::Cancel { by: ep(CALLER, "c-laptop") }, T0).unwrap_err(),
            CallError::NotOnThisDevice
        );
        assert_eq!(step(&mut call, CallEvent::Cancel { by: ep(STRANGER, "x") }, T0).unwrap_err(), CallError::NotFound);
        assert_eq!(call.state(), CallState::Ringing);
    }

    #[test]
    fn hanging_up_on_the_incoming_screen_declines() {
        let (mut call, _) = ring(&["phone"]);
        let out = step(&mut call, CallEvent::Hangup { by: callee("phone") }, T0 + 1).unwrap();
        assert_eq!(finished(&out).reason, EndReason::Declined);
        assert_eq!(call.state(), CallState::Ended(CallOutcome::Declined));
    }

    #[test]
    fn a_cancel_that_crossed_the_accept_hangs_up() {
        let mut call = active();
        let out = step(&mut call, CallEvent::Cancel { by: caller() }, T0 + 5_400).unwrap();
        let f = finished(&out);
        assert_eq!(
            (f.outcome, f.reason, f.duration_ms),
            (CallOutcome::Completed, EndReason::HungUp { by: CALLER }, 400)
        );
    }

    // --- active ----------------------------------------------------------

    #[test]
    fn either_party_hangs_up_a_completed_call_with_its_duration() {
        for (by, user) in [(caller(), CALLER), (callee("phone"), CALLEE)] {
            let mut call = active();
            let out = step(&mut call, CallEvent::Hangup { by }, T0 + 5_000 + 65_000).unwrap();
            let signal = ended(CallOutcome::Completed, EndReason::HungUp { by: user }, 65_000);
            // Both devices: the driver skips the hanging-up connection, not its tabs.
            assert_eq!(out[..2], [send(CALLER, &["c-phone"], signal.clone()), send(CALLEE, &["phone"], signal)]);
            let f = finished(&out);
            assert_eq!((f.outcome, f.duration_ms), (CallOutcome::Completed, 65_000));
            assert_eq!((f.answered_at, f.ended_at), (Some(T0 + 5_000), T0 + 70_000));
            assert_eq!(call.duration_ms(), Some(65_000));
            assert_eq!(call.end_reason(), Some(EndReason::HungUp { by: user }));
        }
    }

    #[test]
    fn hangups_by_others_are_refused() {
        let mut call = active();
        assert_eq!(step(&mut call, CallEvent::Hangup { by: ep(STRANGER, "x") }, T0).unwrap_err(), CallError::NotFound);
        assert_eq!(
            step(&mut call, CallEvent::Hangup { by: ep(CALLER, "c-laptop") }, T0).unwrap_err(),
            CallError::NotOnThisDevice
        );
        assert_eq!(
            step(&mut call, CallEvent::Hangup { by: callee("laptop") }, T0).unwrap_err(),
            CallError::AnsweredElsewhere
        );
        assert_eq!(call.state(), CallState::Active);
    }

    #[test]
    fn while_ringing_only_the_caller_trickles_candidates_to_every_ringing_device() {
        let (mut call, _) = ring(&["phone", "laptop"]);
        let ice = |from, c: &str| CallEvent::Ice { from, candidate: c.into() };
        let out = step(&mut call, ice(caller(), "c1"), T0).unwrap();
        assert_eq!(out, [send(CALLEE, &["phone", "laptop"], Signal::Ice { candidate: "c1".into() })]);
        assert_eq!(step(&mut call, ice(callee("phone"), "p1"), T0).unwrap_err(), CallError::NotAnswered);
        assert_eq!(step(&mut call, ice(ep(CALLER, "c-laptop"), "x"), T0).unwrap_err(), CallError::NotOnThisDevice);
        assert_eq!(step(&mut call, ice(callee("tablet"), "x"), T0).unwrap_err(), CallError::NotOnThisDevice);
        assert_eq!(step(&mut call, ice(ep(STRANGER, "x"), "x"), T0).unwrap_err(), CallError::NotFound);
    }

    #[test]
    fn once_active_candidates_flow_between_the_two_devices_only() {
        let mut call = active();
        let ice = |from, c: &str| CallEvent::Ice { from, candidate: c.into() };
        let out = step(&mut call, ice(caller(), "c2"), T0 + 6_000).unwrap();
        assert_eq!(out, [send(CALLEE, &["phone"], Signal::Ice { candidate: "c2".into() })]);
        let out = step(&mut call, ice(callee("phone"), "p2"), T0 + 6_000).unwrap();
        assert_eq!(out, [send(CALLER, &["c-phone"], Signal::Ice { candidate: "p2".into() })]);
        assert_eq!(step(&mut call, ice(callee("laptop"), "x"), T0).unwrap_err(), CallError::AnsweredElsewhere);
        assert_eq!(step(&mut call, ice(ep(CALLER, "c-laptop"), "x"), T0).unwrap_err(), CallError::NotOnThisDevice);
        assert_eq!(step(&mut call, ice(ep(STRANGER, "x"), "x"), T0).unwrap_err(), CallError::NotFound);
    }

    #[test]
    fn renegotiation_needs_an_active_call_and_goes_to_the_peer() {
        let sdp = |from, kind| CallEvent::Renegotiate { from, kind, sdp: "v=0".into() };
        let (mut call, _) = ring(&["phone"]);
        assert_eq!(step(&mut call, sdp(caller(), SdpKind::Offer), T0).unwrap_err(), CallError::NotAnswered);
        assert_eq!(step(&mut call, sdp(callee("phone"), SdpKind::Offer), T0).unwrap_err(), CallError::NotAnswered);
        let mut call = active();
        let out = step(&mut call, sdp(caller(), SdpKind::Offer), T0 + 9_000).unwrap();
        assert_eq!(out, [send(CALLEE, &["phone"], Signal::Sdp { kind: SdpKind::Offer, sdp: "v=0".into() })]);
        let out = step(&mut call, sdp(callee("phone"), SdpKind::Answer), T0 + 9_100).unwrap();
        assert_eq!(out, [send(CALLER, &["c-phone"], Signal::Sdp { kind: SdpKind::Answer, sdp: "v=0".into() })]);
        assert_eq!(
            step(&mut call, sdp(callee("laptop"), SdpKind::Offer), T0).unwrap_err(),
            CallError::AnsweredElsewhere
        );
        assert_eq!(step(&mut call, sdp(ep(STRANGER, "x"), SdpKind::Offer), T0).unwrap_err(), CallError::NotFound);
        assert_eq!(call.media(), CallMedia::Video, "renegotiation does not change the logged media");
    }

    // --- ended -----------------------------------------------------------

    #[test]
    fn an_ended_call_refuses_everything_and_finishes_no_more() {
        let (mut call, _) = ring(&["phone"]);
        step(&mut call, CallEvent::Cancel { by: caller() }, T0 + 1_000).unwrap();
        let gone = CallError::Ended(CallOutcome::Cancelled);
        assert_eq!(step(&mut call, accept("phone"), T0 + 1_001).unwrap_err(), gone, "accepting a cancelled call");
        for event in [
            CallEvent::Ringing { by: callee("phone") },
            CallEvent::Reject { by: callee("phone"), reason: RejectReason::Declined },
            CallEvent::Cancel { by: caller() },
            CallEvent::Hangup { by: caller() },
            CallEvent::Hangup { by: callee("laptop") },
            CallEvent::Ice { from: caller(), candidate: "c".into() },
            CallEvent::Renegotiate { from: caller(), kind: SdpKind::Offer, sdp: "s".into() },
        ] {
            assert_eq!(step(&mut call, event, T0 + 1_002).unwrap_err(), gone);
        }
        let stranger = CallEvent::Hangup { by: ep(STRANGER, "x") };
        assert_eq!(step(&mut call, stranger, T0).unwrap_err(), CallError::NotFound, "existence is not revealed");
        for event in [
            CallEvent::Tick,
            CallEvent::Shutdown,
            CallEvent::Disconnected(caller()),
            CallEvent::Reconnected(caller()),
            CallEvent::Reconnected(callee("laptop")),
        ] {
            assert_eq!(step(&mut call, event, T0 + 999_999).unwrap(), []);
        }
        assert_eq!(call.ended_at(), Some(T0 + 1_000));
    }

    // --- time ------------------------------------------------------------

    #[test]
    fn an_unanswered_call_is_missed_at_the_ring_timeout() {
        let (mut call, _) = ring(&["phone", "laptop"]);
        assert_eq!(step(&mut call, CallEvent::Tick, T0 + RING - 1).unwrap(), []);
        let out = step(&mut call, CallEvent::Tick, T0 + RING).unwrap();
        let signal = ended(CallOutcome::Missed, EndReason::NoAnswer, 0);
        assert_eq!(out[..2], [send(CALLER, &["c-phone"], signal.clone()), send(CALLEE, &["phone", "laptop"], signal)]);
        assert_eq!(finished(&out).ended_at, T0 + RING);
    }

    #[test]
    fn a_late_timer_changes_nothing_an_event_after_the_deadline_meets_an_ended_call() {
        let (mut call, _) = ring(&["phone"]);
        let mut out = Vec::new();
        // No tick arrived; the accept comes a second after the timeout.
        let r = call.handle(accept("phone"), T0 + RING + 1_000, &mut out);
        assert_eq!(r.unwrap_err(), CallError::Ended(CallOutcome::Missed));
        let f = finished(&out);
        assert_eq!((f.reason, f.ended_at), (EndReason::NoAnswer, T0 + RING), "stamped with the deadline");
    }

    #[test]
    fn the_ring_timeout_follows_the_configuration() {
        let config = CallConfig { ring_timeout_ms: 5_000, ..CallConfig::default() };
        let call = Call::invite(invite(&["phone"]), &config, T0, &mut Vec::new()).unwrap();
        assert_eq!(call.next_deadline(), Some(T0 + 5_000));
    }

    #[test]
    fn a_party_back_within_the_grace_period_keeps_the_call() {
        let mut call = active();
        let out = step(&mut call, CallEvent::Disconnected(callee("phone")), T0 + 10_000).unwrap();
        assert_eq!(out, [send(CALLER, &["c-phone"], Signal::PeerDisconnected)]);
        assert!(call.is_away(&callee("phone")));
        assert_eq!(call.next_deadline(), Some(T0 + 10_000 + GRACE));
        let out = step(&mut call, CallEvent::Reconnected(callee("phone")), T0 + 10_000 + GRACE - 1).unwrap();
        assert_eq!(
            out,
            [
                send(CALLEE, &["phone"], Signal::Resumed { answer: None }),
                send(CALLER, &["c-phone"], Signal::PeerReconnected),
            ]
        );
        assert_eq!(call.next_deadline(), None);
        assert_eq!(step(&mut call, CallEvent::Tick, T0 + 100_000).unwrap(), []);
        let out = step(&mut call, CallEvent::Hangup { by: caller() }, T0 + 125_000).unwrap();
        assert_eq!(finished(&out).duration_ms, 120_000, "the time away counts");
    }

    #[test]
    fn the_caller_back_within_the_grace_period_gets_the_answer_again() {
        let mut call = active();
        let out = step(&mut call, CallEvent::Disconnected(caller()), T0 + 10_000).unwrap();
        assert_eq!(out, [send(CALLEE, &["phone"], Signal::PeerDisconnected)]);
        let out = step(&mut call, CallEvent::Reconnected(caller()), T0 + 11_000).unwrap();
        assert_eq!(out[0], send(CALLER, &["c-phone"], Signal::Resumed { answer: Some("answer-sdp".into()) }));
        assert_eq!(out[1], send(CALLEE, &["phone"], Signal::PeerReconnected));
    }

    #[test]
    fn a_party_gone_past_the_grace_period_ends_a_completed_call_counted_until_it_dropped() {
        let mut call = active();
        step(&mut call, CallEvent::Disconnected(callee("phone")), T0 + 35_000).unwrap();
        assert_eq!(step(&mut call, CallEvent::Tick, T0 + 35_000 + GRACE - 1).unwrap(), []);
        let out = step(&mut call, CallEvent::Tick, T0 + 35_000 + GRACE).unwrap();
        let f = finished(&out);
        assert_eq!(f.outcome, CallOutcome::Completed);
        assert_eq!(f.reason, EndReason::ConnectionLost { user: CALLEE });
        assert_eq!(f.duration_ms, 30_000, "answered at +5 s, dropped at +35 s");
        assert_eq!(f.ended_at, T0 + 35_000 + GRACE);
        // Coming back later finds the call over.
        assert_eq!(step(&mut call, CallEvent::Reconnected(callee("phone")), T0 + 60_000).unwrap(), []);
    }

    #[test]
    fn the_first_of_two_lost_parties_ends_the_call() {
        let mut call = active();
        step(&mut call, CallEvent::Disconnected(caller()), T0 + 8_000).unwrap();
        step(&mut call, CallEvent::Disconnected(callee("phone")), T0 + 9_000).unwrap();
        assert_eq!(call.next_deadline(), Some(T0 + 8_000 + GRACE));
        let out = step(&mut call, CallEvent::Tick, T0 + 60_000).unwrap();
        let f = finished(&out);
        assert_eq!((f.reason, f.duration_ms), (EndReason::ConnectionLost { user: CALLER }, 3_000));
    }

    #[test]
    fn disconnects_outside_the_call_are_ignored() {
        let mut call = active();
        for who in [ep(CALLER, "c-laptop"), callee("laptop"), ep(STRANGER, "x")] {
            assert_eq!(step(&mut call, CallEvent::Disconnected(who.clone()), T0 + 6_000).unwrap(), []);
            assert_eq!(step(&mut call, CallEvent::Reconnected(who), T0 + 6_000).unwrap(), []);
        }
        assert_eq!(call.next_deadline(), None);
        // A second report of the same drop does not move the deadline.
        step(&mut call, CallEvent::Disconnected(caller()), T0 + 6_000).unwrap();
        assert_eq!(step(&mut call, CallEvent::Disconnected(caller()), T0 + 7_000).unwrap(), []);
        assert_eq!(call.next_deadline(), Some(T0 + 6_000 + GRACE));
        // A reconnect with no drop reported does nothing.
        let mut call = active();
        assert_eq!(step(&mut call, CallEvent::Reconnected(caller()), T0 + 6_000).unwrap(), []);
    }

    #[test]
    fn a_caller_lost_while_ringing_cancels_the_call() {
        let (mut call, _) = ring(&["phone"]);
        let out = step(&mut call, CallEvent::Disconnected(caller()), T0 + 1_000).unwrap();
        assert_eq!(out, [], "the callee keeps ringing");
        assert_eq!(call.next_deadline(), Some(T0 + 1_000 + GRACE));
        let out = step(&mut call, CallEvent::Tick, T0 + 1_000 + GRACE).unwrap();
        let f = finished(&out);
        assert_eq!((f.outcome, f.reason), (CallOutcome::Cancelled, EndReason::ConnectionLost { user: CALLER }));
        assert_eq!(
            out[1],
            send(CALLEE, &["phone"], ended(CallOutcome::Cancelled, EndReason::ConnectionLost { user: CALLER }, 0))
        );
    }

    #[test]
    fn the_caller_back_while_it_still_rings_is_told_so() {
        let (mut call, _) = ring(&["phone"]);
        step(&mut call, CallEvent::Disconnected(caller()), T0 + 1_000).unwrap();
        let out = step(&mut call, CallEvent::Reconnected(caller()), T0 + 2_000).unwrap();
        assert_eq!(out, [send(CALLER, &["c-phone"], Signal::Resumed { answer: None })]);
        assert_eq!(call.next_deadline(), Some(T0 + RING));
    }

    #[test]
    fn an_answer_while_the_caller_is_away_reaches_it_when_it_returns() {
        let (mut call, _) = ring(&["phone"]);
        step(&mut call, CallEvent::Disconnected(caller()), T0 + 1_000).unwrap();
        step(&mut call, accept("phone"), T0 + 2_000).unwrap();
        assert_eq!(call.next_deadline(), Some(T0 + 1_000 + GRACE), "still waiting for the caller");
        let out = step(&mut call, CallEvent::Reconnected(caller()), T0 + 3_000).unwrap();
        assert_eq!(out[0], send(CALLER, &["c-phone"], Signal::Resumed { answer: Some("answer-sdp".into()) }));
        assert_eq!(out[1], send(CALLEE, &["phone"], Signal::PeerReconnected));
        // Had it not come back, the call would be completed with no time connected.
        let (mut call, _) = ring(&["phone"]);
        step(&mut call, CallEvent::Disconnected(caller()), T0 + 1_000).unwrap();
        step(&mut call, accept("phone"), T0 + 2_000).unwrap();
        let f = step(&mut call, CallEvent::Tick, T0 + 30_000).unwrap();
        assert_eq!((finished(&f).outcome, finished(&f).duration_ms), (CallOutcome::Completed, 0));
    }

    #[test]
    fn on_a_tie_the_ring_timeout_wins() {
        let (mut call, _) = ring(&["phone"]);
        step(&mut call, CallEvent::Disconnected(caller()), T0 + RING - GRACE).unwrap();
        let out = step(&mut call, CallEvent::Tick, T0 + RING).unwrap();
        assert_eq!(finished(&out).reason, EndReason::NoAnswer);
    }

    #[test]
    fn a_ringing_device_that_drops_stops_ringing_and_rings_again_with_the_candidates_so_far() {
        let (mut call, _) = ring(&["phone", "laptop"]);
        step(&mut call, CallEvent::Ice { from: caller(), candidate: "c1".into() }, T0).unwrap();
        assert_eq!(step(&mut call, CallEvent::Disconnected(callee("laptop")), T0 + 1_000).unwrap(), []);
        assert_eq!(call.ringing_devices(), devices(&["phone"]));
        assert_eq!(step(&mut call, accept("laptop"), T0 + 1_500).unwrap_err(), CallError::NotOnThisDevice);
        // Candidates trickled meanwhile reach the devices ringing then, and are kept.
        let out = step(&mut call, CallEvent::Ice { from: caller(), candidate: "c2".into() }, T0 + 2_000).unwrap();
        assert_eq!(out, [send(CALLEE, &["phone"], Signal::Ice { candidate: "c2".into() })]);
        let out = step(&mut call, CallEvent::Reconnected(callee("laptop")), T0 + 3_000).unwrap();
        assert_eq!(
            out,
            [
                send(CALLEE, &["laptop"], incoming()),
                send(CALLEE, &["laptop"], Signal::Ice { candidate: "c1".into() }),
                send(CALLEE, &["laptop"], Signal::Ice { candidate: "c2".into() }),
            ]
        );
        assert_eq!(call.ringing_devices(), devices(&["phone", "laptop"]));
        assert_eq!(step(&mut call, CallEvent::Reconnected(callee("laptop")), T0 + 3_001).unwrap(), [], "rung once");
        // A device that was never online rings when it comes online.
        let out = step(&mut call, CallEvent::Reconnected(callee("tablet")), T0 + 4_000).unwrap();
        assert_eq!(out[0], send(CALLEE, &["tablet"], incoming()));
        step(&mut call, accept("tablet"), T0 + 5_000).unwrap();
    }

    #[test]
    fn with_every_device_gone_the_call_rings_on_until_missed() {
        let (mut call, _) = ring(&["phone"]);
        step(&mut call, CallEvent::Disconnected(callee("phone")), T0 + 1_000).unwrap();
        assert_eq!(call.state(), CallState::Ringing);
        let out = step(&mut call, CallEvent::Tick, T0 + RING).unwrap();
        assert_eq!(out.len(), 2, "the caller and the log, no device of the callee: {out:?}");
        assert_eq!(finished(&out).outcome, CallOutcome::Missed);
    }

    #[test]
    fn the_candidate_buffer_is_bounded() {
        let (mut call, _) = ring(&["phone"]);
        step(&mut call, CallEvent::Disconnected(callee("phone")), T0).unwrap();
        for i in 0..MAX_BUFFERED_CANDIDATES + 10 {
            step(&mut call, CallEvent::Ice { from: caller(), candidate: format!("c{i}") }, T0).unwrap();
        }
        let out = step(&mut call, CallEvent::Reconnected(callee("phone")), T0).unwrap();
        assert_eq!(out.len(), 1 + MAX_BUFFERED_CANDIDATES);
    }

    #[test]
    fn a_shutdown_misses_a_ringing_call() {
        let (mut call, _) = ring(&["phone"]);
        let out = step(&mut call, CallEvent::Shutdown, T0 + 3_000).unwrap();
        let signal = ended(CallOutcome::Missed, EndReason::Shutdown, 0);
        assert_eq!(out[..2], [send(CALLER, &["c-phone"], signal.clone()), send(CALLEE, &["phone"], signal)]);
        assert_eq!(finished(&out).outcome, CallOutcome::Missed);
    }

    #[test]
    fn a_shutdown_completes_an_active_call_with_the_time_so_far() {
        let mut call = active();
        step(&mut call, CallEvent::Disconnected(callee("phone")), T0 + 7_000).unwrap();
        let out = step(&mut call, CallEvent::Shutdown, T0 + 9_000).unwrap();
        let f = finished(&out);
        assert_eq!((f.outcome, f.reason, f.duration_ms), (CallOutcome::Completed, EndReason::Shutdown, 4_000));
    }

    #[test]
    fn a_clock_that_goes_backwards_gives_a_zero_duration() {
        let mut call = active();
        let out = step(&mut call, CallEvent::Hangup { by: caller() }, T0).unwrap();
        assert_eq!(finished(&out).duration_ms, 0);
    }
}
