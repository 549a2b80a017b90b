//! `revoke`, `edit`, `react`, `pin` and `pins`: changing sent messages and
//! listing pinned ones. A message is named by its conversation, the way
//! `send` names one (`USER`, `--group ID`, or a conversation id such as
//! `d_1_2`), and its seq as `ferry sync` shows it (`[d_1_2 #3]`).
//!
//! Each operation is one HTTP request and is not retried: one that timed
//! out may have been applied, and repeating it would answer `conflict`.

use anyhow::{Context as _, Result, bail};
use ferry_client::{edit_op, message_op, pin_op, react_op, revoke_op, v1};
use ferry_core::ConversationId;

use super::{Conversation, Ctx, Names, parse_seq};
use crate::output::{self, sanitize};

/// What to do to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Recall it.
    Revoke,
    /// Replace its text.
    Edit(String),
    /// Add (or take back) a reaction.
    React { emoji: String, remove: bool },
    /// Pin (or unpin) it.
    Pin { unpin: bool },
}

impl Action {
    fn op(&self) -> v1::message_op::Op {
        match self {
            Self::Revoke => revoke_op(),
            Self::Edit(text) => edit_op(text.as_str()),
            Self::React { emoji, remove } => react_op(emoji.as_str(), *remove),
            Self::Pin { unpin } => pin_op(*unpin),
        }
    }

    /// The confirmation line: `recalled d_1_2 #3 (event #5)`, where the
    /// event is the message recording the change.
    fn done(&self, conversation: &ConversationId, seq: u64, event_seq: u64) -> String {
        let what = match self {
            Self::Revoke => format!("recalled {conversation} #{seq}"),
            Self::Edit(_) => format!("edited {conversation} #{seq}"),
            Self::React { emoji, remove: false } => format!("reacted {} to {conversation} #{seq}", sanitize(emoji)),
            Self::React { emoji, remove: true } => format!("removed {} from {conversation} #{seq}", sanitize(emoji)),
            Self::Pin { unpin: false } => format!("pinned {conversation} #{seq}"),
            Self::Pin { unpin: true } => format!("unpinned {conversation} #{seq}"),
        };
        format!("{what} (event #{event_seq})")
    }
}

/// Reads a message command's positional arguments: the conversation (unless
/// `--group` names it), the seq, then exactly `N` more; `usage` is the error
/// otherwise.
pub fn parse_target<'a, const N: usize>(
    group: Option<i64>,
    args: &'a [String],
    usage: &str,
) -> Result<(Conversation<'a>, u64, [&'a str; N])> {
    let (to, rest) = Conversation::split(group, args).with_context(|| format!("usage: {usage}"))?;
    let Some((seq, rest)) = rest.split_first() else { bail!("usage: {usage}") };
    let Ok(rest) = <&[String; N]>::try_from(rest) else { bail!("usage: {usage}") };
    Ok((to, parse_seq(seq)?, rest.each_ref().map(String::as_str)))
}

/// Reads `pins`' arguments: a username or conversation id, or `--group ID`,
/// not both.
pub fn parse_pins_target(group: Option<i64>, conversation: Option<&str>) -> Result<Conversation<'_>> {
    Conversation::pick(group, conversation, "ferry pins USER (or ferry pins --group ID)")
}

/// Applies `action` to message `seq` of `to` and prints the confirmation.
pub async fn apply(ctx: &Ctx, to: Conversation<'_>, seq: u64, action: Action) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let conversation = to.resolve(&http, profile.user_id).await?;
    let ack = http.op(&message_op(conversation.to_string(), seq, action.op())).await?;
    println!("{}", action.done(&conversation, seq, ack.seq));
    Ok(())
}

/// `pins`: the pinned messages of `to`, most recently pinned first, as
/// `sync` lines with who pinned them, or one JSON object per line.
pub async fn pins(ctx: &Ctx, to: Conversation<'_>, json: bool) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let conversation = to.resolve(&http, profile.user_id).await?;
    let pins = http.pins(&conversation.to_string()).await?;
    let mut names = Names::new(http);
    names.insert(profile.user_id, profile.username.clone());
    let ids = pins.iter().flat_map(|p| p.message.iter().flat_map(output::named_ids).chain([p.pinned_by]));
    names.resolve(ids.collect::<Vec<_>>()).await?;
    let name = |id| names.name(id);
    for p in &pins {
        let line = if json { output::pin_json(p, &name) } else { output::pin_line(p, &name) };
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_args as args;

    #[test]
    fn targets_are_a_conversation_and_a_seq() {
        let a = args(&["bob", "3"]);
        assert_eq!(parse_target::<0>(None, &a, "u").unwrap(), (Conversation::User("bob"), 3, []));
        let a = args(&["3", "new text"]);
        let group = Conversation::Id(ConversationId::Group(5));
        assert_eq!(parse_target::<1>(Some(5), &a, "u").unwrap(), (group, 3, ["new text"]));
        let a = args(&["d_1_2", "#4", "👍"]);
        let direct = Conversation::Id(ConversationId::direct(1, 2));
        assert_eq!(parse_target::<1>(None, &a, "u").unwrap(), (direct, 4, ["👍"]));

        // Too few, too many, or a seq that is not a number.
        let err =
            |group, a: &[&str]| parse_target::<0>(group, &args(a), "ferry revoke USER SEQ").unwrap_err().to_string();
        assert_eq!(err(None, &["bob"]), "usage: ferry revoke USER SEQ");
        assert_eq!(err(Some(5), &["bob", "3"]), "usage: ferry revoke USER SEQ");
        assert_eq!(err(None, &[]), "usage: ferry revoke USER SEQ");
        assert!(err(None, &["bob", "three"]).starts_with("SEQ must be"));
        assert!(parse_target::<1>(None, &args(&["bob", "3"]), "u").is_err());
    }

    #[test]
    fn pins_take_a_conversation_or_a_group() {
        assert_eq!(parse_pins_target(None, Some("bob")).unwrap(), Conversation::User("bob"));
        assert_eq!(parse_pins_target(Some(5), None).unwrap(), Conversation::Id(ConversationId::Group(5)));
        assert!(parse_pins_target(Some(5), Some("bob")).is_err());
        assert!(parse_pins_target(None, None).is_err());
    }

    #[test]
    fn confirmations_name_the_message_and_its_event() {
        let c = ConversationId::direct(1, 2);
        assert_eq!(Action::Revoke.done(&c, 3, 5), "recalled d_1_2 #3 (event #5)");
        assert_eq!(Action::Edit("x".into()).done(&c, 3, 6), "edited d_1_2 #3 (event #6)");
        let react = |remove| Action::React { emoji: "👍".into(), remove };
        assert_eq!(react(false).done(&c, 3, 7), "reacted 👍 to d_1_2 #3 (event #7)");
        assert_eq!(react(true).done(&c, 3, 8), "removed 👍 from d_1_2 #3 (event #8)");
        let g = ConversationId::Group(5);
        assert_eq!(Action::Pin { unpin: false }.done(&g, 3, 9), "pinned g_5 #3 (event #9)");
        assert_eq!(Action::Pin { unpin: true }.done(&g, 3, 10), "unpinned g_5 #3 (event #10)");
    }

    #[test]
    fn actions_become_ops() {
        use v1::message_op::Op;
        assert!(matches!(Action::Revoke.op(), Op::Revoke(_)));
        assert!(matches!(Action::Pin { unpin: true }.op(), Op::Pin(v1::message_op::Pin { unpin: true })));
        let Op::React(r) = (Action::React { emoji: "❤️".into(), remove: true }).op() else {
            panic!("not a reaction")
        };
        assert_eq!((r.emoji.as_str(), r.remove), ("❤️", true));
        let Op::Edit(e) = Action::Edit("fixed".into()).op() else { panic!("not an edit") };
        let m = v1::Message { content: e.content, ..Default::default() };
        assert_eq!(ferry_client::content::text_of(&m), "fixed");
    }
}
