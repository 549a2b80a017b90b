//! Users: the public view of an account, and lookups by id.

use ferry_core::{ApiError, UserId};
use serde::{Deserialize, Serialize};

/// A registered user as others see them (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Numeric id.
    pub id: i64,
    /// Unique login name, lower case.
    pub username: String,
    /// Display name (the username unless the user chose one).
    #[serde(default)]
    pub display_name: String,
    /// Avatar: an `http(s)://` URL, or a file id (read it with
    /// `GET /files/{id}/info`, which any signed-in user may); "" = none.
    #[serde(default)]
    pub avatar: String,
    /// Self-description; "" = none.
    #[serde(default)]
    pub bio: String,
    /// Registration time, Unix milliseconds.
    #[serde(default)]
    pub created_at: i64,
}

/// One user: `{"user": User}` (register, `PATCH /me`, `GET /users/{id}`,
/// `GET /users/by-name/{username}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserResponse {
    /// The user.
    pub user: User,
}

/// Several users: `{"users": [User]}` (`GET /users?ids=`, search).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserList {
    /// The users found; unknown ids are left out.
    pub users: Vec<User>,
}

/// `?ids=1,2,3`: user ids, comma-separated (`GET /users`, `GET /presence`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct IdsQuery {
    /// Comma-separated user ids, e.g. `1,2,3` (at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<String>,
}

impl IdsQuery {
    /// The query naming `ids` (none: the parameter is left out).
    pub fn new(ids: &[UserId]) -> Self {
        let ids = (!ids.is_empty()).then(|| ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(","));
        Self { ids }
    }

    /// The ids named (empty when the parameter is missing or blank).
    pub fn parse(&self) -> Result<Vec<UserId>, ApiError> {
        let Some(raw) = self.ids.as_deref().filter(|r| !r.trim().is_empty()) else { return Ok(Vec::new()) };
        raw.split(',')
            .map(|s| s.trim().parse::<UserId>())
            .collect::<Result<_, _>>()
            .map_err(|_| ApiError::invalid("ids must be a comma-separated list of user ids"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_snake_case_objects() {
        let user: User = serde_json::from_str(
            r#"{"id": 1, "username": "alice", "display_name": "Alice", "created_at": 1700000000000}"#,
        )
        .unwrap();
        assert_eq!((user.display_name.as_str(), user.avatar.as_str()), ("Alice", ""));
        let wrapped = serde_json::to_value(UserResponse { user }).unwrap();
        assert_eq!(wrapped["user"]["username"], "alice");
    }

    #[test]
    fn id_lists_round_trip() {
        let q = IdsQuery::new(&[1, 22, 3]);
        assert_eq!(q.ids.as_deref(), Some("1,22,3"));
        assert_eq!(q.parse().unwrap(), [1, 22, 3]);
        assert_eq!(IdsQuery::new(&[]).parse().unwrap(), Vec::<UserId>::new());
        assert_eq!(IdsQuery { ids: Some(" 4 , 5".into()) }.parse().unwrap(), [4, 5]);
        assert!(IdsQuery { ids: Some("1,x".into()) }.parse().is_err());
    }
}
