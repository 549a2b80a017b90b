//! The embedded TURN relay driven by a stock client: coturn's
//! `turnutils_uclient` (Debian's `coturn` package, installed by `.ci/run`),
//! over UDP and over TCP, with the REST credentials of
//! `GET /api/v1/calls/ice-servers`; a wrong password and an expired
//! credential (rightly signed) are refused.

use std::{
    process::Output,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use ferry_testkit::{TestServer, http::Api};
use hmac::{Hmac, Mac};

const UCLIENT: &str = "turnutils_uclient";
const SECRET: &str = "north-sea-ferry";

/// A TURN REST password signed with [`SECRET`], as coturn would check it.
fn password(username: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Runs `turnutils_uclient` against the relay at `port` on loopback in
/// client-to-client mode (`-y`: two allocations relaying to each other),
/// sending a few messages.
async fn uclient(port: u16, username: &str, password: &str, tcp: bool) -> Output {
    let mut command = tokio::process::Command::new(UCLIENT);
    if tcp {
        command.arg("-t");
    }
    command
        .args(["-y", "-c", "-n", "10", "-l", "120", "-z", "5", "-p", &port.to_string(), "-u", username, "-w", password])
        .arg("127.0.0.1")
        .kill_on_drop(true);
    let run = command.output();
    match tokio::time::timeout(Duration::from_secs(60), run).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            panic!("cannot run {UCLIENT} ({e}): install Debian's coturn package (apt-get install coturn; .ci/run does)")
        }
        Err(_) => panic!("{UCLIENT} did not finish within 60 s"),
    }
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The number after `label` in the client's report (e.g. "Total lost packets 0 (0.0%)").
fn figure(report: &str, label: &str) -> Option<u64> {
    let at = report.rfind(label)? + label.len();
    report[at..].split_whitespace().next()?.trim_end_matches(',').parse().ok()
}

async fn check_transport(tcp: bool) {
    let server = TestServer::start_with(|c| c.calls.turn_secret = SECRET.into()).await;
    let port = server.turn_addr.expect("the relay is on by default").port();
    let alice = server.user("alice").await;
    let body = Api::new(&server).get("/calls/ice-servers", &alice).await;
    let turn = &body["ice_servers"][1];
    let (username, credential) =
        (turn["username"].as_str().expect("username"), turn["credential"].as_str().expect("credential"));

    // Twice: the relay keeps serving after a client is done.
    let ok = uclient(port, username, credential, tcp).await;
    assert!(ok.status.success(), "{UCLIENT} failed:\n{}", text(&ok));
    let ok = uclient(port, username, credential, tcp).await;
    let report = text(&ok);
    assert!(ok.status.success(), "{UCLIENT} failed:\n{report}");
    assert_eq!(figure(&report, "Total lost packets"), Some(0), "every message relayed:\n{report}");
    assert!(figure(&report, "Total transmit time is").is_some(), "a finished run:\n{report}");

    // The handed-out credential is the standard one: signed with the secret.
    assert_eq!(credential, password(username));
    let expires: i64 = username.split(':').next().and_then(|e| e.parse().ok()).expect("expiry:user_id");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs() as i64;
    assert!(expires > now);

    let expired = format!("{}:{}", now - 5, alice.id);
    for (name, user, pass) in [
        ("a wrong password", username, "not-the-password".to_string()),
        ("an expired credential", &expired, password(&expired)),
    ] {
        let refused = uclient(port, user, &pass, tcp).await;
        let report = text(&refused);
        assert!(!refused.status.success(), "{name} must not allocate:\n{report}");
        // Refused by the relay's credential check (400), not for want of a relay.
        assert!(report.contains("error 400"), "{name}: refused with 400:\n{report}");
        assert!(!report.contains("Total lost packets"), "{name}: nothing was relayed:\n{report}");
    }
}

#[tokio::test]
async fn turnutils_uclient_relays_over_udp_with_rest_credentials_and_is_refused_wrong_or_expired_ones() {
    check_transport(false).await;
}

#[tokio::test]
async fn turnutils_uclient_relays_over_tcp_with_rest_credentials_and_is_refused_wrong_or_expired_ones() {
    check_transport(true).await;
}
