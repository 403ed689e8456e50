//! Bucket records (`bucket.<name>` in the metadata pool), each owner's bucket list, and the
//! bucket index shards' life: created live before the record exists, flipped to "deleting"
//! before a delete checks emptiness, so a racing PUT either lands before the check (and the
//! bucket is not empty) or is refused.

use std::sync::Arc;
use std::time::Duration;

use futures::future::try_join_all;
use rados::proto::osd::Version;
use rados::{IoCtx, WriteOp};
use s3s::S3ErrorCode;

use crate::cluster::Cluster;
use crate::error::{GwError, GwResult};
use crate::ids;
use crate::layout::{
    BUCKETS_OID, STATE_LIVE, STATE_XATTR, bucket_oid, index_oid, uploads_oid, user_buckets_oid,
};
use crate::lifecycle::LifecycleConfig;
use crate::lock::LockConfig;
use crate::records::{Acl, BucketRecord, Versioning, decode, encode, now_ms};
use crate::ttl_cache::TtlCache;

/// The value of an index shard's state xattr while a delete is checking emptiness.
const STATE_DELETING: &[u8] = b"deleting";

/// Whether `name` follows S3's bucket naming rules.
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'-'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && !name.starts_with("xn--")
        && !name.ends_with("-s3alias")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

/// How long a bucket record read for an object request is reused. Changes made through
/// this gateway are seen at once; another gateway's ACL change or delete within this bound.
/// Writes into a bucket deleted meanwhile are still refused: they need its live index shard.
pub const BUCKET_CACHE_TTL: Duration = Duration::from_secs(2);

/// Records kept at most; the cache starts over beyond this.
const BUCKET_CACHE_MAX: usize = 10_000;

/// Bucket operations.
#[derive(Clone, Debug)]
pub struct Buckets {
    meta: IoCtx,
    index: IoCtx,
    shards: u32,
    /// Records recently read for object requests, by name.
    cache: Arc<TtlCache<BucketRecord>>,
}

impl Buckets {
    /// Buckets of `cluster`, new ones with `shards` index shards.
    pub fn new(cluster: &Cluster, shards: u32) -> Buckets {
        Buckets {
            meta: cluster.meta.clone(),
            index: cluster.index.clone(),
            shards: shards.max(1),
            cache: Arc::new(TtlCache::new(BUCKET_CACHE_TTL, BUCKET_CACHE_MAX)),
        }
    }

    /// Creates bucket `name` for `owner`, with `shards` index shards (`None`: the
    /// gateway's default) and object lock if `object_lock` is given.
    pub async fn create(
        &self,
        name: &str,
        owner: &str,
        acl: Acl,
        region: &str,
        shards: Option<u32>,
        object_lock: Option<LockConfig>,
    ) -> GwResult<BucketRecord> {
        if !valid_bucket_name(name) {
            return Err(GwError::s3(
                S3ErrorCode::InvalidBucketName,
                format!("{name:?} is not a valid bucket name"),
            ));
        }
        if let Some(existing) = self.get(name).await? {
            return Err(self.already_exists(&existing, owner).await);
        }
        let record = BucketRecord {
            name: name.to_owned(),
            id: ids::random_hex::<8>(),
            owner: owner.to_owned(),
            created_ms: now_ms(),
            acl,
            shards: shards.unwrap_or(self.shards).max(1),
            region: region.to_owned(),
            // Object lock needs versions to lock: such a bucket is versioned from birth.
            versioning: if object_lock.is_some() {
                Versioning::Enabled
            } else {
                Versioning::Off
            },
            object_lock,
            lifecycle: None,
            tiering: None,
            policy: None,
            ownership: None,
            public_access_block: None,
            cors: None,
            tags: None,
        };
        // Shards first: a record only ever names shards that exist and are live.
        self.set_state(&record, STATE_LIVE).await?;
        let op = WriteOp::new()
            .assert_version(Version::ZERO)
            .write_full(encode(&record));
        match self
            .meta
            .write(&bucket_oid(name), op)
            .await
            .map_err(GwError::from)
        {
            Err(e) if e.is_guard_failed() => {
                self.drop_shards(&record).await;
                let existing = self.must_get(name).await?;
                return Err(self.already_exists(&existing, owner).await);
            }
            other => other?,
        };
        self.link(&record).await?;
        Ok(record)
    }

    /// The error for creating a bucket that exists; heals the owner's bucket list if a
    /// crash left the bucket out of it.
    async fn already_exists(&self, existing: &BucketRecord, owner: &str) -> GwError {
        if existing.owner != owner {
            return GwError::s3(
                S3ErrorCode::BucketAlreadyExists,
                "the bucket name is taken by another account",
            );
        }
        if let Err(e) = self.link(existing).await {
            return e;
        }
        GwError::s3(
            S3ErrorCode::BucketAlreadyOwnedByYou,
            "you already own this bucket",
        )
    }

    async fn link(&self, record: &BucketRecord) -> GwResult<()> {
        let entry = vec![(record.name.as_bytes().to_vec(), Vec::new())];
        self.meta
            .omap_set(&user_buckets_oid(&record.owner), entry.clone())
            .await?;
        self.meta.omap_set(BUCKETS_OID, entry).await?;
        Ok(())
    }

    async fn drop_shards(&self, record: &BucketRecord) {
        for s in 0..record.shards {
            if let Err(e) = self.index.remove(&index_oid(&record.id, s)).await
                && !e.is_not_found()
            {
                tracing::warn!(bucket = record.name, %e, "could not remove an index shard");
            }
        }
    }

    /// Bucket `name`, if it exists, read now.
    pub async fn get(&self, name: &str) -> GwResult<Option<BucketRecord>> {
        Ok(self.get_versioned(name).await?.map(|(r, _)| r))
    }

    /// Bucket `name` as read within [`BUCKET_CACHE_TTL`], or read now: for object
    /// requests, which would otherwise pay a metadata read each.
    pub async fn get_cached(&self, name: &str) -> GwResult<Option<BucketRecord>> {
        if let Some(record) = self.cache.get(name, tokio::time::Instant::now()) {
            return Ok(Some(record));
        }
        let ticket = self.cache.begin_read();
        let record = self.get(name).await?;
        if let Some(r) = &record {
            self.cache
                .store(name, r.clone(), ticket, tokio::time::Instant::now());
        }
        Ok(record)
    }

    async fn get_versioned(&self, name: &str) -> GwResult<Option<(BucketRecord, Version)>> {
        let oid = bucket_oid(name);
        let ops = vec![
            rados::proto::osd::Op::Stat,
            rados::proto::osd::Op::Read { off: 0, len: None },
        ];
        match self.meta.operate(&oid, ops, bytes::Bytes::new()).await {
            Ok((reply, data)) => Ok(Some((decode(&oid, &data)?, reply.version))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Bucket `name`, or NoSuchBucket.
    pub async fn must_get(&self, name: &str) -> GwResult<BucketRecord> {
        self.get(name).await?.ok_or_else(|| no_such_bucket(name))
    }

    /// The buckets `owner` owns, by name.
    pub async fn list_for(&self, owner: &str) -> GwResult<Vec<BucketRecord>> {
        let names = omap_keys(&self.meta, &user_buckets_oid(owner)).await?;
        let records = try_join_all(names.iter().map(|n| self.get(n))).await?;
        Ok(records
            .into_iter()
            .flatten()
            .filter(|r| r.owner == owner)
            .collect())
    }

    /// Every bucket name in the cluster (for the janitor and `user rm`).
    pub async fn all_names(&self) -> GwResult<Vec<String>> {
        omap_keys(&self.meta, BUCKETS_OID).await
    }

    /// Sets a bucket's canned ACL.
    pub async fn set_acl(&self, name: &str, acl: Acl) -> GwResult<()> {
        self.update(name, |record| {
            record.acl = acl.clone();
            Ok(())
        })
        .await
    }

    /// Sets a bucket's versioning state (Enabled or Suspended; a bucket never returns to
    /// unversioned).
    pub async fn set_versioning(&self, name: &str, state: Versioning) -> GwResult<()> {
        self.update(name, |record| {
            if record.object_lock.is_some() && state != Versioning::Enabled {
                return Err(GwError::s3(
                    S3ErrorCode::InvalidBucketState,
                    "versioning cannot be suspended on a bucket with object lock",
                ));
            }
            record.versioning = state;
            Ok(())
        })
        .await
    }

    /// Sets a bucket's object lock configuration, which enables object lock if it was not;
    /// that needs versioning enabled (InvalidBucketState otherwise, as S3).
    pub async fn set_object_lock(&self, name: &str, config: LockConfig) -> GwResult<()> {
        self.update(name, |record| {
            if record.versioning != Versioning::Enabled {
                return Err(GwError::s3(
                    S3ErrorCode::InvalidBucketState,
                    "object lock needs versioning enabled on the bucket",
                ));
            }
            record.object_lock = Some(config);
            Ok(())
        })
        .await
    }

    /// Sets (`None`: removes) a bucket's object ownership control. BucketOwnerEnforced is
    /// refused while the bucket's ACL grants anyone but its owner (S3's
    /// InvalidBucketAclWithObjectOwnership).
    pub async fn set_ownership(
        &self,
        name: &str,
        ownership: Option<crate::acl::Ownership>,
    ) -> GwResult<()> {
        self.update(name, |record| {
            let enforced = ownership == Some(crate::acl::Ownership::BucketOwnerEnforced);
            let others = record
                .acl
                .grants
                .iter()
                .any(|g| g.grantee != crate::acl::Grantee::Owner);
            if enforced && others {
                return Err(GwError::s3(
                    S3ErrorCode::InvalidBucketAclWithObjectOwnership,
                    "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
                ));
            }
            record.ownership = ownership;
            Ok(())
        })
        .await
    }

    /// Sets (`None`: removes) a bucket's tags (checked by the caller).
    pub async fn set_tags(&self, name: &str, tags: Option<Vec<(String, String)>>) -> GwResult<()> {
        self.update(name, |record| {
            record.tags = tags.clone();
            Ok(())
        })
        .await
    }

    /// Sets (`None`: removes) a bucket's CORS rules (validated by the caller).
    pub async fn set_cors(
        &self,
        name: &str,
        cors: Option<crate::cors::CorsConfig>,
    ) -> GwResult<()> {
        self.update(name, |record| {
            record.cors = cors.clone();
            Ok(())
        })
        .await
    }

    /// Sets (`None`: removes) a bucket's public access block.
    pub async fn set_public_access_block(
        &self,
        name: &str,
        block: Option<crate::acl::PublicAccessBlock>,
    ) -> GwResult<()> {
        self.update(name, |record| {
            record.public_access_block = block;
            Ok(())
        })
        .await
    }

    /// Sets (or, with `None`, removes) a bucket's policy (validated by the caller).
    pub async fn set_policy(&self, name: &str, policy: Option<String>) -> GwResult<()> {
        self.update(name, |record| {
            record.policy = policy.clone();
            Ok(())
        })
        .await
    }

    /// Sets (or, with `None`, removes) a bucket's lifecycle rules.
    pub async fn set_lifecycle(&self, name: &str, rules: Option<LifecycleConfig>) -> GwResult<()> {
        self.update(name, |record| {
            record.lifecycle = rules.clone();
            Ok(())
        })
        .await
    }

    /// Turns tiering on for a bucket with the default settings, unless it is on already.
    pub async fn start_tiering(&self, name: &str) -> GwResult<()> {
        self.update(name, |record| {
            record.tiering.get_or_insert_with(Default::default);
            Ok(())
        })
        .await
    }

    /// Sets a bucket's tiering settings (`None`: off).
    pub async fn set_tiering(
        &self,
        name: &str,
        tiering: Option<crate::tiering::Tiering>,
    ) -> GwResult<()> {
        self.update(name, |record| {
            record.tiering = tiering;
            Ok(())
        })
        .await
    }

    /// Changes a bucket's record with a compare-and-swap on its version, and forgets the
    /// cached copy so this gateway sees the change at once. `change` decides on the record
    /// as read, so a refusal never rests on a stale one.
    async fn update(
        &self,
        name: &str,
        change: impl Fn(&mut BucketRecord) -> GwResult<()>,
    ) -> GwResult<()> {
        loop {
            let (mut record, version) = self
                .get_versioned(name)
                .await?
                .ok_or_else(|| no_such_bucket(name))?;
            change(&mut record)?;
            let op = WriteOp::new()
                .assert_version(version)
                .write_full(encode(&record));
            let written = self
                .meta
                .write(&bucket_oid(name), op)
                .await
                .map_err(GwError::from);
            self.cache.forget(name);
            match written {
                Err(e) if e.is_guard_failed() => continue,
                other => return other.map(drop),
            }
        }
    }

    /// Deletes a bucket with no objects (BucketNotEmpty otherwise), first running
    /// `abort_uploads` (which aborts its multipart uploads in progress) once no new upload
    /// can start.
    pub async fn delete(
        &self,
        record: &BucketRecord,
        abort_uploads: impl Future<Output = GwResult<()>>,
    ) -> GwResult<()> {
        self.cache.forget(&record.name);
        self.set_state(record, STATE_DELETING).await?;
        let mut empty = self.has_no_objects(record).await;
        if matches!(empty, Ok(true)) {
            empty = match abort_uploads.await {
                Ok(()) => omap_is_empty(&self.index, &uploads_oid(&record.id)).await,
                Err(e) => Err(e),
            };
        }
        if !matches!(empty, Ok(true)) {
            self.set_state(record, STATE_LIVE).await?;
            empty?;
            return Err(GwError::s3(
                S3ErrorCode::BucketNotEmpty,
                "the bucket you tried to delete is not empty",
            ));
        }
        match self.meta.remove(&bucket_oid(&record.name)).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        // Requests that read the record while the delete ran must not keep it.
        self.cache.forget(&record.name);
        let key = vec![record.name.as_bytes().to_vec()];
        self.meta
            .omap_rm(&user_buckets_oid(&record.owner), key.clone())
            .await?;
        self.meta.omap_rm(BUCKETS_OID, key).await?;
        self.drop_shards(record).await;
        if let Err(e) = self.index.remove(&uploads_oid(&record.id)).await
            && !e.is_not_found()
        {
            tracing::warn!(bucket = record.name, %e, "could not remove the uploads record");
        }
        Ok(())
    }

    async fn set_state(&self, record: &BucketRecord, state: &'static [u8]) -> GwResult<()> {
        // The shards guard index entries, the uploads object guards new multipart uploads.
        let oids = (0..record.shards)
            .map(|s| index_oid(&record.id, s))
            .chain([uploads_oid(&record.id)]);
        try_join_all(
            oids.map(|oid| async move { self.index.set_xattr(&oid, STATE_XATTR, state).await }),
        )
        .await?;
        Ok(())
    }

    /// No listed object, no write in flight.
    async fn has_no_objects(&self, record: &BucketRecord) -> GwResult<bool> {
        for s in 0..record.shards {
            if !omap_is_empty(&self.index, &index_oid(&record.id, s)).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// NoSuchBucket for `name`.
pub fn no_such_bucket(name: &str) -> GwError {
    GwError::s3(
        S3ErrorCode::NoSuchBucket,
        format!("the bucket {name:?} does not exist"),
    )
}

async fn omap_is_empty(io: &IoCtx, oid: &str) -> GwResult<bool> {
    match io.omap_list(oid, None, 1).await {
        Ok(page) => Ok(page.is_empty()),
        Err(e) if e.is_not_found() => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Every omap key of `oid` as a string (the object missing: none).
pub async fn omap_keys(io: &IoCtx, oid: &str) -> GwResult<Vec<String>> {
    const PAGE: u32 = 1000;
    let mut out = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = match io.omap_list(oid, after.as_deref(), PAGE).await {
            Ok(page) => page,
            Err(e) if e.is_not_found() => break,
            Err(e) => return Err(e.into()),
        };
        let done = page.len() < PAGE as usize;
        after = page.last().map(|(k, _)| k.clone());
        out.extend(
            page.into_iter()
                .map(|(k, _)| String::from_utf8_lossy(&k).into_owned()),
        );
        if done {
            return Ok(out);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::valid_bucket_name;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["abc", "my-bucket.2024", "a1b", &"a".repeat(63)] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "ABC",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}
