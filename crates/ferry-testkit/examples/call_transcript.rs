//! Prints a real call's signaling as the WebSocket text (proto3 JSON) mode
//! carries it, for docs/PROTOCOL.md §12: a server on `127.0.0.1:0`, alice
//! and bob on bare WebSockets, every text frame printed as sent and as
//! received (tokens replaced by `TOKEN_ALICE` / `TOKEN_BOB`).
//!
//! ```sh
//! cargo run -p ferry-testkit --example call_transcript
//! ```

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use ferry_testkit::{TestServer, WAIT, ws::Ws};

/// One party's socket and its name in the transcript.
struct Party {
    name: &'static str,
    ws: Ws,
    token: String,
    mask: &'static str,
}

impl Party {
    async fn send(&mut self, frame: Value) {
        let text = frame.to_string();
        println!("{:<6}→ {}", self.name, text.replace(&self.token, self.mask));
        self.ws.send(WsMessage::Text(text.into())).await.expect("send");
    }

    /// Reads and prints text frames until one has the key `key` (in the
    /// frame or its `callEvent`), and returns it.
    async fn until(&mut self, key: &str) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next()).await.expect("a frame in time");
            let Some(Ok(WsMessage::Text(text))) = message else { continue };
            println!("{:<6}← {}", self.name, text.as_str());
            let frame: Value = serde_json::from_str(text.as_str()).expect("JSON");
            if frame.get(key).is_some() || frame.get("callEvent").is_some_and(|e| e.get(key).is_some()) {
                return frame;
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let url = server.ws_url();
    let connect = |token: String, name, mask| {
        let url = url.clone();
        async move {
            let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
            Party { name, ws, token, mask }
        }
    };
    let mut a = connect(alice.token.clone(), "alice", "TOKEN_ALICE").await;
    let mut b = connect(bob.token.clone(), "bob", "TOKEN_BOB").await;

    let auth = |token: &str| json!({"id": "1", "auth": {"token": token, "protocolVersion": 1}});
    b.send(auth(&bob.token)).await;
    b.until("authOk").await;
    a.send(auth(&alice.token)).await;
    a.until("authOk").await;
    println!();

    let offer = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n";
    let invite =
        json!({"id": "5", "call": {"invite": {"calleeId": bob.id.to_string(), "media": "video", "sdpOffer": offer}}});
    a.send(invite).await;
    let ack = a.until("callAck").await;
    let call = ack["callAck"]["callId"].as_str().expect("call id").to_owned();
    b.until("incoming").await;
    b.send(json!({"id": "2", "call": {"callId": call, "ringing": {}}})).await;
    b.until("callAck").await;
    a.until("ringing").await;
    let answer = "v=0\r\no=- 1820361582346185633 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n";
    b.send(json!({"id": "3", "call": {"callId": call, "accept": {"sdpAnswer": answer}}})).await;
    b.until("callAck").await;
    a.until("accepted").await;
    let candidate = r#"{"candidate":"candidate:842163049 1 udp 1677729535 192.0.2.7 50012 typ srflx raddr 0.0.0.0 rport 0 generation 0","sdpMid":"0","sdpMLineIndex":0}"#;
    a.send(json!({"id": "6", "call": {"callId": call, "ice": {"candidate": candidate}}})).await;
    a.until("callAck").await;
    b.until("ice").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    a.send(json!({"id": "7", "call": {"callId": call, "hangup": {}}})).await;
    a.until("callAck").await;
    b.until("ended").await;
    a.until("message").await;
    b.until("message").await;
}
