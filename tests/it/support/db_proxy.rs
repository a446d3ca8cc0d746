//! A TCP proxy in front of Postgres that a test can cut and restore: a database outage the
//! test owns (connections dropped, new ones refused) without touching the shared server.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sqlx::PgPool;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

pub struct DbProxy {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    /// Bumped on every cut: live connections end when it changes.
    generation: watch::Sender<u64>,
}

impl DbProxy {
    /// A proxy to the server `pool` talks to.
    pub async fn start(pool: &PgPool) -> DbProxy {
        let opts = pool.connect_options();
        let target = format!("{}:{}", opts.get_host(), opts.get_port());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let (accept_cut, gen_tx) = (cut.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if accept_cut.load(Ordering::Acquire) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let mut ended = gen_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = ended.changed() => {}
                    }
                });
            }
        });
        DbProxy {
            addr,
            cut,
            generation,
        }
    }

    /// A pool of the same database through the proxy, with the product's options
    /// (`store::pool_options`) but short waits (an outage shows as `PoolTimedOut` after
    /// `acquire`).
    pub async fn pool(&self, pool: &PgPool, acquire: Duration) -> PgPool {
        let opts = (*pool.connect_options())
            .clone()
            .host(&self.addr.ip().to_string())
            .port(self.addr.port());
        tradeplane::store::pool_options()
            .max_connections(8)
            .acquire_timeout(acquire)
            .connect_with(opts)
            .await
            .unwrap()
    }

    /// The outage starts: every connection drops, new ones are refused.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        self.generation.send_modify(|g| *g += 1);
    }

    /// The database is back.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::Release);
    }
}
