//! Ferry's domain vocabulary, shared by the server, the store and the clients:
//! ids ([`ids`]), the error codes both transports speak ([`error`]), input
//! validation and limits ([`validate`]), and the pure rules of groups
//! ([`group`]) and calls ([`call`]). Nothing here does I/O.

/// Stable wire names for a fieldless enum: `as_str`, `Display`, and a
/// `FromStr` that refuses any other string with `invalid_argument`.
macro_rules! string_enum {
    ($ty:ty { $($variant:ident => $s:literal),+ $(,)? }) => {
        impl $ty {
            /// The stable wire name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s),+ }
            }
        }
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ::std::str::FromStr for $ty {
            type Err = $crate::error::ApiError;
            fn from_str(s: &str) -> Result<Self, $crate::error::ApiError> {
                match s {
                    $($s => Ok(Self::$variant),)+
                    _ => Err($crate::error::ApiError::invalid(format!(concat!("unknown ", stringify!($ty), " {:?}"), s))),
                }
            }
        }
    };
}

pub mod call;
pub mod content;
pub mod error;
pub mod group;
pub mod ids;
pub mod search;
pub mod validate;

pub use error::{ApiError, ErrorCode};
pub use group::{JoinPolicy, Role};
pub use ids::{ConversationId, DeviceId, SnowflakeGenerator, UserId};
pub use validate::Limits;
