//! The gateway's handles on its three pools, created on first start.

use std::sync::Arc;

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
        }
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
                    created = created.max(Some(epoch));
                }
                Err(MonClientError::Mon(MonError::PoolExists(_))) => {
                    created = created.max(Some(client.epoch().next()));
                }
                Err(e) => return Err(GwError::Rados(ClientError::Mon(e))),
            }
        }
        // A follower monitor may answer with a map that does not hold the new pools yet:
        // ask again until it does (bounded by the client's retries).
        if let Some(epoch) = created {
            for _ in 0..50 {
                if client.refresh_map().await? >= epoch
                    && wanted
                        .iter()
                        .all(|(name, _)| client.pool_id(name).is_some())
                {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        Ok(Cluster {
            meta: client.pool(META_POOL).await?,
            index: client.pool(INDEX_POOL).await?,
            data: client.pool(DATA_POOL).await?,
        })
    }
}
