//! `send` → `send_ack` once the message is durable.
//!
//! Admission (validation, membership, queueing for the writer) happens here,
//! before the session reads its next frame, so a connection's messages keep
//! their order; only the wait for durability runs concurrently.

use ferry_proto::v1::{self, frame::Body};

use super::{Ctx, Dispatched};
use crate::service::messaging::Target;

pub async fn send(ctx: &Ctx<'_>, id: u64, send: v1::SendMessage) -> Dispatched {
    let target = match Target::of(send.to) {
        Ok(target) => target,
        Err(e) => return Dispatched::now(id, Err(e)),
    };
    match ctx.app.messaging.admit(ctx.me(), send.client_msg_id, target, send.content).await {
        Ok(pending) => Dispatched::later(id, async move { pending.wait().await.map(Body::SendAck) }),
        Err(e) => Dispatched::now(id, Err(e)),
    }
}
