//! Conversation ids in their wire form, as tests write them into URLs,
//! frames and JSON bodies.

use ferry_core::ConversationId;

/// The direct conversation of `a` and `b` (`d_<low>_<high>`; the order of
/// the two does not matter).
pub fn direct_conversation(a: i64, b: i64) -> String {
    ConversationId::direct(a, b).to_string()
}

/// The conversation of group `group` (`g_<id>`).
pub fn group_conversation(group: i64) -> String {
    ConversationId::Group(group).to_string()
}
