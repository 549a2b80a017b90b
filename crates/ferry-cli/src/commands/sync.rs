//! `sync [--json]`: print everything newer than the profile's saved seqs
//! (except what the user deleted for themselves), then save the new ones.

use anyhow::{Result, anyhow};
use ferry_client::{Event, v1};

use super::{Ctx, Names, connect};
use crate::output;

/// Syncs, prints by conversation then seq, and saves the seqs.
pub async fn run(ctx: &Ctx, json: bool) -> Result<()> {
    let (mut profile, http) = ctx.session()?;
    let (client, mut events) = connect(&http, &profile).await?;

    // Messages pushed while syncing arrive as events rather than in the sync
    // result; collect them too (and keep the event channel drained, which
    // the sync needs).
    let collector = tokio::spawn(async move {
        let mut pushed = Vec::new();
        let mut failure = None;
        while let Some(event) = events.recv().await {
            match event {
                Event::Message(m) => pushed.push(m),
                Event::Kicked { reason } => failure = Some(anyhow!("kicked: {reason}")),
                Event::Closed { error: Some(e) } => failure = Some(e.into()),
                _ => {}
            }
        }
        (pushed, failure)
    });
    let synced = client.sync().await;
    client.close().await;
    let (pushed, failure) = collector.await?;
    let mut messages = synced?;
    if let Some(e) = failure {
        return Err(e);
    }
    messages.extend(pushed);
    // What the user deleted for themselves (or cleared) comes back as
    // content-less envelopes that keep the seqs gap-free; not shown.
    messages.retain(|m| !m.hidden);
    sort_for_display(&mut messages);

    let mut names = Names::new(http);
    names.insert(profile.user_id, profile.username.clone());
    names.resolve(messages.iter().flat_map(output::named_ids)).await?;
    let name = |id| names.name(id);
    for m in &messages {
        let line = if json { output::json_line(m, &name) } else { output::plain_line(m, &name) };
        println!("{line}");
    }

    profile.merge_seqs(client.known_seqs());
    ctx.save(&profile)
}

/// By conversation, then seq.
fn sort_for_display(messages: &mut [v1::Message]) {
    messages.sort_by(|a, b| a.conversation_id.cmp(&b.conversation_id).then(a.seq.cmp(&b.seq)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_order_is_conversation_then_seq() {
        let m = |c: &str, seq| v1::Message { conversation_id: c.into(), seq, ..Default::default() };
        let mut v = vec![m("d_1_3", 2), m("d_1_2", 5), m("d_1_3", 1), m("d_1_2", 4)];
        sort_for_display(&mut v);
        let got: Vec<_> = v.iter().map(|m| (m.conversation_id.as_str(), m.seq)).collect();
        assert_eq!(got, [("d_1_2", 4), ("d_1_2", 5), ("d_1_3", 1), ("d_1_3", 2)]);
    }
}
