//! `ping` → `pong`: the heartbeat (any frame resets the idle deadline; a
//! ping also tells the client the server's clock).

use ferry_proto::v1::{self, frame::Body};

use super::{Ctx, Dispatched};
use crate::service::now_ms;

pub async fn ping(_: &Ctx<'_>, id: u64, p: v1::Ping) -> Dispatched {
    Dispatched::now(id, Ok(Body::Pong(v1::Pong { client_time: p.client_time, server_time: now_ms() })))
}
