//! `send USER TEXT` and `send --group ID TEXT`: one message over the long
//! connection, retried until the server acknowledges it. Group texts
//! mention the members they name (`@bob`, `@all`).

use std::time::Duration;

use anyhow::{Result, bail};
use ferry_client::{ClientError, Target, group_conversation_id, text_content, text_with_mentions};

use super::{Ctx, connect, group};

/// How long to keep retrying before giving up.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Where `send` goes, from its arguments.
#[derive(Debug, PartialEq, Eq)]
pub enum SendTo<'a> {
    /// A user, by name.
    User(&'a str),
    /// A group, by id.
    Group(i64),
}

/// Reads `send`'s positional arguments: `USER TEXT`, or just `TEXT` with
/// `--group ID`.
pub fn parse_args(group: Option<i64>, args: &[String]) -> Result<(SendTo<'_>, &str)> {
    match (group, args) {
        (Some(id), [text]) => Ok((SendTo::Group(id), text)),
        (Some(_), _) => bail!("usage: ferry send --group ID TEXT"),
        (None, [user, text]) => Ok((SendTo::User(user), text)),
        (None, _) => bail!("usage: ferry send USER TEXT (or ferry send --group ID TEXT)"),
    }
}

/// Sends `text` and prints the ack.
pub async fn run(ctx: &Ctx, to: SendTo<'_>, text: &str) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let (target, content, label) = match to {
        SendTo::User(user) => {
            let peer = http.user_by_name(user).await?;
            (Target::User(peer.id), text_content(text), peer.username)
        }
        SendTo::Group(id) => {
            let mentions = group::resolve_mentions(&http, id, text).await?;
            let conversation = group_conversation_id(id);
            (Target::Conversation(conversation.clone()), text_with_mentions(text, mentions), conversation)
        }
    };
    // Nothing is displayed, so incoming events are not wanted.
    let (client, _) = connect(&http, &profile).await?;
    let send = client.send_with_id(ferry_client::new_client_msg_id(), target, content);
    let sent = tokio::time::timeout(SEND_TIMEOUT, send).await;
    client.close().await;
    let ack = sent.map_err(|_| ClientError::Timeout)??;
    println!("sent seq={} to {label}", ack.seq);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn arguments_pick_user_or_group() {
        let a = args(&["bob", "hi"]);
        assert_eq!(parse_args(None, &a).unwrap(), (SendTo::User("bob"), "hi"));
        let a = args(&["hi @bob"]);
        assert_eq!(parse_args(Some(5), &a).unwrap(), (SendTo::Group(5), "hi @bob"));
        assert!(parse_args(None, &args(&["hi"])).is_err());
        assert!(parse_args(Some(5), &args(&["bob", "hi"])).is_err());
    }
}
