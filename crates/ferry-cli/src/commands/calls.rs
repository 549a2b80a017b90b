//! Calls in a terminal: there is no camera or microphone here, so the CLI
//! never places or answers a call. It shows incoming ones (in `chat`) and
//! refuses them: `:decline` in `chat`, or `call decline [CALL_ID]` from a
//! shell. How the call ended reaches every device as its call-log message,
//! which `sync` and `chat` print like any other message.

use std::time::Duration;

use anyhow::{Result, anyhow};
use ferry_client::{CallEvent, CallSignal, Client, Event, EventReceiver, RejectReason, v1};

use super::{Ctx, Names, connect, not_found};
use crate::output;

/// An incoming call as it was announced: what `:decline` refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ringing {
    /// The call's id.
    pub call_id: String,
    /// Who calls.
    pub caller_id: i64,
}

/// How an incoming call is announced: `📞 alice is calling (video) — …`,
/// ending with how to refuse it (`how`).
pub fn incoming_line(caller: &str, incoming: &v1::CallIncoming, how: &str) -> String {
    let media = if incoming.media == "video" { "video" } else { "voice" };
    output::sanitize(&format!("📞 {caller} is calling ({media}) — {how}"))
}

/// Refuses `call_id` and says so: `📞 declined the call from alice`.
pub async fn refuse(client: &Client, call_id: &str, caller: Option<&str>, reason: RejectReason) -> Result<String> {
    client.reject(call_id, reason).await?;
    let what = if reason == RejectReason::Busy { "answered busy to" } else { "declined" };
    Ok(match caller {
        Some(caller) => output::sanitize(&format!("📞 {what} the call from {caller}")),
        None => format!("📞 {what} the call"),
    })
}

/// `call decline [CALL_ID] [--busy]`: refuses the call `call_id`, or else
/// the call that rings this device when it connects (within `wait`). A call
/// that `chat` on the same profile already shows does not ring again for a
/// second connection of the device: name its id (the chat prints it).
pub async fn decline(ctx: &Ctx, call_id: Option<&str>, busy: bool, wait: Duration) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let (client, mut events) = connect(&http, &profile).await?;
    let mut names = Names::new(http);
    let reason = if busy { RejectReason::Busy } else { RejectReason::Declined };
    let outcome = async {
        let (call_id, caller_id) = match call_id {
            Some(id) => (id.to_owned(), None),
            None => {
                let ringing = tokio::time::timeout(wait, next_incoming(&mut events)).await.map_err(|_| {
                    not_found(format!(
                        "no call rang within {}s (for a call `ferry chat` shows, give its id)",
                        wait.as_secs()
                    ))
                })??;
                (ringing.call_id, Some(ringing.caller_id))
            }
        };
        let caller = match caller_id {
            Some(id) => {
                if let Err(e) = names.resolve([id]).await {
                    tracing::debug!(error = %e, "name lookup failed");
                }
                Some(names.name(id))
            }
            None => None,
        };
        println!("{}", refuse(&client, &call_id, caller.as_deref(), reason).await?);
        Ok(())
    }
    .await;
    client.close().await;
    outcome
}

/// The first call that rings this device; other events are passed over
/// (messages are not saved: the next `sync` shows them).
async fn next_incoming(events: &mut EventReceiver) -> Result<Ringing> {
    while let Some(event) = events.recv().await {
        match event {
            Event::Call(CallEvent { call_id, signal: CallSignal::Incoming(i) }) => {
                return Ok(Ringing { call_id, caller_id: i.caller_id });
            }
            Event::Kicked { reason } => return Err(anyhow!("kicked: {reason}")),
            Event::Closed { error: Some(e) } => return Err(e.into()),
            _ => {}
        }
    }
    Err(anyhow!("connection closed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_calls_name_the_caller_and_the_way_out() {
        let video = v1::CallIncoming { media: "video".into(), ..Default::default() };
        assert_eq!(incoming_line("alice", &video, ":decline"), "📞 alice is calling (video) — :decline");
        let audio = v1::CallIncoming { media: "audio".into(), ..Default::default() };
        assert_eq!(incoming_line("bob\x1b[2J", &audio, "x"), "📞 bob\\u{1b}[2J is calling (voice) — x");
    }
}
