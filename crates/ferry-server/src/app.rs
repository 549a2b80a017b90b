//! The application state shared by the gateway and the HTTP routes, and how
//! it is assembled: store, caches, bus, the message pipeline (writer and
//! fan-out) and the services over them.

use std::{sync::Arc, time::Duration};

use ferry_store::Store;
use tokio::{sync::Semaphore, task::JoinHandle};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    ServerError,
    bus::{Bus, BusTasks, LocalBus, RedisBus},
    config::{BusKind, Config},
    hub::Hub,
    media::Files,
    open_store,
    service::{
        accounts::Accounts,
        caches::Caches,
        calls::{CallTasks, Calls},
        contacts::Contacts,
        fanout,
        groups::Groups,
        health::Health,
        ice::IceServers,
        messaging::Messaging,
        notify::Notifier,
        presence::Presence,
        writer,
    },
    turn::{Allocations, TurnStats},
};

/// Everything a request or a session needs, behind one `Arc`.
pub struct App {
    pub config: Config,
    /// This node's sessions (the gateway's view; services use `bus`).
    pub hub: Arc<Hub>,
    pub bus: Arc<dyn Bus>,
    pub caches: Arc<Caches>,
    pub accounts: Accounts,
    pub messaging: Arc<Messaging>,
    pub calls: Arc<Calls>,
    pub contacts: Contacts,
    pub groups: Groups,
    pub presence: Arc<Presence>,
    pub files: Arc<Files>,
    /// The ICE servers (STUN, TURN credentials) handed to callers.
    pub ice: Arc<IceServers>,
    /// The embedded TURN relay's quotas and counters (idle when it is off).
    pub turn_allocations: Arc<Allocations>,
    pub turn_stats: Arc<TurnStats>,
    /// Readiness (`/readyz`): draining, the store's answer.
    pub health: Health,
    /// Cancelled when the node begins shutting down.
    pub shutdown: CancellationToken,
    /// Tracks every connection task so shutdown can wait for them.
    pub connections: TaskTracker,
    /// One permit per live long connection (TCP and WebSocket).
    pub connection_slots: Arc<Semaphore>,
}

pub type AppRef = Arc<App>;

/// The background message pipeline: the writer and the fan-out stage, and
/// the calls whose logs go through it.
pub struct Pipeline {
    calls: Arc<Calls>,
    call_tasks: CallTasks,
    /// The store itself: services hold it, routes and sessions do not;
    /// unit tests reach it here.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) store: Arc<dyn Store>,
    stop_writer: CancellationToken,
    writer: JoinHandle<()>,
    fanout: JoinHandle<()>,
    /// The cluster bus's tasks (none on a single node).
    bus: Option<BusTasks>,
}

impl Pipeline {
    /// Ends every live call (queueing its call log), commits every queued
    /// message, pushes what was committed, and stops.
    pub async fn drain(self) {
        self.calls.shutdown(self.call_tasks).await;
        self.stop_writer.cancel();
        let _ = self.writer.await;
        // The writer dropped its fan-out handle; what it handed over is pushed.
        let _ = self.fanout.await;
        // Last: what the fan-out published goes out, then the node leaves
        // the cluster's registry.
        if let Some(bus) = self.bus {
            bus.stop().await;
        }
    }
}

impl App {
    /// Opens the store and assembles a node (without listening anywhere).
    pub async fn start(config: Config) -> Result<(AppRef, Pipeline), ServerError> {
        let store = open_store(&config).await?;
        let hub = Arc::new(Hub::new());
        let cluster = &config.cluster;
        // In cluster mode an invalidation can be lost on the bus: entries
        // then live at most cluster.cache_ttl_ms.
        let cache_ttl = (cluster.bus != BusKind::Local).then(|| Duration::from_millis(cluster.cache_ttl_ms));
        let caches = Arc::new(Caches::with_ttl(Arc::clone(&store), &config.caches, cache_ttl));
        if config.caches.warm_sessions {
            let caches = Arc::clone(&caches);
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                match caches.warm_sessions().await {
                    Ok(n) => {
                        tracing::info!(sessions = n, ms = started.elapsed().as_millis() as u64, "session cache warmed")
                    }
                    Err(e) => tracing::warn!(error = %e.message, "warming the session cache failed"),
                }
            });
        }
        if config.messages.search {
            tokio::spawn(crate::service::content::backfill_search(Arc::clone(&store)));
        }
        let (bus, bus_tasks): (Arc<dyn Bus>, _) = match config.cluster.bus {
            BusKind::Local => (Arc::new(LocalBus::new(Arc::clone(&hub), Arc::clone(&caches))), None),
            BusKind::Redis => {
                let (bus, tasks) =
                    RedisBus::start(Arc::clone(&hub), Arc::clone(&caches), config.node_id, &config.cluster)
                        .map_err(ServerError::Config)?;
                (bus, Some(tasks))
            }
        };
        let (fanout, fanout_task) = fanout::spawn(Arc::clone(&bus), Arc::clone(&caches));
        let stop_writer = CancellationToken::new();
        let (writer, writer_task) = writer::spawn(
            Arc::clone(&store),
            fanout,
            config.writer.max_batch,
            config.writer.queue,
            stop_writer.clone(),
        )?;
        let notifier = Notifier::new(Arc::clone(&store), Arc::clone(&bus), Arc::clone(&caches));
        let accounts = Accounts::new(
            Arc::clone(&store),
            Arc::clone(&bus),
            Arc::clone(&caches),
            config.auth.clone(),
            config.limits.min_password_chars,
        )
        .map_err(ServerError::Config)?;
        let shutdown = CancellationToken::new();
        let files = Files::start(Arc::clone(&store), &config, shutdown.clone()).await.map_err(ServerError::Config)?;
        let ice = Arc::new(IceServers::start(&store, &config.calls).await.map_err(ServerError::Config)?);
        let turn = &config.calls.turn;
        let turn_allocations = Arc::new(Allocations::new(turn.max_allocations_per_user, turn.max_allocations));
        let messaging =
            Arc::new(Messaging::new(Arc::clone(&store), Arc::clone(&caches), writer, Arc::clone(&notifier), &config));
        let (calls, call_tasks) =
            Calls::start(config.node_id, config.calls.call_config(), Arc::clone(&bus), Arc::clone(&messaging));
        let app = Arc::new(App {
            messaging,
            calls: Arc::clone(&calls),
            contacts: Contacts::new(Arc::clone(&store), Arc::clone(&bus), Arc::clone(&notifier)),
            groups: Groups::new(Arc::clone(&store), Arc::clone(&bus), notifier, config.groups.clone()),
            presence: Arc::new(Presence::new(Arc::clone(&bus), Arc::clone(&caches))),
            accounts,
            connection_slots: Arc::new(Semaphore::new(config.gateway.max_connections)),
            files,
            ice,
            turn_allocations,
            turn_stats: Arc::default(),
            health: Health::new(Arc::clone(&store), Arc::clone(&bus)),
            shutdown,
            connections: TaskTracker::new(),
            hub,
            bus,
            caches,
            config,
        });
        Ok((
            app,
            Pipeline {
                calls,
                call_tasks,
                store,
                stop_writer,
                writer: writer_task,
                fanout: fanout_task,
                bus: bus_tasks,
            },
        ))
    }
}
