//! Every workload at a tiny scale against a real server: the correctness
//! checks must pass (zero lost, zero duplicated). No wall-clock assertions.

use ferry_bench::{ListVia, Outcome, Target, TransportKind, Workload, run};
use ferry_testkit::TestServer;

async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.limits.frames_per_second = 100_000;
        c.auth.login_per_username_per_minute = 100_000;
    })
    .await
}

fn target(server: &TestServer, dir: &tempfile::TempDir, transport: TransportKind, procs: usize) -> Target {
    Target {
        server: server.http_url(),
        tcp: Some(server.tcp_addr.to_string()),
        nodes: Vec::new(),
        nodes_tcp: Vec::new(),
        transport,
        server_pid: Some(std::process::id()),
        procs,
        duration: 1.0,
        state: dir.path().join("state.json"),
        connect_concurrency: 32,
        connect_timeout: 30.0,
        fsyncs: false,
        worker_exe: (procs > 1).then(|| env!("CARGO_BIN_EXE_ferry-bench").into()),
    }
}

fn assert_passed(o: &Outcome) {
    assert!(o.passed, "{o}");
    assert_eq!(o.correctness.lost, 0, "{o}");
    assert_eq!(o.correctness.duplicated, 0, "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_passes_its_checks_at_tiny_scale() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let t = target(&server, &dir, TransportKind::Tcp, 1);

    let o = run(&t, &Workload::Connect { clients: 20, login: false, restart_cmd: None }).await.unwrap();
    assert_passed(&o);
    assert_eq!(o.figures["clients_connected"], 20.0);
    assert!(o.figures["server_rss_total_per_conn_kib"] > 0.0, "{o}");
    // Either a growth per connection, or a note that the heap shrank.
    assert!(o.figures.contains_key("server_rss_per_conn_kib") || o.notes.iter().any(|n| n.contains("shrank")), "{o}");

    let o = run(&t, &Workload::Direct { pairs: 2, convs_per_client: 1, rate: Some(200.0), size: 100, window: 8 })
        .await
        .unwrap();
    assert_passed(&o);
    assert_eq!(o.correctness.streams_checked, 4);
    assert!(o.figures["acked"] > 0.0);

    let o =
        run(&t, &Workload::Direct { pairs: 2, convs_per_client: 1, rate: None, size: 100, window: 8 }).await.unwrap();
    assert_passed(&o);

    let fanout = Workload::Fanout { group_size: 10, senders: 2, groups: 1, rate: Some(100.0), size: 100, window: 8 };
    let o = run(&t, &fanout).await.unwrap();
    assert_passed(&o);
    assert_eq!(o.correctness.streams_checked, 10);
    assert_eq!(o.figures["deliveries"], o.figures["acked"] * 9.0);

    let o = run(&t, &Workload::Sync { backlog: 200, clients: 3 }).await.unwrap();
    assert_passed(&o);
    assert_eq!(o.figures["pulled_msgs"], 600.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_and_worker_processes_pass_too() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let t = target(&server, &dir, TransportKind::Ws, 2);

    let o = run(&t, &Workload::Direct { pairs: 2, convs_per_client: 1, rate: Some(200.0), size: 100, window: 8 })
        .await
        .unwrap();
    assert_passed(&o);
    assert_eq!(o.procs, 2);

    let fanout = Workload::Fanout { group_size: 10, senders: 1, groups: 1, rate: Some(50.0), size: 100, window: 8 };
    let o = run(&t, &fanout).await.unwrap();
    assert_passed(&o);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_fails_when_not_every_client_gets_in() {
    // The server takes 5 long connections; 8 are asked for.
    let server = TestServer::start_with(|c| c.gateway.max_connections = 5).await;
    let dir = tempfile::tempdir().unwrap();
    let t = target(&server, &dir, TransportKind::Tcp, 1);
    let o = run(&t, &Workload::Connect { clients: 8, login: false, restart_cmd: None }).await.unwrap();
    assert!(!o.passed, "{o}");
    assert_eq!(o.figures["clients_connected"], 5.0, "{o}");
    assert!(o.failures.iter().any(|f| f.contains("only 5 of 8 clients connected")), "{o}");
    assert!(o.to_string().ends_with("FAILED"));
    println!("{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_with_password_logins() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let t = target(&server, &dir, TransportKind::Tcp, 2);
    let o = run(&t, &Workload::Connect { clients: 6, login: true, restart_cmd: None }).await.unwrap();
    assert_passed(&o);
    assert_eq!(o.figures["clients_connected"], 6.0, "{o}");
    assert_eq!(o.figures["logins"], 6.0, "{o}");
    assert!(o.figures["logins_per_s"] > 0.0, "{o}");
    assert_eq!(o.latency["login"].count, 6, "{o}");
    assert!(o.figures.contains_key("server_rss_total_per_conn_kib"), "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_with_several_receivers_per_sender() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut t = target(&server, &dir, TransportKind::Tcp, 1);
    t.fsyncs = true;
    let w = Workload::Direct { pairs: 3, convs_per_client: 3, rate: Some(150.0), size: 100, window: 8 };
    let o = run(&t, &w).await.unwrap();
    assert_passed(&o);
    assert_eq!(o.figures["active_conversations"], 9.0);
    assert_eq!(o.correctness.conversations, 9, "{o}");
    // Each conversation is checked at its sender and at its receiver.
    assert_eq!(o.correctness.streams_checked, 18, "{o}");
    assert_eq!(o.figures["deliveries"], o.figures["acked"], "{o}");
    assert!(o.figures["server_disk_bytes_per_msg"] > 0.0, "{o}");
    // perf counts fsyncs where it runs; elsewhere the run says why there is
    // no figure, and still passes.
    let perf = std::process::Command::new("perf").arg("--version").output().is_ok_and(|o| o.status.success());
    if perf {
        assert!(o.figures.contains_key("server_fsyncs_per_s"), "{o}");
        assert!(o.figures.contains_key("server_fsyncs_per_msg"), "{o}");
    } else {
        assert!(o.notes.iter().any(|n| n.starts_with("fsyncs:")), "{o}");
    }
    println!("{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_operations_pass_their_checks() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut t = target(&server, &dir, TransportKind::Tcp, 1);
    t.duration = 2.0;
    let w = Workload::Mixed { clients: 12, active: 0.5, rate: 120.0, groups: 3, mix: "40,30,20,10".into(), size: 100 };
    let o = run(&t, &w).await.unwrap();
    assert_passed(&o);
    assert_eq!(o.figures["active_clients"], 6.0);
    assert_eq!(o.figures["slow_consumer_kicks"], 0.0);
    for lat in ["send_to_ack", "send_to_deliver_direct", "send_to_deliver_group", "send_to_last_member_group"] {
        assert!(o.latency.contains_key(lat), "{lat} missing: {o}");
    }
    assert!(o.figures["mark_reads"] > 0.0 && o.figures["reconnects"] > 0.0, "{o}");
    assert!(o.latency.contains_key("reconnect_to_synced"), "{o}");
    assert!(o.correctness.streams_checked > 12, "{o}");
    println!("{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fill_adds_every_member_with_everyone_online() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let t = target(&server, &dir, TransportKind::Tcp, 1);
    let o = run(&t, &Workload::Fill { members: 30, rate: None }).await.unwrap();
    assert_passed(&o);
    assert_eq!(o.figures["joins"], 29.0, "{o}");
    assert_eq!(o.figures["slow_consumer_kicks"], 0.0, "{o}");
    // Member k hears joins k..=29: 29 + 28 + … + 1.
    assert_eq!(o.figures["deliveries"], 435.0, "{o}");
    assert_eq!(o.latency["join"].count, 29, "{o}");
    assert_eq!(o.correctness.streams_checked, 30, "{o}");
    println!("{o}");

    // Again, in a group of its own, at a set rate over two processes.
    let t = target(&server, &dir, TransportKind::Tcp, 2);
    let o = run(&t, &Workload::Fill { members: 30, rate: Some(100.0) }).await.unwrap();
    assert_passed(&o);
    assert_eq!(o.figures["joins"], 29.0, "{o}");
    assert_eq!(o.correctness.streams_checked, 30, "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_lists_every_conversation_in_order() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let t = target(&server, &dir, TransportKind::Tcp, 1);
    let w = Workload::Conversations {
        conversations: 20,
        groups: 2,
        churn: 100.0,
        via: ListVia::Both,
        listers: 2,
        incremental: false,
    };
    let o = run(&t, &w).await.unwrap();
    assert_passed(&o);
    assert_eq!(o.figures["conversations_expected"], 22.0, "{o}");
    assert_eq!(o.figures["bad_lists"], 0.0, "{o}");
    assert!(o.figures["lists_checked"] >= 2.0, "{o}");
    assert!(o.figures["cold_list_ms"] > 0.0, "{o}");
    assert!(o.figures["answer_bytes_tcp"] > 0.0 && o.figures["answer_bytes_http"] > 0.0, "{o}");
    assert!(o.latency.contains_key("list_tcp") && o.latency.contains_key("list_http"), "{o}");
    assert!(o.figures["acked"] > 0.0, "{o}");
    // The churn senders' streams are checked like any direct conversation.
    assert_eq!(o.correctness.streams_checked, 20, "{o}");
    assert!(o.figures.contains_key("setup_s"), "{o}");
    println!("{o}");

    // Again: the setup comes from the state file, nothing is sent first.
    let w = Workload::Conversations {
        conversations: 20,
        groups: 2,
        churn: 0.0,
        via: ListVia::Http,
        listers: 1,
        incremental: false,
    };
    let o = run(&t, &w).await.unwrap();
    assert_passed(&o);
    assert!(!o.figures.contains_key("setup_s"), "{o}");
    assert!(o.notes.iter().any(|n| n.contains("setup cached")), "{o}");
    assert!(o.latency.contains_key("list_http") && !o.latency.contains_key("list_tcp"), "{o}");

    // Incremental lists after one full list, over both interfaces, with
    // churn: every answer is checked (all ids, well-formed entries).
    let inc = Workload::Conversations {
        conversations: 20,
        groups: 2,
        churn: 50.0,
        via: ListVia::Both,
        listers: 1,
        incremental: true,
    };
    let o = run(&t, &inc).await.unwrap();
    assert_passed(&o);
    assert!(o.figures["incremental_lists"] >= 1.0, "{o}");
    assert!(o.latency.contains_key("incremental_list_tcp") || o.latency.contains_key("incremental_list_http"), "{o}");

    // A stranger writes to the owner: one conversation too many, FAILED.
    let state = ferry_bench::setup::State::load(&t.state).unwrap();
    let owner = state.servers[&t.server].extras["conversations-20-2"]["owner"]["id"].as_i64().unwrap();
    let stranger = server.user("stranger").await;
    stranger.http.send_text("hello-owner", &ferry_client::Target::User(owner), "hello").await.unwrap();
    let o = run(&t, &w).await.unwrap();
    assert!(!o.passed, "{o}");
    assert!(o.failures.iter().any(|f| f.contains("23 conversations listed, 22 expected")), "{o}");
    assert!(o.to_string().ends_with("FAILED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_exactly_what_the_searcher_may_see() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut t = target(&server, &dir, TransportKind::Tcp, 1);
    // The test process runs other tests too: it is never idle.
    t.server_pid = None;
    let w = Workload::Search { messages: 3_000, searchers: 2, via: ListVia::Both };
    let o = run(&t, &w).await.unwrap();
    assert!(o.passed, "{o}");
    assert!(o.figures.contains_key("setup_s"), "{o}");
    assert_eq!(o.figures["bad_queries"], 0.0, "{o}");
    for class in ["needle_zh", "needle_en", "common_zh", "common_en", "conversation", "file", "paging", "foreign"] {
        assert!(o.figures[&format!("{class}_queries_per_s")] > 0.0, "{class}: {o}");
        assert!(o.latency.contains_key(&format!("{class}_tcp")), "{class}: {o}");
        assert!(o.latency.contains_key(&format!("{class}_http")), "{class}: {o}");
    }
    assert!(o.figures["needle_zh_hits_per_query"] > 0.0, "{o}");
    assert_eq!(o.figures["foreign_hits_per_query"], 0.0, "{o}");
    assert!(o.notes.iter().any(|n| n.starts_with("complete")), "{o}");
    println!("{o}");

    // Again: the corpus comes from the state file, nothing is sent first.
    let w = Workload::Search { messages: 3_000, searchers: 1, via: ListVia::Http };
    let o = run(&t, &w).await.unwrap();
    assert!(o.passed, "{o}");
    assert!(!o.figures.contains_key("setup_s"), "{o}");
    assert!(o.latency.contains_key("common_zh_http") && !o.latency.contains_key("common_zh_tcp"), "{o}");

    // A stranger writes to the searcher with a common term: a hit that is
    // not in the corpus, and one more than the corpus has. FAILED.
    let state = ferry_bench::setup::State::load(&t.state).unwrap();
    let searcher = state.servers[&t.server].extras["search-3000"]["searcher"]["id"].as_i64().unwrap();
    let stranger = server.user("stranger").await;
    stranger.http.send_text("hello-searcher", &ferry_client::Target::User(searcher), "项目 meeting").await.unwrap();
    let o = run(&t, &w).await.unwrap();
    assert!(!o.passed, "{o}");
    assert!(o.failures.iter().any(|f| f.contains("not a message of the corpus")), "{o}");
    assert!(o.failures.iter().any(|f| f.contains("\"项目\" paged to the end")), "{o}");
    assert!(o.to_string().ends_with("FAILED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_downloads_arrive_intact() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut t = target(&server, &dir, TransportKind::Tcp, 1);
    t.server_pid = None;
    // Over tus in 1 MiB PATCHes (bigger than the one-request limit here).
    let mib = 1 << 20;
    let w = Workload::Upload { files: 3, size: 3 * mib + 7, chunk: mib, simple_max: mib };
    let o = run(&t, &w).await.unwrap();
    assert!(o.passed, "{o}");
    assert_eq!(o.figures["files"], 3.0, "{o}");
    assert!(o.figures["upload_mb_per_s"] > 0.0, "{o}");
    // One request per file, then downloads checked byte for byte.
    let o = run(&t, &Workload::Upload { files: 5, size: 100_000, chunk: 0, simple_max: mib }).await.unwrap();
    assert!(o.passed && o.notes.iter().any(|n| n.contains("one POST")), "{o}");
    let o = run(&t, &Workload::Download { files: 2, size: 2 * mib + 3, simple_max: mib }).await.unwrap();
    assert!(o.passed, "{o}");
    assert_eq!(o.figures["bytes"], (2 * (2 * mib + 3)) as f64, "{o}");
    // A server that refuses the size: the run fails and says why.
    let small = TestServer::start_with(|c| c.files.max_file_bytes = mib).await;
    let mut t = target(&small, &dir, TransportKind::Tcp, 1);
    t.server_pid = None;
    let o = run(&t, &Workload::Upload { files: 1, size: 2 * mib, chunk: 0, simple_max: mib }).await.unwrap();
    assert!(!o.passed && o.failures.iter().any(|f| f.contains("413")), "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_page_loads_cold_and_revalidated() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut t = target(&server, &dir, TransportKind::Tcp, 1);
    t.duration = 0.5;
    let o = run(&t, &Workload::Web { clients: 4, revisit: false }).await.unwrap();
    assert!(o.passed, "{o}");
    let loads = o.figures["page_loads"];
    assert!(loads > 0.0, "{o}");
    // The index, the script, the stylesheet and the favicon, every one 200.
    assert!(o.figures["requests"] >= 4.0 * loads, "{o}");
    assert!(o.figures["status_200"] >= o.figures["requests"], "{o}");
    assert!(!o.figures.contains_key("status_304"), "{o}");
    // Compressed bytes as received: well under the decoded bundle.
    assert!(o.figures["response_body_bytes"] > 10_000.0 * loads, "{o}");
    assert!(o.latency.contains_key("page_load") && o.server.is_some(), "{o}");
    assert!(o.notes.iter().any(|n| n.contains("/favicon.svg") && n.contains(" br ")), "{o}");

    let o = run(&t, &Workload::Web { clients: 4, revisit: true }).await.unwrap();
    assert!(o.passed, "{o}");
    assert!(o.figures["page_loads"] > 0.0, "{o}");
    assert_eq!(o.figures["requests"], o.figures["page_loads"], "{o}");
    assert_eq!(o.figures["response_body_bytes"], 0.0, "{o}");
    assert!(o.figures["status_304"] >= o.figures["requests"] && !o.figures.contains_key("status_200"), "{o}");

    // A server without the client: the run fails before the clock starts.
    let off = TestServer::start_with(|c| c.web.enabled = false).await;
    let t = target(&off, &dir, TransportKind::Tcp, 1);
    let e = run(&t, &Workload::Web { clients: 1, revisit: false }).await.unwrap_err();
    assert!(format!("{e:#}").contains("status 404"), "{e:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_complete_and_each_leaves_one_call_log() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let t = target(&server, &dir, TransportKind::Tcp, 1);
    let calls = Workload::Calls { pairs: 3, ice: 2, sdp_bytes: 3000 };
    let o = run(&t, &calls).await.unwrap();
    assert_passed(&o);
    assert!(o.figures["calls_completed"] >= 3.0, "every pair calls at least once: {o}");
    assert_eq!(o.figures["calls_completed"], o.figures["calls_placed"], "{o}");
    assert_eq!(o.figures["call_logs_read_back"], o.figures["calls_placed"], "{o}");
    assert_eq!(o.latency["call_setup"].count as f64, o.figures["calls_completed"], "{o}");
    assert_eq!(o.latency["ice_relay"].count as f64, o.figures["calls_completed"] * 4.0, "{o}");

    // Again over WebSocket, on the same pairs: their conversations already
    // hold the first run's logs, and only this run's are counted.
    let t = target(&server, &dir, TransportKind::Ws, 1);
    let o = run(&t, &calls).await.unwrap();
    assert_passed(&o);
    assert_eq!(o.figures["call_logs_read_back"], o.figures["calls_placed"], "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_when_a_callee_is_busy() {
    use ferry_client::{RawConnection, v1};
    use ferry_proto::Body;

    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let t = target(&server, &dir, TransportKind::Tcp, 1);
    let calls = Workload::Calls { pairs: 2, ice: 1, sdp_bytes: 500 };
    assert_passed(&run(&t, &calls).await.unwrap());

    // Someone else's call rings the first pair's callee (online, so it
    // rings): every invite of that pair ends busy.
    let state = ferry_bench::setup::State::load(&t.state).unwrap();
    let callee = state.servers[&t.server].users[1].clone();
    let (_callee_conn, _) = RawConnection::connect(&server.tcp_url(), false, &callee.token).await.unwrap();
    let mallory = server.user("mallory").await;
    let (mut m, _) = mallory.raw_tcp().await;
    let invite = v1::CallInvite { callee_id: callee.id, media: "audio".into(), ..Default::default() };
    let request = v1::CallRequest { call_id: String::new(), op: Some(v1::call_request::Op::Invite(invite)) };
    let Body::CallAck(ack) = m.request(Body::Call(request)).await.unwrap() else { panic!("expected call_ack") };
    assert_eq!(ack.ended, None, "mallory's call rings");

    let o = run(&t, &calls).await.unwrap();
    assert!(!o.passed, "{o}");
    assert!(o.failures.iter().any(|f| f.contains("busy/busy")), "{o}");
    assert!(o.correctness.violations.iter().any(|v| v.contains("unexpected call log")), "{o}");
}

/// `--nodes`: the long connections are dealt over the nodes in turn. Two
/// independent servers stand in for two nodes: the accounts exist only on
/// the first (--server), so exactly the clients dealt to the second are
/// refused there — which shows where each one connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_dealt_over_the_nodes_in_turn() {
    let (a, b) = (server().await, server().await);
    let dir = tempfile::tempdir().unwrap();
    let mut t = target(&a, &dir, TransportKind::Tcp, 1);

    // The same server named twice (as two nodes of one cluster would be): all pass.
    t.nodes = vec![a.http_url(), a.http_url()];
    t.nodes_tcp = vec![a.tcp_addr.to_string(), a.tcp_addr.to_string()];
    let o = run(&t, &Workload::Direct { pairs: 3, convs_per_client: 1, rate: Some(200.0), size: 100, window: 8 })
        .await
        .unwrap();
    assert_passed(&o);
    assert_eq!(o.correctness.streams_checked, 6);

    // A second, foreign node: clients 1, 3, 5, … land there and are refused.
    t.nodes = vec![a.http_url(), b.http_url()];
    t.nodes_tcp = vec![a.tcp_addr.to_string(), b.tcp_addr.to_string()];
    let o = run(&t, &Workload::Connect { clients: 10, login: false, restart_cmd: None }).await.unwrap();
    assert!(!o.passed, "{o}");
    assert_eq!(o.figures["clients_connected"], 5.0, "{o}");

    // Over WebSocket the node's HTTP URL names its gateway.
    t.transport = TransportKind::Ws;
    t.nodes_tcp.clear();
    let o = run(&t, &Workload::Connect { clients: 6, login: false, restart_cmd: None }).await.unwrap();
    assert_eq!(o.figures["clients_connected"], 3.0, "{o}");

    // Gateways that do not match the nodes are refused before anything runs.
    t.transport = TransportKind::Tcp;
    t.nodes_tcp = vec![a.tcp_addr.to_string()];
    let e = run(&t, &Workload::Connect { clients: 2, login: false, restart_cmd: None }).await.unwrap_err();
    assert!(e.to_string().contains("--nodes-tcp names 1 gateways for 2 --nodes"), "{e}");
}
