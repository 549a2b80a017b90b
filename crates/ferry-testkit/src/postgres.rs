//! The PostgreSQL store for tests: a real server (`ferry_pgtest`, shared
//! by the tests of a process, or `FERRY_TEST_POSTGRES_URL`'s) and a fresh
//! database per test, which a [`TestServer`](crate::TestServer) is pointed
//! at with [`use_database`].

pub use ferry_pgtest::{PgServer, TestDatabase};
use ferry_server::{Config, config::StoreBackend};

/// A fresh database on the shared test server (keep it alive as long as
/// the nodes using it).
pub async fn database() -> TestDatabase {
    PgServer::shared().database().await
}

/// Makes `config` use `db` as its store.
pub fn use_database(config: &mut Config, db: &TestDatabase) {
    config.storage.backend = StoreBackend::Postgres;
    config.storage.postgres_url = db.url.clone();
    config.storage.postgres_connections = 8;
}

/// The settings of cluster node `node_id` (each node its own) on `db` and
/// `redis`.
pub fn cluster_node<'a>(
    db: &'a TestDatabase,
    redis: &'a crate::redis::RedisServer,
    node_id: u16,
) -> impl FnOnce(&mut Config) + 'a {
    move |c| {
        use_database(c, db);
        redis.configure(c);
        c.node_id = node_id;
    }
}
