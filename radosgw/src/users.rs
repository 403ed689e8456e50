//! Users and access keys, stored in the metadata pool: `user.<uid>` holds the record,
//! `key.<access>` names the owner of a key, the `users` omap lists every uid. Also the
//! signature layer's key lookup ([`Users`] implements [`s3s::auth::S3Auth`]), cached briefly
//! so that a busy gateway does not read the key for every request.

use std::time::Duration;

use rados::proto::osd::Version;
use rados::{IoCtx, WriteOp};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use tokio::time::Instant;

use crate::error::{GwError, GwResult};
use crate::ids;
use crate::layout::{USERS_OID, key_oid, user_buckets_oid, user_oid};
use crate::records::{AccessKey, UserRecord, decode, encode, now_ms};
use crate::ttl_cache::TtlCache;

/// How long a looked-up key is trusted before it is read again (a removed key stops
/// working within this time).
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// Keys cached at most.
const KEY_CACHE_MAX: usize = 10_000;

/// The user store.
pub struct Users {
    meta: IoCtx,
    /// Users by access key.
    cache: TtlCache<UserRecord>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").finish_non_exhaustive()
    }
}

/// A uid S3 and the CLI accept: 1-64 characters of `[A-Za-z0-9_.-]`.
pub fn valid_uid(uid: &str) -> bool {
    (1..=64).contains(&uid.len())
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl Users {
    /// Users stored in `meta` (the metadata pool).
    pub fn new(meta: IoCtx) -> Users {
        Users {
            meta,
            cache: TtlCache::new(KEY_CACHE_TTL, KEY_CACHE_MAX),
        }
    }

    /// Creates a user with one fresh key pair (or the given one).
    pub async fn create(
        &self,
        uid: &str,
        display_name: &str,
        key: Option<AccessKey>,
    ) -> GwResult<UserRecord> {
        if !valid_uid(uid) {
            return Err(invalid(format!(
                "invalid uid {uid:?}: use 1-64 letters, digits, '_', '-' or '.'"
            )));
        }
        let key = key.unwrap_or_else(|| AccessKey {
            access: ids::access_key(),
            secret: ids::secret_key(),
        });
        let record = UserRecord {
            uid: uid.to_owned(),
            display_name: display_name.to_owned(),
            keys: vec![key.clone()],
            created_ms: now_ms(),
            policy: None,
        };
        let oid = user_oid(uid);
        let op = WriteOp::new()
            .assert_version(Version::ZERO)
            .write_full(encode(&record));
        match self.meta.write(&oid, op).await.map_err(GwError::from) {
            Err(e) if e.is_guard_failed() => {
                return Err(invalid(format!("user {uid:?} already exists")));
            }
            other => other?,
        };
        self.meta
            .omap_set(USERS_OID, vec![(uid.as_bytes().to_vec(), Vec::new())])
            .await?;
        self.claim_key(&key.access, uid).await?;
        Ok(record)
    }

    /// Points `access` at `uid`; fails if the key id is taken.
    async fn claim_key(&self, access: &str, uid: &str) -> GwResult<()> {
        let op = WriteOp::new()
            .assert_version(Version::ZERO)
            .write_full(uid.as_bytes().to_vec());
        match self
            .meta
            .write(&key_oid(access), op)
            .await
            .map_err(GwError::from)
        {
            Err(e) if e.is_guard_failed() => {
                Err(invalid(format!("access key {access:?} is already in use")))
            }
            other => other.map(drop),
        }
    }

    /// The user `uid`, if it exists.
    pub async fn get(&self, uid: &str) -> GwResult<Option<UserRecord>> {
        let oid = user_oid(uid);
        match self.meta.read(&oid, 0, None).await {
            Ok(bytes) => Ok(Some(decode(&oid, &bytes)?)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The user `uid`, or a clear error.
    pub async fn must_get(&self, uid: &str) -> GwResult<UserRecord> {
        self.get(uid)
            .await?
            .ok_or_else(|| invalid(format!("no such user {uid:?}")))
    }

    /// Every uid, in order.
    pub async fn list(&self) -> GwResult<Vec<String>> {
        crate::buckets::omap_keys(&self.meta, USERS_OID).await
    }

    /// Adds a fresh key pair to `uid`.
    pub async fn add_key(&self, uid: &str) -> GwResult<AccessKey> {
        let key = AccessKey {
            access: ids::access_key(),
            secret: ids::secret_key(),
        };
        self.claim_key(&key.access, uid).await?;
        self.update(uid, |r| r.keys.push(key.clone())).await?;
        Ok(key)
    }

    /// Sets (`None`: removes) the policy `uid`'s keys are confined to (validated by the
    /// caller); gateways see it within [`KEY_CACHE_TTL`].
    pub async fn set_policy(&self, uid: &str, policy: Option<String>) -> GwResult<()> {
        self.must_get(uid).await?;
        self.update(uid, |r| r.policy = policy.clone()).await
    }

    /// Removes key `access` from `uid`.
    pub async fn remove_key(&self, uid: &str, access: &str) -> GwResult<()> {
        let record = self.must_get(uid).await?;
        if !record.keys.iter().any(|k| k.access == access) {
            return Err(invalid(format!("user {uid:?} has no key {access:?}")));
        }
        self.update(uid, |r| r.keys.retain(|k| k.access != access))
            .await?;
        self.forget_key(access).await
    }

    async fn forget_key(&self, access: &str) -> GwResult<()> {
        match self.meta.remove(&key_oid(access)).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        self.cache.forget(access);
        Ok(())
    }

    /// Deletes `uid` and its keys; refused while the user owns buckets (they would be left
    /// without an owner, or handed to a later user of the same uid).
    pub async fn remove(&self, uid: &str) -> GwResult<()> {
        let record = self.must_get(uid).await?;
        let owned = crate::buckets::omap_keys(&self.meta, &user_buckets_oid(uid)).await?;
        if !owned.is_empty() {
            return Err(invalid(format!(
                "user {uid:?} still owns buckets {owned:?}: delete them first"
            )));
        }
        for key in &record.keys {
            self.forget_key(&key.access).await?;
        }
        self.meta.remove(&user_oid(uid)).await?;
        self.meta
            .omap_rm(USERS_OID, vec![uid.as_bytes().to_vec()])
            .await?;
        Ok(())
    }

    /// Read-modify-write of a user record, guarded by its version (retried on a race).
    async fn update(&self, uid: &str, change: impl Fn(&mut UserRecord)) -> GwResult<()> {
        let oid = user_oid(uid);
        loop {
            let stat = self.meta.stat(&oid).await.map_err(GwError::from)?;
            let mut record: UserRecord = decode(&oid, &self.meta.read(&oid, 0, None).await?)?;
            change(&mut record);
            let op = WriteOp::new()
                .assert_version(stat.version)
                .write_full(encode(&record));
            match self.meta.write(&oid, op).await.map_err(GwError::from) {
                Err(e) if e.is_guard_failed() => continue,
                other => {
                    other?;
                    return Ok(());
                }
            }
        }
    }

    /// The user owning access key `access` (cached for [`KEY_CACHE_TTL`]).
    pub async fn by_access_key(&self, access: &str) -> GwResult<Option<UserRecord>> {
        if let Some(record) = self.cache.get(access, Instant::now()) {
            return Ok(Some(record));
        }
        let ticket = self.cache.begin_read();
        let uid = match self.meta.read(&key_oid(access), 0, None).await {
            Ok(uid) => String::from_utf8_lossy(&uid).into_owned(),
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(record) = self.get(&uid).await? else {
            return Ok(None);
        };
        if !record.keys.iter().any(|k| k.access == access) {
            return Ok(None);
        }
        self.cache
            .store(access, record.clone(), ticket, Instant::now());
        Ok(Some(record))
    }
}

fn invalid(message: String) -> GwError {
    GwError::s3(s3s::S3ErrorCode::InvalidArgument, message)
}

#[async_trait::async_trait]
impl S3Auth for Users {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let user = self.by_access_key(access_key).await?;
        let secret = user.and_then(|u| {
            u.keys
                .into_iter()
                .find(|k| k.access == access_key)
                .map(|k| k.secret)
        });
        match secret {
            Some(secret) => Ok(SecretKey::from(secret)),
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}
