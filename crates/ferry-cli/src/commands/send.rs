//! `send USER TEXT` and `send --group ID TEXT` (or `send d_1_2 TEXT` by
//! conversation id), optionally `--reply SEQ`: one message over the long
//! connection, retried until the server acknowledges it. Group texts
//! mention the members they name (`@bob`, `@all`).

use std::time::Duration;

use anyhow::{Result, bail};
use ferry_client::{ClientError, Target, replying_to, text_content, text_with_mentions};
use ferry_core::ConversationId;

use super::{Conversation, Ctx, connect, group};

/// How long to keep retrying before giving up.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads `send`'s positional arguments: `USER TEXT` (or `CONVERSATION
/// TEXT`), or just `TEXT` with `--group ID`.
pub fn parse_args(group: Option<i64>, args: &[String]) -> Result<(Conversation<'_>, &str)> {
    match Conversation::split(group, args) {
        Ok((to, [text])) => Ok((to, text)),
        _ if group.is_some() => bail!("usage: ferry send --group ID TEXT"),
        _ => bail!("usage: ferry send USER TEXT (or ferry send --group ID TEXT)"),
    }
}

/// Sends `text`, as a reply to message `reply` of the same conversation if
/// given, and prints the ack.
pub async fn run(ctx: &Ctx, to: Conversation<'_>, text: &str, reply: Option<u64>) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let (target, content, label) = match to {
        Conversation::User(user) => {
            let peer = http.user_by_name(user).await?;
            (Target::User(peer.id), text_content(text), peer.username)
        }
        Conversation::Id(ConversationId::Group(id)) => {
            let mentions = group::resolve_mentions(&http, id, text).await?;
            let conversation = ConversationId::Group(id).to_string();
            (Target::Conversation(conversation.clone()), text_with_mentions(text, mentions), conversation)
        }
        Conversation::Id(direct) => (Target::Conversation(direct.to_string()), text_content(text), direct.to_string()),
    };
    let content = match reply {
        Some(seq) => replying_to(content, seq),
        None => content,
    };
    // Nothing is displayed, so incoming events are not wanted.
    let (client, _) = connect(&http, &profile).await?;
    let send = client.send_with_id(ferry_client::new_client_msg_id(), target, content);
    let sent = tokio::time::timeout(SEND_TIMEOUT, send).await;
    client.close().await;
    let ack = sent.map_err(|_| ClientError::Timeout)??;
    match reply {
        Some(seq) => println!("sent seq={} to {label} (reply to #{seq})", ack.seq),
        None => println!("sent seq={} to {label}", ack.seq),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_args as args;

    #[test]
    fn arguments_pick_user_group_or_conversation() {
        let a = args(&["bob", "hi"]);
        assert_eq!(parse_args(None, &a).unwrap(), (Conversation::User("bob"), "hi"));
        let a = args(&["hi @bob"]);
        assert_eq!(parse_args(Some(5), &a).unwrap(), (Conversation::Id(ConversationId::Group(5)), "hi @bob"));
        let a = args(&["d_1_2", "hi"]);
        assert_eq!(parse_args(None, &a).unwrap(), (Conversation::Id(ConversationId::direct(1, 2)), "hi"));
        assert!(parse_args(None, &args(&["hi"])).is_err());
        assert!(parse_args(Some(5), &args(&["bob", "hi"])).is_err());
    }
}
