//! `delete USER SEQ[,SEQ…]` and `clear USER [--up-to SEQ]` (or `--group
//! ID`): deleting messages for yourself and clearing your history. Others
//! keep the messages; your devices stop showing them (`sync` and `chat` skip
//! what you hid), and clearing also marks the conversation read.

use anyhow::{Context as _, Result, bail};
use ferry_client::v1;
use ferry_core::ConversationId;

use super::{Conversation, Ctx, parse_seqs};

const DELETE_USAGE: &str = "ferry delete USER SEQ[,SEQ...] (or ferry delete --group ID SEQS)";

/// Reads `delete`'s arguments: the conversation (unless `--group` names it)
/// and a comma-separated list of seqs.
pub fn parse_delete(group: Option<i64>, args: &[String]) -> Result<(Conversation<'_>, Vec<u64>)> {
    let (to, rest) = Conversation::split(group, args).with_context(|| format!("usage: {DELETE_USAGE}"))?;
    let [seqs] = rest else { bail!("usage: {DELETE_USAGE}") };
    Ok((to, parse_seqs(seqs)?))
}

/// Reads `clear`'s conversation: a username or conversation id, or
/// `--group ID`.
pub fn parse_clear(group: Option<i64>, conversation: Option<&str>) -> Result<Conversation<'_>> {
    Conversation::pick(group, conversation, "ferry clear USER [--up-to SEQ] (or ferry clear --group ID)")
}

/// `delete`: hides `seqs` of `to` for the user.
pub async fn delete(ctx: &Ctx, to: Conversation<'_>, seqs: Vec<u64>) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let conversation = to.resolve(&http, profile.user_id).await?;
    let done = deleted(&conversation, &seqs);
    let hide = v1::HideMessages { conversation_id: conversation.to_string(), seqs, clear: false, up_to_seq: 0 };
    http.hide(&hide).await?;
    println!("{done}");
    Ok(())
}

/// `clear`: hides the history of `to` for the user, all of it or up to
/// `up_to`.
pub async fn clear(ctx: &Ctx, to: Conversation<'_>, up_to: Option<u64>) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let conversation = to.resolve(&http, profile.user_id).await?;
    // 0 asks the server for everything up to the conversation's last message.
    let hide = v1::HideMessages {
        conversation_id: conversation.to_string(),
        seqs: Vec::new(),
        clear: true,
        up_to_seq: up_to.unwrap_or(0),
    };
    http.hide(&hide).await?;
    println!("{}", cleared(&conversation, up_to));
    Ok(())
}

/// `deleted d_1_2 #3, #4 for you`.
fn deleted(conversation: &ConversationId, seqs: &[u64]) -> String {
    let seqs: Vec<String> = seqs.iter().map(|s| format!("#{s}")).collect();
    format!("deleted {conversation} {} for you", seqs.join(", "))
}

/// `cleared d_1_2 for you` / `cleared d_1_2 up to #5 for you`.
fn cleared(conversation: &ConversationId, up_to: Option<u64>) -> String {
    match up_to {
        Some(seq) => format!("cleared {conversation} up to #{seq} for you"),
        None => format!("cleared {conversation} for you"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_args as strings;

    #[test]
    fn deletes_take_a_conversation_and_seqs() {
        let a = strings(&["bob", "4,3"]);
        assert_eq!(parse_delete(None, &a).unwrap(), (Conversation::User("bob"), vec![3, 4]));
        let a = strings(&["#2"]);
        assert_eq!(parse_delete(Some(5), &a).unwrap(), (Conversation::Id(ConversationId::Group(5)), vec![2]));
        for bad in [&["bob"][..], &["bob", "3", "4"], &[]] {
            let e = parse_delete(None, &strings(bad)).unwrap_err().to_string();
            assert!(e.starts_with("usage: ferry delete"), "{bad:?}: {e}");
        }
        assert!(parse_delete(Some(5), &strings(&["bob", "3"])).is_err());
        assert!(parse_clear(None, Some("d_1_2")).is_ok());
        assert!(parse_clear(Some(5), Some("bob")).unwrap_err().to_string().starts_with("usage: ferry clear"));
    }

    #[test]
    fn confirmations_say_it_is_for_you() {
        let c = ConversationId::direct(1, 2);
        assert_eq!(deleted(&c, &[3, 4]), "deleted d_1_2 #3, #4 for you");
        assert_eq!(cleared(&c, None), "cleared d_1_2 for you");
        assert_eq!(cleared(&ConversationId::Group(5), Some(7)), "cleared g_5 up to #7 for you");
    }
}
