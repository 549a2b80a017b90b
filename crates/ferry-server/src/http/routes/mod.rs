//! Route handlers, one module per feature. Each handler extracts, makes one
//! service call and renders the answer ([`super::render`]); rules (limits,
//! paging, defaults) live in the services. Each carries its
//! `#[utoipa::path]`: route, parameters, bodies, answers and error codes for
//! the OpenAPI document ([`super::openapi`]).

pub mod auth;
pub mod calls;
pub mod contacts;
pub mod files;
pub mod groups;
pub mod messages;
pub mod presence;
pub mod uploads;
pub mod users;
