//! Sync: `list_conversations` → `conversations`, `pull` → `messages`,
//! `mark_read` → `mark_read_ok`; receipts and typing: `get_read_status` →
//! `read_status`, `typing` → `ack`; delete for me: `hide` → `hide_ok`;
//! settings: `update_conversation` → `conversation_settings`; search:
//! `search` → `search_result`.

use ferry_proto::v1::{self, frame::Body};

use super::{Ctx, Dispatched};

pub async fn list_conversations(ctx: &Ctx<'_>, id: u64, l: v1::ListConversations) -> Dispatched {
    let (app, me) = (ctx.app(), ctx.me());
    Dispatched::later(id, async move { app.messaging.conversation_list(me, &l.since).await.map(Body::Conversations) })
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

pub async fn get_read_status(ctx: &Ctx<'_>, id: u64, g: v1::GetReadStatus) -> Dispatched {
    let (app, me) = (ctx.app(), ctx.me());
    Dispatched::later(id, async move {
        app.messaging.read_status(me, &g.conversation_id, g.seq).await.map(Body::ReadStatus)
    })
}

pub async fn typing(ctx: &Ctx<'_>, id: u64, t: v1::Typing) -> Dispatched {
    let result = ctx.app.messaging.typing(ctx.me(), &t.conversation_id, t.typing).await;
    Dispatched::now(id, result.map(|()| Body::Ack(v1::Ack {})))
}

pub async fn hide(ctx: &Ctx<'_>, id: u64, h: v1::HideMessages) -> Dispatched {
    let (app, me) = (ctx.app(), ctx.me());
    Dispatched::later(id, async move { app.messaging.hide(me, h).await.map(Body::HideOk) })
}

pub async fn update_conversation(ctx: &Ctx<'_>, id: u64, s: v1::ConversationSettings) -> Dispatched {
    let (app, me) = (ctx.app(), ctx.me());
    Dispatched::later(id, async move { app.messaging.update_settings(me, s).await.map(Body::ConversationSettings) })
}

pub async fn search(ctx: &Ctx<'_>, id: u64, s: v1::Search) -> Dispatched {
    let (app, me) = (ctx.app(), ctx.me());
    Dispatched::later(id, async move { app.messaging.search(me, s).await.map(Body::SearchResult) })
}
