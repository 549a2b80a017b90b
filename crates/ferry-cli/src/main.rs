//! `ferry`: the Ferry terminal client.
//!
//! `ferry [--server URL] [--profile NAME] <command>`; see `ferry --help`.
//! Argument parsing and error reporting live here; each command is a module
//! under [`commands`], saved logins are in [`profile`], rendering in
//! [`output`].

mod commands;
mod output;
mod profile;
mod progress;
mod uploads;

use std::{io::IsTerminal as _, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use ferry_client::ClientError;

use crate::{
    commands::{
        Conversation, Ctx,
        contacts::FriendCommand,
        conversations::{self, Setting},
        group::GroupCommand,
        hide,
        ops::{self, Action},
        search::SearchArgs,
        send::MediaArgs,
    },
    profile::ProfileStore,
};

/// Ferry terminal client.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about)]
struct Cli {
    /// Server HTTP base URL [default: the profile's server, else http://127.0.0.1:8080].
    #[arg(long, global = true, env = "FERRY_SERVER")]
    server: Option<String>,
    /// Profile (saved login) to use.
    #[arg(long, global = true, env = "FERRY_PROFILE", default_value = "default")]
    profile: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an account, then log in to it.
    Register {
        /// Username (3-32 letters, digits, '_', '.', '-').
        user: String,
        /// Password [default: $FERRY_PASSWORD, else prompt].
        #[arg(long)]
        password: Option<String>,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Log in and save the session to the profile.
    Login {
        /// Username.
        user: String,
        /// Password [default: $FERRY_PASSWORD, else prompt].
        #[arg(long)]
        password: Option<String>,
    },
    /// Revoke the profile's session.
    Logout,
    /// Show who the profile is logged in as.
    Whoami,
    /// Send a text message: `send USER TEXT`, or `send --group ID TEXT`
    /// (`@name` mentions a member, `@all` everyone). USER may also be a
    /// conversation id (`d_1_2`, `g_5`).
    ///
    /// Or send a file: `send USER --image PATH` (also `--file`, `--voice
    /// PATH --duration-ms MS`, `--video PATH --duration-ms MS --width PX
    /// --height PX`), with a progress bar. The server may already have the
    /// content (then nothing is sent); an upload cut off (a dropped
    /// connection, Ctrl-C) goes on where it stopped, by itself or when the
    /// same command runs again.
    Send {
        /// Send to this group (id, `5` or `g_5`) instead of a user.
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// Reply to message SEQ of the same conversation.
        #[arg(long, value_name = "SEQ")]
        reply: Option<u64>,
        #[command(flatten)]
        media: MediaArgs,
        /// USER TEXT, or TEXT with --group; with a file, USER (or nothing with --group).
        #[arg(
            value_name = "USER TEXT",
            num_args = 0..=2,
            required_unless_present_any = ["image", "file", "voice", "video"]
        )]
        args: Vec<String>,
    },
    /// Download a file a message carries (as `sync` shows it: `ferry
    /// download f_…`), with a progress bar. An interrupted download goes on
    /// where it stopped when run again; the result is checked against the
    /// file's SHA-256.
    Download {
        /// The file's id (which may start with `-`).
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// Where to save it: a file, or a directory to put it in [default:
        /// the file's name, in the current directory].
        path: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Recall a message: `revoke USER SEQ`, or `revoke --group ID SEQ`
    /// (your own within 2 minutes; any message in a group you administer).
    Revoke {
        /// The message is in this group (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// USER SEQ, or SEQ with --group (USER may be a conversation id).
        #[arg(value_name = "USER SEQ", required = true, num_args = 1..=2)]
        args: Vec<String>,
    },
    /// Edit your text message: `edit USER SEQ TEXT`, or `edit --group ID SEQ TEXT`.
    Edit {
        /// The message is in this group (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// USER SEQ TEXT, or SEQ TEXT with --group (USER may be a conversation id).
        #[arg(value_name = "USER SEQ TEXT", required = true, num_args = 1..=3)]
        args: Vec<String>,
    },
    /// React to a message: `react USER SEQ EMOJI`, or `react --group ID SEQ EMOJI`.
    React {
        /// The message is in this group (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// Take the reaction back.
        #[arg(long)]
        remove: bool,
        /// USER SEQ EMOJI, or SEQ EMOJI with --group (USER may be a conversation id).
        #[arg(value_name = "USER SEQ EMOJI", required = true, num_args = 1..=3)]
        args: Vec<String>,
    },
    /// Pin a message: `pin USER SEQ`, or `pin --group ID SEQ` (owner and
    /// admins in groups; at most 10 per conversation).
    Pin {
        /// The message is in this group (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// Unpin it instead.
        #[arg(long)]
        unpin: bool,
        /// USER SEQ, or SEQ with --group (USER may be a conversation id).
        #[arg(value_name = "USER SEQ", required = true, num_args = 1..=2)]
        args: Vec<String>,
    },
    /// List the pinned messages of a conversation: `pins USER`, or `pins --group ID`.
    Pins {
        /// This group's pins (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// A username or conversation id (not with --group).
        #[arg(value_name = "USER")]
        conversation: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Forward messages: `forward USER SEQ[,SEQ...] --to USER_OR_CONV`, or
    /// `forward --group ID SEQS --to ...`: copies marked forwarded, or with
    /// --merged one chat record. One line per target; fails only if every
    /// target refused.
    Forward {
        /// The messages are in this group (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// A target: a username or a conversation id (`d_1_2`, `g_5`);
        /// repeatable, or comma-separated.
        #[arg(long, value_name = "USER_OR_CONV", value_delimiter = ',', required_unless_present = "to_group")]
        to: Vec<String>,
        /// A target group (id, `5` or `g_5`); repeatable, or comma-separated.
        #[arg(long, value_name = "ID", value_delimiter = ',', value_parser = commands::group::parse_group_id)]
        to_group: Vec<i64>,
        /// Send one chat record holding the messages instead of copies.
        #[arg(long)]
        merged: bool,
        /// USER SEQS, or SEQS with --group; SEQS is comma-separated (`3,4,#5`).
        #[arg(value_name = "USER SEQS", required = true, num_args = 1..=2)]
        args: Vec<String>,
    },
    /// Delete messages for yourself (the others keep them): `delete USER
    /// SEQ[,SEQ...]`, or `delete --group ID SEQS`.
    Delete {
        /// The messages are in this group (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// USER SEQS, or SEQS with --group (USER may be a conversation id).
        #[arg(value_name = "USER SEQS", required = true, num_args = 1..=2)]
        args: Vec<String>,
    },
    /// Clear a conversation's history for yourself (and mark it read):
    /// `clear USER`, or `clear --group ID`.
    Clear {
        /// This group (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// Only up to message SEQ [default: everything].
        #[arg(long, value_name = "SEQ", value_parser = clap::value_parser!(u64).range(1..))]
        up_to: Option<u64>,
        /// A username or conversation id (not with --group).
        #[arg(value_name = "USER")]
        conversation: Option<String>,
    },
    /// Mark a conversation read up to SEQ [default: its last message]:
    /// `read USER [SEQ]`, or `read --group ID [SEQ]`.
    Read {
        /// This group (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// USER [SEQ], or [SEQ] with --group (USER may be a conversation id).
        #[arg(value_name = "USER SEQ", num_args = 0..=2)]
        args: Vec<String>,
    },
    /// Who has read a message you sent: `read-status USER SEQ`, or
    /// `read-status --group ID SEQ`.
    ReadStatus {
        /// The message is in this group (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// One JSON object.
        #[arg(long)]
        json: bool,
        /// USER SEQ, or SEQ with --group (USER may be a conversation id).
        #[arg(value_name = "USER SEQ", required = true, num_args = 1..=2)]
        args: Vec<String>,
    },
    /// List your conversations: pinned first, then newest activity, with
    /// unread counts, 📌 pinned, 🔕 muted, @ mentioned, drafts.
    Conversations {
        /// One JSON object per line, with every field.
        #[arg(long)]
        json: bool,
        /// Include archived conversations.
        #[arg(long)]
        all: bool,
    },
    /// Mute a conversation's notifications (unread still counts): `mute
    /// USER`, or `mute --group ID`.
    Mute {
        /// This group (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// Unmute it instead.
        #[arg(long)]
        off: bool,
        /// A username or conversation id (not with --group).
        #[arg(value_name = "USER")]
        conversation: Option<String>,
    },
    /// Pin a conversation to the top of the list: `pin-conversation USER`,
    /// or `pin-conversation --group ID`.
    PinConversation {
        /// This group (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// Unpin it instead.
        #[arg(long)]
        off: bool,
        /// A username or conversation id (not with --group).
        #[arg(value_name = "USER")]
        conversation: Option<String>,
    },
    /// Archive a conversation (out of the list until its next message):
    /// `archive USER`, or `archive --group ID`.
    Archive {
        /// This group (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// Bring it back instead.
        #[arg(long)]
        off: bool,
        /// A username or conversation id (not with --group).
        #[arg(value_name = "USER")]
        conversation: Option<String>,
    },
    /// Save the unsent text of a conversation (`""` clears it): `draft USER
    /// TEXT`, or `draft --group ID TEXT`.
    Draft {
        /// This group (id, `5` or `g_5`).
        #[arg(long, value_parser = commands::group::parse_group_id)]
        group: Option<i64>,
        /// USER TEXT, or TEXT with --group (USER may be a conversation id).
        #[arg(value_name = "USER TEXT", required = true, num_args = 1..=2)]
        args: Vec<String>,
    },
    /// Full-text search over the messages you can see, newest first.
    ///
    /// `search QUERY [--in CONV | --with USER] [--from USER] [--kind KIND]`:
    /// Chinese is found by substring, other words by prefix, and every word
    /// must match. QUERY may be left out when a filter narrows the search
    /// (`search --kind file` lists files). Each hit is one line: when (UTC),
    /// the conversation and seq, the sender, and the text around the match,
    /// marked bold on a terminal and [in brackets] otherwise. Friends and
    /// groups whose names match follow the first page.
    Search(SearchArgs),
    /// Print messages received since the last sync (all history on a new profile).
    Sync {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Interactive chat: lines from stdin are sent, incoming messages printed.
    Chat {
        /// Whom to talk to first.
        user: Option<String>,
    },
    /// Friends and friend requests.
    Friend {
        #[command(subcommand)]
        command: FriendCommand,
    },
    /// Block a user: their direct messages and friend requests are refused.
    Block {
        /// Username.
        user: String,
    },
    /// Lift a block.
    Unblock {
        /// Username.
        user: String,
    },
    /// Groups: create, members, moderation, join requests.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// Calls: a terminal has no media, so it only refuses them (`ferry
    /// chat` shows incoming calls; `:decline` there).
    Call {
        #[command(subcommand)]
        command: CallCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CallCommand {
    /// Decline an incoming call: the one CALL_ID names (as `ferry chat`
    /// prints it), or else the call that rings this profile's device when
    /// it connects.
    Decline {
        /// The call's id (32 hex digits).
        call_id: Option<String>,
        /// Answer busy instead of declining.
        #[arg(long)]
        busy: bool,
        /// Without CALL_ID: how many seconds to wait for a call to ring.
        #[arg(long, value_name = "SECS", default_value_t = 10)]
        wait: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx { server: cli.server, profile: cli.profile, store: ProfileStore::from_env()? };
    match cli.command {
        Command::Register { user, password, display_name } => {
            commands::account::register(&ctx, &user, password, display_name.as_deref()).await
        }
        Command::Login { user, password } => commands::account::login(&ctx, &user, password).await,
        Command::Logout => commands::account::logout(&ctx).await,
        Command::Whoami => commands::account::whoami(&ctx).await,
        Command::Send { group, reply, media, args } => {
            let (to, what) = commands::send::parse_args(group, &args, &media)?;
            commands::send::run(&ctx, to, what, reply).await
        }
        Command::Download { id, path, force } => commands::files::download(&ctx, &id, path.as_deref(), force).await,
        Command::Revoke { group, args } => {
            let (to, seq, []) = ops::parse_target(group, &args, "ferry revoke USER SEQ (or --group ID SEQ)")?;
            ops::apply(&ctx, to, seq, Action::Revoke).await
        }
        Command::Edit { group, args } => {
            let (to, seq, [text]) =
                ops::parse_target(group, &args, "ferry edit USER SEQ TEXT (or --group ID SEQ TEXT)")?;
            ops::apply(&ctx, to, seq, Action::Edit(text.to_owned())).await
        }
        Command::React { group, remove, args } => {
            let usage = "ferry react USER SEQ EMOJI (or --group ID SEQ EMOJI)";
            let (to, seq, [emoji]) = ops::parse_target(group, &args, usage)?;
            ops::apply(&ctx, to, seq, Action::React { emoji: emoji.to_owned(), remove }).await
        }
        Command::Pin { group, unpin, args } => {
            let (to, seq, []) = ops::parse_target(group, &args, "ferry pin USER SEQ (or --group ID SEQ)")?;
            ops::apply(&ctx, to, seq, Action::Pin { unpin }).await
        }
        Command::Pins { group, conversation, json } => {
            let to = ops::parse_pins_target(group, conversation.as_deref())?;
            ops::pins(&ctx, to, json).await
        }
        Command::Forward { group, to, to_group, merged, args } => {
            let forward = commands::forward::parse_args(group, &args, &to, &to_group, merged)?;
            commands::forward::run(&ctx, forward).await
        }
        Command::Delete { group, args } => {
            let (to, seqs) = hide::parse_delete(group, &args)?;
            hide::delete(&ctx, to, seqs).await
        }
        Command::Clear { group, up_to, conversation } => {
            let to = hide::parse_clear(group, conversation.as_deref())?;
            hide::clear(&ctx, to, up_to).await
        }
        Command::Read { group, args } => {
            let (to, seq) = conversations::parse_read(group, &args)?;
            conversations::read(&ctx, to, seq).await
        }
        Command::ReadStatus { group, json, args } => {
            let usage = "ferry read-status USER SEQ (or --group ID SEQ)";
            let (to, seq, []) = ops::parse_target(group, &args, usage)?;
            conversations::read_status(&ctx, to, seq, json).await
        }
        Command::Conversations { json, all } => conversations::list(&ctx, json, all).await,
        Command::Mute { group, off, conversation } => {
            let to = Conversation::pick(group, conversation.as_deref(), "ferry mute USER [--off] (or --group ID)")?;
            conversations::set(&ctx, to, Setting::Muted(!off)).await
        }
        Command::PinConversation { group, off, conversation } => {
            let usage = "ferry pin-conversation USER [--off] (or --group ID)";
            let to = Conversation::pick(group, conversation.as_deref(), usage)?;
            conversations::set(&ctx, to, Setting::Pinned(!off)).await
        }
        Command::Archive { group, off, conversation } => {
            let to = Conversation::pick(group, conversation.as_deref(), "ferry archive USER [--off] (or --group ID)")?;
            conversations::set(&ctx, to, Setting::Archived(!off)).await
        }
        Command::Draft { group, args } => {
            let (to, text) = conversations::parse_draft(group, &args)?;
            conversations::set(&ctx, to, Setting::Draft(text.to_owned())).await
        }
        Command::Search(args) => commands::search::run(&ctx, args).await,
        Command::Sync { json } => commands::sync::run(&ctx, json).await,
        Command::Chat { user } => commands::chat::run(&ctx, user.as_deref()).await,
        Command::Friend { command } => commands::contacts::friend(&ctx, command).await,
        Command::Block { user } => commands::contacts::block(&ctx, &user).await,
        Command::Unblock { user } => commands::contacts::unblock(&ctx, &user).await,
        Command::Group { command } => commands::group::run(&ctx, command).await,
        Command::Call { command: CallCommand::Decline { call_id, busy, wait } } => {
            commands::calls::decline(&ctx, call_id.as_deref(), busy, std::time::Duration::from_secs(wait)).await
        }
    }
}

/// One line for the user: `<code>: <message>` for server answers, the error
/// chain otherwise.
fn describe(e: &anyhow::Error) -> String {
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::Api(api)) => format!("{}: {}", api.code, api.message),
        Some(ClientError::Timeout) => "timeout: no answer from the server".to_owned(),
        _ => format!("{e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use ferry_core::ApiError;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn fixed_command_lines_parse() {
        let parse = |line: &str| Cli::try_parse_from(line.split(' ')).map(|c| c.command);
        assert!(matches!(parse("ferry send bob hi"), Ok(Command::Send { group: None, .. })));
        assert!(matches!(
            parse("ferry call decline --busy"),
            Ok(Command::Call { command: CallCommand::Decline { call_id: None, busy: true, wait: 10 } })
        ));
        assert!(matches!(parse("ferry send --group g_5 hi"), Ok(Command::Send { group: Some(5), .. })));
        assert!(matches!(
            parse("ferry friend add bob --greeting hello"),
            Ok(Command::Friend { command: FriendCommand::Add { greeting: Some(_), .. } })
        ));
        assert!(matches!(
            parse("ferry friend list --json"),
            Ok(Command::Friend { command: FriendCommand::List { json: true } })
        ));
        assert!(matches!(parse("ferry send bob yes --reply 3"), Ok(Command::Send { reply: Some(3), .. })));
        let Ok(Command::Send { group: None, media, args, .. }) =
            parse("ferry send bob --voice n.ogg --duration-ms 7400")
        else {
            panic!("a voice note did not parse")
        };
        assert_eq!((media.voice, media.duration_ms, args), (Some("n.ogg".into()), Some(7400), vec!["bob".to_owned()]));
        assert!(matches!(parse("ferry send --group 5 --image c.png"), Ok(Command::Send { group: Some(5), .. })));
        assert!(parse("ferry send bob --image c.png --file a.pdf").is_err(), "one file at a time");
        assert!(parse("ferry send bob --video v.mp4 --width 0").is_err());
        assert!(parse("ferry send").is_err());
        assert!(matches!(
            parse("ferry download f_1 out/ --force"),
            Ok(Command::Download { path: Some(_), force: true, .. })
        ));
        assert!(matches!(parse("ferry download f_1"), Ok(Command::Download { path: None, force: false, .. })));
        // Ids are URL-safe base64, so some start with '-'.
        let Ok(Command::Download { id, force: true, .. }) = parse("ferry download -Zx9_a --force") else {
            panic!("an id starting with '-' did not parse")
        };
        assert_eq!(id, "-Zx9_a");
        let Ok(Command::Download { id, .. }) = parse("ferry download --Zx9_a") else {
            panic!("an id starting with '--' did not parse")
        };
        assert_eq!(id, "--Zx9_a");
        assert!(matches!(parse("ferry revoke bob 3"), Ok(Command::Revoke { group: None, .. })));
        assert!(matches!(parse("ferry revoke --group 5 3"), Ok(Command::Revoke { group: Some(5), .. })));
        assert!(matches!(parse("ferry edit d_1_2 3 fixed"), Ok(Command::Edit { group: None, .. })));
        assert!(matches!(parse("ferry react bob 3 👍 --remove"), Ok(Command::React { remove: true, .. })));
        assert!(matches!(
            parse("ferry pin --group g_5 3 --unpin"),
            Ok(Command::Pin { group: Some(5), unpin: true, .. })
        ));
        assert!(matches!(parse("ferry pins --group 5 --json"), Ok(Command::Pins { group: Some(5), json: true, .. })));
        assert!(parse("ferry revoke bob 3 4").is_err());
        assert!(parse("ferry send bob hi --reply x").is_err());
        assert!(matches!(parse("ferry block bob"), Ok(Command::Block { .. })));

        let Ok(Command::Forward { group: None, to, to_group, merged: true, args }) =
            parse("ferry forward bob 3,4 --to carol,g_7 --to d_1_4 --to-group 5 --merged")
        else {
            panic!("forward did not parse")
        };
        assert_eq!(
            (to, to_group, args),
            (vec!["carol".into(), "g_7".into(), "d_1_4".into()], vec![5], vec!["bob".to_owned(), "3,4".to_owned()])
        );
        assert!(matches!(
            parse("ferry forward --group g_5 2 --to-group 6"),
            Ok(Command::Forward { group: Some(5), merged: false, .. })
        ));
        // A forward needs a target.
        assert!(parse("ferry forward bob 3").is_err());
        assert!(matches!(parse("ferry delete bob 3,4"), Ok(Command::Delete { group: None, .. })));
        assert!(matches!(parse("ferry delete --group 5 3"), Ok(Command::Delete { group: Some(5), .. })));
        assert!(matches!(parse("ferry clear bob --up-to 7"), Ok(Command::Clear { up_to: Some(7), .. })));
        assert!(matches!(parse("ferry clear --group 5"), Ok(Command::Clear { group: Some(5), up_to: None, .. })));
        assert!(parse("ferry clear bob --up-to 0").is_err());
        assert!(matches!(parse("ferry read bob"), Ok(Command::Read { .. })));
        assert!(matches!(parse("ferry read --group 5"), Ok(Command::Read { group: Some(5), .. })));
        assert!(matches!(parse("ferry read-status bob 3 --json"), Ok(Command::ReadStatus { json: true, .. })));
        assert!(matches!(
            parse("ferry conversations --json --all"),
            Ok(Command::Conversations { json: true, all: true })
        ));
        assert!(matches!(parse("ferry conversations"), Ok(Command::Conversations { json: false, all: false })));
        assert!(matches!(parse("ferry mute bob --off"), Ok(Command::Mute { off: true, .. })));
        assert!(matches!(parse("ferry mute --group 5"), Ok(Command::Mute { group: Some(5), off: false, .. })));
        assert!(matches!(parse("ferry pin-conversation d_1_2"), Ok(Command::PinConversation { off: false, .. })));
        assert!(matches!(parse("ferry archive bob --off"), Ok(Command::Archive { off: true, .. })));
        assert!(matches!(parse("ferry draft bob see-you"), Ok(Command::Draft { group: None, .. })));
        let Ok(Command::Draft { args, .. }) = Cli::try_parse_from(["ferry", "draft", "bob", ""]).map(|c| c.command)
        else {
            panic!("an empty draft did not parse")
        };
        assert_eq!(args, ["bob", ""]);
        let Ok(Command::Group { command: GroupCommand::Create { name, members, json, .. } }) =
            parse("ferry group create team --members bob,carol --json")
        else {
            panic!("group create did not parse")
        };
        assert_eq!((name.as_str(), members, json), ("team", vec!["bob".to_owned(), "carol".to_owned()], true));
        assert!(matches!(
            parse("ferry group mute 5 bob --minutes 3"),
            Ok(Command::Group { command: GroupCommand::Mute { id: 5, minutes: 3, .. } })
        ));
        assert!(matches!(
            parse("ferry group mute-all 5"),
            Ok(Command::Group { command: GroupCommand::MuteAll { id: 5 } })
        ));
        assert!(matches!(
            parse("ferry group members g_7 --json"),
            Ok(Command::Group { command: GroupCommand::Members { id: 7, json: true } })
        ));
        assert!(parse("ferry group kick team bob").is_err());
        let Ok(Command::Search(search)) = parse("ferry search 数据库 --with bob --kind text --limit 5 --all") else {
            panic!("search did not parse")
        };
        assert_eq!((search.query, search.limit, search.all), (vec!["数据库".to_owned()], 5, true));
        assert!(matches!(parse("ferry search --kind file --json"), Ok(Command::Search(SearchArgs { json: true, .. }))));
        assert!(parse("ferry search x --in g_5 --with bob").is_err());
    }

    #[test]
    fn errors_render_on_one_line() {
        let api = anyhow::Error::from(ClientError::Api(ApiError::not_found("no user bob")));
        assert_eq!(describe(&api), "not_found: no user bob");
        let plain = anyhow::anyhow!("not logged in (run ferry login)");
        assert_eq!(describe(&plain), "not logged in (run ferry login)");
    }
}
