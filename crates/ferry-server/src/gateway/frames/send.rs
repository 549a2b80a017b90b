//! `send` → `send_ack` once the message is durable.
//!
//! Admission (validation, membership, queueing for the writer) happens here,
//! before the session reads its next frame, so a connection's messages keep
//! their order; only the wait for durability runs concurrently.

use std::future::Future;

use ferry_proto::v1::{self, frame::Body};
use futures_util::{FutureExt as _, future::Either};

use super::{Ctx, Dispatched};
use crate::service::messaging::Target;

/// Not an `async fn`, which would keep the request beside the admission
/// future its parts move into: this future is built for every message (see
/// `Messaging::admit`).
pub fn send(ctx: &Ctx<'_>, id: u64, send: v1::SendMessage) -> impl Future<Output = Dispatched> {
    match Target::of(send.to) {
        Ok(target) => Either::Left(ctx.app.messaging.admit(ctx.me(), send.client_msg_id, target, send.content).map(
            move |admitted| match admitted {
                Ok(pending) => Dispatched::later(id, async move { pending.wait().await.map(Body::SendAck) }),
                Err(e) => Dispatched::now(id, Err(e)),
            },
        )),
        Err(e) => Either::Right(std::future::ready(Dispatched::now(id, Err(e)))),
    }
}
