//! `send USER TEXT`: one message over the long connection, retried until
//! the server acknowledges it.

use std::time::Duration;

use anyhow::Result;
use ferry_client::{ClientError, Target};

use super::{Ctx, connect};

/// How long to keep retrying before giving up.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `text` to the user named `user` and prints the ack.
pub async fn run(ctx: &Ctx, user: &str, text: &str) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let peer = http.user_by_name(user).await?;
    // Nothing is displayed, so incoming events are not wanted.
    let (client, _) = connect(&http, &profile).await?;
    let sent = tokio::time::timeout(SEND_TIMEOUT, client.send_text(Target::User(peer.id), text)).await;
    client.close().await;
    let ack = sent.map_err(|_| ClientError::Timeout)??;
    println!("sent seq={} to {}", ack.seq, peer.username);
    Ok(())
}
