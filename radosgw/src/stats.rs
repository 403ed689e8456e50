//! A bucket's counts from its index (`shoal bucket stats`, like `radosgw-admin bucket
//! stats`): current objects and their bytes, every version and delete marker kept, and
//! writes in flight. Read by walking each index shard's omap a page at a time.

use rados::IoCtx;
use serde::Serialize;

use crate::error::GwResult;
use crate::layout::{ENTRY_PREFIX, PENDING_PREFIX, VERSION_PREFIX, index_oid};
use crate::records::{BucketRecord, IndexEntry, ObjectMeta, decode};

/// What a bucket holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BucketStats {
    /// Objects a listing shows (current versions that are not delete markers).
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Versions kept, the current ones included (0 where versioning was never enabled).
    pub versions: u64,
    /// Bytes of all kept versions.
    pub version_bytes: u64,
    /// Delete markers kept.
    pub delete_markers: u64,
    /// Writes and deletes in flight (or left by a crashed gateway for the janitor).
    pub pending: u64,
}

impl BucketStats {
    /// Counts one index entry (`oid`: the shard it is in, for errors).
    pub fn add(&mut self, oid: &str, key: &[u8], value: &[u8]) -> GwResult<()> {
        if key.starts_with(ENTRY_PREFIX) {
            let entry: IndexEntry = decode(oid, value)?;
            self.objects += 1;
            self.bytes += entry.size;
        } else if key.starts_with(VERSION_PREFIX) {
            let version: ObjectMeta = decode(oid, value)?;
            if version.delete_marker {
                self.delete_markers += 1;
            } else {
                self.versions += 1;
                self.version_bytes += version.size;
            }
        } else if key.starts_with(PENDING_PREFIX) {
            self.pending += 1;
        }
        Ok(())
    }
}

/// Counts what `bucket`'s index holds.
pub async fn bucket_stats(index: &IoCtx, bucket: &BucketRecord) -> GwResult<BucketStats> {
    const PAGE: u32 = 1000;
    let mut stats = BucketStats::default();
    for shard in 0..bucket.shards {
        let oid = index_oid(&bucket.id, shard);
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = match index.omap_list(&oid, after.as_deref(), PAGE).await {
                Ok(page) => page,
                Err(e) if e.is_not_found() => break,
                Err(e) => return Err(e.into()),
            };
            for (key, value) in &page {
                stats.add(&oid, key, value)?;
            }
            if page.len() < PAGE as usize {
                break;
            }
            after = page.last().map(|(k, _)| k.clone());
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{entry_key, pending_key, version_key};
    use crate::records::encode;

    #[test]
    fn entries_count_by_kind() {
        let mut stats = BucketStats::default();
        let entry = IndexEntry {
            size: 5,
            etag: "e".into(),
            mtime_ms: 0,
            owner: "u".into(),
            tag: "t".into(),
            versioned: true,
            storage_class: None,
            read_ms: None,
        };
        let version = |size, delete_marker| ObjectMeta {
            size,
            delete_marker,
            ..ObjectMeta::default()
        };
        let entries: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (entry_key("a"), encode(&entry)),
            (version_key("a", 2), encode(&version(5, false))),
            (version_key("a", 1), encode(&version(7, false))),
            (version_key("b", 1), encode(&version(0, true))),
            (pending_key("c", "t"), vec![]),
        ];
        for (k, v) in &entries {
            stats.add("shard", k, v).unwrap();
        }
        assert_eq!(
            stats,
            BucketStats {
                objects: 1,
                bytes: 5,
                versions: 2,
                version_bytes: 12,
                delete_markers: 1,
                pending: 1,
            }
        );
        assert!(stats.add("shard", &entry_key("x"), b"\xc1").is_err());
    }
}
