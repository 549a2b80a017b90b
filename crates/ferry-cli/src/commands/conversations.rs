//! The conversation list and what belongs to a conversation rather than a
//! message: `conversations`, read positions (`read`, `read-status`), and
//! your own settings (`mute`, `pin-conversation`, `archive`, `draft`).
//! Conversations are named the way `send` names them (`USER`, `--group
//! ID`, or a conversation id such as `d_1_2`).

use anyhow::{Context as _, Result, bail};
use ferry_client::v1;
use ferry_core::ConversationId;

use super::{Conversation, Ctx, Names, not_found, parse_seq};
use crate::output;

/// A change to your settings of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// Pin it to the top of the list (or unpin it).
    Pinned(bool),
    /// Mute its notifications (or unmute).
    Muted(bool),
    /// Archive it until its next message (or bring it back).
    Archived(bool),
    /// Save the unsent text ("" clears it).
    Draft(String),
}

impl Setting {
    /// The settings request changing only this.
    fn request(&self, conversation: &ConversationId) -> v1::ConversationSettings {
        let mut s = v1::ConversationSettings { conversation_id: conversation.to_string(), ..Default::default() };
        match self {
            Self::Pinned(on) => s.pinned = Some(*on),
            Self::Muted(on) => s.muted = Some(*on),
            Self::Archived(on) => s.archived = Some(*on),
            Self::Draft(text) => s.draft = Some(text.clone()),
        }
        s
    }

    /// The confirmation line: `muted d_1_2`, `saved the draft of g_5`.
    fn done(&self, conversation: &ConversationId) -> String {
        match self {
            Self::Pinned(true) => format!("pinned conversation {conversation}"),
            Self::Pinned(false) => format!("unpinned conversation {conversation}"),
            Self::Muted(true) => format!("muted {conversation}"),
            Self::Muted(false) => format!("unmuted {conversation}"),
            Self::Archived(true) => format!("archived {conversation}"),
            Self::Archived(false) => format!("unarchived {conversation}"),
            Self::Draft(text) if text.is_empty() => format!("cleared the draft of {conversation}"),
            Self::Draft(_) => format!("saved the draft of {conversation}"),
        }
    }
}

/// Reads the arguments of a command taking a conversation and one more
/// argument that may be left out (`read USER [SEQ]`); `usage` is the error
/// otherwise.
pub fn parse_optional<'a>(
    group: Option<i64>,
    args: &'a [String],
    usage: &str,
) -> Result<(Conversation<'a>, Option<&'a str>)> {
    let (to, rest) = Conversation::split(group, args).with_context(|| format!("usage: {usage}"))?;
    match rest {
        [] => Ok((to, None)),
        [one] => Ok((to, Some(one.as_str()))),
        _ => bail!("usage: {usage}"),
    }
}

/// Reads `read`'s arguments: the conversation, and the seq to mark read up
/// to if given.
pub fn parse_read(group: Option<i64>, args: &[String]) -> Result<(Conversation<'_>, Option<u64>)> {
    let (to, seq) = parse_optional(group, args, "ferry read USER [SEQ] (or ferry read --group ID [SEQ])")?;
    Ok((to, seq.map(parse_seq).transpose()?))
}

/// Reads `draft`'s arguments: the conversation, then the text.
pub fn parse_draft(group: Option<i64>, args: &[String]) -> Result<(Conversation<'_>, &str)> {
    match Conversation::split(group, args) {
        Ok((to, [text])) => Ok((to, text)),
        _ => bail!("usage: ferry draft USER TEXT (or ferry draft --group ID TEXT; \"\" clears it)"),
    }
}

/// `conversations`: the list as the server orders it (pinned first, then
/// newest activity), archived ones only with `all`. Direct conversations
/// are named by the peer's username, groups by their name.
pub async fn list(ctx: &Ctx, json: bool, all: bool) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let conversations: Vec<v1::Conversation> =
        http.conversations().await?.into_iter().filter(|c| all || !c.archived).collect();
    let mut names = Names::new(http);
    names.insert(profile.user_id, profile.username.clone());
    let ids = conversations.iter().flat_map(|c| {
        let peer = (c.kind != "group").then_some(c.peer_user_id);
        let last = (!c.preview.is_empty()).then_some(c.last_sender_id);
        peer.into_iter().chain(last)
    });
    names.resolve(ids.collect::<Vec<_>>()).await?;
    let name = |id| names.name(id);
    for c in &conversations {
        let group = match c.conversation_id.parse::<ConversationId>() {
            Ok(ConversationId::Group(id)) => Some(id),
            _ => None,
        };
        let line = match group {
            Some(_) if json => output::conversation_json(c, None),
            Some(id) => {
                let title = if c.name.is_empty() { format!("group {id}") } else { c.name.clone() };
                output::conversation_line(c, &title, &name)
            }
            None if json => output::conversation_json(c, Some(&name(c.peer_user_id))),
            None => output::conversation_line(c, &name(c.peer_user_id), &name),
        };
        println!("{line}");
    }
    Ok(())
}

/// `read`: moves your read position in `to` to `seq`, by default to its
/// last message.
pub async fn read(ctx: &Ctx, to: Conversation<'_>, seq: Option<u64>) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let conversation = to.resolve(&http, profile.user_id).await?;
    let id = conversation.to_string();
    let seq = match seq {
        Some(seq) => seq,
        None => match http.conversations().await?.into_iter().find(|c| c.conversation_id == id) {
            Some(c) => c.max_seq,
            None => return Err(not_found(format!("no conversation {id} in your list"))),
        },
    };
    let ok = http.mark_read(&id, seq).await?;
    println!("read {id} up to #{}", ok.read_seq);
    Ok(())
}

/// `read-status`: who has read message `seq` of `to` (one you sent).
pub async fn read_status(ctx: &Ctx, to: Conversation<'_>, seq: u64, json: bool) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let conversation = to.resolve(&http, profile.user_id).await?;
    let status = http.read_status(&conversation.to_string(), seq).await?;
    let mut names = Names::new(http);
    names.insert(profile.user_id, profile.username.clone());
    names.resolve(status.read_user_ids.iter().chain(&status.unread_user_ids).copied().collect::<Vec<_>>()).await?;
    let name = |id| names.name(id);
    let line = if json { output::read_status_json(&status, &name) } else { output::read_status_line(&status, &name) };
    println!("{line}");
    Ok(())
}

/// `mute`, `pin-conversation`, `archive`, `draft`: changes one setting of
/// `to` and prints the confirmation.
pub async fn set(ctx: &Ctx, to: Conversation<'_>, setting: Setting) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let conversation = to.resolve(&http, profile.user_id).await?;
    http.update_conversation(&setting.request(&conversation)).await?;
    println!("{}", setting.done(&conversation));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_args as strings;

    #[test]
    fn read_takes_an_optional_seq() {
        let a = strings(&["bob"]);
        assert_eq!(parse_read(None, &a).unwrap(), (Conversation::User("bob"), None));
        let a = strings(&["d_1_2", "#4"]);
        assert_eq!(parse_read(None, &a).unwrap(), (Conversation::Id(ConversationId::direct(1, 2)), Some(4)));
        let group = Conversation::Id(ConversationId::Group(5));
        assert_eq!(parse_read(Some(5), &[]).unwrap(), (group, None));
        assert_eq!(parse_read(Some(5), &strings(&["3"])).unwrap(), (group, Some(3)));
        let usage = |a: &[&str]| parse_read(None, &strings(a)).unwrap_err().to_string();
        assert!(usage(&[]).starts_with("usage: ferry read"));
        assert!(usage(&["bob", "3", "4"]).starts_with("usage: ferry read"));
        assert!(usage(&["bob", "x"]).starts_with("SEQ must be"));
        // With --group, a username is one argument too many.
        assert!(parse_read(Some(5), &strings(&["bob", "3"])).is_err());
    }

    #[test]
    fn drafts_take_a_conversation_and_text() {
        let a = strings(&["bob", "see you"]);
        assert_eq!(parse_draft(None, &a).unwrap(), (Conversation::User("bob"), "see you"));
        let a = strings(&[""]);
        assert_eq!(parse_draft(Some(5), &a).unwrap(), (Conversation::Id(ConversationId::Group(5)), ""));
        assert!(parse_draft(None, &strings(&["bob"])).unwrap_err().to_string().starts_with("usage: ferry draft"));
        assert!(parse_draft(Some(5), &strings(&["bob", "x"])).is_err());
    }

    #[test]
    fn settings_change_one_field_and_say_so() {
        let c = ConversationId::direct(1, 2);
        let s = Setting::Muted(true).request(&c);
        assert_eq!(
            (s.conversation_id.as_str(), s.muted, s.pinned, s.archived, s.draft),
            ("d_1_2", Some(true), None, None, None)
        );
        assert_eq!(Setting::Pinned(false).request(&c).pinned, Some(false));
        assert_eq!(Setting::Archived(true).request(&c).archived, Some(true));
        assert_eq!(Setting::Draft(String::new()).request(&c).draft.as_deref(), Some(""));

        assert_eq!(Setting::Muted(true).done(&c), "muted d_1_2");
        assert_eq!(Setting::Muted(false).done(&c), "unmuted d_1_2");
        assert_eq!(Setting::Pinned(true).done(&c), "pinned conversation d_1_2");
        assert_eq!(Setting::Pinned(false).done(&c), "unpinned conversation d_1_2");
        assert_eq!(Setting::Archived(true).done(&c), "archived d_1_2");
        assert_eq!(Setting::Archived(false).done(&c), "unarchived d_1_2");
        let g = ConversationId::Group(5);
        assert_eq!(Setting::Draft("hi".into()).done(&g), "saved the draft of g_5");
        assert_eq!(Setting::Draft(String::new()).done(&g), "cleared the draft of g_5");
    }
}
