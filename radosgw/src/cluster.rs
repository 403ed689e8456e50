//! The gateway's handles on its three pools, created on first start, and on the pools of
//! other storage classes, opened (and the built-in ones created) on first use.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use placement::{DomainType, PoolKind};
use rados::proto::mon::{Admin, AdminCommand, MonError};
use rados::{ClientError, IoCtx, MonClientError, RadosClient};

use crate::error::{GwError, GwResult};
use crate::layout::{DATA_POOL, INDEX_POOL, META_POOL};

/// How to create the gateway's pools when they do not exist yet.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// Copies of every object in the replicated pools.
    pub size: u8,
    /// Fewest copies that accept writes.
    pub min_size: u8,
    /// PGs of the data pool (metadata and index pools get a quarter, at least 8).
    pub data_pg_num: u32,
    /// Failure domain of all three pools.
    pub failure_domain: DomainType,
    /// Create the data pool erasure-coded with this kind instead (heads and tails need no
    /// omap; users, buckets and indexes stay in the replicated pools).
    pub data_erasure: Option<PoolKind>,
}

impl Default for PoolSettings {
    fn default() -> PoolSettings {
        PoolSettings {
            size: 3,
            min_size: 2,
            data_pg_num: 64,
            failure_domain: DomainType::Host,
            data_erasure: None,
        }
    }
}

/// Pool handles.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Users, keys, bucket records, GC queue.
    pub meta: IoCtx,
    /// Bucket index shards and upload records.
    pub index: IoCtx,
    /// Heads and tails.
    pub data: IoCtx,
    /// Where the pools of other storage classes come from.
    others: Others,
}

/// The source of handles on pools beyond the three.
#[derive(Clone)]
enum Others {
    /// The cluster, creating pools with these settings' failure domain.
    Cluster(Arc<RadosClient>, PoolSettings),
    /// Pools in memory, made on first use (simulations and tests).
    Memory(Arc<Mutex<BTreeMap<String, IoCtx>>>),
}

impl std::fmt::Debug for Others {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Others::Cluster(..) => f.write_str("Others::Cluster"),
            Others::Memory(..) => f.write_str("Others::Memory"),
        }
    }
}

impl Cluster {
    /// Pools held in memory, with the OSD's op semantics: for simulations of the gateway's
    /// protocols ([`rados::MemoryPool`]).
    pub fn in_memory() -> Cluster {
        let pool = |name: &str| IoCtx::in_memory(name, Arc::new(rados::MemoryPool::new()));
        Cluster {
            meta: pool(META_POOL),
            index: pool(INDEX_POOL),
            data: pool(DATA_POOL),
            others: Others::Memory(Arc::default()),
        }
    }

    /// The gateway's pools as its first start created them (admin commands: nothing is
    /// created here, though a built-in class's pool is on first use, with `settings`).
    pub async fn attach(
        client: Arc<RadosClient>,
        settings: PoolSettings,
    ) -> Result<Cluster, ClientError> {
        Ok(Cluster {
            meta: client.pool(META_POOL).await?,
            index: client.pool(INDEX_POOL).await?,
            data: client.pool(DATA_POOL).await?,
            others: Others::Cluster(client, settings),
        })
    }

    /// The pool named `name`, the data pool for `None` (a manifest's or GC entry's pool).
    pub async fn pool(&self, name: Option<&str>) -> GwResult<IoCtx> {
        let Some(name) = name.filter(|n| *n != DATA_POOL) else {
            return Ok(self.data.clone());
        };
        match &self.others {
            Others::Cluster(client, _) => Ok(client.pool(name).await?),
            Others::Memory(pools) => {
                let mut pools = pools.lock().expect("memory pools lock");
                let pool = pools
                    .entry(name.to_owned())
                    .or_insert_with(|| IoCtx::in_memory(name, Arc::new(rados::MemoryPool::new())));
                Ok(pool.clone())
            }
        }
    }

    /// Whether pool `name` exists (in memory, every pool does).
    pub fn has_pool(&self, name: &str) -> bool {
        match &self.others {
            Others::Cluster(client, _) => client.pool_id(name).is_some(),
            Others::Memory(_) => true,
        }
    }

    /// How many failure domains of the pools' kind hold data (in memory: as many as any
    /// code asks for).
    pub fn failure_domains(&self) -> usize {
        let Others::Cluster(client, settings) = &self.others else {
            return usize::MAX;
        };
        let map = client.map();
        let domains: std::collections::BTreeSet<(&str, &str, u32)> = map
            .osds
            .values()
            .filter(|o| o.is_placeable())
            .map(|o| match settings.failure_domain {
                DomainType::Osd => ("", "", o.id.0),
                DomainType::Host => ("", o.location.host.as_str(), 0),
                DomainType::Zone => (o.location.zone.as_str(), "", 0),
            })
            .collect();
        domains.len()
    }

    /// Creates pool `name` of `kind` (another gateway creating it at the same time is
    /// fine), with the data pool's PG count and the pools' failure domain, and waits until
    /// the map holds it.
    pub async fn create_pool(&self, name: &str, kind: PoolKind) -> GwResult<()> {
        let Others::Cluster(client, settings) = &self.others else {
            return Ok(());
        };
        let epoch = create(client, name, kind, settings.data_pg_num, settings).await?;
        await_pools(client, epoch, &[name]).await
    }

    /// Opens the pools, creating those missing with `settings` (another gateway creating
    /// them at the same time is fine).
    pub async fn open(client: Arc<RadosClient>, settings: &PoolSettings) -> GwResult<Cluster> {
        let small_pg = (settings.data_pg_num / 4).max(8);
        let wanted = [
            (META_POOL, small_pg),
            (INDEX_POOL, small_pg),
            (DATA_POOL, settings.data_pg_num),
        ];
        // The newest epoch holding a pool we created (or found created concurrently).
        let mut created: Option<placement::Epoch> = None;
        for (name, pg_num) in wanted.iter().copied() {
            if client.pool_id(name).is_some() {
                continue;
            }
            let replicated = PoolKind::Replicated {
                size: settings.size,
                min_size: settings.min_size,
            };
            let kind = match settings.data_erasure {
                Some(ec) if name == DATA_POOL => ec,
                _ => replicated,
            };
            let epoch = create(&client, name, kind, pg_num, settings).await?;
            created = created.max(Some(epoch));
        }
        if let Some(epoch) = created {
            await_pools(&client, epoch, &wanted.map(|(name, _)| name)).await?;
        }
        Ok(Cluster {
            meta: client.pool(META_POOL).await?,
            index: client.pool(INDEX_POOL).await?,
            data: client.pool(DATA_POOL).await?,
            others: Others::Cluster(client, settings.clone()),
        })
    }
}

/// Asks the monitors to create pool `name`; returns an epoch holding it.
async fn create(
    client: &RadosClient,
    name: &str,
    kind: PoolKind,
    pg_num: u32,
    settings: &PoolSettings,
) -> GwResult<placement::Epoch> {
    let cmd = AdminCommand::PoolCreate {
        name: name.to_owned(),
        kind,
        pg_num,
        failure_domain: settings.failure_domain,
    };
    let request = Admin {
        id: crate::ids::random_u64(),
        cmd,
    };
    match client.mon_client().call(&request).await {
        Ok(epoch) => {
            tracing::info!(pool = name, pg_num, %epoch, "created pool");
            Ok(epoch)
        }
        Err(MonClientError::Mon(MonError::PoolExists(_))) => Ok(client.epoch().next()),
        Err(e) => Err(GwError::Rados(ClientError::Mon(e))),
    }
}

/// Waits until the client's map is at `epoch` and holds `names`: a follower monitor may
/// answer with a map that does not hold new pools yet (bounded by the client's retries).
async fn await_pools(
    client: &RadosClient,
    epoch: placement::Epoch,
    names: &[&str],
) -> GwResult<()> {
    for _ in 0..50 {
        if client.refresh_map().await? >= epoch
            && names.iter().all(|name| client.pool_id(name).is_some())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(())
}
