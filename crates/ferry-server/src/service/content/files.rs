//! The files message content points to: which they are (so the store
//! records who may read them), and filling a sent reference in from the
//! stored file, so what recipients see — size, type, digest, an image's
//! pixels and thumbnail — is the server's record, not the sender's claim.

use ferry_proto::v1::{self, message_content::Kind};
use ferry_store::FileObject;

use crate::media::blobs::hex;

/// The ids of every file `content` references, chat records' messages
/// included (their readers may open those files too).
pub fn file_ids(content: &v1::MessageContent) -> Vec<String> {
    let mut out = Vec::new();
    collect(content, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

fn collect(content: &v1::MessageContent, out: &mut Vec<String>) {
    let mut push = |f: &Option<v1::FileRef>| {
        if let Some(f) = f
            && !f.file_id.is_empty()
        {
            out.push(f.file_id.clone());
        }
    };
    match &content.kind {
        Some(Kind::Image(i)) => {
            push(&i.file);
            push(&i.thumbnail);
        }
        Some(Kind::File(f)) => push(&f.file),
        Some(Kind::Voice(v)) => push(&v.file),
        Some(Kind::Video(v)) => {
            push(&v.file);
            push(&v.cover);
        }
        Some(Kind::Link(l)) => push(&l.image),
        Some(Kind::ChatRecord(r)) => {
            for item in &r.items {
                if let Some(c) = &item.content {
                    collect(c, out);
                }
            }
        }
        _ => {}
    }
}

/// The references a sender fills in: `(field, reference)` of the top-level
/// content (a sender cannot write chat records).
pub fn sent_refs(content: &mut v1::MessageContent) -> Vec<(&'static str, &mut v1::FileRef)> {
    let refs: [(&'static str, Option<&mut v1::FileRef>); 2] = match &mut content.kind {
        Some(Kind::Image(i)) => [("image.file", i.file.as_mut()), ("image.thumbnail", i.thumbnail.as_mut())],
        Some(Kind::File(f)) => [("file.file", f.file.as_mut()), ("", None)],
        Some(Kind::Voice(v)) => [("voice.file", v.file.as_mut()), ("", None)],
        Some(Kind::Video(v)) => [("video.file", v.file.as_mut()), ("video.cover", v.cover.as_mut())],
        Some(Kind::Link(l)) => [("link.image", l.image.as_mut()), ("", None)],
        _ => [("", None), ("", None)],
    };
    refs.into_iter().filter_map(|(field, r)| r.map(|r| (field, r))).collect()
}

/// Fills `r` in from the stored `file`: size, type and digest always; the
/// name unless the sender chose one.
pub fn fill(r: &mut v1::FileRef, file: &FileObject) {
    r.size = file.size as i64;
    r.mime.clone_from(&file.mime);
    r.sha256 = hex(&file.sha256);
    if r.name.is_empty() {
        r.name.clone_from(&file.name);
    }
}

/// A reference to a stored file.
pub fn file_ref(file: &FileObject) -> v1::FileRef {
    let mut r = v1::FileRef { file_id: file.id.clone(), ..Default::default() };
    fill(&mut r, file);
    r
}

/// An image message takes the stored image's pixels (EXIF rotation
/// applied), and its thumbnail when the sender named none.
pub fn fill_image(content: &mut v1::MessageContent, file: &FileObject, thumbnail: Option<&FileObject>) {
    if let Some(Kind::Image(i)) = &mut content.kind {
        if file.width > 0 && file.height > 0 {
            i.width = file.width;
            i.height = file.height;
        }
        if i.thumbnail.is_none() {
            i.thumbnail = thumbnail.map(file_ref);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(id: &str) -> Option<v1::FileRef> {
        Some(v1::FileRef { file_id: id.into(), ..Default::default() })
    }

    #[test]
    fn every_reference_is_found_nested_records_too() {
        let image = v1::MessageContent {
            kind: Some(Kind::Image(v1::Image {
                file: reference("a"),
                thumbnail: reference("b"),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(file_ids(&image), ["a", "b"]);
        let video = v1::MessageContent {
            kind: Some(Kind::Video(v1::Video { file: reference("c"), cover: reference("a"), ..Default::default() })),
            ..Default::default()
        };
        let record = |items: Vec<v1::MessageContent>| v1::MessageContent {
            kind: Some(Kind::ChatRecord(v1::ChatRecord {
                title: "t".into(),
                items: items.into_iter().map(|c| v1::RecordItem { content: Some(c), ..Default::default() }).collect(),
            })),
            ..Default::default()
        };
        let nested = record(vec![image.clone(), record(vec![video])]);
        assert_eq!(file_ids(&nested), ["a", "b", "c"]);
        let mut sent = image;
        assert_eq!(
            sent_refs(&mut sent).into_iter().map(|(f, _)| f).collect::<Vec<_>>(),
            ["image.file", "image.thumbnail"]
        );
        let text = v1::MessageContent { kind: Some(Kind::Text(v1::Text::default())), ..Default::default() };
        assert!(file_ids(&text).is_empty());
    }
}
