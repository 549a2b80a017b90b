//! Sync: `list_conversations` → `conversations`, `pull` → `messages`,
//! `mark_read` → `mark_read_ok`.

use ferry_proto::v1::{self, frame::Body};

use super::{Ctx, Dispatched};

pub async fn list_conversations(ctx: &Ctx<'_>, id: u64, _: v1::ListConversations) -> Dispatched {
    let (app, me) = (ctx.app(), ctx.me());
    Dispatched::later(id, async move {
        let conversations = app.messaging.conversations(me).await?;
        Ok(Body::Conversations(v1::ConversationList { conversations }))
    })
}

pub async fn pull(ctx: &Ctx<'_>, id: u64, p: v1::PullMessages) -> Dispatched {
    let (app, me) = (ctx.app(), ctx.me());
    Dispatched::later(id, async move {
        app.messaging.pull(me, &p.conversation_id, p.after_seq, p.limit).await.map(Body::Messages)
    })
}

pub async fn mark_read(ctx: &Ctx<'_>, id: u64, m: v1::MarkRead) -> Dispatched {
    let (app, me) = (ctx.app(), ctx.me());
    Dispatched::later(
        id,
        async move { app.messaging.mark_read(me, &m.conversation_id, m.seq).await.map(Body::MarkReadOk) },
    )
}
