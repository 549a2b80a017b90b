//! The rich kinds of `MessageContent` (image, file, voice, video, location,
//! contact card, link, custom, call log): what a sender may put in each,
//! checked field by field against the bounds of [`ferry_core::content`].
//! Their preview lines live in `ferry_proto::preview`, shared with clients.
//!
//! Media kinds point to a stored file ([`v1::FileRef`]), filled in from
//! the store before these checks (`files.rs`, `messaging::resolve_files`).

use ferry_core::{ApiError, UserId, content as c};
use ferry_proto::v1::{self, message_content::Kind};

/// What admitting a rich kind needs beyond its bounds: a contact card
/// names a user the service must find.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub user: Option<UserId>,
}

/// Checks a user-sent rich kind. `Ok(None)` when `kind` is not one of them.
pub fn check(kind: &Kind) -> Result<Option<Needs>, ApiError> {
    let needs = match kind {
        Kind::Image(i) => {
            file_ref("image.file", i.file.as_ref())?;
            c::dimension("image.width", i.width)?;
            c::dimension("image.height", i.height)?;
            optional_file_ref("image.thumbnail", i.thumbnail.as_ref())?;
            Needs::default()
        }
        Kind::File(f) => {
            file_ref("file.file", f.file.as_ref())?;
            Needs::default()
        }
        Kind::Voice(v) => {
            file_ref("voice.file", v.file.as_ref())?;
            c::duration_ms("voice.duration_ms", v.duration_ms)?;
            c::waveform("voice.waveform", &v.waveform)?;
            Needs::default()
        }
        Kind::Video(v) => {
            file_ref("video.file", v.file.as_ref())?;
            c::duration_ms("video.duration_ms", v.duration_ms)?;
            c::dimension("video.width", v.width)?;
            c::dimension("video.height", v.height)?;
            optional_file_ref("video.cover", v.cover.as_ref())?;
            Needs::default()
        }
        Kind::Location(l) => {
            c::coordinates(l.latitude, l.longitude)?;
            c::short_text("location.title", &l.title, c::MAX_TITLE_CHARS)?;
            c::short_text("location.address", &l.address, c::MAX_TITLE_CHARS)?;
            Needs::default()
        }
        Kind::ContactCard(card) => {
            if card.user_id <= 0 {
                return Err(ApiError::invalid("contact_card.user_id must name a user"));
            }
            Needs { user: Some(card.user_id) }
        }
        Kind::Link(l) => {
            c::url("link.url", &l.url)?;
            c::short_text("link.title", &l.title, c::MAX_TITLE_CHARS)?;
            c::description("link.description", &l.description)?;
            optional_file_ref("link.image", l.image.as_ref())?;
            Needs::default()
        }
        Kind::Custom(x) => {
            c::custom_type(&x.r#type)?;
            c::custom_payload(&x.payload_json)?;
            c::short_text("custom.fallback_text", &x.fallback_text, c::MAX_TITLE_CHARS)?;
            Needs::default()
        }
        Kind::CallLog(_) => return Err(ApiError::invalid("call logs are written by the server")),
        Kind::Revoked(_) | Kind::Event(_) => {
            return Err(ApiError::invalid("recalls and message events are written by the server"));
        }
        Kind::ChatRecord(_) => return Err(ApiError::invalid("chat records are made by forwarding")),
        Kind::Text(_) | Kind::System(_) => return Ok(None),
    };
    Ok(Some(needs))
}

fn file_ref(field: &str, f: Option<&v1::FileRef>) -> Result<(), ApiError> {
    let f = f.ok_or_else(|| ApiError::invalid(format!("{field} is required")))?;
    // Checked under short names; the full field name is built only for a
    // refusal, not on every media send.
    let checked = c::file_id("file_id", &f.file_id)
        .and_then(|()| c::file_size("size", f.size))
        .and_then(|()| c::mime("mime", &f.mime))
        .and_then(|()| c::file_name("name", &f.name))
        .and_then(|()| c::sha256_hex("sha256", &f.sha256));
    checked.map_err(|e| ApiError::invalid(format!("{field}.{}", e.message)))
}

fn optional_file_ref(field: &str, f: Option<&v1::FileRef>) -> Result<(), ApiError> {
    f.map_or(Ok(()), |f| file_ref(field, Some(f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> v1::FileRef {
        v1::FileRef {
            file_id: "f_123".into(),
            size: 2048,
            mime: "image/png".into(),
            name: name.into(),
            sha256: "a".repeat(64),
        }
    }

    #[test]
    fn each_kind_is_bounded_and_names_the_field() {
        let image = |w| Kind::Image(v1::Image { file: Some(file("a.png")), width: w, height: 10, thumbnail: None });
        assert_eq!(check(&image(10)).unwrap(), Some(Needs::default()));
        assert!(check(&image(0)).unwrap_err().message.contains("image.width"));
        let mut bad = file("a.png");
        bad.sha256 = "A".repeat(64);
        let e = check(&Kind::File(v1::File { file: Some(bad) })).unwrap_err();
        assert!(e.message.contains("file.file.sha256"), "{}", e.message);
        assert!(check(&Kind::File(v1::File { file: None })).unwrap_err().message.contains("file.file"));
        let voice =
            |ms| Kind::Voice(v1::Voice { file: Some(file("v.ogg")), duration_ms: ms, waveform: Default::default() });
        assert!(check(&voice(7000)).is_ok());
        assert!(check(&voice(0)).is_err());
        let at = |lat, lon| Kind::Location(v1::Location { latitude: lat, longitude: lon, ..Default::default() });
        assert!(check(&at(31.2, 121.5)).is_ok());
        assert!(check(&at(91.0, 0.0)).is_err());
        assert!(check(&at(f64::NAN, 0.0)).is_err());
        let card = |id| Kind::ContactCard(v1::ContactCard { user_id: id });
        assert_eq!(check(&card(7)).unwrap(), Some(Needs { user: Some(7) }));
        assert!(check(&card(0)).is_err());
        let link = |u: &str| Kind::Link(v1::Link { url: u.into(), ..Default::default() });
        assert!(check(&link("https://example.com/a?b=c")).is_ok());
        assert!(check(&link("javascript:alert(1)")).is_err());
        let custom = |t: &str, p: &str| {
            Kind::Custom(v1::Custom { r#type: t.into(), payload_json: p.into(), fallback_text: String::new() })
        };
        assert!(check(&custom("acme.poll", r#"{"q":"lunch?"}"#)).is_ok());
        assert!(check(&custom("Acme Poll", "{}")).is_err());
        assert!(check(&custom("acme.poll", "[1,2]")).is_err());
        assert!(check(&Kind::CallLog(v1::CallLog::default())).is_err(), "server-written");
        assert_eq!(check(&Kind::Text(v1::Text::default())).unwrap(), None);
    }
}
