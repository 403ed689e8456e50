//! The storage-class registry in the cluster (omap of [`CLASSES_OID`] in the metadata
//! pool: class name -> [`ClassRecord`]), read through a short cache, and the pools behind
//! the classes, the built-in STANDARD_IA's created on first use. The rules are
//! [`crate::storage_class`]'s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use placement::PoolKind;
use s3s::S3ErrorCode;

use crate::cluster::Cluster;
use crate::error::{GwError, GwResult};
use crate::layout::CLASSES_OID;
use crate::records::{decode, encode, now_ms};
use crate::storage_class::{self, ClassError, ClassRecord, Target};
use crate::ttl_cache::TtlCache;

/// How long a gateway uses the registry it read: another gateway's `add` or `rm` shows
/// within this.
pub const CLASSES_CACHE_TTL: Duration = Duration::from_secs(5);

/// The registry as a gateway uses it.
#[derive(Debug)]
pub struct Classes {
    cluster: Cluster,
    cache: TtlCache<Arc<BTreeMap<String, ClassRecord>>>,
    /// One pool creation at a time per gateway.
    creating: tokio::sync::Mutex<()>,
}

impl Classes {
    /// The registry of `cluster`.
    pub fn new(cluster: Cluster) -> Classes {
        Classes {
            cluster,
            cache: TtlCache::new(CLASSES_CACHE_TTL, 1),
            creating: tokio::sync::Mutex::new(()),
        }
    }

    /// Where writes of class `name` go (`None`: STANDARD), its pool existing: the built-in
    /// STANDARD_IA pool is created now if it is not yet. InvalidStorageClass for a class
    /// this cluster does not offer or cannot hold.
    pub async fn target(&self, name: Option<&str>) -> GwResult<Target> {
        let Some(name) = name.filter(|n| *n != storage_class::STANDARD) else {
            return Ok(Target::standard());
        };
        let added = self.added().await?;
        let target = storage_class::resolve(name, &added).map_err(invalid)?;
        let Some(pool) = target.pool.as_deref() else {
            return Ok(target); // the data pool
        };
        if self.cluster.has_pool(pool) {
            return Ok(target);
        }
        if !target.create {
            return Err(GwError::s3(
                S3ErrorCode::InvalidStorageClass,
                format!("the pool {pool:?} of storage class {name} does not exist"),
            ));
        }
        let _one = self.creating.lock().await;
        if !self.cluster.has_pool(pool) {
            let domains = self.cluster.failure_domains();
            let Some((k, m)) = storage_class::ia_profile(domains) else {
                return Err(GwError::s3(
                    S3ErrorCode::InvalidStorageClass,
                    format!(
                        "{name} is erasure-coded 2+1 at least, which needs 3 failure \
                         domains; this cluster has {domains}"
                    ),
                ));
            };
            let kind = PoolKind::Erasure {
                k,
                m,
                stripe_unit: placement::DEFAULT_STRIPE_UNIT,
                min_size: k + 1,
            };
            self.cluster.create_pool(pool, kind).await?;
        }
        Ok(target)
    }

    /// Where an INTELLIGENT_TIERING object's bytes go: `cold` STANDARD_IA's pool (created
    /// if it is the built-in one and missing), else the data pool.
    pub async fn tier(&self, cold: bool) -> GwResult<Target> {
        let mut target = match cold {
            true => self.target(Some(storage_class::STANDARD_IA)).await?,
            false => Target::standard(),
        };
        target.class = Some(storage_class::INTELLIGENT_TIERING.to_owned());
        Ok(target)
    }

    /// Whether class `name` is one this cluster offers (a lifecycle rule naming it is
    /// refused otherwise); its pool is not created until an object goes there.
    pub async fn check(&self, name: &str) -> GwResult<()> {
        storage_class::resolve(name, &*self.added().await?).map_err(invalid)?;
        Ok(())
    }

    /// The classes operators added, as read within [`CLASSES_CACHE_TTL`].
    async fn added(&self) -> GwResult<Arc<BTreeMap<String, ClassRecord>>> {
        let now = tokio::time::Instant::now();
        if let Some(found) = self.cache.get(CLASSES_OID, now) {
            return Ok(found);
        }
        let ticket = self.cache.begin_read();
        let found = Arc::new(list(&self.cluster).await?);
        self.cache.store(CLASSES_OID, found.clone(), ticket, now);
        Ok(found)
    }
}

fn invalid(e: ClassError) -> GwError {
    GwError::s3(S3ErrorCode::InvalidStorageClass, e.to_string())
}

/// Every class operators added, read now.
pub async fn list(cluster: &Cluster) -> GwResult<BTreeMap<String, ClassRecord>> {
    let mut out = BTreeMap::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        const PAGE: u32 = 100;
        let page = match cluster
            .meta
            .omap_list(CLASSES_OID, after.as_deref(), PAGE)
            .await
        {
            Ok(page) => page,
            Err(e) if e.is_not_found() => break,
            Err(e) => return Err(e.into()),
        };
        let full = page.len() == PAGE as usize;
        for (key, value) in page {
            let name = String::from_utf8_lossy(&key).into_owned();
            out.insert(name, decode(CLASSES_OID, &value)?);
            after = Some(key);
        }
        if !full {
            break;
        }
    }
    Ok(out)
}

/// Adds (or re-points) class `name` to the existing pool `pool`.
pub async fn add(cluster: &Cluster, name: &str, pool: &str) -> GwResult<ClassRecord> {
    storage_class::check_new_name(name)
        .map_err(|e| GwError::s3(S3ErrorCode::InvalidArgument, e.to_string()))?;
    if !cluster.has_pool(pool) {
        return Err(GwError::s3(
            S3ErrorCode::InvalidArgument,
            format!("no pool {pool:?}: create it first (`shoal pool create`)"),
        ));
    }
    let record = ClassRecord {
        pool: pool.to_owned(),
        created_ms: now_ms(),
    };
    cluster
        .meta
        .omap_set(
            CLASSES_OID,
            vec![(name.as_bytes().to_vec(), encode(&record))],
        )
        .await?;
    Ok(record)
}

/// Removes class `name` from the registry: new writes can no longer choose it; objects
/// already in it stay readable (their manifests name the pool). Returns whether it was
/// there.
pub async fn remove(cluster: &Cluster, name: &str) -> GwResult<bool> {
    let existed = list(cluster).await?.contains_key(name);
    if existed {
        cluster
            .meta
            .omap_rm(CLASSES_OID, vec![name.as_bytes().to_vec()])
            .await?;
    }
    Ok(existed)
}
