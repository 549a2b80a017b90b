//! `chat [USER]`: an interactive session. Lines from stdin are sent to the
//! current peer or group (in order, by one sender task, so they arrive in
//! the order typed); incoming messages are printed as they arrive, group
//! messages as `[g_5 alice] hi` and group events as `[g_5] * …`. An
//! incoming call is announced (`📞 alice is calling (video) — …`) and
//! `:decline` refuses it. Works with a pipe: at end of input it waits until
//! every queued message is acknowledged.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use anyhow::{Result, anyhow, bail};
use ferry_client::{
    CallEvent, CallSignal, Client, ClientError, Event, HttpApi, RejectReason, Target, User, new_client_msg_id,
    text_content, text_with_mentions, v1,
};
use ferry_core::ConversationId;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    sync::mpsc,
};

use super::{
    Ctx, Names,
    calls::{self, Ringing},
    connect, group,
};
use crate::output;

/// How long one message may take to be acknowledged before it is reported
/// as not sent.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long quitting waits for the server to echo this session's own
/// messages back (normally milliseconds).
const ECHO_WAIT: Duration = Duration::from_secs(2);

/// client_msg_ids this session sent, so their echo is not printed back.
type SentIds = Arc<Mutex<HashSet<String>>>;

/// What a line of input asks for.
#[derive(Debug, PartialEq, Eq)]
enum Input<'a> {
    Text(&'a str),
    To(&'a str),
    Group(i64),
    Who,
    Decline,
    Help,
    Quit,
    Empty,
    Unknown(&'a str),
}

const HELP: &str = "\
  TEXT        send TEXT to the current peer or group (@name mentions a member)
  :to USER    talk to USER
  :group ID   talk in group ID (5 or g_5)
  :who        list online contacts
  :decline    decline the incoming call
  :q          quit
  :help       this help";

fn parse_input(line: &str) -> Input<'_> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Input::Empty;
    }
    let Some(cmd) = line.strip_prefix(':') else {
        return Input::Text(line);
    };
    let (name, arg) = cmd.trim().split_once(char::is_whitespace).unwrap_or((cmd.trim(), ""));
    match (name, arg.trim()) {
        ("to", user) if !user.is_empty() => Input::To(user),
        ("group" | "g", id) => match group::parse_group_id(id) {
            Ok(id) => Input::Group(id),
            Err(_) => Input::Unknown(line),
        },
        ("who", _) => Input::Who,
        ("decline", _) => Input::Decline,
        ("help" | "h" | "?", _) => Input::Help,
        ("q" | "quit" | "exit", _) => Input::Quit,
        _ => Input::Unknown(line),
    }
}

/// Whom typed lines go to.
#[derive(Debug)]
enum Peer {
    User(User),
    Group { id: i64, conversation_id: String },
}

/// Runs the chat until `:q`, end of input, or the session ends.
pub async fn run(ctx: &Ctx, first_peer: Option<&str>) -> Result<()> {
    let (mut profile, http) = ctx.session()?;
    let mut peer = match first_peer {
        Some(name) => Some(Peer::User(http.user_by_name(name).await?)),
        None => None,
    };
    let (client, mut events) = connect(&http, &profile).await?;
    let mut view =
        View { me: profile.user_id, names: Names::new(http.clone()), sent: SentIds::default(), ringing: None };
    view.names.insert(profile.user_id, profile.username.clone());
    if let Some(Peer::User(p)) = &peer {
        view.names.insert(p.id, p.username.clone());
        eprintln!("* talking to {} (:help for commands)", p.username);
    } else {
        eprintln!("* no peer yet: use :to USER or :group ID (:help for commands)");
    }

    let (queue, queued) = mpsc::channel::<(Target, v1::MessageContent)>(64);
    let sender = tokio::spawn(send_loop(client.clone(), queued, view.sent.clone()));

    let initial_sync = client.sync();
    tokio::pin!(initial_sync);
    let mut syncing = true;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();

    let outcome: Result<()> = loop {
        tokio::select! {
            // The sync's answer is sent before any later event is emitted;
            // taking it first keeps the display in order.
            biased;
            synced = &mut initial_sync, if syncing => {
                syncing = false;
                match synced {
                    Ok(messages) => for m in messages { view.show(&m).await },
                    Err(e) => eprintln!("error: sync failed: {}", crate::describe(&e.into())),
                }
            }
            event = events.recv() => match event {
                Some(Event::Message(m)) => view.show(&m).await,
                Some(Event::Presence(p)) => view.show_presence(&p).await,
                Some(Event::Typing(t)) if t.typing => view.show_note(t.user_id, "is typing…").await,
                Some(Event::ReadReceipt(r)) => view.show_note(r.user_id, &format!("read {} #{}", r.conversation_id, r.read_seq)).await,
                Some(Event::Typing(_)) => {}
                // Contact and member lists are not shown here.
                Some(Event::Changed(_)) => {}
                Some(Event::Call(call)) => view.on_call(&client, call).await,
                Some(Event::Disconnected) => eprintln!("* connection lost, reconnecting"),
                Some(Event::Reconnected) => eprintln!("* reconnected"),
                Some(Event::Kicked { reason }) => break Err(anyhow!("kicked: {reason}")),
                Some(Event::Closed { error: Some(e) }) => break Err(e.into()),
                Some(Event::Closed { error: None }) | None => break Ok(()),
            },
            line = lines.next_line() => match line {
                Ok(Some(line)) => match parse_input(&line) {
                    Input::Quit => break Ok(()),
                    Input::Empty => {}
                    Input::Help => eprintln!("{HELP}"),
                    Input::Unknown(l) => eprintln!("error: unknown command {l:?} (:help)"),
                    Input::To(name) => match http.user_by_name(name).await {
                        Ok(user) => {
                            eprintln!("* talking to {}", user.username);
                            view.names.insert(user.id, user.username.clone());
                            peer = Some(Peer::User(user));
                        }
                        Err(e) => eprintln!("error: {}", crate::describe(&e.into())),
                    },
                    Input::Group(id) => match http.group(id).await {
                        Ok(g) => {
                            eprintln!("* talking in {} ({})", g.conversation_id, output::sanitize(&g.name));
                            peer = Some(Peer::Group { id, conversation_id: g.conversation_id });
                        }
                        Err(e) => eprintln!("error: {}", crate::describe(&e.into())),
                    },
                    Input::Decline => match view.ringing.take() {
                        Some(r) => {
                            let caller = view.names.name(r.caller_id);
                            match calls::refuse(&client, &r.call_id, Some(&caller), RejectReason::Declined).await {
                                Ok(line) => println!("{line}"),
                                Err(e) => eprintln!("error: {}", crate::describe(&e)),
                            }
                        }
                        None => eprintln!("error: no call is ringing"),
                    },
                    Input::Who => match who(&client, &mut view.names).await {
                        Ok(line) => println!("{line}"),
                        Err(e) => eprintln!("error: {}", crate::describe(&e)),
                    },
                    Input::Text(text) => match &peer {
                        Some(p) => {
                            let outgoing = outgoing(&http, p, text).await;
                            // A full queue holds up reading input: backpressure.
                            if queue.send(outgoing).await.is_err() {
                                break Err(anyhow!("sender stopped"));
                            }
                        }
                        None => eprintln!("error: no peer; use :to USER or :group ID"),
                    },
                },
                Ok(None) => break Ok(()),
                Err(e) => break Err(e.into()),
            },
        }
    };

    // Let queued messages get their acks, then leave cleanly and show what
    // arrived meanwhile, so the saved seqs match what was printed.
    drop(queue);
    let failed = sender.await.unwrap_or(0);
    // The server acknowledges before it pushes the message back to this
    // connection; without its echo the saved seq stops short and the next
    // `sync` shows our last lines again.
    let echoes = async {
        while !view.sent.lock().unwrap_or_else(PoisonError::into_inner).is_empty() {
            match events.recv().await {
                Some(Event::Message(m)) => view.show(&m).await,
                Some(_) => {}
                None => break,
            }
        }
    };
    let _ = tokio::time::timeout(ECHO_WAIT, echoes).await;
    client.close().await;
    while let Some(event) = events.recv().await {
        if let Event::Message(m) = event {
            view.show(&m).await;
        }
    }
    profile.merge_seqs(client.known_seqs());
    ctx.save(&profile)?;
    outcome?;
    if failed > 0 {
        bail!("{failed} message(s) not sent");
    }
    Ok(())
}

/// The message a typed line becomes: a text to the user, or to the group
/// with its `@name` mentions resolved. A lookup failure costs the mentions,
/// not the message.
async fn outgoing(http: &HttpApi, peer: &Peer, text: &str) -> (Target, v1::MessageContent) {
    match peer {
        Peer::User(user) => (Target::User(user.id), text_content(text)),
        Peer::Group { id, conversation_id } => {
            let mentions = group::resolve_mentions(http, *id, text).await.unwrap_or_else(|e| {
                eprintln!("error: mentions not resolved: {}", crate::describe(&e));
                Default::default()
            });
            (Target::Conversation(conversation_id.clone()), text_with_mentions(text, mentions))
        }
    }
}

/// Sends queued lines one at a time, each retried until acknowledged (or
/// [`SEND_TIMEOUT`]); returns how many failed.
async fn send_loop(client: Client, mut queued: mpsc::Receiver<(Target, v1::MessageContent)>, sent: SentIds) -> usize {
    let mut failed = 0;
    while let Some((target, content)) = queued.recv().await {
        let id = new_client_msg_id();
        sent.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone());
        let send = client.send_with_id(id.clone(), target, content);
        let result = tokio::time::timeout(SEND_TIMEOUT, send).await.unwrap_or(Err(ClientError::Timeout));
        if let Err(e) = result {
            // No echo will come for it.
            sent.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
            failed += 1;
            eprintln!("error: not sent: {}", crate::describe(&e.into()));
        }
    }
    failed
}

/// The `:who` line: usernames of online contacts.
async fn who(client: &Client, names: &mut Names) -> Result<String> {
    let online: Vec<_> = client.get_presence(&[]).await?.into_iter().filter(|p| p.online).map(|p| p.user_id).collect();
    if online.is_empty() {
        return Ok("* nobody online".to_owned());
    }
    names.resolve(online.iter().copied()).await?;
    let mut list: Vec<String> = online.iter().map(|id| names.name(*id)).collect();
    list.sort();
    Ok(format!("* online: {}", list.join(", ")))
}

/// Renders incoming things for this user.
struct View {
    me: i64,
    names: Names,
    sent: SentIds,
    /// The incoming call `:decline` refuses.
    ringing: Option<Ringing>,
}

impl View {
    /// An incoming call is announced (and the caller told it rings here);
    /// the call stops ringing here when answered elsewhere or ended. How it
    /// ended comes as its call-log message.
    async fn on_call(&mut self, client: &Client, CallEvent { call_id, signal }: CallEvent) {
        match signal {
            CallSignal::Incoming(incoming) => {
                if let Err(e) = self.names.resolve([incoming.caller_id]).await {
                    tracing::debug!(error = %e, "name lookup failed");
                }
                let how = format!(":decline (or `ferry call decline {call_id}`)");
                println!("{}", calls::incoming_line(&self.names.name(incoming.caller_id), &incoming, &how));
                if let Err(e) = client.ringing(&call_id).await {
                    tracing::debug!(error = %e, "could not report ringing");
                }
                self.ringing = Some(Ringing { call_id, caller_id: incoming.caller_id });
            }
            CallSignal::AnsweredElsewhere if self.ringing.as_ref().is_some_and(|r| r.call_id == call_id) => {
                self.ringing = None;
                println!("📞 answered on another device");
            }
            CallSignal::Ended(_) if self.ringing.as_ref().is_some_and(|r| r.call_id == call_id) => self.ringing = None,
            // This device never places or answers a call, so the rest is
            // not for it.
            _ => {}
        }
    }

    async fn show(&mut self, m: &v1::Message) {
        if m.hidden {
            return; // deleted for this user (or cleared): not shown anywhere
        }
        let mine = m.sender_id == self.me;
        if mine && self.sent.lock().unwrap_or_else(PoisonError::into_inner).remove(&m.client_msg_id) {
            return; // our own message from this session, already on screen
        }
        let conversation = m.conversation_id.parse::<ConversationId>().ok();
        // Mine from another device: name the conversation's other member.
        let other_id = match conversation {
            Some(ConversationId::Group(_)) => None,
            Some(c) if mine => Some(c.peer_of(self.me).unwrap_or(self.me)),
            _ => Some(m.sender_id),
        };
        let mut ids = output::named_ids(m);
        ids.extend(other_id);
        if let Err(e) = self.names.resolve(ids).await {
            tracing::debug!(error = %e, "name lookup failed");
        }
        let name = |id| self.names.name(id);
        let line = match other_id {
            Some(other) => output::chat_line(m, mine, &name(other), &name),
            None => output::group_chat_line(m, &name),
        };
        println!("{line}");
    }

    /// `* bob is typing…`, `* bob read d_1_2 #5` (others only).
    async fn show_note(&mut self, user: i64, what: &str) {
        if user == self.me {
            return;
        }
        if let Err(e) = self.names.resolve([user]).await {
            tracing::debug!(error = %e, "name lookup failed");
        }
        println!("* {} {}", self.names.name(user), crate::output::sanitize(what));
    }

    async fn show_presence(&mut self, p: &v1::PresenceEvent) {
        if p.user_id == self.me {
            return;
        }
        if let Err(e) = self.names.resolve([p.user_id]).await {
            tracing::debug!(error = %e, "name lookup failed");
        }
        let state = if p.online { "online" } else { "offline" };
        println!("* {} is {state}", self.names.name(p.user_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_lines_are_parsed() {
        assert_eq!(parse_input("hello there"), Input::Text("hello there"));
        assert_eq!(parse_input("  "), Input::Empty);
        assert_eq!(parse_input(":to bob"), Input::To("bob"));
        assert_eq!(parse_input(":group 5"), Input::Group(5));
        assert_eq!(parse_input(":group g_7 "), Input::Group(7));
        assert_eq!(parse_input(":group team"), Input::Unknown(":group team"));
        assert_eq!(parse_input(":to   bob  "), Input::To("bob"));
        assert_eq!(parse_input(":who"), Input::Who);
        assert_eq!(parse_input(":decline"), Input::Decline);
        assert_eq!(parse_input(":q"), Input::Quit);
        assert_eq!(parse_input(":help"), Input::Help);
        assert_eq!(parse_input(":to"), Input::Unknown(":to"));
        assert_eq!(parse_input(":dance"), Input::Unknown(":dance"));
        assert_eq!(parse_input("hi\r"), Input::Text("hi"));
    }
}
