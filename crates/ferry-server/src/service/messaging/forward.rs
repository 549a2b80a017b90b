//! Forwarding: copies of messages, or one merged chat record, into up to
//! [`MAX_TARGETS`] conversations in one call, each target checked and
//! answered on its own.
//!
//! The copies travel the ordinary send path (the writer, dedup, fan-out)
//! under client ids derived from the forward's own, so a retried forward
//! stores nothing twice and each target's copies keep their order.

use ferry_core::{ApiError, ConversationId, ErrorCode, UserId, validate};
use ferry_proto::v1::{self, message_content::Kind};
use prost::Message as _;

use super::{Messaging, Target, parse_conversation};
use crate::{
    error::{proto_error, store_error},
    service::{content, writer::PendingAck},
};

/// Most messages one forward takes.
pub const MAX_MESSAGES: usize = 100;
/// Most conversations one forward reaches.
pub const MAX_TARGETS: usize = 20;
/// How deep chat records nest (a record of a record of a record).
pub const MAX_RECORD_DEPTH: usize = 3;
/// Longest forward client id: room for `:<target>:<index>` within the
/// 64-byte client_msg_id.
pub const MAX_FORWARD_ID_BYTES: usize = 40;

impl Messaging {
    /// Forwards messages of one conversation to several (see the proto's
    /// `Forward`).
    pub async fn forward(&self, user: UserId, f: v1::Forward) -> Result<v1::ForwardResult, ApiError> {
        validate::client_msg_id(&f.client_msg_id, &self.limits)?;
        if f.client_msg_id.len() > MAX_FORWARD_ID_BYTES {
            return Err(ApiError::invalid(format!(
                "a forward's client_msg_id must be at most {MAX_FORWARD_ID_BYTES} bytes"
            )));
        }
        let mut seqs = f.seqs.clone();
        seqs.sort_unstable();
        seqs.dedup();
        if seqs.is_empty() || seqs.len() > MAX_MESSAGES {
            return Err(ApiError::invalid(format!("forward 1-{MAX_MESSAGES} messages")));
        }
        if f.targets.is_empty() || f.targets.len() > MAX_TARGETS {
            return Err(ApiError::invalid(format!("forward to 1-{MAX_TARGETS} conversations")));
        }
        let source = parse_conversation(&f.conversation_id)?;
        let contents = self.forwardable(user, source, &seqs, f.merged).await?;

        // Queue every target's copies first (in order), then wait for them.
        let mut queued: Vec<(String, Result<Vec<PendingAck>, ApiError>)> = Vec::with_capacity(f.targets.len());
        for (t, target) in f.targets.into_iter().enumerate() {
            let conversation = match target.to {
                Some(v1::forward_target::To::UserId(u)) => self.resolve_for_send(user, Target::User(u), false).await,
                Some(v1::forward_target::To::ConversationId(c)) => {
                    self.resolve_for_send(user, Target::Conversation(c), false).await
                }
                None => Err(ApiError::invalid("a forward target needs a user_id or conversation_id")),
            };
            let conversation = match conversation {
                Ok(c) => c,
                Err(e) => {
                    queued.push((String::new(), Err(e)));
                    continue;
                }
            };
            let mut pending = Ok(Vec::with_capacity(contents.len()));
            for (i, c) in contents.iter().enumerate() {
                let index = if f.merged { "m".to_owned() } else { i.to_string() };
                // A space: no client id has one, so a copy never collides
                // with a plain send of the same user.
                let client_msg_id = format!("fw {}:{t}:{index}", f.client_msg_id);
                let admitted = content::server_written(c.clone());
                match self.enqueue(conversation, user, client_msg_id, admitted).await {
                    Ok(p) => {
                        if let Ok(list) = pending.as_mut() {
                            list.push(p);
                        }
                    }
                    Err(e) => {
                        pending = Err(e);
                        break;
                    }
                }
            }
            queued.push((conversation.to_string(), pending));
        }
        let mut outcomes = Vec::with_capacity(queued.len());
        for (conversation_id, pending) in queued {
            let mut outcome = v1::ForwardOutcome { conversation_id, ..Default::default() };
            match pending {
                Ok(list) => {
                    for p in list {
                        match p.wait().await {
                            Ok(ack) => outcome.acks.push(ack),
                            Err(e) => {
                                outcome.error = Some(proto_error(&e, false));
                                break;
                            }
                        }
                    }
                }
                Err(e) => outcome.error = Some(proto_error(&e, false)),
            }
            outcomes.push(outcome);
        }
        Ok(v1::ForwardResult { outcomes })
    }

    /// What forwarding `seqs` of `source` sends to each target: the copies,
    /// or one chat record. Every message must be one `user` can read and a
    /// forwardable kind.
    async fn forwardable(
        &self,
        user: UserId,
        source: ConversationId,
        seqs: &[u64],
        merged: bool,
    ) -> Result<Vec<v1::MessageContent>, ApiError> {
        let missing = |seq: u64| ApiError::not_found(format!("no message {seq} in {source}"));
        let visible_after = match self.check_member(user, source).await {
            Err(e) if e.code == ErrorCode::Forbidden => return Err(missing(seqs[0])),
            other => other?,
        };
        if let Some(&hidden) = seqs.iter().find(|&&s| s <= visible_after) {
            return Err(missing(hidden));
        }
        let found = self.store.messages_at(source, seqs).await.map_err(store_error)?;
        if let Some(&absent) = seqs.iter().find(|&&s| !found.iter().any(|m| m.seq == s)) {
            return Err(missing(absent));
        }
        let mut originals = Vec::with_capacity(found.len());
        for m in &found {
            let mut c = content::decode(m);
            match &c.kind {
                Some(Kind::Event(_)) => return Err(missing(m.seq)),
                Some(Kind::Revoked(_) | Kind::System(_) | Kind::CallLog(_)) | None => {
                    return Err(ApiError::invalid(format!("message {} cannot be forwarded", m.seq)));
                }
                _ => {}
            }
            // A copy stands on its own: no quote into the source, not
            // edited, and nobody mentioned again.
            c.quote = None;
            c.edited_at = 0;
            c.forwarded = false;
            if let Some(Kind::Text(t)) = &mut c.kind {
                t.mention_user_ids.clear();
                t.mention_all = false;
            }
            originals.push((m, c));
        }
        if !merged {
            return Ok(originals.into_iter().map(|(_, c)| v1::MessageContent { forwarded: true, ..c }).collect());
        }
        let mut items = Vec::with_capacity(originals.len());
        let mut names: Vec<String> = Vec::new();
        for (m, c) in originals {
            let name = match self.caches.user(m.sender).await? {
                Some(u) if !u.display_name.is_empty() => u.display_name.clone(),
                Some(u) => u.username.clone(),
                None => String::new(),
            };
            if !name.is_empty() && !names.contains(&name) {
                names.push(name.clone());
            }
            items.push(v1::RecordItem {
                sender_id: m.sender,
                sender_name: name,
                server_time: m.server_time,
                content: Some(c),
            });
        }
        let title = match names.len() {
            0 => "Chat history".to_owned(),
            1..=3 => format!("Chat history of {}", names.join(", ")),
            _ => format!("Chat history of {}…", names[..3].join(", ")),
        };
        let record =
            v1::MessageContent { kind: Some(Kind::ChatRecord(v1::ChatRecord { title, items })), ..Default::default() };
        if depth(&record) > MAX_RECORD_DEPTH {
            return Err(ApiError::invalid(format!("chat records nest at most {MAX_RECORD_DEPTH} deep")));
        }
        // The record travels in one push: it must fit a frame with room to spare.
        let max = self.limits.max_frame_bytes as usize / 2;
        if record.encoded_len() > max {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the merged record would exceed {max} bytes; forward fewer messages"),
            ));
        }
        Ok(vec![record])
    }
}

/// How many chat records deep `c` is (0 for anything else).
fn depth(c: &v1::MessageContent) -> usize {
    match &c.kind {
        Some(Kind::ChatRecord(r)) => {
            1 + r.items.iter().filter_map(|i| i.content.as_ref()).map(depth).max().unwrap_or(0)
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(inner: Option<v1::MessageContent>) -> v1::MessageContent {
        let items = inner.into_iter().map(|c| v1::RecordItem { content: Some(c), ..Default::default() }).collect();
        v1::MessageContent {
            kind: Some(Kind::ChatRecord(v1::ChatRecord { items, ..Default::default() })),
            ..Default::default()
        }
    }

    #[test]
    fn records_count_their_nesting() {
        let text = v1::MessageContent { kind: Some(Kind::Text(v1::Text::default())), ..Default::default() };
        assert_eq!(depth(&text), 0);
        assert_eq!(depth(&record(Some(text.clone()))), 1);
        assert_eq!(depth(&record(Some(record(Some(record(None)))))), 3);
    }
}
