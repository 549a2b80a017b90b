//! End-to-end tests of the real `ferry` binary against a real server.
//!
//! Each test starts a [`TestServer`] in-process on `127.0.0.1:0` and runs the
//! compiled binary as a child process (with `tokio::process`, so the server
//! keeps running while the test waits on the child). Every test has its own
//! `FERRY_HOME`, and `--profile` drives several users from one machine, as
//! the README shows.

use std::{
    path::Path,
    process::{ExitStatus, Stdio},
    time::Duration,
};

use ferry_testkit::{
    TestServer,
    proxy::{CutProxy, Direction},
};
use serde_json::Value;
use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStderr, ChildStdin, ChildStdout, Command},
};

/// Upper bound for anything a test waits on; generous so a loaded CI
/// machine does not turn slowness into failures.
const WAIT: Duration = Duration::from_secs(30);

/// Environment variables the CLI reads; cleared so the developer's own
/// settings cannot leak into a test.
const CLI_ENV: [&str; 5] = ["FERRY_SERVER", "FERRY_PROFILE", "FERRY_PASSWORD", "FERRY_HOME", "FERRY_LOG"];

/// A `FERRY_HOME` and the server the CLI talks to.
struct Cli {
    home: TempDir,
    server: String,
}

/// What a finished run of `ferry` left behind.
#[derive(Debug)]
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Output {
    #[track_caller]
    fn assert_ok(&self) -> &Self {
        assert!(self.status.success(), "ferry failed: {self:#?}");
        self
    }

    /// Asserts a failure reported the documented way: non-zero exit and
    /// exactly one `error: …` line on stderr. Returns that line.
    #[track_caller]
    fn assert_error(&self) -> &str {
        assert!(!self.status.success(), "ferry should have failed: {self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one error line: {self:#?}");
        assert!(lines[0].starts_with("error: "), "expected `error: ...`: {self:#?}");
        lines[0]
    }

    /// `sync --json` output, one object per line.
    #[track_caller]
    fn json_lines(&self) -> Vec<Value> {
        self.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"))).collect()
    }
}

impl Cli {
    fn new(server: &TestServer) -> Self {
        Self::at(server.http_url())
    }

    /// A CLI that reaches the server at `url` (a proxy in front of it).
    fn at(url: String) -> Self {
        Self { home: tempfile::tempdir().expect("temp dir"), server: url }
    }

    /// `ferry --server URL --profile PROFILE ARGS…`, not yet started.
    fn command(&self, profile: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        for var in CLI_ENV {
            cmd.env_remove(var);
        }
        cmd.env("FERRY_HOME", self.home.path())
            .args(["--server", &self.server, "--profile", profile])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `ferry` to completion.
    async fn run(&self, profile: &str, args: &[&str]) -> Output {
        finish(self.command(profile, args)).await
    }

    /// Runs `ferry` to completion in the directory `dir`.
    async fn run_in(&self, dir: &Path, profile: &str, args: &[&str]) -> Output {
        let mut cmd = self.command(profile, args);
        cmd.current_dir(dir);
        finish(cmd).await
    }

    /// Runs `ferry` with the password in `FERRY_PASSWORD` instead of a flag.
    async fn run_with_password_env(&self, profile: &str, password: &str, args: &[&str]) -> Output {
        let mut cmd = self.command(profile, args);
        cmd.env("FERRY_PASSWORD", password);
        finish(cmd).await
    }

    /// Registers `user` on `profile` (password by flag) and returns its id.
    async fn register(&self, profile: &str, user: &str) -> i64 {
        let out = self.run(profile, &["register", user, "--password", &password_of(user)]).await;
        out.assert_ok();
        id_in(&out.stdout)
    }

    /// Logs `user` in on `profile` (password from the environment) and
    /// returns its id.
    async fn login(&self, profile: &str, user: &str) -> i64 {
        let out = self.run_with_password_env(profile, &password_of(user), &["login", user]).await;
        out.assert_ok();
        id_in(&out.stdout)
    }

    /// `sync --json`, parsed.
    async fn sync_json(&self, profile: &str) -> Vec<Value> {
        let out = self.run(profile, &["sync", "--json"]).await;
        out.assert_ok();
        out.json_lines()
    }

    /// Starts an interactive `chat` with stdin, stdout and stderr piped.
    fn chat(&self, profile: &str, peer: &str) -> Chat {
        let mut cmd = self.command(profile, &["chat", peer]);
        cmd.stdin(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn ferry chat");
        Chat {
            stdin: Some(child.stdin.take().expect("piped stdin")),
            stdout: BufReader::new(child.stdout.take().expect("piped stdout")).lines(),
            stderr: BufReader::new(child.stderr.take().expect("piped stderr")).lines(),
            child,
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }
}

/// A running `ferry chat`.
struct Chat {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Lines<BufReader<ChildStderr>>,
}

impl Chat {
    async fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(format!("{line}\n").as_bytes()).await.expect("write to chat");
        stdin.flush().await.expect("flush chat stdin");
    }

    /// Reads stdout until a line satisfies `want`; panics at end of output
    /// or after [`WAIT`], showing what was seen.
    async fn stdout_until(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        read_until(&mut self.stdout, "stdout", what, want).await
    }

    /// Same as [`Chat::stdout_until`], on stderr (where status lines go).
    async fn stderr_until(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        read_until(&mut self.stderr, "stderr", what, want).await
    }

    /// Closes stdin (end of input) and waits for the process to exit;
    /// returns the status and whatever stdout it printed meanwhile.
    async fn finish(mut self) -> (ExitStatus, Vec<String>) {
        drop(self.stdin.take());
        let mut rest = Vec::new();
        let drain = async {
            while let Some(line) = self.stdout.next_line().await.expect("read chat stdout") {
                rest.push(line);
            }
            self.child.wait().await.expect("wait for chat")
        };
        let status = tokio::time::timeout(WAIT, drain).await.expect("chat did not exit");
        (status, rest)
    }
}

async fn read_until<R>(lines: &mut Lines<R>, stream: &str, what: &str, want: impl Fn(&str) -> bool) -> String
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, lines.next_line()).await {
            Ok(Ok(Some(line))) if want(&line) => return line,
            Ok(Ok(Some(line))) => seen.push(line),
            Ok(Ok(None)) => panic!("chat {stream} ended before {what}; saw {seen:#?}"),
            Ok(Err(e)) => panic!("reading chat {stream}: {e}"),
            Err(_) => panic!("no {what} on chat {stream} within {WAIT:?}; saw {seen:#?}"),
        }
    }
}

async fn finish(mut cmd: Command) -> Output {
    let out = tokio::time::timeout(WAIT, cmd.output()).await.expect("ferry did not exit").expect("run ferry");
    Output {
        status: out.status,
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn password_of(user: &str) -> String {
    format!("{user} correct horse")
}

/// The user id in `registered alice (id 7) …` / `logged in as alice (id 7) …`.
#[track_caller]
fn id_in(stdout: &str) -> i64 {
    let start = stdout.find("(id ").unwrap_or_else(|| panic!("no id in {stdout:?}")) + "(id ".len();
    let len = stdout[start..].find(')').unwrap_or_else(|| panic!("no id in {stdout:?}"));
    stdout[start..start + len].parse().unwrap_or_else(|e| panic!("bad id in {stdout:?}: {e}"))
}

fn direct(a: i64, b: i64) -> String {
    format!("d_{}_{}", a.min(b), a.max(b))
}

fn seqs(messages: &[Value]) -> Vec<u64> {
    messages.iter().map(|m| m["seq"].as_u64().expect("seq is a number")).collect()
}

fn texts(messages: &[Value]) -> Vec<&str> {
    messages.iter().map(|m| m["text"].as_str().expect("text is a string")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn send_then_sync_delivers_once_and_a_new_device_gets_everything() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let alice = cli.register("alice", "alice").await;
    // The password from the environment works for register too.
    let out = cli.run_with_password_env("bob", &password_of("bob"), &["register", "bob"]).await;
    let bob = id_in(&out.assert_ok().stdout);
    assert!(cli.home().join("profiles/alice.json").is_file());
    assert!(cli.home().join("profiles/bob.json").is_file());

    let sent = cli.run("alice", &["send", "bob", "hello"]).await;
    assert!(sent.assert_ok().stdout.contains("seq=1"), "{sent:#?}");

    let got = cli.sync_json("bob").await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let m = &got[0];
    assert_eq!(m["conversation"], direct(alice, bob));
    assert_eq!(m["seq"], 1);
    assert_eq!(m["sender"], "alice");
    assert_eq!(m["sender_id"], alice);
    assert_eq!(m["text"], "hello");
    assert!(!m["client_msg_id"].as_str().expect("client_msg_id").is_empty(), "{m}");
    assert!(m["server_msg_id"].as_u64().expect("server_msg_id") > 0, "{m}");
    assert!(m["sent_at"].as_i64().expect("sent_at") > 0, "{m}");

    // Nothing new since the last sync.
    let again = cli.run("bob", &["sync", "--json"]).await;
    assert_eq!(again.assert_ok().stdout, "", "{again:#?}");

    for text in ["two", "three", "four"] {
        cli.run("alice", &["send", "bob", text]).await.assert_ok();
    }
    let got = cli.sync_json("bob").await;
    assert_eq!(seqs(&got), [2, 3, 4], "{got:#?}");
    assert_eq!(texts(&got), ["two", "three", "four"]);

    // Plain sync on the sender's own profile shows the conversation too.
    let plain = cli.run("alice", &["sync"]).await;
    assert_eq!(
        plain.assert_ok().stdout.lines().next(),
        Some(format!("[{} #1] alice: hello", direct(alice, bob)).as_str())
    );

    // A new profile is a new device: it has seen nothing, so it gets it all.
    assert_eq!(cli.login("bob-laptop", "bob").await, bob);
    let got = cli.sync_json("bob-laptop").await;
    assert_eq!(seqs(&got), [1, 2, 3, 4], "{got:#?}");
    assert_eq!(texts(&got), ["hello", "two", "three", "four"]);
    assert!(got.iter().all(|m| m["sender"] == "alice" && m["conversation"] == direct(alice, bob)));
    // …and only once.
    assert_eq!(cli.sync_json("bob-laptop").await, Vec::<Value>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_exit_non_zero_with_one_line() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    cli.register("alice", "alice").await;

    let line = cli.run("alice", &["send", "nosuchuser", "hi"]).await.assert_error().to_owned();
    assert!(line.starts_with("error: not_found"), "{line}");

    let wrong = cli.run("alice2", &["login", "alice", "--password", "wrong"]).await;
    wrong.assert_error();
    let wrong = cli.run_with_password_env("alice2", "wrong", &["login", "alice"]).await;
    wrong.assert_error();
    // A failed login saves nothing.
    assert!(!cli.home().join("profiles/alice2.json").exists());

    let taken = cli.run("other", &["register", "alice", "--password", "whatever pw"]).await;
    let line = taken.assert_error();
    assert!(line.contains("username_taken"), "{line}");

    for args in
        [&["send", "alice", "hi"][..], &["sync"], &["sync", "--json"], &["whoami"], &["logout"], &["chat", "alice"]]
    {
        let out = cli.run("empty", args).await;
        let line = out.assert_error();
        assert!(line.contains("not logged in"), "{args:?}: {line}");
        assert_eq!(out.stdout, "", "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn whoami_then_logout() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let id = cli.register("main", "alice").await;

    let me = cli.run("main", &["whoami"]).await;
    assert!(me.assert_ok().stdout.starts_with(&format!("alice (id {id})")), "{me:#?}");

    let out = cli.run("main", &["logout"]).await;
    assert!(out.assert_ok().stdout.contains("logged out alice"), "{out:#?}");
    let line = cli.run("main", &["whoami"]).await.assert_error().to_owned();
    assert!(line.contains("not logged in"), "{line}");
    cli.run("main", &["send", "alice", "hi"]).await.assert_error();

    // Logging in again on the same profile works.
    cli.login("main", "alice").await;
    cli.run("main", &["whoami"]).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_over_pipes_sends_receives_and_lists_who_is_online() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let alice = cli.register("alice", "alice").await;
    let bob = cli.register("bob", "bob").await;
    // Alice chats from a second device, so her main profile's sync below
    // still sees everything.
    cli.login("alice-chat", "alice").await;

    let mut bob_chat = cli.chat("bob", "alice");
    // Printed once connected.
    bob_chat.stderr_until("talking to alice", |l| l.contains("talking to alice")).await;
    let mut alice_chat = cli.chat("alice-chat", "bob");
    alice_chat.stderr_until("talking to bob", |l| l.contains("talking to bob")).await;

    // A one-shot send from alice's main profile reaches the running chat.
    cli.run("alice", &["send", "bob", "ping from alice"]).await.assert_ok();
    bob_chat.stdout_until("alice's ping", |l| l == "[from alice #1] ping from alice").await;
    // Alice's other device shows her own message, addressed to bob.
    alice_chat.stdout_until("alice's own ping", |l| l == "[to bob #1] ping from alice").await;

    // Presence is visible only between users who share a conversation, so
    // ask once the ping made one; it is announced asynchronously, so ask
    // until alice shows up.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        bob_chat.type_line(":who").await;
        let who = bob_chat.stdout_until(":who answer", |l| l.starts_with("* online:") || l == "* nobody online").await;
        if who == "* online: alice" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "alice never online: {who}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    bob_chat.type_line("first line").await;
    bob_chat.type_line("second line").await;
    alice_chat.stdout_until("bob's first line", |l| l == "[from bob #2] first line").await;
    alice_chat.stdout_until("bob's second line", |l| l == "[from bob #3] second line").await;

    bob_chat.type_line(":q").await;
    let (status, _) = bob_chat.finish().await;
    assert!(status.success(), "bob's chat: {status}");
    // End of input ends the chat too.
    let (status, _) = alice_chat.finish().await;
    assert!(status.success(), "alice's chat: {status}");

    let got = cli.sync_json("alice").await;
    let from_bob: Vec<&Value> = got.iter().filter(|m| m["sender"] == "bob").collect();
    assert_eq!(from_bob.iter().map(|m| m["text"].as_str().unwrap()).collect::<Vec<_>>(), ["first line", "second line"]);
    assert!(from_bob.iter().all(|m| m["conversation"] == direct(alice, bob) && m["sender_id"] == bob));
    assert!(from_bob[0]["seq"].as_u64() < from_bob[1]["seq"].as_u64(), "{got:#?}");
    // The whole conversation, gap-free: the ping, then bob's two lines.
    assert_eq!(seqs(&got), [1, 2, 3], "{got:#?}");
    assert_eq!(texts(&got), ["ping from alice", "first line", "second line"]);

    // Bob's chat saved his seqs on exit: his profile has nothing new.
    assert_eq!(cli.sync_json("bob").await, Vec::<Value>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_sends_piped_lines_at_end_of_input() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    cli.register("alice", "alice").await;
    cli.register("bob", "bob").await;

    // All input written at once, then closed without `:q`: every line must
    // still be acknowledged before the chat exits.
    let mut chat = cli.chat("bob", "alice");
    for i in 1..=5 {
        chat.type_line(&format!("burst {i}")).await;
    }
    let (status, _) = chat.finish().await;
    assert!(status.success(), "{status}");

    let got = cli.sync_json("alice").await;
    assert_eq!(texts(&got), ["burst 1", "burst 2", "burst 3", "burst 4", "burst 5"]);
    assert_eq!(seqs(&got), [1, 2, 3, 4, 5]);
    // The chat saved seqs covering every line it sent: nothing comes back.
    assert_eq!(cli.sync_json("bob").await, Vec::<Value>::new());
}

/// The seq in `sent seq=7 to bob`.
#[track_caller]
fn sent_seq(out: &Output) -> u64 {
    let stdout = &out.assert_ok().stdout;
    let rest = &stdout[stdout.find("seq=").unwrap_or_else(|| panic!("no seq in {out:#?}")) + "seq=".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|e| panic!("bad seq in {stdout:?}: {e}"))
}

/// The stdout of a run that must succeed, trimmed.
#[track_caller]
fn ok_line(out: &Output) -> &str {
    out.assert_ok().stdout.trim_end()
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_edits_reactions_pins_and_recalls_reach_the_other_side() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let alice = cli.register("alice", "alice").await;
    let bob = cli.register("bob", "bob").await;
    let d = direct(alice, bob);

    assert_eq!(sent_seq(&cli.run("alice", &["send", "bob", "hello bob"]).await), 1);
    let reply = cli.run("bob", &["send", "alice", "hi alice", "--reply", "1"]).await;
    assert_eq!(ok_line(&reply), "sent seq=2 to alice (reply to #1)");
    assert_eq!(sent_seq(&cli.run("alice", &["send", "bob", "typo mesage"]).await), 3);

    let out = cli.run("alice", &["edit", "bob", "3", "typo message"]).await;
    assert_eq!(ok_line(&out), format!("edited {d} #3 (event #4)"));
    let out = cli.run("bob", &["react", "alice", "1", "👍"]).await;
    assert_eq!(ok_line(&out), format!("reacted 👍 to {d} #1 (event #5)"));
    let out = cli.run("alice", &["pin", "bob", "2"]).await;
    assert_eq!(ok_line(&out), format!("pinned {d} #2 (event #6)"));
    assert_eq!(sent_seq(&cli.run("alice", &["send", "bob", "oops"]).await), 7);
    // By conversation id rather than username.
    let out = cli.run("alice", &["revoke", &d, "7"]).await;
    assert_eq!(ok_line(&out), format!("recalled {d} #7 (event #8)"));

    // Refusals: one error line with the server's code, nothing changed.
    let line = cli.run("bob", &["edit", "alice", "3", "my words now"]).await.assert_error().to_owned();
    assert!(line.starts_with("error: forbidden: "), "{line}");
    let line = cli.run("bob", &["react", "alice", "1", "👍"]).await.assert_error().to_owned();
    assert!(line.starts_with("error: conflict: "), "{line}");
    let line = cli.run("alice", &["revoke", "bob", "7"]).await.assert_error().to_owned();
    assert!(line.starts_with("error: conflict: "), "{line}");
    let line = cli.run("alice", &["pin", "bob", "99"]).await.assert_error().to_owned();
    assert!(line.starts_with("error: not_found: "), "{line}");

    // Pins, from either side.
    let pins = cli.run("bob", &["pins", "alice"]).await;
    assert_eq!(ok_line(&pins), format!("[{d} #2] bob: ↪ re #1 alice: \"hello bob\" | hi alice (pinned by alice)"));
    let pins = cli.run("alice", &["pins", &d, "--json"]).await;
    let pins = pins.assert_ok().json_lines();
    assert_eq!(pins.len(), 1, "{pins:#?}");
    assert_eq!((pins[0]["seq"].as_u64(), pins[0]["pinned_by"].as_i64()), (Some(2), Some(alice)));
    assert_eq!(pins[0]["pinned_by_name"], "alice");
    assert!(pins[0]["pinned_at"].as_i64().expect("pinned_at") > 0, "{pins:#?}");

    // Bob's profile has never synced: he gets the whole conversation, as it
    // is now, and the events that changed it.
    let got = cli.sync_json("bob").await;
    assert_eq!(seqs(&got), [1, 2, 3, 4, 5, 6, 7, 8], "{got:#?}");
    assert!(got.iter().all(|m| m["conversation"] == d.as_str()), "{got:#?}");
    let kinds: Vec<&str> = got.iter().map(|m| m["kind"].as_str().expect("kind")).collect();
    assert_eq!(kinds, ["text", "text", "text", "event", "event", "event", "revoked", "event"]);

    let [hello, reply, edited, edit, react, pin, recalled, recall] = &got[..] else { unreachable!() };
    assert_eq!(hello["text"], "hello bob");
    assert_eq!(hello["reactions"], serde_json::json!([{"emoji": "👍", "count": 1, "me": true}]), "{hello}");
    assert_eq!(reply["text"], "hi alice");
    assert_eq!(
        reply["quote"],
        serde_json::json!({
            "seq": 1, "sender_id": alice, "sender": "alice", "kind": "text", "preview": "hello bob", "revoked": false,
        })
    );
    assert_eq!(edited["text"], "typo message");
    assert!(edited["edited_at"].as_i64().expect("edited_at") > 0, "{edited}");
    assert!(hello.get("edited_at").is_none(), "{hello}");
    assert_eq!(edit["event"], serde_json::json!({"event": "edited", "target_seq": 3, "emoji": ""}));
    assert_eq!((edit["sender"].as_str(), react["sender"].as_str()), (Some("alice"), Some("bob")));
    assert_eq!(react["event"], serde_json::json!({"event": "reaction_added", "target_seq": 1, "emoji": "👍"}));
    assert_eq!(pin["event"], serde_json::json!({"event": "pinned", "target_seq": 2, "emoji": ""}));
    assert_eq!(recalled["revoked"]["by"], alice);
    assert!(recalled["revoked"]["at"].as_i64().expect("revoked at") > 0, "{recalled}");
    assert_eq!(recall["event"], serde_json::json!({"event": "revoked", "target_seq": 7, "emoji": ""}));

    // Alice's plain sync tells the same story in lines.
    let plain = cli.run("alice", &["sync"]).await;
    let lines: Vec<&str> = plain.assert_ok().stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("[{d} #1] alice: hello bob [👍 1]"),
            format!("[{d} #2] bob: ↪ re #1 alice: \"hello bob\" | hi alice"),
            format!("[{d} #3] alice: typo message (edited)"),
            format!("[{d} #4] * alice edited #3"),
            format!("[{d} #5] * bob reacted 👍 to #1"),
            format!("[{d} #6] * alice pinned #2"),
            format!("[{d} #7] * alice recalled a message"),
            format!("[{d} #8] * alice recalled #7"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn message_commands_take_a_group() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    cli.register("alice", "alice").await;
    cli.register("bob", "bob").await;
    let out = cli.run("alice", &["group", "create", "crew", "--members", "bob"]).await;
    let group = ok_line(&out).to_owned();

    let seq = sent_seq(&cli.run("alice", &["send", "--group", &group, "plans at noon"]).await);
    let out = cli.run("bob", &["react", "--group", &group, &seq.to_string(), "🎉"]).await;
    assert!(ok_line(&out).starts_with(&format!("reacted 🎉 to g_{group} #{seq} (event #")), "{out:#?}");
    let out = cli.run("bob", &["react", "--group", &group, &seq.to_string(), "🎉", "--remove"]).await;
    assert!(ok_line(&out).starts_with(&format!("removed 🎉 from g_{group} #{seq} (event #")), "{out:#?}");
    // Only the owner and admins pin in a group.
    let line = cli.run("bob", &["pin", "--group", &group, &seq.to_string()]).await.assert_error().to_owned();
    assert!(line.starts_with("error: forbidden: "), "{line}");
    cli.run("alice", &["pin", "--group", &group, &seq.to_string()]).await.assert_ok();
    let pins = cli.run("bob", &["pins", "--group", &group]).await;
    assert_eq!(ok_line(&pins), format!("[g_{group} #{seq}] alice: plans at noon (pinned by alice)"));
    let out = cli.run("alice", &["pin", &format!("g_{group}"), &seq.to_string(), "--unpin"]).await;
    assert!(ok_line(&out).starts_with(&format!("unpinned g_{group} #{seq}")), "{out:#?}");
    assert_eq!(cli.run("bob", &["pins", "--group", &group]).await.assert_ok().stdout, "");

    // A malformed command line is refused before anything is sent.
    let line = cli.run("alice", &["revoke", "--group", &group, "bob", "3"]).await.assert_error().to_owned();
    assert!(line.starts_with("error: usage: ferry revoke"), "{line}");
}

/// Forwarding (copies, merged, a refusing target), deleting for yourself and
/// clearing, read positions, and the conversation list with its settings.
#[tokio::test(flavor = "multi_thread")]
async fn forward_delete_clear_read_and_conversation_settings() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let alice = cli.register("alice", "alice").await;
    let bob = cli.register("bob", "bob").await;
    cli.register("carol", "carol").await;
    let dave = cli.register("dave", "dave").await;
    let (ab, ad) = (direct(alice, bob), direct(alice, dave));
    cli.run("carol", &["block", "alice"]).await.assert_ok();

    for (from, to, text) in [("alice", "bob", "one"), ("alice", "bob", "two"), ("bob", "alice", "three")] {
        cli.run(from, &["send", to, text]).await.assert_ok();
    }

    // Copies: carol refuses, dave gets both; one refusal is not a failure.
    let out = cli.run("alice", &["forward", "bob", "2,1", "--to", "carol", "--to", "dave"]).await;
    let lines: Vec<&str> = out.assert_ok().stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "carol: blocked: this user does not accept your messages".to_owned(),
            format!("forwarded 2 messages to dave ({ad} #1, #2)")
        ]
    );
    // Merged, named by conversation id.
    let out = cli.run("alice", &["forward", &ab, "1,#3", "--to", "dave", "--merged"]).await;
    assert_eq!(ok_line(&out), format!("forwarded 2 messages to dave as a chat record ({ad} #3)"));
    // Every target refused: the line, then the error.
    let out = cli.run("alice", &["forward", "bob", "1", "--to", "carol"]).await;
    assert_eq!(out.assert_error(), "error: nothing forwarded: every target refused");
    assert_eq!(out.stdout, "carol: blocked: this user does not accept your messages\n");

    let got = cli.sync_json("dave").await;
    assert_eq!(seqs(&got), [1, 2, 3], "{got:#?}");
    assert!(got.iter().all(|m| m["sender_id"] == alice && m["conversation"] == ad.as_str()), "{got:#?}");
    assert_eq!((got[0]["text"].as_str(), got[0]["forwarded"].as_bool()), (Some("one"), Some(true)));
    assert_eq!((got[1]["text"].as_str(), got[1]["forwarded"].as_bool()), (Some("two"), Some(true)));
    let record = &got[2]["chat_record"];
    assert_eq!(got[2]["kind"], "chat_record");
    let items = record["items"].as_array().expect("items");
    let said: Vec<(i64, &str, &str)> = items
        .iter()
        .map(|i| (i["sender_id"].as_i64().unwrap(), i["sender_name"].as_str().unwrap(), i["text"].as_str().unwrap()))
        .collect();
    assert_eq!(said, [(alice, "alice", "one"), (bob, "bob", "three")], "{record}");
    assert!(items.iter().all(|i| i["server_time"].as_i64() > Some(0)), "{record}");
    let title = record["title"].as_str().expect("title").to_owned();
    // The same on a new device, in lines.
    cli.login("dave-laptop", "dave").await;
    let plain = cli.run("dave-laptop", &["sync"]).await;
    let lines: Vec<&str> = plain.assert_ok().stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("[{ad} #1] alice: (forwarded) one"),
            format!("[{ad} #2] alice: (forwarded) two"),
            format!("[{ad} #3] alice: [Chat history] {title}"),
            "  alice: one".to_owned(),
            "  bob: three".to_owned(),
        ]
    );

    // Delete for me, then clear: bob's new devices no longer see them;
    // alice still does.
    let out = cli.run("bob", &["delete", "alice", "2"]).await;
    assert_eq!(ok_line(&out), format!("deleted {ab} #2 for you"));
    cli.login("bob-laptop", "bob").await;
    let plain = cli.run("bob-laptop", &["sync"]).await;
    let lines: Vec<&str> = plain.assert_ok().stdout.lines().collect();
    assert_eq!(lines, [format!("[{ab} #1] alice: one"), format!("[{ab} #3] bob: three")]);
    let out = cli.run("bob", &["clear", "alice"]).await;
    assert_eq!(ok_line(&out), format!("cleared {ab} for you"));
    cli.login("bob-tablet", "bob").await;
    assert_eq!(cli.run("bob-tablet", &["sync"]).await.assert_ok().stdout, "");
    let with_bob: Vec<Value> =
        cli.sync_json("alice").await.into_iter().filter(|m| m["conversation"] == ab.as_str()).collect();
    assert_eq!(texts(&with_bob), ["one", "two", "three"]);

    // Read positions and who read what.
    assert_eq!(sent_seq(&cli.run("alice", &["send", "bob", "four"]).await), 4);
    let out = cli.run("alice", &["read-status", "bob", "4"]).await;
    assert_eq!(ok_line(&out), format!("{ab} #4: read by 0, unread by 1 (bob)"));
    let out = cli.run("bob", &["read", "alice"]).await;
    assert_eq!(ok_line(&out), format!("read {ab} up to #4"));
    let out = cli.run("alice", &["read-status", &ab, "#4", "--json"]).await;
    let status = &out.assert_ok().json_lines()[0];
    assert_eq!((status["read_count"].as_u64(), status["unread_count"].as_u64()), (Some(1), Some(0)), "{status}");
    assert_eq!(
        (status["read_user_ids"].clone(), status["read"].clone()),
        (serde_json::json!([bob]), serde_json::json!(["bob"]))
    );
    // Only the sender asks.
    let line = cli.run("bob", &["read-status", "alice", "4"]).await.assert_error().to_owned();
    assert!(line.starts_with("error: forbidden: "), "{line}");

    // Settings, and the list they shape: bob's conversation is newer, but
    // the pinned one comes first.
    assert_eq!(ok_line(&cli.run("alice", &["pin-conversation", "dave"]).await), format!("pinned conversation {ad}"));
    assert_eq!(ok_line(&cli.run("alice", &["mute", "bob"]).await), format!("muted {ab}"));
    assert_eq!(ok_line(&cli.run("alice", &["draft", &ab, "see you"]).await), format!("saved the draft of {ab}"));
    let list = cli.run("alice", &["conversations", "--json"]).await;
    let list = list.assert_ok().json_lines();
    let ids: Vec<&str> = list.iter().map(|c| c["conversation_id"].as_str().expect("id")).collect();
    assert_eq!(ids, [ad.as_str(), ab.as_str()], "{list:#?}");
    let (with_dave, with_bob) = (&list[0], &list[1]);
    assert_eq!((with_dave["pinned"].as_bool(), with_dave["muted"].as_bool()), (Some(true), Some(false)));
    assert_eq!((with_dave["peer"].as_str(), with_dave["peer_user_id"].as_i64()), (Some("dave"), Some(dave)));
    assert_eq!((with_bob["pinned"].as_bool(), with_bob["muted"].as_bool()), (Some(false), Some(true)));
    assert_eq!((with_bob["draft"].as_str(), with_bob["max_seq"].as_u64()), (Some("see you"), Some(4)));
    assert_eq!((with_bob["kind"].as_str(), with_bob["archived"].as_bool()), (Some("direct"), Some(false)));
    // bob's "three" is the one alice has not read (her own messages never count).
    assert_eq!((with_bob["unread"].as_u64(), with_bob["preview"].as_str()), (Some(1), Some("four")));
    let plain = cli.run("alice", &["conversations"]).await;
    let lines: Vec<&str> = plain.assert_ok().stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{plain:#?}");
    assert!(lines[0].starts_with(&format!("dave ({ad}): 0 unread 📌 · ")), "{lines:?}");
    assert!(lines[1].starts_with(&format!("bob ({ab}): 1 unread 🔕 draft \"see you\" · alice: four · ")), "{lines:?}");

    // Archived conversations are listed with --all only; a draft clears.
    assert_eq!(ok_line(&cli.run("alice", &["archive", "bob"]).await), format!("archived {ab}"));
    let list = cli.run("alice", &["conversations", "--json"]).await.assert_ok().json_lines();
    assert_eq!(list.len(), 1, "{list:#?}");
    let list = cli.run("alice", &["conversations", "--json", "--all"]).await.assert_ok().json_lines();
    assert_eq!((list.len(), list[1]["archived"].as_bool()), (2, Some(true)), "{list:#?}");
    assert_eq!(ok_line(&cli.run("alice", &["archive", "bob", "--off"]).await), format!("unarchived {ab}"));
    assert_eq!(ok_line(&cli.run("alice", &["draft", "bob", ""]).await), format!("cleared the draft of {ab}"));
    assert_eq!(ok_line(&cli.run("alice", &["mute", "bob", "--off"]).await), format!("unmuted {ab}"));
    let list = cli.run("alice", &["conversations", "--json"]).await.assert_ok().json_lines();
    assert_eq!((list[1]["draft"].as_str(), list[1]["muted"].as_bool()), (Some(""), Some(false)), "{list:#?}");
}

/// The lines of a run that must succeed.
#[track_caller]
fn ok_lines(out: &Output) -> Vec<&str> {
    out.assert_ok().stdout.lines().collect()
}

/// `search` end to end: Chinese by substring and English by prefix, the
/// matches in brackets (stdout is a pipe here), filters, pages, `--json`,
/// friends and groups found by name, and refusals.
#[tokio::test(flavor = "multi_thread")]
async fn search_finds_chinese_and_english_with_filters_pages_and_json() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let alice = cli.register("alice", "alice").await;
    let bob = cli.register("bob", "bob").await;
    let d = direct(alice, bob);
    for (from, to, text) in [
        ("alice", "bob", "我们明天讨论数据库迁移"),
        ("alice", "bob", "Database backup finished at 3am"),
        ("bob", "alice", "数据库索引太慢了"),
        ("alice", "bob", "午饭吃什么？"),
    ] {
        cli.run(from, &["send", to, text]).await.assert_ok();
    }

    // Newest first: when, where (the peer, the id and seq), who, the snippet.
    let out = cli.run("bob", &["search", "数据库"]).await;
    let lines = ok_lines(&out);
    assert_eq!(lines.len(), 2, "{out:#?}");
    assert!(lines[0].ends_with(&format!(" UTC · alice ({d} #3) · bob: [数据库]索引太慢了")), "{lines:?}");
    assert!(lines[1].ends_with(&format!(" UTC · alice ({d} #1) · alice: 我们明天讨论[数据库]迁移")), "{lines:?}");
    assert_eq!(out.stderr, "", "{out:#?}");
    // Alice sees the same conversation under bob's name; English by prefix.
    let out = cli.run("alice", &["search", "datab"]).await;
    assert_eq!(ok_lines(&out).len(), 1, "{out:#?}");
    assert!(ok_line(&out).ends_with(&format!("bob ({d} #2) · alice: [Datab]ase backup finished at 3am")), "{out:#?}");
    // Words must all match, one argument or several.
    let both = cli.run("bob", &["search", "数据库", "迁移"]).await;
    assert!(ok_line(&both).ends_with("alice: 我们明天讨论[数据库迁移]"), "{both:#?}");
    assert_eq!(cli.run("bob", &["search", "数据库 迁移"]).await.assert_ok().stdout, both.stdout);

    // JSON: one SearchResult per line, as the HTTP API answers it.
    let pages = cli.run("bob", &["search", "数据库", "--json"]).await.assert_ok().json_lines();
    assert_eq!(pages.len(), 1, "{pages:#?}");
    let hits = pages[0]["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 2, "{pages:#?}");
    assert_eq!(hits[1]["message"]["content"]["text"]["text"], "我们明天讨论数据库迁移");
    assert_eq!(hits[1]["message"]["conversationId"], d.as_str());
    assert!(
        hits[1]["snippet"].as_array().expect("snippet").contains(&serde_json::json!({"text": "数据库", "hit": true}))
    );
    assert!(pages[0].get("nextCursor").is_none(), "{pages:#?}");

    // Filters: sender (by name or id), conversation (by user or id), kind, time.
    let from_alice = cli.run("bob", &["search", "数据库", "--from", "alice"]).await;
    assert!(ok_line(&from_alice).ends_with("我们明天讨论[数据库]迁移"), "{from_alice:#?}");
    let by_id = cli.run("bob", &["search", "数据库", "--from", &bob.to_string()]).await;
    assert!(ok_line(&by_id).ends_with("[数据库]索引太慢了"), "{by_id:#?}");
    assert_eq!(ok_lines(&cli.run("bob", &["search", "数据库", "--with", "alice"]).await).len(), 2);
    assert_eq!(ok_lines(&cli.run("bob", &["search", "数据库", "--in", &d]).await).len(), 2);
    // No query, only a filter: every text alice sent bob.
    assert_eq!(ok_lines(&cli.run("bob", &["search", "--from", "alice", "--kind", "text"]).await).len(), 3);
    assert_eq!(cli.run("bob", &["search", "--kind", "file"]).await.assert_ok().stdout, "");
    assert_eq!(cli.run("bob", &["search", "数据库", "--until", "2000-01-01"]).await.assert_ok().stdout, "");
    assert_eq!(ok_lines(&cli.run("bob", &["search", "数据库", "--since", "2000-01-01T00:00Z"]).await).len(), 2);

    // Pages: one by default, with a hint on stderr; --all follows them.
    let out = cli.run("bob", &["search", "数据库", "--limit", "1"]).await;
    assert!(ok_line(&out).ends_with("[数据库]索引太慢了"), "{out:#?}");
    assert_eq!(out.stderr, "more results: run again with --all (or a larger --limit)\n");
    let out = cli.run("bob", &["search", "数据库", "--limit", "1", "--all"]).await;
    assert_eq!(ok_lines(&out).len(), 2, "{out:#?}");
    assert_eq!(out.stderr, "", "{out:#?}");
    let pages = cli.run("bob", &["search", "数据库", "--limit", "1", "--all", "--json"]).await.assert_ok().json_lines();
    assert!(pages.len() >= 2, "{pages:#?}");
    let found: usize = pages.iter().map(|p| p["hits"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(found, 2, "{pages:#?}");
    assert!(pages[0]["nextCursor"].is_string() && pages.last().unwrap().get("nextCursor").is_none(), "{pages:#?}");

    // Friends and groups whose names match follow the hits; a group's hits
    // are titled by its name.
    cli.run("alice", &["friend", "add", "bob"]).await.assert_ok();
    cli.run("bob", &["friend", "accept", "alice"]).await.assert_ok();
    let out = cli.run("alice", &["group", "create", "数据库小组", "--members", "bob"]).await;
    let group = ok_line(&out).to_owned();
    cli.run("alice", &["send", "--group", &group, "数据库 schema review"]).await.assert_ok();
    let out = cli.run("bob", &["search", "数据库"]).await;
    let lines = ok_lines(&out);
    assert!(
        lines[0].contains(&format!(" UTC · 数据库小组 (g_{group} #"))
            && lines[0].ends_with(" · alice: [数据库] schema review"),
        "{lines:?}"
    );
    let groups = lines.iter().position(|l| *l == "groups:").unwrap_or_else(|| panic!("no groups: {lines:?}"));
    assert_eq!(lines[groups + 1..], [format!("  数据库小组 · 2 members · g_{group}")], "{lines:?}");
    let out = cli.run("bob", &["search", "alice"]).await;
    assert_eq!(ok_lines(&out), ["contacts:".to_owned(), format!("  alice · {d}")], "{out:#?}");

    // Refusals: one error line each, nothing on stdout.
    let out = cli.run("bob", &["search"]).await;
    assert!(out.assert_error().starts_with("error: usage: ferry search QUERY"), "{out:#?}");
    let out = cli.run("bob", &["search", "x", "--kind", "nosuch"]).await;
    assert!(out.assert_error().starts_with("error: invalid_argument: unknown kind"), "{out:#?}");
    let out = cli.run("bob", &["search", "x", "--from", "nosuchuser"]).await;
    assert!(out.assert_error().starts_with("error: not_found"), "{out:#?}");
    assert_eq!(out.stdout, "");
}

/// Deterministic bytes that differ by `seed`.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
    out.into_inner()
}

/// The file id in `… · ferry download f_…`.
#[track_caller]
fn download_id(line: &str) -> String {
    let at = line.find("ferry download ").unwrap_or_else(|| panic!("no download command in {line:?}"));
    line[at + "ferry download ".len()..].split_whitespace().next().expect("an id").to_owned()
}

/// `send --image/--file/--voice/--video`, how `sync` shows media, and
/// `download` with its default name, `--force`, a directory and a `.part`
/// left by an earlier run.
#[tokio::test(flavor = "multi_thread")]
async fn files_are_sent_shown_in_sync_and_downloaded() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let alice = cli.register("alice", "alice").await;
    let bob = cli.register("bob", "bob").await;
    let files = tempfile::tempdir().unwrap();
    let report = content(1, 20_000);
    let report_path = files.path().join("季度报告.pdf");
    std::fs::write(&report_path, &report).unwrap();
    let cat_path = files.path().join("cat.png");
    std::fs::write(&cat_path, png(64, 48)).unwrap();
    let note_path = files.path().join("note.ogg");
    std::fs::write(&note_path, content(2, 3000)).unwrap();
    let path = |p: &std::path::PathBuf| p.to_str().expect("utf-8 path").to_owned();

    let out = cli.run("alice", &["send", "bob", "--file", &path(&report_path)]).await;
    let line = ok_line(&out).to_owned();
    assert!(line.starts_with("sent seq=1 to bob: [File] 季度报告.pdf (19.5 KiB) · ferry download "), "{line}");
    let report_id = download_id(&line);
    let out = cli.run("alice", &["send", "bob", "--image", &path(&cat_path), "--reply", "1"]).await;
    assert!(ok_line(&out).starts_with("sent seq=2 to bob (reply to #1): [Image] cat.png ("), "{out:#?}");
    // A voice note needs its length: refused before anything is uploaded.
    let line = cli.run("alice", &["send", "bob", "--voice", &path(&note_path)]).await.assert_error().to_owned();
    assert!(line.contains("--duration-ms"), "{line}");
    let out = cli.run("alice", &["send", "bob", "--voice", &path(&note_path), "--duration-ms", "7400"]).await;
    assert!(ok_line(&out).starts_with("sent seq=3 to bob: [Voice 0:07] note.ogg (2.9 KiB)"), "{out:#?}");
    // The same file again: the server has it, so it is not sent again.
    let out = cli.run("alice", &["send", "bob", "--file", &path(&report_path)]).await;
    assert!(out.stderr.contains("instant upload"), "{out:#?}");
    assert_eq!(sent_seq(&out), 4);

    let got = cli.sync_json("bob").await;
    assert_eq!(seqs(&got), [1, 2, 3, 4], "{got:#?}");
    let kinds: Vec<&str> = got.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["file", "image", "voice", "file"]);
    assert_eq!(got[0]["file"]["id"], report_id.as_str());
    assert_eq!(
        (got[0]["file"]["name"].as_str(), got[0]["file"]["size"].as_u64()),
        (Some("季度报告.pdf"), Some(20_000))
    );
    assert_eq!((got[1]["width"].as_u64(), got[1]["height"].as_u64()), (Some(64), Some(48)));
    assert_eq!(got[1]["quote"]["seq"], 1);
    assert_eq!(got[2]["duration_ms"], 7400);
    assert_ne!(got[3]["file"]["id"], got[0]["file"]["id"], "a file of its own, with the same content");
    let plain = cli.run("alice", &["sync"]).await;
    let first = plain.assert_ok().stdout.lines().next().unwrap_or_default().to_owned();
    assert_eq!(
        first,
        format!("[{}] alice: [File] 季度报告.pdf (19.5 KiB) · ferry download {report_id}", direct(alice, bob) + " #1")
    );

    // Downloads: bob, the recipient, may read what he was sent.
    let dir = tempfile::tempdir().unwrap();
    let out = cli.run_in(dir.path(), "bob", &["download", &report_id]).await;
    assert_eq!(ok_line(&out), "downloaded 季度报告.pdf (19.5 KiB)");
    assert_eq!(std::fs::read(dir.path().join("季度报告.pdf")).unwrap(), report);
    let line = cli.run_in(dir.path(), "alice", &["download", &report_id]).await.assert_error().to_owned();
    assert!(line.contains("exists (add --force"), "{line}");
    cli.run_in(dir.path(), "alice", &["download", &report_id, "--force"]).await.assert_ok();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    cli.run("alice", &["download", &report_id, &path(&sub)]).await.assert_ok();
    assert_eq!(std::fs::read(sub.join("季度报告.pdf")).unwrap(), report);
    // An earlier run left a part: it is continued.
    let dest = dir.path().join("again.pdf");
    std::fs::write(dir.path().join("again.pdf.part"), &report[..8192]).unwrap();
    let out = cli.run("alice", &["download", &report_id, &path(&dest)]).await;
    assert!(ok_line(&out).ends_with("(19.5 KiB, resumed at 8.0 KiB)"), "{out:#?}");
    assert_eq!(std::fs::read(&dest).unwrap(), report);
    assert!(!dir.path().join("again.pdf.part").exists());
    let line = cli.run("alice", &["download", "f_nosuchfile"]).await.assert_error().to_owned();
    assert!(line.starts_with("error: not_found"), "{line}");

    // To a group.
    let out = cli.run("alice", &["group", "create", "crew", "--members", "bob"]).await;
    let group = ok_line(&out).to_owned();
    let out = cli.run("alice", &["send", "--group", &group, "--image", &path(&cat_path)]).await;
    assert!(ok_line(&out).starts_with(&format!("sent seq=2 to g_{group}: [Image] cat.png")), "{out:#?}");
}

/// An upload whose connection is cut goes on by itself; one whose process
/// is killed goes on when the same command runs again, from what the server
/// kept, and leaves no saved state once done.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_upload_resumes_by_itself_and_on_a_re_run() {
    const MIB: usize = 1024 * 1024;
    let server = TestServer::start().await;
    let proxy = CutProxy::start(server.http_addr).await;
    let cli = Cli::at(proxy.http_url());
    cli.register("alice", "alice").await;
    cli.register("bob", "bob").await;
    let files = tempfile::tempdir().unwrap();
    let uploads = cli.home().join("uploads");
    let saved = || std::fs::read_dir(&uploads).map_or(0, |d| d.filter(|e| e.is_ok()).count());

    // Ten MiB go resumably: a chunk of 8 MiB, then the rest. The
    // connection is cut inside the second chunk; the upload goes on.
    let first = content(3, 10 * MIB);
    let first_path = files.path().join("first.bin");
    std::fs::write(&first_path, &first).unwrap();
    proxy.cut_after(Direction::ToServer, 9 * MIB as u64);
    let out = cli.run("alice", &["send", "bob", "--file", first_path.to_str().unwrap()]).await;
    assert_eq!(sent_seq(&out), 1);
    assert_eq!(proxy.cuts(), 1);
    assert!(out.stderr.contains("retrying"), "{out:#?}");
    assert_eq!(saved(), 0, "nothing left to resume");

    // Killed while the second chunk is stuck: the state stays.
    let second = content(4, 10 * MIB);
    let second_path = files.path().join("second.bin");
    std::fs::write(&second_path, &second).unwrap();
    let args = ["send", "bob", "--file", second_path.to_str().unwrap()];
    proxy.stall_after(Direction::ToServer, 9 * MIB as u64);
    let mut child = cli.command("alice", &args).spawn().expect("spawn ferry send");
    let deadline = tokio::time::Instant::now() + WAIT;
    while proxy.stalls() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the upload never stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().await.expect("kill ferry send");
    assert_eq!(saved(), 1, "the upload's state is saved");

    let out = cli.run("alice", &args).await;
    assert_eq!(sent_seq(&out), 2);
    assert!(out.stderr.contains("resumed the upload at 8.0 MiB"), "{out:#?}");
    assert_eq!(saved(), 0, "nothing left to resume");

    let got = cli.sync_json("alice").await;
    let id = got[1]["file"]["id"].as_str().expect("a file id").to_owned();
    let dir = tempfile::tempdir().unwrap();
    let out = cli.run_in(dir.path(), "alice", &["download", &id]).await;
    assert_eq!(ok_line(&out), "downloaded second.bin (10.0 MiB)");
    assert!(std::fs::read(dir.path().join("second.bin")).unwrap() == second, "byte-identical");
}

/// The next call event of an SDK client (a terminal places no calls, so the
/// caller here is the SDK); messages and presence are passed over.
async fn next_call(events: &mut ferry_client::EventReceiver) -> ferry_client::CallEvent {
    ferry_testkit::sdk::next_call_event(events).await
}

fn ended_as(signal: &ferry_client::CallSignal, outcome: &str, reason: &str) -> bool {
    matches!(signal, ferry_client::CallSignal::Ended(e) if e.outcome == outcome && e.reason == reason)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incoming_call_is_shown_declined_and_logged_in_history() {
    use ferry_client::{CallMedia, CallPlaced, CallSignal, Client, ClientConfig};

    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let alice = server.user("alice").await;
    let bob_id = cli.register("bob", "bob").await;
    let (a, mut a_events) = alice.connect_tcp().await;

    // In `chat`, the call is announced, rings, and `:decline` refuses it.
    let mut chat = cli.chat("bob", "alice");
    chat.stderr_until("talking to alice", |l| l.contains("talking to alice")).await;
    let placed = a.invite(bob_id, CallMedia::Video, "offer-sdp").await.expect("invite");
    let CallPlaced::Ringing { call_id } = placed else { panic!("expected the call to ring: {placed:?}") };
    let shown = format!("📞 alice is calling (video) — :decline (or `ferry call decline {call_id}`)");
    chat.stdout_until("the incoming call", |l| l == shown).await;
    assert_eq!(next_call(&mut a_events).await.signal, CallSignal::Ringing, "the terminal rings");
    chat.type_line(":decline").await;
    chat.stdout_until("the decline", |l| l == "📞 declined the call from alice").await;
    let ended = next_call(&mut a_events).await;
    assert_eq!(ended.call_id, call_id);
    assert!(ended_as(&ended.signal, "declined", "declined"), "{ended:?}");
    let logged = "[from alice #1] * 📞 alice called: Declined video call";
    chat.stdout_until("the call log", |l| l == logged).await;
    chat.type_line(":decline").await;
    chat.stderr_until("nothing to decline", |l| l == "error: no call is ringing").await;

    // The id the chat prints works from a shell on the same profile.
    let placed = a.invite(bob_id, CallMedia::Audio, "offer-sdp").await.expect("invite");
    let CallPlaced::Ringing { call_id } = placed else { panic!("expected the call to ring: {placed:?}") };
    let shown = format!("📞 alice is calling (voice) — :decline (or `ferry call decline {call_id}`)");
    chat.stdout_until("the second call", |l| l == shown).await;
    assert_eq!(next_call(&mut a_events).await.signal, CallSignal::Ringing);
    let out = cli.run("bob", &["call", "decline", &call_id]).await;
    assert_eq!(out.assert_ok().stdout, "📞 declined the call\n");
    assert!(ended_as(&next_call(&mut a_events).await.signal, "declined", "declined"));
    chat.stdout_until("its call log", |l| l == "[from alice #2] * 📞 alice called: Declined voice call").await;
    chat.type_line(":decline").await;
    chat.stderr_until("the chat saw it end", |l| l == "error: no call is ringing").await;
    chat.type_line(":q").await;
    assert!(chat.finish().await.0.success());

    // From a shell: bob's phone is online, so the call rings; the CLI's
    // device rings as it connects, and `call decline` refuses it.
    let login = server.http().login("bob", &password_of("bob"), "phone", None).await.expect("login");
    let (_phone, mut phone_events) =
        Client::connect(ClientConfig::new(server.tcp_url(), login.token)).await.expect("phone");
    let placed = a.invite(bob_id, CallMedia::Video, "offer-sdp").await.expect("invite");
    let CallPlaced::Ringing { call_id } = placed else { panic!("expected the call to ring: {placed:?}") };
    assert!(matches!(next_call(&mut phone_events).await.signal, CallSignal::Incoming(_)));
    let out = cli.run("bob", &["call", "decline"]).await;
    assert_eq!(out.assert_ok().stdout, "📞 declined the call from alice\n");
    for events in [&mut a_events, &mut phone_events] {
        let ended = next_call(events).await;
        assert_eq!(ended.call_id, call_id);
        assert!(ended_as(&ended.signal, "declined", "declined"), "{ended:?}");
    }
    // Nothing rings any more.
    let out = cli.run("bob", &["call", "decline", "--wait", "1"]).await;
    assert!(out.assert_error().starts_with("error: not_found: no call rang"), "{out:?}");

    // History shows every call log as what happened.
    cli.login("bob-laptop", "bob").await;
    let out = cli.run("bob-laptop", &["sync"]).await;
    let lines: Vec<&str> = out.assert_ok().stdout.lines().collect();
    let d = direct(alice.id, bob_id);
    assert_eq!(
        lines,
        [
            format!("[{d} #1] * 📞 alice called: Declined video call"),
            format!("[{d} #2] * 📞 alice called: Declined voice call"),
            format!("[{d} #3] * 📞 alice called: Declined video call"),
        ]
    );
    cli.login("bob-json", "bob").await;
    let json = cli.sync_json("bob-json").await;
    let outcomes: Vec<(&str, &str, &str)> = json
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap(),
                m["call_log"]["media"].as_str().unwrap(),
                m["call_log"]["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [("call_log", "video", "declined"), ("call_log", "audio", "declined"), ("call_log", "video", "declined")]
    );
}
