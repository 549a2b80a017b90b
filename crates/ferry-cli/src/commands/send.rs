//! `send USER TEXT` and `send --group ID TEXT` (or `send d_1_2 TEXT` by
//! conversation id), optionally `--reply SEQ`: one message over the long
//! connection, retried until the server acknowledges it. Group texts
//! mention the members they name (`@bob`, `@all`). With `--image`,
//! `--file`, `--voice` or `--video PATH` the message is that file,
//! uploaded first (see [`super::files`]).

use std::{path::PathBuf, time::Duration};

use anyhow::{Result, bail};
use ferry_client::{
    ClientError, FileInfo, Target, file_content, image_content, replying_to, text_content, text_with_mentions, v1,
    video_content, voice_content,
};
use ferry_core::ConversationId;

use super::{Conversation, Ctx, connect, files, group};
use crate::output;

/// How long to keep retrying before giving up.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// `send`'s file options: at most one of the four kinds, and what the
/// server needs to know about voice notes and videos, which it does not
/// decode.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct MediaArgs {
    /// Send this image (JPEG, PNG, GIF, WebP) instead of a text.
    #[arg(long, value_name = "PATH", group = "media")]
    pub image: Option<PathBuf>,
    /// Send this file, of any kind, instead of a text.
    #[arg(long, value_name = "PATH", group = "media")]
    pub file: Option<PathBuf>,
    /// Send this voice note instead of a text (with --duration-ms).
    #[arg(long, value_name = "PATH", group = "media")]
    pub voice: Option<PathBuf>,
    /// Send this video instead of a text (with --duration-ms, --width and
    /// --height).
    #[arg(long, value_name = "PATH", group = "media")]
    pub video: Option<PathBuf>,
    /// How long the voice note or video lasts, in milliseconds.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u32).range(1..=86_400_000))]
    pub duration_ms: Option<u32>,
    /// The video's width in pixels.
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(1..=65_535))]
    pub width: Option<u32>,
    /// The video's height in pixels.
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(1..=65_535))]
    pub height: Option<u32>,
}

/// The kind of media message a file is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    File,
    Voice { duration_ms: u32 },
    Video { duration_ms: u32, width: u32, height: u32 },
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What<'a> {
    Text(&'a str),
    Media(MediaKind, PathBuf),
}

impl MediaArgs {
    /// The file to send and its kind, if any; refuses missing or
    /// misplaced sizes before anything is uploaded.
    pub fn media(&self) -> Result<Option<(MediaKind, PathBuf)>> {
        let Self { image, file, voice, video, duration_ms, width, height } = self.clone();
        let media = match (image, file, voice, video) {
            (Some(path), None, None, None) => Some((MediaKind::Image, path)),
            (None, Some(path), None, None) => Some((MediaKind::File, path)),
            (None, None, Some(path), None) => {
                let Some(duration_ms) = duration_ms else {
                    bail!("--voice needs --duration-ms (how long the voice note lasts)")
                };
                Some((MediaKind::Voice { duration_ms }, path))
            }
            (None, None, None, Some(path)) => match (duration_ms, width, height) {
                (Some(duration_ms), Some(width), Some(height)) => {
                    Some((MediaKind::Video { duration_ms, width, height }, path))
                }
                _ => bail!("--video needs --duration-ms, --width and --height (the server does not decode videos)"),
            },
            (None, None, None, None) => None,
            _ => bail!("send one of --image, --file, --voice and --video at a time"),
        };
        let sized = matches!(media, Some((MediaKind::Video { .. }, _)));
        let timed = sized || matches!(media, Some((MediaKind::Voice { .. }, _)));
        if duration_ms.is_some() && !timed || (width.is_some() || height.is_some()) && !sized {
            bail!("--duration-ms is for --voice and --video, --width and --height for --video");
        }
        Ok(media)
    }
}

/// Reads `send`'s positional arguments: `USER TEXT` (or `CONVERSATION
/// TEXT`), or just `TEXT` with `--group ID`; with a file, `USER` or nothing
/// with `--group ID`.
pub fn parse_args<'a>(
    group: Option<i64>,
    args: &'a [String],
    media: &MediaArgs,
) -> Result<(Conversation<'a>, What<'a>)> {
    if let Some((kind, path)) = media.media()? {
        return match Conversation::split(group, args) {
            Ok((to, [])) => Ok((to, What::Media(kind, path))),
            _ if group.is_some() => bail!("usage: ferry send --group ID --file PATH"),
            _ => bail!("usage: ferry send USER --file PATH (or ferry send --group ID --file PATH)"),
        };
    }
    match Conversation::split(group, args) {
        Ok((to, [text])) => Ok((to, What::Text(text))),
        _ if group.is_some() => bail!("usage: ferry send --group ID TEXT"),
        _ => bail!("usage: ferry send USER TEXT (or ferry send --group ID TEXT)"),
    }
}

/// Sends the text or file, as a reply to message `reply` of the same
/// conversation if given, and prints the ack.
pub async fn run(ctx: &Ctx, to: Conversation<'_>, what: What<'_>, reply: Option<u64>) -> Result<()> {
    let (profile, http) = ctx.session()?;
    // The recipient is resolved first, so a typo costs no upload.
    let (target, label) = match to {
        Conversation::User(user) => {
            let peer = http.user_by_name(user).await?;
            (Target::User(peer.id), peer.username)
        }
        Conversation::Id(id) => (Target::Conversation(id.to_string()), id.to_string()),
    };
    let content = match what {
        What::Text(text) => match to {
            Conversation::Id(ConversationId::Group(id)) => {
                text_with_mentions(text, group::resolve_mentions(&http, id, text).await?)
            }
            _ => text_content(text),
        },
        What::Media(kind, path) => {
            let file = files::upload(ctx, &profile, &http, &path).await?;
            media_content(kind, &file)?
        }
    };
    let content = match reply {
        Some(seq) => replying_to(content, seq),
        None => content,
    };
    let shown = media_summary(&content);
    // Nothing is displayed, so incoming events are not wanted.
    let (client, _) = connect(&http, &profile).await?;
    let send = client.send_with_id(ferry_client::new_client_msg_id(), target, content);
    let sent = tokio::time::timeout(SEND_TIMEOUT, send).await;
    client.close().await;
    let ack = sent.map_err(|_| ClientError::Timeout)??;
    let mut line = format!("sent seq={} to {label}", ack.seq);
    if let Some(seq) = reply {
        line.push_str(&format!(" (reply to #{seq})"));
    }
    if let Some(media) = shown {
        line.push_str(&format!(": {media}"));
    }
    println!("{}", output::sanitize(&line));
    Ok(())
}

/// The message of an uploaded file.
fn media_content(kind: MediaKind, file: &FileInfo) -> Result<v1::MessageContent> {
    Ok(match kind {
        MediaKind::Image => match image_content(file) {
            Some(content) => content,
            None => bail!(
                "{} is not an image the server can read (send it with --file; it is uploaded as {})",
                file.name,
                file.id
            ),
        },
        MediaKind::File => file_content(file),
        MediaKind::Voice { duration_ms } => voice_content(file, duration_ms),
        MediaKind::Video { duration_ms, width, height } => video_content(file, duration_ms, width, height),
    })
}

/// How `sync` will show a media message, for the ack line.
fn media_summary(content: &v1::MessageContent) -> Option<String> {
    let m = v1::Message { content: Some(content.clone()), ..Default::default() };
    output::media_line(&m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_args as args;

    #[test]
    fn arguments_pick_user_group_or_conversation() {
        let none = MediaArgs::default();
        let a = args(&["bob", "hi"]);
        assert_eq!(parse_args(None, &a, &none).unwrap(), (Conversation::User("bob"), What::Text("hi")));
        let a = args(&["hi @bob"]);
        let group = Conversation::Id(ConversationId::Group(5));
        assert_eq!(parse_args(Some(5), &a, &none).unwrap(), (group, What::Text("hi @bob")));
        let a = args(&["d_1_2", "hi"]);
        let direct = Conversation::Id(ConversationId::direct(1, 2));
        assert_eq!(parse_args(None, &a, &none).unwrap(), (direct, What::Text("hi")));
        assert!(parse_args(None, &args(&["hi"]), &none).is_err());
        assert!(parse_args(Some(5), &args(&["bob", "hi"]), &none).is_err());
    }

    #[test]
    fn files_go_to_a_user_or_a_group_with_what_their_kind_needs() {
        let file = MediaArgs { file: Some("a.pdf".into()), ..Default::default() };
        let bob = args(&["bob"]);
        let got = parse_args(None, &bob, &file).unwrap();
        assert_eq!(got, (Conversation::User("bob"), What::Media(MediaKind::File, "a.pdf".into())));
        let got = parse_args(Some(5), &[], &file).unwrap();
        assert_eq!(got.0, Conversation::Id(ConversationId::Group(5)));
        assert!(parse_args(None, &args(&["bob", "caption"]), &file).is_err(), "no caption");
        assert!(parse_args(Some(5), &args(&["bob"]), &file).is_err());
        assert!(parse_args(None, &[], &file).is_err());

        let voice = MediaArgs { voice: Some("n.ogg".into()), ..Default::default() };
        assert!(voice.media().unwrap_err().to_string().contains("--duration-ms"));
        let voice = MediaArgs { duration_ms: Some(7_400), ..voice };
        assert_eq!(voice.media().unwrap(), Some((MediaKind::Voice { duration_ms: 7_400 }, "n.ogg".into())));

        let video = MediaArgs { video: Some("v.mp4".into()), duration_ms: Some(9), ..Default::default() };
        assert!(video.media().unwrap_err().to_string().contains("--width"));
        let video = MediaArgs { width: Some(1280), height: Some(720), ..video };
        let kind = MediaKind::Video { duration_ms: 9, width: 1280, height: 720 };
        assert_eq!(video.media().unwrap(), Some((kind, "v.mp4".into())));

        let image = MediaArgs { image: Some("c.png".into()), duration_ms: Some(5), ..Default::default() };
        assert!(image.media().is_err(), "an image has no duration");
        let two = MediaArgs { image: Some("c.png".into()), file: Some("a.pdf".into()), ..Default::default() };
        assert!(two.media().is_err());
        assert_eq!(MediaArgs::default().media().unwrap(), None);
    }
}
