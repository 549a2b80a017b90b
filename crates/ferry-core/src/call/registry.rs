//! Every call of a node, and the rule that a user is in at most one (and in
//! at most [`MAX_FILE_SESSIONS_PER_USER`] file sessions).

use std::collections::{BTreeSet, HashMap};

use super::{Call, CallConfig, CallError, CallEvent, CallId, Effect, Endpoint, Invite, MAX_FILE_SESSIONS_PER_USER};
use crate::{DeviceId, UserId};

/// The calls of a node: places them (answering busy for a user already in
/// one), routes events to them, and keeps one index of their deadlines so
/// the driver needs a single timer ([`next_deadline`](Self::next_deadline),
/// then [`tick`](Self::tick)).
///
/// A user is in a call from the moment it rings until it ends, on either
/// side. An ended call is kept for [`CallConfig::ended_retention_ms`] so
/// that late frames for it are told it ended; its users are free at once.
/// File sessions ([`CallMedia::File`](super::CallMedia::File)) are kept
/// apart: they neither make a user busy nor find them busy, and count
/// against their own cap instead. Every method first applies the deadlines
/// due at `now`.
#[derive(Debug)]
pub struct CallRegistry {
    config: CallConfig,
    calls: HashMap<CallId, Call>,
    /// The live call of each user in one.
    by_user: HashMap<UserId, CallId>,
    /// The live file sessions of each user in some (never an empty list).
    files_by_user: HashMap<UserId, Vec<CallId>>,
    /// (when, call): a live call's next deadline, an ended call's purge time.
    deadlines: BTreeSet<(i64, CallId)>,
    /// The entry each call has in `deadlines`.
    indexed: HashMap<CallId, i64>,
}

impl CallRegistry {
    pub fn new(config: CallConfig) -> Self {
        Self {
            config,
            calls: HashMap::new(),
            by_user: HashMap::new(),
            files_by_user: HashMap::new(),
            deadlines: BTreeSet::new(),
            indexed: HashMap::new(),
        }
    }

    pub fn config(&self) -> &CallConfig {
        &self.config
    }

    /// Places a call (see [`Invite`] for what the driver checks first). A
    /// callee already in a call is answered busy: the call is created and
    /// ends at once. Refused: calling yourself, placing a call while in one,
    /// an id in use; for a file session, either user at the cap.
    pub fn place(&mut self, invite: Invite, now: i64, out: &mut Vec<Effect>) -> Result<(), CallError> {
        self.place_in_cluster(invite, false, now, out)
    }

    /// [`place`](Self::place) on a node of a cluster, where the callee may
    /// be in a call that another node holds (`callee_busy_elsewhere`, as the
    /// cluster-wide claim found): then the call is answered busy too.
    pub fn place_in_cluster(
        &mut self,
        invite: Invite,
        callee_busy_elsewhere: bool,
        now: i64,
        out: &mut Vec<Effect>,
    ) -> Result<(), CallError> {
        self.tick(now, out);
        let id = invite.id;
        if invite.caller.user == invite.callee {
            return Err(CallError::SelfCall);
        }
        if self.calls.contains_key(&id) {
            return Err(CallError::DuplicateId(id));
        }
        if !invite.media.is_call() {
            return self.place_file_session(invite, now, out);
        }
        if self.by_user.contains_key(&invite.caller.user) {
            return Err(CallError::AlreadyInCall);
        }
        let call = if callee_busy_elsewhere || self.by_user.contains_key(&invite.callee) {
            Call::busy(invite, &self.config, now, out)?
        } else {
            Call::invite(invite, &self.config, now, out)?
        };
        if call.is_live() {
            for &user in call.participants() {
                self.by_user.insert(user, id);
            }
        }
        self.calls.insert(id, call);
        self.reindex(id);
        Ok(())
    }

    /// A file session: never busy, capped per user.
    fn place_file_session(&mut self, invite: Invite, now: i64, out: &mut Vec<Effect>) -> Result<(), CallError> {
        let id = invite.id;
        if [invite.caller.user, invite.callee].iter().any(|u| self.file_sessions_of(*u) >= MAX_FILE_SESSIONS_PER_USER) {
            return Err(CallError::TooManyFileSessions);
        }
        let call = Call::invite(invite, &self.config, now, out)?;
        if call.is_live() {
            for &user in call.participants() {
                self.files_by_user.entry(user).or_default().push(id);
            }
        }
        self.calls.insert(id, call);
        self.reindex(id);
        Ok(())
    }

    /// Applies `event` to call `id` ([`Call::handle`]). An unknown id, or
    /// one forgotten since it ended, is `NotFound`.
    pub fn handle(&mut self, id: CallId, event: CallEvent, now: i64, out: &mut Vec<Effect>) -> Result<(), CallError> {
        self.tick(now, out);
        self.update(id, out, |call, out| call.handle(event, now, out)).unwrap_or(Err(CallError::NotFound))
    }

    /// The last connection of `party`'s device closed: its call, if any,
    /// waits for it (or stops ringing it).
    pub fn disconnected(&mut self, party: Endpoint, now: i64, out: &mut Vec<Effect>) {
        self.connection(CallEvent::Disconnected, party, now, out);
    }

    /// `party`'s device authenticated: its call, if any, resumes (or rings
    /// it, if it is the callee's and the call still rings).
    pub fn reconnected(&mut self, party: Endpoint, now: i64, out: &mut Vec<Effect>) {
        self.connection(CallEvent::Reconnected, party, now, out);
    }

    /// `user`'s devices with a session anywhere are `online` now (in a
    /// cluster, another node's sessions changed): each of the user's calls
    /// here hears of every device that came or went since it last did.
    /// Calls ignore a report that changes nothing (a device still ringing,
    /// a party not away), so this can be said as often as convenient.
    pub fn presence(&mut self, user: UserId, online: &[DeviceId], now: i64, out: &mut Vec<Effect>) {
        self.tick(now, out);
        for id in self.ids_of(user) {
            let Some(call) = self.calls.get(&id) else { continue };
            let mut known: Vec<DeviceId> = Vec::new();
            if call.caller().user == user {
                known.push(call.caller().device.clone());
            }
            if call.callee() == user {
                known.extend(call.ringing_devices().iter().cloned());
                known.extend(call.accepted_by().cloned());
            }
            for device in online.iter().chain(known.iter().filter(|d| !online.contains(d))) {
                let party = Endpoint { user, device: device.clone() };
                let event = if online.contains(device) { CallEvent::Reconnected } else { CallEvent::Disconnected };
                // Connection events are never refused.
                let _ = self.update(id, out, |call, out| call.handle(event(party), now, out));
            }
        }
    }

    /// The users in a live call or file session here.
    pub fn users(&self) -> Vec<UserId> {
        let mut users: Vec<UserId> = self.by_user.keys().chain(self.files_by_user.keys()).copied().collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// The live calls and file sessions of `user`.
    fn ids_of(&self, user: UserId) -> Vec<CallId> {
        let mut ids: Vec<CallId> = self.by_user.get(&user).copied().into_iter().collect();
        ids.extend(self.files_by_user.get(&user).into_iter().flatten().copied());
        ids
    }

    fn connection(&mut self, event: fn(Endpoint) -> CallEvent, party: Endpoint, now: i64, out: &mut Vec<Effect>) {
        self.tick(now, out);
        for id in self.ids_of(party.user) {
            // Connection events are never refused.
            let _ = self.update(id, out, |call, out| call.handle(event(party.clone()), now, out));
        }
    }

    /// Applies every deadline due at `now`: ring timeouts and grace periods
    /// end their calls; ended calls past their retention are forgotten.
    pub fn tick(&mut self, now: i64, out: &mut Vec<Effect>) {
        // Each due entry is visited once: a call that ends here is indexed
        // again under its purge time, which a later tick handles.
        let due: Vec<CallId> = self.deadlines.range(..=(now, CallId::new(u128::MAX))).map(|&(_, id)| id).collect();
        for id in due {
            if self.calls.get(&id).is_some_and(Call::is_live) {
                let _ = self.update(id, out, |call, out| call.handle(CallEvent::Tick, now, out));
            } else {
                self.forget(id);
            }
        }
    }

    /// The server is stopping: every live call ends now, in id order.
    pub fn shutdown(&mut self, now: i64, out: &mut Vec<Effect>) {
        let mut live: Vec<CallId> = self.live_calls().map(Call::id).collect();
        live.sort_unstable();
        for id in live {
            let _ = self.update(id, out, |call, out| call.handle(CallEvent::Shutdown, now, out));
        }
    }

    /// A call, live or recently ended.
    pub fn get(&self, id: CallId) -> Option<&Call> {
        self.calls.get(&id)
    }

    /// The live call `user` is in (file sessions are not calls).
    pub fn call_of(&self, user: UserId) -> Option<&Call> {
        self.by_user.get(&user).and_then(|id| self.calls.get(id))
    }

    /// How many live file sessions `user` is a party of.
    pub fn file_sessions_of(&self, user: UserId) -> usize {
        self.files_by_user.get(&user).map_or(0, Vec::len)
    }

    pub fn live_calls(&self) -> impl Iterator<Item = &Call> {
        self.calls.values().filter(|c| c.is_live())
    }

    /// When [`tick`](Self::tick) next has something to do.
    pub fn next_deadline(&self) -> Option<i64> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// Runs `f` on call `id`, then frees its users if it ended and moves its
    /// deadline: the one place the indexes follow a call.
    fn update<R>(
        &mut self,
        id: CallId,
        out: &mut Vec<Effect>,
        f: impl FnOnce(&mut Call, &mut Vec<Effect>) -> R,
    ) -> Option<R> {
        let call = self.calls.get_mut(&id)?;
        let was_live = call.is_live();
        let r = f(call, out);
        if was_live && !call.is_live() {
            for user in call.participants() {
                if self.by_user.get(user) == Some(&id) {
                    self.by_user.remove(user);
                }
                if let Some(ids) = self.files_by_user.get_mut(user) {
                    ids.retain(|&f| f != id);
                    if ids.is_empty() {
                        self.files_by_user.remove(user);
                    }
                }
            }
        }
        self.reindex(id);
        Some(r)
    }

    fn reindex(&mut self, id: CallId) {
        if let Some(at) = self.indexed.remove(&id) {
            self.deadlines.remove(&(at, id));
        }
        let at = self.calls.get(&id).and_then(|call| match call.ended_at() {
            None => call.next_deadline(),
            Some(ended) => Some(ended.saturating_add(i64::from(self.config.ended_retention_ms))),
        });
        if let Some(at) = at {
            self.deadlines.insert((at, id));
            self.indexed.insert(id, at);
        }
    }

    fn forget(&mut self, id: CallId) {
        self.calls.remove(&id);
        if let Some(at) = self.indexed.remove(&id) {
            self.deadlines.remove(&(at, id));
        }
    }

    /// Panics unless the indexes agree with the calls.
    #[cfg(test)]
    fn check_invariants(&self) {
        for (user, id) in &self.by_user {
            let call = &self.calls[id];
            assert!(call.is_live() && call.participants().contains(user), "{user} → {id}");
        }
        for (user, ids) in &self.files_by_user {
            assert!(!ids.is_empty() && ids.len() <= MAX_FILE_SESSIONS_PER_USER, "{user}: {ids:?}");
            for id in ids {
                let call = &self.calls[id];
                assert!(call.is_live() && !call.media().is_call() && call.participants().contains(user));
            }
        }
        for call in self.live_calls() {
            for user in call.participants() {
                if call.media().is_call() {
                    assert_eq!(self.by_user.get(user), Some(&call.id()), "{user} is in two calls");
                } else {
                    assert!(self.files_by_user[user].contains(&call.id()), "{user}: {}", call.id());
                }
            }
        }
        assert_eq!(self.deadlines.len(), self.indexed.len());
        for (id, at) in &self.indexed {
            assert!(self.deadlines.contains(&(*at, *id)) && self.calls.contains_key(id));
        }
        for call in self.calls.values() {
            let expected = match call.ended_at() {
                None => call.next_deadline(),
                Some(ended) => Some(ended + i64::from(self.config.ended_retention_ms)),
            };
            assert_eq!(self.indexed.get(&call.id()).copied(), expected, "{}", call.id());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::{prelude::*, test_runner::RngSeed};

    use super::*;
    use crate::{
        DeviceId,
        call::{CallMedia, CallOutcome, CallState, EndReason, Finished, RejectReason, SdpKind, Signal},
    };

    const T0: i64 = 1_700_000_000_000;
    const RING: i64 = 45_000;
    const GRACE: i64 = 20_000;
    const KEEP: i64 = 60_000;
    const ALICE: UserId = 1;
    const BOB: UserId = 2;
    const CAROL: UserId = 3;
    const DAVE: UserId = 4;

    fn ep(user: UserId, device: &str) -> Endpoint {
        Endpoint::new(user, device)
    }

    fn invite(id: u128, caller: UserId, callee: UserId, callee_devices: &[&str]) -> Invite {
        Invite {
            id: CallId::new(id),
            caller: ep(caller, "main"),
            callee,
            media: CallMedia::Audio,
            offer: "o".into(),
            callee_devices: callee_devices.iter().map(|&d| DeviceId::from(d)).collect(),
        }
    }

    fn registry() -> CallRegistry {
        CallRegistry::new(CallConfig::default())
    }

    fn finished(out: &[Effect]) -> Vec<&Finished> {
        out.iter()
            .filter_map(|e| match e {
                Effect::Finished(f) => Some(f),
                Effect::Send { .. } => None,
            })
            .collect()
    }

    fn accept(user: UserId, device: &str) -> CallEvent {
        CallEvent::Accept { by: ep(user, device), answer: "a".into() }
    }

    #[test]
    fn a_placed_call_holds_both_users_until_it_ends() {
        let mut reg = registry();
        let mut out = Vec::new();
        reg.place(invite(1, ALICE, BOB, &["main"]), T0, &mut out).unwrap();
        assert_eq!(out.len(), 1, "bob's device rings");
        assert_eq!(reg.call_of(ALICE).map(Call::id), Some(CallId::new(1)));
        assert_eq!(reg.call_of(BOB).map(Call::id), Some(CallId::new(1)));
        assert!(reg.call_of(CAROL).is_none());
        assert_eq!(reg.next_deadline(), Some(T0 + RING));
        assert_eq!(reg.live_calls().count(), 1);
        reg.handle(CallId::new(1), accept(BOB, "main"), T0 + 1_000, &mut out).unwrap();
        assert_eq!(reg.next_deadline(), None, "an active call with both parties here waits for nothing");
        reg.handle(CallId::new(1), CallEvent::Hangup { by: ep(ALICE, "main") }, T0 + 61_000, &mut out).unwrap();
        assert!(reg.call_of(ALICE).is_none() && reg.call_of(BOB).is_none(), "callable again at once");
        assert_eq!(finished(&out).len(), 1);
        assert_eq!(finished(&out)[0].duration_ms, 60_000);
        reg.place(invite(2, BOB, ALICE, &["main"]), T0 + 61_001, &mut out).unwrap();
        reg.check_invariants();
    }

    #[test]
    fn calling_someone_already_in_a_call_is_answered_busy() {
        for (callee, why) in [(BOB, "bob is rung"), (ALICE, "alice is calling")] {
            let mut reg = registry();
            reg.place(invite(1, ALICE, BOB, &["main"]), T0, &mut Vec::new()).unwrap();
            let mut out = Vec::new();
            reg.place(invite(2, CAROL, callee, &["main"]), T0 + 500, &mut out).unwrap();
            let f = finished(&out);
            assert_eq!(f.len(), 1, "{why}");
            assert_eq!(
                (f[0].call, f[0].outcome, f[0].caller, f[0].callee),
                (CallId::new(2), CallOutcome::Busy, CAROL, callee)
            );
            assert!(out.iter().all(|e| !matches!(e, Effect::Send { to, .. } if *to == callee)), "{why}: not disturbed");
            assert!(reg.call_of(CAROL).is_none(), "{why}: carol is free again");
            assert_eq!(reg.call_of(callee).map(Call::id), Some(CallId::new(1)), "{why}: the first call goes on");
            assert_eq!(reg.get(CallId::new(2)).map(Call::state), Some(CallState::Ended(CallOutcome::Busy)));
            reg.check_invariants();
        }
    }

    #[test]
    fn a_callee_busy_on_another_node_is_answered_busy_without_being_disturbed() {
        let mut reg = registry();
        let mut out = Vec::new();
        reg.place_in_cluster(invite(1, ALICE, BOB, &["main"]), true, T0, &mut out).unwrap();
        assert_eq!(finished(&out)[0].outcome, CallOutcome::Busy);
        assert!(out.iter().all(|e| !matches!(e, Effect::Send { to, .. } if *to == BOB)));
        assert!(reg.call_of(ALICE).is_none() && reg.call_of(BOB).is_none());
        reg.check_invariants();
    }

    #[test]
    fn presence_reports_bring_calls_in_line_with_the_cluster() {
        let sends_to = |out: &[Effect], user: UserId| -> Vec<(Vec<DeviceId>, Signal)> {
            out.iter()
                .filter_map(|e| match e {
                    Effect::Send { to, devices, signal, .. } if *to == user => Some((devices.clone(), signal.clone())),
                    _ => None,
                })
                .collect()
        };
        let mut reg = registry();
        reg.place(invite(1, ALICE, BOB, &["phone"]), T0, &mut Vec::new()).unwrap();
        // Bob's laptop came online on another node: it rings; saying so again changes nothing.
        let mut out = Vec::new();
        reg.presence(BOB, &[DeviceId::from("phone"), DeviceId::from("laptop")], T0 + 100, &mut out);
        let to_bob = sends_to(&out, BOB);
        assert_eq!(to_bob.len(), 1);
        assert_eq!(to_bob[0].0, [DeviceId::from("laptop")]);
        assert!(matches!(to_bob[0].1, Signal::Incoming { .. }));
        out.clear();
        reg.presence(BOB, &[DeviceId::from("phone"), DeviceId::from("laptop")], T0 + 200, &mut out);
        assert_eq!(out, []);
        // The phone went away: it stops ringing.
        reg.presence(BOB, &[DeviceId::from("laptop")], T0 + 300, &mut out);
        assert_eq!(reg.get(CallId::new(1)).map(|c| c.ringing_devices().to_vec()), Some(vec![DeviceId::from("laptop")]));
        reg.handle(CallId::new(1), accept(BOB, "laptop"), T0 + 400, &mut out).unwrap();
        // Alice's device dropped everywhere: Bob hears of it; back: resumed.
        out.clear();
        reg.presence(ALICE, &[], T0 + 500, &mut out);
        assert_eq!(sends_to(&out, BOB), [(vec![DeviceId::from("laptop")], Signal::PeerDisconnected)]);
        assert!(reg.get(CallId::new(1)).is_some_and(|c| c.is_away(&ep(ALICE, "main"))));
        out.clear();
        reg.presence(ALICE, &[DeviceId::from("other"), DeviceId::from("main")], T0 + 600, &mut out);
        assert_eq!(sends_to(&out, BOB), [(vec![DeviceId::from("laptop")], Signal::PeerReconnected)]);
        assert!(matches!(sends_to(&out, ALICE)[..], [(_, Signal::Resumed { .. })]));
        assert_eq!(reg.users(), [ALICE, BOB]);
        reg.check_invariants();
    }

    #[test]
    fn a_minted_call_id_names_its_node() {
        for (node, random) in [(0, u128::MAX), (7, 12_345), (1023, 0), (u16::MAX, u128::MAX)] {
            let id = CallId::minted(node, random);
            assert_eq!(id.owner(), node);
            assert_eq!(id.to_string().parse::<CallId>().map(CallId::owner), Ok(node));
        }
        assert_ne!(CallId::minted(3, 1), CallId::minted(4, 1));
    }

    #[test]
    fn an_active_callee_is_busy_too() {
        let mut reg = registry();
        reg.place(invite(1, ALICE, BOB, &["main"]), T0, &mut Vec::new()).unwrap();
        reg.handle(CallId::new(1), accept(BOB, "main"), T0, &mut Vec::new()).unwrap();
        let mut out = Vec::new();
        reg.place(invite(2, CAROL, BOB, &["main"]), T0, &mut out).unwrap();
        assert_eq!(finished(&out)[0].outcome, CallOutcome::Busy);
    }

    #[test]
    fn placements_refused() {
        let mut reg = registry();
        let mut out = Vec::new();
        reg.place(invite(1, ALICE, BOB, &["main"]), T0, &mut out).unwrap();
        out.clear();
        assert_eq!(reg.place(invite(2, ALICE, CAROL, &["main"]), T0, &mut out), Err(CallError::AlreadyInCall));
        assert_eq!(reg.place(invite(3, DAVE, DAVE, &["main"]), T0, &mut out), Err(CallError::SelfCall));
        assert_eq!(
            reg.place(invite(1, CAROL, DAVE, &["main"]), T0, &mut out),
            Err(CallError::DuplicateId(CallId::new(1)))
        );
        assert!(out.is_empty());
        assert!(reg.call_of(CAROL).is_none() && reg.call_of(DAVE).is_none());
        reg.check_invariants();
    }

    #[test]
    fn events_for_unknown_calls_and_strangers_are_not_found() {
        let mut reg = registry();
        let mut out = Vec::new();
        let hangup = |user| CallEvent::Hangup { by: ep(user, "main") };
        assert_eq!(reg.handle(CallId::new(9), hangup(ALICE), T0, &mut out), Err(CallError::NotFound));
        reg.place(invite(1, ALICE, BOB, &["main"]), T0, &mut out).unwrap();
        assert_eq!(reg.handle(CallId::new(1), hangup(CAROL), T0, &mut out), Err(CallError::NotFound));
        let ice = CallEvent::Ice { from: ep(CAROL, "main"), candidate: "c".into() };
        assert_eq!(reg.handle(CallId::new(1), ice, T0, &mut out), Err(CallError::NotFound));
    }

    #[test]
    fn the_ring_timeout_runs_on_tick_and_frees_both_users() {
        let mut reg = registry();
        let mut out = Vec::new();
        reg.place(invite(1, ALICE, BOB, &["main", "tablet"]), T0, &mut out).unwrap();
        out.clear();
        reg.tick(T0 + RING - 1, &mut out);
        assert!(out.is_empty());
        let at = reg.next_deadline().unwrap();
        reg.tick(at, &mut out);
        assert_eq!(finished(&out)[0].outcome, CallOutcome::Missed);
        assert!(reg.call_of(ALICE).is_none() && reg.call_of(BOB).is_none());
        assert_eq!(reg.next_deadline(), Some(T0 + RING + KEEP), "kept for late frames");
        reg.check_invariants();
    }

    #[test]
    fn a_placement_applies_the_deadlines_due_first() {
        let mut reg = registry();
        reg.place(invite(1, ALICE, BOB, &["main"]), T0, &mut Vec::new()).unwrap();
        // The timer has not fired yet, but the first call is over by now.
        let mut out = Vec::new();
        reg.place(invite(2, ALICE, CAROL, &["main"]), T0 + RING, &mut out).unwrap();
        let f = finished(&out);
        assert_eq!((f[0].call, f[0].outcome), (CallId::new(1), CallOutcome::Missed));
        assert_eq!(reg.call_of(ALICE).map(Call::id), Some(CallId::new(2)));
    }

    #[test]
    fn late_frames_learn_the_call_ended_then_forgotten() {
        let mut reg = registry();
        let mut out = Vec::new();
        reg.place(invite(1, ALICE, BOB, &["main"]), T0, &mut out).unwrap();
        reg.handle(CallId::new(1), CallEvent::Cancel { by: ep(ALICE, "main") }, T0 + 1_000, &mut out).unwrap();
        let late = reg.handle(CallId::new(1), accept(BOB, "main"), T0 + 1_000 + KEEP - 1, &mut out);
        assert_eq!(late, Err(CallError::Ended(CallOutcome::Cancelled)), "accepting a cancelled call");
        let forgotten = reg.handle(CallId::new(1), accept(BOB, "main"), T0 + 1_000 + KEEP, &mut out);
        assert_eq!(forgotten, Err(CallError::NotFound));
        assert!(reg.get(CallId::new(1)).is_none());
        assert_eq!(reg.next_deadline(), None);
        assert_eq!(finished(&out).len(), 1);
        reg.check_invariants();
    }

    #[test]
    fn connection_events_find_the_users_call() {
        let mut reg = registry();
        let mut out = Vec::new();
        reg.place(invite(1, ALICE, BOB, &["main"]), T0, &mut out).unwrap();
        reg.handle(CallId::new(1), accept(BOB, "main"), T0 + 1_000, &mut out).unwrap();
        out.clear();
        reg.disconnected(ep(CAROL, "main"), T0 + 2_000, &mut out);
        assert!(out.is_empty(), "not in a call");
        reg.disconnected(ep(BOB, "main"), T0 + 2_000, &mut out);
        assert!(matches!(&out[..], [Effect::Send { to: ALICE, signal: Signal::PeerDisconnected, .. }]));
        assert_eq!(reg.next_deadline(), Some(T0 + 2_000 + GRACE));
        reg.reconnected(ep(BOB, "main"), T0 + 3_000, &mut out);
        assert_eq!(reg.next_deadline(), None);
        reg.disconnected(ep(ALICE, "main"), T0 + 4_000, &mut out);
        out.clear();
        reg.tick(T0 + 4_000 + GRACE, &mut out);
        let f = finished(&out);
        assert_eq!(
            (f[0].outcome, f[0].reason, f[0].duration_ms),
            (CallOutcome::Completed, EndReason::ConnectionLost { user: ALICE }, 3_000)
        );
        assert!(reg.call_of(BOB).is_none());
        reg.check_invariants();
    }

    #[test]
    fn a_callee_device_coming_online_while_it_rings_is_rung() {
        let mut reg = registry();
        let mut out = Vec::new();
        reg.place(invite(1, ALICE, BOB, &[]), T0, &mut out).unwrap();
        assert_eq!(finished(&out)[0].reason, EndReason::Unavailable, "nobody to ring");
        assert!(reg.call_of(ALICE).is_none() && reg.call_of(BOB).is_none());
        reg.place(invite(2, ALICE, BOB, &["main"]), T0, &mut out).unwrap();
        out.clear();
        reg.reconnected(ep(BOB, "laptop"), T0 + 1_000, &mut out);
        assert!(matches!(&out[..], [Effect::Send { to: BOB, signal: Signal::Incoming { .. }, .. }]));
        reg.handle(CallId::new(2), accept(BOB, "laptop"), T0 + 2_000, &mut out).unwrap();
    }

    #[test]
    fn a_restart_ends_every_call_once_and_frees_everyone() {
        let mut reg = registry();
        let mut out = Vec::new();
        reg.place(invite(1, ALICE, BOB, &["main"]), T0, &mut out).unwrap();
        reg.handle(CallId::new(1), accept(BOB, "main"), T0 + 10_000, &mut out).unwrap();
        reg.place(invite(2, CAROL, DAVE, &["main"]), T0 + 20_000, &mut out).unwrap();
        out.clear();
        reg.shutdown(T0 + 25_000, &mut out);
        let f = finished(&out);
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].call, f[0].outcome, f[0].reason, f[0].duration_ms),
            (CallId::new(1), CallOutcome::Completed, EndReason::Shutdown, 15_000)
        );
        assert_eq!((f[1].call, f[1].outcome, f[1].reason), (CallId::new(2), CallOutcome::Missed, EndReason::Shutdown));
        assert_eq!(reg.live_calls().count(), 0);
        for user in [ALICE, BOB, CAROL, DAVE] {
            assert!(reg.call_of(user).is_none());
        }
        out.clear();
        reg.shutdown(T0 + 26_000, &mut out);
        assert!(out.is_empty(), "nothing finishes twice");
        reg.check_invariants();
    }

    // --- file sessions ------------------------------------------------------

    fn file(id: u128, caller: UserId, callee: UserId) -> Invite {
        Invite { media: CallMedia::File, ..invite(id, caller, callee, &["main"]) }
    }

    #[test]
    fn a_file_session_rings_and_relays_like_a_call_but_busies_nobody() {
        let mut reg = registry();
        let mut out = Vec::new();
        reg.place(invite(1, ALICE, BOB, &["main"]), T0, &mut out).unwrap();
        reg.handle(CallId::new(1), accept(BOB, "main"), T0, &mut out).unwrap();
        out.clear();
        // Alice sends bob a file during their call, and carol sends alice one.
        reg.place(file(2, ALICE, BOB), T0 + 1_000, &mut out).unwrap();
        reg.place(file(3, CAROL, ALICE), T0 + 1_000, &mut out).unwrap();
        assert!(finished(&out).is_empty(), "neither is busy");
        assert!(matches!(
            &out[0],
            Effect::Send { to: BOB, signal: Signal::Incoming { media: CallMedia::File, .. }, .. }
        ));
        assert_eq!(reg.call_of(ALICE).map(Call::id), Some(CallId::new(1)), "still in the call");
        assert!(reg.call_of(CAROL).is_none(), "a file session is not a call");
        assert_eq!((reg.file_sessions_of(ALICE), reg.file_sessions_of(BOB)), (2, 1));
        // Carol may still call, and be called, while her file session rings.
        reg.place(invite(4, CAROL, DAVE, &["main"]), T0 + 1_000, &mut out).unwrap();
        assert!(finished(&out).is_empty());
        reg.check_invariants();

        out.clear();
        reg.handle(CallId::new(2), accept(BOB, "main"), T0 + 2_000, &mut out).unwrap();
        reg.handle(
            CallId::new(2),
            CallEvent::Ice { from: ep(BOB, "main"), candidate: "b".into() },
            T0 + 2_000,
            &mut out,
        )
        .unwrap();
        let to_alice: Vec<&Signal> = out
            .iter()
            .filter_map(|e| match e {
                Effect::Send { to: ALICE, signal, .. } => Some(signal),
                _ => None,
            })
            .collect();
        assert!(matches!(&to_alice[..], [Signal::Accepted { .. }, Signal::Ice { .. }]), "{out:?}");
        // A dropped connection reaches the file session as well as the call.
        out.clear();
        reg.disconnected(ep(BOB, "main"), T0 + 3_000, &mut out);
        let told = out.iter().filter(|e| matches!(e, Effect::Send { to: ALICE, signal: Signal::PeerDisconnected, .. }));
        assert_eq!(told.count(), 2, "{out:?}");
        reg.reconnected(ep(BOB, "main"), T0 + 4_000, &mut out);
        out.clear();
        reg.handle(CallId::new(2), CallEvent::Hangup { by: ep(ALICE, "main") }, T0 + 5_000, &mut out).unwrap();
        let f = finished(&out);
        assert_eq!((f.len(), f[0].media, f[0].outcome), (1, CallMedia::File, CallOutcome::Completed));
        assert_eq!((reg.file_sessions_of(ALICE), reg.file_sessions_of(BOB)), (1, 0));
        assert_eq!(reg.call_of(BOB).map(Call::id), Some(CallId::new(1)), "the call goes on");
        reg.check_invariants();
    }

    #[test]
    fn file_sessions_are_capped_per_user_on_either_side() {
        let mut reg = registry();
        let mut out = Vec::new();
        let cap = MAX_FILE_SESSIONS_PER_USER as u128;
        for n in 0..cap {
            reg.place(file(n + 1, ALICE, BOB), T0, &mut out).unwrap();
        }
        out.clear();
        assert_eq!(reg.place(file(cap + 1, ALICE, CAROL), T0, &mut out), Err(CallError::TooManyFileSessions));
        assert_eq!(reg.place(file(cap + 2, CAROL, BOB), T0, &mut out), Err(CallError::TooManyFileSessions));
        assert!(out.is_empty() && reg.file_sessions_of(CAROL) == 0);
        // Calls are not capped by file sessions.
        reg.place(invite(cap + 3, ALICE, CAROL, &["main"]), T0, &mut out).unwrap();
        // One ends (the ring timeout applies to file sessions too): room again.
        reg.handle(CallId::new(1), CallEvent::Cancel { by: ep(ALICE, "main") }, T0 + 1, &mut out).unwrap();
        reg.place(file(cap + 4, CAROL, BOB), T0 + 2, &mut out).unwrap();
        out.clear();
        reg.tick(T0 + RING + 2, &mut out);
        assert_eq!(finished(&out).len(), 5, "four file sessions and the call rang out");
        assert_eq!((reg.file_sessions_of(ALICE), reg.file_sessions_of(BOB)), (0, 0));
        reg.check_invariants();
    }

    // --- random sequences --------------------------------------------------

    const USERS: u8 = 4;
    const DEVICES: [&str; 2] = ["main", "second"];

    #[derive(Debug, Clone)]
    enum Op {
        /// `online`: a bit per device of the callee; bit 2 makes it a file
        /// session.
        Place {
            caller: u8,
            device: u8,
            callee: u8,
            online: u8,
        },
        /// `call`: below 10, the user's own live call; else the
        /// `call - 10`th most recent call placed (past the end: an unknown id).
        Act {
            user: u8,
            device: u8,
            call: u8,
            action: u8,
        },
        Disconnect {
            user: u8,
            device: u8,
        },
        Reconnect {
            user: u8,
            device: u8,
        },
        Wait(u32),
        Tick,
    }

    fn op() -> impl Strategy<Value = Op> {
        let user = 1..=USERS;
        prop_oneof![
            3 => (user.clone(), 0..2u8, 1..=USERS, 0..8u8)
                .prop_map(|(caller, device, callee, online)| Op::Place { caller, device, callee, online }),
            6 => (user.clone(), 0..2u8, 0..14u8, 0..8u8)
                .prop_map(|(user, device, call, action)| Op::Act { user, device, call, action }),
            1 => (user.clone(), 0..2u8).prop_map(|(user, device)| Op::Disconnect { user, device }),
            1 => (user, 0..2u8).prop_map(|(user, device)| Op::Reconnect { user, device }),
            2 => (0..30_000u32).prop_map(Op::Wait),
            1 => Just(Op::Tick),
        ]
    }

    fn action(code: u8, by: Endpoint) -> CallEvent {
        match code {
            0 => CallEvent::Ringing { by },
            1 => CallEvent::Accept { by, answer: "a".into() },
            2 => CallEvent::Reject { by, reason: RejectReason::Declined },
            3 => CallEvent::Reject { by, reason: RejectReason::Busy },
            4 => CallEvent::Cancel { by },
            5 => CallEvent::Hangup { by },
            6 => CallEvent::Ice { from: by, candidate: "c".into() },
            _ => CallEvent::Renegotiate { from: by, kind: SdpKind::Offer, sdp: "s".into() },
        }
    }

    /// What the sequence has produced so far, checked effect by effect.
    #[derive(Default)]
    struct Ledger {
        finished: HashMap<CallId, Finished>,
    }

    impl Ledger {
        fn record(&mut self, reg: &CallRegistry, out: &[Effect]) {
            for effect in out {
                match effect {
                    Effect::Send { call, to, devices, .. } => {
                        assert!(!self.finished.contains_key(call), "{call} speaks after finishing");
                        assert!(!devices.is_empty());
                        let c = reg.get(*call).expect("a call that speaks is known");
                        assert!(c.participants().contains(to), "{call} sends to a stranger");
                    }
                    Effect::Finished(f) => {
                        assert!(self.finished.insert(f.call, f.clone()).is_none(), "{} finished twice", f.call);
                        match (f.outcome, f.answered_at) {
                            (CallOutcome::Completed, Some(answered)) => {
                                assert!(i64::from(f.duration_ms) <= f.ended_at - answered, "{f:?}");
                            }
                            (CallOutcome::Completed, None) => panic!("completed but never answered: {f:?}"),
                            (_, answered) => assert!(answered.is_none() && f.duration_ms == 0, "{f:?}"),
                        }
                        assert!(f.created_at <= f.ended_at);
                    }
                }
            }
        }
    }

    fn run(ops: Vec<Op>) {
        let config = CallConfig::default();
        let mut reg = CallRegistry::new(config);
        let mut ledger = Ledger::default();
        let mut placed: Vec<CallId> = Vec::new();
        let mut now = T0;
        for (n, op) in ops.into_iter().enumerate() {
            let mut out = Vec::new();
            match op {
                Op::Place { caller, device, callee, online } => {
                    let id = CallId::new(n as u128 + 1);
                    let devices = DEVICES.iter().enumerate().filter(|(i, _)| online & (1 << i) != 0);
                    let invite = Invite {
                        id,
                        caller: ep(caller.into(), DEVICES[usize::from(device)]),
                        callee: callee.into(),
                        media: if online & 4 != 0 { CallMedia::File } else { CallMedia::Video },
                        offer: "o".into(),
                        callee_devices: devices.map(|(_, &d)| DeviceId::from(d)).collect(),
                    };
                    let caller_was_busy = reg.call_of(caller.into()).is_some();
                    let at_cap =
                        |reg: &CallRegistry, u: u8| reg.file_sessions_of(u.into()) >= MAX_FILE_SESSIONS_PER_USER;
                    let was_at_cap = at_cap(&reg, caller) || at_cap(&reg, callee);
                    match reg.place(invite, now, &mut out) {
                        Ok(()) => placed.push(id),
                        Err(CallError::SelfCall) => assert_eq!(caller, callee),
                        Err(CallError::TooManyFileSessions) => {
                            assert!(online & 4 != 0 && (was_at_cap || at_cap(&reg, caller) || at_cap(&reg, callee)))
                        }
                        Err(CallError::AlreadyInCall) => {
                            assert!(caller_was_busy || reg.call_of(caller.into()).is_some())
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                Op::Act { user, device, call, action: code } => {
                    let own = reg.call_of(user.into()).map(Call::id).filter(|_| call < 10);
                    let recent = placed.iter().rev().nth(usize::from(call.saturating_sub(10))).copied();
                    let id = own.or(recent).unwrap_or(CallId::new(u128::MAX));
                    let by = ep(user.into(), DEVICES[usize::from(device)]);
                    let _ = reg.handle(id, action(code, by), now, &mut out);
                }
                Op::Disconnect { user, device } => {
                    reg.disconnected(ep(user.into(), DEVICES[usize::from(device)]), now, &mut out)
                }
                Op::Reconnect { user, device } => {
                    reg.reconnected(ep(user.into(), DEVICES[usize::from(device)]), now, &mut out)
                }
                Op::Wait(ms) => now += i64::from(ms),
                Op::Tick => reg.tick(now, &mut out),
            }
            ledger.record(&reg, &out);
            reg.check_invariants();
            // Every live call is a placed call that has not finished.
            for call in reg.live_calls() {
                assert!(!ledger.finished.contains_key(&call.id()));
            }
        }
        let mut out = Vec::new();
        reg.shutdown(now, &mut out);
        ledger.record(&reg, &out);
        reg.check_invariants();
        let placed: HashSet<CallId> = placed.into_iter().collect();
        let finished: HashSet<CallId> = ledger.finished.keys().copied().collect();
        assert_eq!(placed, finished, "every placed call finished exactly once");
        for user in 1..=USERS {
            assert!(reg.call_of(user.into()).is_none(), "user {user} stuck in a call");
            assert_eq!(reg.file_sessions_of(user.into()), 0, "user {user} stuck in a file session");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            rng_seed: RngSeed::Fixed(0xCA11),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn every_call_finishes_exactly_once(ops in prop::collection::vec(op(), 1..120)) {
            run(ops);
        }
    }
}
