//! Where the gateway keeps things in the cluster: pool names and object names. One place,
//! so that the janitor, GC and tests agree with the write path.

/// Users, access keys and bucket records.
pub const META_POOL: &str = "default.rgw.meta";
/// Bucket index shards and multipart upload records (omap only).
pub const INDEX_POOL: &str = "default.rgw.buckets.index";
/// Object heads and tails (the STANDARD storage class).
pub const DATA_POOL: &str = "default.rgw.buckets.data";

/// Size of one stripe: the head holds the first, each tail object one more.
pub const STRIPE: u64 = 4 << 20;

/// The xattr on a head holding its [`ObjectMeta`](crate::records::ObjectMeta).
pub const META_XATTR: &str = "rgw.meta";
/// The xattr on a head holding its write tag alone, for compare-and-swap guards.
pub const TAG_XATTR: &str = "rgw.tag";
/// The xattr on an index shard saying whether the bucket accepts new entries.
pub const STATE_XATTR: &str = "rgw.state";
/// [`STATE_XATTR`]'s value while the bucket is live.
pub const STATE_LIVE: &[u8] = b"live";

/// A user's record.
pub fn user_oid(uid: &str) -> String {
    format!("user.{uid}")
}

/// The omap object listing a user's buckets.
pub fn user_buckets_oid(uid: &str) -> String {
    format!("user.{uid}.buckets")
}

/// The object naming an access key's owner.
pub fn key_oid(access_key: &str) -> String {
    format!("key.{access_key}")
}

/// The omap object listing every bucket (for the janitor).
pub const BUCKETS_OID: &str = "buckets";

/// The omap object holding the storage classes operators added (class -> pool).
pub const CLASSES_OID: &str = "storage_classes";

/// The omap object listing every user (for `user ls`).
pub const USERS_OID: &str = "users";

/// A bucket's record.
pub fn bucket_oid(name: &str) -> String {
    format!("bucket.{name}")
}

/// A bucket's lifecycle configuration (data), lease and last pass (xattrs).
pub fn lifecycle_oid(bucket_id: &str) -> String {
    format!("lc.{bucket_id}")
}

/// Index shard `shard` of the bucket with id `bucket_id`.
pub fn index_oid(bucket_id: &str, shard: u32) -> String {
    format!("{bucket_id}.index.{shard}")
}

/// Which index shard holds `key` (stable: xxh64 of the key).
pub fn shard_of(key: &str, shards: u32) -> u32 {
    (xxhash_rust::xxh64::xxh64(key.as_bytes(), 0) % u64::from(shards.max(1))) as u32
}

/// The omap object listing a bucket's multipart uploads in progress.
pub fn uploads_oid(bucket_id: &str) -> String {
    format!("{bucket_id}.uploads")
}

/// The omap object listing one upload's parts.
pub fn parts_oid(bucket_id: &str, upload_id: &str) -> String {
    format!("{bucket_id}.upload.{upload_id}")
}

/// An object's head (metadata, manifest, first stripe).
pub fn head_oid(bucket_id: &str, key: &str) -> String {
    format!("{bucket_id}/{key}")
}

/// The prefix of the tail objects written under `tag` (a PUT, or one upload of a part).
/// A tag is random, so tails never collide with another write's.
pub fn tail_prefix(bucket_id: &str, tag: &str) -> String {
    format!("{bucket_id}.tail.{tag}")
}

/// Tail object `n` under `prefix`.
pub fn tail_oid(prefix: &str, n: u64) -> String {
    format!("{prefix}.{n}")
}

/// The omap objects queueing deferred deletions.
pub fn gc_oid(shard: u32) -> String {
    format!("gc.{shard}")
}

/// Number of GC queue shards.
pub const GC_SHARDS: u32 = 4;

/// Index omap key of a listed object.
pub fn entry_key(key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 2);
    k.extend_from_slice(ENTRY_PREFIX);
    k.extend_from_slice(key.as_bytes());
    k
}

/// Index omap key of a write in flight on `key` (tag distinguishes concurrent writers).
pub fn pending_key(key: &str, tag: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + tag.len() + 3);
    k.extend_from_slice(PENDING_PREFIX);
    k.extend_from_slice(key.as_bytes());
    k.push(0);
    k.extend_from_slice(tag.as_bytes());
    k
}

/// The key and tag of a pending entry's omap key ([`pending_key`] undone).
pub fn split_pending(omap_key: &[u8]) -> Option<(String, String)> {
    let rest = omap_key.strip_prefix(PENDING_PREFIX)?;
    let nul = rest.iter().rposition(|&b| b == 0)?;
    let key = std::str::from_utf8(&rest[..nul]).ok()?;
    let tag = std::str::from_utf8(&rest[nul + 1..]).ok()?;
    Some((key.to_owned(), tag.to_owned()))
}

/// Index omap key of version `seq` of `key`: versions of a key sort together, newest
/// first (the position is stored inverted, as fixed-width hex).
pub fn version_key(key: &str, seq: u64) -> Vec<u8> {
    let mut k = versions_of(key);
    k.extend_from_slice(format!("{:016x}", u64::MAX - seq).as_bytes());
    k
}

/// The common start of every version key of `key` ([`version_key`] without the position).
pub fn versions_of(key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 19);
    k.extend_from_slice(VERSION_PREFIX);
    k.extend_from_slice(key.as_bytes());
    k.push(0);
    k
}

/// An exclusive omap start just below every version key of `key` (`v/<key>`): listing after
/// it gives the key's versions first, newest first.
pub fn before_versions_of(key: &str) -> Vec<u8> {
    let mut k = versions_of(key);
    k.pop();
    k
}

/// The key and position of a version key ([`version_key`] undone).
pub fn split_version_key(omap_key: &[u8]) -> Option<(String, u64)> {
    let rest = omap_key.strip_prefix(VERSION_PREFIX)?;
    let nul = rest.iter().rposition(|&b| b == 0)?;
    let key = std::str::from_utf8(&rest[..nul]).ok()?;
    let inverted = u64::from_str_radix(std::str::from_utf8(&rest[nul + 1..]).ok()?, 16).ok()?;
    Some((key.to_owned(), u64::MAX - inverted))
}

/// Prefix of listed entries in an index shard's omap.
pub const ENTRY_PREFIX: &[u8] = b"o/";
/// Prefix of pending entries in an index shard's omap.
pub const PENDING_PREFIX: &[u8] = b"p/";
/// Prefix of version records in an index shard's omap (buckets that keep versions).
pub const VERSION_PREFIX: &[u8] = b"v/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_in_range() {
        for key in ["a", "photos/2024/x.jpg", ""] {
            let s = shard_of(key, 11);
            assert!(s < 11);
            assert_eq!(s, shard_of(key, 11));
        }
        assert_eq!(shard_of("anything", 0), 0);
    }

    #[test]
    fn pending_keys_split_back() {
        let k = pending_key("a/b c", "t1");
        assert_eq!(split_pending(&k), Some(("a/b c".into(), "t1".into())));
        assert_eq!(split_pending(b"o/x"), None);
    }

    #[test]
    fn version_keys_sort_newest_first_and_split_back() {
        assert!(version_key("a", 7) < version_key("a", 3));
        assert!(version_key("a", 0) < version_key("a/b", 9));
        assert!(version_key("a", 0) < version_key("a\u{1}", 9));
        assert!(version_key("a", u64::MAX).starts_with(&versions_of("a")));
        assert_eq!(
            split_version_key(&version_key("x\0y", 42)),
            Some(("x\0y".into(), 42))
        );
        assert_eq!(split_version_key(b"o/x"), None);
        assert!(pending_key("zz", "t") < version_key("a", 1));
    }

    #[test]
    fn entry_keys_sort_like_object_keys() {
        assert!(entry_key("a") < entry_key("a/b"));
        assert!(entry_key("a/b") < entry_key("b"));
        assert!(entry_key("zz") < pending_key("a", "t"));
    }
}
