//! Request frames, one handler per feature: a handler turns one request into
//! its answer, now ([`Dispatched::Reply`]) or when a future completes
//! ([`Dispatched::Later`], answered by the session loop as it finishes, so
//! requests pipeline). A new request kind is a handler in a file here plus
//! one line in [`requests!`]'s list.

mod calls;
mod ops;
mod ping;
mod presence;
mod send;
mod sync;

use std::{future::Future, pin::Pin, sync::Arc};

use ferry_core::{ApiError, ErrorCode, UserId};
use ferry_proto::v1::{self, frame::Body};

use crate::{app::AppRef, error::error_frame, service::accounts::Authed};

/// What a request needs to know about its session.
pub struct Ctx<'a> {
    pub app: &'a AppRef,
    pub authed: &'a Authed,
    /// The hub's id of this connection.
    pub session: u64,
}

impl Ctx<'_> {
    /// The authenticated user.
    pub fn me(&self) -> UserId {
        self.authed.user.id
    }

    /// The app, for a future that outlives the borrow.
    pub fn app(&self) -> AppRef {
        Arc::clone(self.app)
    }
}

/// An answer that is still being worked out.
pub type Pending = Pin<Box<dyn Future<Output = v1::Frame> + Send>>;

/// How a request is answered.
// A reply is a whole frame (a message's size since the rich content kinds);
// boxing it would cost an allocation per answer.
#[allow(clippy::large_enum_variant)]
pub enum Dispatched {
    /// Answer now.
    Reply(v1::Frame),
    /// Answer when this completes.
    Later(Pending),
}

impl Dispatched {
    /// Answers `id` with `result` now.
    pub fn now(id: u64, result: Result<Body, ApiError>) -> Self {
        Self::Reply(answer(id, result))
    }

    /// Answers `id` with `work`'s result when it completes.
    pub fn later(id: u64, work: impl Future<Output = Result<Body, ApiError>> + Send + 'static) -> Self {
        Self::Later(Box::pin(async move { answer(id, work.await) }))
    }
}

/// A request being handled (see [`dispatch`]).
pub type Handling<'a> = Pin<Box<dyn Future<Output = Dispatched> + Send + 'a>>;

fn refuse(id: u64, e: ApiError) -> Handling<'static> {
    Box::pin(std::future::ready(Dispatched::now(id, Err(e))))
}

fn answer(id: u64, result: Result<Body, ApiError>) -> v1::Frame {
    match result {
        Ok(body) => v1::Frame { id, body: Some(body) },
        Err(e) => error_frame(id, &e, false),
    }
}

/// Generates [`dispatch`] from the list of client requests and handlers.
macro_rules! requests {
    ($($variant:ident => $handler:path),+ $(,)?) => {
        /// Routes one request to its handler. `auth` is refused (the session
        /// is authenticated already), frames only the server sends are
        /// `unknown_kind`.
        ///
        /// The handler's future is boxed, so each request costs the size of
        /// its own handler's future (a send's is the one that matters: see
        /// `Messaging::admit`), not of the largest.
        pub fn dispatch<'a>(ctx: &'a Ctx<'a>, id: u64, body: Body) -> Handling<'a> {
            match body {
                $(Body::$variant(request) => Box::pin($handler(ctx, id, request)),)+
                Body::Auth(_) => refuse(id, ApiError::bad_request("already authenticated")),
                _ => refuse(id, ApiError::new(ErrorCode::UnknownKind, "not a client request")),
            }
        }
    };
}

requests! {
    Ping => ping::ping,
    Send => send::send,
    ListConversations => sync::list_conversations,
    Pull => sync::pull,
    MarkRead => sync::mark_read,
    GetPresence => presence::get_presence,
    Op => ops::op,
    GetReactions => ops::get_reactions,
    GetPins => ops::get_pins,
    Forward => ops::forward,
    GetReadStatus => sync::get_read_status,
    Typing => sync::typing,
    Hide => sync::hide,
    UpdateConversation => sync::update_conversation,
    Search => sync::search,
    Call => calls::call,
}
