//! `forward USER SEQ[,SEQ…] --to TARGET… [--to-group ID…] [--merged]`:
//! copies of messages (marked forwarded), or one chat record holding them,
//! into other conversations.
//!
//! The source is named the way `send` names a conversation (`USER`,
//! `--group ID`, or a conversation id); the targets by `--to` (a username or
//! a conversation id) and `--to-group`, each repeatable or comma-separated,
//! `--to` ones first. The server answers every target on its own, so one
//! refusing (a user who blocked you, a group that muted you) does not stop
//! the others: each gets a line, and the command fails only when none got
//! anything. Like the other message operations it is one HTTP request, not
//! retried.

use anyhow::{Context as _, Result, bail};
use ferry_client::{Target, new_client_msg_id};
use ferry_core::ConversationId;

use super::{Conversation, Ctx, parse_seqs};
use crate::output;

/// What to forward, where, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward<'a> {
    /// The conversation the messages are in.
    pub from: Conversation<'a>,
    /// Their seqs, sorted, without repeats.
    pub seqs: Vec<u64>,
    /// The targets, in the order given (`--to`, then `--to-group`).
    pub to: Vec<Conversation<'a>>,
    /// One chat record instead of copies.
    pub merged: bool,
}

const USAGE: &str = "ferry forward USER SEQ[,SEQ...] --to USER_OR_CONV (or --group ID SEQS, --to-group ID)";

/// Reads `forward`'s arguments: the source conversation (unless `--group`
/// names it) and the seqs, then the targets.
pub fn parse_args<'a>(
    group: Option<i64>,
    args: &'a [String],
    to: &'a [String],
    to_group: &[i64],
    merged: bool,
) -> Result<Forward<'a>> {
    let (from, rest) = Conversation::split(group, args).with_context(|| format!("usage: {USAGE}"))?;
    let [seqs] = rest else { bail!("usage: {USAGE}") };
    let mut targets: Vec<Conversation<'a>> = to.iter().map(|t| Conversation::parse(t.trim())).collect();
    targets.extend(to_group.iter().map(|&id| Conversation::Id(ConversationId::Group(id))));
    if targets.is_empty() {
        bail!("usage: {USAGE}");
    }
    Ok(Forward { from, seqs: parse_seqs(seqs)?, to: targets, merged })
}

/// Forwards and prints one line per target; fails if no target got the
/// messages.
pub async fn run(ctx: &Ctx, f: Forward<'_>) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let source = f.from.resolve(&http, profile.user_id).await?;
    // Usernames are looked up first: a typo refuses the whole command
    // before anything is sent.
    let mut labels = Vec::with_capacity(f.to.len());
    let mut targets = Vec::with_capacity(f.to.len());
    for to in &f.to {
        match *to {
            Conversation::User(name) => {
                let user = http.user_by_name(name).await?;
                labels.push(user.username);
                targets.push(Target::User(user.id));
            }
            Conversation::Id(id) => {
                labels.push(id.to_string());
                targets.push(Target::Conversation(id.to_string()));
            }
        }
    }
    // 32 hex digits: within the 40 bytes a forward's id may have.
    let request = ferry_client::forward(new_client_msg_id(), source.to_string(), f.seqs.clone(), targets, f.merged);
    let result = http.forward(&request).await?;
    if result.outcomes.len() != labels.len() {
        bail!("the server answered {} outcomes for {} targets", result.outcomes.len(), labels.len());
    }
    let mut refused = 0;
    for (label, outcome) in labels.iter().zip(&result.outcomes) {
        refused += usize::from(outcome.error.is_some());
        let messages = if f.merged { f.seqs.len() } else { outcome.acks.len() };
        println!("{}", output::forward_line(label, outcome, messages, f.merged));
    }
    if refused == labels.len() {
        bail!("nothing forwarded: every target refused");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_args as strings;

    #[test]
    fn sources_seqs_and_targets_are_read() {
        let args = strings(&["bob", "3,#5,4"]);
        let to = strings(&["carol", "d_1_4"]);
        let f = parse_args(None, &args, &to, &[7], true).unwrap();
        assert_eq!(f.from, Conversation::User("bob"));
        assert_eq!(f.seqs, [3, 4, 5]);
        assert_eq!(
            f.to,
            [
                Conversation::User("carol"),
                Conversation::Id(ConversationId::direct(1, 4)),
                Conversation::Id(ConversationId::Group(7))
            ]
        );
        assert!(f.merged);

        let args = strings(&["2"]);
        let f = parse_args(Some(5), &args, &[], &[6], false).unwrap();
        assert_eq!(
            (f.from, f.seqs, f.to),
            (Conversation::Id(ConversationId::Group(5)), vec![2], vec![Conversation::Id(ConversationId::Group(6))])
        );
    }

    #[test]
    fn malformed_forwards_are_refused() {
        let to = strings(&["carol"]);
        let usage = |e: anyhow::Error| e.to_string().starts_with("usage: ferry forward");
        // No seqs, seqs with --group and a user, no target.
        assert!(usage(parse_args(None, &strings(&["bob"]), &to, &[], false).unwrap_err()));
        assert!(usage(parse_args(Some(5), &strings(&["bob", "3"]), &to, &[], false).unwrap_err()));
        assert!(usage(parse_args(None, &strings(&["bob", "3"]), &[], &[], false).unwrap_err()));
        let bad = parse_args(None, &strings(&["bob", "3,x"]), &to, &[], false).unwrap_err();
        assert!(bad.to_string().starts_with("SEQ must be"), "{bad}");
    }
}
