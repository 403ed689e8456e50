//! The records the gateway stores in the cluster, encoded with rmp-serde (field names kept,
//! so a field added later with `#[serde(default)]` still reads old records).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{GwError, GwResult};
use crate::layout::STRIPE;
use crate::lifecycle::LifecycleConfig;
use crate::lock::{LockConfig, Retention};

/// Encodes a record.
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(record).expect("records always encode")
}

/// Decodes the record stored in `object`.
pub fn decode<T: DeserializeOwned>(object: &str, bytes: &[u8]) -> GwResult<T> {
    rmp_serde::from_slice(bytes).map_err(|e| GwError::BadRecord {
        object: object.to_owned(),
        reason: e.to_string(),
    })
}

/// Milliseconds since the Unix epoch, now: the gateway's one wall-clock read (S3
/// timestamps, GC due times and janitor ages are wall-clock by nature).
#[allow(clippy::disallowed_methods)] // the single clock shell of the gateway
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// A user and their keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The user id (S3's canonical owner id).
    pub uid: String,
    /// Shown as the owner's DisplayName.
    pub display_name: String,
    /// Access keys.
    pub keys: Vec<AccessKey>,
    /// Creation time (ms since the epoch).
    pub created_ms: i64,
    /// The user's policy, as put: what the user's keys are confined to (validated when put).
    #[serde(default)]
    pub policy: Option<String>,
}

/// One access key pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    /// The access key id.
    pub access: String,
    /// The secret.
    pub secret: String,
}

pub use crate::acl::{Acl, CannedAcl};

/// A bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    /// Its name.
    pub name: String,
    /// Random id naming its index shards and objects (a re-created bucket gets a new one,
    /// so leftovers of the old bucket never show through).
    pub id: String,
    /// The owner's uid.
    pub owner: String,
    /// Creation time (ms since the epoch).
    pub created_ms: i64,
    /// Its ACL.
    pub acl: Acl,
    /// Number of index shards.
    pub shards: u32,
    /// The LocationConstraint it was created with.
    pub region: String,
    /// Its versioning state.
    #[serde(default)]
    pub versioning: Versioning,
    /// Its object lock configuration (`None`: object lock is not enabled).
    #[serde(default)]
    pub object_lock: Option<LockConfig>,
    /// Its lifecycle rules, if any (kept here so that reads showing `x-amz-expiration`
    /// cost nothing beyond the cached record).
    #[serde(default)]
    pub lifecycle: Option<LifecycleConfig>,
    /// Access-based tiering, set once the bucket holds INTELLIGENT_TIERING objects (its
    /// lifecycle passes then look for idle ones).
    #[serde(default)]
    pub tiering: Option<crate::tiering::Tiering>,
    /// Its bucket policy, as put (GetBucketPolicy answers it as given); validated when put.
    #[serde(default)]
    pub policy: Option<String>,
    /// Its object ownership control (`None`: never set, ObjectWriter).
    #[serde(default)]
    pub ownership: Option<crate::acl::Ownership>,
    /// Its public access block, if one was put.
    #[serde(default)]
    pub public_access_block: Option<crate::acl::PublicAccessBlock>,
    /// Its CORS rules, if any.
    #[serde(default)]
    pub cors: Option<crate::cors::CorsConfig>,
    /// Its tags (`None`: no tag set).
    #[serde(default)]
    pub tags: Option<Vec<(String, String)>>,
}

/// A bucket's versioning state, as S3 names them. Once enabled, a bucket never returns to
/// [`Versioning::Off`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Never enabled: one version per key, written in place ("null").
    #[default]
    Off,
    /// Every write makes a new version.
    Enabled,
    /// Writes replace the "null" version; other versions are kept.
    Suspended,
}

impl Versioning {
    /// Whether the bucket keeps version records (it was enabled at some point).
    pub fn keeps_versions(self) -> bool {
        self != Versioning::Off
    }
}

/// Which version a head holds: its place in the key's order and its id (`None`: "null").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionStamp {
    /// Position in the key's version order: each head swap takes the next number.
    pub seq: u64,
    /// The version id; `None` is the "null" version.
    pub id: Option<String>,
}

/// Where an object's bytes live: the first `head_len` bytes in the head, the rest in
/// segments of tail objects, each segment a run of [`STRIPE`]-sized objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Bytes stored in the head object.
    pub head_len: u64,
    /// Tail segments in object order.
    pub segments: Vec<Segment>,
    /// The pool holding the tails when it is not the data pool (an object of another
    /// storage class; its head then holds no bytes, `head_len` is 0). The pool's name, not
    /// the class's, so data stays readable whatever becomes of the class.
    #[serde(default)]
    pub pool: Option<String>,
}

/// A run of tail objects `prefix.first`, `prefix.first+1`, ... holding `len` bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Tail object name prefix ([`tail_prefix`](crate::layout::tail_prefix)).
    pub prefix: String,
    /// Number of the first tail object.
    pub first: u64,
    /// Bytes in the segment.
    pub len: u64,
    /// The multipart part this segment is (for `GET ?partNumber=`), if any.
    #[serde(default)]
    pub part: Option<u32>,
}

impl Segment {
    /// Number of tail objects in the segment.
    pub fn objects(&self) -> u64 {
        self.len.div_ceil(STRIPE)
    }
}

impl Manifest {
    /// Total size of the object.
    pub fn size(&self) -> u64 {
        self.head_len + self.segments.iter().map(|s| s.len).sum::<u64>()
    }

    /// Every tail object, for deletion.
    pub fn tails(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.segments {
            for n in s.first..s.first + s.objects() {
                out.push(crate::layout::tail_oid(&s.prefix, n));
            }
        }
        out
    }
}

/// S3 checksums as the client sent them (base64), verified on upload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    /// x-amz-checksum-crc32
    pub crc32: Option<String>,
    /// x-amz-checksum-crc32c
    pub crc32c: Option<String>,
    /// x-amz-checksum-sha1
    pub sha1: Option<String>,
    /// x-amz-checksum-sha256
    pub sha256: Option<String>,
    /// x-amz-checksum-crc64nvme
    pub crc64nvme: Option<String>,
}

/// What a hasher computed (s3s's DTO) as stored checksums.
impl From<s3s::dto::Checksum> for Checksums {
    fn from(c: s3s::dto::Checksum) -> Checksums {
        Checksums {
            crc32: c.checksum_crc32,
            crc32c: c.checksum_crc32c,
            sha1: c.checksum_sha1,
            sha256: c.checksum_sha256,
            crc64nvme: c.checksum_crc64nvme,
        }
    }
}

/// Stored checksums as the DTO responses carry them.
impl From<&Checksums> for s3s::dto::Checksum {
    fn from(c: &Checksums) -> s3s::dto::Checksum {
        s3s::dto::Checksum {
            checksum_crc32: c.crc32.clone(),
            checksum_crc32c: c.crc32c.clone(),
            checksum_sha1: c.sha1.clone(),
            checksum_sha256: c.sha256.clone(),
            checksum_crc64nvme: c.crc64nvme.clone(),
            checksum_type: None,
        }
    }
}

/// Everything S3 returns about an object besides its bytes; kept in the head's xattr.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
    /// The ETag without quotes: MD5 hex, or `md5-N` for multipart.
    pub etag: String,
    /// Last-Modified (ms since the epoch).
    pub mtime_ms: i64,
    /// This write's random tag (what guards compare).
    pub tag: String,
    /// The owner's uid.
    pub owner: String,
    /// Content-Type and the other standard headers.
    pub headers: StandardHeaders,
    /// x-amz-meta-*.
    pub user_meta: BTreeMap<String, String>,
    /// Stored checksums.
    pub checksums: Checksums,
    /// Object tags.
    pub tags: Vec<(String, String)>,
    /// The object's ACL.
    pub acl: Acl,
    /// Where the bytes are.
    pub manifest: Manifest,
    /// Number of parts, for multipart objects.
    pub parts: Option<u32>,
    /// The version this is, in a bucket that keeps versions (`None`: written before
    /// versioning, the "null" version at position 0).
    #[serde(default)]
    pub version: Option<VersionStamp>,
    /// A delete marker: a version with no data that makes the key look absent.
    #[serde(default)]
    pub delete_marker: bool,
    /// A vacant head: no version at all, left where a key's last version was deleted so
    /// that "no head" is never seen twice by one writer's compare-and-swap (an absent head
    /// has no tag to tell one absence from the next). Reads treat it as absent; it keeps
    /// the key's `seq_hwm` until it is reaped.
    #[serde(default)]
    pub vacant: bool,
    /// On a head: the highest position any version of the key took, so a promoted older
    /// version does not make the next write reuse a position.
    #[serde(default)]
    pub seq_hwm: u64,
    /// On a head of a suspended bucket: the position of the noncurrent "null" version it
    /// replaced, whose record settling removes.
    #[serde(default)]
    pub replaces_null: Option<u64>,
    /// On a head: changed whenever a noncurrent version is deleted, so a concurrent
    /// promotion that read the old version list fails its compare-and-swap.
    #[serde(default)]
    pub list_gen: u64,
    /// The version's object lock retention, if any.
    #[serde(default)]
    pub retention: Option<Retention>,
    /// The version is under legal hold.
    #[serde(default)]
    pub legal_hold: bool,
    /// Its storage class (`None`: STANDARD). Where its bytes are is the manifest's pool.
    #[serde(default)]
    pub storage_class: Option<String>,
    /// When it was last read, as recorded for access-based tiering (at most daily).
    #[serde(default)]
    pub read_ms: Option<i64>,
}

impl ObjectMeta {
    /// Whether object lock lets this version be deleted at `now_ms` ([`crate::lock`]'s
    /// rules; `bypass` asks to bypass a governance retention).
    pub fn may_delete(&self, now_ms: i64, bypass: bool) -> Result<(), crate::lock::Locked> {
        crate::lock::may_delete(self.retention.as_ref(), self.legal_hold, now_ms, bypass)
    }
}

/// Standard headers stored with an object and returned on GET/HEAD.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandardHeaders {
    /// Content-Type.
    pub content_type: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// Content-Language.
    pub content_language: Option<String>,
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Expires (ms since the epoch).
    pub expires_ms: Option<i64>,
}

/// A listed object in a bucket index shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// Last-Modified (ms).
    pub mtime_ms: i64,
    /// Owner uid.
    pub owner: String,
    /// The tag of the head this entry describes.
    pub tag: String,
    /// The key keeps version records: ListObjectVersions reads those instead of this entry.
    #[serde(default)]
    pub versioned: bool,
    /// Its storage class (`None`: STANDARD), for listings.
    #[serde(default)]
    pub storage_class: Option<String>,
    /// When it was last read (INTELLIGENT_TIERING objects), for the tiering pass.
    #[serde(default)]
    pub read_ms: Option<i64>,
}

impl IndexEntry {
    /// The entry describing `meta`, in a bucket that keeps version records or not.
    pub fn of(meta: &ObjectMeta, versioned: bool) -> IndexEntry {
        IndexEntry {
            size: meta.size,
            etag: meta.etag.clone(),
            mtime_ms: meta.mtime_ms,
            owner: meta.owner.clone(),
            tag: meta.tag.clone(),
            versioned,
            storage_class: meta.storage_class.clone(),
            read_ms: meta.read_ms,
        }
    }
}

/// What a pending index entry announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendingOp {
    /// A head is being written with this tag (its tails may exist).
    Put,
    /// The head is being removed.
    Delete,
}

/// A write in flight, recorded before it touches data so a crash leaves a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEntry {
    /// Put or delete.
    pub op: PendingOp,
    /// When it started (ms).
    pub since_ms: i64,
    /// Tail prefix of the data written under this tag (Put).
    pub tail_prefix: String,
    /// The pool of those tails when it is not the data pool.
    #[serde(default)]
    pub pool: Option<String>,
}

impl PendingEntry {
    /// A removal starting now.
    pub fn delete() -> PendingEntry {
        PendingEntry {
            op: PendingOp::Delete,
            since_ms: now_ms(),
            tail_prefix: String::new(),
            pool: None,
        }
    }
}

/// A multipart upload in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// The object key.
    pub key: String,
    /// The upload id.
    pub upload_id: String,
    /// Initiated (ms).
    pub initiated_ms: i64,
    /// The metadata the completed object will carry (size, etag, manifest filled in at
    /// completion).
    pub meta: ObjectMeta,
    /// The checksum algorithm the client asked for, if any.
    pub checksum_algorithm: Option<String>,
    /// Who started it (`None`: recorded before initiators were; the object's owner was).
    /// Only it adds parts and completes it, whoever will own the object.
    #[serde(default)]
    pub initiator: Option<String>,
}

impl UploadRecord {
    /// Who started the upload.
    pub fn initiator(&self) -> &str {
        self.initiator.as_deref().unwrap_or(&self.meta.owner)
    }
}

/// One uploaded part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// Part number (1..=10000).
    pub number: u32,
    /// Size in bytes.
    pub size: u64,
    /// MD5 hex.
    pub etag: String,
    /// Uploaded (ms).
    pub mtime_ms: i64,
    /// Tail prefix of its data.
    pub prefix: String,
    /// Checksums sent with the part.
    pub checksums: Checksums,
}

/// Objects queued for deferred deletion.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcEntry {
    /// The pool of the objects when it is not the data pool.
    #[serde(default)]
    pub pool: Option<String>,
    /// Object names in that pool.
    pub objects: Vec<String>,
    /// Tail prefixes of writes that died with an unknown number of tails.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Keep everything if this head (object name) carries this write tag by then: the
    /// janitor's guess that a writer died was wrong.
    #[serde(default)]
    pub unless_head: Option<(String, String)>,
    /// Keep everything if a version record of this key carries this write tag by then
    /// (index shard, object key, tag): the data belongs to a version that still exists.
    #[serde(default)]
    pub unless_version: Option<(String, String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_counts_tails() {
        let m = Manifest {
            head_len: STRIPE,
            segments: vec![Segment {
                prefix: "b.tail.t".into(),
                first: 1,
                len: 2 * STRIPE + 1,
                part: None,
            }],
            pool: None,
        };
        assert_eq!(m.size(), 3 * STRIPE + 1);
        assert_eq!(m.tails(), vec!["b.tail.t.1", "b.tail.t.2", "b.tail.t.3"]);
    }

    #[test]
    fn records_round_trip() {
        let meta = ObjectMeta {
            size: 3,
            etag: "abc".into(),
            user_meta: [("k".to_owned(), "v".to_owned())].into(),
            ..ObjectMeta::default()
        };
        let back: ObjectMeta = decode("x", &encode(&meta)).unwrap();
        assert_eq!(back, meta);
        assert!(decode::<ObjectMeta>("x", b"\xc1").is_err());
    }
}
