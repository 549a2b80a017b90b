//! Unit-test support: a real node (SQLite in a temporary directory, every
//! service) without listeners, and users on it.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
};

use ferry_core::UserId;
use tempfile::TempDir;

use crate::{
    app::{App, AppRef, Pipeline},
    config::{Config, Synchronous},
    hub::{Kick, Outbox, SessionHandle},
};

/// A node for unit tests; dropped with its data.
pub struct TestNode {
    pub app: AppRef,
    pub pipeline: Pipeline,
    _dir: TempDir,
}

/// A registered, logged-in user.
pub struct TestUser {
    pub id: UserId,
    pub token: String,
}

impl TestNode {
    /// A node with cheap argon2 and process-crash durability, adjusted by `f`.
    pub async fn start(f: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        config.storage.synchronous = Synchronous::Normal;
        config.auth.argon2_memory_kib = 64;
        config.auth.argon2_iterations = 1;
        f(&mut config);
        let (app, pipeline) = App::start(config).await.expect("node");
        Self { app, pipeline, _dir: dir }
    }

    /// Registers `name` and logs in on a new device.
    pub async fn user(&self, name: &str) -> TestUser {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let accounts = &self.app.accounts;
        let user = accounts.register(name, "correct horse", None, ip).await.expect("register");
        let login = accounts.login(name, "correct horse", "cli", None, ip).await.expect("login");
        TestUser { id: user.id, token: login.token }
    }

    /// A fake live session of `user` registered with the hub: what is pushed
    /// to it is taken from its outbox.
    pub fn listen(&self, user: UserId) -> Arc<SessionHandle> {
        let handle = Arc::new(SessionHandle {
            id: self.app.hub.next_session_id(),
            user_id: user,
            session: Arc::new(ferry_store::Session {
                token_hash: Vec::new(),
                user_id: user,
                device_id: "test".into(),
                platform: "test".into(),
                created_at: 0,
            }),
            outbox: Outbox::new(1024),
            kick: Kick::default(),
        });
        self.app.bus.attach(Arc::clone(&handle));
        handle
    }
}
