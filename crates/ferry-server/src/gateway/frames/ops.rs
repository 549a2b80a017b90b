//! Changing sent messages: `op` → `op_ack` once the event is durable;
//! `get_reactions` → `reactions`, `get_pins` → `pins`; `forward` →
//! `forward_result` once every target's copies are durable (or refused).
//!
//! An operation is admitted (checked and queued for the writer) before the
//! session reads its next frame, like a send, so a connection's sends and
//! operations keep their order.

use ferry_proto::v1::{self, frame::Body};

use super::{Ctx, Dispatched};
use crate::service::messaging::op_ack;

pub async fn op(ctx: &Ctx<'_>, id: u64, op: v1::MessageOp) -> Dispatched {
    // Boxed: admitting an operation is a large future, and `dispatch`'s
    // future — built for every frame, sends included — is as large as its
    // largest inline handler.
    match Box::pin(ctx.app.messaging.admit_op(ctx.me(), op)).await {
        Ok(pending) => Dispatched::later(id, async move { pending.wait().await.map(|ack| Body::OpAck(op_ack(ack))) }),
        Err(e) => Dispatched::now(id, Err(e)),
    }
}

pub async fn get_reactions(ctx: &Ctx<'_>, id: u64, g: v1::GetReactions) -> Dispatched {
    let (app, me) = (ctx.app(), ctx.me());
    Dispatched::later(id, async move {
        app.messaging.reactions(me, &g.conversation_id, g.seq, g.limit).await.map(Body::Reactions)
    })
}

pub async fn get_pins(ctx: &Ctx<'_>, id: u64, g: v1::GetPins) -> Dispatched {
    let (app, me) = (ctx.app(), ctx.me());
    Dispatched::later(id, async move { app.messaging.pins(me, &g.conversation_id).await.map(Body::Pins) })
}

pub async fn forward(ctx: &Ctx<'_>, id: u64, f: v1::Forward) -> Dispatched {
    let (app, me) = (ctx.app(), ctx.me());
    Dispatched::later(id, async move { app.messaging.forward(me, f).await.map(Body::ForwardResult) })
}
