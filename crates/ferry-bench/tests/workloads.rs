//! Every workload at a tiny scale against a real server: the correctness
//! checks must pass (zero lost, zero duplicated). No wall-clock assertions.

use ferry_bench::{Outcome, Target, TransportKind, Workload, run};
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
