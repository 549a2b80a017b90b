//! Route handlers, one module per feature.

pub mod auth;
pub mod contacts;
pub mod groups;
pub mod messages;
pub mod presence;
pub mod users;

use ferry_store::User;
use serde::Serialize;

/// The public view of a user (never the password hash).
#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub avatar: String,
    pub bio: String,
    pub created_at: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            avatar: u.avatar.clone(),
            bio: u.bio.clone(),
            created_at: u.created_at,
        }
    }
}

/// Parses `ids=1,2,3` (at most `max`).
pub fn parse_ids(raw: Option<&str>, max: usize) -> Result<Vec<i64>, ferry_core::ApiError> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else { return Ok(Vec::new()) };
    let ids: Vec<i64> = raw
        .split(',')
        .map(|s| s.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| ferry_core::ApiError::invalid("ids must be a comma-separated list of user ids"))?;
    if ids.len() > max {
        return Err(ferry_core::ApiError::invalid(format!("at most {max} ids")));
    }
    Ok(ids)
}
