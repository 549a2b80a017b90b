//! Search: messages through the store's full-text index (what the user can
//! see now), and on a first unfiltered page also the user's friends and
//! groups whose names match. Query semantics are `ferry_core::search`'s.

use std::collections::HashMap;

use ferry_core::{ApiError, ConversationId, ErrorCode, SnowflakeGenerator, UserId, search::Query};
use ferry_proto::v1;
use ferry_store::{MessageSearch, StoredMessage};

use super::{Messaging, parse_conversation};
use crate::{config::HistoryVisibility, error::store_error, service::content};

/// Content kinds a search may filter on.
pub const KINDS: [&str; 11] = [
    "text",
    "image",
    "file",
    "voice",
    "video",
    "location",
    "link",
    "contact_card",
    "chat_record",
    "custom",
    "call_log",
];
/// Hits per page unless asked otherwise, and the most per page.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// Most friends and groups a first page lists.
pub const MAX_NAME_HITS: usize = 20;
/// Characters of a hit's snippet.
pub const SNIPPET_CHARS: usize = 80;

impl Messaging {
    /// One page of a search (see `v1::Search`).
    pub async fn search(&self, user: UserId, s: v1::Search) -> Result<v1::SearchResult, ApiError> {
        if !self.messages.search {
            return Err(ApiError::new(ErrorCode::Unavailable, "search is turned off on this server"));
        }
        let query = Query::parse(&s.query)?;
        let conversation = match s.conversation_id.as_str() {
            "" => None,
            id => {
                let c = parse_conversation(id)?;
                // As a pull: someone else's conversation is refused.
                self.check_member(user, c).await?;
                Some(c)
            }
        };
        for kind in &s.kinds {
            if !KINDS.contains(&kind.as_str()) {
                return Err(ApiError::invalid(format!("unknown kind {kind:?}; kinds: {}", KINDS.join(", "))));
            }
        }
        if s.sender_id < 0 || s.since < 0 || s.until < 0 {
            return Err(ApiError::invalid("sender_id, since and until are not negative"));
        }
        if s.since > 0 && s.until > 0 && s.since > s.until {
            return Err(ApiError::invalid("since is after until"));
        }
        let filtered = conversation.is_some() || s.sender_id != 0 || !s.kinds.is_empty();
        if query.is_empty() && !filtered {
            return Err(ApiError::invalid("a search needs a query (letters or digits) or a filter"));
        }
        let cursor = match s.cursor.as_str() {
            "" => None,
            c => Some(c.parse::<u64>().map_err(|_| ApiError::invalid("cursor is not one this server gave"))?),
        };
        // Ids grow with time: nothing sent by `until` has an id beyond the
        // first id a second later (a generator borrows at most that far).
        let until_bound = (s.until > 0).then(|| SnowflakeGenerator::first_id_at(s.until as u64 + 1_000));
        let before = match (cursor, until_bound) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let limit = match s.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        let page = self
            .store
            .search_messages(MessageSearch {
                conversation,
                sender: (s.sender_id != 0).then_some(s.sender_id),
                kinds: s.kinds.clone(),
                since: (s.since > 0).then_some(s.since),
                until: (s.until > 0).then_some(s.until),
                before,
                limit,
                full_history: self.groups.history_for_new_members == HistoryVisibility::Full,
                ..MessageSearch::new(user, query.clone())
            })
            .await
            .map_err(store_error)?;
        let hits = self.hits(&query, page.messages).await?;
        let (contacts, groups) = if cursor.is_none() && !filtered && !query.is_empty() {
            (self.matching_friends(user, &query).await?, self.matching_groups(user, &query).await?)
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(v1::SearchResult {
            hits,
            next_cursor: page.next.map(|n| n.to_string()).unwrap_or_default(),
            contacts,
            groups,
        })
    }

    /// Found messages as hits: the message as a pull shows it (quotes as
    /// the quoted messages are now) and a highlighted snippet.
    async fn hits(&self, query: &Query, found: Vec<StoredMessage>) -> Result<Vec<v1::SearchHit>, ApiError> {
        let mut messages: Vec<v1::Message> = Vec::with_capacity(found.len());
        let mut snippets = Vec::with_capacity(found.len());
        for m in found {
            let decoded = content::decode(&m);
            let snippet = ferry_core::search::snippet(query, &content::search_text(&decoded), SNIPPET_CHARS);
            snippets.push(snippet.into_iter().map(|p| v1::SnippetPart { text: p.text, hit: p.hit }).collect());
            messages.push(content::to_wire_with(m, decoded));
        }
        // Quotes per conversation, in seq order as `refresh_quotes` reads them.
        let mut by_conversation: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, m) in messages.iter().enumerate() {
            if m.content.as_ref().is_some_and(|c| c.quote.is_some()) {
                by_conversation.entry(m.conversation_id.clone()).or_default().push(i);
            }
        }
        for (id, at) in by_conversation {
            let conversation: ConversationId = parse_conversation(&id)?;
            let mut quoting: Vec<v1::Message> = at.iter().map(|&i| messages[i].clone()).collect();
            self.refresh_quotes(conversation, &mut quoting).await?;
            for (i, m) in at.into_iter().zip(quoting) {
                messages[i] = m;
            }
        }
        Ok(messages
            .into_iter()
            .zip(snippets)
            .map(|(message, snippet)| v1::SearchHit { message: Some(message), snippet })
            .collect())
    }

    /// The user's friends whose display name, remark or username matches.
    async fn matching_friends(&self, user: UserId, query: &Query) -> Result<Vec<v1::ContactHit>, ApiError> {
        let friends = self.store.friends_of(user).await.map_err(store_error)?;
        let remarks: HashMap<UserId, String> =
            friends.into_iter().filter(|f| !f.deleted).map(|f| (f.friend, f.remark)).collect();
        let ids: Vec<UserId> = remarks.keys().copied().collect();
        let mut users = self.store.users_by_ids(&ids).await.map_err(store_error)?;
        users.sort_by_key(|u| u.id);
        Ok(users
            .into_iter()
            .filter_map(|u| {
                let remark = remarks.get(&u.id).cloned().unwrap_or_default();
                let hit = query.matches(&u.display_name) || query.matches(&remark) || query.matches(&u.username);
                hit.then(|| v1::ContactHit {
                    user_id: u.id,
                    conversation_id: ConversationId::direct(user, u.id).to_string(),
                    username: u.username,
                    display_name: u.display_name,
                    remark,
                    avatar: u.avatar,
                })
            })
            .take(MAX_NAME_HITS)
            .collect())
    }

    /// The user's groups (not dismissed) whose name matches.
    async fn matching_groups(&self, user: UserId, query: &Query) -> Result<Vec<v1::GroupHit>, ApiError> {
        let groups = self.store.groups_of(user).await.map_err(store_error)?;
        Ok(groups
            .into_iter()
            .filter(|g| !g.dismissed && query.matches(&g.name))
            .take(MAX_NAME_HITS)
            .map(|g| v1::GroupHit {
                group_id: g.id,
                conversation_id: ConversationId::Group(g.id).to_string(),
                name: g.name,
                avatar: g.avatar,
                member_count: g.member_count,
            })
            .collect())
    }
}
