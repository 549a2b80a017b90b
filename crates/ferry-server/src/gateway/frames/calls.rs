//! `call`: one step of a call (invite, ringing, accept, reject, cancel,
//! hangup, ICE, renegotiation), answered with `call_ack`. Handled before the
//! next frame is read, so a connection's call steps apply in the order sent
//! (an accept before the candidates that follow it).

use ferry_core::call::Endpoint;
use ferry_proto::v1::{self, frame::Body};

use super::{Ctx, Dispatched};
use crate::{bus::SessionAt, service::calls::Origin};

pub async fn call(ctx: &Ctx<'_>, id: u64, request: v1::CallRequest) -> Dispatched {
    let origin = Origin {
        endpoint: Endpoint::new(ctx.me(), ctx.authed.session.device_id.as_str()),
        session: SessionAt::local(ctx.session),
    };
    // Boxed for the same reason as `ops::op`: a call step is a large future.
    Dispatched::now(id, Box::pin(ctx.app.calls.request(origin, request)).await.map(Body::CallAck))
}
