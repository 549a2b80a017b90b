//! `get_presence` → `presence_list`.

use ferry_proto::v1::{self, frame::Body};

use super::{Ctx, Dispatched};

pub async fn get_presence(ctx: &Ctx<'_>, id: u64, q: v1::GetPresence) -> Dispatched {
    let (app, me) = (ctx.app(), ctx.me());
    Dispatched::later(id, async move {
        let users = app.presence.query(me, &q.user_ids).await?;
        Ok(Body::PresenceList(v1::PresenceList { users }))
    })
}
